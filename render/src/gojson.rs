//! Go's `encoding/json` as the function sets see it: decoding into `interface{}` (numbers are
//! float64) with Go's error texts, and `json.Marshal`/`MarshalIndent` output (sorted keys,
//! HTML-safe escaping, Go's float notation).

use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};

use crate::gostr::json_float;
use crate::value::{
    as_go_list, as_go_object, go_list, go_map, map_entries, seq_items, ListKind, MapKind,
};

const EOF_MSG: &str = "unexpected end of JSON input";

fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        _ => {
            let q = crate::gostr::go_quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// Nesting deeper than this is rejected (serde_json, which builds the value, stops at 128).
const MAX_DEPTH: usize = 128;

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Result<u8, String> {
        self.b
            .get(self.i)
            .copied()
            .ok_or_else(|| EOF_MSG.to_owned())
    }

    fn bad(&self, c: u8, ctx: &str) -> String {
        format!("invalid character {} {ctx}", quote_char(c))
    }

    fn value(&mut self) -> Result<(), String> {
        self.ws();
        let c = self.peek()?;
        if matches!(c, b'{' | b'[') {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err("exceeded max depth".to_owned());
            }
        }
        let r = self.composite_or_scalar(c);
        if matches!(c, b'{' | b'[') {
            self.depth -= 1;
        }
        r
    }

    fn composite_or_scalar(&mut self, c: u8) -> Result<(), String> {
        match c {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    let c = self.peek()?;
                    if c != b'"' {
                        return Err(self.bad(c, "looking for beginning of object key string"));
                    }
                    self.string()?;
                    self.ws();
                    let c = self.peek()?;
                    if c != b':' {
                        return Err(self.bad(c, "after object key"));
                    }
                    self.i += 1;
                    self.value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b'}' => {
                            self.i += 1;
                            return Ok(());
                        }
                        c => return Err(self.bad(c, "after object key:value pair")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Ok(());
                        }
                        c => return Err(self.bad(c, "after array element")),
                    }
                }
            }
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(self.bad(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        for (k, expect) in word.bytes().enumerate() {
            let c = self.peek()?;
            if c != expect {
                return Err(self.bad(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expect)),
                ));
            }
            let _ = k;
            self.i += 1;
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), String> {
        self.i += 1;
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                let h = self.peek()?;
                                if !h.is_ascii_hexdigit() {
                                    return Err(self.bad(h, "in \\u hexadecimal character escape"));
                                }
                                self.i += 1;
                            }
                        }
                        e => return Err(self.bad(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(self.bad(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn digits(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
    }

    fn number(&mut self) -> Result<(), String> {
        if self.peek()? == b'-' {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.bad(c, "in numeric literal"));
            }
        }
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.bad(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.bad(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }
}

/// Go's `json.Valid` with the error text `json.Unmarshal` would report.
fn check_valid(s: &str) -> Result<(), String> {
    let mut sc = Scanner {
        b: s.as_bytes(),
        i: 0,
        depth: 0,
    };
    sc.value()?;
    sc.ws();
    match sc.b.get(sc.i) {
        Some(&c) => Err(sc.bad(c, "after top-level value")),
        None => Ok(()),
    }
}

fn convert(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(b),
        serde_json::Value::Number(n) => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(a) => {
            go_list(ListKind::Interface, a.into_iter().map(convert).collect())
        }
        serde_json::Value::Object(o) => go_map(
            MapKind::Interface,
            o.into_iter().map(|(k, v)| (k, convert(v))).collect(),
        ),
    }
}

fn parse(s: &str) -> Result<serde_json::Value, String> {
    check_valid(s)?;
    serde_json::from_str(s).map_err(|e| e.to_string())
}

/// `json.Unmarshal` into `interface{}`.
pub(crate) fn decode_any(s: &str) -> Result<Value, String> {
    parse(s).map(convert)
}

fn kind_word(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

/// `json.Unmarshal` into `map[string]interface{}`.
pub(crate) fn decode_object(s: &str) -> Result<Value, String> {
    match parse(s)? {
        v @ serde_json::Value::Object(_) => Ok(convert(v)),
        serde_json::Value::Null => Ok(go_map(MapKind::Interface, BTreeMap::new())),
        v => Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            kind_word(&v)
        )),
    }
}

/// `json.Unmarshal` into `[]interface{}`.
pub(crate) fn decode_array(s: &str) -> Result<Value, String> {
    match parse(s)? {
        v @ serde_json::Value::Array(_) => Ok(convert(v)),
        serde_json::Value::Null => Ok(go_list(ListKind::Interface, Vec::new())),
        v => Err(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            kind_word(&v)
        )),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Field names written by `toJSON` for the Go structs the dialects produce.
fn struct_fields(type_name: &str) -> &'static [&'static str] {
    match type_name.trim_start_matches('*') {
        "memkv.KVPair" => &["Key", "Value"],
        "dependency.KeyPair" => &[
            "Path",
            "Key",
            "Value",
            "Exists",
            "CreateIndex",
            "ModifyIndex",
            "LockIndex",
            "Flags",
            "Session",
        ],
        "dependency.HealthService" => &[
            "Node",
            "NodeID",
            "NodeAddress",
            "NodeTaggedAddresses",
            "NodeMeta",
            "ServiceMeta",
            "Address",
            "ID",
            "Name",
            "Tags",
            "Checks",
            "Status",
            "Port",
        ],
        "dependency.CatalogSnippet" => &["Name", "Tags"],
        _ => &[],
    }
}

/// `json.Marshal` (indent empty) or `json.MarshalIndent(v, "", indent)`.
pub(crate) fn encode(v: &Value, indent: &str) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, v, indent, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: &str, depth: usize) {
    if !indent.is_empty() {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write_entries(
    out: &mut String,
    entries: &[(String, Value)],
    indent: &str,
    depth: usize,
) -> Result<(), String> {
    out.push('{');
    for (i, (k, val)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, depth + 1);
        write_string(out, k);
        out.push(':');
        if !indent.is_empty() {
            out.push(' ');
        }
        write_json(out, val, indent, depth + 1)?;
    }
    if !entries.is_empty() {
        newline(out, indent, depth);
    }
    out.push('}');
    Ok(())
}

fn write_json(out: &mut String, v: &Value, indent: &str, depth: usize) -> Result<(), String> {
    if let Some(s) = v.as_str() {
        write_string(out, s);
        return Ok(());
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => {
            let f = crate::value::as_f64(v).unwrap_or(f64::NAN);
            if !f.is_finite() {
                return Err(format!(
                    "json: unsupported value: {}",
                    crate::value::format_value(v)
                ));
            }
            out.push_str(&json_float(f));
        }
        _ => {
            if let Some(o) = as_go_object(v) {
                // time.Time marshals as its RFC 3339 text with nanoseconds (MarshalJSON).
                if o.type_name() == "time.Time" {
                    let layout = Value::from("2006-01-02T15:04:05.999999999Z07:00");
                    if let Some(Ok(text)) = o.method("Format", &[layout]) {
                        write_string(out, text.as_str().unwrap_or_default());
                        return Ok(());
                    }
                }
                let entries: Vec<(String, Value)> = struct_fields(o.type_name())
                    .iter()
                    .filter_map(|f| o.field(f).map(|val| ((*f).to_owned(), val)))
                    .collect();
                return write_entries(out, &entries, indent, depth);
            }
            if let Some(items) = seq_items(v) {
                if items.is_empty() && as_go_list(v).is_none() && v.kind() != ValueKind::Seq {
                    out.push_str("null");
                    return Ok(());
                }
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent, depth + 1);
                    write_json(out, it, indent, depth + 1)?;
                }
                if !items.is_empty() {
                    newline(out, indent, depth);
                }
                out.push(']');
            } else if let Some(entries) = map_entries(v) {
                write_entries(out, &entries, indent, depth)?;
            } else {
                write_string(out, &v.to_string());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_error_texts() {
        assert_eq!(
            decode_any("{bad").unwrap_err(),
            "invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            decode_any("not json").unwrap_err(),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(decode_any("[1,").unwrap_err(), EOF_MSG);
        let deep = "[".repeat(100_000);
        assert_eq!(decode_any(&deep).unwrap_err(), "exceeded max depth");
        assert!(decode_object("[1,2]")
            .unwrap_err()
            .contains("cannot unmarshal array into Go value of type map[string]interface {}"));
    }

    #[test]
    fn marshal_like_go() {
        let v = decode_any(r#"{"z":1,"a":"<b>&","m":[true,null,2.50],"n":{"y":1e21}}"#).unwrap();
        assert_eq!(
            encode(&v, "").unwrap(),
            r#"{"a":"\u003cb\u003e\u0026","m":[true,null,2.5],"n":{"y":1e+21},"z":1}"#
        );
        let v = decode_any(r#"{"b":[1,2],"e":{},"f":[]}"#).unwrap();
        assert_eq!(
            encode(&v, "  ").unwrap(),
            "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"e\": {},\n  \"f\": []\n}"
        );
    }
}
