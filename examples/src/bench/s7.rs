//! S7, a 3-member etcd cluster (see [`super::cluster`]):
//! - `s7-keepalive`: one process holds `--count` registrations with `--ttl`, with or without
//!   shared leases; keepalive requests/s at steady state (etcd's `grpc_server_msg_received_total`
//!   for `LeaseKeepAlive`, summed over the members), etcd CPU and memory.
//! - `s7`: `--watchers` watchers, each with its own etcd connection, spread over `--procs`
//!   child processes (`bench s7-watchers`), each rendering its view into a file: with
//!   `--engine confd` (the default) a confd engine per watcher renders a template (see
//!   [`super::s7_confd`]); `--engine library` folds the library's watch stream itself. Changes
//!   are puts of a sequence number; reported: put -> all N files p50/p99, etcd CPU per change,
//!   the watch streams and watchers etcd holds; then the leader is killed and a put made: time
//!   until every watcher has it. `--model prefix` watches the prefix once per watcher;
//!   `--model per-key` opens one watch per key (`--keys`), as confd does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use discovery_core::{
    Key, KvChange, KvEvent, KvStore, KvView, RegisterOptions, Registration, Registry, Result,
    ServiceInstance,
};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::cluster::Cluster;
use super::stats::Figures;
use super::{fail, Opts};

pub(crate) const PREFIX: &str = "/s7";

pub(crate) fn now_us() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e6)
        .unwrap_or(0.0)
}

pub(crate) async fn connect(endpoints: Vec<String>) -> Result<EtcdBackend> {
    EtcdBackend::connect(EtcdConfig::new(endpoints)).await
}

