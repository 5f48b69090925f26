//! Go's `fmt.Sprintf`, `fmt.Sprint` and `fmt.Sprintln` over template values.

mod special;

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};

use special::{format_float_b, go_syntax, sharp_float};

use super::{format_float, quote_rune, quote_with};
use crate::value::{
    as_f64, as_go_object, go_type_name, map_entries, seq_items, write_inner, FormatVerb,
};

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    sharp_v: bool,
    plus_v: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn is_string(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::String | ValueKind::Bytes)
}

/// Go's `fmt.Sprint`: a space between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !is_string(a) && !is_string(&args[i - 1]) {
            out.push(' ');
        }
        write_inner(&mut out, a, FormatVerb::V);
    }
    out
}

/// Go's `fmt.Sprintln`: spaces between all operands and a final newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_inner(&mut out, a, FormatVerb::V);
    }
    out.push('\n');
    out
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let b = format.as_bytes();
    let mut i = 0;
    let mut argn = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        i += 1; // skip '%'
        let mut sp = Spec::default();
        while i < b.len() {
            match b[i] {
                b'+' => sp.plus = true,
                b'-' => {
                    sp.minus = true;
                    sp.zero = false;
                }
                b'#' => sp.sharp = true,
                b' ' => sp.space = true,
                b'0' => sp.zero = !sp.minus,
                _ => break,
            }
            i += 1;
        }
        // width
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args
                .get(argn)
                .and_then(|a| a.as_i64().filter(|_| a.is_integer()))
            {
                Some(w) => {
                    if w < 0 {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    sp.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            argn += 1;
        } else {
            let (n, j) = parse_num(b, i);
            sp.width = n;
            i = j;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args
                    .get(argn)
                    .and_then(|a| a.as_i64().filter(|_| a.is_integer()))
                {
                    Some(p) if p >= 0 => sp.prec = Some(p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                argn += 1;
            } else {
                let (n, j) = parse_num(b, i);
                sp.prec = Some(n.unwrap_or(0));
                i = j;
            }
        }
        if i >= b.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = match format[i..].chars().next() {
            Some(c) => c,
            None => break,
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        if verb == 'v' {
            // %#v is Go syntax and %+v is struct-field syntax; neither keeps its flag.
            sp.sharp_v = std::mem::take(&mut sp.sharp);
            sp.plus_v = std::mem::take(&mut sp.plus);
        }
        match args.get(argn) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(a) => {
                argn += 1;
                format_arg(&mut out, a, verb, &sp);
            }
        }
    }
    if argn < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argn..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if a.is_none() || a.is_undefined() {
                out.push_str("<nil>");
                continue;
            }
            out.push_str(&go_type_name(a));
            out.push('=');
            write_inner(&mut out, a, FormatVerb::V);
        }
        out.push(')');
    }
    out
}

