//! The core conformance suite on a real etcd (Docker or process, see `discovery_tests::etcd`).
//!
//! Every case gets its own etcd server: compaction and lease expiry then never reach another
//! case running at the same time.

use std::collections::BTreeSet;

use async_trait::async_trait;
use discovery_core::conformance::{Caps, Fixture};
use discovery_core::{Key, KvView, Layout, LeaseKv};
use discovery_etcd::EtcdBackend;
use discovery_tests::etcd::EtcdServer;

struct EtcdFixture {
    server: EtcdServer,
}

impl EtcdFixture {
    async fn new() -> Self {
        EtcdFixture {
            server: EtcdServer::start().await,
        }
    }
}

#[async_trait]
impl Fixture for EtcdFixture {
    type Backend = EtcdBackend;
    const CAPS: Caps = Caps {
        compaction: true,
        kv_ttl: true,
        raw_instance_values: true,
        paused_time: false,
    };

    async fn backend(&self, ns: &str) -> EtcdBackend {
        self.server.backend(ns).await
    }

    async fn expire_leases(&self, backend: &EtcdBackend) {
        // Every key of the namespace, and the leases they are attached to.
        let all = backend
            .list(&[Key::root()])
            .await
            .unwrap_or_else(|e| panic!("list the namespace: {e}"));
        let mut leases = BTreeSet::new();
        for key in all.pairs.keys() {
            let lease = backend
                .lease_of(key)
                .await
                .unwrap_or_else(|e| panic!("lease of {key}: {e}"));
            leases.extend(lease);
        }
        assert!(!leases.is_empty(), "no lease in the namespace to expire");
        for lease in leases {
            backend
                .revoke(lease)
                .await
                .unwrap_or_else(|e| panic!("revoke {lease:?}: {e}"));
        }
    }

    async fn compact(&self, backend: &EtcdBackend) {
        let rev = backend
            .current_revision()
            .await
            .unwrap_or_else(|e| panic!("current revision: {e}"));
        backend
            .compact(rev)
            .await
            .unwrap_or_else(|e| panic!("compact at {rev}: {e}"));
    }

    fn layout(&self) -> Layout {
        Layout::default()
    }
}

discovery_core::conformance_tests!(
    EtcdFixture::new().await,
    Caps {
        compaction: true,
        kv_ttl: true,
        raw_instance_values: true,
        paused_time: false
    }
);
