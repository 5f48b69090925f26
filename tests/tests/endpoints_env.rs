//! Endpoint discovery from the environment, as a container's entrypoint would rely on: with no
//! `-node` (confd) or no host in the URL (`register`, `watch`), the binaries find etcd in
//! `ETCDCTL_ENDPOINTS` / `ETCD_ENDPOINTS` / `ETCD_ENDPOINT` and Consul in `CONSUL_HTTP_ADDR`;
//! every confd flag can come from `CONFD_<FLAG>`, and the command line still wins.

use std::process::{Command, Stdio};
use std::time::Duration;

use discovery_core::{Key, KvStore, KvView};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, unique, write_confd_dir};

const SOON: Duration = Duration::from_secs(30);
/// A port nothing listens on: an endpoint that must not be the one used.
const DEAD: &str = "127.0.0.1:1";
const VARS: [&str; 5] = [
    "ETCDCTL_ENDPOINTS",
    "ETCD_ENDPOINTS",
    "ETCD_ENDPOINT",
    "ETCDCTL_PEERS",
    "CONSUL_HTTP_ADDR",
];

/// A command with none of the discovery variables inherited.
fn command(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    for v in VARS {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confd_takes_etcd_from_the_environment_and_every_flag_from_confd_variables() {
    let etcd = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("envnodes"));
    let kv = etcd.backend("").await;
    kv.put(
        &Key::new(format!("{prefix}/a")).unwrap(),
        "10.0.0.1:80".into(),
        None,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_confd_dir(dir.path(), &prefix);
    let out = dir.path().join("app.conf");
    let confdir = dir.path().to_str().unwrap();

    // No flags at all: backend, mode, confdir and log level from CONFD_*, etcd from
    // ETCD_ENDPOINTS (ETCDCTL_ENDPOINTS is unset, so the next variable is read).
    run_ok(
        command("confd")
            .env("CONFD_CONFIG_FILE", "/nonexistent/confd.toml")
            .env("CONFD_BACKEND", "etcdv3")
            .env("CONFD_ONETIME", "true")
            .env("CONFD_CONFDIR", confdir)
            .env("CONFD_LOG_LEVEL", "error")
            .env("ETCD_ENDPOINTS", etcd.client_url()),
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "server 10.0.0.1:80;\n"
    );

    // The first variable set wins: a dead ETCDCTL_ENDPOINTS fails even with a good ETCD_ENDPOINT.
    std::fs::remove_file(&out).unwrap();
    let failed = command("confd")
        .args(["-onetime", "-backend", "etcdv3", "-confdir", confdir])
        .args(["-config-file", "/nonexistent/confd.toml"])
        .env("ETCDCTL_ENDPOINTS", DEAD)
        .env("ETCD_ENDPOINT", etcd.client_url())
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("127.0.0.1:1"),
        "names the endpoint it tried: {stderr}"
    );
    assert!(!out.exists(), "nothing written on failure");

    // -node beats the variables, and a flag beats its CONFD_ variable.
    run_ok(
        command("confd")
            .args(["-onetime", "-backend", "etcdv3", "-confdir", confdir])
            .args(["-config-file", "/nonexistent/confd.toml", "-node"])
            .arg(etcd.client_url())
            .env("CONFD_NODE", DEAD)
            .env("CONFD_BACKEND", "consul")
            .env("ETCDCTL_ENDPOINTS", DEAD),
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "server 10.0.0.1:80;\n"
    );

    // A bad CONFD_ value is refused naming the variable and the flag.
    let bad = command("confd")
        .args(["-config-file", "/nonexistent/confd.toml"])
        .env("CONFD_WATCH", "often")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("$CONFD_WATCH") && stderr.contains("-watch"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confd_takes_consul_from_consul_http_addr() {
    let consul = ConsulServer::shared().await;
    let prefix = format!("/{}", unique("envconsul"));
    let kv = consul.backend(None);
    kv.put(
        &Key::new(format!("{prefix}/a")).unwrap(),
        "10.0.0.2:80".into(),
        None,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_confd_dir(dir.path(), &prefix);
    run_ok(
        command("confd")
            .args(["-onetime", "-backend", "consul", "-confdir"])
            .arg(dir.path())
            .args(["-config-file", "/nonexistent/confd.toml"])
            .env("CONSUL_HTTP_ADDR", consul.address()),
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.conf")).unwrap(),
        "server 10.0.0.2:80;\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_watch_take_etcd_from_the_environment() {
    let etcd = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("envreg"));
    let key = format!("{prefix}/app-1");
    // No -backend: etcd:// with its nodes from ETCDCTL_ENDPOINTS.
    let _register = ChildGuard(
        command("register")
            .args(["-key", &key, "-value", "10.0.0.3:80", "-ttl", "5s"])
            .env("ETCDCTL_ENDPOINTS", etcd.client_url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let kv = etcd.backend("").await;
    let k = Key::new(key.clone()).unwrap();
    eventually("register's key in etcd", SOON, || async {
        kv.get(&k).await.ok().flatten()
    })
    .await;

    let mut watch = command("watch");
    watch
        .args(["-prefix", &prefix])
        .env("ETCD_ENDPOINT", etcd.client_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard(watch.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().nth(1)
    });
    let line = tokio::time::timeout(SOON, line)
        .await
        .expect("watch prints the key")
        .unwrap()
        .expect("a line")
        .unwrap();
    assert_eq!(line.trim(), format!("{key} = 10.0.0.3:80"));
}
