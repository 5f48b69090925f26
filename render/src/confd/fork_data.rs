//! The value functions abtreece/confd v0.41.0 added (`pkg/template/utility_funcs.go`):
//! defaults and conditionals (`default ternary coalesce empty`), JSON (`toJson fromJson
//! toPrettyJson`), collections (`dict list hasKey keys values append pluck`) and `sha256sum`.
//!
//! Go's parameter types are kept: `hasKey`, `keys`, `values` and `pluck` take a
//! `map[string]interface {}`, `append` a `[]interface {}`, and refuse other maps and slices
//! (e.g. the `[]string` of `getvs`) with Go's `wrong type for value` text. A nil value given
//! for a map or slice parameter is Go's nil map or slice.

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};
use sha2::{Digest, Sha256};

use super::helpers::{arg_bytes, create_map};
use crate::func::{arg_bool, arg_str, arg_value, wrong_type, Arity, FuncError, FuncMap};
use crate::value::{
    as_go_list, as_go_map, as_go_object, go_list, holds_interfaces, map_entries, seq_items,
    string_list, ListKind, MapKind,
};

/// The fork's `isEmpty`: nil, `false`, zero numbers and empty strings, slices and maps. A struct
/// or pointer value (a `memkv.KVPair`, a `time.Time`) is not empty.
fn is_empty(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => true,
        ValueKind::Bool => !v.is_true(),
        ValueKind::Number => crate::value::as_f64(v).is_some_and(|f| f == 0.0),
        ValueKind::String => v.as_str().is_some_and(str::is_empty),
        ValueKind::Bytes => v.as_bytes().is_some_and(<[u8]>::is_empty),
        _ if as_go_object(v).is_some() => false,
        _ => match seq_items(v) {
            Some(items) => items.is_empty(),
            None => map_entries(v).is_some_and(|e| e.is_empty()),
        },
    }
}

/// True for Go's nil (an argument given `nil`, or a missing value).
fn is_nil(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Undefined | ValueKind::None)
}

/// A `map[string]interface {}` parameter: its entries in key order (a nil map has none).
fn arg_interface_map(a: &[Value], i: usize) -> Result<Vec<(String, Value)>, FuncError> {
    let v = arg_value(a, i)?;
    if is_nil(v) {
        return Ok(Vec::new());
    }
    let is_map = match as_go_map(v) {
        Some(m) => m.kind == MapKind::Interface,
        None => v.kind() == ValueKind::Map && as_go_object(v).is_none(),
    };
    match map_entries(v) {
        Some(entries) if is_map => Ok(entries),
        _ => Err(wrong_type("map[string]interface {}", v)),
    }
}

/// A `[]interface {}` parameter: its items (a nil slice has none).
fn arg_interface_list(a: &[Value], i: usize) -> Result<Vec<Value>, FuncError> {
    let v = arg_value(a, i)?;
    if is_nil(v) {
        return Ok(Vec::new());
    }
    let is_list = as_go_list(v).is_some() || matches!(v.kind(), ValueKind::Seq);
    match seq_items(v) {
        Some(items) if is_list && holds_interfaces(v) => Ok(items),
        _ => Err(wrong_type("[]interface {}", v)),
    }
}

/// `json.Marshal` (or `MarshalIndent` with two spaces) with Go's error text.
fn to_json(v: &Value, indent: &str) -> Result<Value, FuncError> {
    crate::gojson::encode(v, indent)
        .map(Value::from)
        .map_err(FuncError::new)
}

