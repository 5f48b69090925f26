//! Cases of the [`Registry`](crate::Registry) contract.

use crate::conformance::util::*;
use crate::conformance::Fixture;
use crate::{Change, Error, LeaseState, RegisterOptions, Registry, WatchEvent, Watcher};

/// `register_visible_in_snapshot`: once `register` returns, the instance is in the snapshot.
pub async fn register_visible_in_snapshot<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let want = instance(&web, "web-1", 8001);
    let reg = ok(b.register(want.clone(), opts()).await, "register");
    let snap = ok(b.snapshot(&web).await, "snapshot");
    let got = snap
        .instances
        .get(&want.id)
        .unwrap_or_else(|| panic!("web-1 is not in the snapshot after register: {snap:?}"));
    assert_same(got, &want);
    assert_eq!(snap.instances.len(), 1, "{snap:?}");
    ok(reg.deregister().await, "deregister");
}

/// `deregister_removes`: after `deregister` returns `Ok`, the instance is gone.
pub async fn deregister_removes<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let keep = ok(
        b.register(instance(&web, "keep", 8001), opts()).await,
        "register keep",
    );
    let gone = ok(
        b.register(instance(&web, "gone", 8002), opts()).await,
        "register gone",
    );
    ok(gone.deregister().await, "deregister");
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert!(!snap.instances.contains_key(&id("gone")), "{snap:?}");
    assert!(snap.instances.contains_key(&id("keep")), "{snap:?}");
    ok(keep.deregister().await, "deregister keep");
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert!(snap.instances.is_empty(), "{snap:?}");
}

/// `drop_guard_deregisters`: dropping the guard deregisters the instance shortly after.
pub async fn drop_guard_deregisters<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let reg = ok(
        b.register(instance(&web, "web-1", 8001), opts()).await,
        "register",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    assert!(view.instances.contains_key(&id("web-1")), "{view:?}");
    drop(reg);
    fold_until(&mut w, &mut view, "the removal after drop", |v| {
        !v.instances.contains_key(&id("web-1"))
    })
    .await;
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert!(snap.instances.is_empty(), "{snap:?}");
}

/// `lease_expiry_removes`: when the instance's lease expires, watchers see it removed.
pub async fn lease_expiry_removes<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let reg = ok(
        b.register(instance(&web, "web-1", 8001), opts()).await,
        "register",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let view = first_reset(&mut w).await;
    assert!(view.instances.contains_key(&id("web-1")), "{view:?}");
    fixture.expire_leases(&b).await;
    loop {
        match next(&mut w, "the removal after lease expiry").await {
            WatchEvent::Changed { changes, .. }
                if changes.contains(&Change::Remove(id("web-1"))) =>
            {
                break
            }
            WatchEvent::Changed { changes, .. } => {
                assert!(
                    !changes
                        .iter()
                        .any(|c| matches!(c, Change::Upsert(i) if i.id == id("web-1"))),
                    "web-1 came back before its removal was reported: {changes:?}"
                );
            }
            WatchEvent::Reset(s) if !s.instances.contains_key(&id("web-1")) => break,
            _ => {}
        }
    }
    ok(reg.deregister().await, "deregister");
}

/// `reregister_after_expiry`: after an expiry the registration puts the instance back by itself,
/// and its state goes back to `Live`.
pub async fn reregister_after_expiry<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let mut reg = ok(
        b.register(instance(&web, "web-1", 8001), opts()).await,
        "register",
    );
    let mut state = reg.subscribe();
    assert_eq!(*state.borrow_and_update(), LeaseState::Live);
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    fixture.expire_leases(&b).await;
    fold_until(&mut w, &mut view, "the removal after expiry", |v| {
        !v.instances.contains_key(&id("web-1"))
    })
    .await;
    fold_until(&mut w, &mut view, "the re-registration", |v| {
        v.instances.contains_key(&id("web-1"))
    })
    .await;
    // The state left `Live` (Reregistering) and came back to it.
    let changed = guard(state.changed(), "a state change").await;
    assert!(changed.is_ok(), "the registration's state channel closed");
    let live = guard(reg.wait_for(|s| *s == LeaseState::Live), "Live").await;
    assert_eq!(ok(live, "wait for Live"), LeaseState::Live);
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert_same(
        &snap.instances[&id("web-1")],
        &instance(&web, "web-1", 8001),
    );
    ok(reg.deregister().await, "deregister");
}

/// `two_registrations_have_independent_leases`: deregistering one registration never affects
/// another of the same service.
pub async fn two_registrations_have_independent_leases<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    let a = ok(
        b.register(instance(&web, "a", 8001), opts()).await,
        "register a",
    );
    let c = ok(
        b.register(instance(&web, "c", 8002), opts()).await,
        "register c",
    );
    let mut w = ok(b.watch(&web, None).await, "watch");
    let mut view = first_reset(&mut w).await;
    assert_eq!(view.instances.len(), 2, "{view:?}");
    ok(a.deregister().await, "deregister a");
    let events = fold_until(&mut w, &mut view, "the removal of a", |v| {
        !v.instances.contains_key(&id("a"))
    })
    .await;
    assert!(
        view.instances.contains_key(&id("c")),
        "deregistering a removed c too: {events:?}"
    );
    assert_eq!(c.state(), LeaseState::Live);
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert_eq!(snap.instances.keys().collect::<Vec<_>>(), [&id("c")]);
    ok(c.deregister().await, "deregister c");
    fold_until(&mut w, &mut view, "the removal of c", |v| {
        v.instances.is_empty()
    })
    .await;
}

/// `register_refuses_short_ttl`: a TTL under one second (zero, one millisecond, 999 ms) is
/// refused with [`Error::InvalidConfig`] naming `ttl`, and nothing is registered.
pub async fn register_refuses_short_ttl<F: Fixture>(fixture: &F, ns: &str) {
    let b = fixture.backend(ns).await;
    let web = service("web");
    for ttl in [0, 1, 999] {
        let ttl = std::time::Duration::from_millis(ttl);
        let got = b
            .register(
                instance(&web, "short", 8001),
                RegisterOptions::with_ttl(ttl),
            )
            .await;
        match got {
            Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, "ttl", "ttl {ttl:?}"),
            Err(e) => panic!("ttl {ttl:?}: refused with the wrong error: {e:?}"),
            Ok(_) => panic!("ttl {ttl:?} was accepted"),
        }
    }
    let snap = ok(b.snapshot(&web).await, "snapshot");
    assert!(snap.instances.is_empty(), "registered anyway: {snap:?}");
    let reg = ok(
        b.register(
            instance(&web, "one-second", 8001),
            RegisterOptions::with_ttl(RegisterOptions::MIN_TTL),
        )
        .await,
        "register with the minimum ttl",
    );
    ok(reg.deregister().await, "deregister");
}
