//! consul-template's catalog functions beyond `services`: `node` (`/v1/catalog/node/<name>`,
//! the agent's own node by default), `nodes` (`/v1/catalog/nodes`) and `datacenters`
//! (`/v1/catalog/datacenters`), with the Go structs they return (`dependency/catalog_node.go`,
//! `catalog_nodes.go`, `catalog_datacenters.go`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use discovery_core::{ApiRead, Dependency};
use minijinja::Value;
use regex::Regex;

use super::api_reads::{
    format_string_map, json_int, json_str, json_string_map, json_strings, segment,
    string_map_value, strings_value, with_dc_near,
};
use super::data::state;
use crate::func::{arg_bool, arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::go_quote;
use crate::value::{go_list, go_object_arc, FormatVerb, GoObject, ListKind};

pub(crate) const NODE: &str = "*dependency.Node";
pub(crate) const CATALOG_NODE: &str = "*dependency.CatalogNode";
pub(crate) const CATALOG_NODE_SERVICE: &str = "*dependency.CatalogNodeService";

/// A `dependency.Node`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    id: String,
    node: String,
    address: String,
    datacenter: String,
    tagged_addresses: BTreeMap<String, String>,
    meta: BTreeMap<String, String>,
}

impl Node {
    fn from_json(v: &serde_json::Value) -> Self {
        Node {
            id: json_str(v, "ID"),
            node: json_str(v, "Node"),
            address: json_str(v, "Address"),
            datacenter: json_str(v, "Datacenter"),
            tagged_addresses: json_string_map(v, "TaggedAddresses"),
            meta: json_string_map(v, "Meta"),
        }
    }
}

impl GoObject for Node {
    fn type_name(&self) -> &str {
        NODE
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "ID" => Value::from(self.id.as_str()),
            "Node" => Value::from(self.node.as_str()),
            "Address" => Value::from(self.address.as_str()),
            "Datacenter" => Value::from(self.datacenter.as_str()),
            "TaggedAddresses" => string_map_value(&self.tagged_addresses),
            "Meta" => string_map_value(&self.meta),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        let (tagged, meta) = (
            format_string_map(&self.tagged_addresses),
            format_string_map(&self.meta),
        );
        match verb {
            FormatVerb::PlusV => format!(
                "&{{ID:{} Node:{} Address:{} Datacenter:{} TaggedAddresses:{tagged} Meta:{meta}}}",
                self.id, self.node, self.address, self.datacenter
            ),
            _ => format!(
                "&{{{} {} {} {} {tagged} {meta}}}",
                self.id, self.node, self.address, self.datacenter
            ),
        }
    }
}

/// A `dependency.CatalogNodeService` (one service of `node`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CatalogNodeService {
    id: String,
    service: String,
    tags: Vec<String>,
    meta: BTreeMap<String, String>,
    port: i64,
    address: String,
    enable_tag_override: bool,
}

impl CatalogNodeService {
    fn from_json(v: &serde_json::Value) -> Self {
        let mut tags = json_strings(v, "Tags");
        tags.sort();
        CatalogNodeService {
            id: json_str(v, "ID"),
            service: json_str(v, "Service"),
            tags,
            meta: json_string_map(v, "Meta"),
            port: json_int(v, "Port"),
            address: json_str(v, "Address"),
            enable_tag_override: v
                .get("EnableTagOverride")
                .and_then(|b| b.as_bool())
                .unwrap_or(false),
        }
    }
}

impl GoObject for CatalogNodeService {
    fn type_name(&self) -> &str {
        CATALOG_NODE_SERVICE
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "ID" => Value::from(self.id.as_str()),
            "Service" => Value::from(self.service.as_str()),
            "Tags" => strings_value(&self.tags),
            "Meta" => string_map_value(&self.meta),
            "Port" => Value::from(self.port),
            "Address" => Value::from(self.address.as_str()),
            "EnableTagOverride" => Value::from(self.enable_tag_override),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        let (tags, meta) = (self.tags.join(" "), format_string_map(&self.meta));
        match verb {
            FormatVerb::PlusV => format!(
                "&{{ID:{} Service:{} Tags:[{tags}] Meta:{meta} Port:{} Address:{} EnableTagOverride:{}}}",
                self.id, self.service, self.port, self.address, self.enable_tag_override
            ),
            _ => format!(
                "&{{{} {} [{tags}] {meta} {} {} {}}}",
                self.id, self.service, self.port, self.address, self.enable_tag_override
            ),
        }
    }
}

