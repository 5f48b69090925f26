//! The Consul endpoints that consul-template functions read as JSON ([`ApiRead`]): building the
//! reads, naming them in consul-template's notation, and reading their answers.
// The parts only the consul-template runner reads (feature `consul`).
#![cfg_attr(not(feature = "consul"), allow(dead_code))]

use std::collections::BTreeMap;
use std::sync::Arc;

use discovery_core::{ApiRead, Dependency};
use minijinja::Value;

use super::CtState;
use crate::value::{go_map, string_list, MapKind};

/// Endpoints that Consul 1.8.7 does not have, with the function that reads them and what the
/// agent needs: `(path, function, requirement)`.
pub(crate) const NEWER_ENDPOINTS: [(&str, &str, &str); 4] = [
    ("peerings", "peerings", "Consul 1.13+"),
    ("partitions", "partitions", "Consul Enterprise"),
    (
        "exported-services",
        "exportedServices",
        "a newer Consul with peering or admin partitions",
    ),
    (
        "imported-services",
        "importedServices",
        "a newer Consul with admin partitions (Consul Enterprise)",
    ),
];

/// The percent-encoded path segment of a name (node and service names are `[\w.\-]+`, so this
/// leaves them as they are).
pub(crate) fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Adds `dc` and `near` to `read` when given.
pub(crate) fn with_dc_near(mut read: ApiRead, dc: Option<&str>, near: Option<&str>) -> ApiRead {
    if let Some(dc) = dc.filter(|d| !d.is_empty()) {
        read = read.with("dc", dc);
    }
    if let Some(near) = near.filter(|n| !n.is_empty()) {
        read = read.with("near", near);
    }
    read
}

/// The query parameter `key` of `read`.
fn param<'a>(read: &'a ApiRead, key: &str) -> Option<&'a str> {
    read.query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// consul-template's notation of a read (`catalog.node(web-1@dc2)`, `connect.caroots`), for
/// logs and health reports.
pub(crate) fn describe(read: &ApiRead) -> String {
    let suffix = |name: &str| {
        let mut s = name.to_owned();
        if let Some(dc) = param(read, "dc") {
            s.push('@');
            s.push_str(dc);
        }
        if let Some(near) = param(read, "near") {
            s.push('~');
            s.push_str(near);
        }
        s
    };
    let call = |func: &str, arg: String| {
        if arg.is_empty() {
            func.to_owned()
        } else {
            format!("{func}({arg})")
        }
    };
    let path = read.path.as_str();
    if let Some(name) = path.strip_prefix("catalog/node/") {
        call("catalog.node", suffix(name))
    } else if path == "catalog/nodes" {
        call("catalog.nodes", suffix(""))
    } else if let Some(name) = path.strip_prefix("health/connect/") {
        call("health.connect", suffix(name))
    } else if path == "agent/connect/ca/roots" {
        "connect.caroots".to_owned()
    } else if let Some(name) = path.strip_prefix("agent/connect/ca/leaf/") {
        call("connect.caleaf", name.to_owned())
    } else if path == "agent/self" {
        "agent.self".to_owned()
    } else if let Some((_, func, _)) = NEWER_ENDPOINTS.iter().find(|(p, _, _)| *p == path) {
        (*func).to_owned()
    } else {
        path.to_owned()
    }
}

/// What to say when the agent answered `read` with 404: the function needs an endpoint the
/// agent lacks. `None` for reads whose 404 means something else.
pub(crate) fn missing_endpoint(read: &ApiRead) -> Option<String> {
    let (path, func, needs) = NEWER_ENDPOINTS
        .iter()
        .find(|(p, _, _)| *p == read.path.as_str())?;
    Some(format!(
        "{func}: the Consul agent has no /v1/{path} endpoint (it requires {needs})"
    ))
}

impl CtState {
    /// The answer of `read`, recording it as used (and as missing when it has not arrived).
    pub(crate) fn api(&self, read: ApiRead) -> Option<Arc<serde_json::Value>> {
        let dep = Dependency::Api(read);
        self.use_dep(dep.clone());
        let Dependency::Api(read) = &dep else {
            return None;
        };
        let answer = self.data.api.get(read).cloned();
        if answer.is_none() {
            self.miss(dep);
        }
        answer
    }
}

/// A string member of a JSON object (`""` when absent or not a string).
pub(crate) fn json_str(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// An integer member of a JSON object (0 when absent).
pub(crate) fn json_int(v: &serde_json::Value, key: &str) -> i64 {
    v.get(key).and_then(|n| n.as_i64()).unwrap_or_default()
}

/// A `map[string]string` member of a JSON object (empty when absent or null).
pub(crate) fn json_string_map(v: &serde_json::Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A `[]string` member of a JSON object (empty when absent or null).
pub(crate) fn json_strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A Go `map[string]string` value.
pub(crate) fn string_map_value(m: &BTreeMap<String, String>) -> Value {
    go_map(
        MapKind::String,
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// Go's `%v` of a `map[string]string`: `map[a:1 b:2]`, keys sorted.
pub(crate) fn format_string_map(m: &BTreeMap<String, String>) -> String {
    let body: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", body.join(" "))
}

/// A Go `[]string` value.
pub(crate) fn strings_value(items: &[String]) -> Value {
    string_list(items.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_named_as_consul_template_names_them() {
        // dependency/catalog_node.go, catalog_nodes.go, health_service.go, connect_*.go String().
        let node = with_dc_near(ApiRead::new("catalog/node/web-1"), Some("dc2"), None);
        assert_eq!(describe(&node), "catalog.node(web-1@dc2)");
        let nodes = with_dc_near(ApiRead::new("catalog/nodes"), None, Some("_agent"));
        assert_eq!(describe(&nodes), "catalog.nodes(~_agent)");
        assert_eq!(describe(&ApiRead::new("catalog/nodes")), "catalog.nodes");
        assert_eq!(
            describe(&ApiRead::new("health/connect/db")),
            "health.connect(db)"
        );
        assert_eq!(
            describe(&ApiRead::new("agent/connect/ca/roots")),
            "connect.caroots"
        );
        assert_eq!(
            describe(&ApiRead::new("agent/connect/ca/leaf/web")),
            "connect.caleaf(web)"
        );
    }

    #[test]
    fn newer_endpoints_name_the_function_and_the_requirement() {
        assert_eq!(
            missing_endpoint(&ApiRead::new("peerings")).unwrap(),
            "peerings: the Consul agent has no /v1/peerings endpoint (it requires Consul 1.13+)"
        );
        assert_eq!(
            missing_endpoint(&ApiRead::new("partitions")).unwrap(),
            "partitions: the Consul agent has no /v1/partitions endpoint (it requires Consul Enterprise)"
        );
        assert!(missing_endpoint(&ApiRead::new("catalog/nodes")).is_none());
        assert_eq!(segment("web-1.x"), "web-1.x");
        assert_eq!(segment("a/b"), "a%2Fb");
    }
}
