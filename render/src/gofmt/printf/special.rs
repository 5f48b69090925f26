//! The less common corners of Go's fmt: `%b` of floats, the `#` flag on floats, and `%#v`.

use minijinja::value::{Value, ValueKind};

use crate::value::{as_go_object, format_value, go_type_name, map_entries, seq_items};

/// Go's `strconv.FormatFloat(f, 'b', -1, 64)`: `mantissa p exponent`.
pub(super) fn format_float_b(f: f64) -> String {
    let bits = f.to_bits();
    let neg = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let exp = if exp_bits == 0 {
        -1074
    } else {
        mant |= 1u64 << 52;
        exp_bits - 1075
    };
    let sign = if neg { "-" } else { "" };
    let esign = if exp >= 0 { "+" } else { "" };
    format!("{sign}{mant}p{esign}{exp}")
}

/// Go's `#` flag on floats (`fmt.fmtFloat`): keep a decimal point and, for %g/%v/%x, trailing zeros.
pub(super) fn sharp_float(num: String, verb: char, prec: Option<usize>) -> String {
    let mut digits: i64 = match verb {
        'v' | 'g' | 'G' | 'x' => prec.map_or(6, |p| p as i64),
        _ => 0,
    };
    let b = num.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let mut cut = b.len();
    let mut has_point = false;
    let mut saw_nonzero = false;
    for (i, &c) in b.iter().enumerate().skip(start) {
        match c {
            b'.' => has_point = true,
            b'p' | b'P' => {
                cut = i;
                break;
            }
            b'e' | b'E' if verb != 'x' && verb != 'X' => {
                cut = i;
                break;
            }
            _ => {
                if c != b'0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
    }
    let (mant, tail) = num.split_at(cut);
    let mut m = mant.to_string();
    if !has_point {
        if mant.len() - start == 1 && mant.ends_with('0') {
            digits -= 1;
        }
        m.push('.');
    }
    while digits > 0 {
        m.push('0');
        digits -= 1;
    }
    m + tail
}

/// Go's `%#v` for scalars, slices and maps; `None` for structs (printed with their fields).
pub(super) fn go_syntax(v: &Value) -> Option<String> {
    Some(match v.kind() {
        ValueKind::Undefined | ValueKind::None => "<nil>".to_string(),
        ValueKind::String | ValueKind::Bytes => {
            crate::gofmt::quote(&String::from_utf8_lossy(v.as_bytes().unwrap_or_default()))
        }
        // numbers and booleans print as with %v (flags included)
        ValueKind::Bool | ValueKind::Number => return None,
        _ if as_go_object(v).is_some() => return None,
        _ => {
            let elem = |x: &Value, iface: bool| -> String {
                if iface && (x.is_none() || x.is_undefined()) {
                    "interface {}(nil)".to_string()
                } else {
                    go_syntax(x).unwrap_or_else(|| format_value(x))
                }
            };
            let ty = go_type_name(v);
            if let Some(items) = seq_items(v) {
                let iface = ty.ends_with("interface {}");
                let parts: Vec<String> = items.iter().map(|x| elem(x, iface)).collect();
                format!("{ty}{{{}}}", parts.join(", "))
            } else if let Some(entries) = map_entries(v) {
                let iface = ty.ends_with("interface {}");
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, x)| format!("{}:{}", crate::gofmt::quote(k), elem(x, iface)))
                    .collect();
                format!("{ty}{{{}}}", parts.join(", "))
            } else {
                return None;
            }
        }
    })
}
