//! consul-template's de-duplication mode (`-dedup`) with real processes on a real Consul agent
//! of the test's own. Each process runs in its own directory (same source path, contents and
//! relative destination, so the same template id) and reaches the agent through its own
//! recording proxy, so what each one asked of Consul is observable:
//!
//! - three processes render the same bytes; exactly one holds the template's lock (its value
//!   names the holder's pid, its log says "leader"), and only that one queried the template's
//!   service and key; the two followers read the shared data key only. A KV change re-renders
//!   all three.
//! - `kill -9` of the leader: once Consul expires its session (up to twice the 10 s TTL) a
//!   survivor takes the lock, starts querying the dependencies, and a later change renders in
//!   both survivors.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use discovery_consul::ConsulBackend;
use discovery_core::{
    Key, KvStore, KvView, RegisterOptions, Registration, Registry, ServiceInstance,
};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::proxy::{recorded_requests, recording_proxy};
use discovery_tests::util::{eventually, unique};

/// The session TTL the processes use (Consul's minimum).
const TTL: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(30);

/// One consul-template process.
struct Proc {
    guard: ChildGuard,
    dir: PathBuf,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.guard.0.id()
    }

    fn output(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("out.conf")).ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ct.log")).unwrap_or_default()
    }

    /// The request lines it sent to Consul whose path contains `part`.
    fn requests_to(&self, part: &str) -> Vec<String> {
        recorded_requests(&self.seen)
            .into_iter()
            .filter_map(|r| r.lines().next().map(str::to_owned))
            .filter(|line| line.contains(part))
            .collect()
    }
}

/// The fixture: an agent, a template over a key and a service, its config file.
struct Fleet {
    _consul: ConsulServer,
    _service: Option<Registration>,
    backend: ConsulBackend,
    root: tempfile::TempDir,
    app: String,
    prefix: String,
    agent: String,
    config: PathBuf,
}

impl Fleet {
    async fn new() -> Fleet {
        let consul = ConsulServer::start().await;
        let backend = consul.backend(None);
        let root = tempfile::tempdir().unwrap();
        let app = unique("dedup");
        let prefix = format!("{app}-locks/");
        let source = root.path().join("in.tmpl");
        std::fs::write(
            &source,
            format!(
                "mode={{{{key \"{app}/mode\"}}}}\n{{{{range service \"{app}\"}}}}\
                 server {{{{.Address}}}}:{{{{.Port}}}}\n{{{{end}}}}"
            ),
        )
        .unwrap();
        let config = root.path().join("ct.hcl");
        std::fs::write(
            &config,
            format!(
                "deduplicate {{\n  prefix = \"{prefix}\"\n  ttl = \"{}s\"\n}}\n\
                 template {{\n  source = \"{}\"\n  destination = \"out.conf\"\n}}\n",
                TTL.as_secs(),
                source.display()
            ),
        )
        .unwrap();
        let mut fleet = Fleet {
            _service: None,
            agent: consul.address().trim_start_matches("http://").to_owned(),
            _consul: consul,
            backend,
            root,
            app,
            prefix,
            config,
        };
        fleet.set_mode("blue").await;
        let svc = ServiceInstance::new(
            fleet.app.parse().unwrap(),
            format!("{}-1", fleet.app).parse().unwrap(),
            "10.0.0.7",
            Some(8080),
        );
        let reg = fleet
            .backend
            .register(svc, RegisterOptions::default())
            .await
            .unwrap();
        fleet._service = Some(reg);
        fleet
    }

    async fn set_mode(&self, mode: &str) {
        let key = Key::new(format!("/{}/mode", self.app)).unwrap();
        self.backend
            .put(&key, Bytes::from(mode.to_owned()), None)
            .await
            .unwrap();
    }

