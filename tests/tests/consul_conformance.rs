//! The core conformance suite against a real Consul agent (`consul agent -dev`): every case in
//! its own namespace of one shared agent.

use async_trait::async_trait;
use discovery_consul::ConsulBackend;
use discovery_core::conformance::{Caps, Fixture};
use discovery_core::Layout;
use discovery_tests::consul::ConsulServer;

/// The conformance fixture: namespaces of one shared agent.
#[derive(Debug)]
struct ConsulFixture {
    server: &'static ConsulServer,
}

impl ConsulFixture {
    /// The fixture over [`ConsulServer::shared`].
    async fn shared() -> ConsulFixture {
        ConsulFixture {
            server: ConsulServer::shared().await,
        }
    }
}

#[async_trait]
impl Fixture for ConsulFixture {
    type Backend = ConsulBackend;

    /// Consul keeps no history to compact, and instances are agent services, not KV values.
    const CAPS: Caps = Caps {
        compaction: false,
        kv_ttl: true,
        raw_instance_values: false,
        paused_time: false,
    };

    async fn backend(&self, ns: &str) -> ConsulBackend {
        self.server.backend(Some(ns.trim_start_matches('/')))
    }

    /// The agent forgets the namespace's services (as after an agent restart): the next
    /// heartbeat of each registration finds its check gone.
    async fn expire_leases(&self, backend: &ConsulBackend) {
        match backend.forget_registrations().await {
            Ok(n) => assert!(n > 0, "expire_leases found no registration to expire"),
            Err(e) => panic!("cannot deregister the namespace's services: {e}"),
        }
    }

    /// Never called: [`Caps::compaction`] is off for Consul.
    async fn compact(&self, _backend: &ConsulBackend) {
        panic!("Consul has no compaction; the conformance suite must not call compact");
    }

    fn layout(&self) -> Layout {
        Layout::default()
    }
}

discovery_core::conformance_tests!(
    ConsulFixture::shared().await,
    Caps {
        compaction: false,
        kv_ttl: true,
        raw_instance_values: false,
        paused_time: false,
    }
);
