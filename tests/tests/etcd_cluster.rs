//! A 3-member etcd cluster in Docker containers: stop the leader, then cut a member off from its
//! peers (it stays reachable by the client but has no leader): watches and registrations go on.
//!
//! In Docker mode each member sits on two private networks: `client` (its port is published to
//! the host) and `peers` (raft traffic, under the alias `p-<name>`), so a member can be cut off
//! from its peers while the client still reaches it. In process mode (no Docker engine, or
//! `DISCOVERY_ETCD_MODE=process`) the members are processes on loopback: the leader stop runs,
//! the network partition needs Docker and is not part of that run.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{
    Key, KvEvent, KvSnapshot, KvStore, KvView, LeaseState, RegisterOptions, Registry,
    ServiceInstance,
};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use discovery_tests::etcd::{self, health, image_name, Mode};
use discovery_tests::util::{docker, eventually, free_port, unique};
use futures::StreamExt;
use tokio::sync::watch;

const GUARD: Duration = Duration::from_secs(90);

struct Member {
    name: String,
    port: u16,
    /// Process mode: the running child (None while stopped) and its flags.
    process: Option<(Option<Child>, Vec<String>)>,
}

/// Three members, as containers (Docker mode) or processes; dropping the cluster removes them
/// (and the networks).
struct Cluster {
    members: Vec<Member>,
    /// Docker mode: the client and peer networks.
    networks: Option<(String, String)>,
    _data: Option<tempfile::TempDir>,
}

fn flags(
    name: &str,
    client: &str,
    advertise: &str,
    peer: &str,
    advertise_peer: &str,
    initial: &str,
    data: &str,
) -> Vec<String> {
    vec![
        format!("--name={name}"),
        format!("--data-dir={data}"),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={advertise}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={advertise_peer}"),
        format!("--initial-cluster={initial}"),
        "--initial-cluster-state=new".to_owned(),
        "--heartbeat-interval=100".to_owned(),
        "--election-timeout=1000".to_owned(),
    ]
}

fn spawn(args: &[String]) -> Child {
    Command::new(etcd::etcd_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", etcd::etcd_bin().display()))
}

impl Cluster {
    async fn start(mode: Mode) -> Cluster {
        let id = unique("etcd");
        let names: Vec<String> = (0..3).map(|i| format!("{id}-m{i}")).collect();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let cluster = match mode {
            Mode::Docker => Self::create_containers(&id, &names, &ports),
            Mode::Process => Self::spawn_processes(&names, &ports),
        };
        for m in &cluster.members {
            eventually("a healthy member", GUARD, || async {
                health(m.port).await.then_some(())
            })
            .await;
        }
        cluster
    }

    fn spawn_processes(names: &[String], ports: &[u16]) -> Cluster {
        let data = tempfile::tempdir().unwrap();
        let peers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let initial: Vec<String> = names
            .iter()
            .zip(&peers)
            .map(|(n, p)| format!("{n}=http://127.0.0.1:{p}"))
            .collect();
        let members = (0..3)
            .map(|i| {
                let client = format!("http://127.0.0.1:{}", ports[i]);
                let peer = format!("http://127.0.0.1:{}", peers[i]);
                let dir = data.path().join(&names[i]);
                let args = flags(
                    &names[i],
                    &client,
                    &client,
                    &peer,
                    &peer,
                    &initial.join(","),
                    &dir.to_string_lossy(),
                );
                Member {
                    name: names[i].clone(),
                    port: ports[i],
                    process: Some((Some(spawn(&args)), args)),
                }
            })
            .collect();
        Cluster {
            members,
            networks: None,
            _data: Some(data),
        }
    }

    fn create_containers(id: &str, names: &[String], ports: &[u16]) -> Cluster {
        let client_net = format!("{id}-client");
        let peer_net = format!("{id}-peers");
        docker(&["network", "create", &client_net]);
        docker(&["network", "create", &peer_net]);
        let initial: Vec<String> = names
            .iter()
            .map(|n| format!("{n}=http://p-{n}:2380"))
            .collect();
        let image = image_name();
        let mut members = Vec::new();
        for (name, port) in names.iter().zip(ports) {
            let publish = format!("127.0.0.1:{port}:2379");
            let mut args = vec![
                "create",
                "--name",
                name,
                "--network",
                &client_net,
                "-p",
                &publish,
                "--entrypoint",
                "/usr/local/bin/etcd",
                &image,
            ];
            let advertise = format!("http://127.0.0.1:{port}");
            let f = flags(
                name,
                "http://0.0.0.0:2379",
                &advertise,
                "http://0.0.0.0:2380",
                &format!("http://p-{name}:2380"),
                &initial.join(","),
                "/etcd-data/member",
            );
            args.extend(f.iter().map(String::as_str));
            docker(&args);
            let alias = format!("p-{name}");
            docker(&["network", "connect", "--alias", &alias, &peer_net, name]);
            members.push(Member {
                name: name.clone(),
                port: *port,
                process: None,
            });
        }
        for name in names {
            docker(&["start", name]);
        }
        Cluster {
            members,
            networks: Some((client_net, peer_net)),
            _data: None,
        }
    }

    fn stop(&mut self, i: usize) {
        match &mut self.members[i].process {
            Some((child, _)) => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            None => {
                docker(&["stop", "--time=1", &self.members[i].name]);
            }
        }
    }

    async fn restart(&mut self, i: usize) {
        match &mut self.members[i].process {
            Some((child, args)) => *child = Some(spawn(args)),
            None => {
                docker(&["start", &self.members[i].name]);
            }
        }
        let port = self.members[i].port;
        eventually("the member back", GUARD, || async {
            health(port).await.then_some(())
        })
        .await;
    }

    fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port))
            .collect()
    }

    /// The index of the current leader, asked of the members that answer.
    async fn leader(&self) -> usize {
        eventually("a leader", GUARD, || async {
            for (i, m) in self.members.iter().enumerate() {
                let ep = format!("127.0.0.1:{}", m.port);
                let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    etcd_client::Client::connect([ep], None),
                )
                .await
                else {
                    continue;
                };
                if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), c.status()).await {
                    if s.leader() != 0
                        && s.leader() == s.header().map(|h| h.member_id()).unwrap_or(0)
                    {
                        return Some(i);
                    }
                }
            }
            None
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            match &mut m.process {
                Some((Some(c), _)) => {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                Some((None, _)) => {}
                None => {
                    let _ = Command::new("docker").args(["rm", "-f", &m.name]).output();
                }
            }
        }
        if let Some((client, peers)) = &self.networks {
            for net in [client, peers] {
                let _ = Command::new("docker").args(["network", "rm", net]).output();
            }
        }
    }
}

