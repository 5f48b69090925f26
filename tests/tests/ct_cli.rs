//! The drop-in `consul-template` binary against a real Consul agent: every consul-template case
//! of the compatibility suite (`render/tests/compat/consul-template`, the in-repo copy) loaded into Consul and
//! rendered with consul-template's own command line, compared byte for byte; and watch mode.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use discovery_tests::bins::{bin, workspace_root, ChildGuard};
use discovery_tests::consul::ConsulServer;
use serde_json::{json, Value};

/// Hang guard of one `-once` run.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// How long a blocked case runs before it is judged (the goldens used 8 s).
const BLOCKED_RUN: Duration = Duration::from_secs(3);
/// The destination's content before each run, so an empty render is really written.
const SENTINEL: &[u8] = b"sentinel: not rendered\n";

/// A minimal HTTP/1.1 client for loading data into the agent.
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let host = addr.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let status_line = String::from_utf8_lossy(&resp[..split]).to_string();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status");
    let mut payload = resp[split + 4..].to_vec();
    if status_line
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    (status, payload)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 4 + size..];
    }
}

fn ok(addr: &str, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let (status, resp) = http(addr, method, path, body);
    assert_eq!(
        status,
        200,
        "{method} {path}: {}",
        String::from_utf8_lossy(&resp)
    );
    resp
}

