//! Go `text/template` builtin functions (except `and`/`or`, which the interpreter short-circuits).

use minijinja::value::{Value, ValueKind};

use crate::gofmt::{sprint, sprintf, sprintln};
use crate::value::{
    as_f64, as_go_list, as_go_map, as_go_object, go_list, go_type_name, seq_items, FormatVerb,
    ListKind, MapKind,
};

/// Arity of a builtin: (min, max).
pub(crate) fn arity(name: &str) -> (usize, Option<usize>) {
    match name {
        "not" | "len" => (1, Some(1)),
        "ne" | "lt" | "le" | "gt" | "ge" => (2, Some(2)),
        "and" | "or" | "index" | "slice" | "printf" | "eq" | "call" => (1, None),
        _ => (0, None),
    }
}

/// Go's truth of a value (`if`, `not`, `and`, `or`).
pub(crate) fn truth(v: &Value) -> bool {
    if let Some(o) = as_go_object(v) {
        return o.is_true();
    }
    v.is_true()
}

/// Calls builtin `name` (not `and`/`or`) with evaluated arguments.
pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "not" => Value::from(!truth(&args[0])),
        "len" => length(&args[0])?,
        "index" => index(&args[0], &args[1..])?,
        "slice" => slice(&args[0], &args[1..])?,
        "print" => Value::from(sprint(args)),
        "println" => Value::from(sprintln(args)),
        "printf" => {
            let f = args[0].as_str().ok_or_else(|| {
                format!(
                    "wrong type for value; expected string; got {}",
                    go_type_name(&args[0])
                )
            })?;
            Value::from(sprintf(f, &args[1..]))
        }
        "eq" => Value::from(eq(&args[0], &args[1..])?),
        "ne" => Value::from(!eq(&args[0], &args[1..])?),
        "lt" => Value::from(lt(&args[0], &args[1])?),
        "le" => Value::from(lt(&args[0], &args[1])? || eq(&args[0], &args[1..])?),
        "gt" => {
            let le = lt(&args[0], &args[1])? || eq(&args[0], &args[1..])?;
            Value::from(!le)
        }
        "ge" => Value::from(!lt(&args[0], &args[1])?),
        "html" => Value::from(html_escape(&bounded(eval_args(args))?)),
        "js" => Value::from(js_escape(&bounded(eval_args(args))?)),
        "urlquery" => Value::from(query_escape(&bounded(eval_args(args))?)),
        "call" => {
            return Err(if is_nil(&args[0]) {
                "call of nil".to_string()
            } else {
                format!("non-function of type {}", go_type_name(&args[0]))
            })
        }
        _ => return Err(format!("{name:?} is not a defined function")),
    })
}

/// Refuses to escape inputs that could only produce an oversized result (escapes grow up to 6x).
fn bounded(s: String) -> Result<String, String> {
    const LIMIT: usize = (16 << 20) / 6;
    if s.len() > LIMIT {
        return Err(format!("result is too large (input of {} bytes)", s.len()));
    }
    Ok(s)
}

fn is_nil(v: &Value) -> bool {
    v.is_undefined() || v.is_none()
}

