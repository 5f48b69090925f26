//! `-config` files: HCL or JSON, files or directories (lexical order), merged into a
//! [`CtConfig`] (right-most wins; templates accumulate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{CtConfig, TemplateSpec, Wait};
use crate::goflags::parse_duration;

impl CtConfig {
    /// Merges one parsed config file (right-most wins; templates accumulate).
    pub(super) fn merge_file(&mut self, v: &Value) -> Result<(), String> {
        let obj = v.as_object().ok_or("the configuration is not an object")?;
        for block in blocks(obj.get("consul")) {
            if let Some(a) = str_field(block, "address")? {
                self.consul_addr = Some(a);
            }
            if let Some(t) = str_field(block, "token")? {
                self.token = Some(t);
            }
        }
        if let Some(w) = obj.get("wait") {
            self.wait = Some(wait_value(w)?);
        }
        if let Some(w) = obj.get("block_query_wait") {
            self.block_query_wait = Some(duration_value(w, "block_query_wait")?);
        }
        if let Some(l) = str_field(obj, "log_level")? {
            self.log_level = l;
        }
        if let Some(b) = obj.get("once").and_then(Value::as_bool) {
            self.once = b;
        }
        for t in blocks(obj.get("template")) {
            self.templates.push(template_stanza(t)?);
        }
        Ok(())
    }
}

/// The files of `-config path`: the file itself, or a directory's files in lexical order.
pub(super) fn config_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("config {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a config file: JSON when it parses as JSON (or ends in `.json`), else HCL.
pub(super) fn read_config(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(e) if is_json => Err(format!("config {}: {e}", path.display())),
        Err(_) => {
            hcl::from_str::<Value>(&text).map_err(|e| format!("config {}: {e}", path.display()))
        }
    }
}

/// A block that may appear once (an object) or several times (a list of objects).
fn blocks(v: Option<&Value>) -> Vec<&Map<String, Value>> {
    match v {
        Some(Value::Object(o)) => vec![o],
        Some(Value::Array(a)) => a.iter().flat_map(|x| blocks(Some(x))).collect(),
        _ => Vec::new(),
    }
}

fn str_field(o: &Map<String, Value>, k: &str) -> Result<Option<String>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{k}: expected a string, got {other}")),
    }
}

fn bool_field(o: &Map<String, Value>, k: &str) -> Result<Option<bool>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{k}: expected a bool")),
        Some(other) => Err(format!("{k}: expected a bool, got {other}")),
    }
}

fn duration_value(v: &Value, k: &str) -> Result<Duration, String> {
    match v {
        Value::String(s) => parse_duration(s).ok_or_else(|| format!("{k}: invalid duration {s:?}")),
        // A bare number is nanoseconds in consul-template's JSON/HCL (Go's time.Duration).
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("{k}: invalid duration {n}")),
        other => Err(format!("{k}: expected a duration, got {other}")),
    }
}

/// `wait = "min:max"` or `wait { min = "…" max = "…" }`.
fn wait_value(v: &Value) -> Result<Wait, String> {
    match v {
        Value::String(s) => Wait::parse(s),
        Value::Object(o) => {
            let min = o
                .get("min")
                .map(|m| duration_value(m, "wait.min"))
                .transpose()?
                .unwrap_or_default();
            let max = o
                .get("max")
                .map(|m| duration_value(m, "wait.max"))
                .transpose()?
                .unwrap_or(min * 4);
            if max < min {
                return Err("wait: max must be at least min".into());
            }
            Ok(Wait { min, max })
        }
        Value::Array(a) if a.len() == 1 => wait_value(&a[0]),
        other => Err(format!(
            "wait: expected \"min:max\" or a block, got {other}"
        )),
    }
}

/// A command as one `sh -c` string: a list is shell-quoted (consul-template execs it directly).
fn command_value(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Array(items) => {
            let words = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or("command: expected strings")
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match words.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                many => Some(
                    many.iter()
                        .map(|w| shell_quote(w))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            })
        }
        other => Err(format!("command: expected a string or a list, got {other}")),
    }
}

fn shell_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

