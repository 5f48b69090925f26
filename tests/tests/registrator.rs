//! `registrator` end to end with the real Docker engine and a real etcd or Consul: containers
//! started from the project's etcd image appear (in etcd under `<prefix>/<name>/<id> = ip:port`),
//! disappear within a second when they stop, expire after the TTL when registrator is killed, and
//! come back when it restarts; `-cleanup` removes this host's dangling entries and only those;
//! `-deregister on-success` keeps a failed container's entry until it is removed; Consul gets the
//! `SERVICE_CHECK_*` check next to the TTL check; `consul-tls://` and `-retry-attempts` work;
//! a lost Docker connection is re-established and re-listed; a clean shutdown deregisters
//! before the process exits; no Docker engine at start is an error.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discovery_core::{
    Codec, Health, Key, KvStore, KvView, Layout, ServiceInstance, ServiceName, Watcher,
};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::{EtcdServer, DEFAULT_IMAGE};
use discovery_tests::util::{
    docker, docker_available, docker_image_exists, eventually, free_port, on_exit, unique,
};

const HOSTNAME: &str = "regtest-host";
const LIMIT: Duration = Duration::from_secs(30);

/// Containers removed when dropped (and when the process exits, however it exits).
struct Containers(Vec<String>);

impl Containers {
    fn run(&mut self, name: &str, service: &str, tags: &str) -> u16 {
        self.run_with(
            name,
            &[
                &format!("SERVICE_NAME={service}"),
                &format!("SERVICE_TAGS={tags}"),
                "SERVICE_REGION=test",
            ],
            &[],
        )
    }

    /// Runs an etcd container named `name` with environment `env` and labels `labels`
    /// (`KEY=value`), its port 2379 published on 127.0.0.1; returns the host port.
    fn run_with(&mut self, name: &str, env: &[&str], labels: &[&str]) -> u16 {
        on_exit(&format!("docker rm -f {name} >/dev/null 2>&1"));
        self.0.push(name.to_owned());
        let mut args = vec!["run", "-d", "--name", name];
        for e in env {
            args.extend(["-e", e]);
        }
        for l in labels {
            args.extend(["-l", l]);
        }
        args.extend([
            "-p",
            "127.0.0.1::2379",
            DEFAULT_IMAGE,
            "--listen-client-urls",
            "http://0.0.0.0:2379",
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
        ]);
        docker(&args);
        host_port(name)
    }
}

/// The host port `2379/tcp` of container `name` is published on.
fn host_port(name: &str) -> u16 {
    let mapped = docker(&["port", name, "2379/tcp"]);
    let port = mapped
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok());
    port.unwrap_or_else(|| panic!("unexpected `docker port` output {mapped:?}"))
}

/// `docker inspect` state of `name`: `(status, exit code)`.
fn container_state(name: &str) -> (String, i64) {
    let out = docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ]);
    let (status, code) = out
        .split_once(' ')
        .unwrap_or_else(|| panic!("unexpected `docker inspect` output {out:?}"));
    (status.to_owned(), code.parse().unwrap_or(-1))
}

impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = Command::new("docker")
                .args(["rm", "-f", c])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The resync period the tests run registrator with.
const RESYNC: Duration = Duration::from_secs(2);

fn start_registrator(uri: &str) -> ChildGuard {
    spawn_registrator(uri, &[], &[])
}

/// registrator with a 3 s TTL, a 2 s resync, `-explicit`, this test's host name, `extra` flags
/// and `env` variables, registering into `uri`.
fn spawn_registrator(uri: &str, extra: &[&str], env: &[(&str, &str)]) -> ChildGuard {
    let child = Command::new(bin("registrator"))
        .args([
            "-ttl",
            "3s",
            "-resync",
            "2",
            "-explicit",
            "-hostname",
            HOSTNAME,
            "-log-level",
            "info",
        ])
        .args(extra)
        .arg(uri)
        .envs(env.iter().copied())
        .spawn()
        .expect("cannot start registrator");
    ChildGuard(child)
}

/// An etcd server, a unique prefix, a reader with the seeds' layout under it, and the URI.
async fn etcd_registry(name: &str) -> (EtcdServer, String, EtcdBackend, String) {
    let etcd = EtcdServer::start().await;
    let prefix = unique(name);
    let layout = Layout::new(Key::new(format!("/{prefix}")).unwrap(), Codec::Plain);
    let reader = EtcdBackend::connect(EtcdConfig::new([etcd.endpoint()]).with_layout(layout))
        .await
        .expect("connect to etcd");
    let uri = format!("etcd://{}/{prefix}", etcd.endpoint());
    (etcd, prefix, reader, uri)
}