/// `s7-keepalive`.
pub async fn keepalive(opts: &Opts) -> Result<Figures> {
    let count: usize = opts.num("count", 10_000)?;
    let ttl = opts.secs("ttl", 10.0)?;
    let window = opts.secs("seconds", 20.0)?;
    let shared: bool = opts.num("shared-lease", true)?;
    let cluster = Cluster::start("s7ka").await?;
    let backend = connect(cluster.endpoints()).await?;
    let service: discovery_core::ServiceName = "bench".parse()?;
    let reg_opts = RegisterOptions::with_ttl(ttl).shared_lease(shared);
    let started = Instant::now();
    let guards: Vec<Registration> = futures::stream::iter(0..count)
        .map(|i| {
            let (backend, service, o) = (backend.clone(), service.clone(), reg_opts.clone());
            async move {
                let me =
                    ServiceInstance::new(service, format!("i{i}").parse()?, "10.0.0.1", Some(80));
                backend.register(me, o).await
            }
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let took = started.elapsed();
    tokio::time::sleep(ttl / 3).await;
    let (ka0, cpu0, t0) = (
        cluster.msg_received("LeaseKeepAlive").await?,
        cluster.cpu_seconds_all(),
        Instant::now(),
    );
    tokio::time::sleep(window).await;
    let usage = cluster.usage()?;
    let (ka1, cpu1, secs) = (
        cluster.msg_received("LeaseKeepAlive").await?,
        cluster.cpu_seconds_all(),
        t0.elapsed().as_secs_f64(),
    );
    let mut f = Figures::default();
    f.push("registrations", count as f64, "count");
    f.push("register all", took.as_secs_f64() * 1e3, "ms");
    f.push(
        "steady keepalive requests (3 members)",
        (ka1 - ka0) / secs,
        "req/s",
    );
    f.push(
        "etcd CPU, 3 members",
        (cpu1 - cpu0) / secs * 100.0,
        "% of a core",
    );
    let mem: f64 = usage.iter().map(|u| u.mem_mb).sum();
    f.push("etcd memory, 3 members", mem, "MB");
    drop(guards);
    Ok(f)
}

/// A running `bench s7-watchers` child and the lines it prints.
struct Watchers {
    _child: Child,
}

/// `s7`.
pub async fn watchers(opts: &Opts) -> Result<Figures> {
    let n: usize = opts.num("watchers", 10)?;
    let procs: usize = opts.num("procs", 4)?.clamp(1, n.max(1));
    let changes: usize = opts.num("changes", 30)?;
    let keys: usize = opts.num("keys", 10)?;
    let model = opts.str("model").unwrap_or("prefix").to_owned();
    if model != "prefix" && model != "per-key" {
        return Err(fail(format!("--model {model:?}: prefix or per-key")));
    }
    let engine = opts.str("engine").unwrap_or("confd").to_owned();
    if engine != "confd" && engine != "library" {
        return Err(fail(format!("--engine {engine:?}: confd or library")));
    }
    let fsync = opts.str("fsync").unwrap_or("before").to_owned();
    super::s7_confd::fsync_of(&fsync)?;
    let cluster = Cluster::start("s7w").await?;
    let backend = connect(cluster.endpoints()).await?;
    for k in 0..keys {
        backend.put(&key(k), "0".into(), None).await?;
    }
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, f64)>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    let mut children = Vec::new();
    let endpoints = cluster.endpoints().join(",");
    for p in 0..procs {
        let share = n / procs + usize::from(p < n % procs);
        let mut child = Command::new(&exe)
            .args(["s7-watchers", "--endpoints", &endpoints, "--watchers"])
            .arg(share.to_string())
            .args(["--keys", &keys.to_string(), "--model", &model])
            .args(["--engine", &engine, "--fsync", &fsync, "--dir"])
            .arg(dir.path().join(format!("p{p}")))
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no child stdout"))?;
        let (tx, ready_tx) = (tx.clone(), ready_tx.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let mut it = l.split_whitespace();
                match (it.next(), it.next(), it.next()) {
                    (Some("ready"), _, _) => {
                        let _ = ready_tx.send(());
                    }
                    (Some("seen"), Some(seq), Some(at)) => {
                        if let (Ok(seq), Ok(at)) = (seq.parse(), at.parse()) {
                            let _ = tx.send((seq, at));
                        }
                    }
                    _ => {}
                }
            }
        });
        children.push(Watchers { _child: child });
    }
    let limit = Duration::from_secs(120);
    for _ in 0..procs {
        tokio::time::timeout(limit, ready_rx.recv())
            .await
            .map_err(|_| fail("a watcher process did not get ready in 120 s"))?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let streams = cluster
        .gauge("etcd_debugging_mvcc_watch_stream_total")
        .await?;
    let watches = cluster.gauge("etcd_debugging_mvcc_watcher_total").await?;
    // One change after another; each is waited for in all N watchers.
    let mut seen: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let mut lat = Vec::new();
    let cpu0 = cluster.cpu_seconds_all();
    for seq in 1..=changes as u64 {
        let sent = now_us();
        backend
            .put(&key(seq as usize % keys), seq.to_string().into(), None)
            .await?;
        let all = wait_all(&mut rx, &mut seen, seq, n, limit).await?;
        lat.push((all - sent) / 1e3);
    }
    let cpu1 = cluster.cpu_seconds_all();
    let mut f = Figures::default();
    f.push("watchers", n as f64, "count");
    f.push("watch streams held by etcd (3 members)", streams, "count");
    f.push("watchers held by etcd (3 members)", watches, "count");
    f.latencies("change -> all N files", &lat);
    f.push(
        "etcd CPU per change (3 members)",
        (cpu1 - cpu0) / changes as f64 * 1e3,
        "ms",
    );
    let usage = cluster.usage()?;
    f.push(
        "etcd memory, 3 members",
        usage.iter().map(|u| u.mem_mb).sum(),
        "MB",
    );
    // Kill the leader, then change a key: time until every watcher has the change.
    let leader = cluster.leader().await?;
    let killed = now_us();
    cluster.kill(leader)?;
    let seq = changes as u64 + 1;
    let survivors: Vec<String> = cluster
        .endpoints()
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| (i != leader).then_some(e))
        .collect();
    let writer = loop {
        match connect(survivors.clone()).await {
            Ok(w) => break w,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e),
        }
    };
    loop {
        match writer
            .put(&key(seq as usize % keys), seq.to_string().into(), None)
            .await
        {
            Ok(_) => break,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e),
        }
    }
    let all = wait_all(&mut rx, &mut seen, seq, n, limit).await?;
    f.push(
        "leader killed -> all N have the next change",
        (all - killed) / 1e3,
        "ms",
    );
    drop(children);
    Ok(f)
}

