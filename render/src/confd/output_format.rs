//! abtreece/confd's per-resource `output_format`: the rendered bytes must parse as JSON, YAML
//! or TOML before they may replace the destination (the fork's `pkg/util/format.go`).

use std::fmt;

use discovery_core::{Error, Result};

/// A format the rendered output is checked against.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `json`: one JSON value (Go's `json.Unmarshal` into `interface{}`).
    Json,
    /// `yaml` (or the fork's alias `yml`): every document of the stream parses.
    Yaml,
    /// `toml`: a TOML document.
    Toml,
}

impl OutputFormat {
    /// The format named `name` as a resource writes it (`json`, `yaml`, `yml`, `toml`). The
    /// fork's `xml` is refused by name (no XML parser here); anything else is unknown. The
    /// error text lists what is accepted.
    pub fn parse(name: &str) -> std::result::Result<OutputFormat, String> {
        match name {
            "json" => Ok(OutputFormat::Json),
            "yaml" | "yml" => Ok(OutputFormat::Yaml),
            "toml" => Ok(OutputFormat::Toml),
            "xml" => Err(
                "output format \"xml\" is not supported by this confd (supported: json, yaml, yml, toml)"
                    .into(),
            ),
            other => Err(format!(
                "unknown output format: {other:?} (supported: json, yaml, yml, toml)"
            )),
        }
    }

    /// Checks that `text` parses as this format. The error is `<resource>:<line>:<col>: output
    /// format validation failed (<format>): invalid <FORMAT>: <parser's message>`, the
    /// position 1-based and in the rendered output.
    pub fn validate(self, resource: &str, text: &str) -> Result<()> {
        let failed = |line: usize, column: usize, message: String| Error::Template {
            file: resource.to_owned(),
            line,
            column,
            key: None,
            message: format!("output format validation failed ({self}): {message}"),
        };
        match self {
            OutputFormat::Json => serde_json::from_str::<serde_json::Value>(text)
                .map(drop)
                .map_err(|e| {
                    let msg = strip_position(&e.to_string());
                    failed(e.line(), e.column(), format!("invalid JSON: {msg}"))
                }),
            OutputFormat::Yaml => {
                use serde::Deserialize;
                for doc in yaml_serde::Deserializer::from_str(text) {
                    if let Err(e) = yaml_serde::Value::deserialize(doc) {
                        let (line, column) = e
                            .location()
                            .map(|l| (l.line(), l.column()))
                            .unwrap_or((0, 0));
                        let msg = strip_position(&e.to_string());
                        return Err(failed(line, column, format!("invalid YAML: {msg}")));
                    }
                }
                Ok(())
            }
            OutputFormat::Toml => text.parse::<toml::Table>().map(drop).map_err(|e| {
                let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
                failed(
                    line,
                    column,
                    format!(
                        "invalid TOML: {}",
                        e.message().trim_end().replace('\n', "; ")
                    ),
                )
            }),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Toml => "toml",
        })
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The parser's message without its own ` at line L column C` (the error carries the position).
fn strip_position(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_owned();
    };
    let rest = &msg[i + " at line ".len()..];
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = digits(rest);
    match rest[n..].strip_prefix(" column ") {
        Some(col) if n > 0 => {
            let m = digits(col);
            format!("{}{}", &msg[..i], &col[m..])
        }
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: &str, text: &str) -> std::result::Result<(), String> {
        OutputFormat::parse(format)?
            .validate("app.toml", text)
            .map_err(|e| e.to_string())
    }

    /// The fork's `pkg/util/format_test.go` cases (`TestValidateFormat`, `TestValidateJSON`).
    #[test]
    fn the_forks_valid_and_invalid_documents() {
        assert_eq!(check("json", r#"{"key": "value", "number": 123}"#), Ok(()));
        assert_eq!(check("json", r#"[1, 2, 3, "four"]"#), Ok(()));
        assert_eq!(check("json", "{}"), Ok(()));
        for scalar in [r#""hello""#, "42", "null", "true"] {
            assert_eq!(check("json", scalar), Ok(()), "{scalar}");
        }
        assert!(check("json", r#"{"key": "value",}"#).is_err());
        assert_eq!(
            check(
                "yaml",
                "\nkey: value\nnested:\n  foo: bar\nlist:\n  - item1\n  - item2\n"
            ),
            Ok(())
        );
        assert_eq!(check("yml", "key: value"), Ok(()));
        assert!(check("yaml", "key: value\\n  bad indent: here").is_err());
        assert_eq!(
            check(
                "toml",
                "\n[section]\nkey = \"value\"\nnumber = 42\n\n[section.nested]\nfoo = \"bar\"\n"
            ),
            Ok(())
        );
        assert!(check("toml", "[section]\\nkey = ").is_err());
        assert!(check("unknown", "x")
            .unwrap_err()
            .contains("unknown output format"));
        assert!(check("xml", "<a/>")
            .unwrap_err()
            .contains("\"xml\" is not supported"));
    }

    #[test]
    fn errors_name_the_resource_the_format_and_the_position() {
        assert_eq!(
            check("json", "{\n  \"a\": 1,\n}\n").unwrap_err(),
            "app.toml:3:1: output format validation failed (json): invalid JSON: trailing comma"
        );
        assert_eq!(
            check("toml", "a = 1\nb = \n").unwrap_err(),
            "app.toml:2:5: output format validation failed (toml): invalid TOML: invalid string; expected `\"`, `'`"
        );
        let yaml = check("yaml", "a: 1\nb: [1, 2\n").unwrap_err();
        assert!(
            yaml.starts_with(
                "app.toml:3:1: output format validation failed (yaml): invalid YAML: "
            ),
            "{yaml}"
        );
    }

    /// Every document of a YAML stream is checked (Go's `yaml.Unmarshal` reads only the first).
    #[test]
    fn every_yaml_document_is_checked() {
        assert_eq!(check("yaml", "a: 1\n---\nb: 2\n"), Ok(()));
        let e = check("yaml", "a: 1\n---\nb: [\n").unwrap_err();
        assert!(e.contains("invalid YAML"), "{e}");
        assert_eq!(check("yaml", ""), Ok(()));
    }
}
