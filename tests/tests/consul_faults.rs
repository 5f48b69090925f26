//! Faults against a real Consul agent: agent restarts, the index going backwards, and one
//! blocking query per service however many consumers watch it.

use std::time::Duration;

use discovery_consul::ConsulBackend;
use discovery_core::{
    Health, Key, KvEvent, KvSnapshot, KvStore, KvView, LeaseState, RegisterOptions, Registry,
    ServiceInstance, ServiceName, Snapshot, WatchEvent, Watcher,
};
use discovery_tests::consul::ConsulServer;
use discovery_tests::util::{eventually, init_tracing, unique};
use futures::{Stream, StreamExt};

/// Hang guard of every wait.
const GUARD: Duration = Duration::from_secs(60);

fn name(s: &str) -> ServiceName {
    s.parse().expect("valid service name")
}

fn key(s: &str) -> Key {
    Key::new(s).expect("valid key")
}

fn instance(service: &ServiceName, id: &str, port: u16) -> ServiceInstance {
    ServiceInstance::new(
        service.clone(),
        id.parse().expect("valid id"),
        "127.0.0.1",
        Some(port),
    )
}

async fn next<T>(s: &mut (impl Stream<Item = discovery_core::Result<T>> + Unpin), what: &str) -> T {
    match tokio::time::timeout(GUARD, s.next()).await {
        Ok(Some(Ok(v))) => v,
        Ok(Some(Err(e))) => panic!("the watch failed while waiting for {what}: {e}"),
        Ok(None) => panic!("the watch ended while waiting for {what}"),
        Err(_) => panic!("timed out after {GUARD:?} waiting for {what}"),
    }
}

async fn fold_until(
    w: &mut (impl Stream<Item = discovery_core::Result<WatchEvent>> + Unpin),
    view: &mut Snapshot,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
) {
    while !done(view) {
        view.apply(next(w, what).await);
    }
}

async fn fold_kv_until(
    w: &mut (impl Stream<Item = discovery_core::Result<KvEvent>> + Unpin),
    view: &mut KvSnapshot,
    what: &str,
    done: impl Fn(&KvSnapshot) -> bool,
) -> Vec<KvEvent> {
    let mut seen = Vec::new();
    while !done(view) {
        let e = next(w, what).await;
        view.apply(e.clone());
        seen.push(e);
    }
    seen
}

