//! consul-template's configuration: command-line flags in Go syntax and `-config` files (HCL or
//! JSON; files or directories, merged in lexical order, read by
//! [`discovery_render::consul_template::FileConfig`]). The command line beats the files.

use std::path::Path;
use std::time::Duration;

use discovery_core::Error;
use discovery_render::consul_template::{ExecSpec, FileConfig, Signal};

use crate::goflags::{FlagError, FlagSet, Kind};

pub use discovery_render::consul_template::{TemplateSpec, DEFAULT_COMMAND_TIMEOUT};
pub use discovery_render::quiesce::Wait;

/// The whole configuration. `Debug` redacts the token.
#[derive(Clone)]
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
    /// One warning per deprecated flag spelling used (logged once logging is set up).
    pub deprecations: Vec<String>,
    /// Exec mode's child (`-exec*`, `exec {}`), if any.
    pub exec: Option<ExecSpec>,
    /// `-kill-signal` / `kill_signal` (default SIGINT): stops consul-template.
    pub kill_signal: Signal,
    /// `-reload-signal` / `reload_signal` (default SIGHUP): reloads the configuration.
    pub reload_signal: Signal,
    /// `-pid-file` / `pid_file`.
    pub pid_file: Option<std::path::PathBuf>,
    /// Ours: `-metrics-addr` and `-systemd-notify`.
    pub ops: crate::ops::OpsFlags,
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
            .field("deprecations", &self.deprecations)
            .field("exec", &self.exec)
            .field("kill_signal", &self.kill_signal)
            .field("reload_signal", &self.reload_signal)
            .field("pid_file", &self.pid_file)
            .field("ops", &self.ops)
            .finish()
    }
}

fn flags() -> FlagSet {
    let mut f = FlagSet::new("consul-template");
    f.define(
        "consul-addr",
        Kind::Value,
        "Consul agent address (host:port or URL); -consul is its deprecated spelling",
    )
    .define(
        "consul-token",
        Kind::Value,
        "Consul ACL token (or CONSUL_HTTP_TOKEN); -token is its deprecated spelling",
    )
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
    super::exec_flags::define(&mut f);
    crate::ops::define(&mut f);
    f
}

/// consul-template 0.18's flag spellings (removed in 0.19) and their new names; `-ssl*` is a
/// prefix (`-ssl-verify` is `-consul-ssl-verify`).
const RENAMED: [(&str, &str); 6] = [
    ("auth", "consul-auth"),
    ("consul", "consul-addr"),
    ("exec-env-blacklist", "exec-env-denylist"),
    ("exec-env-whitelist", "exec-env-allowlist"),
    ("ssl", "consul-ssl"),
    ("token", "consul-token"),
];

/// Rewrites the deprecated flag spellings to their new names, as consul-template 0.18 did (any
/// argument spelled like one); returns one warning per rewrite.
fn undeprecate(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        if !arg.starts_with('-') {
            out.push(arg);
            continue;
        }
        let dashes = if arg.starts_with("--") { "--" } else { "-" };
        let body = &arg[dashes.len()..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let renamed = RENAMED.iter().find_map(|(old, new)| {
            let rest = name.strip_prefix(old)?;
            (rest.is_empty() || (*old == "ssl" && rest.starts_with('-')))
                .then(|| format!("{new}{rest}"))
        });
        let Some(new) = renamed else {
            out.push(arg);
            continue;
        };
        warnings.push(format!("-{name} is deprecated; use -{new}"));
        out.push(match value {
            Some(v) => format!("{dashes}{new}={v}"),
            None => format!("{dashes}{new}"),
        });
    }
    (out, warnings)
}

