//! consul-template's `-config` files: HCL or JSON, files or directories (lexical order), merged
//! into a [`FileConfig`] (right-most wins; templates accumulate). The spellings consul-template
//! 0.18 still accepted (top-level `token`, `retry`, `auth`, `ssl`) are moved under `consul {}`
//! with a warning. `vault {}` and `nomad {}` are refused unless they only set empty or default
//! values (this consul-template has neither Vault nor Nomad);
//! a key consul-template does not know is an error naming it (as its decoder's `ErrorUnused`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use discovery_core::{Error, Result};
use serde_json::{Map, Value};

use super::config_consul::ConsulFile;
use super::dedup_config::DedupConfig;
use super::exec::{signal_of, ExecConfig, ExecEnv};
use super::signal::Signal;
use super::spec::TemplateSpec;
use crate::quiesce::Wait;

/// What consul-template configuration files set. `Debug` redacts the token.
///
/// ```
/// use discovery_render::consul_template::FileConfig;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ct.hcl");
/// std::fs::write(&path, "consul { address = \"127.0.0.1:8500\" }\n\
///     template {\n  source = \"in.tmpl\"\n  destination = \"out.conf\"\n}\n")?;
/// let mut cfg = FileConfig::default();
/// cfg.merge_path(&path)?;
/// assert_eq!(cfg.consul.address.as_deref(), Some("127.0.0.1:8500"));
/// assert_eq!(cfg.templates[0].name(), "out.conf");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileConfig {
    /// `consul {}` (the deprecated top-level `token`, `auth`, `ssl`, `retry` moved in).
    pub consul: ConsulFile,
    /// `max_stale`: how stale a read may be (`?stale` when more than zero).
    pub max_stale: Option<Duration>,
    /// `default_delimiters { left }`.
    pub default_left_delimiter: Option<String>,
    /// `default_delimiters { right }`.
    pub default_right_delimiter: Option<String>,
    /// `template_error_fatal`: the default of every template's `error_fatal`.
    pub template_error_fatal: Option<bool>,
    /// `err_on_failed_lookup`.
    pub err_on_failed_lookup: Option<bool>,
    /// `log_file {}`.
    pub log_file: LogFileConfig,
    /// `syslog {}`.
    pub syslog: SyslogConfig,
    /// The `template {}` stanzas, in file order.
    pub templates: Vec<TemplateSpec>,
    /// `wait`: the global quiescence.
    pub wait: Option<Wait>,
    /// `block_query_wait`.
    pub block_query_wait: Option<Duration>,
    /// `log_level`.
    pub log_level: Option<String>,
    /// `once`.
    pub once: Option<bool>,
    /// `exec {}`, merged across files.
    pub exec: ExecConfig,
    /// `kill_signal`: the signal consul-template stops on.
    pub kill_signal: Option<Signal>,
    /// `reload_signal`: the signal consul-template reloads its configuration on.
    pub reload_signal: Option<Signal>,
    /// `pid_file`.
    pub pid_file: Option<PathBuf>,
    /// `deduplicate {}`, merged across files.
    pub deduplicate: DedupConfig,
    /// One warning per deprecated spelling merged (`ct.hcl: top-level token is deprecated; use
    /// consul { token = "…" }`), for the caller to log.
    pub deprecations: Vec<String>,
}

impl std::fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfig")
            .field("consul", &self.consul)
            .field("max_stale", &self.max_stale)
            .field("default_left_delimiter", &self.default_left_delimiter)
            .field("default_right_delimiter", &self.default_right_delimiter)
            .field("template_error_fatal", &self.template_error_fatal)
            .field("err_on_failed_lookup", &self.err_on_failed_lookup)
            .field("log_file", &self.log_file)
            .field("syslog", &self.syslog)
            .field("templates", &self.templates)
            .field("wait", &self.wait)
            .field("block_query_wait", &self.block_query_wait)
            .field("log_level", &self.log_level)
            .field("once", &self.once)
            .field("exec", &self.exec)
            .field("kill_signal", &self.kill_signal)
            .field("reload_signal", &self.reload_signal)
            .field("pid_file", &self.pid_file)
            .field("deduplicate", &self.deduplicate)
            .field("deprecations", &self.deprecations)
            .finish()
    }
}

