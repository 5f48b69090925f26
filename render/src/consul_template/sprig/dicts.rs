//! Sprig's `dict.go`: `dict get set unset hasKey pluck keys values pick omit dig merge
//! mergeOverwrite deepCopy` (and the `must` forms). Maps are [`Dict`]s, changed in place by
//! `set`, `unset` and the merges as Go's maps are.
//!
//! Go ranges a map in random order, so upstream's `keys` and `values` have no fixed order;
//! here they follow the sorted keys.

use std::collections::BTreeMap;

use minijinja::Value;

use super::conv::{iface_list, list_items, list_kind, strval};
use super::dict_value::{arg_dict, dict_value, new_dict, Dict};
use super::reg;
use crate::func::{arg_str, arg_value, Arity, FuncError, FuncMap, FuncResult};
use crate::value::{as_go_object, go_list, go_type_name, map_entries, string_list};

/// A deep copy: maps and slices are rebuilt, scalars and structs shared (they are immutable).
fn deep_copy(v: &Value) -> Value {
    if as_go_object(v).is_some() || v.as_str().is_some() {
        return v.clone();
    }
    if let Some(items) = list_items(v) {
        return go_list(list_kind(v), items.iter().map(deep_copy).collect());
    }
    if let Some(entries) = map_entries(v) {
        if v.downcast_object::<Dict>().is_some() || go_type_name(v) == "map[string]interface {}" {
            return new_dict(
                entries
                    .iter()
                    .map(|(k, x)| (k.clone(), deep_copy(x)))
                    .collect(),
            );
        }
    }
    v.clone()
}

/// A nested `map[string]interface {}` value's entries, for `dig` and the merges.
fn as_map(v: &Value) -> Option<BTreeMap<String, Value>> {
    if go_type_name(v) != "map[string]interface {}" {
        return None;
    }
    Some(map_entries(v)?.into_iter().collect())
}

/// dario.cat/mergo's `Merge` (and `WithOverride`) of two `map[string]interface {}`: nested maps
/// merge; otherwise a source value fills an absent or empty destination value, or with
/// `overwrite` replaces it (nil and empty sources included).
fn merge_into(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, s) in src {
        let d = dst.get(k).cloned();
        let d_full = d.as_ref().filter(|d| !super::conv::empty(d));
        if let (Some(d), Some(sm)) = (d_full, as_map(s)) {
            if let Some(mut dm) = as_map(d) {
                merge_into(&mut dm, &sm, overwrite);
                match d.downcast_object::<Dict>() {
                    Some(shared) => shared.with_mut(|e| *e = dm),
                    None => {
                        dst.insert(k.clone(), new_dict(dm));
                    }
                }
                continue;
            }
        }
        if overwrite || d_full.is_none() {
            if d_full.is_none() && super::conv::is_nil(s) && !overwrite {
                continue;
            }
            dst.insert(k.clone(), s.clone());
        }
    }
}

fn merge(a: &[Value], overwrite: bool) -> FuncResult {
    let dst = arg_dict(arg_value(a, 0)?)?;
    for v in &a[1..] {
        let src = arg_dict(v)?.snapshot();
        dst.with_mut(|d| merge_into(d, &src, overwrite));
    }
    Ok(dict_value(dst))
}

/// `dig k1 k2 ... default map`, with the type assertion panics as Go words them.
fn dig(a: &[Value]) -> FuncResult {
    if a.len() < 3 {
        return Err(FuncError::new("dig needs at least three arguments"));
    }
    let assert_fail = |v: &Value, want: &str| {
        FuncError::new(format!(
            "interface conversion: interface {{}} is {}, not {want}",
            if super::conv::is_nil(v) {
                "nil".to_string()
            } else {
                go_type_name(v)
            }
        ))
    };
    let last = &a[a.len() - 1];
    let mut cur = as_map(last).ok_or_else(|| assert_fail(last, "map[string]interface {}"))?;
    let def = &a[a.len() - 2];
    let keys = &a[..a.len() - 2];
    for k in keys {
        if k.as_str().is_none() {
            return Err(assert_fail(k, "string"));
        }
    }
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = cur.get(k.as_str().unwrap_or_default()).cloned() else {
            return Ok(def.clone());
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        cur = as_map(&step).ok_or_else(|| assert_fail(&step, "map[string]interface {}"))?;
    }
    Ok(def.clone())
}

/// Registers the dict functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "dict", Arity::at_least(0), |_, a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            let v = pair.get(1).cloned().unwrap_or(Value::from(""));
            m.insert(strval(&pair[0]), v);
        }
        Ok(new_dict(m))
    });
    reg(f, "get", Arity::exact(2), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?;
        let k = arg_str(a, 1)?;
        Ok(d.snapshot().get(k).cloned().unwrap_or(Value::from("")))
    });
    reg(f, "set", Arity::exact(3), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?;
        let k = arg_str(a, 1)?.to_string();
        let v = arg_value(a, 2)?.clone();
        d.with_mut(|m| m.insert(k, v));
        Ok(dict_value(d))
    });
    reg(f, "unset", Arity::exact(2), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?;
        let k = arg_str(a, 1)?;
        d.with_mut(|m| m.remove(k));
        Ok(dict_value(d))
    });
    reg(f, "hasKey", Arity::exact(2), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?;
        Ok(Value::from(d.snapshot().contains_key(arg_str(a, 1)?)))
    });
    reg(f, "pluck", Arity::at_least(1), |_, a| {
        let k = arg_str(a, 0)?;
        let mut out = Vec::new();
        for v in &a[1..] {
            if let Some(x) = arg_dict(v)?.snapshot().get(k) {
                out.push(x.clone());
            }
        }
        Ok(iface_list(out))
    });
    reg(f, "keys", Arity::at_least(0), |_, a| {
        let mut out = Vec::new();
        for v in a {
            out.extend(arg_dict(v)?.snapshot().into_keys());
        }
        Ok(string_list(out))
    });
    reg(f, "values", Arity::exact(1), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?;
        Ok(iface_list(d.snapshot().into_values().collect()))
    });
    reg(f, "pick", Arity::at_least(1), |_, a| {
        let d = arg_dict(arg_value(a, 0)?)?.snapshot();
        let mut out = BTreeMap::new();
        for i in 1..a.len() {
            let k = arg_str(a, i)?;
            if let Some(v) = d.get(k) {
                out.insert(k.to_string(), v.clone());
            }
        }
        Ok(new_dict(out))
    });
    reg(f, "omit", Arity::at_least(1), |_, a| {
        let mut d = arg_dict(arg_value(a, 0)?)?.snapshot();
        for i in 1..a.len() {
            d.remove(arg_str(a, i)?);
        }
        Ok(new_dict(d))
    });
    reg(f, "dig", Arity::at_least(0), |_, a| dig(a));
    for name in ["merge", "mustMerge"] {
        reg(f, name, Arity::at_least(1), |_, a| merge(a, false));
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        reg(f, name, Arity::at_least(1), |_, a| merge(a, true));
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        reg(f, name, Arity::exact(1), |_, a| {
            Ok(deep_copy(arg_value(a, 0)?))
        });
    }
}