/// The docker checks needed by every test.
fn require_docker() {
    assert!(docker_available(), "this test needs the Docker engine");
    assert!(
        docker_image_exists(DEFAULT_IMAGE),
        "build {DEFAULT_IMAGE} with scripts/etcd-image.sh"
    );
}

async fn instances(reader: &dyn Watcher, service: &str) -> Vec<ServiceInstance> {
    let name = ServiceName::new(service).unwrap();
    match reader.snapshot(&name).await {
        Ok(s) => s.instances.into_values().collect(),
        Err(_) => Vec::new(),
    }
}

/// The passing instance of `service`, if there is one.
async fn passing(reader: &dyn Watcher, service: &str) -> Option<ServiceInstance> {
    instances(reader, service)
        .await
        .into_iter()
        .find(|i| i.health == Health::Passing)
}

/// Runs the scenario against `uri`, reading through `reader`; returns the first container's
/// registered instance.
async fn scenario(uri: &str, reader: &dyn Watcher) -> (Vec<ServiceInstance>, String, u16) {
    require_docker();
    let (svc_a, svc_b) = (unique("rega"), unique("regb"));
    let (name_a, name_b) = (unique("regc-a"), unique("regc-b"));

    let mut containers = Containers(Vec::new());
    let mut registrator = start_registrator(uri);
    let port_a = containers.run(&name_a, &svc_a, "primary,v1");
    let port_b = containers.run(&name_b, &svc_b, "replica");

    // Both appear with the published host address and port, under the registrator's id.
    let mut found = Vec::new();
    for (svc, name, port) in [(&svc_a, &name_a, port_a), (&svc_b, &name_b, port_b)] {
        let inst = eventually(&format!("{svc} registered"), LIMIT, || passing(reader, svc)).await;
        assert_eq!(inst.id.as_str(), format!("{HOSTNAME}:{name}:2379"));
        assert_eq!(inst.address, "127.0.0.1");
        assert_eq!(inst.port, Some(port));
        found.push(inst);
    }

    // Stopping a container removes its instance within a second (from `docker stop`
    // returning); the other stays.
    docker(&["stop", "-t", "1", &name_b]);
    let stopped = Instant::now();
    eventually(
        &format!("{svc_b} deregistered"),
        Duration::from_secs(10),
        || async { instances(reader, &svc_b).await.is_empty().then_some(()) },
    )
    .await;
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{svc_b} disappeared {took:?} after `docker stop` returned, not within a second"
    );
    assert!(
        passing(reader, &svc_a).await.is_some(),
        "the running container stays registered"
    );

    // A killed registrator cannot deregister: its instances expire after the TTL.
    registrator.0.kill().expect("kill registrator");
    let _ = registrator.0.wait();
    eventually(&format!("{svc_a} expired"), LIMIT, || async {
        passing(reader, &svc_a).await.is_none().then_some(())
    })
    .await;

    // Restarted, it registers the running container again (and not the stopped one).
    registrator = start_registrator(uri);
    let back = eventually(&format!("{svc_a} registered again"), LIMIT, || {
        passing(reader, &svc_a)
    })
    .await;
    assert_eq!(back.port, Some(port_a));
    assert!(
        instances(reader, &svc_b).await.is_empty(),
        "a stopped container is not registered"
    );

    // A clean shutdown deregisters at once.
    drop(registrator);
    eventually(
        &format!("{svc_a} deregistered on shutdown"),
        LIMIT,
        || async { instances(reader, &svc_a).await.is_empty().then_some(()) },
    )
    .await;
    (found, svc_a, port_a)
}

