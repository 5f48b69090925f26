//! Cases of the [`Watcher`](crate::Watcher) contract.

use crate::conformance::util::*;
use crate::conformance::Fixture;
use crate::{Change, Error, KvStore, Registry, WatchEvent, Watcher};

/// `watch_starts_with_reset`: a fresh watch first yields a `Reset` with every current instance,
/// even when there is none.
pub async fn watch_starts_with_reset<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let mut empty = ok(b.watch(&web, None).await, "watch");
    let snap = first_reset(&mut empty).await;
    assert!(snap.instances.is_empty(), "{snap:?}");
    let r1 = ok(
        b.register(instance(&web, "web-1", 8001), opts()).await,
        "register",
    );
    let r2 = ok(
        b.register(instance(&web, "web-2", 8002), opts()).await,
        "register",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let snap = first_reset(&mut w).await;
    assert_eq!(snap.instances.len(), 2, "{snap:?}");
    assert_same(
        &snap.instances[&id("web-1")],
        &instance(&web, "web-1", 8001),
    );
    assert_same(
        &snap.instances[&id("web-2")],
        &instance(&web, "web-2", 8002),
    );
    ok(r1.deregister().await, "deregister");
    ok(r2.deregister().await, "deregister");
}

/// `watch_changes_strictly_increase`: successive `Changed` revisions strictly increase and no
/// `Changed` is empty.
pub async fn watch_changes_strictly_increase<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    let start = view.revision;
    let mut regs = Vec::new();
    for i in 0..3u16 {
        let inst = instance(&web, &format!("web-{i}"), 8000 + i);
        regs.push(ok(b.register(inst, opts()).await, "register"));
    }
    let first = regs.remove(0);
    ok(first.deregister().await, "deregister");
    let mut events = fold_until(&mut w, &mut view, "three registrations", |v| {
        v.instances.len() == 2 && !v.instances.contains_key(&id("web-0"))
    })
    .await;
    for r in regs {
        ok(r.deregister().await, "deregister");
    }
    events.extend(
        fold_until(&mut w, &mut view, "the removals", |v| {
            v.instances.is_empty()
        })
        .await,
    );
    let mut last = start;
    for e in &events {
        if let WatchEvent::Changed { revision, changes } = e {
            assert!(!changes.is_empty(), "empty Changed event at {revision}");
            assert!(
                *revision > last,
                "revision {revision} after {last}: {events:?}"
            );
            last = *revision;
        }
    }
}

/// `watch_fold_equals_snapshot`: folding the stream equals `snapshot` at the same revision.
pub async fn watch_fold_equals_snapshot<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let before = ok(
        b.register(instance(&web, "web-0", 8000), opts()).await,
        "register",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    let mut regs = Vec::new();
    for i in 1..4u16 {
        let inst = instance(&web, &format!("web-{i}"), 8000 + i);
        regs.push(ok(b.register(inst, opts()).await, "register"));
    }
    ok(before.deregister().await, "deregister");
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert_eq!(snap.instances.len(), 3, "{snap:?}");
    fold_until(&mut w, &mut view, "the folded view to catch up", |v| {
        v.instances.keys().eq(snap.instances.keys())
    })
    .await;
    assert_eq!(view.instances, snap.instances);
    assert!(view.revision <= snap.revision, "{view:?} vs {snap:?}");
    for r in regs {
        ok(r.deregister().await, "deregister");
    }
}

/// `watch_resume_no_loss_no_dup`: a watch with `after = Some(r)` yields every change after `r`
/// exactly once (or a `Reset` when they are no longer available).
pub async fn watch_resume_no_loss_no_dup<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    let a = ok(
        b.register(instance(&web, "a", 8001), opts()).await,
        "register a",
    );
    fold_until(&mut w, &mut view, "a", |v| {
        v.instances.contains_key(&id("a"))
    })
    .await;
    let resume_at = view.revision;
    drop(w);
    let c = ok(
        b.register(instance(&web, "c", 8002), opts()).await,
        "register c",
    );
    ok(a.deregister().await, "deregister a");
    let mut w = ok(b.watch(&web, Some(resume_at)).await, "resume");
    let mut changes = Vec::new();
    let caught_up = |v: &crate::Snapshot| {
        v.instances.contains_key(&id("c")) && !v.instances.contains_key(&id("a"))
    };
    while !caught_up(&view) {
        let event = next(&mut w, "the changes after the resume point").await;
        match &event {
            WatchEvent::Reset(s) => {
                let snap = ok(b.snapshot(&web).await, "snapshot");
                assert_eq!(
                    s.instances, snap.instances,
                    "a Reset must hold the current state"
                );
            }
            WatchEvent::Changed {
                revision,
                changes: cs,
            } => {
                assert!(*revision > resume_at, "{event:?} is not after {resume_at}");
                changes.extend(cs.iter().map(describe));
            }
            _ => {}
        }
        view.apply(event);
    }
    if !changes.is_empty() {
        changes.sort();
        assert_eq!(
            changes,
            ["remove a", "upsert c"],
            "lost or duplicated changes"
        );
    }
    // Nothing else is pending: the next event is exactly the next change.
    let d = ok(
        b.register(instance(&web, "d", 8003), opts()).await,
        "register d",
    );
    match next(&mut w, "the registration of d").await {
        WatchEvent::Changed { changes, .. } => {
            let got: Vec<String> = changes.iter().map(describe).collect();
            assert_eq!(
                got,
                ["upsert d"],
                "a duplicate arrived before the next change"
            );
        }
        other => panic!("expected the registration of d, got {other:?}"),
    }
    ok(c.deregister().await, "deregister c");
    ok(d.deregister().await, "deregister d");
}

