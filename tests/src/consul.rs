//! A real Consul agent for tests: `consul agent -dev` as a child process on free loopback ports.
//!
//! The binary is `DISCOVERY_CONSUL_BIN`, else `.tools/consul/usr/bin/consul` under the workspace
//! root (installed by `scripts/install-consul.sh`), else `consul` on `PATH`. A missing binary is
//! a panic with a clear message: a missing server fails the test, never skips it
//! (`DISCOVERY_REQUIRE_CONSUL=1` is named in the message when set).
//!
//! [`ConsulServer::start_tls`] adds an HTTPS port requiring client certificates (made by
//! `consul tls`) and [`ConsulServer::start_acl`] turns ACLs on. The server runs as a process here (the
//! `discovery-consul:1.8.7` image that `scripts/install-consul.sh` builds holds the same binary).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use discovery_consul::{ConsulBackend, ConsulConfig, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use crate::util;

/// How long a (re)start may take before the fixture gives up.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The agent's ports, kept across restarts.
#[derive(Copy, Clone, Debug)]
struct Ports {
    http: u16,
    serf_lan: u16,
    serf_wan: u16,
    server: u16,
    /// The HTTPS port, when the agent also serves TLS.
    https: Option<u16>,
}

/// One `consul agent -dev` (in-memory state: a restart forgets every service and key).
#[derive(Debug)]
pub struct ConsulServer {
    bin: PathBuf,
    ports: Ports,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    /// The ACL master token, when ACLs are on.
    acl_token: Option<String>,
}

/// The Consul binary to run; panics with instructions when there is none.
pub fn consul_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("DISCOVERY_CONSUL_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let installed = root.join(".tools/consul/usr/bin/consul");
    if installed.is_file() {
        return installed;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("consul"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "no Consul binary: run scripts/install-consul.sh (installs {}), or set \
             DISCOVERY_CONSUL_BIN{}",
            installed.display(),
            if util::env_flag("DISCOVERY_REQUIRE_CONSUL") {
                "; DISCOVERY_REQUIRE_CONSUL=1 is set, so Consul is required"
            } else {
                ""
            }
        )
    })
}

impl ConsulServer {
    /// Starts an agent on free ports and waits until it has a leader and its node is in the
    /// catalog.
    pub async fn start() -> ConsulServer {
        Self::start_with(false, None).await
    }

    /// Like [`start`](Self::start), with ACLs on: anonymous requests are denied, `master_token`
    /// may do anything (see [`acl_token`](Self::acl_token)).
    pub async fn start_acl(master_token: &str) -> ConsulServer {
        Self::start_with(false, Some(master_token.to_owned())).await
    }

    /// The ACL master token, for [`start_acl`](Self::start_acl) agents.
    pub fn acl_token(&self) -> Option<&str> {
        self.acl_token.as_deref()
    }

    /// Like [`start`](Self::start), and the agent also serves HTTPS with certificates made by
    /// `consul tls` (a CA, a server certificate for `127.0.0.1`, a client certificate), and
    /// requires a client certificate there: see [`https_address`](Self::https_address) and
    /// [`tls`](Self::tls).
    pub async fn start_tls() -> ConsulServer {
        Self::start_with(true, None).await
    }

