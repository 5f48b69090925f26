//! consul-template's map helpers: `explodeMap`, `mergeMap`, `mergeMapWithOverride` (dario.cat/mergo
//! `Map`, with and without `WithOverride`) and `splitToMap`.

use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};

use crate::func::{arg_str, arg_value, wrong_type, Arity, FuncError, FuncMap, FuncResult};
use crate::gofmt::sprintf;
use crate::gostr;
use crate::value::{as_go_map, as_go_object, go_map, map_entries, seq_items, MapKind};

/// A `map[string]interface {}` parameter: its entries (nil is an empty map), or Go's type error.
fn interface_map(v: &Value) -> Result<BTreeMap<String, Value>, FuncError> {
    if v.is_undefined() || v.is_none() {
        return Ok(BTreeMap::new());
    }
    let ok = match as_go_map(v) {
        Some(m) => m.kind == MapKind::Interface,
        None => v.kind() == ValueKind::Map && as_go_object(v).is_none(),
    };
    if !ok {
        return Err(wrong_type("map[string]interface {}", v));
    }
    Ok(map_entries(v).unwrap_or_default().into_iter().collect())
}

/// A nested map value's entries and kind, when `v` is a map (not a Go struct).
fn nested_map(v: &Value) -> Option<(MapKind, BTreeMap<String, Value>)> {
    if as_go_object(v).is_some() || v.as_str().is_some() {
        return None;
    }
    let kind = match as_go_map(v) {
        Some(m) => m.kind.clone(),
        None if v.kind() == ValueKind::Map => MapKind::Interface,
        None => return None,
    };
    Some((kind, map_entries(v)?.into_iter().collect()))
}

fn is_slice(v: &Value) -> bool {
    as_go_object(v).is_none() && v.as_str().is_none() && seq_items(v).is_some()
}

/// mergo's `isEmptyValue` (dereferencing): nil, `""`, `0`, `false` and empty maps and slices.
fn is_empty(v: &Value) -> bool {
    if as_go_object(v).is_some() {
        return false;
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => true,
        ValueKind::Bool => !v.is_true(),
        ValueKind::Number => crate::value::as_f64(v) == Some(0.0),
        ValueKind::String | ValueKind::Bytes => v.as_str().is_some_and(str::is_empty),
        _ => v.len() == Some(0),
    }
}

/// mergo's `deepMerge` of two `map[string]interface {}` values, as `mergeMap` drives it.
///
/// For each key of `src`: a nil value replaces only with `overwrite`; two non-empty maps merge
/// recursively; otherwise the source value goes in when `overwrite` is set or the destination
/// has no (or an empty) value there, and the destination's value stays when it is non-empty.
fn deep_merge(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, s) in src {
        if s.is_undefined() || s.is_none() {
            if overwrite {
                dst.insert(k.clone(), Value::from(()));
            }
            continue;
        }
        let d = dst.get(k).cloned();
        let d_full = d.as_ref().filter(|d| !is_empty(d));
        if let Some(d) = d_full {
            if let (Some((kind, mut dm)), Some((_, sm))) = (nested_map(d), nested_map(s)) {
                deep_merge(&mut dm, &sm, overwrite);
                dst.insert(k.clone(), go_map(kind, dm));
                continue;
            }
            if is_slice(s) && !overwrite {
                continue;
            }
        }
        if overwrite || d_full.is_none() {
            dst.insert(k.clone(), s.clone());
        }
    }
}

fn merge_map(a: &[Value], overwrite: bool) -> FuncResult {
    let mut dst = interface_map(arg_value(a, 0)?)?;
    let src = interface_map(arg_value(a, 1)?)?;
    deep_merge(&mut dst, &src, overwrite);
    Ok(go_map(MapKind::Interface, dst))
}

enum Tree {
    Leaf(Value),
    Node(BTreeMap<String, Tree>),
}

/// Upstream's `explodeHelper`: `a/b/c` becomes nested maps `a` → `b` → `c`; an empty last
/// segment stores nothing.
fn explode_into(
    node: &mut BTreeMap<String, Tree>,
    key: &str,
    value: Value,
    parent: &str,
) -> Result<(), FuncError> {
    let Some((top, rest)) = key.split_once('/') else {
        if !key.is_empty() {
            node.insert(key.to_owned(), Tree::Leaf(value));
        }
        return Ok(());
    };
    let entry = node
        .entry(top.to_owned())
        .or_insert_with(|| Tree::Node(BTreeMap::new()));
    match entry {
        Tree::Node(m) => explode_into(m, rest, value, key),
        Tree::Leaf(old) => Err(FuncError::new(format!(
            "not a map: {}: {} already has value {}",
            gostr::go_quote(parent),
            gostr::go_quote(top),
            sprintf("%q", std::slice::from_ref(old))
        ))),
    }
}

fn tree_value(m: BTreeMap<String, Tree>) -> Value {
    let entries = m
        .into_iter()
        .map(|(k, t)| match t {
            Tree::Leaf(v) => (k, v),
            Tree::Node(n) => (k, tree_value(n)),
        })
        .collect();
    go_map(MapKind::Interface, entries)
}

