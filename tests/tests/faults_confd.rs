//! Faults around the real `confd` binary and a real etcd: a failing `check_cmd` keeps the old
//! file and is retried on the next change, a hanging `reload_cmd` is killed after
//! `-command-timeout` and reported, slow reloads during a burst never overlap and the last write
//! is always reloaded, and an unreachable etcd gives a clear error in `-onetime`.

use std::path::{Path, PathBuf};

use discovery_tests::confd::{put, resource, run, value_template, wait_content, Confd, SOON};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, free_port, unique};

/// Writes the resource rendering `v=<value of prefix/value>`.
fn value_resource(dir: &Path, prefix: &str, extra: &str) -> PathBuf {
    resource(dir, prefix, extra, &value_template(prefix))
}

/// Files in the destination directory other than the destination (staged files left behind).
fn strays(dest: &Path) -> Vec<String> {
    std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| Some(n.as_str()) != dest.file_name().and_then(|f| f.to_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_check_keeps_the_old_file_and_is_retried_on_the_next_change() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("faults-check"));
    let dir = tempfile::tempdir().unwrap();
    let dest = value_resource(
        dir.path(),
        &prefix,
        "check_cmd = \"grep -q good {{.src}}\"\n",
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "good-1").await;
    let confd = Confd::start(
        dir.path(),
        &["-watch", "-backend", "etcdv3", "-node", &server.endpoint()],
    );
    wait_content(&dest, "v=good-1\n").await;

    put(&server.endpoint(), &format!("{prefix}/value"), "bad-2").await;
    confd.wait_log(&["check_cmd", "grep -q good"], 1).await;
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"v=good-1\n",
        "old file replaced"
    );
    assert!(
        strays(&dest).is_empty(),
        "staged files left: {:?}",
        strays(&dest)
    );

    // Another change to the resource's keys retries it (and the check fails again).
    put(&server.endpoint(), &format!("{prefix}/other"), "x").await;
    confd.wait_log(&["check_cmd", "grep -q good"], 2).await;
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"v=good-1\n",
        "old file replaced"
    );

    put(&server.endpoint(), &format!("{prefix}/value"), "good-3").await;
    wait_content(&dest, "v=good-3\n").await;
    assert!(
        strays(&dest).is_empty(),
        "staged files left: {:?}",
        strays(&dest)
    );
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_reloads_during_a_burst_never_overlap_and_the_last_write_is_reloaded() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("faults-burst"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reloads.log");
    // Each reload records what it saw at its start, then takes 200 ms, then records its end.
    let dest = value_resource(
        dir.path(),
        &prefix,
        &format!(
            "reload_cmd = \"echo start $(cat {dest}) >> {log}; sleep 0.2; echo end >> {log}\"\n",
            dest = dir.path().join("out/app.conf").display(),
            log = log.display()
        ),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "0").await;
    let confd = Confd::start(
        dir.path(),
        &["-watch", "-backend", "etcdv3", "-node", &server.endpoint()],
    );
    wait_content(&dest, "v=0\n").await;
    let mut c = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    for i in 1..=30 {
        c.put(format!("{prefix}/value"), i.to_string(), None)
            .await
            .unwrap();
    }
    // The file follows the puts without waiting for the reloads...
    wait_content(&dest, "v=30\n").await;
    // ...and a reload that saw the final content comes after them.
    eventually("a reload of the final content to finish", SOON, || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.ends_with("start v=30\nend\n").then_some(())
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Never two at once: starts and ends alternate.
    for (i, pair) in lines.chunks(2).enumerate() {
        assert!(
            pair.len() == 2 && pair[0].starts_with("start ") && pair[1] == "end",
            "reload {i} overlapped another: {lines:?}"
        );
    }
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}

/// Whether process `pid` is gone (absent, or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hanging_reload_is_killed_after_the_command_timeout_and_reported() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("faults-reload"));
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("reload.pids");
    let dest = value_resource(
        dir.path(),
        &prefix,
        &format!(
            "reload_cmd = \"echo $$ >> {}; exec sleep 300\"\n",
            pids.display()
        ),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "one").await;
    let confd = Confd::start(
        dir.path(),
        &[
            "-watch",
            "-backend",
            "etcdv3",
            "-node",
            &server.endpoint(),
            "-command-timeout",
            "1s",
        ],
    );
    wait_content(&dest, "v=one\n").await;
    confd
        .wait_log(&["reload failed", "reload_cmd", "timed out after"], 1)
        .await;
    let read_pids = || -> Vec<u32> {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let first = read_pids();
    assert_eq!(first.len(), 1, "reload ran {first:?}");
    eventually("the hung reload to be killed", SOON, || async {
        gone(first[0]).then_some(())
    })
    .await;

    // confd is not stuck: the next change is rendered and its reload is bounded too.
    put(&server.endpoint(), &format!("{prefix}/value"), "two").await;
    wait_content(&dest, "v=two\n").await;
    confd
        .wait_log(&["reload failed", "reload_cmd", "timed out after"], 2)
        .await;
    let both = read_pids();
    assert_eq!(both.len(), 2, "reload ran {both:?}");
    eventually("the second hung reload to be killed", SOON, || async {
        gone(both[1]).then_some(())
    })
    .await;
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_etcd_in_onetime_mode_is_a_clear_error_naming_the_endpoint() {
    let endpoint = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let dest = value_resource(dir.path(), "/app", "");
    let (code, _, stderr) = run(
        dir.path(),
        &["-onetime", "-backend", "etcdv3", "-node", &endpoint],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&endpoint), "endpoint not named: {stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_waits_for_etcd_and_renders_once_it_is_up() {
    let port = free_port();
    let endpoint = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let dest = value_resource(dir.path(), "/late", "");
    let confd = Confd::start(
        dir.path(),
        &["-watch", "-backend", "etcdv3", "-node", &endpoint],
    );
    // confd keeps trying (and says so, naming the endpoint) instead of exiting.
    confd.wait_log(&[&endpoint], 2).await;
    let mut child = std::process::Command::new("kill")
        .arg("-0")
        .arg(confd.child.0.id().to_string())
        .status()
        .unwrap();
    assert!(child.success(), "confd exited: {}", confd.log());
    assert!(!dest.exists());

    let _etcd = EtcdServer::process_on(port).await;
    put(&endpoint, "/late/value", "arrived").await;
    wait_content(&dest, "v=arrived\n").await;
    child = std::process::Command::new("kill")
        .arg("-0")
        .arg(confd.child.0.id().to_string())
        .status()
        .unwrap();
    assert!(child.success(), "confd exited: {}", confd.log());
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}
