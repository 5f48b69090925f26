//! [`ServiceInstance`] and [`Health`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{InstanceId, ServiceName};

/// The health of an instance as its backend reports it.
///
/// etcd and the in-memory backend report [`Health::Passing`] while the instance's key exists
/// (the lease *is* the health check); Consul reports the aggregate of the instance's checks.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Health {
    /// All checks pass.
    #[default]
    Passing,
    /// At least one check warns, none is critical.
    Warning,
    /// At least one check is critical.
    Critical,
    /// The instance or its node is in maintenance mode.
    Maintenance,
}

impl Health {
    /// The lowercase name used by Consul and consul-template (`passing`, `warning`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Passing => "passing",
            Health::Warning => "warning",
            Health::Critical => "critical",
            Health::Maintenance => "maintenance",
        }
    }
}

/// The node an instance runs on (Consul's catalog node). Absent on etcd and in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// The node's address.
    pub address: String,
}

/// One instance of a service: what a registry stores and a watcher reports.
///
/// ```
/// use discovery_core::{ServiceInstance, ServiceName, InstanceId};
/// let web = ServiceInstance::new("web".parse()?, "web-1".parse()?, "10.0.0.1", Some(8080))
///     .with_tag("prod")
///     .with_meta("version", "1.2");
/// assert_eq!(web.endpoint(), "10.0.0.1:8080");
/// # Ok::<(), discovery_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceInstance {
    /// The service this instance belongs to.
    pub service: ServiceName,
    /// The instance's id, unique within the service.
    pub id: InstanceId,
    /// Host name or IP address clients connect to.
    pub address: String,
    /// Port clients connect to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Tags (sorted, de-duplicated).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Health as reported by the backend.
    #[serde(default)]
    pub health: Health,
    /// The node the instance runs on, where the backend has nodes (Consul).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeInfo>,
}

impl ServiceInstance {
    /// A passing instance with no tags, metadata or node.
    pub fn new(
        service: ServiceName,
        id: InstanceId,
        address: impl Into<String>,
        port: Option<u16>,
    ) -> Self {
        Self {
            service,
            id,
            address: address.into(),
            port,
            tags: BTreeSet::new(),
            meta: BTreeMap::new(),
            health: Health::Passing,
            node: None,
        }
    }

    /// Adds a tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }

    /// Adds a metadata entry.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// Sets the health.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Sets the node.
    pub fn with_node(mut self, name: impl Into<String>, address: impl Into<String>) -> Self {
        self.node = Some(NodeInfo {
            name: name.into(),
            address: address.into(),
        });
        self
    }

    /// `address:port`, or just the address when there is no port (IPv6 addresses are bracketed).
    pub fn endpoint(&self) -> String {
        match self.port {
            Some(p) if self.address.contains(':') => format!("[{}]:{p}", self.address),
            Some(p) => format!("{}:{p}", self.address),
            None => self.address.clone(),
        }
    }
}
