//! The consul-template dialect: data functions recording dependencies, helpers, scratch, math
//! and encoders, and [`ConsulTemplate`].
//!
//! With the `consul` feature, consul-template's engine too: `CtRunner` renders
//! `TemplateSpec`s from a Consul agent in-process and runs their commands (the
//! `consul-template` binary is a command line around it), exec mode (`ExecSpec`, supervised by
//! `Child`), and `FileConfig` reads consul-template's HCL/JSON configuration files.

mod api_reads;
mod catalog_nodes;
#[cfg(feature = "consul")]
mod child;
#[cfg(feature = "consul")]
mod config_consul;
#[cfg(feature = "consul")]
mod config_file;
#[cfg(feature = "consul")]
mod config_unsupported;
mod connect;
mod connect_ca;
mod data;
#[cfg(feature = "consul")]
mod dedup;
#[cfg(feature = "consul")]
mod dedup_config;
#[cfg(feature = "consul")]
mod dedup_data;
mod encode;
#[cfg(feature = "consul")]
mod exec;
pub(crate) mod glob;
mod group;
mod hashes;
mod helpers;
mod maps;
mod math;
mod newer_endpoints;
#[cfg(feature = "consul")]
mod options;
mod owner;
mod plugin;
mod query;
#[cfg(feature = "consul")]
mod run;
#[cfg(feature = "consul")]
mod runner;
mod scratch;
#[cfg(feature = "consul")]
mod signal;
mod sockaddr;
mod sockaddr_ifs;
mod sockaddr_rfc;
#[cfg(feature = "consul")]
mod spec;
mod spew;
mod sprig;
#[cfg(feature = "consul")]
mod store;
#[cfg(feature = "consul")]
mod supervise;
#[cfg(feature = "consul")]
mod tmpl;
mod unsupported_funcs;
mod write_file;

pub(crate) use helpers::go_regex;

#[cfg(feature = "consul")]
pub use child::{Child, ChildExit};
#[cfg(feature = "consul")]
pub use config_consul::{AuthFile, ConsulFile, RetryFile, SslFile, TransportFile};
#[cfg(feature = "consul")]
pub use config_file::{FileConfig, LogFileConfig, SyslogConfig};
#[cfg(feature = "consul")]
pub use dedup_config::{
    DedupConfig, DedupOptions, DEFAULT_DEDUP_BLOCK_QUERY_WAIT, DEFAULT_DEDUP_MAX_STALE,
    DEFAULT_DEDUP_PREFIX, DEFAULT_DEDUP_TTL,
};
#[cfg(feature = "consul")]
pub use exec::{
    ExecConfig, ExecEnv, ExecSpec, DEFAULT_EXEC_KILL_SIGNAL, DEFAULT_EXEC_KILL_TIMEOUT,
};
#[cfg(feature = "consul")]
pub use options::{CtOptions, Mode};
#[cfg(feature = "consul")]
pub use runner::{CtHandle, CtRunner, Finished};
#[cfg(feature = "consul")]
pub use signal::Signal;
#[cfg(feature = "consul")]
pub use spec::{TemplateSpec, DEFAULT_COMMAND_TIMEOUT};
#[cfg(feature = "consul")]
pub use tmpl::check_template;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use discovery_core::{Dependency, RenderData, Rendered, Renderer, Result};

use crate::func::{Arity, FuncMap};
use crate::template::{EnvSource, Template};
use crate::value::go_object;

/// Per-render state of a consul-template template.
#[derive(Debug)]
pub(crate) struct CtState {
    pub(crate) data: RenderData,
    pub(crate) env: EnvSource,
    pub(crate) sandbox: Option<PathBuf>,
    used: Mutex<BTreeSet<Dependency>>,
    missing: Mutex<BTreeSet<Dependency>>,
    scratch: Arc<scratch::Scratch>,
}

impl CtState {
    pub(crate) fn use_dep(&self, d: Dependency) {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(d);
    }

    pub(crate) fn miss(&self, d: Dependency) {
        self.missing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(d);
    }

    fn take(m: &Mutex<BTreeSet<Dependency>>) -> BTreeSet<Dependency> {
        std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// consul-template's function map (built once).
pub(crate) fn funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut f = FuncMap::new();
        data::register(&mut f);
        catalog_nodes::register(&mut f);
        connect::register(&mut f);
        connect_ca::register(&mut f);
        newer_endpoints::register(&mut f);
        helpers::register(&mut f);
        group::register(&mut f);
        math::register(&mut f);
        encode::register(&mut f);
        maps::register(&mut f);
        hashes::register(&mut f);
        unsupported_funcs::register(&mut f);
        write_file::register(&mut f);
        plugin::register(&mut f);
        spew::register(&mut f);
        sockaddr::register(&mut f);
        sprig::register(&mut f);
        f.insert("scratch", Arity::exact(0), |ctx, _| {
            let st = data::state(ctx)?;
            Ok(go_object(scratch::ScratchHandle(st.scratch.clone())))
        });
        f
    })
}

