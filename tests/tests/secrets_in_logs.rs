//! Secrets (passwords, tokens, private keys) never appear in `Debug` output or in what the
//! binaries print, even at `-log-level trace` and when authentication fails.

use std::process::Command;
use std::time::Duration;

use discovery_consul::ConsulConfig;
use discovery_etcd::{EtcdConfig, EtcdTls};
use discovery_examples::backend::BackendSpec;
use discovery_examples::confd::config::ConfdConfig;
use discovery_tests::bins::bin;
use discovery_tests::etcd::EtcdServer;
use etcd_client::Permission;

const PASSWORD: &str = "hunter2-secret";
const TOKEN: &str = "tok-secret";
const WRONG: &str = "wrong-hunter2-secret";

/// Fails naming the secret and where it showed up.
fn assert_clean(what: &str, text: &str) {
    for secret in [PASSWORD, TOKEN, WRONG] {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret:?}:\n{text}"
        );
    }
}

#[test]
fn debug_output_of_every_config_redacts_secrets() {
    let etcd = EtcdConfig::new(["127.0.0.1:2379"])
        .with_user("app", PASSWORD)
        .with_tls(EtcdTls::with_ca("/ca.pem").client_identity("/c.pem", "/k.pem"));
    assert_clean("EtcdConfig Debug", &format!("{etcd:?} {etcd:#?}"));
    assert!(
        format!("{etcd:?}").contains("app"),
        "the user name is not secret"
    );

    let consul = ConsulConfig::default().with_token(TOKEN);
    assert_clean("ConsulConfig Debug", &format!("{consul:?} {consul:#?}"));

    let args = [
        "-backend",
        "etcdv3",
        "-username",
        "app",
        "-password",
        PASSWORD,
        "-auth-token",
        TOKEN,
        "-config-file",
        "/nonexistent/confd.toml",
    ];
    let confd = ConfdConfig::from_args(args.iter().map(|s| s.to_string()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(confd.password.as_deref(), Some(PASSWORD));
    assert_clean("ConfdConfig Debug", &format!("{confd:?} {confd:#?}"));

    let spec = BackendSpec::from_confd(&confd);
    assert_clean("BackendSpec Debug", &format!("{spec:?} {spec:#?}"));
}

/// etcd with auth on: `root`, and `app`/[`PASSWORD`] with readwrite on `/app/`.
async fn etcd_with_auth() -> EtcdServer {
    let server = EtcdServer::start().await;
    let mut c = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    c.put("/app/v/value", "rendered", None).await.unwrap();
    c.user_add("root", "root-pw", None).await.unwrap();
    c.user_grant_role("root", "root").await.unwrap();
    c.role_add("app-rw").await.unwrap();
    c.role_grant_permission("app-rw", Permission::read_write("/app/").with_prefix())
        .await
        .unwrap();
    c.user_add("app", PASSWORD, None).await.unwrap();
    c.user_grant_role("app", "app-rw").await.unwrap();
    c.auth_enable().await.unwrap();
    server
}

/// A confdir rendering `/app/v/value` into `out.conf`.
fn confdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("conf.d/app.toml"),
        format!(
            "[template]\nsrc = \"app.tmpl\"\ndest = \"{}\"\nkeys = [\"/app/v\"]\n",
            root.join("out.conf").display()
        ),
    )
    .unwrap();
    std::fs::write(root.join("templates/app.tmpl"), "{{getv \"/app/v/value\"}}").unwrap();
    dir
}

/// A child whose stdout and stderr go to one file (a pipe would fill up at trace level).
struct Logged {
    child: std::process::Child,
    log: std::path::PathBuf,
}

fn spawn_logged(mut cmd: Command, log: std::path::PathBuf) -> Logged {
    let file = std::fs::File::create(&log).unwrap();
    let child = cmd
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    Logged { child, log }
}

fn confd(dir: &std::path::Path, args: &[&str]) -> Logged {
    let mut cmd = Command::new(bin("confd"));
    cmd.args(args)
        .args(["-auth-token", TOKEN, "-log-level", "trace"])
        .arg("-confdir")
        .arg(dir)
        .arg("-config-file")
        .arg(dir.join("none.toml"));
    spawn_logged(cmd, dir.join("confd.log"))
}

/// Waits for the child (killing it after `limit`); returns (exit code, everything it printed).
fn finish(mut l: Logged, limit: Duration) -> (Option<i32>, String) {
    let started = std::time::Instant::now();
    while l.child.try_wait().unwrap().is_none() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = l.child.kill();
    let status = l.child.wait().unwrap();
    let bytes = std::fs::read(&l.log).unwrap_or_default();
    (status.code(), String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn binaries_never_print_passwords_or_tokens() {
    let server = etcd_with_auth().await;
    let endpoint = server.endpoint();
    let auth = ["-backend", "etcdv3", "-node", &endpoint, "-username", "app"];

    // Good credentials, onetime, everything at trace level (client libraries included).
    let dir = confdir();
    let args = [&auth[..], &["-onetime", "-password", PASSWORD]].concat();
    let (code, out) = finish(confd(dir.path(), &args), Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.conf")).unwrap(),
        "rendered"
    );
    assert!(
        out.contains("TRACE") || out.contains("DEBUG"),
        "no debug logging captured: {out}"
    );
    assert_clean("confd -onetime (good password)", &out);

    // Wrong password: the error is clear and does not echo what was typed.
    let dir = confdir();
    let args = [&auth[..], &["-onetime", "-password", WRONG]].concat();
    let (code, out) = finish(confd(dir.path(), &args), Duration::from_secs(60));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("authentication failed"), "{out}");
    assert_clean("confd -onetime (wrong password)", &out);

    // Watch mode for a while (keepalives, watch traffic), then SIGTERM.
    let dir = confdir();
    let args = [&auth[..], &["-watch", "-password", PASSWORD]].concat();
    let child = confd(dir.path(), &args);
    let out_file = dir.path().join("out.conf");
    let started = std::time::Instant::now();
    while !out_file.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .arg(child.child.id().to_string())
        .status();
    let (_, out) = finish(child, Duration::from_secs(30));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "rendered",
        "{out}"
    );
    assert_clean("confd -watch", &out);

    // register with credentials in the backend URL: never printed, whatever happens.
    let mut cmd = Command::new(bin("register"));
    cmd.args([
        "-backend",
        &format!("etcd://app:{PASSWORD}@{endpoint}"),
        "-key",
        "/app/svc/i-1",
        "-value",
        "127.0.0.1:8080",
        "-ttl",
        "5s",
        "-log-level",
        "trace",
    ]);
    let child = spawn_logged(cmd, dir.path().join("register.log"));
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .arg(child.child.id().to_string())
        .status();
    let (_, out) = finish(child, Duration::from_secs(30));
    assert!(!out.is_empty(), "register printed nothing at trace level");
    assert_clean("register with URL credentials", &out);
}
