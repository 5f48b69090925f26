//! Sprig's value helpers: `strval` (`%v` unless a string), reflect kinds for its error texts,
//! `empty`, `reflect.DeepEqual`, `strslice` and spf13/cast's lenient number conversions.

use minijinja::value::{Value, ValueKind};

use crate::func::FuncError;
use crate::value::{
    as_f64, as_go_list, as_go_object, go_list, map_entries, seq_items, write_inner, FormatVerb,
    ListKind,
};

/// Sprig's `strval`: a string as is, anything else as `fmt.Sprintf("%v")` (nil is `<nil>`).
pub(super) fn strval(v: &Value) -> String {
    let mut s = String::new();
    write_inner(&mut s, v, FormatVerb::V);
    s
}

/// True for nil (a Go `interface{}` holding nothing).
pub(super) fn is_nil(v: &Value) -> bool {
    v.is_undefined() || v.is_none()
}

/// The items when `v` is a Go slice (reflect kind `Slice`), not a string, map or struct.
pub(super) fn list_items(v: &Value) -> Option<Vec<Value>> {
    if as_go_object(v).is_some() || v.as_str().is_some() {
        return None;
    }
    seq_items(v)
}

/// The element type of a slice value, for results that keep the input's type (`slice`).
pub(super) fn list_kind(v: &Value) -> ListKind {
    as_go_list(v).map_or(ListKind::Interface, |l| l.kind.clone())
}

/// A `[]interface {}`.
pub(super) fn iface_list(items: Vec<Value>) -> Value {
    go_list(ListKind::Interface, items)
}

/// `reflect.TypeOf(v).Kind()` as Go prints it; `Err` with the runtime's text for nil, where
/// Sprig's `reflect.TypeOf(nil).Kind()` dereferences a nil pointer.
pub(super) fn kind_name(v: &Value) -> Result<&'static str, FuncError> {
    Ok(match v.kind() {
        ValueKind::Undefined | ValueKind::None => {
            return Err(FuncError::new(
                "runtime error: invalid memory address or nil pointer dereference",
            ))
        }
        ValueKind::Bool => "bool",
        ValueKind::String | ValueKind::Bytes => "string",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float64",
        _ if as_go_object(v).is_some_and(|o| o.type_name().starts_with('*')) => "ptr",
        _ if as_go_object(v).is_some() => "struct",
        ValueKind::Map => "map",
        ValueKind::Seq | ValueKind::Iterable => "slice",
        _ => "func",
    })
}

/// Sprig's `empty`: nil, `false`, zero numbers, and empty strings, slices and maps; structs never.
pub(super) fn empty(v: &Value) -> bool {
    if as_go_object(v).is_some() {
        return false;
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => true,
        ValueKind::Bool => !v.is_true(),
        ValueKind::Number => as_f64(v) == Some(0.0),
        ValueKind::String => v.as_str().is_some_and(str::is_empty),
        ValueKind::Bytes => v.as_bytes().is_some_and(<[u8]>::is_empty),
        _ => v.len() == Some(0),
    }
}

/// `reflect.DeepEqual` on template values: same Go type and equal contents (`1` is not `1.0`).
pub(super) fn deep_equal(a: &Value, b: &Value) -> bool {
    if crate::value::go_type_name(a) != crate::value::go_type_name(b) {
        return false;
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return x == y;
    }
    if a.kind() == ValueKind::Number {
        return match (a.is_integer(), a.as_i64(), b.as_i64()) {
            (true, Some(x), Some(y)) => x == y,
            _ => as_f64(a) == as_f64(b),
        };
    }
    if as_go_object(a).is_some() || as_go_object(b).is_some() {
        return strval(a) == strval(b);
    }
    if let (Some(x), Some(y)) = (list_items(a), list_items(b)) {
        return x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| deep_equal(p, q));
    }
    if let (Some(x), Some(y)) = (map_entries(a), map_entries(b)) {
        return x.len() == y.len()
            && x.iter()
                .zip(&y)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2));
    }
    a.kind() == b.kind() && a == b
}

/// Sprig's `strslice`: a slice's non-nil items as strings, nil as `[]`, anything else as `[strval]`.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    if let Some(items) = list_items(v) {
        return items.iter().filter(|it| !is_nil(it)).map(strval).collect();
    }
    if is_nil(v) {
        return Vec::new();
    }
    vec![strval(v)]
}

/// spf13/cast's `trimZeroDecimal`: `"1.00"` is `"1"`, `"1.50"` stays.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' if found_zero => return &s[..i - 1],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `strconv.ParseInt(s, base, 64)` for base 0 (prefixes `0x 0o 0b 0`, underscores between
/// digits) and base 8; `None` on any error.
pub(super) fn parse_int_base(s: &str, base: u32) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if base == 0 {
        if let Some(d) = lower.strip_prefix("0x") {
            (16, d.to_string(), true)
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d.to_string(), true)
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d.to_string(), true)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, lower[1..].to_string(), true)
        } else {
            (10, lower.clone(), false)
        }
    } else {
        (base, lower.clone(), false)
    };
    let digits = if base == 0 {
        // Go's underscoreOK: underscores only between digits (or after a base prefix).
        if digits.starts_with('_') && !prefixed || digits.ends_with('_') || digits.contains("__") {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() {
        return None;
    }
    let u = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if u > i64::MAX as u64 + 1 {
            None
        } else {
            Some((u as i64).wrapping_neg())
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// spf13/cast's `ToInt64` (and `ToInt`): ints, floats truncated, numeric strings (base 0, a
/// zero decimal part dropped), bools as 0/1; anything else (and nil) is 0.
pub(super) fn to_int64(v: &Value) -> i64 {
    if let Some(s) = v.as_str() {
        return parse_int_base(trim_zero_decimal(s), 0).unwrap_or(0);
    }
    match v.kind() {
        ValueKind::Bool => i64::from(v.is_true()),
        ValueKind::Number if v.is_integer() => v.as_i64().unwrap_or(0),
        ValueKind::Number => as_f64(v).map_or(0, |f| f as i64),
        _ => 0,
    }
}

/// spf13/cast's `ToFloat64`: numbers, `strconv.ParseFloat` of strings, bools as 0/1; else 0.
pub(super) fn to_float64(v: &Value) -> f64 {
    if let Some(s) = v.as_str() {
        return crate::gostr::parse_float(s).unwrap_or(0.0);
    }
    match v.kind() {
        ValueKind::Bool => f64::from(u8::from(v.is_true())),
        ValueKind::Number => as_f64(v).unwrap_or(0.0),
        _ => 0.0,
    }
}