pub(crate) fn key(k: usize) -> Key {
    Key::new(format!("{PREFIX}/k{k:04}")).unwrap_or_else(|_| Key::root())
}

/// Waits until `n` watchers reported `seq`; returns the last report's time (µs since the epoch).
async fn wait_all(
    rx: &mut mpsc::UnboundedReceiver<(u64, f64)>,
    seen: &mut BTreeMap<u64, Vec<f64>>,
    seq: u64,
    n: usize,
    limit: Duration,
) -> Result<f64> {
    let deadline = tokio::time::Instant::now() + limit;
    while seen.get(&seq).map_or(0, Vec::len) < n {
        let got = tokio::time::timeout_at(deadline, rx.recv()).await;
        match got {
            Ok(Some((s, at))) => seen.entry(s).or_default().push(at),
            Ok(None) => return Err(fail("the watcher processes exited")),
            Err(_) => {
                let have = seen.get(&seq).map_or(0, Vec::len);
                return Err(fail(format!(
                    "change {seq}: {have} of {n} watchers had it after {limit:?}"
                )));
            }
        }
    }
    let times = seen.remove(&seq).unwrap_or_default();
    Ok(times.into_iter().fold(0.0, f64::max))
}

/// `s7-watchers` (a child of `s7`): `--watchers` watchers, each with its own connection,
/// writing its view of the prefix to `--dir/w<i>` on every change and printing
/// `seen <value> <µs since the epoch>` for the changed keys' values.
pub async fn child(opts: &Opts) -> Result<()> {
    let endpoints: Vec<String> = opts
        .str("endpoints")
        .ok_or_else(|| fail("--endpoints"))?
        .split(',')
        .map(str::to_owned)
        .collect();
    let dir = PathBuf::from(opts.str("dir").ok_or_else(|| fail("--dir"))?);
    std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    if opts.str("engine") != Some("library") {
        return super::s7_confd::child(opts, endpoints, &dir).await;
    }
    let n: usize = opts.num("watchers", 1)?;
    let keys: usize = opts.num("keys", 10)?;
    let per_key = opts.str("model") == Some("per-key");
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    for w in 0..n {
        let backend = connect(endpoints.clone()).await?;
        let prefixes: Vec<Key> = if per_key {
            (0..keys).map(key).collect()
        } else {
            vec![Key::new(PREFIX)?]
        };
        let mut streams = Vec::new();
        for p in &prefixes {
            streams.push(backend.watch_prefix(p, None).await?);
        }
        let file = dir.join(format!("w{w}"));
        let ready = ready_tx.clone();
        tokio::spawn(async move {
            let _backend = backend;
            let mut merged = futures::stream::select_all(streams);
            let mut view: BTreeMap<String, String> = BTreeMap::new();
            let mut resets = 0;
            while let Some(ev) = merged.next().await {
                let mut changed = Vec::new();
                match ev {
                    Ok(KvEvent::Reset(snap)) => {
                        for (k, p) in snap.pairs {
                            view.insert(k.to_string(), String::from_utf8_lossy(&p.value).into());
                        }
                        resets += 1;
                        if resets == prefixes.len() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(KvEvent::Changed { changes, .. }) => {
                        for c in changes {
                            match c {
                                KvChange::Put(p) => {
                                    let v = String::from_utf8_lossy(&p.value).into_owned();
                                    view.insert(p.key.to_string(), v.clone());
                                    changed.push(v);
                                }
                                KvChange::Delete(k) => {
                                    view.remove(k.as_str());
                                }
                            }
                        }
                    }
                    _ => continue,
                }
                if changed.is_empty() {
                    continue;
                }
                write_view(&file, &view);
                let at = now_us();
                for v in changed {
                    println!("seen {v} {at:.0}");
                }
            }
        });
    }
    for _ in 0..n {
        ready_rx.recv().await;
    }
    println!("ready");
    // Run until the parent kills us.
    std::future::pending::<()>().await;
    Ok(())
}

fn write_view(file: &Path, view: &BTreeMap<String, String>) {
    let text: String = view.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    let tmp = file.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}
