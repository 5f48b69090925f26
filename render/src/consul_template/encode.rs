//! consul-template's output encoders: `toJSON`, `toJSONPretty`, `toUnescapedJSON`, `toYAML`
//! (gopkg.in/yaml.v2 layout) and `toTOML` (BurntSushi/toml layout).

use minijinja::value::{Value, ValueKind};

use crate::func::{arg_value, wrong_type, Arity, FuncError, FuncMap};
use crate::value::{
    as_f64, as_go_map, as_go_object, go_list, go_map, map_entries, seq_items, ListKind, MapKind,
};

fn require_map(v: &Value) -> Result<Vec<(String, Value)>, FuncError> {
    let ok = match as_go_map(v) {
        Some(m) => m.kind == MapKind::Interface,
        None => v.kind() == ValueKind::Map && as_go_object(v).is_none(),
    };
    if !ok {
        return Err(wrong_type("map[string]interface {}", v));
    }
    Ok(map_entries(v).unwrap_or_default())
}

fn yaml_value(v: &Value) -> yaml_serde::Value {
    use yaml_serde::Value as Y;
    if let Some(s) = v.as_str() {
        return Y::String(s.to_owned());
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Y::Null,
        ValueKind::Bool => Y::Bool(v.is_true()),
        ValueKind::Number if v.is_integer() => Y::Number(v.as_i64().unwrap_or(0).into()),
        ValueKind::Number => {
            let f = as_f64(v).unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 1e6 {
                Y::Number((f as i64).into())
            } else {
                Y::Number(f.into())
            }
        }
        _ => {
            if let Some(items) = seq_items(v) {
                Y::Sequence(items.iter().map(yaml_value).collect())
            } else if let Some(entries) = map_entries(v) {
                Y::Mapping(
                    entries
                        .iter()
                        .map(|(k, v)| (Y::String(k.clone()), yaml_value(v)))
                        .collect(),
                )
            } else {
                Y::String(crate::value::format_value(v))
            }
        }
    }
}

/// A parsed YAML document as template values (integers stay ints, maps have string keys).
fn from_yaml(y: yaml_serde::Value) -> Value {
    use yaml_serde::Value as Y;
    match y {
        Y::Null => Value::from(()),
        Y::Bool(b) => Value::from(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Value::from(s),
        Y::Sequence(items) => go_list(
            ListKind::Interface,
            items.into_iter().map(from_yaml).collect(),
        ),
        Y::Mapping(m) => go_map(
            MapKind::Interface,
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => crate::value::format_value(&from_yaml(other)),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => from_yaml(t.value),
    }
}

fn toml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        toml_quote(k)
    }
}

#[derive(PartialEq)]
enum TomlKind {
    Table,
    TableArray,
    Plain,
}

fn toml_kind(v: &Value) -> TomlKind {
    if as_go_object(v).is_none() && map_entries(v).is_some() && v.as_str().is_none() {
        return TomlKind::Table;
    }
    if let Some(items) = seq_items(v) {
        if items
            .first()
            .is_some_and(|f| toml_kind(f) == TomlKind::Table)
        {
            return TomlKind::TableArray;
        }
    }
    TomlKind::Plain
}

fn toml_element(out: &mut String, v: &Value) -> Result<(), FuncError> {
    if let Some(s) = v.as_str() {
        out.push_str(&toml_quote(s));
        return Ok(());
    }
    match v.kind() {
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => {
            let mut s = format!("{}", as_f64(v).unwrap_or(0.0));
            if !s.contains('.') {
                s.push_str(".0");
            }
            out.push_str(&s);
        }
        _ => {
            let items = seq_items(v).ok_or_else(|| {
                FuncError::new(format!(
                    "toTOML: toml: unsupported type: {}",
                    crate::value::go_type_name(v)
                ))
            })?;
            out.push('[');
            let mut first_kind = None;
            for (i, it) in items.iter().enumerate() {
                let k = (it.kind(), it.is_integer());
                if *first_kind.get_or_insert(k) != k {
                    return Err(FuncError::new(
                        "toTOML: toml: cannot encode array with mixed element types",
                    ));
                }
                if i > 0 {
                    out.push_str(", ");
                }
                toml_element(out, it)?;
            }
            out.push(']');
        }
    }
    Ok(())
}

fn toml_table(
    out: &mut String,
    path: &[String],
    entries: &[(String, Value)],
) -> Result<(), FuncError> {
    let indent = "  ".repeat(path.len());
    let (subs, direct): (Vec<_>, Vec<_>) = entries
        .iter()
        .filter(|(_, v)| !v.is_none() && !v.is_undefined())
        .partition(|(_, v)| toml_kind(v) != TomlKind::Plain);
    for (k, v) in direct {
        out.push_str(&indent);
        out.push_str(&toml_key(k));
        out.push_str(" = ");
        toml_element(out, v)?;
        out.push('\n');
    }
    for (k, v) in subs {
        let mut p = path.to_vec();
        p.push(k.clone());
        let header: Vec<String> = p.iter().map(|s| toml_key(s)).collect();
        let header = header.join(".");
        if toml_kind(v) == TomlKind::Table {
            if p.len() == 1 {
                out.push('\n');
            }
            out.push_str(&format!("{indent}[{header}]\n"));
            toml_table(out, &p, &map_entries(v).unwrap_or_default())?;
        } else {
            for it in seq_items(v).unwrap_or_default() {
                out.push_str(&format!("\n{indent}[[{header}]]\n"));
                toml_table(out, &p, &map_entries(&it).unwrap_or_default())?;
            }
        }
    }
    Ok(())
}

/// Registers the encoders.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("toJSON", Arity::exact(1), |_, a| {
        crate::gojson::encode(arg_value(a, 0)?, "")
            .map(Value::from)
            .map_err(FuncError::new)
    });
    funcs.insert("toUnescapedJSON", Arity::exact(1), |_, a| {
        let s = crate::gojson::encode(arg_value(a, 0)?, "").map_err(FuncError::new)?;
        Ok(unescape_html(&s).into())
    });
    funcs.insert("toJSONPretty", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        require_map(v)?;
        crate::gojson::encode(v, "  ")
            .map(Value::from)
            .map_err(FuncError::new)
    });
    funcs.insert("toUnescapedJSONPretty", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        require_map(v)?;
        let s = crate::gojson::encode(v, "  ").map_err(FuncError::new)?;
        Ok(unescape_html(&s).into())
    });
    funcs.insert("toYAML", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        require_map(v)?;
        let s = yaml_serde::to_string(&yaml_value(v))
            .map_err(|e| FuncError::new(format!("toYAML: {e}")))?;
        Ok(s.strip_suffix('\n').unwrap_or(&s).to_owned().into())
    });
    funcs.insert("parseYAML", Arity::exact(1), |_, a| {
        let s = crate::func::arg_str(a, 0)?;
        if s.is_empty() {
            return Ok(go_map(MapKind::Interface, Default::default()));
        }
        yaml_serde::from_str::<yaml_serde::Value>(s)
            .map(from_yaml)
            .map_err(|e| FuncError::new(format!("parseYAML: {e}")))
    });
    funcs.insert("toTOML", Arity::exact(1), |_, a| {
        let entries = require_map(arg_value(a, 0)?)?;
        let mut out = String::new();
        toml_table(&mut out, &[], &entries)?;
        Ok(out.trim().to_owned().into())
    });
}

fn unescape_html(s: &str) -> String {
    s.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
}