impl FileConfig {
    /// Merges `path`: a file, or a directory's files in lexical order. An error is
    /// [`Error::InvalidConfig`] whose key is the file.
    pub fn merge_path(&mut self, path: &Path) -> Result<()> {
        let bad = |p: &Path, e: String| Error::invalid_config(p.display().to_string(), e);
        for file in config_files(path).map_err(|e| bad(path, e))? {
            let value = read_config(&file).map_err(|e| bad(&file, e))?;
            self.merge_value(&value, &file.display().to_string())
                .map_err(|e| bad(&file, e))?;
        }
        Ok(())
    }

    /// Merges one parsed config file (right-most wins; templates accumulate); `file` names it in
    /// deprecation warnings.
    fn merge_value(&mut self, v: &Value, file: &str) -> std::result::Result<(), String> {
        let obj = v.as_object().ok_or("the configuration is not an object")?;
        let obj = &undeprecate(obj, file, &mut self.deprecations)?;
        check_keys(obj, "the configuration", TOP_LEVEL)?;
        super::config_unsupported::refuse(obj)?;
        for block in blocks(obj.get("consul")) {
            self.consul.merge(ConsulFile::from_stanza(block)?);
        }
        if let Some(d) = duration_field(obj, "max_stale")? {
            self.max_stale = Some(d);
        }
        for d in blocks(obj.get("default_delimiters")) {
            check_keys(d, "default_delimiters", &["left", "right"])?;
            if let Some(l) = str_field(d, "left")? {
                self.default_left_delimiter = Some(l);
            }
            if let Some(r) = str_field(d, "right")? {
                self.default_right_delimiter = Some(r);
            }
        }
        if let Some(b) = bool_field(obj, "template_error_fatal")? {
            self.template_error_fatal = Some(b);
        }
        if let Some(b) = bool_field(obj, "err_on_failed_lookup")? {
            self.err_on_failed_lookup = Some(b);
        }
        for l in blocks(obj.get("log_file")) {
            self.log_file.merge_stanza(l)?;
        }
        for l in blocks(obj.get("syslog")) {
            self.syslog.merge_stanza(l)?;
        }
        if let Some(w) = obj.get("wait") {
            self.wait = Some(wait_value(w)?);
        }
        if let Some(w) = obj.get("block_query_wait") {
            self.block_query_wait = Some(duration_value(w, "block_query_wait")?);
        }
        if let Some(l) = str_field(obj, "log_level")? {
            self.log_level = Some(l);
        }
        if let Some(b) = bool_field(obj, "once")? {
            self.once = Some(b);
        }
        for t in blocks(obj.get("template")) {
            self.templates
                .push(template_stanza(t, &mut self.deprecations)?);
        }
        for e in blocks(obj.get("exec")) {
            let exec = ExecConfig::from_stanza(e, &mut self.deprecations)?;
            self.exec.merge(exec);
        }
        if let Some(s) = signal_of(obj, "kill_signal")? {
            self.kill_signal = Some(s);
        }
        if let Some(s) = signal_of(obj, "reload_signal")? {
            self.reload_signal = Some(s);
        }
        if let Some(p) = str_field(obj, "pid_file")? {
            self.pid_file = (!p.is_empty()).then(|| PathBuf::from(p));
        }
        if obj
            .get("deduplicate")
            .is_some_and(|v| !v.is_object() && !v.is_array())
        {
            return Err("deduplicate: expected a block".into());
        }
        for d in blocks(obj.get("deduplicate")) {
            self.deduplicate.merge(DedupConfig::from_stanza(d)?);
        }
        Ok(())
    }
}

/// The top-level keys consul-template knows (after the deprecated ones moved).
const TOP_LEVEL: &[&str] = &[
    "block_query_wait",
    "consul",
    "deduplicate",
    "default_delimiters",
    "err_on_failed_lookup",
    "exec",
    "kill_signal",
    "log_file",
    "log_level",
    "max_stale",
    "nomad",
    "once",
    "pid_file",
    "reload_signal",
    "syslog",
    "template",
    "template_error_fatal",
    "vault",
    "wait",
];

/// `log_file {}` / `-log-file`, `-log-rotate-*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogFileConfig {
    /// `path`: the log file (a directory gets `consul-template.log` inside).
    pub path: Option<String>,
    /// `log_rotate_bytes`.
    pub rotate_bytes: Option<u64>,
    /// `log_rotate_duration` (default 24 h).
    pub rotate_duration: Option<Duration>,
    /// `log_rotate_max_files` (0 keeps every file).
    pub rotate_max_files: Option<i64>,
}