fn value_of(view: &KvSnapshot, k: &str) -> Option<String> {
    view.pairs
        .get(&key(k))
        .map(|p| String::from_utf8_lossy(&p.value).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_registration_comes_back_and_watches_converge() {
    init_tracing();
    let server = ConsulServer::start().await;
    let consul = server.backend(None);
    let web = name("web");
    let opts = RegisterOptions::with_ttl(Duration::from_secs(3));
    let mut reg = consul
        .register(instance(&web, "web-1", 8001), opts)
        .await
        .expect("register");
    let mut states = reg.subscribe();

    // Push the KV index well above what a fresh agent will reach, so that after the restart a
    // loop that kept blocking on the old index would miss the new value.
    for i in 0..30 {
        consul
            .put(&key(&format!("/cfg/filler-{i}")), "x".into(), None)
            .await
            .expect("put");
    }
    consul
        .put(&key("/cfg/a"), "1".into(), None)
        .await
        .expect("put");

    let mut w = consul.watch(&web, None).await.expect("watch");
    let mut view = Snapshot::default();
    fold_until(&mut w, &mut view, "web-1", |v| v.instances.len() == 1).await;
    let mut kw = consul
        .watch_prefix(&key("/cfg"), None)
        .await
        .expect("watch kv");
    let mut kview = KvSnapshot::default();
    fold_kv_until(&mut kw, &mut kview, "/cfg/a=1", |v| {
        value_of(v, "/cfg/a").as_deref() == Some("1")
    })
    .await;
    let old_index = kview.revision;

    server.restart().await;

    // The registration notices (its heartbeat finds no check) and registers again.
    tokio::time::timeout(GUARD, states.wait_for(|s| *s != LeaseState::Live))
        .await
        .expect("the registration noticed the restart")
        .expect("state channel open");
    tokio::time::timeout(GUARD, reg.wait_for(|s| *s == LeaseState::Live))
        .await
        .expect("the registration came back")
        .expect("state channel open");
    let snap = eventually("web-1 back in the catalog", GUARD, || async {
        let s = consul.snapshot(&web).await.ok()?;
        (s.instances.len() == 1).then_some(s)
    })
    .await;

    // The service watch converges to the true state.
    fold_until(&mut w, &mut view, "the watch to converge", |v| {
        v.instances == snap.instances
    })
    .await;

    // The fresh agent's KV index is below the old one: the watch must start over, not miss this.
    let r = consul
        .put(&key("/cfg/a"), "2".into(), None)
        .await
        .expect("put");
    assert!(
        r < old_index,
        "the fresh agent's index {r} is not below {old_index}"
    );
    let events = fold_kv_until(&mut kw, &mut kview, "/cfg/a=2 after the restart", |v| {
        value_of(v, "/cfg/a").as_deref() == Some("2")
    })
    .await;
    assert!(
        events.iter().any(|e| matches!(e, KvEvent::Reset(_))),
        "the index went backwards but no Reset was emitted: {events:?}"
    );
    assert_eq!(
        kview.pairs,
        consul.list(&[key("/cfg")]).await.expect("list").pairs
    );

    reg.deregister().await.expect("deregister");
    fold_until(&mut w, &mut view, "the removal", |v| v.instances.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_highest_index_key_misses_no_update() {
    init_tracing();
    let server = ConsulServer::shared().await;
    let consul = server.backend(Some(&unique("faults")));
    consul
        .put(&key("/p/a"), "a".into(), None)
        .await
        .expect("put");
    let highest = consul
        .put(&key("/p/b"), "b".into(), None)
        .await
        .expect("put");
    let mut w = consul.watch_prefix(&key("/p"), None).await.expect("watch");
    let mut view = KvSnapshot::default();
    fold_kv_until(&mut w, &mut view, "the reset", |v| v.pairs.len() == 2).await;
    assert_eq!(view.revision, highest);

    assert!(consul.delete(&key("/p/b")).await.expect("delete"));
    fold_kv_until(&mut w, &mut view, "the delete", |v| v.pairs.len() == 1).await;
    // A write to a key with a lower index than the deleted one, then a new key.
    consul
        .put(&key("/p/a"), "a2".into(), None)
        .await
        .expect("put");
    consul
        .put(&key("/p/c"), "c".into(), None)
        .await
        .expect("put");
    fold_kv_until(&mut w, &mut view, "the updates after the delete", |v| {
        value_of(v, "/p/a").as_deref() == Some("a2") && value_of(v, "/p/c").is_some()
    })
    .await;
    assert_eq!(
        view.pairs,
        consul.list(&[key("/p")]).await.expect("list").pairs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_blocking_query_per_service_for_many_consumers() {
    init_tracing();
    let server = ConsulServer::shared().await;
    let consul: ConsulBackend = server.backend(Some(&unique("shared")));
    let web = name("web");
    let mut watches = Vec::new();
    for _ in 0..5 {
        let mut w = consul.clone().watch(&web, None).await.expect("watch");
        match next(&mut w, "the first reset").await {
            WatchEvent::Reset(s) => assert!(s.instances.is_empty()),
            other => panic!("expected a Reset first, got {other:?}"),
        }
        watches.push(w);
    }
    assert_eq!(consul.active_blocking_queries(), 1);
    let before = consul.health_requests(&web);

    let reg = consul
        .register(
            instance(&web, "w1", 8001),
            RegisterOptions::with_ttl(Duration::from_secs(10)),
        )
        .await
        .expect("register");
    for w in &mut watches {
        loop {
            match next(w, "the registration").await {
                WatchEvent::Changed { changes, .. } if !changes.is_empty() => break,
                WatchEvent::Reset(s) if !s.instances.is_empty() => break,
                _ => {}
            }
        }
    }
    let after = consul.health_requests(&web);
    // The blocking query that returned, and at most the next one: never one per consumer.
    assert!(
        after - before <= 2,
        "{} health queries for one change with 5 consumers",
        after - before
    );

    drop(watches);
    eventually("the shared query to stop", GUARD, || async {
        (consul.active_blocking_queries() == 0).then_some(())
    })
    .await;
    reg.deregister().await.expect("deregister");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_service_list_follows_registrations() {
    init_tracing();
    let server = ConsulServer::shared().await;
    let consul = server.backend(Some(&unique("catalog")));
    let mut list = consul.watch_services().await.expect("watch services");
    let first = next(&mut list, "the first list").await;
    assert!(first.services.is_empty(), "{first:?}");
    let api = name("api");
    let reg = consul
        .register(
            instance(&api, "a1", 9000).with_tag("v2").with_tag("prod"),
            RegisterOptions::with_ttl(Duration::from_secs(10)),
        )
        .await
        .expect("register");
    let seen = next(&mut list, "the new service").await;
    let tags: Vec<&str> = seen.services["api"].iter().map(String::as_str).collect();
    assert_eq!(tags, ["prod", "v2"]);
    assert_eq!(
        consul.services().await.expect("services").services,
        seen.services
    );
    reg.deregister().await.expect("deregister");
    let gone = next(&mut list, "the removal").await;
    assert!(gone.services.is_empty(), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_failing_checks_and_maintenance() {
    init_tracing();
    let server = ConsulServer::shared().await;
    let consul = server.backend(Some(&unique("health")));
    let web = name("web");
    let inst = instance(&web, "w1", 8001);
    let service_id = consul.service_id(&inst);
    let reg = consul
        .register(inst, RegisterOptions::with_ttl(Duration::from_secs(30)))
        .await
        .expect("register");
    let mut w = consul.watch(&web, None).await.expect("watch");
    let mut view = Snapshot::default();
    let health_is = |h: Health| {
        move |v: &Snapshot| {
            v.instances
                .values()
                .any(|i| i.id.as_str() == "w1" && i.health == h)
        }
    };
    fold_until(&mut w, &mut view, "w1 passing", health_is(Health::Passing)).await;
    let node = view.instances.values().next().and_then(|i| i.node.clone());
    assert!(
        node.is_some_and(|n| !n.name.is_empty()),
        "no node in {view:?}"
    );

    // An operator fails the TTL check: the instance stays, reported critical.
    let check = format!("/v1/agent/check/fail/service:{service_id}");
    assert_eq!(server.agent_put(&check).await, 200);
    fold_until(
        &mut w,
        &mut view,
        "w1 critical",
        health_is(Health::Critical),
    )
    .await;

    // Maintenance wins over every check status.
    let maint = format!("/v1/agent/service/maintenance/{service_id}?enable=true&reason=test");
    assert_eq!(server.agent_put(&maint).await, 200);
    fold_until(
        &mut w,
        &mut view,
        "w1 in maintenance",
        health_is(Health::Maintenance),
    )
    .await;
    let maint_off = format!("/v1/agent/service/maintenance/{service_id}?enable=false");
    assert_eq!(server.agent_put(&maint_off).await, 200);
    fold_until(&mut w, &mut view, "w1 out of maintenance", |v| {
        v.instances
            .get(&"w1".parse().expect("id"))
            .map(|i| i.health)
            != Some(Health::Maintenance)
    })
    .await;
    assert_eq!(
        view.instances,
        consul.snapshot(&web).await.expect("snapshot").instances
    );
    reg.deregister().await.expect("deregister");
}
