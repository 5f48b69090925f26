//! confd's helper functions (`resource/template/template_funcs.go`).

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;

use minijinja::value::Value;

use super::datetime::GoTime;
use super::memkv::{KVPAIRS_NAMED, KVPAIR_TYPE};
use crate::func::{arg_int, arg_str, arg_str_list, arg_value, Arity, CallCtx, FuncError, FuncMap};
use crate::gostr;
use crate::value::{as_go_list, go_list, go_map, go_object, string_list, ListKind, MapKind};

fn env_of<'a>(ctx: &'a CallCtx<'_>) -> Option<&'a crate::template::EnvSource> {
    ctx.state::<super::ConfdState>().map(|s| &s.env)
}

fn lookup_ip(name: &str) -> Vec<String> {
    let mut ips: Vec<String> = match (name, 0u16).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| a.ip().to_string()).collect(),
        Err(_) => Vec::new(),
    };
    ips.sort();
    ips.dedup();
    ips
}

fn int_op(funcs: &mut FuncMap, name: &str, op: fn(i64, i64) -> Result<i64, FuncError>) {
    funcs.insert(name, Arity::exact(2), move |_, args| {
        Ok(Value::from(op(arg_int(args, 0)?, arg_int(args, 1)?)?))
    });
}

fn divide_by_zero() -> FuncError {
    FuncError::new("runtime error: integer divide by zero")
}

/// Sorts a `[]string` in place by length (stable, like Go's `sort.Sort` on short lists).
fn sort_strings(v: &Value) -> Result<Value, FuncError> {
    match as_go_list(v) {
        Some(l) if l.kind == ListKind::String => {
            l.with_items_mut(|items| items.sort_by_key(str_len));
            Ok(v.clone())
        }
        _ => Err(crate::func::wrong_type("[]string", v)),
    }
}

/// Sorts a `[]memkv.KVPair` (or `memkv.KVPairs`) in place by key length; the result has Go's
/// declared return type `[]memkv.KVPair`.
fn sort_pairs(v: &Value) -> Result<Value, FuncError> {
    match as_go_list(v) {
        Some(l) if l.kind == ListKind::Struct(KVPAIR_TYPE.into()) => {
            l.with_items_mut(|items| items.sort_by_key(key_len));
            Ok(v.clone())
        }
        Some(l) if l.kind == ListKind::Other(KVPAIRS_NAMED.into()) => {
            l.with_items_mut(|items| items.sort_by_key(key_len));
            Ok(go_list(ListKind::Struct(KVPAIR_TYPE.into()), l.snapshot()))
        }
        _ => Err(crate::func::wrong_type("[]memkv.KVPair", v)),
    }
}

/// A Go `string` argument as bytes: strings, and byte values (Go strings need not be UTF-8).
pub(crate) fn arg_bytes(a: &[Value], i: usize) -> Result<&[u8], FuncError> {
    match arg_value(a, i)? {
        v if v.kind() == minijinja::value::ValueKind::Bytes => v
            .as_bytes()
            .ok_or_else(|| crate::func::wrong_type("string", v)),
        _ => Ok(arg_str(a, i)?.as_bytes()),
    }
}

fn str_len(v: &Value) -> usize {
    v.as_str().map_or(0, str::len)
}

fn key_len(v: &Value) -> usize {
    crate::value::as_go_object(v)
        .and_then(|o| o.field("Key"))
        .as_ref()
        .and_then(Value::as_str)
        .map_or(0, str::len)
}

/// confd's `CreateMap` (`map`, and the fork's `dict`): alternating string keys and values
/// into a `map[string]interface {}`.
pub(super) fn create_map(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() % 2 != 0 {
        return Err(FuncError::new("invalid map call"));
    }
    let mut m = BTreeMap::new();
    for pair in a.chunks(2) {
        let key = pair[0]
            .as_str()
            .ok_or_else(|| FuncError::new("map keys must be strings"))?;
        m.insert(key.to_owned(), pair[1].clone());
    }
    Ok(go_map(MapKind::Interface, m))
}

