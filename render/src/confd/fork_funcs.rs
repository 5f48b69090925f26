//! The functions abtreece/confd (the maintained confd fork, v0.41) has beyond confd 0.17:
//! the 28 utility functions of v0.41.0 ([`super::fork_strings`], [`super::fork_data`]) and
//! `hostname`, `lookupIfaceIPV4`, `lookupIfaceIPV6` ([`super::fork_system`]) and `include`
//! ([`super::include`]).
//!
//! They are new names, so a template written for confd 0.17 renders as before; one using them
//! renders as under the fork.

use crate::func::FuncMap;

/// Every name this module registers, as the fork's `utilityFuncMap` and `newFuncMap` spell them.
#[cfg(test)]
const FORK_FUNCTIONS: [&str; 32] = [
    // Defaults & conditionals
    "default",
    "ternary",
    "coalesce",
    "empty",
    // JSON
    "toJson",
    "fromJson",
    "toPrettyJson",
    // Formatting
    "indent",
    "nindent",
    "quote",
    "squote",
    // Regex
    "regexMatch",
    "regexFind",
    "regexReplaceAll",
    // Strings
    "trimPrefix",
    "repeat",
    "nospace",
    "snakecase",
    "camelcase",
    "kebabcase",
    // Collections
    "dict",
    "list",
    "hasKey",
    "keys",
    "values",
    "append",
    "pluck",
    // Hashing
    "sha256sum",
    // Host
    "hostname",
    "lookupIfaceIPV4",
    "lookupIfaceIPV6",
    // Templates
    "include",
];

/// Registers the fork's functions.
pub(super) fn register(funcs: &mut FuncMap) {
    super::fork_strings::register(funcs);
    super::fork_data::register(funcs);
    super::fork_system::register(funcs);
    super::include::register(funcs);
}

/// Renders `source` as a confd template with no keys; an error becomes its message.
#[cfg(test)]
pub(super) fn render(source: &str) -> String {
    use discovery_core::{RenderData, Renderer};

    use crate::{ConfdTemplate, Dialect, Template, TemplateOptions};

    let opts = TemplateOptions::new(Dialect::Confd).name("t.tmpl");
    let rendered = Template::parse(source, opts)
        .and_then(|t| ConfdTemplate::new(t, "/", vec![]).render(&RenderData::default()));
    match rendered {
        Ok(r) => r.output,
        Err(e) => e.to_string(),
    }
}

