//! consul-template's helpers that do not read Consul: strings, collections, grouping, env,
//! parsing, regular expressions, `loop`, `timestamp`, `executeTemplate`, `file`.

use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};

use super::data::state;
use crate::func::{
    arg_int, arg_str, arg_str_list, arg_value, wrong_type, Arity, CallCtx, FuncError, FuncMap,
    FuncResult,
};
use crate::gostr;
use crate::value::{
    as_go_list, go_list, go_map, go_type_name, seq_items, string_list, ListKind, MapKind,
};

fn wrap<T>(prefix: &str, r: Result<T, String>) -> Result<T, FuncError> {
    r.map_err(|e| FuncError::new(format!("{prefix}: {e}")))
}

/// Go's `regexp.Compile` as far as RE2 and Rust's regex agree; `\w \d \s` are ASCII as in Go.
pub(crate) fn go_regex(re: &str) -> Result<regex::Regex, FuncError> {
    let go_msg = |what: &str| FuncError::new(format!("error parsing regexp: {what}: `{re}`"));
    if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(re) {
        use regex_syntax::ast::ErrorKind as K;
        return Err(go_msg(match e.kind() {
            K::GroupUnclosed => "missing closing )",
            K::GroupUnopened => "unexpected )",
            K::ClassUnclosed => "missing closing ]",
            K::RepetitionMissing => "missing argument to repetition operator",
            K::RepetitionCountInvalid | K::RepetitionCountUnclosed => "invalid repeat count",
            K::ClassRangeInvalid => "invalid character class range",
            K::EscapeUnrecognized | K::EscapeUnexpectedEof => "invalid escape sequence",
            _ => "invalid regular expression",
        }));
    }
    let mut out = String::with_capacity(re.len());
    let mut in_class = false;
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('w' | 'd' | 's')) => {
                    let class = match e {
                        'w' => "0-9A-Za-z_",
                        'd' => "0-9",
                        _ => r"\t\n\x0C\r ",
                    };
                    if in_class {
                        out.push_str(class);
                    } else {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    regex::Regex::new(&out).map_err(|e| go_msg(&e.to_string()))
}

/// consul-template's `in`: list membership, or a substring test on strings.
fn contains_value(list: &Value, needle: &Value) -> bool {
    if let Some(s) = list.as_str() {
        return needle.as_str().is_some_and(|n| s.contains(n));
    }
    match seq_items(list) {
        Some(items) => items.iter().any(|it| {
            it.kind() == needle.kind()
                && it.is_integer() == needle.is_integer()
                && !matches!(it.kind(), ValueKind::Seq | ValueKind::Map)
                && it == needle
        }),
        None => false,
    }
}

fn contains_some(ret_false: bool, invert: bool) -> impl Fn(&CallCtx<'_>, &[Value]) -> FuncResult {
    move |_, a| {
        let needles = arg_value(a, 0)?;
        let plain_seq = as_go_list(needles).is_none()
            && matches!(needles.kind(), ValueKind::Seq | ValueKind::Iterable);
        let interface =
            plain_seq || as_go_list(needles).is_some_and(|l| l.kind == ListKind::Interface);
        if !interface {
            return Err(wrong_type("[]interface {}", needles));
        }
        let list = arg_value(a, 1)?;
        for n in seq_items(needles).unwrap_or_default() {
            if contains_value(list, &n) != invert {
                return Ok(Value::from(!ret_false));
            }
        }
        Ok(Value::from(ret_false))
    }
}

fn env_get(ctx: &CallCtx<'_>, key: &str) -> Result<Option<String>, FuncError> {
    Ok(state(ctx)?.env.get(key))
}

fn loop_func(_: &CallCtx<'_>, a: &[Value]) -> FuncResult {
    let to64 = |v: &Value| -> Result<i64, FuncError> {
        if v.is_integer() {
            return v
                .as_i64()
                .ok_or_else(|| FuncError::new("loop: bad argument"));
        }
        match v.as_str() {
            Some(s) => wrap("parseInt", gostr::parse_int(s, "ParseInt")),
            None => Err(FuncError::new(format!(
                "loop: bad argument type: {}",
                go_type_name(v)
            ))),
        }
    };
    let (start, stop) = match a {
        [n] => (0, to64(n)?),
        [s, e] => (to64(s)?, to64(e)?),
        _ => {
            return Err(FuncError::new(format!(
                "loop: wrong number of arguments, expected 1 or 2, but got {}",
                a.len()
            )))
        }
    };
    Ok(go_list(
        ListKind::Int,
        (start..stop).map(Value::from).collect(),
    ))
}

fn indent(spaces: i64, s: &str) -> Result<String, FuncError> {
    if spaces < 0 {
        return Err(FuncError::new("indent value must be a positive integer"));
    }
    let prefix = " ".repeat(spaces as usize);
    let mut out = String::with_capacity(s.len());
    let mut at_line_start = true;
    for c in s.chars() {
        if at_line_start && c != '\n' {
            out.push_str(&prefix);
        }
        out.push(c);
        at_line_start = c == '\n';
    }
    Ok(out)
}

fn file(ctx: &CallCtx<'_>, a: &[Value]) -> FuncResult {
    let path = arg_str(a, 0)?;
    let st = state(ctx)?;
    let Some(sandbox) = &st.sandbox else {
        return Err(FuncError::new(
            "file: function disabled (no file sandbox configured)",
        ));
    };
    let canonical =
        std::fs::canonicalize(path).map_err(|e| FuncError::new(format!("file: {path}: {e}")))?;
    let root = std::fs::canonicalize(sandbox).unwrap_or_else(|_| sandbox.clone());
    if !canonical.starts_with(&root) {
        return Err(FuncError::new(format!(
            "file: access denied: {path} is outside the sandbox path"
        )));
    }
    std::fs::read_to_string(&canonical)
        .map(Value::from)
        .map_err(|e| FuncError::new(format!("file: {path}: {e}")))
}

/// Registers the helpers.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("env", Arity::exact(1), |c, a| {
        Ok(env_get(c, arg_str(a, 0)?)?.unwrap_or_default().into())
    });
    funcs.insert("mustEnv", Arity::exact(1), |c, a| {
        let k = arg_str(a, 0)?;
        match env_get(c, k)? {
            Some(v) if !v.is_empty() => Ok(v.into()),
            _ => Err(FuncError::new(format!(
                "required environment variable {k} is empty"
            ))),
        }
    });
    funcs.insert("envOrDefault", Arity::exact(2), |c, a| {
        let k = arg_str(a, 0)?;
        match env_get(c, k)? {
            Some(v) => Ok(v.into()),
            None => Ok(arg_str(a, 1)?.into()),
        }
    });
    funcs.insert("split", Arity::exact(2), |_, a| {
        let (sep, s) = (arg_str(a, 0)?, arg_str(a, 1)?.trim());
        if s.is_empty() {
            return Ok(string_list(Vec::new()));
        }
        Ok(string_list(gostr::split(s, sep)))
    });
    funcs.insert("join", Arity::exact(2), |_, a| {
        Ok(arg_str_list(a, 1)?.join(arg_str(a, 0)?).into())
    });
    funcs.insert("contains", Arity::exact(2), |_, a| {
        Ok(contains_value(arg_value(a, 1)?, arg_value(a, 0)?).into())
    });
    funcs.insert("in", Arity::exact(2), |_, a| {
        Ok(contains_value(arg_value(a, 0)?, arg_value(a, 1)?).into())
    });
    funcs.insert("containsAll", Arity::exact(2), contains_some(true, true));
    funcs.insert("containsAny", Arity::exact(2), contains_some(false, false));
    funcs.insert("containsNone", Arity::exact(2), contains_some(true, false));
    funcs.insert(
        "containsNotAll",
        Arity::exact(2),
        contains_some(false, true),
    );
    funcs.insert("replaceAll", Arity::exact(3), |_, a| {
        Ok(gostr::replace(arg_str(a, 2)?, arg_str(a, 0)?, arg_str(a, 1)?, -1).into())
    });
    funcs.insert("regexMatch", Arity::exact(2), |_, a| {
        Ok(go_regex(arg_str(a, 0)?)?.is_match(arg_str(a, 1)?).into())
    });
    funcs.insert("regexReplaceAll", Arity::exact(3), |_, a| {
        let re = go_regex(arg_str(a, 0)?)?;
        Ok(re
            .replace_all(arg_str(a, 2)?, arg_str(a, 1)?)
            .into_owned()
            .into())
    });
    funcs.insert("toLower", Arity::exact(1), |_, a| {
        Ok(gostr::to_lower(arg_str(a, 0)?).into())
    });
    funcs.insert("toUpper", Arity::exact(1), |_, a| {
        Ok(gostr::to_upper(arg_str(a, 0)?).into())
    });
    funcs.insert("toTitle", Arity::exact(1), |_, a| {
        Ok(gostr::title(arg_str(a, 0)?).into())
    });
    funcs.insert("trimSpace", Arity::exact(1), |_, a| {
        Ok(arg_str(a, 0)?.trim().into())
    });
    funcs.insert("trim", Arity::exact(2), |_, a| {
        let cutset: Vec<char> = arg_str(a, 0)?.chars().collect();
        Ok(arg_str(a, 1)?.trim_matches(cutset.as_slice()).into())
    });
    funcs.insert("trimPrefix", Arity::exact(2), |_, a| {
        let (p, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(s.strip_prefix(p).unwrap_or(s).into())
    });
    funcs.insert("trimSuffix", Arity::exact(2), |_, a| {
        let (p, s) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(s.strip_suffix(p).unwrap_or(s).into())
    });
    funcs.insert("indent", Arity::exact(2), |_, a| {
        Ok(indent(arg_int(a, 0)?, arg_str(a, 1)?)?.into())
    });
    for (name, url) in [("base64Encode", false), ("base64URLEncode", true)] {
        funcs.insert(name, Arity::exact(1), move |_, a| {
            Ok(gostr::base64_encode(crate::confd::arg_bytes(a, 0)?, url).into())
        });
    }
    for (name, url) in [("base64Decode", false), ("base64URLDecode", true)] {
        funcs.insert(name, Arity::exact(1), move |_, a| {
            let bytes = wrap(name, gostr::base64_decode(arg_str(a, 0)?, url))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned().into())
        });
    }
    funcs.insert("parseBool", Arity::exact(1), |_, a| {
        let s = arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(false.into());
        }
        wrap("parseBool", gostr::parse_bool(s)).map(Value::from)
    });
    funcs.insert("parseInt", Arity::exact(1), |_, a| {
        let s = arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(0.into());
        }
        wrap("parseInt", gostr::parse_int(s, "ParseInt")).map(Value::from)
    });
    funcs.insert("parseUint", Arity::exact(1), |_, a| {
        let s = arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(0.into());
        }
        wrap("parseUint", gostr::parse_uint(s)).map(Value::from)
    });
    funcs.insert("parseFloat", Arity::exact(1), |_, a| {
        let s = arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(0.0.into());
        }
        wrap("parseFloat", gostr::parse_float(s)).map(Value::from)
    });
    funcs.insert("parseJSON", Arity::exact(1), |_, a| {
        let s = arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(go_map(MapKind::Interface, BTreeMap::new()));
        }
        crate::gojson::decode_any(s).map_err(FuncError::new)
    });
    funcs.insert("loop", Arity::at_least(0), loop_func);
    funcs.insert("timestamp", Arity::at_least(0), |_, a| {
        let now = crate::confd::GoTime::now_utc();
        match a {
            [] => Ok(now.format("2006-01-02T15:04:05Z07:00").into()),
            [f] => match f.as_str() {
                Some("unix") => Ok(now.unix().to_string().into()),
                Some(layout) => Ok(now.format(layout).into()),
                None => Err(wrong_type("string", f)),
            },
            _ => Err(FuncError::new(format!(
                "timestamp: wrong number of arguments, expected 0 or 1, but got {}",
                a.len()
            ))),
        }
    });
    funcs.insert("executeTemplate", Arity::at_least(1), |c, a| {
        let name = arg_str(a, 0)?;
        let dot = match a.len() {
            1 => Value::UNDEFINED,
            2 => a[1].clone(),
            n => {
                return Err(FuncError::new(format!(
                    "executeTemplate: wrong number of arguments, expected 1 or 2, but got {n}"
                )))
            }
        };
        c.execute_template(name, dot).map(Value::from)
    });
    funcs.insert("file", Arity::exact(1), file);
}