#[tokio::test(flavor = "multi_thread")]
async fn registrator_follows_containers_into_etcd() {
    let (_etcd, prefix, reader, uri) = etcd_registry("registrator").await;
    let (found, svc_a, port_a) = scenario(&uri, &reader).await;
    // The seeds' layout: `<prefix>/<name>/<id> = ip:port` (checked through the watcher's decode,
    // and here on the raw key the registration wrote, now deleted).
    assert_eq!(found[0].service.as_str(), svc_a);
    assert_eq!(found[0].endpoint(), format!("127.0.0.1:{port_a}"));
    let key = Key::new(format!("/{prefix}/{svc_a}/{}", found[0].id)).unwrap();
    assert!(
        KvView::get(&reader, &key).await.unwrap().is_none(),
        "deregistered key is deleted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registrator_follows_containers_into_consul() {
    let consul = ConsulServer::start().await;
    let reader = consul.backend(None);
    let uri = format!(
        "consul://{}",
        consul.address().trim_start_matches("http://")
    );
    let (found, _, _) = scenario(&uri, &reader).await;
    // Consul keeps SERVICE_TAGS as tags and other SERVICE_* keys as metadata.
    let tags: Vec<&str> = found[0].tags.iter().map(String::as_str).collect();
    assert_eq!(tags, ["primary", "v1"]);
    assert_eq!(
        found[1].tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["replica"]
    );
    assert_eq!(
        found[0].meta.get("region").map(String::as_str),
        Some("test")
    );
}

/// `-cleanup`: entries of this host that no running container backs (left by a registrator
/// killed before their TTL ran out, with or without a lease) are removed at start and at every
/// resync; entries of other hosts, ids that are not registrator's, and the running container's
/// own entry stay. Also `-useIpFromLabel`.
#[tokio::test(flavor = "multi_thread")]
async fn cleanup_removes_only_this_hosts_dangling_entries() {
    require_docker();
    let (_etcd, prefix, reader, uri) = etcd_registry("regclean").await;
    let svc = unique("regd");
    let key = |id: &str| Key::new(format!("/{prefix}/{svc}/{id}")).unwrap();
    let put = |id: &str, ttl: Option<Duration>| {
        let (reader, k) = (reader.clone(), key(id));
        async move { reader.put(&k, "127.0.0.1:9".into(), ttl).await.unwrap() }
    };
    let exists = |id: &str| {
        let (reader, k) = (reader.clone(), key(id));
        async move { reader.get(&k).await.unwrap().is_some() }
    };
    let (leased, unleased) = (
        format!("{HOSTNAME}:gone:2379"),
        format!("{HOSTNAME}:gone-too:2379:udp"),
    );
    let foreign = ["other-host:gone:2379", "custom-service-id"];
    put(&leased, Some(Duration::from_secs(600))).await;
    put(&unleased, None).await;
    for id in foreign {
        put(id, None).await;
    }

    let mut containers = Containers(Vec::new());
    let name = unique("regc-clean");
    let port = containers.run_with(
        &name,
        &[&format!("SERVICE_NAME={svc}")],
        &["reg.test.ip=10.99.0.7/16"],
    );
    let _registrator =
        spawn_registrator(&uri, &["-cleanup", "-useIpFromLabel", "reg.test.ip"], &[]);

    let own_id = format!("{HOSTNAME}:{name}:2379");
    let inst = eventually(&format!("{svc} registered"), LIMIT, || async {
        instances(&reader, &svc)
            .await
            .into_iter()
            .find(|i| i.id.as_str() == own_id)
    })
    .await;
    assert_eq!(
        inst.endpoint(),
        format!("10.99.0.7:{port}"),
        "-useIpFromLabel advertises the label's address without its prefix length"
    );
    eventually(
        "this host's dangling entries removed at start",
        LIMIT,
        || async { (!exists(&leased).await && !exists(&unleased).await).then_some(()) },
    )
    .await;

    // An entry left behind later goes at the next resync.
    let late = format!("{HOSTNAME}:late:2379");
    put(&late, Some(Duration::from_secs(600))).await;
    let put_at = Instant::now();
    eventually("a later dangling entry removed", LIMIT, || async {
        (!exists(&late).await).then_some(())
    })
    .await;
    let took = put_at.elapsed();
    assert!(
        took < RESYNC + Duration::from_secs(1),
        "removed {took:?} after it appeared; the resync period is {RESYNC:?}"
    );

    // Two more resyncs later, nothing else was touched.
    tokio::time::sleep(RESYNC * 2).await;
    for id in foreign {
        assert!(exists(id).await, "{id} is not this host's and must stay");
    }
    assert!(
        exists(inst.id.as_str()).await,
        "the running container's own entry stays"
    );
}

/// `-deregister on-success`: a container that exits with a failure (etcd as PID 1 exits 2 on
/// SIGHUP) keeps its entry — kept alive past the TTL — until it is removed, is registered afresh
/// when started again; one that exits 0 (`docker stop`: etcd exits 0 on SIGTERM) goes at once.
#[tokio::test(flavor = "multi_thread")]
async fn deregister_on_success_keeps_failed_containers_until_removed() {
    require_docker();
    let (_etcd, _prefix, reader, uri) = etcd_registry("regsuccess").await;
    let (svc_fail, svc_ok) = (unique("regfail"), unique("regok"));
    let (name_fail, name_ok) = (unique("regc-fail"), unique("regc-ok"));
    let mut containers = Containers(Vec::new());
    containers.run(&name_fail, &svc_fail, "f");
    containers.run(&name_ok, &svc_ok, "o");
    let _registrator = spawn_registrator(&uri, &["-deregister", "on-success"], &[]);
    for svc in [&svc_fail, &svc_ok] {
        eventually(&format!("{svc} registered"), LIMIT, || {
            passing(&reader, svc)
        })
        .await;
    }

    let fail = |what: &'static str| {
        docker(&["kill", "-s", "HUP", &name_fail]);
        eventually(what, LIMIT, || async {
            let (status, code) = container_state(&name_fail);
            (status == "exited").then_some(code)
        })
    };
    let code = fail("the failing container exited").await;
    assert_eq!(code, 2, "etcd as PID 1 exits 2 on SIGHUP");
    // Past the TTL and a resync: still registered, kept alive by the daemon.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        passing(&reader, &svc_fail).await.is_some(),
        "a container that exited with code 2 keeps its registration"
    );

    // Exit 0 deregisters.
    docker(&["stop", "-t", "5", &name_ok]);
    assert_eq!(container_state(&name_ok), ("exited".to_owned(), 0));
    let stopped = Instant::now();
    eventually(&format!("{svc_ok} deregistered"), LIMIT, || async {
        instances(&reader, &svc_ok).await.is_empty().then_some(())
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "exit 0 deregisters at once, took {:?}",
        stopped.elapsed()
    );

    // Started again, the failed container is registered afresh with its new binding.
    docker(&["start", &name_fail]);
    let port = host_port(&name_fail);
    let again = eventually(&format!("{svc_fail} re-registered"), LIMIT, || async {
        passing(&reader, &svc_fail)
            .await
            .filter(|i| i.port == Some(port))
    })
    .await;
    assert_eq!(again.id.as_str(), format!("{HOSTNAME}:{name_fail}:2379"));

    // Failing again keeps it; removing the container deregisters it.
    assert_eq!(fail("the container failed again").await, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(passing(&reader, &svc_fail).await.is_some(), "kept again");
    docker(&["rm", &name_fail]);
    eventually(
        &format!("{svc_fail} deregistered on removal"),
        LIMIT,
        || async { instances(&reader, &svc_fail).await.is_empty().then_some(()) },
    )
    .await;
}

/// `GET <path>` on the agent at `address` (`http://host:port`); the body of a 200 answer.
async fn http_get(address: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_owned())
}

