//! Go literals: `strconv.Unquote` for strings and chars, and template number constants.

use minijinja::Value;

/// Decodes one escape sequence (after the backslash) from `chars`; pushes bytes into `out`.
fn unescape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    quote: char,
    out: &mut Vec<u8>,
) -> Option<()> {
    let c = chars.next()?;
    let push_char = |c: char, out: &mut Vec<u8>| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    match c {
        'a' => out.push(7),
        'b' => out.push(8),
        'f' => out.push(12),
        'n' => out.push(b'\n'),
        'r' => out.push(b'\r'),
        't' => out.push(b'\t'),
        'v' => out.push(11),
        '\\' => out.push(b'\\'),
        '\'' | '"' => {
            if c != quote {
                return None;
            }
            out.push(c as u8);
        }
        'x' | 'u' | 'U' => {
            let n = match c {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let mut v: u32 = 0;
            for _ in 0..n {
                let d = chars.next()?.to_digit(16)?;
                v = v * 16 + d;
            }
            if c == 'x' {
                if quote == '\'' {
                    push_char(char::from_u32(v)?, out);
                } else {
                    out.push(v as u8);
                }
            } else {
                push_char(char::from_u32(v)?, out);
            }
        }
        '0'..='7' => {
            let mut v = c.to_digit(8)?;
            for _ in 0..2 {
                v = v * 8 + chars.next()?.to_digit(8)?;
            }
            if v > 255 {
                return None;
            }
            if quote == '\'' {
                push_char(char::from_u32(v)?, out);
            } else {
                out.push(v as u8);
            }
        }
        _ => return None,
    }
    Some(())
}

/// Go's `strconv.Unquote` for `"..."` and `` `...` `` literals (invalid UTF-8 bytes become U+FFFD).
pub(crate) fn unquote(s: &str) -> Option<String> {
    unquote_bytes(s).map(|b| match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// A Go string literal as a value: a string, or bytes when it is not valid UTF-8 (`"\xff"`).
pub(crate) fn string_value(s: &str) -> Option<Value> {
    unquote_bytes(s).map(crate::value::go_string)
}

/// Go's `strconv.Unquote`, as raw bytes.
fn unquote_bytes(s: &str) -> Option<Vec<u8>> {
    if s.len() < 2 {
        return None;
    }
    if s.starts_with('`') {
        if !s.ends_with('`') {
            return None;
        }
        let inner = &s[1..s.len() - 1];
        if inner.contains('`') {
            return None;
        }
        return Some(inner.replace('\r', "").into_bytes());
    }
    if !s.starts_with('"') || !s.ends_with('"') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if !inner.contains('\\') {
        if inner.contains('"') || inner.contains('\n') {
            return None;
        }
        return Some(inner.as_bytes().to_vec());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unescape(&mut chars, '"', &mut out)?,
            '"' | '\n' => return None,
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(out)
}

/// Decodes a Go char constant `'x'` into its rune; the error is Go's text.
pub(crate) fn unquote_char(s: &str) -> Result<char, String> {
    let invalid = || "invalid syntax".to_string();
    let inner = s.strip_prefix('\'').ok_or_else(invalid)?;
    let mut chars = inner.chars().peekable();
    let c = chars.next().ok_or_else(invalid)?;
    let r = match c {
        '\'' | '\n' => return Err(invalid()),
        '\\' => {
            let mut out = Vec::new();
            unescape(&mut chars, '\'', &mut out).ok_or_else(invalid)?;
            String::from_utf8(out)
                .ok()
                .and_then(|s| s.chars().next())
                .ok_or_else(invalid)?
        }
        c => c,
    };
    if chars.collect::<String>() != "'" {
        return Err(format!("malformed character constant: {s}"));
    }
    Ok(r)
}

/// Checks Go's underscore placement rule: `_` only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut saw = '^';
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[i + 1] | 0x20 == b'x';
        i += 2;
        saw = '0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_int(s: &str) -> Option<i64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let t = s.replace('_', "");
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    let (radix, digits) = if body.len() >= 2 && body.as_bytes()[0] == b'0' {
        match body.as_bytes()[1] | 0x20 {
            b'x' => (16, &body[2..]),
            b'o' => (8, &body[2..]),
            b'b' => (2, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal syntax (also `Inf`/`NaN` are not template numbers).
fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let t = s.replace('_', "");
    let body = t.trim_start_matches(['+', '-']);
    if body.is_empty() || !body.bytes().next()?.is_ascii_digit() && !body.starts_with('.') {
        return None;
    }
    if body.starts_with("0x") || body.starts_with("0X") {
        return None;
    }
    t.parse::<f64>().ok()
}

/// A template number constant: an `int` when Go would print it as one, else a `float64`.
pub(crate) fn parse_number(text: &str) -> Result<Value, String> {
    if text.ends_with('i') {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text)
        ));
    }
    if let Some(i) = parse_int(text) {
        return Ok(Value::from(i));
    }
    if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        return Ok(Value::from(f));
    }
    Err(format!(
        "illegal number syntax: {}",
        crate::gofmt::quote(text)
    ))
}