/// Lower-case hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Registers the fork's value functions.
pub(super) fn register(funcs: &mut FuncMap) {
    funcs.insert("default", Arity::exact(2), |_, a| {
        let given = arg_value(a, 1)?;
        Ok(if is_empty(given) { &a[0] } else { given }.clone())
    });
    funcs.insert("ternary", Arity::exact(3), |_, a| {
        Ok(a[if arg_bool(a, 2)? { 0 } else { 1 }].clone())
    });
    funcs.insert("coalesce", Arity::at_least(0), |_, a| {
        Ok(a.iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::from(())))
    });
    funcs.insert("empty", Arity::exact(1), |_, a| {
        Ok(is_empty(arg_value(a, 0)?).into())
    });
    funcs.insert("toJson", Arity::exact(1), |_, a| {
        to_json(arg_value(a, 0)?, "")
    });
    funcs.insert("toPrettyJson", Arity::exact(1), |_, a| {
        to_json(arg_value(a, 0)?, "  ")
    });
    funcs.insert("fromJson", Arity::exact(1), |_, a| {
        crate::gojson::decode_any(arg_str(a, 0)?).map_err(FuncError::new)
    });
    funcs.insert("dict", Arity::at_least(0), |_, a| create_map(a));
    funcs.insert("list", Arity::at_least(0), |_, a| {
        Ok(go_list(ListKind::Interface, a.to_vec()))
    });
    funcs.insert("hasKey", Arity::exact(2), |_, a| {
        let entries = arg_interface_map(a, 0)?;
        let key = arg_str(a, 1)?;
        Ok(entries.iter().any(|(k, _)| k == key).into())
    });
    funcs.insert("keys", Arity::exact(1), |_, a| {
        let entries = arg_interface_map(a, 0)?;
        Ok(string_list(entries.into_iter().map(|(k, _)| k).collect()))
    });
    funcs.insert("values", Arity::exact(1), |_, a| {
        let entries = arg_interface_map(a, 0)?;
        let items = entries.into_iter().map(|(_, v)| v).collect();
        Ok(go_list(ListKind::Interface, items))
    });
    funcs.insert("append", Arity::exact(2), |_, a| {
        let mut items = arg_interface_list(a, 0)?;
        items.push(a[1].clone());
        Ok(go_list(ListKind::Interface, items))
    });
    funcs.insert("pluck", Arity::at_least(1), |_, a| {
        let key = arg_str(a, 0)?;
        let mut out = Vec::new();
        for i in 1..a.len() {
            if let Some((_, v)) = arg_interface_map(a, i)?.into_iter().find(|(k, _)| k == key) {
                out.push(v);
            }
        }
        Ok(go_list(ListKind::Interface, out))
    });
    funcs.insert("sha256sum", Arity::exact(1), |_, a| {
        Ok(sha256_hex(arg_bytes(a, 0)?).into())
    });
}

#[cfg(test)]
mod tests {
    use super::super::fork_funcs::render;