/// `(type, status)` of every check of Consul service `service_id` on the agent, sorted.
async fn agent_checks(address: &str, service_id: &str) -> Vec<(String, String)> {
    let Some(body) = http_get(address, "/v1/agent/checks").await else {
        return Vec::new();
    };
    let checks: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad /v1/agent/checks: {e}"));
    let field = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or("").to_owned();
    let mut out: Vec<(String, String)> = checks
        .values()
        .filter(|c| c["ServiceID"] == service_id)
        .map(|c| (field(c, "Type"), field(c, "Status")))
        .collect();
    out.sort();
    out
}

/// Consul: `SERVICE_CHECK_TCP` adds a TCP check next to registrator's TTL check, and it turns
/// passing; a script check, which this agent refuses (`enable_script_checks` is off), is dropped
/// with a warning and the service is registered with its TTL check only.
#[tokio::test(flavor = "multi_thread")]
async fn consul_gets_the_service_check_next_to_the_ttl_check() {
    require_docker();
    let consul = ConsulServer::start().await;
    let reader = consul.backend(None);
    let uri = format!(
        "consul://{}",
        consul.address().trim_start_matches("http://")
    );
    let (svc_tcp, svc_script) = (unique("regtcp"), unique("regscript"));
    let (name_tcp, name_script) = (unique("regc-tcp"), unique("regc-script"));
    let mut containers = Containers(Vec::new());
    containers.run_with(
        &name_tcp,
        &[
            &format!("SERVICE_NAME={svc_tcp}"),
            "SERVICE_CHECK_TCP=true",
            "SERVICE_CHECK_INTERVAL=1s",
            "SERVICE_CHECK_TIMEOUT=1s",
        ],
        &[],
    );
    containers.run_with(
        &name_script,
        &[
            &format!("SERVICE_NAME={svc_script}"),
            "SERVICE_CHECK_SCRIPT=nc -z $SERVICE_IP $SERVICE_PORT",
        ],
        &[],
    );
    let _registrator = start_registrator(&uri);

    let tcp_id = format!("{svc_tcp}:{HOSTNAME}:{name_tcp}:2379");
    let addr = consul.address();
    let checks = eventually(
        "the TCP check passing next to the TTL check",
        LIMIT,
        || async {
            let c = agent_checks(&addr, &tcp_id).await;
            c.iter()
                .any(|(t, s)| t == "tcp" && s == "passing")
                .then_some(c)
        },
    )
    .await;
    assert_eq!(
        checks,
        [
            ("tcp".to_owned(), "passing".to_owned()),
            ("ttl".to_owned(), "passing".to_owned())
        ],
        "exactly the TTL heartbeat and the SERVICE_CHECK_TCP check"
    );
    let inst = eventually(&format!("{svc_tcp} passing"), LIMIT, || {
        passing(&reader, &svc_tcp)
    })
    .await;
    assert_eq!(
        inst.meta.get("check_tcp").map(String::as_str),
        Some("true"),
        "SERVICE_* attributes stay in the metadata, as registrator's"
    );

    let script_id = format!("{svc_script}:{HOSTNAME}:{name_script}:2379");
    eventually(&format!("{svc_script} registered"), LIMIT, || {
        passing(&reader, &svc_script)
    })
    .await;
    assert_eq!(
        agent_checks(&addr, &script_id).await,
        [("ttl".to_owned(), "passing".to_owned())],
        "the refused script check is dropped, the TTL check stays"
    );
}

