//! consul-template's data functions (`service services key keyExists keyOrDefault ls safeLs
//! tree safeTree`) over a [`discovery_core::RenderData`], recording what they read and what
//! the data lacked, and the Go structs they return.

use std::collections::BTreeMap;
use std::sync::Arc;

use discovery_core::{Dependency, Key, ServiceInstance, ServiceName};
use minijinja::Value;

use super::query::{parse_key, parse_prefix, parse_service};
use super::CtState;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::value::{
    go_list, go_map, go_object_arc, string_list, FormatVerb, GoObject, ListKind, MapKind,
};

pub(crate) const HEALTH_SERVICE: &str = "*dependency.HealthService";
pub(crate) const KEY_PAIR: &str = "*dependency.KeyPair";
pub(crate) const CATALOG_SNIPPET: &str = "*dependency.CatalogSnippet";

/// A `dependency.HealthService`.
#[derive(Debug)]
pub(crate) struct HealthService {
    pub(crate) node: String,
    pub(crate) node_address: String,
    pub(crate) address: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) status: String,
    pub(crate) port: i64,
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    go_map(
        MapKind::String,
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

impl HealthService {
    fn from_instance(i: &ServiceInstance) -> Self {
        let (node, node_address) = i
            .node
            .as_ref()
            .map(|n| (n.name.clone(), n.address.clone()))
            .unwrap_or_default();
        let address = if i.address.is_empty() {
            node_address.clone()
        } else {
            i.address.clone()
        };
        HealthService {
            node,
            node_address,
            address,
            id: i.id.as_str().to_owned(),
            name: i.service.as_str().to_owned(),
            tags: i.tags.iter().cloned().collect(),
            meta: i.meta.clone(),
            status: i.health.as_str().to_owned(),
            port: i64::from(i.port.unwrap_or(0)),
        }
    }
}

impl GoObject for HealthService {
    fn type_name(&self) -> &str {
        HEALTH_SERVICE
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Node" => Value::from(self.node.as_str()),
            "NodeID" => Value::from(""),
            "NodeAddress" => Value::from(self.node_address.as_str()),
            "NodeTaggedAddresses" | "NodeMeta" => string_map(&BTreeMap::new()),
            "ServiceMeta" => string_map(&self.meta),
            "Address" => Value::from(self.address.as_str()),
            "ID" => Value::from(self.id.as_str()),
            "Name" => Value::from(self.name.as_str()),
            "Tags" => string_list(self.tags.clone()),
            "Checks" => go_list(ListKind::Other("*api.HealthCheck".into()), Vec::new()),
            "Status" => Value::from(self.status.as_str()),
            "Port" => Value::from(self.port),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        // Go prints a *HealthService as &{...} with every field in declaration order (the
        // checks are pointers, whose addresses Go prints; they are left empty here).
        let meta = crate::value::format_value(&string_map(&self.meta));
        let tags = self.tags.join(" ");
        match verb {
            FormatVerb::PlusV => format!(
                "&{{Node:{} NodeID: NodeAddress:{} NodeTaggedAddresses:map[] NodeMeta:map[] \
                 ServiceMeta:{meta} Address:{} ID:{} Name:{} Tags:[{tags}] Checks:[] Status:{} Port:{}}}",
                self.node, self.node_address, self.address, self.id, self.name, self.status, self.port
            ),
            _ => format!(
                "&{{{}  {} map[] map[] {meta} {} {} {} [{tags}] [] {} {}}}",
                self.node, self.node_address, self.address, self.id, self.name, self.status, self.port
            ),
        }
    }
}

/// A `dependency.KeyPair`.
#[derive(Debug)]
pub(crate) struct KeyPair {
    pub(crate) path: String,
    pub(crate) key: String,
    pub(crate) value: Arc<str>,
    pub(crate) modify_index: u64,
}

impl GoObject for KeyPair {
    fn type_name(&self) -> &str {
        KEY_PAIR
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Path" => Value::from(self.path.as_str()),
            "Key" => Value::from(self.key.as_str()),
            "Value" => Value::from(self.value.clone()),
            "Exists" => Value::from(true),
            "CreateIndex" | "LockIndex" | "Flags" => Value::from(0),
            "ModifyIndex" => Value::from(self.modify_index),
            "Session" => Value::from(""),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::PlusV => format!(
                "&{{Path:{} Key:{} Value:{} Exists:true CreateIndex:0 ModifyIndex:{} LockIndex:0 Flags:0 Session:}}",
                self.path, self.key, self.value, self.modify_index
            ),
            _ => format!(
                "&{{{} {} {} true 0 {} 0 0 }}",
                self.path, self.key, self.value, self.modify_index
            ),
        }
    }
}

/// A `dependency.CatalogSnippet` (one entry of `services`).
#[derive(Debug)]
pub(crate) struct CatalogSnippet {
    name: String,
    pub(crate) tags: Vec<String>,
}

impl GoObject for CatalogSnippet {
    fn type_name(&self) -> &str {
        CATALOG_SNIPPET
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Name" => Some(Value::from(self.name.as_str())),
            "Tags" => Some(string_list(self.tags.clone())),
            _ => None,
        }
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, _verb: FormatVerb) -> String {
        format!("&{{{} [{}]}}", self.name, self.tags.join(" "))
    }
}

pub(crate) fn state<'a>(ctx: &'a CallCtx<'_>) -> Result<&'a CtState, FuncError> {
    ctx.state::<CtState>()
        .ok_or_else(|| FuncError::new("consul-template functions need a consul-template render"))
}

fn kv_key(k: &str) -> Result<Key, FuncError> {
    Key::new(format!("/{k}")).map_err(|e| FuncError::new(e.to_string()))
}

