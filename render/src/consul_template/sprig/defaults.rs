//! Sprig's `defaults.go`: `default empty coalesce all any ternary` and the JSON functions
//! (`toJson toPrettyJson toRawJson fromJson` and their `must` forms).

use minijinja::Value;

use super::conv::empty;
use super::reg;
use crate::func::{arg_bool, arg_str, arg_value, Arity, FuncError, FuncMap};
use crate::gojson;

/// Undoes `encoding/json`'s HTML escaping (`\u003c \u003e \u0026`), for `SetEscapeHTML(false)`.
fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let repl = [("\\u003c", '<'), ("\\u003e", '>'), ("\\u0026", '&')]
            .iter()
            .find(|(pat, _)| tail.starts_with(pat));
        match repl {
            Some((pat, c)) => {
                out.push(*c);
                rest = &tail[pat.len()..];
            }
            None => {
                // Any other escape is two characters at least (`\\`, `\"`, `\n`, `\uXXXX`).
                let n = tail.char_indices().nth(2).map_or(tail.len(), |(j, _)| j);
                out.push_str(&tail[..n]);
                rest = &tail[n..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn json(v: &Value, indent: &str, raw: bool) -> Result<String, FuncError> {
    let s = gojson::encode(v, indent).map_err(FuncError::new)?;
    Ok(if raw { unescape_html(&s) } else { s })
}

/// Registers the default and JSON functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "default", Arity::at_least(1), |_, a| {
        let d = arg_value(a, 0)?;
        Ok(match a.get(1) {
            Some(g) if !empty(g) => g.clone(),
            _ => d.clone(),
        })
    });
    reg(f, "empty", Arity::exact(1), |_, a| {
        Ok(Value::from(empty(arg_value(a, 0)?)))
    });
    reg(f, "coalesce", Arity::at_least(0), |_, a| {
        Ok(a.iter()
            .find(|v| !empty(v))
            .cloned()
            .unwrap_or(Value::from(())))
    });
    reg(f, "all", Arity::at_least(0), |_, a| {
        Ok(Value::from(a.iter().all(|v| !empty(v))))
    });
    reg(f, "any", Arity::at_least(0), |_, a| {
        Ok(Value::from(a.iter().any(|v| !empty(v))))
    });
    reg(f, "ternary", Arity::exact(3), |_, a| {
        let pick = if arg_bool(a, 2)? { 0 } else { 1 };
        Ok(arg_value(a, pick)?.clone())
    });
    for (name, indent, raw, must) in [
        ("toJson", "", false, false),
        ("mustToJson", "", false, true),
        ("toPrettyJson", "  ", false, false),
        ("mustToPrettyJson", "  ", false, true),
        ("toRawJson", "", true, false),
        ("mustToRawJson", "", true, true),
    ] {
        reg(f, name, Arity::exact(1), move |_, a| {
            match json(arg_value(a, 0)?, indent, raw) {
                Ok(s) => Ok(Value::from(s)),
                // toJson and toPrettyJson drop the error; toRawJson panics with it.
                Err(_) if !must && !raw => Ok(Value::from("")),
                Err(e) => Err(e),
            }
        });
    }
    reg(f, "fromJson", Arity::exact(1), |_, a| {
        Ok(gojson::decode_any(arg_str(a, 0)?).unwrap_or(Value::from(())))
    });
    reg(f, "mustFromJson", Arity::exact(1), |_, a| {
        gojson::decode_any(arg_str(a, 0)?).map_err(FuncError::new)
    });
}
