//! One template's configuration: a `template {}` stanza or a `-template` flag.

use std::path::PathBuf;
use std::time::Duration;

use super::exec::ExecEnv;
use crate::quiesce::Wait;

/// consul-template's default `command_timeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One `template {}` stanza or `-template` flag.
///
/// ```
/// use discovery_render::consul_template::TemplateSpec;
/// let t = TemplateSpec::new("/etc/haproxy/haproxy.cfg")
///     .with_source("haproxy.ctmpl")
///     .with_command("systemctl reload haproxy");
/// assert_eq!(t.name(), "/etc/haproxy/haproxy.cfg");
/// let f = TemplateSpec::from_flag("haproxy.ctmpl:/etc/haproxy/haproxy.cfg:systemctl reload haproxy")?;
/// assert_eq!(f, t);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemplateSpec {
    /// `source`: the template file.
    pub source: Option<PathBuf>,
    /// `contents`: the template inline (instead of `source`).
    pub contents: Option<String>,
    /// `destination`.
    pub destination: PathBuf,
    /// `command`, as a `/bin/sh -c` string (a list is shell-quoted and joined).
    pub command: Option<String>,
    /// `command_timeout` (default 30 s).
    pub command_timeout: Duration,
    /// `perms` (octal); `None` keeps the existing file's mode, else 0644.
    pub perms: Option<u32>,
    /// `backup`: keep the previous content as `<destination>.bak`.
    pub backup: bool,
    /// `wait`: this template's quiescence (overrides the global one).
    pub wait: Option<Wait>,
    /// `left_delimiter`.
    pub left_delimiter: Option<String>,
    /// `right_delimiter`.
    pub right_delimiter: Option<String>,
    /// `error_on_missing_key` (Go's `missingkey=error`).
    pub error_on_missing_key: bool,
    /// `create_dest_dirs` (default true).
    pub create_dest_dirs: bool,
    /// `error_fatal`: whether a failed render stops consul-template (`None`: the global
    /// `template_error_fatal`, default true) or is logged and the template skipped.
    pub error_fatal: Option<bool>,
    /// `user` (or `uid`): the destination's owner, a name or a number.
    pub user: Option<String>,
    /// `group` (or `gid`): the destination's group, a name or a number.
    pub group: Option<String>,
    /// `sandbox_path`: the directory `file` may read under.
    pub sandbox_path: Option<PathBuf>,
    /// `function_denylist` (and its old spelling `function_blacklist`): functions matching
    /// one of these patterns (`*` is any run of characters) fail with "function is disabled".
    pub function_denylist: Vec<String>,
    /// `exec { env {...} }`: the command's environment; `None` inherits consul-template's.
    pub command_env: Option<ExecEnv>,
}

impl TemplateSpec {
    /// A template writing `destination`, with consul-template's defaults and neither source nor
    /// contents yet.
    pub fn new(destination: impl Into<PathBuf>) -> Self {
        TemplateSpec {
            source: None,
            contents: None,
            destination: destination.into(),
            command: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            perms: None,
            backup: false,
            wait: None,
            left_delimiter: None,
            right_delimiter: None,
            error_on_missing_key: false,
            create_dest_dirs: true,
            error_fatal: None,
            user: None,
            group: None,
            sandbox_path: None,
            function_denylist: Vec::new(),
            command_env: None,
        }
    }

    /// Sets `source` (the template file).
    pub fn with_source(mut self, source: impl Into<PathBuf>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets `contents` (the template inline).
    pub fn with_contents(mut self, contents: impl Into<String>) -> Self {
        self.contents = Some(contents.into());
        self
    }

    /// Sets `command` (run by `/bin/sh -c` after the destination changed).
    pub fn with_command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// Parses `-template "src:dest[:command]"` (the command may itself contain `:`). A missing
    /// source or destination is an error naming the flag's value.
    pub fn from_flag(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let src = parts.next().unwrap_or("");
        let dest = parts.next().unwrap_or("");
        if src.is_empty() {
            return Err(format!("invalid template {s:?}: missing source"));
        }
        if dest.is_empty() {
            return Err(format!("-template {s:?}: missing destination"));
        }
        let mut t = TemplateSpec::new(PathBuf::from(dest));
        t.source = Some(PathBuf::from(src));
        t.command = parts.next().filter(|c| !c.is_empty()).map(str::to_owned);
        Ok(t)
    }

    /// A short name for logs: the destination.
    pub fn name(&self) -> String {
        self.destination.display().to_string()
    }
}
