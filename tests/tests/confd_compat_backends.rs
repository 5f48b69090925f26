//! The confd half of the compatibility suite (`render/tests/compat/confd`), run end to end: each
//! case becomes a real `conf.d` resource (its `prefix` and `keys` in the TOML, `global_prefix`
//! as `-prefix`), its `kv` is written into a real backend, and the `confd -onetime` binary must
//! write exactly the bytes real confd wrote (or fail without writing, for an `expected.err`).
//!
//! `render/tests/compat.rs` checks the renderer alone; this checks what a user runs: the
//! resource loader, the key/prefix rules (`path.Join(prefix, key)` fetched as a key and the keys
//! under it, names `path.Join("/", TrimPrefix(key, prefix))`) and each backend's listing. The
//! same rules hold on etcd v3, Consul and the file backend, so every case runs on all three.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use discovery_core::{Key, KvStore, KvView};
use discovery_tests::bins::{bin, workspace_root};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::EtcdServer;
use serde_json::Value as Json;

/// One case of the suite.
struct Case {
    name: String,
    dir: PathBuf,
    data: Json,
}

impl Case {
    fn kv(&self) -> BTreeMap<String, String> {
        self.data["kv"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn cases() -> Vec<Case> {
    let dir = workspace_root().join("render/tests/compat/confd");
    let mut out: Vec<Case> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("compat folder {} is missing: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("template.tmpl").is_file())
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("data.json")).unwrap_or_default();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                data: serde_json::from_str(&text).unwrap_or(Json::Null),
                dir,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 126, "only {} confd cases found", out.len());
    out
}

/// Runs `case` through `confd -onetime` with `backend_args`; returns a description of the
/// mismatch, if any.
fn run_case(case: &Case, backend_args: &[String]) -> Option<String> {
    let root = tempfile::tempdir().unwrap();
    let conf_d = root.path().join("conf.d");
    let templates = root.path().join("templates");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::copy(
        case.dir.join("template.tmpl"),
        templates.join("template.tmpl"),
    )
    .unwrap();
    let dest = root.path().join("out");
    let keys = serde_json::to_string(&case.data["keys"]).unwrap();
    let mut toml = format!(
        "[template]\nsrc = \"template.tmpl\"\ndest = {}\nkeys = {keys}\n",
        Json::from(dest.display().to_string())
    );
    if let Some(p) = case.data["prefix"].as_str() {
        toml.push_str(&format!("prefix = {}\n", Json::from(p)));
    }
    std::fs::write(conf_d.join("r.toml"), toml).unwrap();
    let mut cmd = Command::new(bin("confd"));
    cmd.arg("-onetime")
        .args(backend_args)
        .arg("-confdir")
        .arg(root.path());
    if let Some(g) = case.data["global_prefix"].as_str() {
        cmd.args(["-prefix", g]);
    }
    // The case's complete environment, as the goldens were made under `env -i`.
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    if let Some(env) = case.data["env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap_or_default());
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let written = std::fs::read(&dest).ok();
    if let Ok(expected) = std::fs::read(case.dir.join("expected.out")) {
        return match written {
            Some(w) if w == expected => None,
            Some(w) => Some(format!(
                "wrote {:?}, real confd wrote {:?}",
                String::from_utf8_lossy(&w),
                String::from_utf8_lossy(&expected)
            )),
            None => Some(format!("wrote nothing: {}", tail(&stderr))),
        };
    }
    let err = std::fs::read_to_string(case.dir.join("expected.err")).unwrap_or_default();
    let want = err.lines().nth(1).unwrap_or_default();
    if out.status.success() || written.is_some() {
        return Some(format!(
            "succeeded (status {:?}, wrote {:?}); real confd failed with {want:?}",
            out.status.code(),
            written.map(|w| String::from_utf8_lossy(&w).into_owned())
        ));
    }
    (!stderr.contains(want)).then(|| format!("error does not contain {want:?}: {}", tail(&stderr)))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Runs every case on one backend, `seed` replacing the backend's content with the case's
/// keys first; panics listing every mismatch.
async fn run_all<F, Fut>(backend: &str, backend_args: &[String], mut seed: F)
where
    F: FnMut(BTreeMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut failures = Vec::new();
    let all = cases();
    for case in &all {
        seed(case.kv()).await;
        let args = backend_args.to_vec();
        if let Some(why) = run_case(case, &args) {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{backend}: {} of {} cases differ from real confd:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Deletes every key `kv` holds, then writes `pairs`.
async fn replace_all<B: KvStore + KvView>(kv: &B, pairs: BTreeMap<String, String>) {
    let old = kv.list(&[Key::root()]).await.unwrap();
    for key in old.pairs.keys() {
        kv.delete(key).await.unwrap();
    }
    for (k, v) in pairs {
        let key = Key::new(k.clone()).unwrap_or_else(|e| panic!("case key {k:?}: {e}"));
        kv.put(&key, v.into_bytes().into(), None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn confd_cases_on_etcd() {
    let server = EtcdServer::start().await;
    let mut client = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    let args = vec![
        "-backend".to_owned(),
        "etcdv3".to_owned(),
        "-node".to_owned(),
        server.client_url(),
    ];
    run_all("etcd", &args, |pairs| {
        let mut c = client.clone();
        async move {
            // Raw etcd-client writes, so the keys are exactly the case's bytes.
            c.delete(
                "\0",
                Some(etcd_client::DeleteOptions::new().with_from_key()),
            )
            .await
            .unwrap();
            for (k, v) in pairs {
                c.put(k, v, None).await.unwrap();
            }
        }
    })
    .await;
    client.status().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn confd_cases_on_consul() {
    let server = ConsulServer::start().await;
    let kv = server.backend(None);
    let args = vec![
        "-backend".to_owned(),
        "consul".to_owned(),
        "-node".to_owned(),
        server.address().trim_start_matches("http://").to_owned(),
    ];
    run_all("consul", &args, |pairs| replace_all(&kv, pairs)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confd_cases_on_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("data.json");
    let args = vec![
        "-backend".to_owned(),
        "file".to_owned(),
        "-file".to_owned(),
        file.display().to_string(),
    ];
    let path: &Path = &file;
    run_all("file", &args, |pairs| {
        // Flat JSON, full keys: a key may be a value and have children at once.
        std::fs::write(path, serde_json::to_vec(&pairs).unwrap()).unwrap();
        async {}
    })
    .await;
}