fn template_stanza(o: &Map<String, Value>) -> Result<TemplateSpec, String> {
    let source = str_field(o, "source")?;
    let Some(dest) = str_field(o, "destination")?.filter(|d| !d.is_empty()) else {
        return Err(match &source {
            Some(s) => format!("template {{ source = {s:?} }}: missing destination"),
            None => "template: missing destination".into(),
        });
    };
    let mut t = TemplateSpec::new(PathBuf::from(dest));
    t.source = source.map(PathBuf::from);
    t.contents = str_field(o, "contents")?;
    match (&t.source, &t.contents) {
        (Some(_), Some(_)) => {
            return Err("template: source and contents are mutually exclusive".into())
        }
        (None, None) => return Err("template: needs source or contents".into()),
        _ => {}
    }
    if let Some(c) = o.get("command") {
        t.command = command_value(c)?;
    }
    if let Some(d) = o.get("command_timeout") {
        t.command_timeout = duration_value(d, "command_timeout")?;
    }
    t.perms = match o.get("perms") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .map_err(|_| format!("perms: invalid octal mode {s:?}"))?,
        ),
        // A number is read as the octal digits written (perms = 0644 in HCL parses as 644).
        Some(Value::Number(n)) => Some(
            u32::from_str_radix(&n.to_string(), 8)
                .map_err(|_| format!("perms: invalid mode {n}"))?,
        ),
        Some(other) => return Err(format!("perms: expected a mode, got {other}")),
    };
    t.backup = bool_field(o, "backup")?.unwrap_or(false);
    t.wait = o.get("wait").map(wait_value).transpose()?;
    t.left_delimiter = str_field(o, "left_delimiter")?;
    t.right_delimiter = str_field(o, "right_delimiter")?;
    t.error_on_missing_key = bool_field(o, "error_on_missing_key")?.unwrap_or(false);
    t.create_dest_dirs = bool_field(o, "create_dest_dirs")?.unwrap_or(true);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hcl_and_json_files_merge_and_cli_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.hcl"),
            r#"
consul { address = "10.0.0.1:8500" }
block_query_wait = "5m"
wait {
  min = "1s"
  max = "3s"
}
template {
  source = "a.tmpl"
  destination = "a.out"
  command = ["systemctl", "reload", "my app"]
  perms = 0600
  backup = true
  wait = "5s:10s"
  left_delimiter = "[["
  right_delimiter = "]]"
  error_on_missing_key = true
  create_dest_dirs = false
  command_timeout = "5s"
}
template {
  contents = "{{key \"x\"}}"
  destination = "b.out"
}
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"consul": {"address": "10.0.0.2:8500", "token": "t"}, "template": [{"source": "c.tmpl", "destination": "c.out", "command": "echo hi"}]}"#,
        )
        .unwrap();
        let cfg = CtConfig::from_args(args(&["-config", dir.path().to_str().unwrap()])).unwrap();
        assert_eq!(cfg.consul_addr.as_deref(), Some("10.0.0.2:8500"));
        assert_eq!(cfg.token.as_deref(), Some("t"));
        assert!(
            !format!("{cfg:?}").contains("\"t\""),
            "token leaked in Debug"
        );
        assert_eq!(cfg.wait.map(|w| w.max), Some(Duration::from_secs(3)));
        assert_eq!(cfg.block_query_wait, Some(Duration::from_secs(300)));
        let names: Vec<_> = cfg.templates.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["a.out", "b.out", "c.out"]);
        let a = &cfg.templates[0];
        assert_eq!(a.command.as_deref(), Some("systemctl reload 'my app'"));
        assert_eq!(a.perms, Some(0o600));
        assert!(a.backup && a.error_on_missing_key && !a.create_dest_dirs);
        assert_eq!(a.wait.map(|w| w.min), Some(Duration::from_secs(5)));
        assert_eq!(a.left_delimiter.as_deref(), Some("[["));
        assert_eq!(a.command_timeout, Duration::from_secs(5));
        assert!(cfg.templates[1].contents.is_some());
        let cli = CtConfig::from_args(args(&[
            "-config",
            dir.path().to_str().unwrap(),
            "-consul-addr",
            "127.0.0.1:1",
        ]))
        .unwrap();
        assert_eq!(cli.consul_addr.as_deref(), Some("127.0.0.1:1"));
    }
}
