//! Go's `fmt` formatting: float and string quoting primitives, `%v` printing helpers, `printf`.

mod printf;

pub use printf::{sprint, sprintf, sprintln};

/// Decimal digits of a float: value = 0.d1d2d3... × 10^dp (no trailing zeros; zero has no digits).
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// Parses Rust's `{:e}` output (`1.2345e-3`) of a finite non-negative float into digits.
fn digits_from_exp(s: &str) -> Digits {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest(f: f64) -> Digits {
    digits_from_exp(&format!("{:e}", f.abs()))
}

/// `n` significant digits (n ≥ 1), correctly rounded.
fn significant(f: f64, n: usize) -> Digits {
    // a double has at most 767 significant decimal digits; the rest are zeros (trimmed anyway)
    digits_from_exp(&format!("{:.*e}", n.clamp(1, 800) - 1, f.abs()))
}

fn fmt_e(out: &mut String, neg: bool, dg: &Digits, prec: usize, e: char) {
    if neg {
        out.push('-');
    }
    out.push(dg.d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(dg.d.get(i).map_or('0', |&c| c as char));
        }
    }
    out.push(e);
    let exp = if dg.d.is_empty() { 0 } else { dg.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

fn fmt_f(out: &mut String, neg: bool, dg: &Digits, prec: usize) {
    if neg {
        out.push('-');
    }
    if dg.dp > 0 {
        let dp = dg.dp as usize;
        for i in 0..dp {
            out.push(dg.d.get(i).map_or('0', |&c| c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = dg.dp as i64 + i as i64 - 1;
            let c = if j >= 0 {
                dg.d.get(j as usize).map_or('0', |&c| c as char)
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` for verbs `e E f F g G` (`prec` None = shortest).
/// `%v` of a float is `format_float(f, 'g', None, false)`.
pub fn format_float(f: f64, verb: char, prec: Option<usize>, _sharp: bool) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = f.is_sign_negative();
    let mut out = String::new();
    match verb {
        'e' | 'E' => {
            let (dg, p) = match prec {
                None => {
                    let dg = shortest(f);
                    let p = dg.d.len().saturating_sub(1);
                    (dg, p)
                }
                Some(p) => (significant(f, p + 1), p),
            };
            fmt_e(&mut out, neg, &dg, p, verb);
        }
        'f' | 'F' => match prec {
            None => {
                let dg = shortest(f);
                let p = (dg.d.len() as i64 - dg.dp as i64).max(0) as usize;
                fmt_f(&mut out, neg, &dg, p);
            }
            Some(p) => {
                // digits past the 1074th decimal of a double are zeros (and Rust caps precision)
                let exact = p.min(1100);
                let s = format!("{:.*}", exact, f.abs());
                if neg {
                    out.push('-');
                }
                out.push_str(&s);
                for _ in exact..p {
                    out.push('0');
                }
            }
        },
        _ => {
            let e = if verb == 'G' { 'E' } else { 'e' };
            let (dg, mut p, eprec) = match prec {
                None => {
                    let dg = shortest(f);
                    let n = dg.d.len();
                    (dg, n, 6usize)
                }
                Some(p) => {
                    let p = p.max(1);
                    let dg = significant(f, p);
                    let mut eprec = p;
                    if eprec > dg.d.len() && dg.d.len() as i64 >= dg.dp as i64 {
                        eprec = dg.d.len();
                    }
                    (dg, p, eprec)
                }
            };
            let exp = dg.dp as i64 - 1;
            if exp < -4 || exp >= eprec as i64 {
                if p > dg.d.len() {
                    p = dg.d.len();
                }
                fmt_e(&mut out, neg, &dg, p.saturating_sub(1), e);
            } else {
                if p as i64 > dg.dp as i64 {
                    p = dg.d.len();
                }
                let fp = (p as i64 - dg.dp as i64).max(0) as usize;
                fmt_f(&mut out, neg, &dg, fp);
            }
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'x'|'X', prec, 64)`: hexadecimal mantissa and binary exponent.
pub fn format_float_hex(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let bits = f.to_bits();
    let neg = bits >> 63 == 1;
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|&p| p < 15) {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8] = if verb == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push('0');
    out.push(verb);
    out.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            out.push('.');
            while mant != 0 {
                out.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            out.push('.');
            for _ in 0..p {
                out.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        _ => {}
    }
    out.push(if verb == 'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

/// True when Go's `unicode.IsPrint` would call `c` printable (approximation without tables:
/// controls, format characters, separators other than space, private use and noncharacters are not).
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xFDD0..=0xFDEF
        | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF | 0xE0000..=0xE007F)
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub fn quote_with(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        quote_rune_into(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    quote_with(s, false)
}

/// Go's `strconv.Quote` of a Go string that need not be UTF-8: invalid bytes print as `\xNN`.
pub fn quote_bytes(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            quote_rune_into(&mut out, c, '"', false);
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` (`'a'`).
pub fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    quote_rune_into(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

fn quote_rune_into(out: &mut String, c: char, q: char, ascii: bool) {
    use std::fmt::Write;
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == q => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x80 && is_print(c) => out.push(c),
        c if !ascii && is_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}