/// A consul-template template; it implements [`Renderer`].
///
/// Data functions read [`RenderData`]: `key`/`ls`/`tree` read `data.kv` (Consul key `a/b` is
/// `/a/b` there), `service` reads `data.services`, `services` reads `data.catalog`,
/// `datacenters` reads `data.datacenters`, and `node`, `nodes`, `connect`, `caRoots` and `caLeaf`
/// read the JSON answers in `data.api` (keyed by the [`discovery_core::ApiRead`] they record). The render
/// reports in `missing` what it needed but the data lacked: a `key` that is absent (consul-template
/// would block on it), a service or the catalog that was not fetched, and a `safeLs`/`safeTree`
/// prefix with no keys. Output with a non-empty `missing` must not be written.
#[derive(Debug, Clone)]
pub struct ConsulTemplate {
    template: Template,
}

impl ConsulTemplate {
    /// Wraps a template parsed with [`crate::Dialect::ConsulTemplate`].
    pub fn new(template: Template) -> Self {
        ConsulTemplate { template }
    }

    /// The template.
    pub fn template(&self) -> &Template {
        &self.template
    }
}

/// A render that may have failed, with what it read up to the failure: a daemon tells a real
/// error (all of its data was there) from an artifact of incomplete data, which consul-template's
/// first pass turns into a failure.
#[derive(Debug)]
#[non_exhaustive]
pub struct RenderAttempt {
    /// The output, or the error that stopped the render.
    pub output: Result<String>,
    /// The data read before the render ended.
    pub used: BTreeSet<Dependency>,
    /// The data needed but absent before the render ended.
    pub missing: BTreeSet<Dependency>,
}

impl ConsulTemplate {
    /// Renders from `data`, reporting `used` and `missing` even when the render fails.
    pub fn attempt(&self, data: &RenderData) -> RenderAttempt {
        let state = Arc::new(CtState {
            data: data.clone(),
            env: self.template.env_source(),
            sandbox: self.template.options().file_sandbox.clone(),
            used: Mutex::default(),
            missing: Mutex::default(),
            scratch: Arc::default(),
        });
        let output = self.template.execute(state.clone());
        RenderAttempt {
            output,
            used: CtState::take(&state.used),
            missing: CtState::take(&state.missing),
        }
    }
}

impl Renderer for ConsulTemplate {
    fn render(&self, data: &RenderData) -> Result<Rendered> {
        let attempt = self.attempt(data);
        let mut rendered = Rendered::default();
        rendered.output = attempt.output?;
        rendered.used = attempt.used;
        rendered.missing = attempt.missing;
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dialect, TemplateOptions};

