//! consul-template's exec mode with the drop-in binary, real Consul and real child processes
//! (`/bin/sh` scripts in a tempdir that record what they see): the child starts after the first
//! render, gets its reload signal on a change or is restarted without one, is stopped with its
//! kill signal and SIGKILLed after `kill_timeout` when it ignores it, its exit code becomes
//! consul-template's, its environment follows `-exec-env-*`, and `-pid-file` is written and
//! removed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use discovery_core::{Key, KvStore};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::util::{eventually, unique};

const LIMIT: Duration = Duration::from_secs(30);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// An executable `#!/bin/sh` script (one word: consul-template runs it directly).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Setup {
    dir: tempfile::TempDir,
    key: String,
    dest: PathBuf,
    log: PathBuf,
}

async fn setup(consul: &ConsulServer, value: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("{}/x", unique("ctexec"));
    put(consul, &key, value).await;
    let src = dir.path().join("in.tmpl");
    std::fs::write(&src, format!("{{{{key \"{key}\"}}}}")).unwrap();
    Setup {
        dest: dir.path().join("out.txt"),
        log: dir.path().join("child.log"),
        key,
        dir,
    }
}

async fn put(consul: &ConsulServer, key: &str, value: &str) {
    consul
        .backend(None)
        .put(
            &Key::new(format!("/{key}")).unwrap(),
            Bytes::from(value.to_owned()),
            None,
        )
        .await
        .unwrap();
}

