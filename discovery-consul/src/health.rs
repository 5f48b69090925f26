//! `/v1/health/service/<name>`: Consul's answer, mapped to [`ServiceInstance`]s.

use std::collections::{BTreeMap, BTreeSet};

use discovery_core::{
    Change, Health, InstanceId, NodeInfo, Revision, ServiceInstance, ServiceName, Snapshot,
    WatchEvent,
};
use serde::Deserialize;

use crate::consumer::{diff_maps, Diff};

/// One entry of a health answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Entry {
    pub(crate) node: Node,
    pub(crate) service: Service,
    #[serde(default)]
    pub(crate) checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Node {
    pub(crate) node: String,
    #[serde(default)]
    pub(crate) address: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Service {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) port: u16,
    #[serde(default)]
    pub(crate) tags: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) meta: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Check {
    #[serde(rename = "CheckID")]
    pub(crate) check_id: String,
    pub(crate) status: String,
}

/// Aggregated status, precedence maintenance > critical > warning > passing (as Consul's API
/// client computes it).
pub(crate) fn aggregate(checks: &[Check]) -> Health {
    let mut health = Health::Passing;
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            return Health::Maintenance;
        }
        match c.status.as_str() {
            "critical" => health = Health::Critical,
            "warning" if health == Health::Passing => health = Health::Warning,
            _ => {}
        }
    }
    health
}

/// The instances of one service, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Instances(pub(crate) BTreeMap<InstanceId, ServiceInstance>);

impl Instances {
    /// Maps a health answer. `id_prefix` (`<consul name>:`) is stripped from the service ids
    /// this crate registers; other ids are used as they are.
    pub(crate) fn from_entries(
        service: &ServiceName,
        id_prefix: &str,
        entries: Vec<Entry>,
    ) -> Self {
        let mut out = BTreeMap::new();
        for e in entries {
            let raw = e
                .service
                .id
                .strip_prefix(id_prefix)
                .unwrap_or(&e.service.id);
            let id = match InstanceId::new(raw) {
                Ok(id) => id,
                Err(err) => {
                    tracing::warn!(service = %service, error = %err, "skipping a Consul service whose id is not an instance id");
                    continue;
                }
            };
            let address = if e.service.address.is_empty() {
                e.node.address.clone()
            } else {
                e.service.address.clone()
            };
            let port = (e.service.port != 0).then_some(e.service.port);
            let mut inst = ServiceInstance::new(service.clone(), id.clone(), address, port)
                .with_health(aggregate(&e.checks));
            inst.tags = e
                .service
                .tags
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeSet<_>>();
            inst.meta = e.service.meta.unwrap_or_default();
            inst.node = Some(NodeInfo {
                name: e.node.node,
                address: e.node.address,
            });
            out.insert(id, inst);
        }
        Instances(out)
    }

    pub(crate) fn snapshot(&self, index: u64) -> Snapshot {
        Snapshot {
            revision: Revision(index),
            instances: self.0.clone(),
        }
    }
}

impl Diff for Instances {
    type Event = WatchEvent;

    fn reset(&self, index: u64) -> WatchEvent {
        WatchEvent::Reset(self.snapshot(index))
    }

    fn diff(&self, prev: &Self, index: u64) -> Option<WatchEvent> {
        let changes = diff_maps(
            &prev.0,
            &self.0,
            |i| Change::Upsert(i.clone()),
            |id| Change::Remove(id.clone()),
        );
        (!changes.is_empty()).then_some(WatchEvent::Changed {
            revision: Revision(index),
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: &str) -> Check {
        Check {
            check_id: id.into(),
            status: status.into(),
        }
    }

    #[test]
    fn aggregation_precedence() {
        assert_eq!(aggregate(&[]), Health::Passing);
        assert_eq!(
            aggregate(&[check("a", "passing"), check("b", "warning")]),
            Health::Warning
        );
        assert_eq!(
            aggregate(&[check("a", "critical"), check("b", "warning")]),
            Health::Critical
        );
        assert_eq!(
            aggregate(&[
                check("a", "critical"),
                check("_node_maintenance", "critical")
            ]),
            Health::Maintenance
        );
    }

    #[test]
    fn maps_entries_with_node_address_fallback() {
        let json = r#"[{"Node":{"Node":"n1","Address":"10.0.0.9"},
            "Service":{"ID":"web:w1","Service":"web","Address":"","Port":80,"Tags":["b","a"],"Meta":null},
            "Checks":[{"CheckID":"service:web:w1","Status":"passing"}]}]"#;
        let entries: Vec<Entry> = serde_json::from_str(json).unwrap();
        let web: ServiceName = "web".parse().unwrap();
        let got = Instances::from_entries(&web, "web:", entries);
        let w1 = &got.0[&"w1".parse::<InstanceId>().unwrap()];
        assert_eq!(w1.address, "10.0.0.9");
        assert_eq!(w1.port, Some(80));
        assert_eq!(w1.tags.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(w1.node.as_ref().unwrap().name, "n1");
    }
}
