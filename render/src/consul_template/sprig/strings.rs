//! Sprig's string functions (`strings.go` and the goutils/strings wrappers in `functions.go`).
//! Several goutils helpers walk bytes, not runes, and are reproduced byte for byte.

use minijinja::Value;

use super::conv::{is_nil, strslice, strval};
use super::reg;
use crate::func::{arg_int, arg_str, arg_value, Arity, FuncError, FuncMap};
use crate::gostr;
use crate::value::{go_map, string_list, MapKind};

/// Go's `unicode.IsSpace`.
pub(super) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// A Go string from bytes that may not be UTF-8 (invalid sequences become U+FFFD here).
fn from_bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Go's `s[lo:hi]` on bytes, with the runtime's panic text when out of range.
fn slice_str(s: &str, lo: Option<i64>, hi: Option<i64>) -> Result<String, FuncError> {
    let len = s.len() as i64;
    let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(len));
    let oob = |m: String| FuncError::new(format!("runtime error: slice bounds out of range {m}"));
    if h < 0 || h > len {
        return Err(oob(match lo {
            Some(l) if hi.is_none() => format!("[{l}:{len}]"),
            _ => format!("[:{h}] with length {len}"),
        }));
    }
    if l < 0 || l > h {
        return Err(oob(format!("[{l}:{h}]")));
    }
    Ok(from_bytes(&s.as_bytes()[l as usize..h as usize]))
}

/// Sprig's `substr start end s`.
fn substr(start: i64, end: i64, s: &str) -> Result<String, FuncError> {
    if start < 0 {
        return slice_str(s, None, Some(end));
    }
    if end < 0 || end > s.len() as i64 {
        return slice_str(s, Some(start), None);
    }
    slice_str(s, Some(start), Some(end))
}

/// Sprig's `trunc`: the first `c` bytes, or the last `-c` for a negative `c`.
fn trunc(c: i64, s: &str) -> String {
    let len = s.len() as i64;
    if c < 0 && len + c > 0 {
        return from_bytes(&s.as_bytes()[(len + c) as usize..]);
    }
    if c >= 0 && len > c {
        return from_bytes(&s.as_bytes()[..c as usize]);
    }
    s.to_string()
}

/// goutils `AbbreviateFull` (byte offsets); `None` where goutils returns its width error.
fn abbreviate_full(s: &str, offset: i64, width: i64) -> Option<String> {
    if s.is_empty() {
        return Some(String::new());
    }
    if width < 4 {
        return None;
    }
    let b = s.as_bytes();
    let len = b.len() as i64;
    if len <= width {
        return Some(s.to_string());
    }
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    if offset <= 4 {
        return Some(from_bytes(&b[..(width - 3) as usize]) + "...");
    }
    if width < 7 {
        return None;
    }
    if offset + width - 3 < len {
        let rest = from_bytes(&b[offset as usize..]);
        let inner = abbreviate_full(&rest, 0, width - 3).unwrap_or_default();
        return Some(format!("...{inner}"));
    }
    Some(format!(
        "...{}",
        from_bytes(&b[(len - (width - 3)) as usize..])
    ))
}

/// goutils `Initials`: the first byte after each whitespace byte.
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for &b in s.as_bytes() {
        let c = char::from(b);
        if is_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils `DeleteWhiteSpace` (bytes taken as runes, as upstream does).
fn nospace(s: &str) -> String {
    if !s.bytes().any(|b| is_space(char::from(b))) {
        return s.to_string();
    }
    s.bytes()
        .map(char::from)
        .filter(|c| !is_space(*c))
        .collect()
}

/// goutils `WrapCustom`.
fn wrap_custom(s: &str, width: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut off = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(len);
    while len - off > width {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = width + off + 1;
        let space = b[off..end].iter().rposition(|&c| c == b' ');
        if let Some(sp) = space {
            let at = sp + off;
            out.extend_from_slice(&b[off..at]);
            out.extend_from_slice(nl.as_bytes());
            off = at + 1;
        } else if long_words {
            out.extend_from_slice(&b[off..width + off]);
            out.extend_from_slice(nl.as_bytes());
            off += width;
        } else {
            let end = width + off;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[off..]);
                    off = len;
                }
                Some(i) => {
                    let at = i + end;
                    out.extend_from_slice(&b[off..at]);
                    out.extend_from_slice(nl.as_bytes());
                    off = at + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[off..]);
    from_bytes(&out)
}

/// goutils `SwapCase`: upper to lower, lower to upper (title case after whitespace).
fn swapcase(s: &str) -> String {
    let mut ws = true;
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                ws = false;
                gostr::lower_rune(c)
            } else if c.is_lowercase() {
                let u = gostr::upper_rune(c);
                ws = false;
                u
            } else {
                ws = is_space(c);
                c
            }
        })
        .collect()
}

