//! The compatibility suite: every case under `render/tests/compat/{confd,consul-template}` (the in-repo copy) rendered
//! from its data and compared byte for byte with what the real Go tool produced.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use discovery_core::{
    Dependency, Health, Key, KvPair, KvSnapshot, RenderData, Rendered, Renderer, Revision,
    ServiceInstance, ServiceName, Snapshot,
};
use discovery_render::{ConfdTemplate, ConsulTemplate, Dialect, Template, TemplateOptions};
use serde_json::Value as Json;

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

fn cases(dialect: &str) -> Vec<PathBuf> {
    let dir = compat_dir().join(dialect);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("compat folder {} is missing: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("template.tmpl").is_file())
        .collect();
    out.sort();
    out
}

fn str_map(v: &Json) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn snapshot(kv: &BTreeMap<String, String>, leading_slash: bool) -> KvSnapshot {
    let mut s = KvSnapshot::default();
    for (k, v) in kv {
        let full = if leading_slash {
            format!("/{k}")
        } else {
            k.clone()
        };
        let key = Key::new(full).expect("valid key");
        s.pairs.insert(
            key.clone(),
            KvPair {
                key,
                value: v.clone().into(),
                mod_revision: Revision(1),
            },
        );
    }
    s
}

/// What a case expects.
enum Expect {
    Out(Vec<u8>),
    Err(String),
    Blocked(String),
}

fn expectation(case: &Path) -> Expect {
    if let Ok(out) = std::fs::read(case.join("expected.out")) {
        return Expect::Out(out);
    }
    let line2 = |f: &str| {
        let text = std::fs::read_to_string(case.join(f)).ok()?;
        Some(text.lines().nth(1).unwrap_or_default().to_owned())
    };
    if let Some(l) = line2("expected.err") {
        return Expect::Err(l);
    }
    if let Some(l) = line2("expected.blocked") {
        return Expect::Blocked(l);
    }
    panic!("{}: no expected.* file", case.display());
}

fn render_confd(source: &str, data: &Json) -> discovery_core::Result<Rendered> {
    let mut env = str_map(&data["env"]);
    env.insert("PATH".into(), "/usr/bin:/bin".into());
    let opts = TemplateOptions::new(Dialect::Confd)
        .name("template.tmpl")
        .env(env);
    let template = Template::parse(source, opts)?;
    // `global_prefix` is confd's `-prefix` flag: it replaces the resource's `prefix`.
    let prefix = data["global_prefix"]
        .as_str()
        .filter(|g| !g.is_empty())
        .or_else(|| data["prefix"].as_str())
        .unwrap_or("/");
    let keys: Vec<String> = match data["keys"].as_array() {
        Some(a) => a
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        None => vec!["/".to_owned()],
    };
    let kv = snapshot(&str_map(&data["kv"]), false);
    ConfdTemplate::new(template, prefix, keys).render(&RenderData::from_kv(kv))
}

fn health(status: &str) -> Health {
    match status {
        "warning" => Health::Warning,
        "critical" => Health::Critical,
        "maintenance" => Health::Maintenance,
        _ => Health::Passing,
    }
}

fn instance(s: &Json) -> ServiceInstance {
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
    let name: ServiceName = text("Name").parse().expect("service name");
    let port = s["Port"].as_u64().and_then(|p| u16::try_from(p).ok());
    let mut i = ServiceInstance::new(name, text("ID").parse().expect("id"), text("Address"), port)
        .with_health(health(&text("Status")))
        .with_node(text("Node"), text("NodeAddress"));
    for t in s["Tags"].as_array().into_iter().flatten() {
        i = i.with_tag(t.as_str().unwrap_or_default());
    }
    for (k, v) in str_map(&s["Meta"]) {
        i = i.with_meta(k, v);
    }
    i
}

fn render_consul_template(source: &str, data: &Json) -> discovery_core::Result<Rendered> {
    let mut env = str_map(&data["env"]);
    env.insert("PATH".into(), "/usr/bin:/bin".into());
    env.insert("CONSUL_HTTP_ADDR".into(), "127.0.0.1:48500".into());
    env.insert("CONSUL_HTTP_SSL".into(), "false".into());
    env.insert("CONSUL_HTTP_SSL_VERIFY".into(), "true".into());
    let template = Template::parse(
        source,
        TemplateOptions::new(Dialect::ConsulTemplate).env(env),
    )?;
    let renderer = ConsulTemplate::new(template);

    let mut instances: Vec<ServiceInstance> = data["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(instance)
        .collect();
    instances.push(
        ServiceInstance::new(
            "consul".parse()?,
            "consul".parse()?,
            "127.0.0.1",
            Some(8300),
        )
        .with_node("compat-server", "127.0.0.1"),
    );
    let mut services: BTreeMap<ServiceName, Snapshot> = BTreeMap::new();
    let mut catalog: BTreeMap<ServiceName, BTreeSet<String>> = BTreeMap::new();
    for i in instances {
        catalog
            .entry(i.service.clone())
            .or_default()
            .extend(i.tags.iter().cloned());
        services
            .entry(i.service.clone())
            .or_default()
            .instances
            .insert(i.id.clone(), i);
    }
    let mut rd = RenderData::from_kv(snapshot(&str_map(&data["kv"]), true));
    rd.services = services
        .into_iter()
        .map(|(k, v)| (k, Arc::new(v)))
        .collect();
    rd.catalog = Some(Arc::new(catalog));

    // Like the daemon: fetch what the render asked for (a service Consul does not know is an
    // empty list) and render again. Missing keys stay missing: consul-template blocks on them.
    let mut rendered = renderer.render(&rd)?;
    for _ in 0..4 {
        let unfetched: Vec<ServiceName> = rendered
            .missing
            .iter()
            .filter_map(|d| match d {
                Dependency::Service(s) if !rd.services.contains_key(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if unfetched.is_empty() {
            break;
        }
        for s in unfetched {
            rd.services.insert(s, Arc::new(Snapshot::default()));
        }
        rendered = renderer.render(&rd)?;
    }
    Ok(rendered)
}

fn snippet(expected: &[u8], got: &[u8]) -> String {
    let (e, g) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(got),
    );
    let at = e
        .char_indices()
        .zip(g.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| e.len().min(g.len()));
    let from = at.saturating_sub(40);
    let cut = |s: &str| -> String { s.get(from..).unwrap_or("").chars().take(100).collect() };
    format!("    expected: {:?}\n    got:      {:?}", cut(&e), cut(&g))
}

fn check(case: &Path, result: discovery_core::Result<Rendered>) -> Result<(), String> {
    match (expectation(case), result) {
        (Expect::Out(want), Ok(r)) if r.output.as_bytes() == want && r.missing.is_empty() => Ok(()),
        (Expect::Out(want), Ok(r)) if r.output.as_bytes() == want => {
            Err(format!("    output matches but missing = {:?}", r.missing))
        }
        (Expect::Out(want), Ok(r)) => Err(snippet(&want, r.output.as_bytes())),
        (Expect::Out(_), Err(e)) => Err(format!("    unexpected error: {e}")),
        (Expect::Err(want), Err(e)) if e.to_string().contains(&want) => Ok(()),
        (Expect::Err(want), Err(e)) => Err(format!("    error {e:?}\n    lacks {want:?}")),
        (Expect::Err(want), Ok(r)) => Err(format!(
            "    rendered {:?}, expected an error containing {want:?}",
            r.output
        )),
        (Expect::Blocked(want), Ok(r)) => {
            let key = want
                .split_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .unwrap_or(&want);
            let dep = Dependency::Key(Key::new(key).map_err(|e| e.to_string())?);
            if r.missing.contains(&dep) {
                Ok(())
            } else {
                Err(format!(
                    "    not blocked on {key}: missing = {:?}",
                    r.missing
                ))
            }
        }
        (Expect::Blocked(_), Err(e)) => Err(format!("    expected blocked, got error {e}")),
    }
}

#[test]
fn compat_suite() {
    let mut passed = 0;
    let mut failures = Vec::new();
    for (dialect, render) in [
        ("confd", render_confd as fn(&str, &Json) -> _),
        ("consul-template", render_consul_template),
    ] {
        let list = cases(dialect);
        assert!(!list.is_empty(), "no {dialect} cases found");
        for case in list {
            let source = std::fs::read_to_string(case.join("template.tmpl")).expect("template");
            let data: Json = serde_json::from_str(
                &std::fs::read_to_string(case.join("data.json")).expect("data.json"),
            )
            .expect("valid data.json");
            let name = format!(
                "{dialect}/{}",
                case.file_name().unwrap_or_default().to_string_lossy()
            );
            match check(&case, render(&source, &data)) {
                Ok(()) => passed += 1,
                Err(why) => failures.push(format!("  {name}\n{why}")),
            }
        }
    }
    println!("compat: {passed} passed, {} failed", failures.len());
    for f in &failures {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} compat cases failed",
        failures.len()
    );
}
