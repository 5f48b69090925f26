//! Exec mode's configuration: the `exec {}` stanza and the `-exec*` flags ([`ExecConfig`],
//! merged in order, later wins, lists accumulate) and what a runner supervises ([`ExecSpec`]),
//! with the child's environment ([`ExecEnv`]).

use std::time::Duration;

use serde_json::{Map, Value};

use super::glob::go_match;
use super::signal::Signal;

/// consul-template's default `exec { kill_signal }`: SIGINT.
pub const DEFAULT_EXEC_KILL_SIGNAL: Signal = Signal::SIGINT;
/// consul-template's default `exec { kill_timeout }`: 30 s.
pub const DEFAULT_EXEC_KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// The child's environment: `exec { env { pristine, custom, allowlist, denylist } }`.
///
/// Not pristine: consul-template's own environment, only the names matching an `allowlist` glob
/// (when there is one), less those matching a `denylist` glob, then the `custom` `KEY=value`
/// entries (a later entry overrides an earlier one of the same name). Pristine: the `custom`
/// entries only (allowlist and denylist do not apply). Globs are Go's `filepath.Match`.
///
/// ```
/// use discovery_render::consul_template::ExecEnv;
/// let parent = [("PATH", "/bin"), ("SECRET_TOKEN", "x"), ("HOME", "/root")]
///     .map(|(k, v)| (k.to_owned(), v.to_owned()));
/// let mut env = ExecEnv::default();
/// env.denylist = vec!["SECRET_*".into()];
/// env.custom = vec!["HOME=/srv".into()];
/// let out = env.environment(parent.clone());
/// assert_eq!(out, [("PATH".into(), "/bin".into()), ("HOME".into(), "/srv".into())]);
/// env.pristine = true;
/// assert_eq!(env.environment(parent), [("HOME".into(), "/srv".into())]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecEnv {
    /// `pristine`: start from an empty environment instead of consul-template's.
    pub pristine: bool,
    /// `custom`: `KEY=value` entries added last.
    pub custom: Vec<String>,
    /// `allowlist` (and its deprecated spelling `whitelist`): globs of the names kept.
    pub allowlist: Vec<String>,
    /// `denylist` (and its deprecated spelling `blacklist`): globs of the names removed.
    pub denylist: Vec<String>,
}

impl ExecEnv {
    /// The child's environment given consul-template's (`parent`, e.g. `std::env::vars()`).
    /// A `custom` entry without `=` is ignored.
    pub fn environment(
        &self,
        parent: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if !self.pristine {
            out.extend(parent.into_iter().filter(|(k, _)| {
                (self.allowlist.is_empty() || self.allowlist.iter().any(|p| go_match(p, k)))
                    && !self.denylist.iter().any(|p| go_match(p, k))
            }));
        }
        for entry in &self.custom {
            let Some((k, v)) = entry.split_once('=') else {
                tracing::warn!(entry = %entry, "exec env custom entry without '='; ignored");
                continue;
            };
            match out.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.to_owned(),
                None => out.push((k.to_owned(), v.to_owned())),
            }
        }
        out
    }
}

/// What a runner supervises in exec mode: one command, its environment and its signals.
///
/// ```
/// use std::time::Duration;
/// use discovery_render::consul_template::{ExecSpec, Signal};
/// let spec = ExecSpec::new(["nginx", "-g", "daemon off;"])
///     .reload_signal(Some(Signal::SIGHUP))
///     .kill_timeout(Duration::from_secs(5));
/// assert_eq!(spec.kill_signal, Signal::SIGINT); // consul-template's default
/// assert_eq!(spec.splay, Duration::ZERO);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecSpec {
    /// `command`: one string (run by `sh -c` when it has spaces, and then signalled as a
    /// process group) or a program and its arguments (run directly).
    pub command: Vec<String>,
    /// `env {}`.
    pub env: ExecEnv,
    /// `kill_signal` (default SIGINT): sent to stop the child, before SIGKILL.
    pub kill_signal: Signal,
    /// `kill_timeout` (default 30 s): how long a stopping child has before SIGKILL.
    pub kill_timeout: Duration,
    /// `reload_signal`: sent when a template changed; `None` (the default) restarts the child.
    pub reload_signal: Option<Signal>,
    /// `splay`: the most a reload or a stop waits (a random delay) before signalling.
    pub splay: Duration,
}