fn describe(c: &Change) -> String {
    match c {
        Change::Upsert(i) => format!("upsert {}", i.id),
        Change::Remove(id) => format!("remove {id}"),
    }
}

/// `watch_reset_after_compaction`: resuming from a compacted revision yields a `Reset` holding
/// the current state.
pub async fn watch_reset_after_compaction<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let a = ok(
        b.register(instance(&web, "a", 8001), opts()).await,
        "register a",
    );
    let old = ok(b.snapshot(&web).await, "snapshot").revision;
    let c = ok(
        b.register(instance(&web, "c", 8002), opts()).await,
        "register c",
    );
    ok(a.deregister().await, "deregister a");
    fixture.compact(&b).await;
    let mut w = ok(b.watch(&web, Some(old)).await, "resume below compaction");
    let snap = ok(b.snapshot(&web).await, "snapshot");
    match next(&mut w, "the reset").await {
        WatchEvent::Reset(s) => assert_eq!(s.instances, snap.instances),
        other => panic!("resuming below the compaction point must yield a Reset, got {other:?}"),
    }
    ok(c.deregister().await, "deregister c");
}

/// `watch_reports_last_instance_removed`: removing the last instance is reported as a `Remove`,
/// leaving an empty service.
pub async fn watch_reports_last_instance_removed<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let reg = ok(
        b.register(instance(&web, "last", 8001), opts()).await,
        "register",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    assert_eq!(view.instances.len(), 1, "{view:?}");
    ok(reg.deregister().await, "deregister");
    let events = fold_until(&mut w, &mut view, "the removal", |v| v.instances.is_empty()).await;
    let removed = events.iter().any(|e| {
        matches!(e, WatchEvent::Changed { changes, .. } if changes.contains(&Change::Remove(id("last"))))
    });
    assert!(
        removed,
        "the removal was not reported as a Remove: {events:?}"
    );
}

/// `watch_bad_value_does_not_break_stream`: an undecodable instance value yields an
/// `InvalidData` item naming its key, and the stream goes on.
pub async fn watch_bad_value_does_not_break_stream<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    let bad_key = fixture.layout().service_prefix(&web).join("bad-1");
    ok(
        b.put(&bad_key, vec![0xff, 0xfe, b'{'].into(), None).await,
        "put garbage",
    );
    loop {
        match guard(futures::StreamExt::next(&mut w), "the InvalidData item").await {
            Some(Err(Error::InvalidData { key, .. })) => {
                assert!(
                    key.contains("bad-1"),
                    "the error names {key}, not the bad key"
                );
                break;
            }
            Some(Err(e)) => panic!("expected InvalidData, got {e}"),
            Some(Ok(event)) => view.apply(event),
            None => panic!("the watch ended at a bad value"),
        }
    }
    let good = ok(
        b.register(instance(&web, "good", 8001), opts()).await,
        "register",
    );
    fold_until(&mut w, &mut view, "the next registration", |v| {
        v.instances.contains_key(&id("good"))
    })
    .await;
    ok(good.deregister().await, "deregister");
}

/// Not a contract sentence of its own: a watch of `web` never reports `webapp`'s instances.
pub async fn watch_ignores_other_services<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let webapp = service("webapp");
    let mut w = ok(b.watch(&web, None).await, "watch");
    first_reset(&mut w).await;
    let other = ok(
        b.register(instance(&webapp, "x", 9000), opts()).await,
        "register",
    );
    let mine = ok(
        b.register(instance(&web, "y", 9001), opts()).await,
        "register",
    );
    loop {
        match next(&mut w, "the registration of web").await {
            WatchEvent::Changed { changes, .. } => {
                let got: Vec<String> = changes.iter().map(describe).collect();
                assert_eq!(got, ["upsert y"], "the watch of web saw another service");
                break;
            }
            WatchEvent::Reset(s) => panic!("unexpected Reset {s:?}"),
            _ => {}
        }
    }
    ok(other.deregister().await, "deregister");
    ok(mine.deregister().await, "deregister");
}