/// A `dependency.CatalogNode`: `Node` is nil (and `Services` empty) when no node has the name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CatalogNode {
    node: Option<Arc<Node>>,
    services: Vec<Arc<CatalogNodeService>>,
}

impl CatalogNode {
    /// From `/v1/catalog/node/<name>`'s answer (`null` for an unknown node); services sorted by
    /// name, then ID (upstream's `ByService`).
    fn from_json(v: &serde_json::Value) -> Self {
        let node = v
            .get("Node")
            .filter(|n| !n.is_null())
            .map(|n| Arc::new(Node::from_json(n)));
        let mut services: Vec<CatalogNodeService> = v
            .get("Services")
            .and_then(|s| s.as_object())
            .map(|m| m.values().map(CatalogNodeService::from_json).collect())
            .unwrap_or_default();
        services.sort_by(|a, b| a.service.cmp(&b.service).then_with(|| a.id.cmp(&b.id)));
        CatalogNode {
            node,
            services: services.into_iter().map(Arc::new).collect(),
        }
    }

    fn services_value(&self) -> Value {
        let items = self
            .services
            .iter()
            .map(|s| go_object_arc(s.clone() as Arc<dyn GoObject>))
            .collect();
        go_list(ListKind::Other(CATALOG_NODE_SERVICE.into()), items)
    }
}

impl GoObject for CatalogNode {
    fn type_name(&self) -> &str {
        CATALOG_NODE
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Node" => match &self.node {
                Some(n) => go_object_arc(n.clone() as Arc<dyn GoObject>),
                None => Value::from(()),
            },
            "Services" => self.services_value(),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        // Go prints the pointers inside as addresses; like the lists of structs elsewhere in
        // this crate, they print as their contents here.
        let node = self
            .node
            .as_ref()
            .map_or_else(|| "<nil>".to_owned(), |n| n.format(verb));
        let services: Vec<String> = self.services.iter().map(|s| s.format(verb)).collect();
        match verb {
            FormatVerb::PlusV => format!("&{{Node:{node} Services:[{}]}}", services.join(" ")),
            _ => format!("&{{{node} [{}]}}", services.join(" ")),
        }
    }
}

/// `[\w.\-]+` names, `?query`, `@dc`, `~near` (`dependency/dependency.go`'s pieces).
fn node_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"\A(?P<name>[0-9A-Za-z_.\-]+)",
            r"(?:\?(?P<query>[0-9A-Za-z_=&\-]+))?",
            r"(?:@(?P<dc>[0-9A-Za-z_.\-]+))?\z"
        ))
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

fn nodes_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"\A(?:\?(?P<query>[0-9A-Za-z_=&\-]+))?",
            r"(?:@(?P<dc>[0-9A-Za-z_.\-]+))?",
            r"(?:~(?P<near>[0-9A-Za-z_.\-]+))?\z"
        ))
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

/// The arguments joined without a separator, as upstream's `node`/`nodes` do.
fn joined(args: &[Value]) -> Result<String, FuncError> {
    (0..args.len()).map(|i| arg_str(args, i)).collect()
}

/// `node ["name"] ["@dc"]`: the catalog entry of a node, the agent's own by default; nil until
/// it arrives.
fn node(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let s = joined(args)?;
    let (name, dc) = if s.is_empty() {
        (None, None)
    } else {
        let caps = node_re().captures(&s).ok_or_else(|| {
            FuncError::new(format!("catalog.node: invalid format: {}", go_quote(&s)))
        })?;
        (
            Some(caps["name"].to_owned()),
            caps.name("dc").map(|m| m.as_str().to_owned()),
        )
    };
    let name = match name {
        Some(n) => n,
        // The agent's node name, from `/v1/agent/self` (as `Agent().NodeName()` does).
        None => match st.api(ApiRead::new("agent/self").polled()) {
            Some(agent) => json_str(agent.get("Config").unwrap_or(&agent), "NodeName"),
            None => return Ok(Value::from(())),
        },
    };
    let read = with_dc_near(
        ApiRead::new(format!("catalog/node/{}", segment(&name))),
        dc.as_deref(),
        None,
    );
    Ok(match st.api(read) {
        Some(answer) => {
            go_object_arc(Arc::new(CatalogNode::from_json(&answer)) as Arc<dyn GoObject>)
        }
        None => Value::from(()),
    })
}