    /// Renders `src` as a consul-template template with no data.
    pub(crate) fn render(src: &str) -> Result<String> {
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate))?;
        Ok(ConsulTemplate::new(t)
            .render(&RenderData::default())?
            .output)
    }

    /// Every name in upstream's `funcMap` (`template/template.go`, 0.42.1), without the Sprig
    /// functions (`sprig_*`, added from `sprig.HermeticTxtFuncMap`).
    const UPSTREAM_FUNCS: &[&str] = &[
        "datacenters",
        "exportedServices",
        "importedServices",
        "file",
        "key",
        "keyExists",
        "keyOrDefault",
        "ls",
        "safeLs",
        "node",
        "nodes",
        "partitions",
        "peerings",
        "secret",
        "secrets",
        "service",
        "connect",
        "services",
        "tree",
        "safeTree",
        "caRoots",
        "caLeaf",
        "pkiCert",
        "nomadServices",
        "nomadService",
        "nomadVarList",
        "nomadVarListSafe",
        "nomadVar",
        "nomadVarExists",
        "scratch",
        "base64Decode",
        "base64Encode",
        "base64URLDecode",
        "base64URLEncode",
        "byKey",
        "byPort",
        "byTag",
        "contains",
        "containsAll",
        "containsAny",
        "containsNone",
        "containsNotAll",
        "env",
        "mustEnv",
        "envOrDefault",
        "executeTemplate",
        "explode",
        "explodeMap",
        "mergeMap",
        "mergeMapWithOverride",
        "in",
        "indent",
        "loop",
        "join",
        "trim",
        "trimPrefix",
        "trimSuffix",
        "trimSpace",
        "parseBool",
        "parseFloat",
        "parseInt",
        "parseJSON",
        "parseUint",
        "parseYAML",
        "plugin",
        "regexReplaceAll",
        "regexMatch",
        "replaceAll",
        "sha256Hex",
        "md5sum",
        "hmacSHA256Hex",
        "timestamp",
        "toLower",
        "toJSON",
        "toJSONPretty",
        "toUnescapedJSON",
        "toUnescapedJSONPretty",
        "toTitle",
        "toTOML",
        "toUpper",
        "toYAML",
        "split",
        "splitToMap",
        "byMeta",
        "sockaddr",
        "writeToFile",
        "add",
        "subtract",
        "multiply",
        "divide",
        "modulo",
        "minimum",
        "maximum",
        "spew_dump",
        "spew_printf",
        "spew_sdump",
        "spew_sprintf",
    ];

    #[test]
    fn every_upstream_function_is_registered() {
        let f = funcs();
        let missing: Vec<&str> = UPSTREAM_FUNCS
            .iter()
            .copied()
            .filter(|n| !f.contains(n))
            .collect();
        assert!(missing.is_empty(), "not registered: {missing:?}");
        // Templates naming them parse (what `-parse-only` checks); the calls do not run.
        let src: String = UPSTREAM_FUNCS
            .iter()
            .map(|n| format!("{{{{ if false }}}}{{{{ {n} }}}}{{{{ end }}}}"))
            .collect();
        assert_eq!(render(&src).unwrap(), "");
    }

    #[test]
    fn denied_functions_parse_and_fail_when_called() {
        let deny = |src: &str, patterns: &[&str]| -> Result<String> {
            let opts = TemplateOptions::new(Dialect::ConsulTemplate)
                .deny_functions(patterns.iter().copied());
            let t = Template::parse(src, opts)?;
            Ok(ConsulTemplate::new(t)
                .render(&RenderData::default())?
                .output)
        };
        let e = deny(r#"{{ "abcde" | sprig_reverse }}"#, &["sprig_*"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("error calling sprig_reverse: function is disabled"),
            "{e}"
        );
        let e = deny(r#"{{ "1" | plugin "echo" }}"#, &["plugin"]).unwrap_err();
        assert!(e.to_string().contains("function is disabled"), "{e}");
        // Unmatched functions run; a denied one that is never called costs nothing.
        assert_eq!(
            deny(
                r#"{{ "a" | toUpper }}{{ if false }}{{ plugin "x" }}{{ end }}"#,
                &["plugin", "sprig_*"]
            )
            .unwrap(),
            "A"
        );
        // The denylist is per template: the same source without it renders.
        assert_eq!(render(r#"{{ "abc" | sprig_upper }}"#).unwrap(), "ABC");
    }

    #[test]
    fn vault_and_nomad_functions_parse_and_fail_by_name() {
        for (src, msg) in [
            (
                r#"{{with secret "kv/x"}}{{.Data}}{{end}}"#,
                "secret: Vault is not supported by this consul-template",
            ),
            (
                r#"{{secrets "kv/"}}"#,
                "secrets: Vault is not supported by this consul-template",
            ),
            (
                r#"{{pkiCert "pki/issue/x" "common_name=a"}}"#,
                "pkiCert: Vault is not supported by this consul-template",
            ),
            (
                r#"{{nomadService "web"}}"#,
                "nomadService: Nomad is not supported by this consul-template",
            ),
            (
                r#"{{nomadServices}}"#,
                "nomadServices: Nomad is not supported by this consul-template",
            ),
            (
                r#"{{nomadVar "nomad/jobs"}}"#,
                "nomadVar: Nomad is not supported by this consul-template",
            ),
            (
                r#"{{nomadVarExists "nomad/jobs"}}"#,
                "nomadVarExists: Nomad is not supported by this consul-template",
            ),
            (
                r#"{{nomadVarList}}"#,
                "nomadVarList: Nomad is not supported by this consul-template",
            ),
            (
                r#"{{nomadVarListSafe "p"}}"#,
                "nomadVarListSafe: Nomad is not supported by this consul-template",
            ),
        ] {
            let err = render(src).unwrap_err().to_string();
            assert!(err.contains(msg), "{src}: {err}");
        }
    }

    #[test]
    fn minimum_and_maximum_keep_the_winners_type() {
        // template/template_test.go math_minimum, math_maximum.
        assert_eq!(render("{{ 3 | minimum 2 }}").unwrap(), "2");
        assert_eq!(render("{{ 3 | maximum 2 }}").unwrap(), "3");
        // Int against float: the result is whichever wins, with its own type.
        assert_eq!(
            render(r#"{{ 3 | minimum 2.5 }} {{ printf "%T" (3 | minimum 2.5) }} {{ 3 | maximum 2.5 }} {{ printf "%.1f" (2 | maximum 1.5) }}"#).unwrap(),
            "2.5 float64 3 %!f(int=2)"
        );
        assert_eq!(render("{{ 1.5 | maximum 1.5 }}").unwrap(), "1.5");
        let err = render(r#"{{ "a" | minimum 2 }}"#).unwrap_err().to_string();
        assert!(
            err.contains(r#"minimum: unknown type for "a" (string)"#),
            "{err}"
        );
    }

    #[test]
    fn toml_nests_tables_and_arrays_of_tables() {
        let out = render(
            r#"{{toTOML (parseJSON "{\"a\":{\"b\":{\"c\":1.5}},\"l\":[{\"x\":\"y\"}],\"s\":[1,2],\"n\":null,\"k y\":true}")}}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            "\"k y\" = true\ns = [1.0, 2.0]\n\n[a]\n  [a.b]\n    c = 1.5\n\n[[l]]\n  x = \"y\""
        );
        let err = render(r#"{{toTOML (parseJSON "{\"m\":[1,\"x\"]}")}}"#).unwrap_err();
        assert!(err.to_string().contains("mixed element types"), "{err}");
    }

    #[test]
    fn yaml_and_unescaped_json() {
        let out = render(
            r#"{{toYAML (parseJSON "{\"b\":[1,2.5],\"a\":\"x\"}")}}|{{toUnescapedJSON "<a>"}}"#,
        )
        .unwrap();
        assert_eq!(out, "a: x\nb:\n- 1\n- 2.5|\"<a>\"");
        let out = render("{{$y := parseYAML \"a:\\n  b: [1, x]\\nc: 1.5\"}}{{$y.a.b}} {{$y.c}} {{parseYAML \"\"}}")
            .unwrap();
        assert_eq!(out, "[1 x] 1.5 map[]");
    }

    #[test]
    fn regex_classes_are_ascii_like_go() {
        assert_eq!(
            render(r#"{{regexMatch "^\\w+$" "héllo"}} {{regexMatch "^[\\w]+$" "a_1"}}"#).unwrap(),
            "false true"
        );
        let err = render(r#"{{regexMatch "a{2" "x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("error parsing regexp"), "{err}");
    }

    #[test]
    fn collections_and_scratch() {
        let out = render(
            r#"{{in (parseJSON "[1,2]") 2.0}} {{contains 3 (parseJSON "[1,2]")}} {{scratch.MapSetX "m" "a" 1}}{{scratch.MapSetX "m" "a" 2}}{{scratch.MapValues "m"}} {{loop "2" 4}} {{indent 2 "a\n\nb"}}"#,
        )
        .unwrap();
        assert_eq!(out, "true false [1] [2 3]   a\n\n  b");
        let err = render(r#"{{scratch.Set "k" 1}}{{scratch.MapSet "k" "a" 1}}"#).unwrap_err();
        assert!(err.to_string().contains("is not a map"), "{err}");
    }

    #[test]
    fn env_functions() {
        let env = [
            ("SET".to_owned(), "v".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ];
        let t = Template::parse(
            r#"{{envOrDefault "EMPTY" "d"}}|{{envOrDefault "UNSET" "d"}}|{{env "SET"}}"#,
            TemplateOptions::new(Dialect::ConsulTemplate).env(env.into_iter().collect()),
        )
        .unwrap();
        let out = ConsulTemplate::new(t)
            .render(&RenderData::default())
            .unwrap();
        assert_eq!(out.output, "|d|v");
        let t = Template::parse(
            r#"{{mustEnv "EMPTY"}}"#,
            TemplateOptions::new(Dialect::ConsulTemplate).env(Default::default()),
        )
        .unwrap();
        assert!(ConsulTemplate::new(t)
            .render(&RenderData::default())
            .is_err());
    }

    #[test]
    fn file_needs_a_sandbox() {
        let dir = std::env::temp_dir().join(format!("ct-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.txt");
        std::fs::write(&f, "content").unwrap();
        let src = format!("{{{{file \"{}\"}}}}", f.display());
        let open = Template::parse(&src, TemplateOptions::new(Dialect::ConsulTemplate)).unwrap();
        let err = ConsulTemplate::new(open)
            .render(&RenderData::default())
            .unwrap_err();
        assert!(err.to_string().contains("disabled"), "{err}");
        let boxed = Template::parse(
            &src,
            TemplateOptions::new(Dialect::ConsulTemplate).file_sandbox(&dir),
        )
        .unwrap();
        let out = ConsulTemplate::new(boxed)
            .render(&RenderData::default())
            .unwrap();
        assert_eq!(out.output, "content");
        let outside = Template::parse(
            "{{file \"/etc/hostname\"}}",
            TemplateOptions::new(Dialect::ConsulTemplate).file_sandbox(&dir),
        )
        .unwrap();
        assert!(ConsulTemplate::new(outside)
            .render(&RenderData::default())
            .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
