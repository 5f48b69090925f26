//! A real etcd for tests: in a container (testcontainers, from the locally built image) when a
//! Docker engine answers and the image exists, else `/usr/bin/etcd` as a process on free
//! loopback ports with a temporary data directory.
//!
//! - `DISCOVERY_ETCD_MODE=docker|process` forces a mode.
//! - `DISCOVERY_ETCD_IMAGE` names the image (default `discovery-etcd:3.4.23`, built by
//!   `scripts/etcd-image.sh`); its etcd binary must be `/usr/local/bin/etcd`, as in upstream's.
//! - `ETCD_BIN` names the binary for process mode (default `/usr/bin/etcd`).
//!
//! Having neither is a panic with a clear message: a missing server fails the test, never skips it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use discovery_core::Layout;
use discovery_etcd::{EtcdBackend, EtcdConfig};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, OnceCell};

use crate::util;

/// The default local image.
pub const DEFAULT_IMAGE: &str = "discovery-etcd:3.4.23";
/// How long a (re)start may take before the fixture gives up.
const START_LIMIT: Duration = Duration::from_secs(30);

/// How the server runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A container from the local image.
    Docker,
    /// A child process of the test.
    Process,
}

/// The mode chosen from the environment and what this machine has (see the module docs).
pub fn mode() -> Mode {
    let image = image_name();
    let docker_ok = || util::docker_available() && util::docker_image_exists(&image);
    match std::env::var("DISCOVERY_ETCD_MODE").as_deref() {
        Ok("docker") => {
            assert!(
                docker_ok(),
                "DISCOVERY_ETCD_MODE=docker but no Docker engine answers or image {image} is \
                 missing (build it with scripts/etcd-image.sh)"
            );
            Mode::Docker
        }
        Ok("process") => {
            assert_binary();
            Mode::Process
        }
        _ if docker_ok() => Mode::Docker,
        // CI (`.ci/run`) wants the containers: falling back to a process would hide a missing
        // engine or image.
        _ if util::env_flag("DISCOVERY_REQUIRE_DOCKER") => panic!(
            "DISCOVERY_REQUIRE_DOCKER=1 but no Docker engine answers or image {image} is missing \
             (build it with scripts/etcd-image.sh)"
        ),
        _ => {
            assert_binary();
            Mode::Process
        }
    }
}

