//! Sprig's `list.go`: `list`/`tuple`, `append`/`push`, `prepend`, `first rest last initial`,
//! `reverse uniq without has compact slice concat chunk sortAlpha`, each with its `must` form.
//! The plain forms panic where the `must` forms return an error; text/template turns both into
//! `error calling NAME: MSG`, so here they share one implementation.

use minijinja::Value;

use super::conv::{
    deep_equal, empty, iface_list, is_nil, kind_name, list_items, list_kind, strslice, strval,
    to_int64,
};
use super::reg;
use crate::func::{arg_int, arg_value, Arity, FuncError, FuncMap, FuncResult};
use crate::value::{go_list, string_list, ListKind};

/// The items of a slice argument, or `{what} {kind}` (e.g. `Cannot push on type int`).
fn items(v: &Value, what: &str) -> Result<Vec<Value>, FuncError> {
    match list_items(v) {
        Some(it) => Ok(it),
        None => Err(FuncError::new(format!("{what} {}", kind_name(v)?))),
    }
}

fn first_last(a: &[Value], last: bool) -> FuncResult {
    let what = if last {
        "Cannot find last on type"
    } else {
        "Cannot find first on type"
    };
    let it = items(arg_value(a, 0)?, what)?;
    let pick = if last { it.last() } else { it.first() };
    Ok(pick.cloned().unwrap_or(Value::from(())))
}

fn slice(a: &[Value]) -> FuncResult {
    let v = arg_value(a, 0)?;
    let what = "list should be type of slice or array but";
    let it = items(v, what)?;
    if it.is_empty() {
        return Ok(Value::from(()));
    }
    let start = a.get(1).map_or(0, to_int64);
    let end = a.get(2).map_or(it.len() as i64, to_int64);
    if start < 0 || end < start || end > it.len() as i64 {
        return Err(FuncError::new(
            "reflect.Value.Slice: slice index out of bounds",
        ));
    }
    Ok(go_list(
        list_kind(v),
        it[start as usize..end as usize].to_vec(),
    ))
}

fn chunk(size: i64, v: &Value) -> FuncResult {
    let it = items(v, "Cannot chunk type")?;
    if size <= 0 {
        return Err(FuncError::new("runtime error: makeslice: len out of range"));
    }
    let chunks: Vec<Value> = it
        .chunks(size as usize)
        .map(|c| iface_list(c.to_vec()))
        .collect();
    Ok(go_list(ListKind::Other("[]interface {}".into()), chunks))
}

/// Registers the list functions, plain and `must`.
pub(super) fn register(f: &mut FuncMap) {
    for name in ["list", "tuple"] {
        reg(f, name, Arity::at_least(0), |_, a| {
            Ok(iface_list(a.to_vec()))
        });
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        reg(f, name, Arity::exact(2), |_, a| {
            let mut it = items(arg_value(a, 0)?, "Cannot push on type")?;
            it.push(arg_value(a, 1)?.clone());
            Ok(iface_list(it))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        reg(f, name, Arity::exact(2), |_, a| {
            let mut it = items(arg_value(a, 0)?, "Cannot prepend on type")?;
            it.insert(0, arg_value(a, 1)?.clone());
            Ok(iface_list(it))
        });
    }
    for name in ["first", "mustFirst"] {
        reg(f, name, Arity::exact(1), |_, a| first_last(a, false));
    }
    for name in ["last", "mustLast"] {
        reg(f, name, Arity::exact(1), |_, a| first_last(a, true));
    }
    for name in ["rest", "mustRest"] {
        reg(f, name, Arity::exact(1), |_, a| {
            let it = items(arg_value(a, 0)?, "Cannot find rest on type")?;
            Ok(iface_list(it.into_iter().skip(1).collect()))
        });
    }
    for name in ["initial", "mustInitial"] {
        reg(f, name, Arity::exact(1), |_, a| {
            let mut it = items(arg_value(a, 0)?, "Cannot find initial on type")?;
            it.pop();
            Ok(iface_list(it))
        });
    }
    for name in ["reverse", "mustReverse"] {
        reg(f, name, Arity::exact(1), |_, a| {
            let mut it = items(arg_value(a, 0)?, "Cannot find reverse on type")?;
            it.reverse();
            Ok(iface_list(it))
        });
    }
    for name in ["compact", "mustCompact"] {
        reg(f, name, Arity::exact(1), |_, a| {
            let it = items(arg_value(a, 0)?, "Cannot compact on type")?;
            Ok(iface_list(it.into_iter().filter(|v| !empty(v)).collect()))
        });
    }
    for name in ["uniq", "mustUniq"] {
        reg(f, name, Arity::exact(1), |_, a| {
            let it = items(arg_value(a, 0)?, "Cannot find uniq on type")?;
            let mut out: Vec<Value> = Vec::new();
            for v in it {
                if !out.iter().any(|o| deep_equal(&v, o)) {
                    out.push(v);
                }
            }
            Ok(iface_list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        reg(f, name, Arity::at_least(1), |_, a| {
            let it = items(arg_value(a, 0)?, "Cannot find without on type")?;
            let omit = &a[1..];
            Ok(iface_list(
                it.into_iter()
                    .filter(|v| !omit.iter().any(|o| deep_equal(v, o)))
                    .collect(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        reg(f, name, Arity::exact(2), |_, a| {
            let (needle, hay) = (arg_value(a, 0)?, arg_value(a, 1)?);
            if is_nil(hay) {
                return Ok(Value::from(false));
            }
            let it = items(hay, "Cannot find has on type")?;
            Ok(Value::from(it.iter().any(|v| deep_equal(needle, v))))
        });
    }
    for name in ["slice", "mustSlice"] {
        reg(f, name, Arity::at_least(1), |_, a| slice(a));
    }
    reg(f, "concat", Arity::at_least(0), |_, a| {
        let mut out = Vec::new();
        for v in a {
            match list_items(v) {
                Some(it) => out.extend(it),
                None => {
                    return Err(FuncError::new(format!(
                        "Cannot concat type {} as list",
                        kind_name(v)?
                    )))
                }
            }
        }
        Ok(iface_list(out))
    });
    for name in ["chunk", "mustChunk"] {
        reg(f, name, Arity::exact(2), |_, a| {
            chunk(arg_int(a, 0)?, arg_value(a, 1)?)
        });
    }
    reg(f, "sortAlpha", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        if list_items(v).is_none() {
            return Ok(string_list(vec![strval(v)]));
        }
        let mut s = strslice(v);
        s.sort();
        Ok(string_list(s))
    });
}
