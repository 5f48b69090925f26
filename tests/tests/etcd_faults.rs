//! Fault tests on a real etcd: SIGKILL and restart under load, compaction past a watcher, lease
//! expiry while etcd is down. Each test owns its server (Docker or process mode).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{
    Key, KvChange, KvEvent, KvSnapshot, KvStore, KvView, LeaseState, RegisterOptions, Registry,
    Revision, ServiceInstance, Watcher,
};
use discovery_etcd::EtcdBackend;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, unique};
use futures::StreamExt;
use tokio::sync::{watch, Mutex};

/// Hang guard for every wait.
const GUARD: Duration = Duration::from_secs(60);
const CYCLES: usize = 10;

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("key {s}: {e}"))
}

/// Retries `op` while it fails (etcd just restarted), up to [`GUARD`].
async fn retry<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = discovery_core::Result<T>>,
{
    let start = std::time::Instant::now();
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if start.elapsed() < GUARD => {
                tracing::debug!(error = %e, "{what}: retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// What the consumer of a watch observed.
#[derive(Default)]
struct Seen {
    /// The revision of the first `Reset`.
    reset: Revision,
    /// The revision of the last `Changed` event.
    last_changed: Revision,
    /// Every change after the first `Reset`, in order.
    changes: Vec<KvChange>,
    /// `Reset` events after the first one.
    extra_resets: usize,
    /// Retryable `Err` items (the watch reporting its reconnects).
    transient_errors: usize,
}

/// Folds `prefix`'s watch into a snapshot published on `tx`, recording what it saw.
async fn consume(
    backend: EtcdBackend,
    prefix: Key,
    tx: watch::Sender<KvSnapshot>,
    seen: Arc<std::sync::Mutex<Seen>>,
) {
    let mut stream = backend
        .watch_prefix(&prefix, None)
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"));
    let mut state = KvSnapshot::default();
    let mut first = true;
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(ev) => ev,
            Err(e) if e.is_retryable() => {
                seen.lock().unwrap().transient_errors += 1;
                continue;
            }
            Err(e) => panic!("the watch failed for good: {e}"),
        };
        {
            let mut s = seen.lock().unwrap();
            match &event {
                KvEvent::Reset(snap) if first => {
                    first = false;
                    s.reset = snap.revision;
                }
                KvEvent::Reset(_) => s.extra_resets += 1,
                KvEvent::Changed { revision, changes } => {
                    assert!(!changes.is_empty(), "an empty Changed at {revision}");
                    let last = s.last_changed;
                    assert!(
                        *revision > last,
                        "revision {revision} after {last}: duplicate"
                    );
                    s.last_changed = *revision;
                    s.changes.extend(changes.iter().cloned());
                }
                _ => {}
            }
        }
        state.apply(event);
        tx.send_replace(state.clone());
    }
}

/// (a) SIGKILL + restart with writes in flight, ten times: after every cycle the folded state
/// equals etcd's, every acknowledged write was seen exactly once, and the consumer's revisions
/// are exactly etcd's history for the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_restart_under_writes_loses_and_duplicates_nothing() {
    let server = EtcdServer::start().await;
    let ns = format!("/{}", unique("faults"));
    let backend = server.backend(&ns).await;
    let prefix = key("/app");

    let (tx, mut folded) = watch::channel(KvSnapshot::default());
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let consumer = tokio::spawn(consume(backend.clone(), prefix.clone(), tx, seen.clone()));

    // The writer: puts and deletes on 16 keys (plus noise beside the prefix); the gate lets the
    // checker pause it. Acknowledged put revisions are recorded.
    let gate = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let writer = {
        let (backend, gate, stop, acked) =
            (backend.clone(), gate.clone(), stop.clone(), acked.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _open = gate.lock().await;
                i += 1;
                let k = key(&format!("/app/k{}", i % 16));
                let result = if i % 5 == 0 {
                    backend.delete(&k).await.map(|_| None)
                } else if i % 7 == 0 {
                    backend
                        .put(&key("/apple/noise"), "x".into(), None)
                        .await
                        .map(|_| None)
                } else {
                    backend
                        .put(&k, format!("v{i}").into(), None)
                        .await
                        .map(Some)
                };
                match result {
                    Ok(Some(rev)) => {
                        acked.lock().unwrap().insert(rev);
                    }
                    Ok(None) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
    };

    for cycle in 0..CYCLES {
        let before = acked.lock().unwrap().len();
        // Let writes flow, then kill etcd in the middle of them.
        eventually("writes before the kill", GUARD, || {
            let n = acked.lock().unwrap().len();
            async move { (n >= before + 20).then_some(()) }
        })
        .await;
        server.kill().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.restart().await;
        let after_restart = acked.lock().unwrap().len();
        eventually("writes after the restart", GUARD, || {
            let n = acked.lock().unwrap().len();
            async move { (n >= after_restart + 10).then_some(()) }
        })
        .await;

        // Pause the writer and compare the consumer's state with etcd's.
        let pause = gate.lock().await;
        let truth = backend.list(std::slice::from_ref(&prefix)).await.unwrap();
        let state = tokio::time::timeout(GUARD, folded.wait_for(|s| s.revision >= truth.revision))
            .await
            .unwrap_or_else(|_| panic!("cycle {cycle}: the watch did not reach {}", truth.revision))
            .unwrap()
            .clone();
        assert_eq!(
            state.pairs, truth.pairs,
            "cycle {cycle}: folded state differs from etcd"
        );
        drop(pause);
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();

    // Every acknowledged put was delivered, and nothing twice (checked in `consume`).
    let end = backend.current_revision().await.unwrap();
    tokio::time::timeout(GUARD, folded.wait_for(|s| s.revision >= end))
        .await
        .expect("the watch did not reach the final revision")
        .unwrap();
    // No more writes: take what the consumer saw.
    let s = std::mem::take(&mut *seen.lock().unwrap());
    let put_revs: Vec<Revision> = s
        .changes
        .iter()
        .filter_map(|c| match c {
            KvChange::Put(p) => Some(p.mod_revision),
            KvChange::Delete(_) => None,
        })
        .collect();
    assert!(
        put_revs.windows(2).all(|w| w[0] < w[1]),
        "a put was delivered twice or out of order"
    );
    let seen_revs: BTreeSet<Revision> = put_revs.into_iter().collect();
    let acked: BTreeSet<Revision> = acked.lock().unwrap().split_off(&s.reset.next());
    let lost: Vec<_> = acked.difference(&seen_revs).collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes never delivered: {lost:?}"
    );

    // The consumer saw exactly the prefix's history, as a fresh watch replays it.
    let mut replay = backend.watch_prefix(&prefix, Some(s.reset)).await.unwrap();
    let mut history = Vec::new();
    let mut at = s.reset;
    while at < end {
        match tokio::time::timeout(GUARD, replay.next())
            .await
            .expect("replay hung")
        {
            Some(Ok(KvEvent::Changed { revision, changes })) => {
                history.extend(changes);
                at = revision;
            }
            Some(Ok(KvEvent::Progress(r))) => at = r,
            other => panic!("replay: {other:?}"),
        }
    }
    assert_eq!(
        s.changes.len(),
        history.len(),
        "the consumer saw a different number of changes"
    );
    assert!(
        s.changes == history,
        "the consumer's changes differ from etcd's history"
    );
    assert_eq!(
        s.extra_resets, 0,
        "no compaction happened, so no Reset was due"
    );
    assert!(
        s.transient_errors > 0,
        "ten kills went unnoticed by the watch"
    );
    consumer.abort();
}

/// (b) A watcher whose stream broke while etcd compacted past its revision gets a `Reset` with
/// the current state (not an error, not stale changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_past_the_watcher_yields_a_reset() {
    let server = EtcdServer::start().await;
    let backend = server.backend(&format!("/{}", unique("compact"))).await;
    let prefix = key("/app");
    backend.put(&key("/app/a"), "1".into(), None).await.unwrap();
    let mut w = backend.watch_prefix(&prefix, None).await.unwrap();
    match tokio::time::timeout(GUARD, w.next())
        .await
        .expect("first event")
    {
        Some(Ok(KvEvent::Reset(s))) => assert_eq!(s.pairs.len(), 1),
        other => panic!("expected a Reset first, got {other:?}"),
    }
    // The consumer is idle while etcd dies, comes back, moves on and compacts.
    server.kill().await;
    server.restart().await;
    let b = key("/app/b");
    retry("put b", || backend.put(&b, "2".into(), None)).await;
    backend.delete(&key("/app/a")).await.unwrap();
    let rev = backend.put(&key("/app/c"), "3".into(), None).await.unwrap();
    backend.compact(rev).await.unwrap();
    let truth = backend.list(std::slice::from_ref(&prefix)).await.unwrap();

    loop {
        match tokio::time::timeout(GUARD, w.next())
            .await
            .expect("the watch hung")
        {
            Some(Err(e)) if e.is_retryable() => continue,
            Some(Ok(KvEvent::Reset(s))) => {
                assert_eq!(s.pairs, truth.pairs);
                assert!(
                    s.revision >= rev,
                    "reset at {} below the compaction {rev}",
                    s.revision
                );
                break;
            }
            other => panic!("expected a Reset after the compaction, got {other:?}"),
        }
    }
}

/// (c) etcd down for longer than the TTL: the registration goes `Reregistering`, and once etcd is
/// back it is `Live` again with its key present and kept alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_while_down_reregisters_after_recovery() {
    let server = EtcdServer::start().await;
    let backend = server.backend(&format!("/{}", unique("lease"))).await;
    let svc = "web".parse().unwrap();
    let me = ServiceInstance::new(
        "web".parse().unwrap(),
        "w1".parse().unwrap(),
        "10.0.0.1",
        Some(80),
    );
    let ttl = Duration::from_secs(2);
    let mut reg = backend
        .register(me, RegisterOptions::with_ttl(ttl))
        .await
        .unwrap();
    let instance_key = backend.layout().instance_key(reg.instance());
    let old_lease = backend
        .lease_of(&instance_key)
        .await
        .unwrap()
        .expect("a lease");

    // Record every state the registration goes through.
    let mut states = reg.subscribe();
    let history = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = {
        let history = history.clone();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let s = states.borrow_and_update().clone();
                history.lock().unwrap().push(s);
            }
        })
    };

    server.kill().await;
    tokio::time::timeout(
        GUARD,
        reg.wait_for(|s| matches!(s, LeaseState::Reregistering { .. })),
    )
    .await
    .expect("the registration never noticed that etcd was gone")
    .unwrap();
    tokio::time::sleep(ttl).await;
    server.restart().await;
    tokio::time::timeout(GUARD, reg.wait_for(|s| *s == LeaseState::Live))
        .await
        .expect("not Live again after etcd came back")
        .unwrap();

    let new_lease = backend
        .lease_of(&instance_key)
        .await
        .unwrap()
        .expect("the key is back");
    assert_ne!(new_lease, old_lease, "re-registration must use a new lease");
    // Kept alive past several TTLs.
    tokio::time::sleep(ttl * 2).await;
    let snap = backend.snapshot(&svc).await.unwrap();
    assert!(
        snap.instances.contains_key(&"w1".parse().unwrap()),
        "{snap:?}"
    );
    assert_eq!(reg.state(), LeaseState::Live);
    let seen = history.lock().unwrap().clone();
    let rereg = seen
        .iter()
        .position(|s| matches!(s, LeaseState::Reregistering { .. }));
    let live = seen.iter().rposition(|s| *s == LeaseState::Live);
    assert!(
        matches!((rereg, live), (Some(a), Some(b)) if a < b),
        "states: {seen:?}"
    );

    reg.deregister().await.unwrap();
    assert!(
        backend.get(&instance_key).await.unwrap().is_none(),
        "deregister removes the key"
    );
    recorder.abort();
}
