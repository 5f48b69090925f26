//! The public API: errors name file, line, column and key; unknown functions fail at parse;
//! Jinja and Go syntax render the same upstream block; dependencies are reported.

use std::collections::BTreeMap;
use std::sync::Arc;

use discovery_core::{
    Dependency, Error, Key, KvPair, KvSnapshot, RenderData, Renderer, Revision, ServiceInstance,
    Snapshot,
};
use discovery_render::{ConfdTemplate, ConsulTemplate, Dialect, Syntax, Template, TemplateOptions};

fn kv(pairs: &[(&str, &str)]) -> RenderData {
    let mut s = KvSnapshot::default();
    for (k, v) in pairs {
        let key = Key::new(*k).unwrap();
        s.pairs.insert(
            key.clone(),
            KvPair {
                key,
                value: v.to_string().into(),
                mod_revision: Revision(3),
            },
        );
    }
    RenderData::from_kv(s)
}

fn seeds() -> RenderData {
    kv(&[
        ("/test/apache-8001", "172.17.8.101:8001"),
        ("/test/apache-8002", "172.17.8.101:8002"),
        ("/test/apache-8003", "172.17.8.102:8001"),
    ])
}

fn confd(source: &str, opts: TemplateOptions) -> ConfdTemplate {
    ConfdTemplate::new(
        Template::parse(source, opts).unwrap(),
        "/",
        vec!["/test".into()],
    )
}

#[test]
fn execution_error_names_file_line_column_and_key() {
    let t = confd(
        "upstream {\n  {{getv \"/test/nope\"}}\n}\n",
        TemplateOptions::new(Dialect::Confd).name("nginx.tmpl"),
    );
    let err = t.render(&seeds()).unwrap_err();
    let text = err.to_string();
    match err {
        Error::Template {
            file,
            line,
            column,
            key,
            message,
        } => {
            assert_eq!(file, "nginx.tmpl");
            assert_eq!(line, 2);
            assert_eq!(column, 4, "Go's byte column of the failing command");
            assert_eq!(key.as_deref(), Some("/test/nope"));
            assert!(
                message.contains("error calling getv: key does not exist: /test/nope"),
                "{message}"
            );
        }
        other => panic!("not a template error: {other:?}"),
    }
    assert!(text.starts_with("nginx.tmpl:2:4: "), "{text}");
}

