//! Sprig's `regex.go`: `regexMatch regexFind regexFindAll regexReplaceAll
//! regexReplaceAllLiteral regexSplit regexQuoteMeta` and the `must` forms. The plain forms use
//! `regexp.MustCompile`, whose panic reads `regexp: Compile(`RE`): ERR`; `regexMatch` returns
//! false on a bad pattern instead.

use minijinja::Value;

use super::reg;
use crate::consul_template::go_regex;
use crate::func::{arg_int, arg_str, Arity, FuncError, FuncMap};
use crate::value::string_list;

/// Compiles `re`; `must` forms return Go's `regexp.Compile` error, the others its
/// `MustCompile` panic.
fn compile(re: &str, must: bool) -> Result<regex::Regex, FuncError> {
    go_regex(re).map_err(|e| {
        if must {
            e
        } else {
            let shown = if re.contains('`') || re.chars().any(|c| c.is_control() && c != '\t') {
                crate::gostr::go_quote(re)
            } else {
                format!("`{re}`")
            };
            FuncError::new(format!("regexp: Compile({shown}): {}", e.message))
        }
    })
}

/// Go's `Regexp.Split`.
fn split(re: &regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(s).take(limit) {
        if n > 0 && out.len() == limit - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Registers the regular expression functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "regexMatch", Arity::exact(2), |_, a| {
        let re = compile(arg_str(a, 0)?, true);
        Ok(Value::from(re.is_ok_and(|r| {
            r.is_match(arg_str(a, 1).unwrap_or_default())
        })))
    });
    reg(f, "mustRegexMatch", Arity::exact(2), |_, a| {
        let re = compile(arg_str(a, 0)?, true)?;
        Ok(Value::from(re.is_match(arg_str(a, 1)?)))
    });
    for (name, must) in [("regexFindAll", false), ("mustRegexFindAll", true)] {
        reg(f, name, Arity::exact(3), move |_, a| {
            let re = compile(arg_str(a, 0)?, must)?;
            let (s, n) = (arg_str(a, 1)?, arg_int(a, 2)?);
            let limit = if n < 0 { usize::MAX } else { n as usize };
            Ok(string_list(
                re.find_iter(s)
                    .take(limit)
                    .map(|m| m.as_str().to_string())
                    .collect(),
            ))
        });
    }
    for (name, must) in [("regexFind", false), ("mustRegexFind", true)] {
        reg(f, name, Arity::exact(2), move |_, a| {
            let re = compile(arg_str(a, 0)?, must)?;
            let s = arg_str(a, 1)?;
            Ok(Value::from(re.find(s).map_or("", |m| m.as_str())))
        });
    }
    for (name, must) in [("regexReplaceAll", false), ("mustRegexReplaceAll", true)] {
        reg(f, name, Arity::exact(3), move |_, a| {
            let re = compile(arg_str(a, 0)?, must)?;
            let (s, repl) = (arg_str(a, 1)?, arg_str(a, 2)?);
            Ok(Value::from(re.replace_all(s, repl).into_owned()))
        });
    }
    for (name, must) in [
        ("regexReplaceAllLiteral", false),
        ("mustRegexReplaceAllLiteral", true),
    ] {
        reg(f, name, Arity::exact(3), move |_, a| {
            let re = compile(arg_str(a, 0)?, must)?;
            let (s, repl) = (arg_str(a, 1)?, arg_str(a, 2)?);
            Ok(Value::from(
                re.replace_all(s, regex::NoExpand(repl)).into_owned(),
            ))
        });
    }
    for (name, must) in [("regexSplit", false), ("mustRegexSplit", true)] {
        reg(f, name, Arity::exact(3), move |_, a| {
            let re = compile(arg_str(a, 0)?, must)?;
            Ok(string_list(split(&re, arg_str(a, 1)?, arg_int(a, 2)?)))
        });
    }
    reg(f, "regexQuoteMeta", Arity::exact(1), |_, a| {
        Ok(Value::from(quote_meta(arg_str(a, 0)?)))
    });
}