fn explode_map(v: &Value) -> FuncResult {
    let mut root = BTreeMap::new();
    for (k, val) in interface_map(v)? {
        explode_into(&mut root, &k, val, &k)
            .map_err(|e| FuncError::new(format!("explodeMap: {}", e.message)))?;
    }
    Ok(tree_value(root))
}

/// `splitToMap sep1 sep2 s`: `s` (trimmed) split on `sep1`, each item cut at the first `sep2`
/// into key and value; items without `sep2` are dropped.
fn split_to_map(sep1: &str, sep2: &str, s: &str) -> Value {
    let s = s.trim();
    let mut m = BTreeMap::new();
    if !s.is_empty() {
        for item in gostr::split(s, sep1) {
            if let Some((k, v)) = cut(&item, sep2) {
                m.insert(k.to_owned(), Value::from(v));
            }
        }
    }
    go_map(MapKind::String, m)
}

/// Go's `strings.Cut` (an empty separator cuts before the first byte).
fn cut<'s>(s: &'s str, sep: &str) -> Option<(&'s str, &'s str)> {
    if sep.is_empty() {
        return Some(("", s));
    }
    s.split_once(sep)
}

/// Registers the map helpers.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("explodeMap", Arity::exact(1), |_, a| {
        explode_map(arg_value(a, 0)?)
    });
    funcs.insert("mergeMap", Arity::exact(2), |_, a| merge_map(a, false));
    funcs.insert("mergeMapWithOverride", Arity::exact(2), |_, a| {
        merge_map(a, true)
    });
    funcs.insert("splitToMap", Arity::exact(3), |_, a| {
        Ok(split_to_map(arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?))
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::render;

    #[test]
    fn explode_map_nests_keys() {
        // template/template_test.go helper_explodemap.
        assert_eq!(
            render(r#"{{ scratch.MapSet "explode-test" "foo/bar" "a"}}{{ scratch.MapSet "explode-test" "qux" "c"}}{{ scratch.MapSet "explode-test" "zip/zap" "d"}}{{ scratch.Get "explode-test" | explodeMap }}"#).unwrap(),
            "map[foo:map[bar:a] qux:c zip:map[zap:d]]"
        );
        let err = render(r#"{{ scratch.MapSet "m" "a" "x"}}{{ scratch.MapSet "m" "a/b" "y"}}{{ scratch.Get "m" | explodeMap }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"explodeMap: not a map: "a/b": "a" already has value "x""#),
            "{err}"
        );
        let err = render(r#"{{ explodeMap (split "," "a") }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected map[string]interface {}; got []string"),
            "{err}"
        );
    }

    #[test]
    fn merge_map_keeps_or_overrides() {
        // template/template_test.go helper_mergeMap and helper_mergeMapWithOverride (with
        // `explode` of foo/bar=a, zip/zap=b standing for the piped tree).
        let base =
            r#"{{ $base := "{\"zip\":{\"zap\":\"t\"},\"voo\":{\"bar\":\"v\"}}" | parseJSON }}"#;
        let src =
            r#"{{ $src := "{\"foo\":{\"bar\":\"a\"},\"zip\":{\"zap\":\"b\"}}" | parseJSON }}"#;
        assert_eq!(
            render(&format!(
                "{base}{src}{{{{ $src | mergeMapWithOverride $base }}}}"
            ))
            .unwrap(),
            "map[foo:map[bar:a] voo:map[bar:v] zip:map[zap:b]]"
        );
        assert_eq!(
            render(&format!("{base}{src}{{{{ $src | mergeMap $base }}}}")).unwrap(),
            "map[foo:map[bar:a] voo:map[bar:v] zip:map[zap:t]]"
        );
        // mergo: an empty destination value is filled, a non-empty one kept; slices are not
        // merged; nil overrides only WithOverride.
        let d = r#"{{ $d := "{\"e\":\"\",\"s\":\"x\",\"l\":[1],\"n\":1}" | parseJSON }}"#;
        let s = r#"{{ $s := "{\"e\":\"y\",\"s\":\"z\",\"l\":[2,3],\"n\":null,\"new\":[4]}" | parseJSON }}"#;
        assert_eq!(
            render(&format!("{d}{s}{{{{ mergeMap $d $s }}}}")).unwrap(),
            "map[e:y l:[1] n:1 new:[4] s:x]"
        );
        assert_eq!(
            render(&format!("{d}{s}{{{{ mergeMapWithOverride $d $s }}}}")).unwrap(),
            "map[e:y l:[2 3] n:<nil> new:[4] s:z]"
        );
    }

    #[test]
    fn split_to_map_cuts_each_item() {
        // template/template_test.go helper_splitToMap.
        assert_eq!(
            render(r#"{{ "a:x,b:y,c:z" | splitToMap "," ":" }}"#).unwrap(),
            "map[a:x b:y c:z]"
        );
        // Items without the second separator are dropped; a value keeps later separators.
        assert_eq!(
            render(r#"{{ " a=1=2;b;c= " | splitToMap ";" "=" }}|{{ "" | splitToMap "," ":" }}"#)
                .unwrap(),
            "map[a:1=2 c:]|map[]"
        );
    }
}
