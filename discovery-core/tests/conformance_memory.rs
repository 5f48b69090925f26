//! The conformance suite on the in-memory backend, with paused time.

use async_trait::async_trait;
use discovery_core::conformance::{Caps, Fixture};
use discovery_core::{Layout, MemoryBackend};

/// One shared store per test; each case works in its own namespace of it.
#[derive(Debug, Default)]
struct MemoryFixture {
    store: MemoryBackend,
}

#[async_trait]
impl Fixture for MemoryFixture {
    type Backend = MemoryBackend;
    const CAPS: Caps = Caps::ALL;

    async fn backend(&self, ns: &str) -> MemoryBackend {
        self.store.namespaced(ns)
    }

    async fn expire_leases(&self, backend: &MemoryBackend) {
        backend.expire_leases();
    }

    async fn compact(&self, backend: &MemoryBackend) {
        backend.compact();
    }

    fn layout(&self) -> Layout {
        self.store.layout().clone()
    }
}

discovery_core::conformance_tests!(
    MemoryFixture::default(),
    Caps {
        compaction: true,
        kv_ttl: true,
        raw_instance_values: true,
        paused_time: true,
    }
);
