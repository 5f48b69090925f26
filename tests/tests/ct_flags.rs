//! consul-template's flags that a user relies on end to end, against a real Consul agent:
//! `-consul-auth` (the basic-auth header reaches Consul on every request), `-max-stale` (`?stale`
//! reads, or none with 0), `-consul-token-file`, `-parse-only`'s exit code,
//! `-consul-retry-attempts` (giving up exits non-zero) and the refused Vault flags.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::proxy::{recorded_requests as requests, recording_proxy};
use discovery_tests::util::free_port;

/// Hang guard of one run.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Runs consul-template with `args` to its end (killed after [`RUN_LIMIT`]).
fn run(args: &[&str]) -> Output {
    let child = Command::new(bin("consul-template"))
        .args(args)
        .env_remove("CONSUL_HTTP_ADDR")
        .env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start consul-template");
    let mut guard = ChildGuard(child);
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = guard.0.try_wait() {
            break;
        }
        assert!(
            start.elapsed() < RUN_LIMIT,
            "consul-template {args:?} did not finish in {RUN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut o) = guard.0.stdout.take() {
        let _ = o.read_to_end(&mut out);
    }
    if let Some(mut e) = guard.0.stderr.take() {
        let _ = e.read_to_end(&mut err);
    }
    let status = guard.0.wait().expect("wait");
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn put_key(addr: &str, key: &str, value: &str, token: Option<&str>) {
    let host = addr.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to Consul");
    let token = token
        .map(|t| format!("X-Consul-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "PUT /v1/kv/{key} HTTP/1.1\r\nHost: {host}\r\n{token}Content-Length: {}\r\nConnection: close\r\n\r\n{value}",
        value.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "PUT {key}: {resp}");
}

fn template(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_auth_reaches_consul_on_every_request_and_max_stale_sets_stale() {
    let consul = ConsulServer::shared().await;
    let upstream = consul.address().trim_start_matches("http://").to_owned();
    put_key(&consul.address(), "ctflags/auth", "hello", None);
    let dir = tempfile::tempdir().unwrap();
    let src = template(dir.path(), "in.tmpl", "{{ key \"ctflags/auth\" }}");
    let out = dir.path().join("out");
    for (max_stale, want_stale) in [(None, true), (Some("-max-stale=0"), false)] {
        let (proxy, seen) = recording_proxy(upstream.clone());
        let spec = format!("{src}:{}", out.display());
        let mut args = vec![
            "-once",
            "-consul-addr",
            &proxy,
            "-consul-auth=ct-user:s3cret",
            "-template",
            &spec,
        ];
        args.extend(max_stale);
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello");
        assert!(!stderr(&o).contains("s3cret"), "the password was logged");
        let reqs = requests(&seen);
        assert!(!reqs.is_empty(), "no request went through the proxy");
        // base64("ct-user:s3cret")
        let header = "authorization: basic y3qtdxnlcjpzm2nyzxq=";
        for r in &reqs {
            assert!(r.contains(header), "a request without basic auth: {r}");
            let line = r.lines().next().unwrap_or("");
            assert_eq!(
                line.contains("?stale") || line.contains("&stale"),
                want_stale && line.starts_with("get "),
                "{max_stale:?}: {line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_token_file_is_read() {
    let consul = ConsulServer::start_acl("ctflags-master-token").await;
    let token = consul.acl_token().expect("an ACL token").to_owned();
    put_key(
        &consul.address(),
        "ctflags/secret",
        "from-acl",
        Some(&token),
    );
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let src = template(dir.path(), "in.tmpl", "{{ key \"ctflags/secret\" }}");
    let out = dir.path().join("out");
    let addr = consul.address();
    let o = run(&[
        "-once",
        "-consul-addr",
        &addr,
        "-consul-token-file",
        token_file.to_str().unwrap(),
        "-template",
        &format!("{src}:{}", out.display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from-acl");
    assert!(!stderr(&o).contains(&token), "the token was logged");
    let missing = run(&[
        "-once",
        "-consul-addr",
        &addr,
        "-consul-token-file=/nonexistent/ct-token",
        "-template",
        &format!("{src}:{}", out.display()),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("/nonexistent/ct-token"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn parse_only_exits_zero_or_names_the_bad_template() {
    let dir = tempfile::tempdir().unwrap();
    let good = template(dir.path(), "good.tmpl", "{{ key \"a\" }}");
    let bad = template(dir.path(), "bad.tmpl", "{{ key \"a\" ");
    // Nothing listens there: -parse-only connects to nothing.
    let addr = format!("127.0.0.1:{}", free_port());
    let out = dir.path().join("out");
    let o = run(&[
        "-parse-only",
        "-consul-addr",
        &addr,
        "-template",
        &format!("{good}:{}", out.display()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.exists(), "-parse-only rendered");
    let o = run(&[
        "-parse-only",
        "-consul-addr",
        &addr,
        "-template",
        &format!("{good}:{}", out.display()),
        "-template",
        &format!("{bad}:{}.bad", out.display()),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{}.bad", out.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn exhausted_retries_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let src = template(dir.path(), "in.tmpl", "{{ key \"a\" }}");
    let addr = format!("127.0.0.1:{}", free_port());
    let o = run(&[
        "-consul-addr",
        &addr,
        "-consul-retry-attempts=2",
        "-consul-retry-backoff=10ms",
        "-consul-retry-max-backoff=20ms",
        "-template",
        &format!("{src}:{}", dir.path().join("out").display()),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("giving up after 2 retries"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn vault_flags_are_refused_by_name() {
    for (flag, want) in [
        (
            "-vault-addr=https://vault:8200",
            "-vault-addr: Vault is not supported",
        ),
        (
            "-vault-renew-token=false",
            "-vault-renew-token: Vault is not supported",
        ),
    ] {
        let o = run(&[flag, "-template", "a:b"]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(stderr(&o).contains(want), "{flag}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("not defined"),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

/// `template { exec {...} }`: its command replaces `command` and runs in the environment its
/// `env {}` describes; `function_denylist` makes a matching function fail the render, and nothing
/// is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_exec_env_and_function_denylist() {
    let consul = ConsulServer::shared().await;
    let addr = consul.address();
    put_key(&addr, "ctflags/exec", "v1", None);
    let dir = tempfile::tempdir().unwrap();
    let src = template(dir.path(), "in.tmpl", "{{ key \"ctflags/exec\" }}");
    let upper = template(
        dir.path(),
        "up.tmpl",
        "{{ key \"ctflags/exec\" | sprig_upper }}",
    );
    let out = dir.path().join("out");
    let seen = dir.path().join("env.txt");
    let cfg = dir.path().join("ct.hcl");
    std::fs::write(
        &cfg,
        format!(
            "consul {{\n  address = \"{addr}\"\n}}\ntemplate {{\n  source = \"{src}\"\n  \
             destination = \"{}\"\n  command = \"echo wrong > {}\"\n  exec {{\n    \
             command = [\"/bin/sh\", \"-c\", \"env > {}\"]\n    timeout = \"10s\"\n    \
             env {{\n      pristine = true\n      custom = [\"ONLY=this\"]\n    }}\n  }}\n}}\n",
            out.display(),
            seen.display(),
            seen.display(),
        ),
    )
    .unwrap();
    let o = run(&["-once", "-config", &cfg.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "v1");
    let env = std::fs::read_to_string(&seen).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(env.lines().any(|l| l == "ONLY=this"), "{env}");
    // Pristine: nothing of consul-template's environment (PATH, HOME) reaches the command; the
    // shell itself may set PWD.
    assert!(
        names.iter().all(|n| ["ONLY", "PWD"].contains(n)),
        "not pristine: {env}"
    );

    let denied = dir.path().join("denied");
    std::fs::write(&denied, "before").unwrap();
    let spec = format!("{upper}:{}", denied.display());
    let cfg2 = dir.path().join("deny.hcl");
    std::fs::write(
        &cfg2,
        format!(
            "template {{\n  source = \"{upper}\"\n  destination = \"{}\"\n  \
             function_denylist = [\"sprig_*\"]\n}}\n",
            denied.display()
        ),
    )
    .unwrap();
    let o = run(&[
        "-once",
        "-consul-addr",
        &addr,
        "-config",
        &cfg2.display().to_string(),
    ]);
    assert!(!o.status.success(), "a denied function rendered");
    assert!(
        stderr(&o).contains("sprig_upper: function is disabled"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&denied).unwrap(), "before");
    // Without the denylist the same template renders.
    let o = run(&["-once", "-consul-addr", &addr, "-template", &spec]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&denied).unwrap(), "V1");
}