/// Go's `parsenum`: a number that grows past 10^6 swallows the rest of the format.
fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if n > 1_000_000 {
            return (None, b.len());
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    if i == start {
        (None, i)
    } else {
        (Some(n), i)
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_undefined() || v.is_none() {
        out.push_str("<nil>");
    } else {
        out.push_str(&go_type_name(v));
        out.push('=');
        // Go prints the operand with %v and the flags given to the bad verb.
        format_arg(out, v, 'v', sp);
    }
    out.push(')');
}

fn push_n(out: &mut String, c: char, n: usize) {
    for _ in 0..n {
        out.push(c);
    }
}

/// Pads `s` to the width: spaces (or zeros with the `0` flag) on the left, or spaces on the right with `-`.
fn pad(out: &mut String, s: &str, sp: &Spec) {
    let w = sp.width.unwrap_or(0);
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = if sp.zero { '0' } else { ' ' };
    if sp.minus {
        out.push_str(s);
        push_n(out, ' ', w - n);
    } else {
        push_n(out, fill, w - n);
        out.push_str(s);
    }
}

/// Pads a number: zero padding goes after the sign.
fn pad_number(out: &mut String, s: &str, sp: &Spec, allow_zero: bool) {
    let w = sp.width.unwrap_or(0);
    let n = s.chars().count();
    if sp.zero && allow_zero && !sp.minus && n < w {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+' | b'-' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        push_n(out, '0', w - n);
        out.push_str(rest);
        return;
    }
    let sp2 = Spec { zero: false, ..*sp };
    pad(out, s, &sp2);
}

fn format_arg(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    if verb == 'T' && (v.is_none() || v.is_undefined()) {
        pad(out, "<nil>", sp);
        return;
    }
    if verb == 'T' {
        // Go formats the type name like a %s string (precision truncates, `0` pads).
        let name = go_type_name(v);
        let name = match sp.prec.and_then(|p| name.char_indices().nth(p)) {
            Some((idx, _)) => &name[..idx],
            None => &name,
        };
        pad(out, name, sp);
        return;
    }
    if verb == 'p' {
        bad_verb(out, v, verb, sp);
        return;
    }
    if sp.sharp_v && verb == 'v' {
        if let Some(s) = v.as_str() {
            let s = match sp.prec.and_then(|p| s.char_indices().nth(p)) {
                Some((idx, _)) => &s[..idx],
                None => s,
            };
            pad(out, &super::quote(s), sp);
            return;
        }
        if let Some(s) = go_syntax(v) {
            pad(out, &s, sp);
            return;
        }
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => match verb {
            'v' => pad(out, "<nil>", sp),
            _ => bad_verb(out, v, verb, sp),
        },
        ValueKind::Bool => match verb {
            't' | 'v' => pad(out, if v.is_true() { "true" } else { "false" }, sp),
            _ => bad_verb(out, v, verb, sp),
        },
        ValueKind::String => fmt_string(out, v.as_str().unwrap_or(""), v, verb, sp),
        ValueKind::Bytes => {
            let b = v.as_bytes().unwrap_or_default();
            if matches!(verb, 'x' | 'X') {
                fmt_hex(out, b, verb, sp);
            } else {
                fmt_string(out, &String::from_utf8_lossy(b), v, verb, sp);
            }
        }
        ValueKind::Number => {
            if v.is_integer() {
                match v.as_i64() {
                    Some(n) => fmt_int(out, n, v, verb, sp),
                    None => pad(out, &v.to_string(), sp),
                }
            } else {
                fmt_float(out, as_f64(v).unwrap_or(0.0), v, verb, sp)
            }
        }
        _ => fmt_composite(out, v, verb, sp),
    }
}

fn fmt_string(out: &mut String, s: &str, v: &Value, verb: char, sp: &Spec) {
    let s = match sp.prec {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => match s.char_indices().nth(p) {
            Some((idx, _)) => &s[..idx],
            None => s,
        },
        _ => s,
    };
    match verb {
        's' | 'v' => pad(out, s, sp),
        'q' => {
            if sp.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || super::is_print(c)) {
                pad(out, &format!("`{s}`"), sp)
            } else {
                pad(out, &quote_with(s, sp.plus), sp)
            }
        }
        'x' | 'X' => fmt_hex(out, s.as_bytes(), verb, sp),
        _ => bad_verb(out, v, verb, sp),
    }
}

fn fmt_hex(out: &mut String, bytes: &[u8], verb: char, sp: &Spec) {
    // the precision limits the number of bytes encoded
    let bytes = &bytes[..sp.prec.map_or(bytes.len(), |p| p.min(bytes.len()))];
    {
        {
            let mut h = String::new();
            for (k, &byte) in bytes.iter().enumerate() {
                if k > 0 && sp.space {
                    h.push(' ');
                }
                if sp.sharp && (k == 0 || sp.space) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{byte:02x}");
                } else {
                    let _ = write!(h, "{byte:02X}");
                }
            }
            pad(out, &h, sp)
        }
    }
}

