//! Small helpers shared by fixtures and tests: free ports, Docker detection, a reaper that
//! cleans up servers when the test binary exits, polling, unique names.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; good enough for test servers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

/// Whether a Docker engine answers (`docker info` succeeds).
pub fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether the Docker image `name` exists locally.
pub fn docker_image_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `docker <args>`, returning its stdout; panics with docker's stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Keeps the write ends of the reapers' stdin pipes; they close when the process exits.
static REAPERS: Mutex<Vec<std::process::ChildStdin>> = Mutex::new(Vec::new());

/// Runs the shell command `cleanup` when this test process exits, however it exits (a static
/// fixture is never dropped): a `sh` child waits for its stdin to close, then runs it.
pub fn on_exit(cleanup: &str) {
    let script = format!("read _ignored; {cleanup}");
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(mut c) => {
            if let Some(stdin) = c.stdin.take() {
                REAPERS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(stdin);
            }
        }
        Err(e) => eprintln!("warning: cannot start a reaper for `{cleanup}`: {e}"),
    }
}

/// Cancels nothing; writes a newline to every reaper so they run now (for explicit teardown).
pub fn run_reapers_now() {
    for mut r in REAPERS.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        let _ = r.write_all(b"\n");
    }
}

/// A name unique within this process and across runs (`prefix-<pid>-<n>-<nanos>`).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Installs a `tracing` subscriber once (filter from `RUST_LOG`, default `warn`), writing to
/// the test harness's captured output.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Whether the environment variable `name` is set to `1`/`true`.
pub fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// A confd dir with one resource, `app.toml`, rendering `server <value>;` for every key under
/// `prefix` into `<dir>/app.conf`.
pub fn write_confd_dir(dir: &std::path::Path, prefix: &str) {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("conf.d/app.toml"),
        format!(
            "[template]\nsrc = \"app.tmpl\"\ndest = {:?}\nkeys = [\"{prefix}\"]\n",
            dir.join("app.conf")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/app.tmpl"),
        format!("{{{{range getvs \"{prefix}/*\"}}}}server {{{{.}}}};\n{{{{end}}}}"),
    )
    .unwrap();
}

/// `s` without ANSI colour sequences (the binaries colour their logs).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