impl ExecSpec {
    /// Supervises `command` with consul-template's defaults.
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> ExecSpec {
        ExecSpec {
            command: command.into_iter().map(Into::into).collect(),
            env: ExecEnv::default(),
            kill_signal: DEFAULT_EXEC_KILL_SIGNAL,
            kill_timeout: DEFAULT_EXEC_KILL_TIMEOUT,
            reload_signal: None,
            splay: Duration::ZERO,
        }
    }

    /// Sets `reload_signal` (`None`: restart on a change).
    pub fn reload_signal(mut self, signal: Option<Signal>) -> Self {
        self.reload_signal = signal;
        self
    }

    /// Sets `kill_signal`.
    pub fn kill_signal(mut self, signal: Signal) -> Self {
        self.kill_signal = signal;
        self
    }

    /// Sets `kill_timeout`.
    pub fn kill_timeout(mut self, timeout: Duration) -> Self {
        self.kill_timeout = timeout;
        self
    }

    /// Sets `splay`.
    pub fn splay(mut self, splay: Duration) -> Self {
        self.splay = splay;
        self
    }

    /// Sets the environment rules.
    pub fn env(mut self, env: ExecEnv) -> Self {
        self.env = env;
        self
    }
}

/// `exec {}` and the `-exec*` flags before defaults: what each source set. Merge them in order
/// with [`merge`](Self::merge) (a later value wins; `env` lists accumulate) and
/// [`finish`](Self::finish) into the [`ExecSpec`] to run, if any.
///
/// ```
/// use discovery_render::consul_template::{ExecConfig, Signal};
/// let mut file = ExecConfig::default();
/// file.command = Some(vec!["my-app --serve".into()]);
/// file.env_denylist = vec!["AWS_*".into()];
/// let mut flags = ExecConfig::default();
/// flags.reload_signal = Some(Signal::SIGHUP);
/// flags.env_denylist = vec!["VAULT_*".into()];
/// file.merge(flags);
/// let spec = file.finish().expect("a command is set");
/// assert_eq!(spec.reload_signal, Some(Signal::SIGHUP));
/// assert_eq!(spec.env.denylist, ["AWS_*", "VAULT_*"]);
/// assert!(ExecConfig::default().finish().is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecConfig {
    /// `command` (a string is a one-element list).
    pub command: Option<Vec<String>>,
    /// `enabled` (default: whether a command is set).
    pub enabled: Option<bool>,
    /// `kill_signal`.
    pub kill_signal: Option<Signal>,
    /// `kill_timeout`.
    pub kill_timeout: Option<Duration>,
    /// `reload_signal` (`SIGNULL` sends nothing on a change).
    pub reload_signal: Option<Signal>,
    /// `splay`.
    pub splay: Option<Duration>,
    /// `timeout`: a template's `exec {}` only (its command's timeout); the supervised
    /// command has none, as in consul-template.
    pub timeout: Option<Duration>,
    /// `env { pristine }`.
    pub env_pristine: Option<bool>,
    /// `env { custom }`.
    pub env_custom: Vec<String>,
    /// `env { allowlist }` (and `whitelist`).
    pub env_allowlist: Vec<String>,
    /// `env { denylist }` (and `blacklist`).
    pub env_denylist: Vec<String>,
}

impl ExecConfig {
    /// Merges `later` over `self`: its set values win, its lists are appended (an entry
    /// already present is not repeated).
    pub fn merge(&mut self, later: ExecConfig) {
        fn over<T>(a: &mut Option<T>, b: Option<T>) {
            if b.is_some() {
                *a = b;
            }
        }
        fn append(a: &mut Vec<String>, b: Vec<String>) {
            for x in b {
                if !a.contains(&x) {
                    a.push(x);
                }
            }
        }
        over(&mut self.command, later.command);
        over(&mut self.enabled, later.enabled);
        over(&mut self.kill_signal, later.kill_signal);
        over(&mut self.kill_timeout, later.kill_timeout);
        over(&mut self.reload_signal, later.reload_signal);
        over(&mut self.splay, later.splay);
        over(&mut self.timeout, later.timeout);
        over(&mut self.env_pristine, later.env_pristine);
        self.env_custom.extend(later.env_custom);
        append(&mut self.env_allowlist, later.env_allowlist);
        append(&mut self.env_denylist, later.env_denylist);
    }