fn fmt_int(out: &mut String, n: i64, v: &Value, verb: char, sp: &Spec) {
    let (base, upper) = match verb {
        'd' | 'v' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), sp);
            return;
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, sp.plus), sp);
            return;
        }
        'U' => {
            let digits = sp.prec.unwrap_or(4).max(4);
            let hex = format!("{n:X}");
            let mut s = String::from("U+");
            push_n(&mut s, '0', digits.saturating_sub(hex.len()));
            s.push_str(&hex);
            if sp.sharp {
                if let Some(c) = u32::try_from(n).ok().and_then(char::from_u32) {
                    if super::is_print(c) {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
            }
            // Go never zero-pads %U
            pad(out, &s, &Spec { zero: false, ..*sp });
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            bad_verb(out, v, verb, sp);
            return;
        }
        _ => {
            bad_verb(out, v, verb, sp);
            return;
        }
    };
    if sp.prec == Some(0) && n == 0 {
        // Go prints nothing at all (not even a sign), only the padding
        pad(out, "", &Spec { zero: false, ..*sp });
        return;
    }
    let neg = n < 0;
    let a = n.unsigned_abs();
    let mut digits = match base {
        2 => format!("{a:b}"),
        8 => format!("{a:o}"),
        16 if upper => format!("{a:X}"),
        16 => format!("{a:x}"),
        _ => a.to_string(),
    };
    if let Some(p) = sp.prec {
        if p == 0 && a == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = "0".repeat(p - digits.len()) + &digits;
        }
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if sp.plus {
        prefix.push('+');
    } else if sp.space {
        prefix.push(' ');
    }
    if verb == 'O' {
        prefix.push_str("0o");
    } else if sp.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    let s = prefix + &digits;
    pad_number(out, &s, sp, sp.prec.is_none());
}

fn fmt_float(out: &mut String, f: f64, v: &Value, verb: char, sp: &Spec) {
    let mut s = match verb {
        'v' => format_float(f, 'g', sp.prec, false),
        'e' | 'E' | 'f' | 'F' => format_float(f, verb, Some(sp.prec.unwrap_or(6)), false),
        'g' | 'G' => format_float(f, verb, sp.prec, false),
        'b' => format_float_b(f),
        'x' | 'X' => super::format_float_hex(f, verb, sp.prec),
        _ => {
            bad_verb(out, v, verb, sp);
            return;
        }
    };
    if sp.sharp && verb != 'b' && f.is_finite() {
        s = sharp_float(s, verb, sp.prec);
    }
    if !s.starts_with('-') && !s.starts_with('+') {
        if sp.plus {
            s.insert(0, '+');
        } else if sp.space {
            s.insert(0, ' ');
        }
    } else if s.starts_with('+') && !sp.plus {
        // +Inf keeps its sign only with the plus flag
        if sp.space {
            s.replace_range(0..1, " ");
        } else {
            s.remove(0);
        }
    }
    let finite = f.is_finite();
    pad_number(out, &s, sp, finite);
}

/// An element of a slice or map: a nil interface prints `<nil>` whatever the verb.
fn format_elem(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    if v.is_none() || v.is_undefined() {
        out.push_str("<nil>");
    } else {
        format_arg(out, v, verb, sp);
    }
}

fn fmt_composite(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    if let Some(o) = as_go_object(v) {
        let fv = match verb {
            'v' if sp.plus_v || sp.sharp_v => FormatVerb::PlusV,
            'v' => FormatVerb::V,
            's' => FormatVerb::S,
            'q' => FormatVerb::Q,
            _ => {
                let mut s = String::new();
                write_inner(&mut s, v, FormatVerb::V);
                pad(out, &format!("%!{verb}({}={s})", o.type_name()), sp);
                return;
            }
        };
        pad(out, &o.format(fv), sp);
        return;
    }
    let elem_sp = Spec {
        width: sp.width,
        ..*sp
    };
    if let Some(items) = seq_items(v) {
        out.push('[');
        for (k, it) in items.iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            format_elem(out, it, verb, &elem_sp);
        }
        out.push(']');
        return;
    }
    if let Some(entries) = map_entries(v) {
        out.push_str("map[");
        for (k, (key, val)) in entries.iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            format_arg(out, &Value::from(key.as_str()), verb, &elem_sp);
            out.push(':');
            format_elem(out, val, verb, &elem_sp);
        }
        out.push(']');
        return;
    }
    let mut s = String::new();
    write_inner(&mut s, v, FormatVerb::V);
    pad(out, &s, sp);
}