/// `nodes ["?query"] ["@dc"] ["~near"]`: every node, sorted by name then address unless
/// `~near` orders them by round-trip time.
fn nodes(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let s = joined(args)?;
    let caps = nodes_re().captures(&s).ok_or_else(|| {
        FuncError::new(format!("catalog.nodes: invalid format: {}", go_quote(&s)))
    })?;
    let near = caps.name("near").map(|m| m.as_str());
    let read = with_dc_near(
        ApiRead::new("catalog/nodes"),
        caps.name("dc").map(|m| m.as_str()),
        near,
    );
    let mut list: Vec<Node> = st
        .api(read)
        .and_then(|a| {
            a.as_array()
                .map(|a| a.iter().map(Node::from_json).collect())
        })
        .unwrap_or_default();
    if near.is_none() {
        list.sort_by(|a, b| a.node.cmp(&b.node).then_with(|| a.address.cmp(&b.address)));
    }
    let items = list
        .into_iter()
        .map(|n| go_object_arc(Arc::new(n) as Arc<dyn GoObject>))
        .collect();
    Ok(go_list(ListKind::Other(NODE.into()), items))
}

/// `datacenters [ignoreFailing]`: the datacenters' names, sorted; with `true`, only those whose
/// catalog answers.
fn datacenters(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let ignore_failing = match args.len() {
        0 => false,
        1 => arg_bool(args, 0)?,
        n => {
            return Err(FuncError::new(format!(
                "datacenters: wrong number of arguments, expected 0 or 1, but got {n}"
            )))
        }
    };
    let dep = Dependency::Datacenters { ignore_failing };
    st.use_dep(dep.clone());
    match st.data.datacenters.get(&ignore_failing) {
        Some(list) => Ok(strings_value(list)),
        None => {
            st.miss(dep);
            Ok(strings_value(&[]))
        }
    }
}