impl LogFileConfig {
    fn merge_stanza(&mut self, o: &Map<String, Value>) -> std::result::Result<(), String> {
        check_keys(
            o,
            "log_file",
            &[
                "path",
                "log_rotate_bytes",
                "log_rotate_duration",
                "log_rotate_max_files",
            ],
        )?;
        if let Some(p) = str_field(o, "path")? {
            self.path = Some(p);
        }
        if let Some(b) = int_field(o, "log_rotate_bytes")? {
            self.rotate_bytes = Some(b);
        }
        if let Some(d) = duration_field(o, "log_rotate_duration")? {
            self.rotate_duration = Some(d);
        }
        if let Some(n) = int_field(o, "log_rotate_max_files")? {
            self.rotate_max_files = Some(n);
        }
        Ok(())
    }
}

/// `syslog {}` / `-syslog*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyslogConfig {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `facility` (default `LOCAL0`).
    pub facility: Option<String>,
    /// `name` (default `consul-template`).
    pub name: Option<String>,
}

impl SyslogConfig {
    fn merge_stanza(&mut self, o: &Map<String, Value>) -> std::result::Result<(), String> {
        check_keys(o, "syslog", &["enabled", "facility", "name"])?;
        if let Some(b) = bool_field(o, "enabled")? {
            self.enabled = Some(b);
        }
        if let Some(f) = str_field(o, "facility")? {
            self.facility = Some(f);
        }
        if let Some(n) = str_field(o, "name")? {
            self.name = Some(n);
        }
        Ok(())
    }
}

/// An error naming the first key of `o` that is not in `known` (`what` names the stanza), as
/// consul-template's decoder refuses unused keys.
pub(crate) fn check_keys(
    o: &Map<String, Value>,
    what: &str,
    known: &[&str],
) -> std::result::Result<(), String> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: invalid key {k:?}")),
        None => Ok(()),
    }
}

/// A duration key (`"5s"`, or a number of nanoseconds), if set.
pub(crate) fn duration_field(
    o: &Map<String, Value>,
    k: &str,
) -> std::result::Result<Option<Duration>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => duration_value(v, k).map(Some),
    }
}

/// An integer key (a number or a string of digits), if set.
pub(crate) fn int_field<T: std::str::FromStr + TryFrom<i64>>(
    o: &Map<String, Value>,
    k: &str,
) -> std::result::Result<Option<T>, String> {
    let n = match o.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    n.and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("{k}: expected a whole number, got {}", o[k]))
}

/// Turns a deprecated key's value into its new form (`None`: not the deprecated form).
type Convert = fn(&Value) -> Option<Value>;