/// Registers every confd helper.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("base", Arity::exact(1), |_, a| {
        Ok(gostr::path_base(arg_str(a, 0)?).into())
    });
    funcs.insert("dir", Arity::exact(1), |_, a| {
        Ok(gostr::path_dir(arg_str(a, 0)?).into())
    });
    funcs.insert("split", Arity::exact(2), |_, a| {
        Ok(string_list(gostr::split(arg_str(a, 0)?, arg_str(a, 1)?)))
    });
    funcs.insert("join", Arity::exact(2), |_, a| {
        Ok(arg_str_list(a, 0)?.join(arg_str(a, 1)?).into())
    });
    funcs.insert("json", Arity::exact(1), |_, a| {
        crate::gojson::decode_object(arg_str(a, 0)?).map_err(FuncError::new)
    });
    funcs.insert("jsonArray", Arity::exact(1), |_, a| {
        crate::gojson::decode_array(arg_str(a, 0)?).map_err(FuncError::new)
    });
    funcs.insert("map", Arity::at_least(0), |_, a| create_map(a));
    funcs.insert("getenv", Arity::at_least(1), |ctx, a| {
        let key = arg_str(a, 0)?;
        let value = env_of(ctx).and_then(|e| e.get(key)).unwrap_or_default();
        if value.is_empty() && a.len() > 1 {
            return Ok(arg_str(a, 1)?.into());
        }
        Ok(value.into())
    });
    funcs.insert("datetime", Arity::exact(0), |_, _| {
        Ok(go_object(GoTime::now_local()))
    });
    funcs.insert("toUpper", Arity::exact(1), |_, a| {
        Ok(gostr::to_upper(arg_str(a, 0)?).into())
    });
    funcs.insert("toLower", Arity::exact(1), |_, a| {
        Ok(gostr::to_lower(arg_str(a, 0)?).into())
    });
    funcs.insert("contains", Arity::exact(2), |_, a| {
        Ok(arg_str(a, 0)?.contains(arg_str(a, 1)?).into())
    });
    funcs.insert("replace", Arity::exact(4), |_, a| {
        let (s, old, new) = (arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?);
        Ok(gostr::replace(s, old, new, arg_int(a, 3)?).into())
    });
    funcs.insert("trimSuffix", Arity::exact(2), |_, a| {
        let (s, suffix) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(s.strip_suffix(suffix).unwrap_or(s).into())
    });
    funcs.insert("lookupIP", Arity::exact(1), |_, a| {
        Ok(string_list(lookup_ip(arg_str(a, 0)?)))
    });
    funcs.insert("lookupIPV4", Arity::exact(1), |_, a| {
        let ips = lookup_ip(arg_str(a, 0)?)
            .into_iter()
            .filter(|i| i.contains('.'));
        Ok(string_list(ips.collect()))
    });
    funcs.insert("lookupIPV6", Arity::exact(1), |_, a| {
        let ips = lookup_ip(arg_str(a, 0)?)
            .into_iter()
            .filter(|i| i.contains(':'));
        Ok(string_list(ips.collect()))
    });
    funcs.insert("lookupSRV", Arity::exact(3), |_, a| {
        // No SRV resolver without an extra DNS dependency: an empty list, which is what confd
        // returns when the lookup fails (see COMPATIBILITY.md).
        for i in 0..3 {
            arg_str(a, i)?;
        }
        Ok(go_list(ListKind::Other("*net.SRV".into()), Vec::new()))
    });
    funcs.insert("fileExists", Arity::exact(1), |_, a| {
        let exists = match std::fs::metadata(arg_str(a, 0)?) {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        };
        Ok(exists.into())
    });
    funcs.insert("base64Encode", Arity::exact(1), |_, a| {
        Ok(gostr::base64_encode(arg_bytes(a, 0)?, false).into())
    });
    funcs.insert("base64Decode", Arity::exact(1), |_, a| {
        let bytes = gostr::base64_decode(arg_str(a, 0)?, false).map_err(FuncError::new)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned().into())
    });
    funcs.insert("parseBool", Arity::exact(1), |_, a| {
        gostr::parse_bool(arg_str(a, 0)?)
            .map(Value::from)
            .map_err(FuncError::new)
    });
    funcs.insert("reverse", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        if let Some(l) = as_go_list(v) {
            if l.kind == ListKind::String || l.kind == ListKind::Struct(KVPAIR_TYPE.into()) {
                l.with_items_mut(|items| items.reverse());
            }
        }
        Ok(v.clone())
    });
    funcs.insert("sortByLength", Arity::exact(1), |_, a| {
        sort_strings(arg_value(a, 0)?)
    });
    funcs.insert("sortKVByLength", Arity::exact(1), |_, a| {
        sort_pairs(arg_value(a, 0)?)
    });
    int_op(funcs, "add", |x, y| Ok(x.wrapping_add(y)));
    int_op(funcs, "sub", |x, y| Ok(x.wrapping_sub(y)));
    int_op(funcs, "mul", |x, y| Ok(x.wrapping_mul(y)));
    int_op(funcs, "div", |x, y| {
        if y == 0 {
            Err(divide_by_zero())
        } else {
            Ok(x.wrapping_div(y))
        }
    });
    int_op(funcs, "mod", |x, y| {
        if y == 0 {
            Err(divide_by_zero())
        } else {
            Ok(x.wrapping_rem(y))
        }
    });
    funcs.insert("seq", Arity::exact(2), |_, a| {
        let (first, last) = (arg_int(a, 0)?, arg_int(a, 1)?);
        let items = if first > last {
            Vec::new()
        } else {
            (first..=last).map(Value::from).collect()
        };
        Ok(go_list(ListKind::Int, items))
    });
    funcs.insert("atoi", Arity::exact(1), |_, a| {
        gostr::parse_int(arg_str(a, 0)?, "Atoi")
            .map(Value::from)
            .map_err(FuncError::new)
    });
}