/// Registers `node`, `nodes` and `datacenters`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("node", Arity::at_least(0), node);
    funcs.insert("nodes", Arity::at_least(0), nodes);
    funcs.insert("datacenters", Arity::at_least(0), datacenters);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};
    use discovery_core::{RenderData, Renderer};

    fn render(src: &str, data: &RenderData) -> Result<discovery_core::Rendered, String> {
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate))
            .map_err(|e| e.to_string())?;
        ConsulTemplate::new(t)
            .render(data)
            .map_err(|e| e.to_string())
    }

    fn node_json() -> serde_json::Value {
        serde_json::json!({
            "Node": {"ID": "40e4a748", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1",
                     "TaggedAddresses": {"wan": "1.2.3.4", "lan": "10.0.0.1"}, "Meta": {"rack": "r1"}},
            "Services": {
                "web-2": {"ID": "web-2", "Service": "web", "Tags": ["b", "a"], "Meta": null,
                          "Port": 81, "Address": "", "EnableTagOverride": false},
                "db": {"ID": "db", "Service": "db", "Tags": null, "Meta": {"v": "1"},
                       "Port": 5432, "Address": "10.0.0.9", "EnableTagOverride": true},
                "web-1": {"ID": "web-1", "Service": "web", "Tags": [], "Port": 80}
            }
        })
    }

    fn with_api(read: ApiRead, body: serde_json::Value) -> RenderData {
        let mut data = RenderData::default();
        data.api.insert(read, Arc::new(body));
        data
    }

    #[test]
    fn node_prints_like_go_and_sorts_services_by_name_then_id() {
        let data = with_api(ApiRead::new("catalog/node/n1"), node_json());
        let out = render(
            r#"{{ with node "n1" }}{{ .Node }}|{{ .Node.TaggedAddresses.wan }}|{{ range .Services }}{{ .ID }} {{ end }}|{{ index .Services 0 }}|{{ printf "%+v" (index .Services 1) }}{{ end }}"#,
            &data,
        )
        .unwrap();
        // Go's %v of *dependency.Node / *CatalogNodeService: fields in declaration order,
        // maps sorted by key, tags sorted (deepCopyAndSortTags).
        assert_eq!(
            out.output,
            "&{40e4a748 n1 10.0.0.1 dc1 map[lan:10.0.0.1 wan:1.2.3.4] map[rack:r1]}|1.2.3.4|\
             db web-1 web-2 |&{db db [] map[v:1] 5432 10.0.0.9 true}|\
             &{ID:web-1 Service:web Tags:[] Meta:map[] Port:80 Address: EnableTagOverride:false}"
        );
        assert!(out.missing.is_empty());
    }

    #[test]
    fn node_without_a_name_reads_the_agents_own_node_first() {
        let out = render(
            "{{ with node }}{{ .Node.Address }}{{ else }}none{{ end }}",
            &RenderData::default(),
        )
        .unwrap();
        assert_eq!(out.output, "none");
        let agent_self = Dependency::Api(ApiRead::new("agent/self").polled());
        assert_eq!(out.missing.iter().collect::<Vec<_>>(), [&agent_self]);
        let mut data = with_api(ApiRead::new("catalog/node/n1"), node_json());
        data.api.insert(
            ApiRead::new("agent/self").polled(),
            Arc::new(serde_json::json!({"Config": {"NodeName": "n1"}})),
        );
        let out = render("{{ with node }}{{ .Node.Address }}{{ end }}", &data).unwrap();
        assert_eq!(out.output, "10.0.0.1");
        assert!(out.missing.is_empty());
    }

    #[test]
    fn an_unknown_node_has_a_nil_node_and_bad_queries_fail_as_upstream() {
        let data = with_api(
            with_dc_near(ApiRead::new("catalog/node/gone"), Some("dc2"), None),
            serde_json::Value::Null,
        );
        let out = render(
            r#"{{ with node "gone@dc2" }}{{ . }} {{ len .Services }}{{ end }}"#,
            &data,
        )
        .unwrap();
        assert_eq!(out.output, "&{<nil> []} 0");
        let err = render(r#"{{ node "bad name" }}"#, &data).unwrap_err();
        assert!(
            err.contains(r#"catalog.node: invalid format: "bad name""#),
            "{err}"
        );
        let err = render(r#"{{ nodes "dc1" }}"#, &data).unwrap_err();
        assert!(
            err.contains(r#"catalog.nodes: invalid format: "dc1""#),
            "{err}"
        );
    }

    #[test]
    fn nodes_sort_by_name_then_address_unless_near() {
        let body = serde_json::json!([
            {"ID": "2", "Node": "b", "Address": "10.0.0.2", "Datacenter": "dc1", "TaggedAddresses": null, "Meta": null},
            {"ID": "1", "Node": "a", "Address": "10.0.0.9", "Datacenter": "dc1", "TaggedAddresses": {}, "Meta": {}},
            {"ID": "3", "Node": "a", "Address": "10.0.0.1", "Datacenter": "dc1"}
        ]);
        let mut data = with_api(ApiRead::new("catalog/nodes"), body.clone());
        let near = with_dc_near(ApiRead::new("catalog/nodes"), Some("dc1"), Some("_agent"));
        data.api.insert(near, Arc::new(body));
        let out = render(
            r#"{{ range nodes }}{{ .Node }}={{ .Address }} {{ end }}|{{ range nodes "@dc1~_agent" }}{{ .ID }}{{ end }}|{{ index nodes 0 }}"#,
            &data,
        )
        .unwrap();
        assert_eq!(
            out.output,
            "a=10.0.0.1 a=10.0.0.9 b=10.0.0.2 |213|&{3 a 10.0.0.1 dc1 map[] map[]}"
        );
    }

    #[test]
    fn datacenters_waits_then_lists_and_checks_its_arguments() {
        let out = render("{{ datacenters }}", &RenderData::default()).unwrap();
        assert_eq!(out.output, "[]");
        assert!(out.missing.contains(&Dependency::Datacenters {
            ignore_failing: false
        }));
        let mut data = RenderData::default();
        data.datacenters
            .insert(true, Arc::new(vec!["dc1".to_owned(), "dc2".to_owned()]));
        let out = render("{{ range datacenters true }}{{ . }};{{ end }}", &data).unwrap();
        assert_eq!(out.output, "dc1;dc2;");
        assert!(out.missing.is_empty());
        // template/funcs.go datacentersFunc.
        let err = render("{{ datacenters true false }}", &data).unwrap_err();
        assert!(
            err.contains("datacenters: wrong number of arguments, expected 0 or 1, but got 2"),
            "{err}"
        );
    }
}