/// `consul-tls://` talks HTTPS to the agent, with the CA and client certificate from
/// `CONSUL_CACERT`, `CONSUL_CLIENT_CERT` and `CONSUL_CLIENT_KEY`.
#[tokio::test(flavor = "multi_thread")]
async fn consul_tls_uri_registers_over_https() {
    require_docker();
    let consul = ConsulServer::start_tls().await;
    let reader = consul.backend(None);
    let tls = consul.tls();
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .expect("the fixture's TLS material")
            .display()
            .to_string()
    };
    let (ca, cert, key) = (
        path(&tls.ca_file),
        path(&tls.cert_file),
        path(&tls.key_file),
    );
    let uri = format!(
        "consul-tls://{}",
        consul.https_address().trim_start_matches("https://")
    );
    let (svc, name) = (unique("regtls"), unique("regc-tls"));
    let mut containers = Containers(Vec::new());
    let port = containers.run(&name, &svc, "tls");
    let _registrator = spawn_registrator(
        &uri,
        &[],
        &[
            ("CONSUL_CACERT", &ca),
            ("CONSUL_CLIENT_CERT", &cert),
            ("CONSUL_CLIENT_KEY", &key),
        ],
    );
    let inst = eventually(&format!("{svc} registered over HTTPS"), LIMIT, || {
        passing(&reader, &svc)
    })
    .await;
    assert_eq!(inst.port, Some(port));
}

