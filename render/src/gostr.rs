//! Go string semantics the function sets need: simple per-rune case mapping, `strings.Title`,
//! `strings.Split`/`Replace`, `path.Base`/`Dir`/`Join`/`Clean`, base64 with Go's error texts,
//! `strconv` parsing with Go's error texts, and `encoding/json` float formatting.

/// Go's `unicode.ToUpper` on one rune (simple mapping: `ß` stays `ß`).
pub(crate) fn upper_rune(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => match c as u32 {
            // Greek letters with ypogegrammeni map to their titlecase forms (simple mapping).
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(c as u32 + 8).unwrap_or(c)
            }
            0x1FB3 | 0x1FC3 | 0x1FF3 => char::from_u32(c as u32 + 9).unwrap_or(c),
            _ => c,
        },
    }
}

/// Go's `unicode.ToLower` on one rune (`İ` lowers to plain `i`, no final sigma).
pub(crate) fn lower_rune(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle` on one rune.
fn title_rune(c: char) -> char {
    match c as u32 {
        0x1C4..=0x1C6 => '\u{1C5}',
        0x1C7..=0x1C9 => '\u{1C8}',
        0x1CA..=0x1CC => '\u{1CB}',
        0x1F1..=0x1F3 => '\u{1F2}',
        0x1F80..=0x1FAF if (c as u32 & 0xF) < 8 => char::from_u32(c as u32 + 8).unwrap_or(c),
        0x1F80..=0x1FAF => c,
        _ => upper_rune(c),
    }
}

/// Go's `strings.ToUpper`.
pub(crate) fn to_upper(s: &str) -> String {
    s.chars().map(upper_rune).collect()
}

/// Go's `strings.ToLower`.
pub(crate) fn to_lower(s: &str) -> String {
    s.chars().map(lower_rune).collect()
}

/// Go's `strings.Title`: the first letter after a separator is title-cased.
pub(crate) fn title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { title_rune(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// Go's `strings.Split` (an empty separator splits after each UTF-8 sequence).
pub(crate) fn split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

/// Go's `strings.Replace(s, old, new, n)`; `n < 0` replaces all.
pub(crate) fn replace(s: &str, old: &str, new: &str, n: i64) -> String {
    if n == 0 || old == new {
        return s.to_owned();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if old.is_empty() {
        // Inserts `new` before each rune and at the end, up to n times.
        let mut out = String::new();
        let mut done = 0;
        for c in s.chars() {
            if done < limit {
                out.push_str(new);
                done += 1;
            }
            out.push(c);
        }
        if done < limit {
            out.push_str(new);
        }
        return out;
    }
    s.replacen(old, new, limit)
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Join`.
pub(crate) fn path_join(parts: &[&str]) -> String {
    let non_empty: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if non_empty.is_empty() {
        return String::new();
    }
    path_clean(&non_empty.join("/"))
}

/// Go's `path.Base`.
pub(crate) fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    match t.rfind('/') {
        Some(i) => t[i + 1..].to_owned(),
        None => t.to_owned(),
    }
}

/// Go's `path.Dir`.
pub(crate) fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

const STD_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with padding (`url` selects the URL-safe alphabet).
pub(crate) fn base64_encode(data: &[u8], url: bool) -> String {
    let alpha = if url { URL_ALPHABET } else { STD_ALPHABET };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alpha[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 decoding with padding, following Go's `encoding/base64` (non-strict; `\r`/`\n` ignored).
/// The error is Go's text: `illegal base64 data at input byte N`.
pub(crate) fn base64_decode(src: &str, url: bool) -> Result<Vec<u8>, String> {
    let alpha = if url { URL_ALPHABET } else { STD_ALPHABET };
    let mut map = [0xffu8; 256];
    for (i, &c) in alpha.iter().enumerate() {
        map[c as usize] = i as u8;
    }
    let src = src.as_bytes();
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut end = false;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            let v = map[c as usize];
            if v != 0xff {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(corrupt(si));
            }
            dlen = j;
            end = true;
            break;
        }
        let n = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if end {
            break;
        }
    }
    Ok(out)
}

fn num_error(func: &str, s: &str, what: &str) -> String {
    format!("strconv.{func}: parsing {}: {what}", go_quote(s))
}

/// Go's `strconv.Quote` for error messages (ASCII-printable kept, others escaped).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(num_error("ParseBool", s, "invalid syntax")),
    }
}

fn parse_decimal_u64(digits: &str) -> Option<Result<u64, ()>> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().map_err(|_| ()))
}