impl CtConfig {
    /// Parses the command line (without the program name) and the config files it names.
    pub fn from_args(args: Vec<String>) -> Result<Self, FlagError> {
        let mut f = flags();
        let (args, deprecations) = undeprecate(args);
        f.parse(args).map_err(|e| match e {
            FlagError::Bad(m) if !deprecations.is_empty() => {
                FlagError::Bad(format!("{}\n{m}", deprecations.join("\n")))
            }
            other => other,
        })?;
        let bad = FlagError::Bad;
        let mut cfg = CtConfig {
            consul_addr: None,
            token: None,
            templates: Vec::new(),
            once: false,
            dry: false,
            wait: None,
            block_query_wait: None,
            log_level: "warn".into(),
            deprecations,
            exec: None,
            kill_signal: Signal::SIGINT,
            reload_signal: Signal::SIGHUP,
            pid_file: None,
            ops: crate::ops::read(&f)?,
        };
        let mut file = FileConfig::default();
        for path in f.values("config") {
            file.merge_path(Path::new(path)).map_err(|e| match e {
                Error::InvalidConfig { key, reason } => FlagError::Bad(format!("{key}: {reason}")),
                other => FlagError::Bad(other.to_string()),
            })?;
        }
        cfg.consul_addr = file.consul_addr;
        cfg.token = file.token;
        cfg.templates = file.templates;
        cfg.wait = file.wait;
        cfg.block_query_wait = file.block_query_wait;
        cfg.once = file.once.unwrap_or(false);
        cfg.deprecations.extend(file.deprecations);
        if let Some(l) = file.log_level {
            cfg.log_level = l;
        }
        if let Some(a) = f.value("consul-addr") {
            cfg.consul_addr = Some(a.to_owned());
        }
        if let Some(t) = f.value("consul-token") {
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
        let process = super::exec_flags::read(&f)?;
        let mut exec = file.exec;
        exec.merge(process.exec);
        cfg.exec = exec.finish();
        cfg.kill_signal = process
            .kill_signal
            .or(file.kill_signal)
            .unwrap_or(Signal::SIGINT);
        cfg.reload_signal = process
            .reload_signal
            .or(file.reload_signal)
            .unwrap_or(Signal::SIGHUP);
        cfg.pid_file = process.pid_file.or(file.pid_file);
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
    use std::path::PathBuf;

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

    #[test]
    fn deprecated_flags_are_renamed_with_one_warning_each() {
        let cfg = CtConfig::from_args(args(&[
            "-consul",
            "127.0.0.1:8500",
            "--token=secret",
            "-template",
            "in.tmpl:out.conf",
        ]))
        .unwrap();
        assert_eq!(cfg.consul_addr.as_deref(), Some("127.0.0.1:8500"));
        assert_eq!(cfg.token.as_deref(), Some("secret"));
        assert_eq!(
            cfg.deprecations,
            [
                "-consul is deprecated; use -consul-addr",
                "-token is deprecated; use -consul-token"
            ]
        );
        let (out, w) = undeprecate(args(&[
            "-ssl-verify=false",
            "-auth",
            "u:p",
            "-consul-addr=x",
        ]));
        assert_eq!(
            out,
            [
                "-consul-ssl-verify=false",
                "-consul-auth",
                "u:p",
                "-consul-addr=x"
            ]
        );
        assert_eq!(
            w,
            [
                "-ssl-verify is deprecated; use -consul-ssl-verify",
                "-auth is deprecated; use -consul-auth"
            ]
        );
        // The new spelling is not supported: the old one gets its error, after the warning.
        let e = CtConfig::from_args(args(&["-ssl", "-template", "a:b"])).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with(
                "-ssl is deprecated; use -consul-ssl\nflag provided but not defined: -consul-ssl"
            ),
            "{e}"
        );
    }

    #[test]
    fn exec_stanza_and_flags_merge_cli_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ct.hcl");
        std::fs::write(
            &file,
            r#"
kill_signal = "SIGTERM"
pid_file = "/run/ct.pid"
exec {
  command = ["my-app", "--serve"]
  kill_signal = "SIGQUIT"
  kill_timeout = "5s"
  splay = "1s"
  env {
    pristine = false
    custom = ["A=1"]
    whitelist = ["KEEP_*"]
    denylist = ["SECRET_*"]
  }
}
template {
  contents = "x"
  destination = "out"
}
"#,
        )
        .unwrap();
        let cfg = CtConfig::from_args(args(&[
            "-config",
            file.to_str().unwrap(),
            "-exec-reload-signal=sighup",
            "-exec-kill-timeout",
            "10s",
            "-exec-env-custom",
            "B=2",
            "-exec-env-blacklist",
            "AWS_*",
        ]))
        .unwrap();
        let exec = cfg.exec.expect("exec mode");
        assert_eq!(exec.command, ["my-app", "--serve"]);
        assert_eq!(exec.kill_signal, Signal::parse("SIGQUIT").unwrap());
        assert_eq!(exec.kill_timeout, Duration::from_secs(10));
        assert_eq!(exec.splay, Duration::from_secs(1));
        assert_eq!(exec.reload_signal, Some(Signal::SIGHUP));
        assert_eq!(exec.env.custom, ["A=1", "B=2"]);
        assert_eq!(exec.env.allowlist, ["KEEP_*"]);
        assert_eq!(exec.env.denylist, ["SECRET_*", "AWS_*"]);
        assert_eq!(cfg.kill_signal, Signal::SIGTERM);
        assert_eq!(cfg.reload_signal, Signal::SIGHUP);
        assert_eq!(cfg.pid_file, Some(PathBuf::from("/run/ct.pid")));
        assert!(cfg
            .deprecations
            .iter()
            .any(|d| d.contains("-exec-env-blacklist is deprecated")));
        assert!(cfg.deprecations.iter().any(|d| d.contains("whitelist")));
        // -exec replaces the file's command; -pid-file the file's path.
        let cfg = CtConfig::from_args(args(&[
            "-config",
            file.to_str().unwrap(),
            "-exec",
            "other --flag",
            "-pid-file=/tmp/x.pid",
        ]))
        .unwrap();
        assert_eq!(cfg.exec.unwrap().command, ["other --flag"]);
        assert_eq!(cfg.pid_file, Some(PathBuf::from("/tmp/x.pid")));
        for bad in [
            &["-exec-kill-signal", "HUP"][..],
            &["-exec-kill-timeout", "5"],
            &["-reload-signal", "SIGNOPE"],
        ] {
            let mut a = args(bad);
            a.extend(args(&["-template", "a:b"]));
            assert!(CtConfig::from_args(a).is_err(), "{bad:?}");
        }
        // No exec without a command.
        let cfg = CtConfig::from_args(args(&["-template", "a:b", "-exec-splay=1s"])).unwrap();
        assert!(cfg.exec.is_none());
        assert_eq!(cfg.kill_signal, Signal::SIGINT);
    }
}