fn encode_key(k: &str) -> String {
    k.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Loads a case's `data.json` into the agent; returns the nodes it registered.
fn load_case(addr: &str, data: &Value) -> Vec<String> {
    let mut nodes = Vec::new();
    for s in data["services"].as_array().into_iter().flatten() {
        let id = s["ID"].as_str().expect("service ID");
        let node = s["Node"].as_str().unwrap_or("node1");
        let status = s["Status"].as_str().unwrap_or("passing");
        let (check_id, status) = if status == "maintenance" {
            (format!("_service_maintenance:{id}"), "critical")
        } else {
            (format!("check-{id}"), status)
        };
        let body = json!({
            "Node": node,
            "Address": s["NodeAddress"].as_str().unwrap_or("10.1.0.1"),
            "Service": {
                "ID": id, "Service": s["Name"], "Address": s["Address"], "Port": s["Port"],
                "Tags": s["Tags"], "Meta": s["Meta"],
            },
            "Check": {"Node": node, "CheckID": check_id, "Name": check_id, "Status": status, "ServiceID": id},
        });
        ok(
            addr,
            "PUT",
            "/v1/catalog/register",
            body.to_string().as_bytes(),
        );
        if !nodes.iter().any(|n| n == node) {
            nodes.push(node.to_owned());
        }
    }
    for (k, v) in data["kv"].as_object().into_iter().flatten() {
        let v = v.as_str().expect("kv values are strings");
        ok(
            addr,
            "PUT",
            &format!("/v1/kv/{}", encode_key(k)),
            v.as_bytes(),
        );
    }
    nodes
}

/// Wipes the KV store and deregisters `nodes`.
fn wipe(addr: &str, nodes: &[String]) {
    ok(addr, "DELETE", "/v1/kv/?recurse", b"");
    for n in nodes {
        ok(
            addr,
            "PUT",
            "/v1/catalog/deregister",
            json!({"Node": n}).to_string().as_bytes(),
        );
    }
}

/// Runs the binary with a clean environment (`PATH` plus `env`); kills it after `limit`.
/// Returns the output and whether it was killed.
fn run_ct(dir: &Path, args: &[String], env: &Value, limit: Duration) -> (Output, bool) {
    let mut cmd = Command::new(bin("consul-template"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env.as_object().into_iter().flatten() {
        cmd.env(k, v.as_str().unwrap_or(""));
    }
    let mut child = ChildGuard(cmd.spawn().expect("start consul-template"));
    let started = Instant::now();
    let mut killed = false;
    loop {
        if child.0.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.0.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Output {
        status: child.0.wait().expect("wait"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    if let Some(mut s) = child.0.stdout.take() {
        let _ = s.read_to_end(&mut out.stdout);
    }
    if let Some(mut s) = child.0.stderr.take() {
        let _ = s.read_to_end(&mut out.stderr);
    }
    (out, killed)
}

/// Runs one case; `Err` describes the mismatch.
fn run_case(addr: &str, case: &Path) -> Result<(), String> {
    let data: Value =
        serde_json::from_slice(&std::fs::read(case.join("data.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("data.json: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::copy(case.join("template.tmpl"), dir.path().join("in")).map_err(|e| e.to_string())?;
    let out_path = dir.path().join("out");
    std::fs::write(&out_path, SENTINEL).map_err(|e| e.to_string())?;
    let blocked = std::fs::read_to_string(case.join("expected.blocked")).ok();
    let mut args: Vec<String> = [
        "-consul-addr",
        addr.trim_start_matches("http://"),
        "-template",
        "in:out",
        "-once",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if blocked.is_some() {
        args.extend(["-log-level".to_owned(), "debug".to_owned()]);
    }
    let nodes = load_case(addr, &data);
    let limit = if blocked.is_some() {
        BLOCKED_RUN
    } else {
        RUN_LIMIT
    };
    let (output, killed) = run_ct(dir.path(), &args, &data["env"], limit);
    wipe(addr, &nodes);
    let written = std::fs::read(&out_path).map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(b) = blocked {
        let dep = b.lines().nth(1).unwrap_or("").trim();
        if !killed {
            return Err(format!(
                "expected to block, but exited ({}): {stderr}",
                output.status
            ));
        }
        if written != SENTINEL {
            return Err("blocked case wrote its destination".into());
        }
        if !stderr.contains(dep) {
            return Err(format!("log does not name {dep:?}: {stderr}"));
        }
        return Ok(());
    }
    if killed {
        return Err(format!("hung (killed after {RUN_LIMIT:?}): {stderr}"));
    }
    if let Ok(err) = std::fs::read_to_string(case.join("expected.err")) {
        let want = err.lines().nth(1).unwrap_or("").trim_end_matches('\r');
        if output.status.success() {
            return Err(format!(
                "expected an error containing {want:?}, but it succeeded"
            ));
        }
        if written != SENTINEL {
            return Err("failed render replaced the destination".into());
        }
        if !stderr.contains(want) {
            return Err(format!("stderr lacks {want:?}: {stderr}"));
        }
        return Ok(());
    }
    let expected = std::fs::read(case.join("expected.out")).map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("exit {}: {stderr}", output.status));
    }
    if written != expected {
        return Err(format!(
            "output differs\n--- expected\n{}\n--- got\n{}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&written)
        ));
    }
    Ok(())
}

fn compat_dir() -> PathBuf {
    workspace_root().join("render/tests/compat/consul-template")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compat_case_renders_like_consul_template() {
    let dir = compat_dir();
    assert!(
        dir.is_dir(),
        "the compat suite is missing: {}",
        dir.display()
    );
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the compat suite")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("data.json").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    bin("consul-template");
    let consul = ConsulServer::start().await;
    let addr = consul.address();
    let (mut passed, mut failures) = (0, Vec::new());
    for case in &cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match run_case(&addr, case) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    println!("ct-cli: {passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn register(addr: &str, id: &str, ip: &str) {
    let body = json!({
        "Node": "watch-node", "Address": "10.9.0.1",
        "Service": {"ID": id, "Service": "ctwatch", "Address": ip, "Port": 80},
        "Check": {"Node": "watch-node", "CheckID": format!("check-{id}"), "Name": "c", "Status": "passing", "ServiceID": id},
    });
    ok(
        addr,
        "PUT",
        "/v1/catalog/register",
        body.to_string().as_bytes(),
    );
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < RUN_LIMIT,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_then_watch_mode_rerenders_and_runs_a_shared_command_once_per_change() {
    bin("consul-template");
    let consul = ConsulServer::start().await;
    let addr = consul.address();
    let host = addr.trim_start_matches("http://").to_owned();
    register(&addr, "w1", "10.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f);
    let read = |f: &str| std::fs::read_to_string(path(f)).unwrap_or_default();
    let tmpl = "{{range service \"ctwatch\"}}{{.ID}} {{.Address}}:{{.Port}}\n{{end}}";
    std::fs::write(path("a.tmpl"), tmpl).unwrap();
    std::fs::write(path("b.tmpl"), format!("b\n{tmpl}")).unwrap();
    // The second template comes from an HCL config file, with the same command.
    std::fs::write(
        path("ct.hcl"),
        "template {\n  source = \"b.tmpl\"\n  destination = \"b.out\"\n  command = \"echo ran $CONSUL_HTTP_ADDR >> ran.log\"\n}\n",
    )
    .unwrap();

    // -dry: a diff against the existing file on stdout; nothing written, no command.
    std::fs::write(path("a.out"), "old\n").unwrap();
    let args: Vec<String> = [
        "-consul-addr",
        &host,
        "-dry",
        "-once",
        "-template",
        "a.tmpl:a.out:echo ran $CONSUL_HTTP_ADDR >> ran.log",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, killed) = run_ct(dir.path(), &args, &json!({}), RUN_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !killed && out.status.success(),
        "dry run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("> a.out\n"), "{stdout}");
    assert!(
        stdout.contains("-old\n") && stdout.contains("+w1 10.0.0.1:80\n"),
        "{stdout}"
    );
    assert_eq!(read("a.out"), "old\n");
    assert!(!path("ran.log").exists(), "-dry ran a command");

    let mut child = ChildGuard(
        Command::new(bin("consul-template"))
            .args([
                "-consul-addr",
                &host,
                "-log-level",
                "info",
                "-config",
                "ct.hcl",
            ])
            .args([
                "-template",
                "a.tmpl:a.out:echo ran $CONSUL_HTTP_ADDR >> ran.log",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .expect("start consul-template"),
    );
    wait_for("the first render", || {
        read("a.out") == "w1 10.0.0.1:80\n" && read("b.out") == "b\nw1 10.0.0.1:80\n"
    });
    // Commands see the Consul variables consul-template exports.
    let ran = |n: usize| format!("ran {host}\n").repeat(n);
    wait_for("the first command", || read("ran.log") == ran(1));

    register(&addr, "w2", "10.0.0.2");
    wait_for("the re-render", || {
        read("a.out") == "w1 10.0.0.1:80\nw2 10.0.0.2:80\n"
            && read("b.out") == "b\nw1 10.0.0.1:80\nw2 10.0.0.2:80\n"
    });
    wait_for("the second command", || read("ran.log") == ran(2));
    assert!(child.0.try_wait().unwrap().is_none(), "watch mode exited");
    child.signal("TERM");
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM should end watch mode cleanly: {status}"
    );
    // Both templates share the command: it ran once per change, never once per template.
    assert_eq!(read("ran.log"), ran(2));
}

#[test]
fn once_fails_when_consul_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), "{{key \"a\"}}").unwrap();
    let addr = format!("127.0.0.1:{}", discovery_tests::util::free_port());
    let args: Vec<String> = ["-consul-addr", &addr, "-template", "in:out", "-once"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (out, killed) = run_ct(dir.path(), &args, &json!({}), Duration::from_secs(60));
    assert!(!killed, "-once hung on an unreachable agent");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unavailable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("out").exists());
}
