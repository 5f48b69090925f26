//! Unit tests of the in-memory backend (paused time: TTLs pass instantly).

use std::time::Duration;

use futures::StreamExt;

use super::MemoryBackend;
use crate::{
    Key, KvChange, KvEvent, KvSnapshot, KvStore, KvView, KvWatchStream, LeaseKv, RegisterOptions,
    Registry, Revision, ServiceInstance, Watcher,
};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

async fn next(w: &mut KvWatchStream) -> KvEvent {
    tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("an event within the hang guard")
        .expect("the stream goes on")
        .expect("no error")
}

fn puts(event: &KvEvent) -> Vec<(String, String)> {
    match event {
        KvEvent::Changed { changes, .. } => changes
            .iter()
            .map(|c| match c {
                KvChange::Put(p) => (p.key.to_string(), String::from_utf8_lossy(&p.value).into()),
                KvChange::Delete(k) => (k.to_string(), "<deleted>".into()),
            })
            .collect(),
        other => panic!("expected Changed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn revisions_start_at_one_and_grow_per_change() {
    let m = MemoryBackend::new();
    assert_eq!(m.revision(), Revision(1));
    assert_eq!(
        m.put(&key("/a"), "1".into(), None).await.unwrap(),
        Revision(2)
    );
    assert!(m.delete(&key("/a")).await.unwrap());
    assert_eq!(m.revision(), Revision(3));
    assert!(!m.delete(&key("/a")).await.unwrap());
    assert_eq!(
        m.revision(),
        Revision(3),
        "a delete of nothing is no change"
    );
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_deletes_the_key_and_watchers_see_it() {
    let m = MemoryBackend::new();
    let mut w = m.watch_prefix(&key("/eph"), None).await.unwrap();
    assert!(matches!(next(&mut w).await, KvEvent::Reset(s) if s.pairs.is_empty()));
    m.put(&key("/eph/x"), "1".into(), Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(puts(&next(&mut w).await), [("/eph/x".into(), "1".into())]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        m.get(&key("/eph/x")).await.unwrap().is_some(),
        "not yet expired"
    );
    assert_eq!(
        puts(&next(&mut w).await),
        [("/eph/x".into(), "<deleted>".into())]
    );
    assert!(m.get(&key("/eph/x")).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn keepalive_keeps_a_lease_alive_and_revoke_deletes_in_one_revision() {
    let m = MemoryBackend::new();
    let lease = m.grant(Duration::from_secs(3)).await.unwrap();
    m.put_with_lease(&key("/l/a"), "a".into(), lease)
        .await
        .unwrap();
    m.put_with_lease(&key("/l/b"), "b".into(), lease)
        .await
        .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            m.keep_alive(lease).await.unwrap(),
            Some(Duration::from_secs(3))
        );
    }
    assert_eq!(m.list(&[key("/l")]).await.unwrap().pairs.len(), 2);
    let before = m.revision();
    m.revoke(lease).await.unwrap();
    assert_eq!(m.revision(), before.next(), "both keys go in one revision");
    assert!(m.list(&[key("/l")]).await.unwrap().pairs.is_empty());
    assert_eq!(m.keep_alive(lease).await.unwrap(), None);
    m.revoke(lease).await.unwrap();
    assert!(m
        .put_with_lease(&key("/l/c"), "c".into(), lease)
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn unrefreshed_lease_expires() {
    let m = MemoryBackend::new();
    let lease = m.grant(Duration::from_secs(3)).await.unwrap();
    m.put_with_lease(&key("/l/a"), "a".into(), lease)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(m.get(&key("/l/a")).await.unwrap().is_none());
    assert_eq!(m.keep_alive(lease).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn registration_survives_many_ttls_and_expire_hook_triggers_reregistration() {
    let m = MemoryBackend::new();
    let web = "web".parse().unwrap();
    let inst = ServiceInstance::new(
        "web".parse().unwrap(),
        "w1".parse().unwrap(),
        "10.0.0.1",
        Some(80),
    );
    let reg = m
        .register(inst, RegisterOptions::with_ttl(Duration::from_secs(3)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(m.snapshot(&web).await.unwrap().instances.len(), 1);
    m.expire_leases();
    assert!(m.snapshot(&web).await.unwrap().instances.is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        m.snapshot(&web).await.unwrap().instances.len(),
        1,
        "re-registered"
    );
    reg.deregister().await.unwrap();
    assert!(m.snapshot(&web).await.unwrap().instances.is_empty());
}

#[tokio::test(start_paused = true)]
async fn resume_replays_exactly_the_missed_changes() {
    let m = MemoryBackend::new();
    let r1 = m.put(&key("/r/a"), "1".into(), None).await.unwrap();
    m.put(&key("/x"), "other prefix".into(), None)
        .await
        .unwrap();
    m.put(&key("/r/b"), "2".into(), None).await.unwrap();
    m.delete(&key("/r/a")).await.unwrap();
    let mut w = m.watch_prefix(&key("/r"), Some(r1)).await.unwrap();
    assert_eq!(puts(&next(&mut w).await), [("/r/b".into(), "2".into())]);
    assert_eq!(
        puts(&next(&mut w).await),
        [("/r/a".into(), "<deleted>".into())]
    );
    m.put(&key("/r/c"), "3".into(), None).await.unwrap();
    assert_eq!(puts(&next(&mut w).await), [("/r/c".into(), "3".into())]);
}

#[tokio::test(start_paused = true)]
async fn resume_below_history_or_compaction_resets() {
    let m = MemoryBackend::builder().history(2).build();
    let r1 = m.put(&key("/h/a"), "1".into(), None).await.unwrap();
    for v in ["2", "3", "4"] {
        m.put(&key("/h/a"), v.into(), None).await.unwrap();
    }
    let mut w = m.watch_prefix(&key("/h"), Some(r1)).await.unwrap();
    match next(&mut w).await {
        KvEvent::Reset(s) => assert_eq!(s.pairs[&key("/h/a")].value, "4"),
        other => panic!("expected a reset below the history, got {other:?}"),
    }
    // Two revisions back is still in the history.
    let recent = m.revision().get() - 2;
    let mut w = m
        .watch_prefix(&key("/h"), Some(Revision(recent)))
        .await
        .unwrap();
    assert_eq!(puts(&next(&mut w).await), [("/h/a".into(), "3".into())]);
    m.compact();
    let mut w = m
        .watch_prefix(&key("/h"), Some(Revision(recent)))
        .await
        .unwrap();
    assert!(matches!(next(&mut w).await, KvEvent::Reset(_)));
    // Resuming at the current revision after compaction loses nothing: no reset.
    let mut w = m
        .watch_prefix(&key("/h"), Some(m.revision()))
        .await
        .unwrap();
    m.put(&key("/h/b"), "5".into(), None).await.unwrap();
    assert_eq!(puts(&next(&mut w).await), [("/h/b".into(), "5".into())]);
}

#[tokio::test(start_paused = true)]
async fn lagging_watch_gets_a_consistent_reset() {
    let m = MemoryBackend::builder().watch_buffer(2).build();
    let mut w = m.watch_prefix(&key("/lag"), None).await.unwrap();
    let mut view = match next(&mut w).await {
        KvEvent::Reset(s) => s,
        other => panic!("{other:?}"),
    };
    for i in 0..10 {
        m.put(&key(&format!("/lag/k{i}")), i.to_string().into(), None)
            .await
            .unwrap();
    }
    let event = next(&mut w).await;
    assert!(
        matches!(event, KvEvent::Reset(_)),
        "expected a reset after lag, got {event:?}"
    );
    view.apply(event);
    // Changes after the reset follow it exactly.
    m.delete(&key("/lag/k0")).await.unwrap();
    let last = m.put(&key("/lag/k10"), "10".into(), None).await.unwrap();
    while view.revision < last {
        view.apply(next(&mut w).await);
    }
    assert_eq!(view, m.list(&[key("/lag")]).await.unwrap());
    assert_eq!(view.pairs.len(), 10);
}

#[tokio::test(start_paused = true)]
async fn namespaces_share_the_store_but_not_keys() {
    let root = MemoryBackend::new();
    let a = root.namespaced("/a");
    let nested = a.namespaced("b/");
    nested.put(&key("/k"), "v".into(), None).await.unwrap();
    assert!(a.get(&key("/b/k")).await.unwrap().is_some());
    assert!(root.get(&key("/a/b/k")).await.unwrap().is_some());
    assert!(root
        .namespaced("/ab")
        .list(&[Key::root()])
        .await
        .unwrap()
        .pairs
        .is_empty());
    let all: KvSnapshot = root.list(&[Key::root()]).await.unwrap();
    assert_eq!(
        all.pairs.keys().map(Key::as_str).collect::<Vec<_>>(),
        ["/a/b/k"]
    );
}

#[tokio::test(start_paused = true)]
async fn watch_ends_with_closed_when_the_store_is_dropped() {
    let m = MemoryBackend::new();
    let mut w = m.watch_prefix(&Key::root(), None).await.unwrap();
    assert!(matches!(next(&mut w).await, KvEvent::Reset(_)));
    drop(m);
    let item = w.next().await.expect("a final item");
    assert!(matches!(item, Err(crate::Error::Closed { .. })), "{item:?}");
    assert!(w.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn dropped_watches_end_retryably_and_resume_without_loss() {
    let root = MemoryBackend::new();
    let a = root.namespaced("/a");
    let b = root.namespaced("/b");
    let mut wa = a.watch_prefix(&Key::root(), None).await.unwrap();
    let mut wb = b.watch_prefix(&Key::root(), None).await.unwrap();
    let ra = match next(&mut wa).await {
        KvEvent::Reset(s) => s.revision,
        other => panic!("{other:?}"),
    };
    next(&mut wb).await;
    a.drop_watches();
    let item = wa.next().await.expect("a final item");
    assert!(matches!(&item, Err(e) if e.is_retryable()), "{item:?}");
    assert!(wa.next().await.is_none());
    a.put(&key("/k"), "1".into(), None).await.unwrap();
    b.put(&key("/k"), "2".into(), None).await.unwrap();
    assert_eq!(
        puts(&next(&mut wb).await),
        [("/k".into(), "2".into())],
        "b's watch goes on"
    );
    let mut wa = a.watch_prefix(&Key::root(), Some(ra)).await.unwrap();
    assert_eq!(puts(&next(&mut wa).await), [("/k".into(), "1".into())]);
}
