//! consul-template's configuration: command-line flags in Go syntax and `-config` files (HCL or
//! JSON; files or directories, merged in lexical order). The command line beats the files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::goflags::{FlagError, FlagSet, Kind};

/// consul-template's default `command_timeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub use discovery_render::quiesce::Wait;

/// One `template {}` stanza or `-template` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

impl TemplateSpec {
    pub(super) fn new(destination: PathBuf) -> Self {
        TemplateSpec {
            source: None,
            contents: None,
            destination,
            command: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            perms: None,
            backup: false,
            wait: None,
            left_delimiter: None,
            right_delimiter: None,
            error_on_missing_key: false,
            create_dest_dirs: true,
        }
    }

    /// Parses `-template "src:dest[:command]"` (the command may itself contain `:`).
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

/// The whole configuration. `Debug` redacts the token.
#[derive(Clone, Default)]
pub struct CtConfig {
    /// Consul address (`host:port` or URL); `None`: `CONSUL_HTTP_ADDR`, else the local agent.
    pub consul_addr: Option<String>,
    /// ACL token (`-token`, `consul { token }`, `CONSUL_HTTP_TOKEN`). Never logged.
    pub token: Option<String>,
    /// Templates in configuration order (files first, then `-template` flags).
    pub templates: Vec<TemplateSpec>,
    /// `-once`.
    pub once: bool,
    /// `-dry`.
    pub dry: bool,
    /// Global quiescence.
    pub wait: Option<Wait>,
    /// `block_query_wait` (config files only): how long each blocking query waits for a change
    /// (`?wait=`). `None`: consul-template's default, 60 s (`ConsulConfig`'s default too).
    /// Consul caps it at 10 min and adds up to 1/16 of it as jitter.
    pub block_query_wait: Option<Duration>,
    /// `-log-level` (default `warn`, as consul-template).
    pub log_level: String,
}

impl std::fmt::Debug for CtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtConfig")
            .field("consul_addr", &self.consul_addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("templates", &self.templates)
            .field("once", &self.once)
            .field("dry", &self.dry)
            .field("wait", &self.wait)
            .field("block_query_wait", &self.block_query_wait)
            .field("log_level", &self.log_level)
            .finish()
    }
}

fn flags() -> FlagSet {
    let mut f = FlagSet::new("consul-template");
    f.define(
        "consul-addr",
        Kind::Value,
        "Consul agent address (host:port or URL)",
    )
    .define(
        "token",
        Kind::Value,
        "Consul ACL token (or CONSUL_HTTP_TOKEN)",
    )
    .define("consul-token", Kind::Value, "alias of -token")
    .define(
        "template",
        Kind::Repeated,
        "\"src:dest[:command]\" (repeatable)",
    )
    .define(
        "config",
        Kind::Repeated,
        "HCL or JSON config file or directory (repeatable)",
    )
    .define(
        "once",
        Kind::Bool,
        "render once all data is present, then exit",
    )
    .define(
        "dry",
        Kind::Bool,
        "print what would be written (a diff for existing files); run nothing",
    )
    .define(
        "wait",
        Kind::Value,
        "quiescence min[:max] (max defaults to 4*min)",
    )
    .define(
        "log-level",
        Kind::Value,
        "log level (trace, debug, info, warn, err)",
    );
    f
}

impl CtConfig {
    /// Parses the command line (without the program name) and the config files it names.
    pub fn from_args(args: Vec<String>) -> Result<Self, FlagError> {
        let mut f = flags();
        f.parse(args)?;
        let bad = FlagError::Bad;
        let mut cfg = CtConfig {
            log_level: "warn".into(),
            ..Default::default()
        };
        for path in f.values("config") {
            for file in super::config_file::config_files(Path::new(path)).map_err(bad)? {
                let value = super::config_file::read_config(&file).map_err(bad)?;
                cfg.merge_file(&value)
                    .map_err(|e| FlagError::Bad(format!("{}: {e}", file.display())))?;
            }
        }
        if let Some(a) = f.value("consul-addr") {
            cfg.consul_addr = Some(a.to_owned());
        }
        if let Some(t) = f.value("token").or(f.value("consul-token")) {
            cfg.token = Some(t.to_owned());
        }
        for t in f.values("template") {
            cfg.templates.push(TemplateSpec::from_flag(t).map_err(bad)?);
        }
        if let Some(w) = f.value("wait") {
            cfg.wait = Some(Wait::parse(w).map_err(bad)?);
        }
        if let Some(b) = f.bool("once") {
            cfg.once = b;
        }
        if let Some(b) = f.bool("dry") {
            cfg.dry = b;
        }
        if let Some(l) = f.value("log-level") {
            cfg.log_level = l.to_owned();
        }
        if cfg.templates.is_empty() {
            return Err(bad(format!(
                "no templates given (-template or -config)\n{}",
                f.usage()
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_template_strings() {
        let cfg = CtConfig::from_args(args(&[
            "-consul-addr",
            "127.0.0.1:8500",
            "-template",
            "in.tmpl:out.conf:nginx -s reload || echo a:b",
            "-template=b.tmpl:b.out",
            "-once",
            "-wait=2s",
        ]))
        .unwrap();
        assert_eq!(cfg.consul_addr.as_deref(), Some("127.0.0.1:8500"));
        assert_eq!(cfg.templates.len(), 2);
        assert_eq!(
            cfg.templates[0].command.as_deref(),
            Some("nginx -s reload || echo a:b")
        );
        assert_eq!(cfg.templates[1].destination, PathBuf::from("b.out"));
        assert!(cfg.once);
        assert_eq!(
            cfg.wait,
            Some(Wait {
                min: Duration::from_secs(2),
                max: Duration::from_secs(8)
            })
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(CtConfig::from_args(args(&["-once"])).is_err());
        assert!(Wait::parse("5s:1s").is_err());
        assert!(TemplateSpec::from_flag(":out").is_err());
        for flag in ["in.tmpl", "in.tmpl:", "in.tmpl::echo hi"] {
            let e = TemplateSpec::from_flag(flag).unwrap_err();
            assert_eq!(e, format!("-template {flag:?}: missing destination"));
        }
    }
}