/// Go's `evalArgs`: a lone string as is, else `fmt.Sprint` with missing values as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if args.len() == 1 {
        if let Some(s) = args[0].as_str() {
            return s.to_string();
        }
    }
    let fixed: Vec<Value> = args
        .iter()
        .map(|a| {
            if is_nil(a) {
                Value::from("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    sprint(&fixed)
}

fn length(v: &Value) -> Result<Value, String> {
    if v.is_undefined() {
        return Err("reflect: call of reflect.Value.Type on zero Value".to_string());
    }
    if v.is_none() {
        return Err("len of nil pointer".to_string());
    }
    if matches!(v.kind(), ValueKind::String | ValueKind::Bytes) {
        return Ok(Value::from(v.as_bytes().map_or(0, <[u8]>::len) as i64));
    }
    if let Some(l) = as_go_list(v) {
        return Ok(Value::from(l.len() as i64));
    }
    if let Some(m) = as_go_map(v) {
        return Ok(Value::from(m.entries.len() as i64));
    }
    if as_go_object(v).is_none() && matches!(v.kind(), ValueKind::Seq | ValueKind::Map) {
        if let Some(n) = v.len() {
            return Ok(Value::from(n as i64));
        }
    }
    Err(format!("len of type {}", go_type_name(v)))
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    if is_nil(index) {
        return Err("cannot index slice/array with nil".to_string());
    }
    if index.kind() != ValueKind::Number || !index.is_integer() {
        return Err(format!(
            "cannot index slice/array with type {}",
            go_type_name(index)
        ));
    }
    let x = index.as_i64().unwrap_or(i64::MAX);
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if is_nil(item) {
        return Err("index of untyped nil".to_string());
    }
    let mut item = item.clone();
    for idx in indexes {
        if item.is_none() {
            return Err("index of nil pointer".to_string());
        }
        if let Some(s) = item.as_str() {
            let x = index_arg(idx, s.len())?;
            let Some(b) = s.as_bytes().get(x) else {
                return Err("reflect: string index out of range".to_string());
            };
            item = Value::from(*b as i64);
        } else if let Some(items) = seq_items(&item).filter(|_| as_go_object(&item).is_none()) {
            let x = index_arg(idx, items.len())?;
            let Some(v) = items.get(x) else {
                return Err("reflect: slice index out of range".to_string());
            };
            item = v.clone();
        } else if let Some(m) = as_go_map(&item) {
            if is_nil(idx) {
                return Err("value is nil; should be of type string".to_string());
            }
            let key = idx
                .as_str()
                .ok_or_else(|| format!("value has type {}; should be string", go_type_name(idx)))?;
            item = match m.entries.get(key) {
                Some(v) => v.clone(),
                None if m.kind == MapKind::String => Value::from(""),
                None => Value::from(()),
            };
        } else if item.kind() == ValueKind::Map
            && as_go_object(&item).is_none()
            && idx.is_integer()
            && int_keyed(&item)
        {
            // A `map[int]...` (consul-template's `byPort`): the zero value when absent.
            item = item
                .get_item(idx)
                .ok()
                .filter(|v| !v.is_undefined())
                .unwrap_or(Value::from(()));
        } else if item.kind() == ValueKind::Map && as_go_object(&item).is_none() {
            if is_nil(idx) {
                return Err("value is nil; should be of type string".to_string());
            }
            let key = idx
                .as_str()
                .ok_or_else(|| format!("value has type {}; should be string", go_type_name(idx)))?;
            item = item
                .get_item(&Value::from(key))
                .ok()
                .filter(|v| !v.is_undefined())
                .unwrap_or(Value::from(()));
        } else {
            return Err(format!("can't index item of type {}", go_type_name(&item)));
        }
    }
    Ok(item)
}

/// True when the plain map `m` has integer keys (its first key is one).
fn int_keyed(m: &Value) -> bool {
    m.try_iter()
        .ok()
        .and_then(|mut keys| keys.next())
        .is_some_and(|k| k.is_integer())
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if is_nil(item) {
        return Err("slice of untyped nil".to_string());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let (len, is_str) = if let Some(s) = item.as_str() {
        if indexes.len() == 3 {
            return Err("cannot 3-index slice a string".to_string());
        }
        (s.len(), true)
    } else if let Some(items) = seq_items(item).filter(|_| as_go_object(item).is_none()) {
        (items.len(), false)
    } else {
        return Err(format!("can't slice item of type {}", go_type_name(item)));
    };
    let mut idx = [0usize, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    if is_str {
        let s = item.as_str().unwrap_or("");
        let b = &s.as_bytes()[idx[0]..idx[1]];
        return Ok(Value::from(String::from_utf8_lossy(b).into_owned()));
    }
    let items = seq_items(item).unwrap_or_default();
    let kind = as_go_list(item).map_or(ListKind::Interface, |l| l.kind.clone());
    Ok(go_list(kind, items[idx[0]..idx[1]].to_vec()))
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Kind::Invalid,
        ValueKind::Bool => Kind::Bool,
        ValueKind::Number if v.is_integer() => Kind::Int,
        ValueKind::Number => Kind::Float,
        ValueKind::String | ValueKind::Bytes => Kind::Str,
        _ => Kind::Other,
    }
}

fn comparable(v: &Value) -> bool {
    basic_kind(v) != Kind::Other || as_go_object(v).is_some()
}

const BAD_TYPE: &str = "invalid type for comparison";
const INCOMPATIBLE: &str = "incompatible types for comparison";

fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".to_string());
    }
    // Go's basicKind: nil and non-basic values (slices, maps, structs) share "invalid kind".
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let same = k1 == k2 || (is_invalid_kind(k1) && is_invalid_kind(k2));
        let t = if !same {
            if !is_nil(a) && !is_nil(b) {
                return Err(INCOMPATIBLE.to_string());
            }
            false
        } else {
            match k1 {
                Kind::Bool => a.is_true() == b.is_true(),
                Kind::Int => a.as_i64() == b.as_i64(),
                Kind::Float => as_f64(a) == as_f64(b),
                Kind::Str => a.as_bytes() == b.as_bytes(),
                Kind::Invalid | Kind::Other => {
                    if is_nil(a) || is_nil(b) {
                        is_nil(a) == is_nil(b)
                    } else if reflect_kind(a) != reflect_kind(b) {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(a)),
                            go_type_name(a),
                            go_type_name(b),
                            sprintf("%v", std::slice::from_ref(b))
                        ));
                    } else if !comparable(b) {
                        return Err(non_comparable(b));
                    } else if !comparable(a) {
                        return Err(non_comparable(a));
                    } else {
                        match (as_go_object(a), as_go_object(b)) {
                            (Some(x), Some(y)) => {
                                x.type_name() == y.type_name()
                                    && x.format(FormatVerb::PlusV) == y.format(FormatVerb::PlusV)
                            }
                            _ => false,
                        }
                    }
                }
            }
        };
        if t {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go 1.19's text: `non-comparable type %s: %v` (the value printed with `%s`, then its type).
fn non_comparable(v: &Value) -> String {
    format!(
        "non-comparable type {}: {}",
        sprintf("%s", std::slice::from_ref(v)),
        go_type_name(v)
    )
}

/// Go's reflect kind of a non-basic value: slice, map or struct.
fn reflect_kind(v: &Value) -> u8 {
    if as_go_object(v).is_some() {
        2
    } else if seq_items(v).is_some() {
        0
    } else {
        1
    }
}

fn is_invalid_kind(k: Kind) -> bool {
    matches!(k, Kind::Invalid | Kind::Other)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_TYPE.to_string());
    }
    if k1 != k2 {
        return Err(INCOMPATIBLE.to_string());
    }
    Ok(match k1 {
        Kind::Int => a.as_i64() < b.as_i64(),
        Kind::Float => as_f64(a) < as_f64(b),
        Kind::Str => a.as_bytes() < b.as_bytes(),
        _ => return Err(BAD_TYPE.to_string()),
    })
}