fn service(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let parts = (0..args.len())
        .map(|i| arg_str(args, i))
        .collect::<Result<Vec<_>, _>>()?;
    let empty = || go_list(ListKind::Other(HEALTH_SERVICE.into()), Vec::new());
    if parts.first().is_none_or(|p| p.is_empty()) {
        return Ok(empty());
    }
    let q = parse_service(&parts.join("|")).map_err(FuncError::new)?;
    let name = ServiceName::new(q.name.clone()).map_err(|e| FuncError::new(e.to_string()))?;
    let dep = Dependency::Service(name.clone());
    st.use_dep(dep.clone());
    let Some(snapshot) = st.data.services.get(&name) else {
        st.miss(dep);
        return Ok(empty());
    };
    let mut list: Vec<HealthService> = snapshot
        .instances
        .values()
        .filter(|i| q.tag.as_ref().is_none_or(|t| i.tags.contains(t)))
        .filter(|i| q.accepts(i.health.as_str()))
        .map(HealthService::from_instance)
        .collect();
    list.sort_by(|a, b| a.node.cmp(&b.node).then_with(|| a.id.cmp(&b.id)));
    let items = list
        .into_iter()
        .map(|h| go_object_arc(Arc::new(h) as Arc<dyn GoObject>))
        .collect();
    Ok(go_list(ListKind::Other(HEALTH_SERVICE.into()), items))
}

fn services(ctx: &CallCtx<'_>, _args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    st.use_dep(Dependency::Catalog);
    let Some(catalog) = &st.data.catalog else {
        st.miss(Dependency::Catalog);
        return Ok(go_list(ListKind::Other(CATALOG_SNIPPET.into()), Vec::new()));
    };
    let items = catalog
        .iter()
        .map(|(name, tags)| {
            let s = CatalogSnippet {
                name: name.as_str().to_owned(),
                tags: tags.iter().cloned().collect(),
            };
            go_object_arc(Arc::new(s) as Arc<dyn GoObject>)
        })
        .collect();
    Ok(go_list(ListKind::Other(CATALOG_SNIPPET.into()), items))
}

/// Looks a key up: `Some(value)` when present. Records the dependency.
fn lookup_key(st: &CtState, s: &str) -> Result<(Dependency, Option<String>), FuncError> {
    let key = kv_key(&parse_key(s).map_err(FuncError::new)?)?;
    let dep = Dependency::Key(key.clone());
    st.use_dep(dep.clone());
    let value = st
        .data
        .kv
        .pairs
        .get(&key)
        .map(|p| String::from_utf8_lossy(&p.value).into_owned());
    Ok((dep, value))
}

fn list(ctx: &CallCtx<'_>, args: &[Value], top_level: bool, empty_is_safe: bool) -> FuncResult {
    let st = state(ctx)?;
    let prefix = parse_prefix(arg_str(args, 0)?);
    let dep_key = prefix.trim_end_matches('/');
    let dep = Dependency::Prefix(kv_key(dep_key)?);
    st.use_dep(dep.clone());
    let raw = format!("/{prefix}");
    let start = Key::new(raw.clone()).map_err(|e| FuncError::new(e.to_string()))?;
    let mut items = Vec::new();
    for (k, pair) in st.data.kv.pairs.range(start..) {
        let Some(rest) = k.as_str().strip_prefix(&raw) else {
            break;
        };
        let rel = rest.trim_start_matches('/');
        let keep = if top_level {
            !rel.is_empty() && !rel.contains('/')
        } else {
            !rel.rsplit('/').next().unwrap_or("").is_empty()
        };
        if !keep {
            continue;
        }
        let kp = KeyPair {
            path: k.as_str()[1..].to_owned(),
            key: rel.to_owned(),
            value: Arc::from(String::from_utf8_lossy(&pair.value).as_ref()),
            modify_index: pair.mod_revision.0,
        };
        items.push(go_object_arc(Arc::new(kp) as Arc<dyn GoObject>));
    }
    if items.is_empty() && !empty_is_safe {
        st.miss(dep);
    }
    Ok(go_list(ListKind::Other(KEY_PAIR.into()), items))
}

/// Registers the data functions.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("service", Arity::at_least(0), service);
    funcs.insert("services", Arity::at_least(0), services);
    funcs.insert("key", Arity::exact(1), |ctx, args| {
        let st = state(ctx)?;
        let s = arg_str(args, 0)?;
        if s.is_empty() {
            return Ok(Value::from(""));
        }
        let (dep, value) = lookup_key(st, s)?;
        match value {
            Some(v) => Ok(Value::from(v)),
            None => {
                st.miss(dep);
                Ok(Value::from(""))
            }
        }
    });
    funcs.insert("keyExists", Arity::exact(1), |ctx, args| {
        let (_, value) = lookup_key(state(ctx)?, arg_str(args, 0)?)?;
        Ok(Value::from(value.is_some()))
    });
    // `key_or_default` is consul-template 0.18's spelling (removed in 0.19): the same function.
    for name in ["keyOrDefault", "key_or_default"] {
        funcs.insert(name, Arity::exact(2), |ctx, args| {
            let (_, value) = lookup_key(state(ctx)?, arg_str(args, 0)?)?;
            let default = arg_str(args, 1)?;
            Ok(Value::from(
                value
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_owned()),
            ))
        });
    }
    funcs.insert("ls", Arity::exact(1), |c, a| list(c, a, true, true));
    funcs.insert("safeLs", Arity::exact(1), |c, a| list(c, a, true, false));
    funcs.insert("tree", Arity::exact(1), |c, a| list(c, a, false, true));
    funcs.insert("safeTree", Arity::exact(1), |c, a| list(c, a, false, false));
}
