//! consul-template's grouping helpers: `byTag`, `byKey` and `explode`.

use std::collections::BTreeMap;

use minijinja::value::Value;

use super::data::KEY_PAIR;
use crate::func::{arg_value, wrong_type, Arity, FuncError, FuncMap, FuncResult};
use crate::gostr;
use crate::value::{as_go_object, go_list, go_map, go_type_name, seq_items, ListKind, MapKind};

fn pairs_of(v: &Value) -> Result<Vec<(String, Value)>, FuncError> {
    let items = seq_items(v).ok_or_else(|| wrong_type(&format!("[]{KEY_PAIR}"), v))?;
    items
        .into_iter()
        .map(|it| {
            let key = as_go_object(&it)
                .and_then(|o| o.field("Key"))
                .and_then(|k| k.as_str().map(str::to_owned))
                .ok_or_else(|| wrong_type(&format!("[]{KEY_PAIR}"), v))?;
            Ok((key, it))
        })
        .collect()
}

fn by_tag(v: &Value) -> FuncResult {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if !v.is_none() && !v.is_undefined() {
        let items = seq_items(v).ok_or_else(|| {
            FuncError::new(format!("byTag: wrong argument type {}", go_type_name(v)))
        })?;
        for it in items {
            let tags = as_go_object(&it)
                .and_then(|o| o.field("Tags"))
                .and_then(|t| seq_items(&t))
                .ok_or_else(|| {
                    FuncError::new(format!("byTag: wrong argument type {}", go_type_name(v)))
                })?;
            for t in tags {
                if let Some(t) = t.as_str() {
                    groups.entry(t.to_owned()).or_default().push(it.clone());
                }
            }
        }
    }
    let entries = groups
        .into_iter()
        .map(|(k, items)| (k, go_list(ListKind::Interface, items)))
        .collect();
    Ok(go_map(MapKind::Interface, entries))
}

fn by_key(v: &Value) -> FuncResult {
    let mut groups: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (key, pair) in pairs_of(v)? {
        let Some((top, rest)) = key.split_once('/') else {
            continue;
        };
        let o = as_go_object(&pair).ok_or_else(|| wrong_type(KEY_PAIR, &pair))?;
        let kp = super::data::KeyPair {
            path: o.field("Path").map(|p| p.to_string()).unwrap_or_default(),
            key: rest.to_owned(),
            value: o
                .field("Value")
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
            modify_index: o
                .field("ModifyIndex")
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0),
        };
        groups.entry(top.to_owned()).or_default().insert(
            rest.to_owned(),
            crate::value::go_object_arc(std::sync::Arc::new(kp)),
        );
    }
    let entries = groups
        .into_iter()
        .map(|(k, m)| (k, go_map(MapKind::Interface, m)))
        .collect();
    Ok(go_map(MapKind::Interface, entries))
}

enum Tree {
    Leaf(Value),
    Node(BTreeMap<String, Tree>),
}

fn explode(v: &Value) -> FuncResult {
    let mut root: BTreeMap<String, Tree> = BTreeMap::new();
    for (key, pair) in pairs_of(v)? {
        let value = as_go_object(&pair)
            .and_then(|o| o.field("Value"))
            .unwrap_or_else(|| Value::from(""));
        let mut node = &mut root;
        let mut parts: Vec<&str> = key.split('/').collect();
        let last = parts.pop().unwrap_or("");
        for p in parts {
            let entry = node
                .entry(p.to_owned())
                .or_insert_with(|| Tree::Node(BTreeMap::new()));
            match entry {
                Tree::Node(m) => node = m,
                Tree::Leaf(old) => {
                    return Err(FuncError::new(format!(
                        "explode: not a map: {}: {} already has value {}",
                        gostr::go_quote(&key),
                        gostr::go_quote(p),
                        gostr::go_quote(&old.to_string())
                    )))
                }
            }
        }
        if !last.is_empty() {
            node.insert(last.to_owned(), Tree::Leaf(value));
        }
    }
    fn to_value(m: BTreeMap<String, Tree>) -> Value {
        let entries = m
            .into_iter()
            .map(|(k, t)| match t {
                Tree::Leaf(v) => (k, v),
                Tree::Node(n) => (k, to_value(n)),
            })
            .collect();
        go_map(MapKind::Interface, entries)
    }
    Ok(to_value(root))
}

/// Registers the grouping helpers.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("byTag", Arity::exact(1), |_, a| by_tag(arg_value(a, 0)?));
    funcs.insert("byKey", Arity::exact(1), |_, a| by_key(arg_value(a, 0)?));
    funcs.insert("explode", Arity::exact(1), |_, a| explode(arg_value(a, 0)?));
}
