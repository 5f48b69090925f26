//! The stanzas of features this consul-template does not have: `vault {}` and `nomad {}`
//! (neither can run here). A stanza that only sets empty or
//! default values (`vault { address = "" }`, `vault { renew_token = false }`, `vault {}`) loads;
//! any other value is an error naming the stanza, the key and the feature, never ignored.

use serde_json::{Map, Value};

/// The stanzas refused, and what the error says is missing.
const STANZAS: [(&str, &str); 2] = [
    ("vault", "Vault is not supported by this consul-template"),
    ("nomad", "Nomad is not supported by this consul-template"),
];

/// Keys whose consul-template default is `true` (so setting them to `true` changes nothing).
const TRUE_BY_DEFAULT: [&str; 4] = ["renew_token", "ssl.verify", "ssl.enabled", "retry.enabled"];

/// An error when `obj` sets anything but empty or default values in one of [`STANZAS`].
pub(crate) fn refuse(obj: &Map<String, Value>) -> Result<(), String> {
    for (stanza, why) in STANZAS {
        for block in super::config_file::blocks(obj.get(stanza)) {
            if let Some(key) = first_set(block, "") {
                return Err(format!("{stanza} {{ {key} }}: {why}"));
            }
        }
        // `vault = "…"` or another non-block value.
        if let Some(v) = obj.get(stanza) {
            if !v.is_object() && !v.is_array() && !is_empty(v) {
                return Err(format!("{stanza}: {why}"));
            }
        }
    }
    Ok(())
}

/// The dotted path of the first key of `o` set to something other than an empty or default
/// value.
fn first_set(o: &Map<String, Value>, prefix: &str) -> Option<String> {
    for (k, v) in o {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let set = match v {
            Value::Object(inner) => first_set(inner, &path),
            Value::Array(items) => items.iter().find_map(|i| match i {
                Value::Object(inner) => first_set(inner, &path),
                other if !is_empty(other) => Some(path.clone()),
                _ => None,
            }),
            Value::Bool(true) if TRUE_BY_DEFAULT.contains(&path.as_str()) => None,
            other if is_empty(other) => None,
            _ => Some(path.clone()),
        };
        if set.is_some() {
            return set;
        }
    }
    None
}

/// `null`, `""`, `false`, `0`, `[]`, `{}`.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(o) => o.values().all(is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hcl: &str) -> Result<(), String> {
        let v: Value = hcl::from_str(hcl).map_err(|e| e.to_string())?;
        refuse(v.as_object().expect("an object"))
    }

    #[test]
    fn empty_or_default_stanzas_load() {
        for ok in [
            "vault {}",
            "vault {\n  address = \"\"\n}",
            "vault {\n  renew_token = false\n}",
            "vault {\n  renew_token = true\n  ssl {\n    verify = true\n  }\n}",
            "nomad {\n  address = \"\"\n}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn anything_set_is_an_error_naming_the_feature() {
        let e = check("vault {\n  address = \"https://v:8200\"\n}").unwrap_err();
        assert_eq!(
            e,
            "vault { address }: Vault is not supported by this consul-template"
        );
        let e = check("vault {\n  ssl {\n    ca_cert = \"/ca\"\n  }\n}").unwrap_err();
        assert!(e.starts_with("vault { ssl.ca_cert }"), "{e}");
        let e = check("nomad {\n  namespace = \"x\"\n}").unwrap_err();
        assert!(e.contains("Nomad is not supported"), "{e}");
        let e = check("vault {\n  renew = true\n}").unwrap_err();
        assert!(e.contains("vault { renew }"), "{e}");
    }
}