    fn spawn(&self, n: usize) -> Proc {
        let dir = self.root.path().join(format!("p{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (proxy, seen) = recording_proxy(self.agent.clone());
        let log = std::fs::File::create(dir.join("ct.log")).unwrap();
        let child = Command::new(bin("consul-template"))
            .current_dir(&dir)
            .args(["-consul-addr", &proxy, "-dedup", "-log-level", "info"])
            .arg("-config")
            .arg(&self.config)
            .env_remove("CONSUL_HTTP_ADDR")
            .env_remove("CONSUL_HTTP_TOKEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start consul-template");
        Proc {
            guard: ChildGuard(child),
            dir,
            seen,
        }
    }

    /// The template's lock: its value (`host:pid` of the holder) when held.
    async fn lock_holder(&self) -> Option<u32> {
        let prefix = Key::new(format!("/{}", self.prefix.trim_end_matches('/'))).unwrap();
        let snap = self.backend.list(&[prefix]).await.ok()?;
        let (_, pair) = snap
            .pairs
            .iter()
            .find(|(k, _)| k.as_str().ends_with("/lock"))?;
        pair.value_str()?.rsplit(':').next()?.parse().ok()
    }
}

fn expected(mode: &str) -> String {
    format!("mode={mode}\nserver 10.0.0.7:8080\n")
}

async fn all_render(procs: &[&Proc], want: &str) {
    eventually(
        &format!("every process renders {want:?}"),
        LIMIT,
        || async {
            procs
                .iter()
                .all(|p| p.output().as_deref() == Some(want))
                .then_some(())
        },
    )
    .await;
}

fn leader_logs(p: &Proc) -> usize {
    p.log().matches("leader of the template").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_one_leader_followers_query_nothing() {
    let fleet = Fleet::new().await;
    let procs: Vec<Proc> = (0..3).map(|n| fleet.spawn(n)).collect();
    let all: Vec<&Proc> = procs.iter().collect();
    all_render(&all, &expected("blue")).await;

    let holder = eventually("the lock held by one of the processes", LIMIT, || async {
        fleet.lock_holder().await
    })
    .await;
    let leader = procs
        .iter()
        .position(|p| p.pid() == holder)
        .unwrap_or_else(|| panic!("the lock names pid {holder}, not one of ours"));
    for (i, p) in procs.iter().enumerate() {
        let leads = leader_logs(p);
        let follows = p.log().matches("follower of the template").count();
        if i == leader {
            assert_eq!(leads, 1, "the leader logs it once:\n{}", p.log());
        } else {
            assert_eq!(leads, 0, "process {i} is not the leader:\n{}", p.log());
            assert!(
                follows >= 1,
                "process {i} logs that it follows:\n{}",
                p.log()
            );
        }
    }

    // A KV change re-renders all three.
    fleet.set_mode("green").await;
    all_render(&all, &expected("green")).await;

    // Only the leader queried the template's service and key; the followers read the shared
    // data (and the lock), nothing else under the app's names.
    let service = format!("/v1/health/service/{}", fleet.app);
    let key = format!("/v1/kv/{}/", fleet.app);
    let data = format!("/v1/kv/{}", fleet.prefix);
    let l = &procs[leader];
    assert!(
        !l.requests_to(&service).is_empty(),
        "the leader watches the service"
    );
    assert!(
        !l.requests_to(&key).is_empty(),
        "the leader watches the key"
    );
    for (i, p) in procs.iter().enumerate().filter(|(i, _)| *i != leader) {
        assert_eq!(
            p.requests_to(&service),
            Vec::<String>::new(),
            "follower {i}"
        );
        assert_eq!(p.requests_to(&key), Vec::<String>::new(), "follower {i}");
        assert!(
            p.requests_to(&data)
                .iter()
                .any(|r| r.contains("/data.json")),
            "follower {i} reads the shared data"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_is_replaced_within_its_session_ttl() {
    let fleet = Fleet::new().await;
    let mut procs: Vec<Proc> = (0..3).map(|n| fleet.spawn(n)).collect();
    all_render(&procs.iter().collect::<Vec<_>>(), &expected("blue")).await;
    let holder = eventually("a leader", LIMIT, || async { fleet.lock_holder().await }).await;
    let leader = procs.iter().position(|p| p.pid() == holder).unwrap();

    // kill -9: the session is not destroyed, Consul has to expire it.
    let mut dead = procs.remove(leader);
    dead.guard.0.kill().unwrap();
    dead.guard.0.wait().unwrap();
    let killed = Instant::now();
    let survivors: Vec<u32> = procs.iter().map(Proc::pid).collect();
    let limit = TTL * 2 + Duration::from_secs(10);
    let new = eventually("a survivor takes the lock", limit, || async {
        fleet
            .lock_holder()
            .await
            .filter(|pid| survivors.contains(pid))
    })
    .await;
    let took = killed.elapsed();
    eprintln!("takeover after {took:?} (TTL {TTL:?})");
    let new_leader = procs.iter().find(|p| p.pid() == new).unwrap();
    assert_eq!(leader_logs(new_leader), 1, "{}", new_leader.log());

    // The new leader watches the dependencies now, and a change renders in both survivors.
    let service = format!("/v1/health/service/{}", fleet.app);
    eventually("the new leader queries the service", LIMIT, || async {
        (!new_leader.requests_to(&service).is_empty()).then_some(())
    })
    .await;
    fleet.set_mode("red").await;
    all_render(&procs.iter().collect::<Vec<_>>(), &expected("red")).await;
    assert_eq!(
        dead.output().as_deref(),
        Some(expected("blue").as_str()),
        "the killed process rendered nothing after its death"
    );
}