fn ct(consul: &ConsulServer, s: &Setup, extra: &[&str]) -> Command {
    let mut c = Command::new(bin("consul-template"));
    c.arg("-consul-addr")
        .arg(consul.address())
        .arg("-template")
        .arg(format!(
            "{}:{}",
            s.dir.path().join("in.tmpl").display(),
            s.dest.display()
        ))
        .args(extra)
        .stdin(Stdio::null());
    c
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(start.elapsed() < limit, "consul-template did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn log_has(log: &Path, what: &str, line: &str) {
    eventually(what, LIMIT, || async {
        read(log).lines().any(|l| l == line).then_some(())
    })
    .await;
}

fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_starts_after_render_gets_reload_signal_and_pid_file_comes_and_goes() {
    let consul = ConsulServer::shared().await;
    let s = setup(consul, "one").await;
    let child = script(
        s.dir.path(),
        "child.sh",
        &format!(
            "log={log}\necho \"start $(cat {dest})\" >> $log\n\
             trap 'echo \"hup $(cat {dest})\" >> $log' HUP\n\
             while true; do sleep 0.05; done",
            log = s.log.display(),
            dest = s.dest.display()
        ),
    );
    let pid_file = s.dir.path().join("ct.pid");
    let mut ct = ChildGuard(
        ct(
            consul,
            &s,
            &[
                "-exec",
                child.to_str().unwrap(),
                "-exec-reload-signal",
                "SIGHUP",
                "-pid-file",
                pid_file.to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap(),
    );
    // The child's first look at the destination already sees the render.
    log_has(&s.log, "the child's start", "start one").await;
    assert_eq!(read(&pid_file), ct.0.id().to_string());

    put(consul, &s.key, "two").await;
    log_has(&s.log, "SIGHUP after the change", "hup two").await;
    assert_eq!(
        read(&s.log)
            .lines()
            .filter(|l| l.starts_with("start"))
            .count(),
        1,
        "a reload signal does not restart: {}",
        read(&s.log)
    );

    // consul-template's kill signal (SIGINT) stops it and the child (SIGINT, not trapped).
    ct.signal("INT");
    let st = wait_exit(&mut ct.0, LIMIT);
    assert!(st.success(), "{st:?}");
    assert!(!pid_file.exists(), "the pid file is removed at exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reload_signal_a_change_restarts_the_child() {
    let consul = ConsulServer::shared().await;
    let s = setup(consul, "one").await;
    let child = script(
        s.dir.path(),
        "child.sh",
        &format!(
            "echo \"start $$ $(cat {dest})\" >> {log}\nwhile true; do sleep 0.05; done",
            log = s.log.display(),
            dest = s.dest.display()
        ),
    );
    let mut ct = ChildGuard(
        ct(consul, &s, &["-exec", child.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    let starts = |log: &Path| -> Vec<(String, String)> {
        read(log)
            .lines()
            .filter_map(|l| {
                let mut w = l.split(' ').skip(1);
                Some((w.next()?.to_owned(), w.next()?.to_owned()))
            })
            .collect()
    };
    eventually("the first start", LIMIT, || async {
        (starts(&s.log).len() == 1).then_some(())
    })
    .await;
    put(consul, &s.key, "two").await;
    eventually("the restart", LIMIT, || async {
        (starts(&s.log).len() == 2).then_some(())
    })
    .await;
    let seen = starts(&s.log);
    assert_eq!(seen[0].1, "one");
    assert_eq!(seen[1].1, "two");
    assert_ne!(seen[0].0, seen[1].0, "a new process");
    assert!(!alive(&seen[0].0), "the old child is gone");
    assert!(alive(&seen[1].0));
    ct.signal("INT");
    wait_exit(&mut ct.0, LIMIT);
    assert!(!alive(&seen[1].0), "the child stops with consul-template");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_ignoring_the_kill_signal_is_sigkilled_after_kill_timeout() {
    let consul = ConsulServer::shared().await;
    let s = setup(consul, "one").await;
    let child = script(
        s.dir.path(),
        "child.sh",
        &format!(
            "trap '' TERM\necho $$ > {log}\nwhile true; do sleep 0.05; done",
            log = s.log.display()
        ),
    );
    let mut ct = ChildGuard(
        ct(
            consul,
            &s,
            &[
                "-exec",
                child.to_str().unwrap(),
                "-exec-kill-signal=SIGTERM",
                "-exec-kill-timeout=2s",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let pid = eventually("the child's pid", LIMIT, || async {
        let l = read(&s.log);
        l.ends_with('\n').then(|| l.trim().to_owned())
    })
    .await;
    let start = Instant::now();
    ct.signal("INT");
    wait_exit(&mut ct.0, LIMIT);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "SIGKILL before kill_timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "SIGKILL long after kill_timeout: {took:?}"
    );
    assert!(!alive(&pid), "the child was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_childs_exit_code_is_consul_templates_in_watch_and_once_mode() {
    let consul = ConsulServer::shared().await;
    let s = setup(consul, "one").await;
    let seven = script(
        s.dir.path(),
        "seven.sh",
        &format!("cat {} > {}\nexit 7", s.dest.display(), s.log.display()),
    );
    let mut ct7 = ct(consul, &s, &["-exec", seven.to_str().unwrap()])
        .spawn()
        .unwrap();
    let st = wait_exit(&mut ct7, LIMIT);
    assert_eq!(st.code(), Some(7));
    assert_eq!(read(&s.log), "one", "the child ran after the render");

    std::fs::remove_file(&s.log).unwrap();
    put(consul, &s.key, "three").await;
    let three = script(
        s.dir.path(),
        "three.sh",
        &format!("cat {} > {}\nexit 3", s.dest.display(), s.log.display()),
    );
    let mut once = ct(consul, &s, &["-once", "-exec", three.to_str().unwrap()])
        .spawn()
        .unwrap();
    let st = wait_exit(&mut once, LIMIT);
    assert_eq!(st.code(), Some(3));
    assert_eq!(read(&s.log), "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_childs_environment_follows_the_env_flags() {
    let consul = ConsulServer::shared().await;
    let s = setup(consul, "one").await;
    let dump = script(
        s.dir.path(),
        "env.sh",
        &format!("/usr/bin/env > {}", s.log.display()),
    );
    let run = |extra: &[&str]| {
        let mut c = ct(consul, &s, &["-exec", dump.to_str().unwrap()]);
        c.args(extra)
            .env("KEEP_ME", "1")
            .env("SECRET_TOKEN", "s3cr3t")
            .env("OTHER_VAR", "x");
        let st = c.status().unwrap();
        assert!(st.success(), "{st:?}");
        let env = read(&s.log);
        std::fs::remove_file(&s.log).unwrap();
        env.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let has = |env: &[String], k: &str| env.iter().any(|l| l.starts_with(&format!("{k}=")));

    let env = run(&[
        "-exec-env-allowlist",
        "KEEP_*",
        "-exec-env-allowlist",
        "SECRET_*",
        "-exec-env-allowlist=PATH",
        "-exec-env-denylist",
        "SECRET_*",
        "-exec-env-custom",
        "FOO=bar",
    ]);
    assert!(env.contains(&"KEEP_ME=1".to_owned()), "{env:?}");
    assert!(env.contains(&"FOO=bar".to_owned()), "{env:?}");
    assert!(has(&env, "PATH"), "{env:?}");
    assert!(!has(&env, "SECRET_TOKEN"), "denylist: {env:?}");
    assert!(!has(&env, "OTHER_VAR"), "allowlist: {env:?}");
    // consul-template's own Consul variables are always given.
    assert!(
        env.contains(&format!(
            "CONSUL_HTTP_ADDR={}",
            consul.address().trim_start_matches("http://")
        )),
        "{env:?}"
    );

    let env = run(&["-exec-env-pristine", "-exec-env-custom", "FOO=bar"]);
    assert!(env.contains(&"FOO=bar".to_owned()), "{env:?}");
    assert!(has(&env, "CONSUL_HTTP_ADDR"), "{env:?}");
    for gone in ["KEEP_ME", "OTHER_VAR", "PATH", "HOME"] {
        assert!(!has(&env, gone), "pristine: {gone} in {env:?}");
    }

    // Without any rule the child gets consul-template's whole environment.
    let env = run(&[]);
    assert!(
        has(&env, "SECRET_TOKEN") && has(&env, "OTHER_VAR"),
        "{env:?}"
    );
}