/// `-retry-attempts N -retry-interval ms`: N retries of the first connection, then registrator
/// exits with an error.
#[test]
fn retry_attempts_then_exit() {
    let start = Instant::now();
    let out = Command::new(bin("registrator"))
        .args([
            "-retry-attempts",
            "2",
            "-retry-interval",
            "300",
            "consul://127.0.0.1:1",
        ])
        .output()
        .expect("cannot run registrator");
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "registrator must fail: {stderr}");
    assert!(
        took >= Duration::from_millis(600),
        "two pauses of 300 ms between three attempts, took {took:?}"
    );
    assert!(stderr.contains("retry 2/2"), "{stderr}");
    assert!(stderr.contains("consul"), "{stderr}");
    let bad = Command::new(bin("registrator"))
        .args(["-deregister", "sometimes", "consul://127.0.0.1:1"])
        .output()
        .expect("cannot run registrator");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("on-success"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// A TCP front of the Docker engine's socket, which registrator reaches through `DOCKER_HOST`:
/// [`DockerProxy::go_down`] cuts every connection and closes new ones at once until
/// [`DockerProxy::come_back`].
struct DockerProxy {
    port: u16,
    down: Arc<AtomicBool>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    accept: tokio::task::JoinHandle<()>,
}

impl DockerProxy {
    async fn start() -> DockerProxy {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
            .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(tokio::sync::watch::channel(0u64).0);
        let (is_down, cuts) = (down.clone(), cut.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let mut cut = cuts.subscribe();
                let socket = socket.clone();
                tokio::spawn(async move {
                    let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        DockerProxy {
            port,
            down,
            cut,
            accept,
        }
    }

    /// `DOCKER_HOST` for a client of this proxy.
    fn docker_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.go_down();
    }
}

/// The Docker connection is lost (the event stream fails) while one container stops and another
/// starts: after a backoff registrator subscribes again and re-lists the containers, so the
/// started one is registered and the stopped one deregistered — with no `-resync` period to do
/// it instead. Then SIGTERM: every instance is deregistered before the process exits, well before
/// their TTL could remove them.
#[tokio::test(flavor = "multi_thread")]
async fn docker_reconnect_resyncs_and_shutdown_deregisters() {
    require_docker();
    let (_etcd, _prefix, reader, uri) = etcd_registry("regreconnect").await;
    let proxy = DockerProxy::start().await;
    let (svc_a, svc_b) = (unique("regra"), unique("regrb"));
    let (name_a, name_b) = (unique("regc-ra"), unique("regc-rb"));
    let mut containers = Containers(Vec::new());
    let docker_host = proxy.docker_host();
    let mut registrator = spawn_registrator(
        &uri,
        &["-resync", "0"],
        &[("DOCKER_HOST", docker_host.as_str())],
    );
    containers.run(&name_a, &svc_a, "a");
    eventually(&format!("{svc_a} registered"), LIMIT, || {
        passing(&reader, &svc_a)
    })
    .await;

    proxy.go_down();
    docker(&["stop", "-t", "1", &name_a]);
    let port_b = containers.run(&name_b, &svc_b, "b");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        passing(&reader, &svc_a).await.is_some(),
        "cut off from Docker, registrator misses the stop (and keeps the lease alive)"
    );
    assert!(instances(&reader, &svc_b).await.is_empty(), "and the start");

    proxy.come_back();
    let b = eventually(
        &format!("{svc_b} registered after the reconnect"),
        LIMIT,
        || passing(&reader, &svc_b),
    )
    .await;
    assert_eq!(b.port, Some(port_b));
    eventually(
        &format!("{svc_a} deregistered after the reconnect"),
        LIMIT,
        || async { instances(&reader, &svc_a).await.is_empty().then_some(()) },
    )
    .await;

    // A clean shutdown: the instance is gone when the process has exited. Its 3 s lease, kept
    // alive every second, cannot expire that soon.
    let term = Instant::now();
    registrator.signal("TERM");
    let status = eventually("registrator exits on SIGTERM", LIMIT, || {
        let exited = registrator.0.try_wait().ok().flatten();
        async move { exited }
    })
    .await;
    let took = term.elapsed();
    assert!(status.success(), "registrator exit status {status}");
    assert!(
        instances(&reader, &svc_b).await.is_empty(),
        "deregistered before exiting"
    );
    assert!(
        took < Duration::from_millis(1500),
        "exited {took:?} after SIGTERM: too late to tell deregistration from lease expiry"
    );
}

/// No Docker engine answers at start: the first listing fails and registrator exits with the
/// error instead of running blind.
#[test]
fn no_docker_engine_is_an_error_at_start() {
    let nobody = format!("tcp://127.0.0.1:{}", free_port());
    let mut child = Command::new(bin("registrator"))
        .args(["-hostname", HOSTNAME, "memory://"])
        .env("DOCKER_HOST", &nobody)
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run registrator");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for registrator") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("registrator still runs {LIMIT:?} without a Docker engine");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "registrator must fail: {stderr}");
    assert!(stderr.contains("docker"), "{stderr}");
}
