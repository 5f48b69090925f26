//! consul-template 0.18's spellings through the real binary on a real Consul agent: `-consul`
//! and a config file's top-level `token`/`retry` still work, each with one deprecation warning
//! naming the new spelling.

use std::process::Command;

use bytes::Bytes;
use discovery_core::{Key, KvStore};
use discovery_tests::bins::bin;
use discovery_tests::consul::ConsulServer;
use discovery_tests::util::unique;

/// Runs consul-template with `args` in `dir`; returns (exited 0, stderr).
fn run(dir: &std::path::Path, args: &[String]) -> (bool, String) {
    let out = Command::new(bin("consul-template"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run consul-template");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_flag_and_config_spellings_work_and_warn() {
    bin("consul-template");
    let consul = ConsulServer::shared().await;
    let key = format!("{}/mode", unique("ctdep"));
    consul
        .backend(None)
        .put(
            &Key::new(format!("/{key}")).unwrap(),
            Bytes::from("blue"),
            None,
        )
        .await
        .unwrap();
    let host = consul.address().trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.tmpl"), format!("{{{{key \"{key}\"}}}}")).unwrap();

    // `-consul <addr>`.
    let args: Vec<String> = ["-consul", &host, "-template", "in.tmpl:a.out", "-once"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (ok, stderr) = run(dir.path(), &args);
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.out")).unwrap(),
        "blue"
    );
    assert_eq!(
        stderr
            .matches("-consul is deprecated; use -consul-addr")
            .count(),
        1,
        "{stderr}"
    );

    // Top-level `token` and `retry` in a config file.
    std::fs::write(
        dir.path().join("ct.hcl"),
        format!(
            "consul {{\n  address = \"{host}\"\n}}\ntoken = \"anything\"\nretry = \"5s\"\n\
             template {{\n  source = \"in.tmpl\"\n  destination = \"b.out\"\n}}\n"
        ),
    )
    .unwrap();
    let args: Vec<String> = ["-config", "ct.hcl", "-once"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (ok, stderr) = run(dir.path(), &args);
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("b.out")).unwrap(),
        "blue"
    );
    for warning in [
        "top-level token is deprecated; use consul { token",
        "top-level retry is deprecated; use consul { retry { backoff",
    ] {
        assert_eq!(stderr.matches(warning).count(), 1, "{warning}: {stderr}");
    }
    assert!(!stderr.contains("anything"), "the token leaked: {stderr}");
}