/// The etcd binary of process mode: `ETCD_BIN`, or `/usr/bin/etcd`.
pub fn etcd_bin() -> PathBuf {
    std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

fn assert_binary() {
    let bin = etcd_bin();
    assert!(
        bin.is_file(),
        "no etcd available: neither a Docker engine with image {} (scripts/etcd-image.sh) nor \
         the binary {} (Debian package etcd-server){}",
        image_name(),
        bin.display(),
        if util::env_flag("DISCOVERY_REQUIRE_ETCD") {
            "; DISCOVERY_REQUIRE_ETCD=1 is set"
        } else {
            ""
        }
    );
}

/// The image named by `DISCOVERY_ETCD_IMAGE`, or [`DEFAULT_IMAGE`].
pub fn image_name() -> String {
    std::env::var("DISCOVERY_ETCD_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.to_owned())
}

/// Splits `repo[:tag]` (a registry port is not a tag).
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// etcd's flags for a single member listening on `host` (client port `client_port`, reached by
/// tests at `client_url`). Short heartbeat/election settings make startup fast and the minimum
/// lease TTL 1 s.
fn single_member_args(
    host: &str,
    client_port: u16,
    client_url: &str,
    peer_port: u16,
    data_dir: &str,
) -> Vec<String> {
    let advertise_peer = format!("http://127.0.0.1:{peer_port}");
    [
        "--name=default".to_owned(),
        format!("--data-dir={data_dir}"),
        format!("--listen-client-urls=http://{host}:{client_port}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls=http://{host}:{peer_port}"),
        format!("--initial-advertise-peer-urls={advertise_peer}"),
        format!("--initial-cluster=default={advertise_peer}"),
        "--heartbeat-interval=50".to_owned(),
        "--election-timeout=500".to_owned(),
    ]
    .into()
}

enum Runtime {
    Process {
        child: Option<Child>,
        args: Vec<String>,
        log: PathBuf,
        _data: tempfile::TempDir,
    },
    Docker {
        id: String,
        _container: Box<ContainerAsync<GenericImage>>,
    },
}

/// A running etcd server (single member). Dropping it stops it and removes its data.
pub struct EtcdServer {
    mode: Mode,
    port: u16,
    runtime: Mutex<Runtime>,
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer")
            .field("mode", &self.mode)
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

static SHARED: OnceCell<EtcdServer> = OnceCell::const_new();

impl EtcdServer {
    /// Starts a fresh server in the [`mode`] this machine supports.
    pub async fn start() -> EtcdServer {
        Self::start_in(mode()).await
    }

    /// One server shared by every test of this binary (use a namespace per test). It is
    /// removed when the test process exits. Never kill or compact it.
    pub async fn shared() -> &'static EtcdServer {
        SHARED
            .get_or_init(|| async {
                let s = Self::start().await;
                match &*s.runtime.lock().await {
                    Runtime::Process { child: Some(c), .. } => {
                        util::on_exit(&format!("kill -9 {}", c.id()))
                    }
                    Runtime::Docker { id, .. } => {
                        util::on_exit(&format!("docker rm -f {id} >/dev/null 2>&1"))
                    }
                    Runtime::Process { child: None, .. } => {}
                }
                s
            })
            .await
    }

    /// Starts a fresh server in `mode`.
    pub async fn start_in(mode: Mode) -> EtcdServer {
        util::init_tracing();
        let mut last_error = String::new();
        // Ports are picked free and then bound by etcd: retry if another process took them.
        for _ in 0..3 {
            let port = util::free_port();
            let runtime = match mode {
                Mode::Process => Self::spawn_process(port).await,
                Mode::Docker => Self::run_container(port).await,
            };
            let server = match runtime {
                Ok(runtime) => EtcdServer {
                    mode,
                    port,
                    runtime: Mutex::new(runtime),
                },
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            match server.wait_healthy().await {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("etcd ({mode:?}) did not start: {last_error}");
    }

    /// Starts an etcd process on `port`, chosen (with [`util::free_port`]) before the test
    /// started a client that must come up before its server does.
    pub async fn process_on(port: u16) -> EtcdServer {
        let runtime = Self::spawn_process(port)
            .await
            .unwrap_or_else(|e| panic!("etcd on port {port}: {e}"));
        let server = EtcdServer {
            mode: Mode::Process,
            port,
            runtime: Mutex::new(runtime),
        };
        if let Err(e) = server.wait_healthy().await {
            panic!("etcd on port {port} did not start: {e}");
        }
        server
    }

    async fn spawn_process(port: u16) -> Result<Runtime, String> {
        let data = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let dir = data.path().join("member");
        let url = format!("http://127.0.0.1:{port}");
        let peer = util::free_port();
        let args = single_member_args("127.0.0.1", port, &url, peer, &dir.to_string_lossy());
        let log = data.path().join("etcd.log");
        let child = spawn(&args, &log)?;
        Ok(Runtime::Process {
            child: Some(child),
            args,
            log,
            _data: data,
        })
    }

    async fn run_container(port: u16) -> Result<Runtime, String> {
        let (repo, tag) = split_image(&image_name());
        let url = format!("http://127.0.0.1:{port}");
        let args = single_member_args("0.0.0.0", 2379, &url, 2380, "/etcd-data/member");
        let container = GenericImage::new(repo, tag)
            .with_entrypoint("/usr/local/bin/etcd")
            .with_cmd(args)
            .with_mapped_port(port, 2379.tcp())
            .with_container_name(util::unique("discovery-etcd"))
            .start()
            .await
            .map_err(|e| format!("cannot start container: {e}"))?;
        Ok(Runtime::Docker {
            id: container.id().to_owned(),
            _container: Box::new(container),
        })
    }

    async fn wait_healthy(&self) -> Result<(), String> {
        let start = std::time::Instant::now();
        loop {
            if health(self.port).await {
                return Ok(());
            }
            match &mut *self.runtime.lock().await {
                Runtime::Process {
                    child: Some(c),
                    log,
                    ..
                } => {
                    if let Ok(Some(status)) = c.try_wait() {
                        let log = std::fs::read_to_string(log).unwrap_or_default();
                        return Err(format!("etcd exited with {status}: {}", last_lines(&log)));
                    }
                }
                Runtime::Docker { id, .. } => {
                    let state = util::docker(&["inspect", "--format={{.State.Status}}", id]);
                    if state == "exited" || state == "dead" {
                        let logs = Command::new("docker").args(["logs", id]).output();
                        let logs = logs
                            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                            .unwrap_or_default();
                        return Err(format!("container {id} {state}: {}", last_lines(&logs)));
                    }
                }
                Runtime::Process { child: None, .. } => {}
            }
            if start.elapsed() > START_LIMIT {
                return Err(format!(
                    "not healthy on port {} after {START_LIMIT:?}",
                    self.port
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How the server runs.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `127.0.0.1:<port>`, as [`EtcdConfig::endpoints`] takes it.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.endpoint())
    }

    /// A config for this server with `namespace` and short timeouts.
    pub fn config(&self, namespace: &str) -> EtcdConfig {
        EtcdConfig::new([self.endpoint()])
            .with_namespace(namespace)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(3))
    }

    /// A backend on this server under `namespace`, with `layout`.
    pub async fn backend_with(&self, namespace: &str, layout: Layout) -> EtcdBackend {
        EtcdBackend::connect(self.config(namespace).with_layout(layout))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to etcd at {}: {e}", self.endpoint()))
    }

    /// A backend on this server under `namespace`, default layout.
    pub async fn backend(&self, namespace: &str) -> EtcdBackend {
        self.backend_with(namespace, Layout::default()).await
    }

    /// Kills the server with SIGKILL (no clean shutdown). [`restart`](Self::restart) brings it back.
    pub async fn kill(&self) {
        match &mut *self.runtime.lock().await {
            Runtime::Process { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            Runtime::Docker { id, .. } => {
                util::docker(&["kill", "--signal=KILL", id]);
                util::docker(&["wait", id]);
            }
        }
    }

    /// Stops the server cleanly (SIGTERM, then waits).
    pub async fn stop(&self) {
        match &mut *self.runtime.lock().await {
            Runtime::Process { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = Command::new("kill").arg(c.id().to_string()).status();
                    let _ = c.wait();
                }
            }
            Runtime::Docker { id, .. } => {
                util::docker(&["stop", "--time=10", id]);
            }
        }
    }

    /// Starts the server again with the same data and ports (kills it first if it runs), and
    /// waits until it is healthy.
    pub async fn restart(&self) {
        {
            let mut rt = self.runtime.lock().await;
            match &mut *rt {
                Runtime::Process {
                    child, args, log, ..
                } => {
                    if let Some(mut c) = child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    *child = Some(spawn(args, log).unwrap_or_else(|e| panic!("{e}")));
                }
                Runtime::Docker { id, .. } => {
                    // `docker start` on a running container is a no-op, so stop it first.
                    if util::docker(&["inspect", "--format={{.State.Running}}", id]) == "true" {
                        util::docker(&["kill", "--signal=KILL", id]);
                        util::docker(&["wait", id]);
                    }
                    util::docker(&["start", id]);
                }
            }
        }
        if let Err(e) = self.wait_healthy().await {
            panic!("etcd did not come back: {e}");
        }
    }

    /// The Docker container id (Docker mode only).
    pub async fn container_id(&self) -> Option<String> {
        match &*self.runtime.lock().await {
            Runtime::Docker { id, .. } => Some(id.clone()),
            Runtime::Process { .. } => None,
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Runtime::Process { child: Some(c), .. } = self.runtime.get_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A container is removed by testcontainers when `_container` drops.
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn spawn(args: &[String], log: &PathBuf) -> Result<Child, String> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    Command::new(etcd_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", etcd_bin().display()))
}

/// Whether etcd's `/health` on `127.0.0.1:port` says it is healthy (it has a leader).
pub async fn health(port: u16) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .ok()?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body);
        Some(text.contains("\"health\":\"true\""))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
