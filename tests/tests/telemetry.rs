//! The operator's endpoints of the real binaries: `confd -watch -metrics-addr` against a real
//! etcd and `consul-template -metrics-addr` against a real Consul agent. `/ready` turns 200
//! after the first render, the per-resource render counter moves with a change, and `/health`
//! turns 503 naming the watch while etcd is down, then 200 again once it is back.

use std::process::{Command, Stdio};
use std::time::Duration;

use discovery_core::{Key, KvStore};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, free_port, unique, write_confd_dir};

const SOON: Duration = Duration::from_secs(60);

/// `GET http://addr/path`: status and body; `None` while nothing answers.
async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

async fn wait_status(addr: &str, path: &str, want: u16) -> String {
    eventually(&format!("{path} answering {want}"), SOON, || async {
        match get(addr, path).await {
            Some((s, body)) if s == want => Some(body),
            _ => None,
        }
    })
    .await
}

/// The value of the first sample of `metric` whose labels contain every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confd_serves_metrics_health_and_ready_and_health_follows_etcd() {
    // Its own server: the test stops it.
    let etcd = EtcdServer::start().await;
    let prefix = format!("/{}", unique("telemetry"));
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
    let addr = format!("127.0.0.1:{}", free_port());
    let _confd = ChildGuard(
        Command::new(bin("confd"))
            .args(["-backend", "etcdv3", "-node", &etcd.client_url(), "-watch"])
            .args(["-metrics-addr", &addr, "-log-level", "warn"])
            .arg("-confdir")
            .arg(dir.path())
            .arg("-config-file")
            .arg(dir.path().join("none.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start confd"),
    );

    let ready = wait_status(&addr, "/ready", 200).await;
    assert!(ready.contains("\"ready\":true"), "{ready}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.conf")).unwrap(),
        "server 10.0.0.1:80;\n"
    );
    let health = wait_status(&addr, "/health", 200).await;
    assert!(health.contains("\"healthy\":true"), "{health}");

    let labels = ["resource=\"app.toml\"", "ok=\"true\""];
    let (_, text) = get(&addr, "/metrics").await.expect("/metrics");
    let before = sample(&text, "discovery_renders_total", &labels)
        .unwrap_or_else(|| panic!("no per-resource render counter in:\n{text}"));
    assert!(
        sample(
            &text,
            "discovery_last_render_success_timestamp_seconds",
            &labels[..1]
        )
        .is_some_and(|t| t > 1.6e9),
        "{text}"
    );
    let watch = format!("name=\"{prefix}\"");
    assert_eq!(
        sample(&text, "discovery_health", &["kind=\"watch\"", &watch]),
        Some(1.0),
        "{text}"
    );

    // A change renders again, and the counter says so.
    kv.put(
        &Key::new(format!("{prefix}/b")).unwrap(),
        "10.0.0.2:80".into(),
        None,
    )
    .await
    .unwrap();
    eventually("the counter to move", SOON, || async {
        let (_, text) = get(&addr, "/metrics").await?;
        (sample(&text, "discovery_renders_total", &labels)? > before).then_some(())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.conf")).unwrap(),
        "server 10.0.0.1:80;\nserver 10.0.0.2:80;\n"
    );

    // etcd goes away: /health is 503 and names the watch; it comes back: 200 again.
    etcd.stop().await;
    let body = wait_status(&addr, "/health", 503).await;
    assert!(
        body.contains(&format!("\"name\":\"{prefix}\"")) && body.contains("\"kind\":\"watch\""),
        "{body}"
    );
    assert!(
        get(&addr, "/ready").await.is_some_and(|(s, _)| s == 200),
        "ready latches"
    );
    etcd.restart().await;
    wait_status(&addr, "/health", 200).await;
    kv.put(
        &Key::new(format!("{prefix}/c")).unwrap(),
        "10.0.0.3:80".into(),
        None,
    )
    .await
    .unwrap();
    eventually("the render after the outage", SOON, || async {
        let out = std::fs::read_to_string(dir.path().join("app.conf")).ok()?;
        out.contains("10.0.0.3").then_some(())
    })
    .await;
    assert_eq!(get(&addr, "/nope").await.map(|(s, _)| s), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_template_serves_metrics_health_and_ready() {
    let consul = ConsulServer::shared().await;
    let key = unique("telemetry");
    let kv = consul.backend(None);
    kv.put(&Key::new(format!("/{key}")).unwrap(), "one".into(), None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.tmpl"),
        format!("v={{{{key \"{key}\"}}}}\n"),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let host = consul.address();
    let host = host.trim_start_matches("http://");
    let _ct = ChildGuard(
        Command::new(bin("consul-template"))
            .args(["-consul-addr", host, "-metrics-addr", &addr])
            .args(["-template", "in.tmpl:out.txt"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start consul-template"),
    );
    wait_status(&addr, "/ready", 200).await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "v=one\n"
    );
    let body = wait_status(&addr, "/health", 200).await;
    assert!(body.contains("\"components\":1"), "{body}");
    let labels = ["resource=\"out.txt\"", "ok=\"true\""];
    let (_, text) = get(&addr, "/metrics").await.expect("/metrics");
    let before = sample(&text, "discovery_renders_total", &labels)
        .unwrap_or_else(|| panic!("no per-template render counter in:\n{text}"));
    kv.put(&Key::new(format!("/{key}")).unwrap(), "two".into(), None)
        .await
        .unwrap();
    eventually("the counter to move", SOON, || async {
        let (_, text) = get(&addr, "/metrics").await?;
        (sample(&text, "discovery_renders_total", &labels)? > before).then_some(())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "v=two\n"
    );
}

#[test]
fn a_bad_metrics_address_is_refused_naming_the_flag() {
    let out = Command::new(bin("confd"))
        .args(["-onetime", "-backend", "env", "-metrics-addr", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-metrics-addr"), "{err}");
}

/// `-systemd-notify` against a socket standing in for systemd's: READY=1 once the resource has
/// rendered, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM.
#[test]
fn confd_tells_systemd_when_it_is_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    write_confd_dir(dir.path(), "/app");
    let data = dir.path().join("data.yaml");
    std::fs::write(&data, "app:\n  a: 10.0.0.1:80\n").unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(SOON)).unwrap();
    let confd = ChildGuard(
        Command::new(bin("confd"))
            .args(["-backend", "file", "-watch", "-systemd-notify"])
            .arg("-file")
            .arg(&data)
            .arg("-confdir")
            .arg(dir.path())
            .arg("-config-file")
            .arg(dir.path().join("none.toml"))
            .env("NOTIFY_SOCKET", &sock_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start confd"),
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.starts_with("READY=1\n"), "{first:?}");
    // READY=1 is only sent once the file is there.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app.conf")).unwrap(),
        "server 10.0.0.1:80;\n"
    );
    confd.signal("HUP");
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(next(), "READY=1\n");
    confd.signal("TERM");
    assert_eq!(next(), "STOPPING=1\n");
}