/// Writes keep being acknowledged, the watch's folded state catches up with etcd's, and the
/// registration is (again) live with its key present.
async fn assert_service_continues(
    what: &str,
    backend: &EtcdBackend,
    acked: &AtomicUsize,
    folded: &mut watch::Receiver<KvSnapshot>,
    reg: &mut discovery_core::Registration,
) {
    let before = acked.load(Ordering::Relaxed);
    eventually(&format!("writes to go on ({what})"), GUARD, || async {
        (acked.load(Ordering::Relaxed) >= before + 10).then_some(())
    })
    .await;
    let prefix = Key::new("/app").unwrap();
    let truth = eventually(&format!("a list ({what})"), GUARD, || async {
        backend.list(std::slice::from_ref(&prefix)).await.ok()
    })
    .await;
    let state = tokio::time::timeout(GUARD, folded.wait_for(|s| s.revision >= truth.revision))
        .await
        .unwrap_or_else(|_| panic!("{what}: the watch did not reach {}", truth.revision))
        .unwrap()
        .clone();
    // Writes go on meanwhile (only puts): every pair etcd had at the list's revision is in the
    // folded state, or was overwritten by a later revision.
    for (k, p) in &truth.pairs {
        let got = state.pairs.get(k);
        let ok = got.is_some_and(|g| {
            g.mod_revision > truth.revision
                || (g.mod_revision == p.mod_revision && g.value == p.value)
        });
        assert!(
            ok,
            "{what}: the watch missed {k} at {}: {got:?}",
            p.mod_revision
        );
    }
    tokio::time::timeout(GUARD, reg.wait_for(|s| *s == LeaseState::Live))
        .await
        .unwrap_or_else(|_| panic!("{what}: the registration is not live"))
        .unwrap();
    let key = backend.layout().instance_key(reg.instance());
    eventually(&format!("the instance key ({what})"), GUARD, || async {
        backend.get(&key).await.ok().flatten().map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_stop_and_member_partition_do_not_stop_watches_or_registrations() {
    discovery_tests::util::init_tracing();
    let mode = etcd::mode();
    let mut cluster = Cluster::start(mode).await;
    let config = EtcdConfig::new(cluster.endpoints())
        .with_namespace(format!("/{}", unique("cluster")))
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(3));
    let backend = EtcdBackend::connect(config).await.unwrap();

    let me = ServiceInstance::new(
        "web".parse().unwrap(),
        "w1".parse().unwrap(),
        "10.0.0.1",
        Some(80),
    );
    let mut reg = backend
        .register(me, RegisterOptions::with_ttl(Duration::from_secs(4)))
        .await
        .unwrap();

    let (tx, mut folded) = watch::channel(KvSnapshot::default());
    let consumer = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut w = backend
                .watch_prefix(&Key::new("/app").unwrap(), None)
                .await
                .unwrap();
            let mut state = KvSnapshot::default();
            while let Some(item) = w.next().await {
                match item {
                    Ok(ev) => {
                        if let KvEvent::Changed { revision, .. } = &ev {
                            assert!(*revision > state.revision, "duplicate revision {revision}");
                        }
                        state.apply(ev);
                        tx.send_replace(state.clone());
                    }
                    Err(e) => assert!(e.is_retryable(), "the watch failed for good: {e}"),
                }
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (backend, stop, acked) = (backend.clone(), stop.clone(), acked.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let k = Key::new(format!("/app/k{}", i % 8)).unwrap();
                match backend.put(&k, format!("v{i}").into(), None).await {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
    };
    assert_service_continues("steady", &backend, &acked, &mut folded, &mut reg).await;

    // 1. Stop the leader: the two others elect a new one.
    let leader = cluster.leader().await;
    cluster.stop(leader);
    assert_service_continues("leader stopped", &backend, &acked, &mut folded, &mut reg).await;
    cluster.restart(leader).await;
    assert_service_continues("old leader back", &backend, &acked, &mut folded, &mut reg).await;

    // 2. (Docker) Cut the first endpoint's member off from its peers: still reachable by the
    //    client, but leaderless, so requests requiring a leader fail there and move on.
    //    Processes share the host's network and cannot be partitioned this way.
    if let Some((_, peer_net)) = &cluster.networks {
        let cut = &cluster.members[0];
        docker(&["network", "disconnect", peer_net, &cut.name]);
        eventually("the cut member to lose its leader", GUARD, || async {
            (!health(cut.port).await).then_some(())
        })
        .await;
        assert_service_continues(
            "member partitioned",
            &backend,
            &acked,
            &mut folded,
            &mut reg,
        )
        .await;
    } else {
        assert_eq!(mode, Mode::Process);
    }

    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    consumer.abort();
    reg.deregister().await.unwrap();
}