#[test]
fn unknown_function_fails_at_parse_in_both_dialects() {
    let err = Template::parse(
        "a\n{{getv \"/x\"}}",
        TemplateOptions::new(Dialect::ConsulTemplate).name("ct.tmpl"),
    )
    .unwrap_err();
    match err {
        Error::Template {
            file,
            line,
            message,
            ..
        } => {
            assert_eq!((file.as_str(), line), ("ct.tmpl", 2));
            assert!(
                message.contains(r#"function "getv" not defined"#),
                "{message}"
            );
        }
        other => panic!("not a template error: {other:?}"),
    }
    let err =
        Template::parse("{{service \"web\"}}", TemplateOptions::new(Dialect::Confd)).unwrap_err();
    assert!(err
        .to_string()
        .contains(r#"function "service" not defined"#));
}

#[test]
fn load_reports_the_missing_path() {
    let err = Template::load(
        std::path::Path::new("/nonexistent/dir/t.tmpl"),
        TemplateOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/t.tmpl"));
}

#[test]
fn jinja_renders_the_seeds_upstream_like_go() {
    let go = confd(
        "upstream apache {\n{{range gets \"/test/*\"}}    server {{.Value}};\n{{end}}}\n",
        TemplateOptions::new(Dialect::Confd),
    );
    let jinja = confd(
        "upstream apache {\n{% for kv in gets(\"/test/*\") %}    server {{ kv.Value }};\n{% endfor %}}\n",
        TemplateOptions::new(Dialect::Confd).syntax(Syntax::Jinja),
    );
    let data = seeds();
    let a = go.render(&data).unwrap();
    let b = jinja.render(&data).unwrap();
    assert_eq!(
        a.output,
        "upstream apache {\n    server 172.17.8.101:8001;\n    server 172.17.8.101:8002;\n    server 172.17.8.102:8001;\n}\n"
    );
    assert_eq!(a.output, b.output);
    assert_eq!(
        a.used,
        [Dependency::Prefix(Key::new("/test").unwrap())]
            .into_iter()
            .collect()
    );
}

#[test]
fn jinja_errors_name_the_file() {
    let t = confd(
        "{{ getv(\"/test/nope\") }}",
        TemplateOptions::new(Dialect::Confd)
            .syntax(Syntax::Jinja)
            .name("x.j2"),
    );
    let err = t.render(&seeds()).unwrap_err().to_string();
    assert!(err.starts_with("x.j2:1"), "{err}");
    assert!(err.contains("key does not exist: /test/nope"), "{err}");
}

#[test]
fn env_override_is_what_getenv_sees() {
    let env: BTreeMap<String, String> = [("MODE".to_owned(), "blue".to_owned())].into();
    let t = confd(
        "{{getenv \"MODE\"}}|{{getenv \"HOME\" \"none\"}}",
        TemplateOptions::new(Dialect::Confd).env(env),
    );
    assert_eq!(t.render(&seeds()).unwrap().output, "blue|none");
}

#[test]
fn consul_template_reports_used_and_missing() {
    let mut data = kv(&[("/app/a", "1"), ("/app/b", "2")]);
    let web = ServiceInstance::new("web".parse().unwrap(), "w1".parse().unwrap(), "", Some(80))
        .with_node("n1", "10.1.0.1");
    let mut snap = Snapshot::default();
    snap.instances.insert(web.id.clone(), web);
    data.services.insert("web".parse().unwrap(), Arc::new(snap));
    let t = ConsulTemplate::new(
        Template::parse(
            "{{range service \"web\"}}{{.Address}}{{end}} {{range ls \"app\"}}{{.Key}}{{end}} {{safeLs \"none\"}} {{key \"app/zz\"}}",
            TemplateOptions::new(Dialect::ConsulTemplate),
        )
        .unwrap(),
    );
    let r = t.render(&data).unwrap();
    assert_eq!(r.output, "10.1.0.1 ab [] ");
    let key = |k: &str| Key::new(k).unwrap();
    assert!(r
        .used
        .contains(&Dependency::Service("web".parse().unwrap())));
    assert!(r.used.contains(&Dependency::Prefix(key("/app"))));
    let missing: Vec<&Dependency> = r.missing.iter().collect();
    assert_eq!(
        missing,
        [
            &Dependency::Key(key("/app/zz")),
            &Dependency::Prefix(key("/none"))
        ]
    );
}

#[test]
fn templates_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<ConfdTemplate>();
    assert_send_sync::<ConsulTemplate>();
}

#[test]
fn jinja_consul_template_functions_and_methods() {
    let mut data = RenderData::default();
    let mut snap = Snapshot::default();
    for (id, addr) in [("w2", "10.0.0.2"), ("w1", "10.0.0.1")] {
        let i = ServiceInstance::new("web".parse().unwrap(), id.parse().unwrap(), addr, Some(80))
            .with_node("n1", "10.1.0.1");
        snap.instances.insert(i.id.clone(), i);
    }
    data.services.insert("web".parse().unwrap(), Arc::new(snap));
    let src = "{% for s in service(\"web\") %}{{ s.ID }}={{ s.Address }}:{{ s.Port }} {% endfor %}\
               {{ scratch().Set(\"k\", \"v\") }}{{ scratch().Get(\"k\") }} {{ toJSON(split(\",\", \"a,b\")) }}";
    let t = Template::parse(
        src,
        TemplateOptions::new(Dialect::ConsulTemplate).syntax(Syntax::Jinja),
    )
    .unwrap();
    let r = ConsulTemplate::new(t).render(&data).unwrap();
    assert_eq!(r.output, "w1=10.0.0.1:80 w2=10.0.0.2:80 v [\"a\",\"b\"]");
    assert!(r.missing.is_empty());
}

/// consul-template 0.18's `key_or_default` renders exactly as `keyOrDefault`: present key,
/// missing key, and the same dependencies reported.
#[test]
fn key_or_default_is_key_or_default() {
    let data = kv(&[("/app/mode", "blue")]);
    let render = |src: &str| {
        let t = ConsulTemplate::new(
            Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate)).unwrap(),
        );
        let r = t.render(&data).unwrap();
        (r.output, r.used, r.missing)
    };
    for (old, new) in [
        (
            r#"{{key_or_default "app/mode" "green"}}"#,
            r#"{{keyOrDefault "app/mode" "green"}}"#,
        ),
        (
            r#"{{key_or_default "app/missing" "green"}}"#,
            r#"{{keyOrDefault "app/missing" "green"}}"#,
        ),
    ] {
        assert_eq!(render(old), render(new), "{old}");
    }
    assert_eq!(render(r#"{{key_or_default "app/mode" "x"}}"#).0, "blue");
    assert_eq!(
        render(r#"{{key_or_default "app/missing" "green"}}"#).0,
        "green"
    );
}