/// Go's `strings.Trim(s, cutset)`.
fn trim_set(s: &str, cutset: &str) -> String {
    s.trim_matches(|c| cutset.contains(c)).to_string()
}

/// Go's `strings.SplitN` (`n < 0` is every part, `0` none).
fn split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let all = gostr::split(s, sep);
    if n < 0 || all.len() <= n as usize {
        return all;
    }
    let n = n as usize;
    if sep.is_empty() {
        let mut parts: Vec<String> = all[..n - 1].to_vec();
        parts.push(all[n - 1..].concat());
        return parts;
    }
    let mut parts: Vec<String> = s.splitn(n, sep).map(str::to_string).collect();
    parts.truncate(n);
    parts
}

/// Sprig's `split`/`splitn` result: `map[string]string` keyed `_0`, `_1`, ...
fn indexed(parts: Vec<String>) -> Value {
    let entries = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::from(p)))
        .collect();
    go_map(MapKind::String, entries)
}

fn s(v: String) -> Result<Value, FuncError> {
    Ok(Value::from(v))
}

/// Registers the string functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "hello", Arity::exact(0), |_, _| s("Hello!".into()));
    reg(f, "trim", Arity::exact(1), |_, a| {
        s(arg_str(a, 0)?.trim_matches(is_space).to_string())
    });
    for name in ["trimAll", "trimall"] {
        reg(f, name, Arity::exact(2), |_, a| {
            s(trim_set(arg_str(a, 1)?, arg_str(a, 0)?))
        });
    }
    reg(f, "trimPrefix", Arity::exact(2), |_, a| {
        let (p, v) = (arg_str(a, 0)?, arg_str(a, 1)?);
        s(v.strip_prefix(p).unwrap_or(v).to_string())
    });
    reg(f, "trimSuffix", Arity::exact(2), |_, a| {
        let (p, v) = (arg_str(a, 0)?, arg_str(a, 1)?);
        s(v.strip_suffix(p).unwrap_or(v).to_string())
    });
    reg(f, "upper", Arity::exact(1), |_, a| {
        s(gostr::to_upper(arg_str(a, 0)?))
    });
    reg(f, "lower", Arity::exact(1), |_, a| {
        s(gostr::to_lower(arg_str(a, 0)?))
    });
    reg(f, "title", Arity::exact(1), |_, a| {
        s(gostr::title(arg_str(a, 0)?))
    });
    reg(f, "substr", Arity::exact(3), |_, a| {
        s(substr(arg_int(a, 0)?, arg_int(a, 1)?, arg_str(a, 2)?)?)
    });
    reg(f, "repeat", Arity::exact(2), |_, a| {
        let n = arg_int(a, 0)?;
        let v = arg_str(a, 1)?;
        if n < 0 {
            return Err(FuncError::new("strings: negative Repeat count"));
        }
        s(v.repeat(n as usize))
    });
    reg(f, "nospace", Arity::exact(1), |_, a| {
        s(nospace(arg_str(a, 0)?))
    });
    reg(f, "trunc", Arity::exact(2), |_, a| {
        s(trunc(arg_int(a, 0)?, arg_str(a, 1)?))
    });
    reg(f, "abbrev", Arity::exact(2), |_, a| {
        let (w, v) = (arg_int(a, 0)?, arg_str(a, 1)?);
        if w < 4 {
            return s(v.to_string());
        }
        s(abbreviate_full(v, 0, w).unwrap_or_default())
    });
    reg(f, "abbrevboth", Arity::exact(3), |_, a| {
        let (l, r, v) = (arg_int(a, 0)?, arg_int(a, 1)?, arg_str(a, 2)?);
        if r < 4 || l > 0 && r < 7 {
            return s(v.to_string());
        }
        s(abbreviate_full(v, l, r).unwrap_or_default())
    });
    reg(f, "initials", Arity::exact(1), |_, a| {
        s(initials(arg_str(a, 0)?))
    });
    reg(f, "shuffle", Arity::exact(1), |_, a| {
        let mut runes: Vec<char> = arg_str(a, 0)?.chars().collect();
        rand::seq::SliceRandom::shuffle(runes.as_mut_slice(), &mut rand::thread_rng());
        s(runes.into_iter().collect())
    });
    reg(f, "swapcase", Arity::exact(1), |_, a| {
        s(swapcase(arg_str(a, 0)?))
    });
    reg(f, "wrap", Arity::exact(2), |_, a| {
        s(wrap_custom(arg_str(a, 1)?, arg_int(a, 0)?, "", false))
    });
    reg(f, "wrapWith", Arity::exact(3), |_, a| {
        s(wrap_custom(
            arg_str(a, 2)?,
            arg_int(a, 0)?,
            arg_str(a, 1)?,
            true,
        ))
    });
    reg(f, "contains", Arity::exact(2), |_, a| {
        Ok(Value::from(arg_str(a, 1)?.contains(arg_str(a, 0)?)))
    });
    reg(f, "hasPrefix", Arity::exact(2), |_, a| {
        Ok(Value::from(arg_str(a, 1)?.starts_with(arg_str(a, 0)?)))
    });
    reg(f, "hasSuffix", Arity::exact(2), |_, a| {
        Ok(Value::from(arg_str(a, 1)?.ends_with(arg_str(a, 0)?)))
    });
    reg(f, "quote", Arity::at_least(0), |_, a| {
        let out: Vec<String> = a
            .iter()
            .filter(|v| !is_nil(v))
            .map(|v| crate::gofmt::quote(&strval(v)))
            .collect();
        s(out.join(" "))
    });
    reg(f, "squote", Arity::at_least(0), |_, a| {
        let out: Vec<String> = a
            .iter()
            .filter(|v| !is_nil(v))
            .map(|v| format!("'{}'", strval(v)))
            .collect();
        s(out.join(" "))
    });
    reg(f, "cat", Arity::at_least(0), |_, a| {
        let out: Vec<String> = a.iter().filter(|v| !is_nil(v)).map(strval).collect();
        s(out.join(" "))
    });
    reg(f, "indent", Arity::exact(2), |_, a| {
        let pad = " ".repeat(arg_int(a, 0)?.max(0) as usize);
        s(format!(
            "{pad}{}",
            arg_str(a, 1)?.replace('\n', &format!("\n{pad}"))
        ))
    });
    reg(f, "nindent", Arity::exact(2), |_, a| {
        let pad = " ".repeat(arg_int(a, 0)?.max(0) as usize);
        s(format!(
            "\n{pad}{}",
            arg_str(a, 1)?.replace('\n', &format!("\n{pad}"))
        ))
    });
    reg(f, "replace", Arity::exact(3), |_, a| {
        s(gostr::replace(
            arg_str(a, 2)?,
            arg_str(a, 0)?,
            arg_str(a, 1)?,
            -1,
        ))
    });
    reg(f, "plural", Arity::exact(3), |_, a| {
        let (one, many) = (arg_str(a, 0)?, arg_str(a, 1)?);
        s(if arg_int(a, 2)? == 1 { one } else { many }.to_string())
    });
    reg(f, "toString", Arity::exact(1), |_, a| {
        s(strval(arg_value(a, 0)?))
    });
    reg(f, "join", Arity::exact(2), |_, a| {
        s(strslice(arg_value(a, 1)?).join(arg_str(a, 0)?))
    });
    reg(f, "toStrings", Arity::exact(1), |_, a| {
        Ok(string_list(strslice(arg_value(a, 0)?)))
    });
    reg(f, "splitList", Arity::exact(2), |_, a| {
        Ok(string_list(gostr::split(arg_str(a, 1)?, arg_str(a, 0)?)))
    });
    reg(f, "split", Arity::exact(2), |_, a| {
        Ok(indexed(gostr::split(arg_str(a, 1)?, arg_str(a, 0)?)))
    });
    reg(f, "splitn", Arity::exact(3), |_, a| {
        let (sep, n, v) = (arg_str(a, 0)?, arg_int(a, 1)?, arg_str(a, 2)?);
        Ok(indexed(split_n(v, sep, n)))
    });
    reg(f, "fail", Arity::exact(1), |_, a| {
        Err(FuncError::new(arg_str(a, 0)?.to_string()))
    });
}