/// Go's `strconv.ParseInt(s, 10, 64)`; `func` names the caller in the error (`Atoi`, `ParseInt`).
pub(crate) fn parse_int(s: &str, func: &str) -> Result<i64, String> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    match parse_decimal_u64(digits) {
        None => Err(num_error(func, s, "invalid syntax")),
        Some(Err(())) => Err(num_error(func, s, "value out of range")),
        Some(Ok(u)) => {
            if neg {
                if u > i64::MAX as u64 + 1 {
                    Err(num_error(func, s, "value out of range"))
                } else {
                    Ok((u as i64).wrapping_neg())
                }
            } else if u > i64::MAX as u64 {
                Err(num_error(func, s, "value out of range"))
            } else {
                Ok(u as i64)
            }
        }
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)`.
pub(crate) fn parse_uint(s: &str) -> Result<u64, String> {
    match parse_decimal_u64(s) {
        None => Err(num_error("ParseUint", s, "invalid syntax")),
        Some(Err(())) => Err(num_error("ParseUint", s, "value out of range")),
        Some(Ok(u)) => Ok(u),
    }
}

/// Go's `strconv.ParseFloat(s, 64)` (decimal forms, `inf`, `nan`; underscores are rejected).
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let special = matches!(body, "inf" | "infinity" | "nan");
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !special && !ok_chars {
        return Err(num_error("ParseFloat", s, "invalid syntax"));
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_infinite() && !special => {
            Err(num_error("ParseFloat", s, "value out of range"))
        }
        Ok(f) => Ok(f),
        Err(_) => Err(num_error("ParseFloat", s, "invalid syntax")),
    }
}

/// A float as Go's `encoding/json` writes it: shortest digits, `e` notation below 1e-6 or from 1e21.
pub(crate) fn json_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    // Rust's `{:e}` gives shortest digits: "1e21", "1.5e-7".
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mant}e{sign}{digits}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_mapping_is_simple_per_rune() {
        assert_eq!(
            to_upper("straße İstanbul ǅemal ΣΑΣ ﬁx"),
            "STRAßE İSTANBUL ǄEMAL ΣΑΣ ﬁX"
        );
        assert_eq!(
            to_lower("straße İstanbul ǅemal ΣΑΣ ﬁx"),
            "straße istanbul ǆemal σασ ﬁx"
        );
        assert_eq!(
            title("hello world-foo bar_baz o'neil 3d"),
            "Hello World-Foo Bar_baz O'Neil 3d"
        );
    }

    #[test]
    fn paths_follow_go() {
        assert_eq!(path_base(""), ".");
        assert_eq!(path_base("/"), "/");
        assert_eq!(path_base("/etc/nginx/"), "nginx");
        assert_eq!(path_base("a//b"), "b");
        assert_eq!(path_dir("/etc/nginx/"), "/etc/nginx");
        assert_eq!(path_dir("file"), ".");
        assert_eq!(path_dir("/"), "/");
        assert_eq!(path_join(&["/", "a/", "../b"]), "/b");
        assert_eq!(path_join(&["/cfg", "/"]), "/cfg");
    }

    #[test]
    fn base64_round_trip_and_go_errors() {
        assert_eq!(base64_encode("hi?>".as_bytes(), false), "aGk/Pg==");
        assert_eq!(base64_encode("hi?>".as_bytes(), true), "aGk_Pg==");
        assert_eq!(base64_decode("aGk/Pg==", false).unwrap(), b"hi?>");
        assert_eq!(base64_decode("aGk=", false).unwrap(), b"hi");
        assert_eq!(
            base64_decode("!!!", false).unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            base64_decode("aGk", false).unwrap_err(),
            "illegal base64 data at input byte 0"
        );
    }

    #[test]
    fn strconv_errors_match_go() {
        assert_eq!(parse_int("+5", "Atoi"), Ok(5));
        assert_eq!(parse_int("0012", "Atoi"), Ok(12));
        assert_eq!(
            parse_int("4x", "Atoi").unwrap_err(),
            "strconv.Atoi: parsing \"4x\": invalid syntax"
        );
        assert!(parse_bool("yes")
            .unwrap_err()
            .contains("parsing \"yes\": invalid syntax"));
        assert_eq!(parse_float("1e6"), Ok(1e6));
        assert!(parse_float("1_0").is_err());
    }

    #[test]
    fn json_floats() {
        assert_eq!(json_float(1_000_000.0), "1000000");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(2.5), "2.5");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(0.1 * 3.0), "0.30000000000000004");
    }
}