    async fn start_with(tls: bool, acl_token: Option<String>) -> ConsulServer {
        util::init_tracing();
        // Ports are picked free and then bound by Consul: start over if another process took one.
        let mut last_error = String::new();
        for _ in 0..3 {
            let server = Self::prepare(tls, acl_token.clone());
            match server.spawn().await {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("Consul did not start in 3 attempts: {last_error}");
    }

    /// A server on fresh free ports with its configuration written, not started yet.
    fn prepare(tls: bool, acl_token: Option<String>) -> ConsulServer {
        let bin = consul_bin();
        let ports = Ports {
            http: util::free_port(),
            serf_lan: util::free_port(),
            serf_wan: util::free_port(),
            server: util::free_port(),
            https: tls.then(util::free_port),
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let mut config = serde_json::json!({
            "ports": {
                "http": ports.http,
                "https": ports.https.map_or(-1, i32::from),
                "dns": -1,
                "grpc": -1,
                "serf_lan": ports.serf_lan,
                "serf_wan": ports.serf_wan,
                "server": ports.server,
            },
            "disable_update_check": true,
        });
        if tls {
            make_certificates(&bin, dir.path());
            let file = |name: &str| dir.path().join(name).display().to_string();
            config["ca_file"] = file("consul-agent-ca.pem").into();
            config["cert_file"] = file("dc1-server-consul-0.pem").into();
            config["key_file"] = file("dc1-server-consul-0-key.pem").into();
            config["verify_incoming_https"] = true.into();
        }
        if let Some(token) = &acl_token {
            config["acl"] = serde_json::json!({
                "enabled": true,
                "default_policy": "deny",
                "tokens": { "master": token, "agent": token },
            });
        }
        std::fs::write(dir.path().join("ports.json"), config.to_string())
            .unwrap_or_else(|e| panic!("cannot write the Consul config: {e}"));
        ConsulServer {
            bin,
            ports,
            dir,
            child: Mutex::new(None),
            acl_token,
        }
    }

    /// One agent shared by every test of this process (stopped when the process exits).
    pub async fn shared() -> &'static ConsulServer {
        static SHARED: OnceCell<ConsulServer> = OnceCell::const_new();
        SHARED.get_or_init(ConsulServer::start).await
    }

    /// The agent's HTTP address, `http://127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.http)
    }

    /// The HTTPS address, `https://127.0.0.1:<port>` (only for [`start_tls`](Self::start_tls)).
    pub fn https_address(&self) -> String {
        let port = self
            .ports
            .https
            .unwrap_or_else(|| panic!("this agent serves no HTTPS"));
        format!("https://127.0.0.1:{port}")
    }

    /// The CA and client certificate an HTTPS client of this agent needs.
    pub fn tls(&self) -> TlsConfig {
        let file = |name: &str| self.dir.path().join(name);
        TlsConfig::default()
            .with_ca(file("consul-agent-ca.pem"))
            .with_client_cert(
                file("dc1-client-consul-0.pem"),
                file("dc1-client-consul-0-key.pem"),
            )
    }

    /// A configuration for this agent: short blocking waits (so tests see restarts quickly).
    pub fn config(&self) -> ConsulConfig {
        ConsulConfig::default()
            .with_address(self.address())
            .with_wait(Duration::from_secs(10))
            .with_request_timeout(Duration::from_secs(5))
    }

    /// A backend for this agent, isolated in `namespace` when given.
    pub fn backend(&self, namespace: Option<&str>) -> ConsulBackend {
        let mut cfg = self.config();
        if let Some(ns) = namespace {
            cfg = cfg.with_namespace(ns);
        }
        ConsulBackend::new(cfg).unwrap_or_else(|e| panic!("cannot build a Consul backend: {e}"))
    }

    /// Stops the agent (SIGKILL) and waits for it to exit.
    pub fn kill(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the agent and starts a fresh one on the same ports (a dev agent forgets its state).
    pub async fn restart(&self) {
        self.kill();
        if let Err(e) = self.spawn().await {
            panic!("Consul did not restart: {e}");
        }
    }

    /// Starts the agent and waits until it is ready; on failure, why (with the log's tail).
    async fn spawn(&self) -> Result<(), String> {
        let log_path = self.dir.path().join("consul.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone a log handle: {e}"))?;
        let config = self.dir.path().join("ports.json");
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "agent",
            "-dev",
            "-client",
            "127.0.0.1",
            "-bind",
            "127.0.0.1",
        ])
        .arg("-node")
        .arg(format!("test-{}", self.ports.http))
        .arg("-config-file")
        .arg(&config)
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        util::on_exit(&format!("kill -9 {} 2>/dev/null", child.id()));
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        self.wait_ready(&log_path).await
    }

    async fn wait_ready(&self, log_path: &Path) -> Result<(), String> {
        let start = Instant::now();
        let node = format!("\"test-{}\"", self.ports.http);
        loop {
            let leader = self.get("/v1/status/leader").await;
            let nodes = self.get("/v1/catalog/nodes").await;
            let ready = leader.as_deref().is_some_and(|b| b.contains(':'))
                && nodes.as_deref().is_some_and(|b| b.contains(&node));
            if ready {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > START_LIMIT {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                self.kill();
                return Err(format!(
                    "Consul ({}) did not become ready (exit: {exited:?}); log tail:\n{}",
                    self.bin.display(),
                    tail.join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `PUT <path>` (path and query, no body) to the agent's HTTP API, as an operator
    /// would with curl (with the ACL master token when ACLs are on); returns the status code.
    pub async fn agent_put(&self, path: &str) -> u16 {
        match self.request("PUT", path).await {
            Some((status, _)) => status,
            None => panic!("the agent did not answer PUT {path}"),
        }
    }

    /// The body of a GET on the agent when it answers 200.
    async fn get(&self, path: &str) -> Option<String> {
        match self.request("GET", path).await? {
            (200, body) => Some(body),
            _ => None,
        }
    }

    /// One HTTP/1.0 request; `None` when the agent does not answer.
    async fn request(&self, method: &str, path: &str) -> Option<(u16, String)> {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", self.ports.http))
            .await
            .ok()?;
        let token = self
            .acl_token
            .as_ref()
            .map(|t| format!("X-Consul-Token: {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{token}Content-Length: 0\r\n\r\n"
        );
        conn.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }
}

/// A CA, a server and a client certificate in `dir`, made by `consul tls`.
fn make_certificates(bin: &Path, dir: &Path) {
    for args in [
        &["tls", "ca", "create"][..],
        &["tls", "cert", "create", "-server", "-dc", "dc1"],
        &["tls", "cert", "create", "-client", "-dc", "dc1"],
    ] {
        let out = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run consul {args:?}: {e}"));
        assert!(
            out.status.success(),
            "consul {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ConsulServer {
    fn drop(&mut self) {
        self.kill();
    }
}
