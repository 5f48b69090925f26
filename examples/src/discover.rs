//! `-srv-record` and `-gateway`: how `register`, `watch` and `registrator` find a backend whose
//! URL names no host (`etcd://`, `etcd:///prefix`, `consul://`), the same way `confd` finds
//! one with no `-node`. The order is [`discovery_core::endpoints`]'s: SRV record, the URL's
//! host, `ETCDCTL_ENDPOINTS` / `ETCD_ENDPOINTS` / `ETCD_ENDPOINT` / `ETCDCTL_PEERS` (etcd) or
//! `CONSUL_HTTP_ADDR` (Consul), the default gateway with `-gateway`, then `127.0.0.1`.

use discovery_core::endpoints::SrvRecord;

use crate::backend::BackendSpec;
use crate::goflags::{FlagSet, Kind};

/// The endpoint-discovery flags' values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoverFlags {
    /// `-srv-record`: take the nodes from this SRV record (it beats the URL's host).
    pub srv_record: Option<String>,
    /// `-gateway`: fall back to the default gateway before `127.0.0.1`.
    pub gateway: bool,
}

/// Defines `-srv-record` and `-gateway`.
pub fn define(f: &mut FlagSet) {
    f.define(
        "srv-record",
        Kind::Value,
        "take the backend's nodes from this DNS SRV record, e.g. _etcd-client._tcp.example.com",
    )
    .define(
        "gateway",
        Kind::Bool,
        "with no host in the URL, SRV record or ETCDCTL_ENDPOINTS/CONSUL_HTTP_ADDR, use the default gateway (the Docker host) before 127.0.0.1",
    );
}

/// Reads the flags [`define`] added.
pub fn read(f: &FlagSet) -> DiscoverFlags {
    DiscoverFlags {
        srv_record: f
            .value("srv-record")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        gateway: f.bool("gateway") == Some(true),
    }
}

impl DiscoverFlags {
    /// Sets `spec`'s SRV record and gateway fallback.
    pub fn apply(&self, spec: &mut BackendSpec) {
        spec.srv = self.srv_record.clone().map(SrvRecord::new);
        spec.gateway = self.gateway;
    }
}