    // TestDfault / TestIsEmpty in abtreece/confd pkg/template/utility_funcs_test.go, through
    // templates.
    #[test]
    fn default_and_empty() {
        assert_eq!(render(r#"{{default "default" "actual"}}"#), "actual");
        assert_eq!(render(r#"{{default "default" ""}}"#), "default");
        assert_eq!(render(r#"{{default "default" nil}}"#), "default");
        assert_eq!(render(r#"{{default 42 0}}"#), "42");
        assert_eq!(render(r#"{{default 42 7}}"#), "7");
        assert_eq!(render(r#"{{default true false}}"#), "true");
        // The pipeline form: the piped value is the last argument.
        assert_eq!(render(r#"{{"" | default "fallback"}}"#), "fallback");
        assert_eq!(
            render(r#"{{$m := dict "a" 1}}{{$m.missing | default "d"}}"#),
            "d"
        );
        let empties = [
            "nil",
            r#""""#,
            "0",
            "0.0",
            "false",
            "(list)",
            "(dict)",
            "(keys (dict))",
        ];
        for e in empties {
            assert_eq!(render(&format!("{{{{empty {e}}}}}")), "true", "{e}");
        }
        for e in [
            r#""hello""#,
            "42",
            "3.14",
            "true",
            "(list 1)",
            r#"(dict "k" "v")"#,
        ] {
            assert_eq!(render(&format!("{{{{empty {e}}}}}")), "false", "{e}");
        }
    }

    // TestTernary / TestCoalesce.
    #[test]
    fn ternary_and_coalesce() {
        assert_eq!(render(r#"{{ternary "yes" "no" true}}"#), "yes");
        assert_eq!(render(r#"{{ternary "yes" "no" false}}"#), "no");
        assert_eq!(render(r#"{{ternary 1 0 true}}"#), "1");
        assert_eq!(render(r#"{{true | ternary "yes" "no"}}"#), "yes");
        assert_eq!(render(r#"{{ternary nil "val" false}}"#), "val");
        assert!(render(r#"{{ternary "a" "b" "true"}}"#)
            .contains("wrong type for value; expected bool; got string"));
        assert_eq!(render(r#"{{coalesce "" "hello" "world"}}"#), "hello");
        assert_eq!(render(r#"{{coalesce nil nil "found"}}"#), "found");
        // All empty: nil, which an action prints as <no value>.
        assert_eq!(render(r#"{{coalesce "" nil 0}}"#), "<no value>");
        assert_eq!(render(r#"{{coalesce}}"#), "<no value>");
    }

    // TestToJson / TestToPrettyJson / TestFromJson.
    #[test]
    fn json_functions() {
        assert_eq!(render(r#"{{toJson "hello"}}"#), r#""hello""#);
        assert_eq!(render(r#"{{toJson 42}}"#), "42");
        assert_eq!(
            render(r#"{{toJson (dict "b" 2 "a" "b")}}"#),
            r#"{"a":"b","b":2}"#
        );
        assert_eq!(render(r#"{{toJson (list 1 2 3)}}"#), "[1,2,3]");
        assert_eq!(render(r#"{{toJson nil}}"#), "null");
        assert_eq!(render(r#"{{toJson true}}"#), "true");
        assert_eq!(render(r#"{{toJson (seq 1 3)}}"#), "[1,2,3]");
        // encoding/json escapes HTML characters.
        assert_eq!(render(r#"{{toJson "<a&b>"}}"#), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(
            render(r#"{{toPrettyJson (dict "key" "value")}}"#),
            "{\n  \"key\": \"value\"\n}"
        );
        assert_eq!(render(r#"{{toPrettyJson nil}}"#), "null");
        // A time.Time marshals as RFC 3339 with nanoseconds (Go's Time.MarshalJSON).
        let t = r#"{{$t := datetime.UTC}}{{toJson $t}} {{printf "%q" ($t.Format "2006-01-02T15:04:05.999999999Z07:00")}}"#;
        let out = render(t);
        let (json, want) = out.split_once(' ').unwrap();
        assert_eq!(json, want);
        assert!(json.starts_with("\"20") && json.ends_with("Z\""), "{json}");
        assert_eq!(render(r#"{{(fromJson `{"key":"value"}`).key}}"#), "value");
        assert_eq!(render(r#"{{fromJson "[1,2,3]"}}"#), "[1 2 3]");
        assert_eq!(render(r#"{{fromJson `"hello"`}}"#), "hello");
        assert_eq!(render(r#"{{fromJson "true"}}"#), "true");
        assert_eq!(render(r#"{{fromJson "null"}}"#), "<no value>");
        // Numbers are float64, as json.Unmarshal into interface{} makes them.
        assert_eq!(render(r#"{{printf "%T" (fromJson "42")}}"#), "float64");
        assert!(render(r#"{{fromJson "{invalid}"}}"#)
            .contains("invalid character 'i' looking for beginning of object key string"));
        assert!(render(r#"{{fromJson ""}}"#).contains("unexpected end of JSON input"));
        // TestJsonRoundTrip.
        assert_eq!(
            render(r#"{{toJson (fromJson `{"name":"test","count":42,"active":true}`)}}"#),
            r#"{"active":true,"count":42,"name":"test"}"#
        );
    }

    // TestList and the fork's `[]interface {}` / map types as Go's fmt prints them.
    #[test]
    fn dict_and_list_values() {
        assert_eq!(render(r#"{{list "a" 1 true}}"#), "[a 1 true]");
        assert_eq!(render(r#"{{list nil nil}}"#), "[<nil> <nil>]");
        assert_eq!(render(r#"{{list}}"#), "[]");
        assert_eq!(render(r#"{{printf "%T" (list 1)}}"#), "[]interface {}");
        assert_eq!(render(r#"{{len (list 1 2)}}"#), "2");
        assert_eq!(render(r#"{{index (list "a" "b") 1}}"#), "b");
        assert_eq!(render(r#"{{dict "b" 2 "a" 1}}"#), "map[a:1 b:2]");
        assert_eq!(
            render(r#"{{printf "%T" (dict)}}"#),
            "map[string]interface {}"
        );
        assert!(render(r#"{{dict "a"}}"#).contains("error calling dict: invalid map call"));
        assert!(render(r#"{{dict 1 2}}"#).contains("map keys must be strings"));
    }

    // TestHasKey / TestKeys / TestValues.
    #[test]
    fn map_functions() {
        assert_eq!(render(r#"{{hasKey (dict "a" 1 "b" nil) "a"}}"#), "true");
        assert_eq!(render(r#"{{hasKey (dict "a" 1 "b" nil) "b"}}"#), "true");
        assert_eq!(render(r#"{{hasKey (dict "a" 1) "c"}}"#), "false");
        assert_eq!(render(r#"{{keys (dict "c" 3 "a" 1 "b" 2)}}"#), "[a b c]");
        assert_eq!(render(r#"{{printf "%T" (keys (dict))}}"#), "[]string");
        assert_eq!(render(r#"{{keys (dict)}}"#), "[]");
        assert_eq!(render(r#"{{values (dict "c" 3 "a" 1 "b" 2)}}"#), "[1 2 3]");
        assert_eq!(render(r#"{{len (values (dict))}}"#), "0");
        assert_eq!(
            render(r#"{{range $k, $v := fromJson `{"y":2,"x":1}`}}{{$k}}={{$v}};{{end}}"#),
            "x=1;y=2;"
        );
        assert!(render(r#"{{hasKey (list 1) "a"}}"#).contains(
            "wrong type for value; expected map[string]interface {}; got []interface {}"
        ));
    }

    // TestAppendList / TestPluck.
    #[test]
    fn append_and_pluck() {
        assert_eq!(render(r#"{{append (list "a" "b") "c"}}"#), "[a b c]");
        assert_eq!(render(r#"{{append (list) "first"}}"#), "[first]");
        assert_eq!(render(r#"{{append (list "a") nil}}"#), "[a <nil>]");
        // append returns a new slice; the variable keeps its items.
        assert_eq!(
            render(r#"{{$l := list 1}}{{$m := append $l 2}}{{$l}} {{$m}}"#),
            "[1] [1 2]"
        );
        // append takes a []interface {}: split's []string is refused, as in Go.
        assert!(render(r#"{{append (split "a,b" ",") "c"}}"#)
            .contains("wrong type for value; expected []interface {}; got []string"));
        let maps = r#"(dict "name" "Alice" "age" 30) (dict "name" "Bob") (dict "age" 25)"#;
        assert_eq!(
            render(&format!("{{{{pluck \"name\" {maps}}}}}")),
            "[Alice Bob]"
        );
        assert_eq!(render(&format!("{{{{pluck \"email\" {maps}}}}}")), "[]");
        assert_eq!(render(r#"{{pluck "name"}}"#), "[]");
    }

    // TestSha256sum.
    #[test]
    fn sha256sum() {
        assert_eq!(
            render(r#"{{sha256sum "hello"}}"#),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            render(r#"{{sha256sum ""}}"#),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            render(r#"{{sha256sum "hello world"}}"#),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }
}
