//! Shared leases on a real etcd: 1,000 registrations with one TTL hold one lease, and all of
//! them come back when that lease is revoked behind their back.

use std::collections::BTreeSet;
use std::time::Duration;

use discovery_core::{
    LeaseKv, LeaseState, RegisterOptions, Registration, Registry, ServiceInstance, ServiceName,
    Watcher,
};
use discovery_etcd::EtcdBackend;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::eventually;

const N: usize = 1_000;

async fn lease_ids(backend: &EtcdBackend, regs: &[Registration]) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for r in regs {
        let key = backend.layout().instance_key(r.instance());
        let lease = backend.lease_of(&key).await.expect("lease_of");
        ids.insert(lease.map(|l| l.0).unwrap_or(0));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_registrations_share_one_lease_and_survive_its_revoke() {
    let server = EtcdServer::start().await;
    let backend = server.backend("/pool").await;
    let web: ServiceName = "web".parse().unwrap();
    let opts = RegisterOptions::with_ttl(Duration::from_secs(10));
    let registering = (0..N).map(|i| {
        let (backend, web, opts) = (backend.clone(), web.clone(), opts.clone());
        async move {
            let id = format!("w{i}").parse().unwrap();
            let instance = ServiceInstance::new(web, id, "10.0.0.1", Some(8000 + i as u16));
            backend.register(instance, opts).await
        }
    });
    let regs: Vec<Registration> = futures::future::try_join_all(registering)
        .await
        .expect("register 1000 instances");
    let before = lease_ids(&backend, &regs).await;
    assert_eq!(before.len(), 1, "one shared lease, got {before:?}");
    let shared = *before.iter().next().unwrap();
    assert_ne!(shared, 0, "the keys carry no lease");

    let mut states: Vec<_> = regs.iter().map(Registration::subscribe).collect();
    backend
        .revoke(discovery_core::LeaseId(shared))
        .await
        .expect("revoke the shared lease");
    // Every registration notices (at its next keepalive) and comes back by itself.
    for s in &mut states {
        tokio::time::timeout(Duration::from_secs(30), s.changed())
            .await
            .expect("a registration never left Live after the revoke")
            .expect("state channel");
    }
    eventually("all 1000 re-registered", Duration::from_secs(30), || {
        let backend = backend.clone();
        let web = web.clone();
        async move {
            let n = backend.snapshot(&web).await.ok()?.instances.len();
            (n == N).then_some(())
        }
    })
    .await;
    assert!(regs.iter().all(|r| r.state() == LeaseState::Live));
    let after = lease_ids(&backend, &regs).await;
    assert_eq!(after.len(), 1, "all on one new lease, got {after:?}");
    assert!(after.is_disjoint(&before), "still on the revoked lease");

    // Deregistering one leaves the others; the last one out revokes the lease.
    let mut regs = regs;
    regs.pop()
        .unwrap()
        .deregister()
        .await
        .expect("deregister one");
    let snap = backend.snapshot(&web).await.expect("snapshot");
    assert_eq!(snap.instances.len(), N - 1);
    for r in regs {
        r.deregister().await.expect("deregister");
    }
    let new = *after.iter().next().unwrap();
    let alive = backend
        .keep_alive(discovery_core::LeaseId(new))
        .await
        .expect("keepalive");
    assert_eq!(
        alive, None,
        "the shared lease outlived its last registration"
    );
}
