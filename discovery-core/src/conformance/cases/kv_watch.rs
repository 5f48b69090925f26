//! Cases of the [`KvView`](crate::KvView) and [`KvStore`](crate::KvStore) contracts about watches.

use crate::conformance::util::*;
use crate::conformance::Fixture;
use crate::{KvChange, KvEvent, KvStore, KvView};

/// `kv_watch_starts_with_reset`: a fresh watch first yields a `Reset` with the full state under
/// the prefix.
pub async fn kv_watch_starts_with_reset<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let mut empty = ok(b.watch_prefix(&key("/app"), None).await, "watch");
    assert!(first_kv_reset(&mut empty).await.pairs.is_empty());
    ok(b.put(&key("/app/a"), "1".into(), None).await, "put");
    ok(b.put(&key("/app/b/c"), "2".into(), None).await, "put");
    ok(b.put(&key("/other"), "3".into(), None).await, "put");
    let mut w = ok(b.watch_prefix(&key("/app"), None).await, "watch");
    let reset = first_kv_reset(&mut w).await;
    let list = ok(b.list(&[key("/app")]).await, "list");
    assert_eq!(reset.pairs, list.pairs);
    assert_eq!(reset.pairs.len(), 2);
}

/// `kv_watch_fold_equals_list`: folding the stream equals `list` at the same revision.
pub async fn kv_watch_fold_equals_list<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    ok(b.put(&key("/app/old"), "0".into(), None).await, "put");
    let mut w = ok(b.watch_prefix(&key("/app"), None).await, "watch");
    let mut view = first_kv_reset(&mut w).await;
    ok(b.put(&key("/app/a"), "1".into(), None).await, "put");
    ok(b.put(&key("/app/b"), "2".into(), None).await, "put");
    ok(b.delete(&key("/app/old")).await, "delete");
    ok(b.put(&key("/app/a"), "3".into(), None).await, "put");
    let last = ok(b.put(&key("/app/c/d"), "4".into(), None).await, "put");
    let list = ok(b.list(&[key("/app")]).await, "list");
    fold_kv_until(&mut w, &mut view, "the changes", |v| v.revision >= last).await;
    assert_eq!(view.pairs, list.pairs);
    assert_eq!(view.revision, last);
}

/// `kv_watch_resume_no_loss_no_dup`: a watch with `after = Some(r)` yields exactly the changes
/// after `r`, each once (or a `Reset` when they are no longer available).
pub async fn kv_watch_resume_no_loss_no_dup<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let r1 = ok(b.put(&key("/app/a"), "1".into(), None).await, "put");
    ok(b.put(&key("/app/b"), "2".into(), None).await, "put");
    ok(b.delete(&key("/app/a")).await, "delete");
    ok(b.put(&key("/app/c"), "3".into(), None).await, "put");
    let last = ok(b.put(&key("/app/b"), "4".into(), None).await, "put");
    let mut w = ok(b.watch_prefix(&key("/app"), Some(r1)).await, "resume");
    let mut changes = Vec::new();
    let mut reset = false;
    let mut prev = r1;
    while prev < last {
        match next(&mut w, "the changes after the resume point").await {
            KvEvent::Reset(s) => {
                let list = ok(b.list(&[key("/app")]).await, "list");
                assert_eq!(s.pairs, list.pairs, "a Reset must hold the current state");
                reset = true;
                prev = s.revision;
            }
            KvEvent::Changed {
                revision,
                changes: cs,
            } => {
                assert!(revision > prev, "revision {revision} after {prev}");
                changes.extend(cs.iter().map(describe));
                prev = revision;
            }
            _ => {}
        }
    }
    if !reset {
        assert_eq!(
            changes,
            [
                "put /app/b=2",
                "delete /app/a",
                "put /app/c=3",
                "put /app/b=4"
            ],
            "lost, duplicated or reordered changes"
        );
    }
    // Nothing else is pending: the next event is exactly the next change.
    ok(b.put(&key("/app/e"), "5".into(), None).await, "put");
    match next(&mut w, "the next put").await {
        KvEvent::Changed { changes, .. } => {
            let got: Vec<String> = changes.iter().map(describe).collect();
            assert_eq!(
                got,
                ["put /app/e=5"],
                "a duplicate arrived before the next change"
            );
        }
        other => panic!("expected the next put, got {other:?}"),
    }
}

fn describe(c: &KvChange) -> String {
    match c {
        KvChange::Put(p) => format!("put {}={}", p.key, String::from_utf8_lossy(&p.value)),
        KvChange::Delete(k) => format!("delete {k}"),
    }
}

/// `kv_watch_reset_after_compaction`: resuming below the compaction point yields a `Reset` with
/// the current state.
pub async fn kv_watch_reset_after_compaction<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let r1 = ok(b.put(&key("/app/a"), "1".into(), None).await, "put");
    ok(b.put(&key("/app/b"), "2".into(), None).await, "put");
    ok(b.delete(&key("/app/a")).await, "delete");
    ok(b.put(&key("/app/b"), "3".into(), None).await, "put");
    fixture.compact(&b).await;
    let mut w = ok(b.watch_prefix(&key("/app"), Some(r1)).await, "resume");
    let list = ok(b.list(&[key("/app")]).await, "list");
    match next(&mut w, "the reset").await {
        KvEvent::Reset(s) => assert_eq!(s.pairs, list.pairs),
        other => panic!("resuming below the compaction point must yield a Reset, got {other:?}"),
    }
}

/// `kv_put_with_ttl_expires`: a put with a TTL disappears, and watchers see a delete, once the
/// TTL passes without being refreshed.
pub async fn kv_put_with_ttl_expires<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let k = key("/app/ephemeral");
    ok(b.put(&key("/app/stays"), "1".into(), None).await, "put");
    let mut w = ok(b.watch_prefix(&key("/app"), None).await, "watch");
    let mut view = first_kv_reset(&mut w).await;
    ok(
        b.put(&k, "soon gone".into(), Some(KV_TTL)).await,
        "put with TTL",
    );
    assert!(ok(b.get(&k).await, "get").is_some());
    let events = fold_kv_until(&mut w, &mut view, "the put", |v| v.pairs.contains_key(&k)).await;
    assert!(!events.is_empty());
    let events = fold_kv_until(&mut w, &mut view, "the expiry", |v| {
        !v.pairs.contains_key(&k)
    })
    .await;
    let deleted = events.iter().any(|e| {
        matches!(e, KvEvent::Changed { changes, .. } if changes.contains(&KvChange::Delete(k.clone())))
    });
    assert!(
        deleted,
        "the expiry was not reported as a delete: {events:?}"
    );
    assert!(ok(b.get(&k).await, "get").is_none());
    assert!(ok(b.get(&key("/app/stays")).await, "get").is_some());
}

/// Not a contract sentence of its own: a watch of `/test` never reports `/testing`.
pub async fn kv_watch_prefix_boundary<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let mut w = ok(b.watch_prefix(&key("/test"), None).await, "watch");
    first_kv_reset(&mut w).await;
    ok(b.put(&key("/testing/x"), "no".into(), None).await, "put");
    ok(b.put(&key("/testing"), "no".into(), None).await, "put");
    ok(b.put(&key("/test/a"), "yes".into(), None).await, "put");
    match next(&mut w, "the put under /test").await {
        KvEvent::Changed { changes, .. } => {
            let got: Vec<String> = changes.iter().map(describe).collect();
            assert_eq!(got, ["put /test/a=yes"], "the watch of /test saw /testing");
        }
        other => panic!("expected the put of /test/a, got {other:?}"),
    }
}