    /// The spec to run: `None` without a command (or with `enabled = false`).
    pub fn finish(self) -> Option<ExecSpec> {
        let command = self
            .command
            .filter(|c| c.first().is_some_and(|c| !c.is_empty()))?;
        if !self.enabled.unwrap_or(true) {
            return None;
        }
        Some(ExecSpec {
            command,
            env: ExecEnv {
                pristine: self.env_pristine.unwrap_or(false),
                custom: self.env_custom,
                allowlist: self.env_allowlist,
                denylist: self.env_denylist,
            },
            kill_signal: self.kill_signal.unwrap_or(DEFAULT_EXEC_KILL_SIGNAL),
            kill_timeout: self.kill_timeout.unwrap_or(DEFAULT_EXEC_KILL_TIMEOUT),
            reload_signal: self.reload_signal,
            splay: self.splay.unwrap_or_default(),
        })
    }

    /// Reads an `exec {}` stanza (HCL or JSON, already a JSON object); `whitelist` and
    /// `blacklist` are read as `allowlist` and `denylist`, each with a warning pushed.
    pub(crate) fn from_stanza(
        o: &Map<String, Value>,
        warnings: &mut Vec<String>,
    ) -> Result<ExecConfig, String> {
        use super::config_file::check_keys;
        check_keys(
            o,
            "exec",
            &[
                "command",
                "enabled",
                "env",
                "kill_signal",
                "kill_timeout",
                "reload_signal",
                "splay",
                "timeout",
            ],
        )?;
        let mut c = ExecConfig {
            command: o.get("command").map(command_list).transpose()?.flatten(),
            enabled: bool_of(o, "enabled")?,
            kill_signal: signal_of(o, "kill_signal")?,
            kill_timeout: duration_of(o, "kill_timeout")?,
            reload_signal: signal_of(o, "reload_signal")?,
            splay: duration_of(o, "splay")?,
            ..ExecConfig::default()
        };
        c.timeout = duration_of(o, "timeout")?;
        for env in super::config_file::blocks(o.get("env")) {
            check_keys(
                env,
                "exec.env",
                &[
                    "allowlist",
                    "blacklist",
                    "custom",
                    "denylist",
                    "pristine",
                    "whitelist",
                ],
            )?;
            if let Some(p) = bool_of(env, "pristine")? {
                c.env_pristine = Some(p);
            }
            c.env_custom.extend(strings(env, "custom")?);
            c.env_allowlist.extend(strings(env, "allowlist")?);
            c.env_denylist.extend(strings(env, "denylist")?);
            for (old, new, list) in [
                ("whitelist", "allowlist", &mut c.env_allowlist),
                ("blacklist", "denylist", &mut c.env_denylist),
            ] {
                let v = strings(env, old)?;
                if !v.is_empty() {
                    warnings.push(format!(
                        "exec {{ env {{ {old} }} }} is deprecated; use {new}"
                    ));
                    for x in v {
                        if !list.contains(&x) {
                            list.push(x);
                        }
                    }
                }
            }
        }
        Ok(c)
    }
}

/// `command = "…"` or `command = ["…", …]`; an empty one is unset.
fn command_list(v: &Value) -> Result<Option<Vec<String>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(vec![s.clone()])),
        Value::Array(items) => {
            let words = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or("exec { command }: expected strings")
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((!words.is_empty()).then_some(words))
        }
        other => Err(format!(
            "exec {{ command }}: expected a string or a list, got {other}"
        )),
    }
}

fn strings(o: &Map<String, Value>, k: &str) -> Result<Vec<String>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("exec env {k}: expected strings"))
            })
            .collect(),
        Some(other) => Err(format!("exec env {k}: expected a list, got {other}")),
    }
}

fn bool_of(o: &Map<String, Value>, k: &str) -> Result<Option<bool>, String> {
    super::config_file::bool_field(o, k)
}

/// A signal name (`""` is `SIGNULL`, as consul-template's decoder has it).
pub(crate) fn signal_of(o: &Map<String, Value>, k: &str) -> Result<Option<Signal>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(Signal::SIGNULL)),
        Some(Value::String(s)) => Signal::parse(s).map(Some).map_err(|e| format!("{k}: {e}")),
        Some(other) => Err(format!("{k}: expected a signal name, got {other}")),
    }
}

fn duration_of(o: &Map<String, Value>, k: &str) -> Result<Option<Duration>, String> {
    o.get(k)
        .filter(|v| !v.is_null())
        .map(|v| super::config_file::duration_value(v, k))
        .transpose()
}