/// Go's `template.HTMLEscapeString`.
///
/// Runs of bytes that need no escape are copied whole (escaped bytes are ASCII, so every cut
/// is on a character boundary): chains of escapes over large strings stay cheap.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if !matches!(b, 0 | b'"' | b'\'' | b'&' | b'<' | b'>') {
            continue;
        }
        if run < i {
            out.push_str(&s[run..i]);
        }
        run = i + 1;
        match b {
            0 => out.push('\u{FFFD}'),
            b'"' => out.push_str("&#34;"),
            b'\'' => out.push_str("&#39;"),
            b'&' => out.push_str("&amp;"),
            b'<' => out.push_str("&lt;"),
            _ => out.push_str("&gt;"),
        }
    }
    out.push_str(&s[run..]);
    out
}

/// Go's `template.JSEscapeString` (Go 1.19). Like [`html_escape`], copies unescaped runs
/// whole: every ASCII byte is checked against a table, other characters decoded only to test
/// whether they are printable.
pub(crate) fn js_escape(s: &str) -> String {
    const HEX: &[u8] = b"0123456789ABCDEF";
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x >= 0x80 {
            // `i` is always on a character boundary: it advances by whole characters
            let Some(c) = s[i..].chars().next() else {
                break;
            };
            let n = c.len_utf8();
            if !crate::gofmt::is_print(c) {
                out.push_str(&s[run..i]);
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04X}", c as u32);
                run = i + n;
            }
            i += n;
            continue;
        }
        if JS_PLAIN[x as usize] {
            i += 1;
            continue;
        }
        if run < i {
            out.push_str(&s[run..i]);
        }
        match x {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'"' => out.push_str("\\\""),
            b'<' => out.push_str("\\u003C"),
            b'>' => out.push_str("\\u003E"),
            b'&' => out.push_str("\\u0026"),
            b'=' => out.push_str("\\u003D"),
            _ => {
                out.push_str("\\u00");
                out.push(HEX[(x as usize) >> 4] as char);
                out.push(HEX[(x as usize) & 15] as char);
            }
        }
        i += 1;
        run = i;
    }
    out.push_str(&s[run..]);
    out
}

/// ASCII bytes `js` copies as they are: printable ones (and DEL) except `\ ' " < > & =`.
const JS_PLAIN: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0x20;
    while i < 128 {
        t[i] = !matches!(i as u8, b'\\' | b'\'' | b'"' | b'<' | b'>' | b'&' | b'=');
        i += 1;
    }
    t
};

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Keys and values of a range over a map, in Go's order.
pub(crate) fn range_map(v: &Value) -> Option<Vec<(Value, Value)>> {
    if as_go_object(v).is_some() {
        return None;
    }
    crate::value::map_entries_keyed(v)
}