/// Renders `source` in `dialect` with keys `/r/a`=1, `/r/b`=2, `/r/c`=3 under prefix `/`.
#[cfg(test)]
pub(super) fn render_in(dialect: crate::Dialect, source: &str) -> String {
    use discovery_core::{Key, KvPair, KvSnapshot, RenderData, Renderer, Revision};

    use crate::{ConfdTemplate, Template, TemplateOptions};

    let mut kv = KvSnapshot::default();
    for (k, v) in [("/r/a", "1"), ("/r/b", "2"), ("/r/c", "3")] {
        let key = Key::new(k).unwrap();
        let pair = KvPair {
            key: key.clone(),
            value: v.into(),
            mod_revision: Revision(1),
        };
        kv.pairs.insert(key, pair);
    }
    let rendered =
        Template::parse(source, TemplateOptions::new(dialect).name("t.tmpl")).and_then(|t| {
            ConfdTemplate::new(t, "/", vec!["/r".into()]).render(&RenderData::from_kv(kv))
        });
    match rendered {
        Ok(r) => r.output,
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{render, render_in, FORK_FUNCTIONS};
    use crate::{Dialect, Template};

    #[test]
    fn every_fork_function_is_registered() {
        let names = Template::function_names(Dialect::Confd);
        for f in FORK_FUNCTIONS {
            assert!(names.iter().any(|n| n == f), "{f} is not registered");
        }
        // 28 utility functions (CHANGELOG v0.41.0, "Add 28 utility template functions"), the
        // three host functions and `include`.
        assert_eq!(FORK_FUNCTIONS.len(), 28 + 4);
    }

    /// TestUtilityFuncsInTemplate in abtreece/confd pkg/template/utility_funcs_test.go: each
    /// line it checks, here with the whole output.
    #[test]
    fn utility_funcs_in_template() {
        let source = r#"{{- $d := default "fallback" "" -}}
default: {{ $d }}
ternary: {{ ternary "yes" "no" true }}
coalesce: {{ coalesce "" nil "found" }}
toJson: {{ toJson (list 1 2 3) }}
indent: |
{{ indent 4 "line1\nline2" }}
quote: {{ quote "hello" }}
squote: {{ squote "world" }}
sha256: {{ sha256sum "test" }}
hasKey: {{ hasKey (dict "a" 1) "a" }}
regex: {{ regexMatch "^hello" "hello world" }}
snake: {{ snakecase "HelloWorld" }}
camel: {{ camelcase "hello_world" }}
kebab: {{ kebabcase "HelloWorld" }}
nospace: {{ nospace "a b c" }}
repeat: {{ repeat 3 "ab" }}
trimPrefix: {{ trimPrefix "Hello, World" "Hello, " }}
empty_true: {{ empty "" }}
empty_false: {{ empty "x" }}"#;
        let want = "default: fallback
ternary: yes
coalesce: found
toJson: [1,2,3]
indent: |
    line1
    line2
quote: \"hello\"
squote: 'world'
sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
hasKey: true
regex: true
snake: hello_world
camel: helloWorld
kebab: hello-world
nospace: abc
repeat: ababab
trimPrefix: World
empty_true: true
empty_false: false";
        assert_eq!(render(source), want);
    }

    /// The examples of docs/templates.md ("Utility Functions") in abtreece/confd.
    #[test]
    fn documented_examples() {
        let cases = [
            (
                r#"{{toJson (dict "host" "db1" "port" (atoi "5432"))}}"#,
                r#"{"host":"db1","port":5432}"#,
            ),
            (
                r#"{{$servers := list "web1" "web2"}}{{$servers = append $servers "web3"}}{{$servers}}"#,
                "[web1 web2 web3]",
            ),
            (
                r#"{{$services := list (dict "name" "web" "port" 80) (dict "name" "api" "port" 8080)}}{{toJson (pluck "port" (index $services 0) (index $services 1))}}"#,
                "[80,8080]",
            ),
            (
                r#"{{$config := fromJson `{"host":"h","debug":true}`}}{{range keys $config}}{{.}}: {{index $config .}};{{end}}{{if hasKey $config "debug"}} debug{{end}}"#,
                "debug: true;host: h; debug",
            ),
            (
                r#"{{range values (fromJson `{"b":443,"a":80}`)}}- {{.}} {{end}}"#,
                "- 80 - 443 ",
            ),
            (
                r#"{{$server := dict "host" "h" "port" "1"}}{{index $server "host"}}:{{index $server "port"}}"#,
                "h:1",
            ),
            (r#"{{range list "web" "api"}}[{{.}}]{{end}}"#, "[web][api]"),
            (r#"{{regexFind "[0-9]+\\.[0-9]+" "app v1.25.3"}}"#, "1.25"),
            (
                r#"{{regexReplaceAll "[^a-zA-Z0-9]" "my app!" "_"}}"#,
                "my_app_",
            ),
            (r#"{{toUpper (snakecase "settingName")}}"#, "SETTING_NAME"),
            (
                r#"config:{{nindent 2 "a: 1\nb: 2"}}"#,
                "config:\n  a: 1\n  b: 2",
            ),
        ];
        for (source, want) in cases {
            assert_eq!(render(source), want, "{source}");
        }
    }

    /// In Jinja syntax the fork's functions are there too, but minijinja's own `dict` (keyword
    /// arguments) is kept.
    #[test]
    fn jinja_keeps_its_dict() {
        use discovery_core::{RenderData, Renderer};

        use crate::{ConfdTemplate, Dialect, Syntax, Template, TemplateOptions};

        let opts = TemplateOptions::new(Dialect::Confd).syntax(Syntax::Jinja);
        let source = "{{ dict(a=1).a }} {{ toJson(map(\"b\", list(1, 2))) }} {{ sha256sum(\"\") }}";
        let t = Template::parse(source, opts).unwrap();
        let out = ConfdTemplate::new(t, "/", vec![])
            .render(&RenderData::default())
            .unwrap()
            .output;
        assert_eq!(
            out,
            "1 {\"b\":[1,2]} e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// The fork's functions on what confd's store functions return.
    #[test]
    fn on_store_values() {
        let cases = [
            (r#"{{toJson (getvs "/r/*")}}"#, r#"["1","2","3"]"#),
            (
                r#"{{toJson (get "/r/a")}}"#,
                r#"{"Key":"/r/a","Value":"1"}"#,
            ),
            (
                r#"{{toJson (gets "/r/*")}}"#,
                r#"[{"Key":"/r/a","Value":"1"},{"Key":"/r/b","Value":"2"},{"Key":"/r/c","Value":"3"}]"#,
            ),
            (r#"{{default "x" (getv "/r/a")}}"#, "1"),
            (r#"{{empty (getvs "/r/none/*")}}"#, "true"),
            (r#"{{empty (get "/r/a")}}"#, "false"),
            (r#"{{quote (getv "/r/b")}}"#, r#""2""#),
            (r#"{{list (get "/r/a") (getv "/r/b")}}"#, "[{/r/a 1} 2]"),
            // `printf 1,2,3 | sha256sum` (coreutils).
            (
                r#"{{join (getvs "/r/*") "," | sha256sum}}"#,
                "8a6ae15122001229edb8866f56e342af12ae8187203c3e3b33931743e7c0c48d",
            ),
        ];
        for (source, want) in cases {
            assert_eq!(render_in(crate::Dialect::Confd, source), want, "{source}");
        }
    }

    /// A confd 0.17 function is unchanged by the fork's additions (`map` and `dict` agree).
    #[test]
    fn map_and_dict_agree() {
        assert_eq!(
            render(r#"{{map "b" 1 "a" 2}} {{dict "b" 1 "a" 2}}"#),
            "map[a:2 b:1] map[a:2 b:1]"
        );
    }
}