/// consul-template 0.18's deprecated keys, moved where 0.19 wants them (each with one warning):
/// top-level `auth {}`, `retry = "…"` (as `retry { backoff }`), `ssl {}` and `token` go under
/// `consul {}`. `vault { renew }` is refused, as Vault is.
fn undeprecate(
    obj: &Map<String, Value>,
    file: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<Map<String, Value>, String> {
    let mut obj = obj.clone();
    let moves: [(&str, &str, Convert); 4] = [
        ("auth", "consul { auth {} }", |v| {
            v.is_object().then(|| v.clone())
        }),
        ("retry", "consul { retry { backoff = \"…\" } }", |v| {
            v.as_str().map(|s| serde_json::json!({ "backoff": s }))
        }),
        ("ssl", "consul { ssl {} }", |v| {
            v.is_object().then(|| v.clone())
        }),
        ("token", "consul { token = \"…\" }", |v| {
            v.as_str().map(|s| Value::String(s.into()))
        }),
    ];
    for (key, new, convert) in moves {
        let Some(moved) = obj.get(key).and_then(convert) else {
            continue;
        };
        obj.remove(key);
        warnings.push(format!("{file}: top-level {key} is deprecated; use {new}"));
        let consul = obj
            .entry("consul")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Array(list) = consul {
            list.push(serde_json::json!({ key: moved }));
        } else if let Value::Object(c) = consul {
            c.insert(key.to_owned(), moved);
        }
    }
    Ok(obj)
}

/// The files of `-config path`: the file itself, or a directory's files in lexical order.
fn config_files(path: &Path) -> std::result::Result<Vec<PathBuf>, String> {
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
fn read_config(path: &Path) -> std::result::Result<Value, String> {
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
pub(crate) fn blocks(v: Option<&Value>) -> Vec<&Map<String, Value>> {
    match v {
        Some(Value::Object(o)) => vec![o],
        Some(Value::Array(a)) => a.iter().flat_map(|x| blocks(Some(x))).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn str_field(
    o: &Map<String, Value>,
    k: &str,
) -> std::result::Result<Option<String>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{k}: expected a string, got {other}")),
    }
}

pub(crate) fn bool_field(
    o: &Map<String, Value>,
    k: &str,
) -> std::result::Result<Option<bool>, String> {
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

pub(crate) fn duration_value(v: &Value, k: &str) -> std::result::Result<Duration, String> {
    match v {
        Value::String(s) => {
            crate::quiesce::parse_duration(s).ok_or_else(|| format!("{k}: invalid duration {s:?}"))
        }
        // A bare number is nanoseconds in consul-template's JSON/HCL (Go's time.Duration).
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("{k}: invalid duration {n}")),
        other => Err(format!("{k}: expected a duration, got {other}")),
    }
}

/// `wait = "min:max"` or `wait { min = "…" max = "…" }`.
fn wait_value(v: &Value) -> std::result::Result<Wait, String> {
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
fn command_value(v: &Value) -> std::result::Result<Option<String>, String> {
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
                .collect::<std::result::Result<Vec<_>, _>>()?;
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

/// The keys of `template {}`.
const TEMPLATE_KEYS: &[&str] = &[
    "backup",
    "command",
    "command_timeout",
    "contents",
    "create_dest_dirs",
    "destination",
    "error_fatal",
    "error_on_missing_key",
    "exec",
    "function_blacklist",
    "function_denylist",
    "gid",
    "group",
    "left_delimiter",
    "perms",
    "right_delimiter",
    "sandbox_path",
    "source",
    "uid",
    "user",
    "wait",
];

/// A string or a whole number as a string (`user = "www"`, `uid = 33`).
fn id_field(o: &Map<String, Value>, k: &str) -> std::result::Result<Option<String>, String> {
    match o.get(k) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(str_field(o, k)?.filter(|s| !s.is_empty())),
    }
}

fn template_stanza(
    o: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> std::result::Result<TemplateSpec, String> {
    check_keys(o, "template", TEMPLATE_KEYS)?;
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
    t.error_fatal = bool_field(o, "error_fatal")?;
    t.user = id_field(o, "user")?.or(id_field(o, "uid")?);
    t.group = id_field(o, "group")?.or(id_field(o, "gid")?);
    t.sandbox_path = str_field(o, "sandbox_path")?
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    t.function_denylist = string_list(o, "template", "function_denylist")?;
    let old = string_list(o, "template", "function_blacklist")?;
    if !old.is_empty() {
        warnings
            .push("template { function_blacklist } is deprecated; use function_denylist".into());
        t.function_denylist.extend(old);
    }
    for e in blocks(o.get("exec")) {
        template_exec(&mut t, ExecConfig::from_stanza(e, warnings)?)?;
    }
    Ok(t)
}

/// `template { exec {...} }`: its `command` and `timeout` win over the template's `command` and
/// `command_timeout`, as in consul-template; its `env` is the command's environment.
fn template_exec(t: &mut TemplateSpec, e: ExecConfig) -> std::result::Result<(), String> {
    if let Some(words) = e.command {
        t.command =
            command_value(&Value::from(words)).map_err(|m| format!("template.exec: {m}"))?;
    }
    if let Some(d) = e.timeout {
        t.command_timeout = d;
    }
    let env = ExecEnv {
        pristine: e.env_pristine.unwrap_or(false),
        custom: e.env_custom,
        allowlist: e.env_allowlist,
        denylist: e.env_denylist,
    };
    if env != ExecEnv::default() {
        t.command_env = Some(env);
    }
    Ok(())
}

/// A list of strings (a single string is a list of one); absent is empty.
fn string_list(
    o: &Map<String, Value>,
    stanza: &str,
    key: &str,
) -> std::result::Result<Vec<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{stanza} {{ {key} }}: expected strings, got {i}"))
            })
            .collect(),
        Some(other) => Err(format!(
            "{stanza} {{ {key} }}: expected a list of strings, got {other}"
        )),
    }
}
