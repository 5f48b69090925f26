//! consul-template's configuration: command-line flags in Go syntax and `-config` files (HCL or
//! JSON; files or directories, merged in lexical order, read by
//! [`discovery_render::consul_template::FileConfig`]). The command line beats the files.

use std::path::Path;
use std::time::Duration;

use discovery_core::Error;
use discovery_render::consul_template::{
    ConsulFile, DedupOptions, ExecSpec, FileConfig, LogFileConfig, Signal, SyslogConfig,
};

use crate::goflags::{FlagError, FlagSet, Kind};

pub use discovery_render::consul_template::{TemplateSpec, DEFAULT_COMMAND_TIMEOUT};
pub use discovery_render::quiesce::Wait;

/// The whole configuration. `Debug` redacts the token and the basic-auth password.
#[derive(Clone)]
pub struct CtConfig {
    /// `consul {}` and the `-consul-*` flags: address (`None`: `CONSUL_HTTP_ADDR`, else the
    /// local agent), token (never logged), `token_file`, `auth`, `ssl`, `retry`, `transport`.
    pub consul: ConsulFile,
    /// `-max-stale` / `max_stale` (default 2 s; 0: consistent reads only).
    pub max_stale: Option<Duration>,
    /// `-parse-only`: parse the templates, then exit.
    pub parse_only: bool,
    /// `log_file {}` and `-log-file`, `-log-rotate-*`.
    pub log_file: LogFileConfig,
    /// `syslog {}` and `-syslog*`.
    pub syslog: SyslogConfig,
    /// `err_on_failed_lookup` (accepted; see COMPATIBILITY.md).
    pub err_on_failed_lookup: bool,
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
    /// `-dedup` / `deduplicate {}`: de-duplication mode, when on.
    pub dedup: Option<DedupOptions>,
    /// Ours: `-metrics-addr` and `-systemd-notify`.
    pub ops: crate::ops::OpsFlags,
}

impl std::fmt::Debug for CtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtConfig")
            .field("consul", &self.consul)
            .field("max_stale", &self.max_stale)
            .field("parse_only", &self.parse_only)
            .field("log_file", &self.log_file)
            .field("syslog", &self.syslog)
            .field("err_on_failed_lookup", &self.err_on_failed_lookup)
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
            .field("dedup", &self.dedup)
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
    )
    .define(
        "max-stale",
        Kind::Value,
        "how stale a read may be (default 2s; 0: leader only)",
    )
    .define("parse-only", Kind::Bool, "parse the templates, then exit")
    .define(
        "dedup",
        Kind::Bool,
        "de-duplication mode: one process per template watches Consul, the others render \
         the data it stores in Consul KV",
    )
    .define(
        "template-error-fatal",
        Kind::Bool,
        "a failed render stops consul-template (default true)",
    )
    .define(
        "default-left-delimiter",
        Kind::Value,
        "left delimiter of templates that set none",
    )
    .define(
        "default-right-delimiter",
        Kind::Value,
        "right delimiter of templates that set none",
    )
    .define("v", Kind::Bool, "print the version and exit")
    .define("version", Kind::Bool, "print the version and exit");
    super::exec_flags::define(&mut f);
    super::consul_flags::define(&mut f);
    super::log_flags::define(&mut f);
    super::unsupported::define(&mut f);
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
        if f.bool("v") == Some(true) || f.bool("version") == Some(true) {
            return Err(FlagError::Help(format!(
                "consul-template v{} (discovery drop-in)",
                env!("CARGO_PKG_VERSION")
            )));
        }
        if !f.rest.is_empty() {
            return Err(FlagError::Bad(format!("cli: extra args: {:?}", f.rest)));
        }
        super::unsupported::check(&f)?;
        let bad = FlagError::Bad;
        let mut cfg = CtConfig {
            consul: ConsulFile::default(),
            max_stale: None,
            parse_only: false,
            log_file: LogFileConfig::default(),
            syslog: SyslogConfig::default(),
            err_on_failed_lookup: false,
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
            dedup: None,
            ops: crate::ops::read(&f)?,
        };
        let mut file = FileConfig::default();
        for path in f.values("config") {
            file.merge_path(Path::new(path)).map_err(|e| match e {
                Error::InvalidConfig { key, reason } => FlagError::Bad(format!("{key}: {reason}")),
                other => FlagError::Bad(other.to_string()),
            })?;
        }
        cfg.consul = file.consul;
        cfg.consul.merge(super::consul_flags::read(&f)?);
        cfg.max_stale = f.duration("max-stale")?.or(file.max_stale);
        cfg.parse_only = f.bool("parse-only").unwrap_or(false);
        (cfg.log_file, cfg.syslog) =
            super::log_flags::merge((file.log_file, file.syslog), super::log_flags::read(&f)?);
        cfg.err_on_failed_lookup = file.err_on_failed_lookup.unwrap_or(false);
        cfg.templates = file.templates;
        cfg.wait = file.wait;
        cfg.block_query_wait = file.block_query_wait;
        cfg.once = file.once.unwrap_or(false);
        cfg.deprecations.extend(file.deprecations);
        if let Some(l) = file.log_level {
            cfg.log_level = l;
        }
        for t in f.values("template") {
            cfg.templates.push(TemplateSpec::from_flag(t).map_err(bad)?);
        }
        // `-template-error-fatal` overrides every template; `template_error_fatal` is the
        // default of those that set no `error_fatal`. Default delimiters fill the unset ones.
        let fatal_flag = f.bool("template-error-fatal");
        let left = f
            .value("default-left-delimiter")
            .map(str::to_owned)
            .or(file.default_left_delimiter)
            .filter(|d| !d.is_empty());
        let right = f
            .value("default-right-delimiter")
            .map(str::to_owned)
            .or(file.default_right_delimiter)
            .filter(|d| !d.is_empty());
        for t in &mut cfg.templates {
            t.error_fatal = fatal_flag.or(t.error_fatal).or(file.template_error_fatal);
            if t.left_delimiter.is_none() {
                t.left_delimiter = left.clone();
            }
            if t.right_delimiter.is_none() {
                t.right_delimiter = right.clone();
            }
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
        let mut dedup = file.deduplicate;
        if let Some(b) = f.bool("dedup") {
            dedup.enabled = Some(b);
        }
        cfg.dedup = dedup.finish();
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
        assert_eq!(cfg.consul.address.as_deref(), Some("127.0.0.1:8500"));
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
        assert_eq!(cfg.consul.address.as_deref(), Some("10.0.0.2:8500"));
        assert_eq!(cfg.consul.token.as_deref(), Some("t"));
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
        assert_eq!(cli.consul.address.as_deref(), Some("127.0.0.1:1"));
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
        assert_eq!(cfg.consul.address.as_deref(), Some("127.0.0.1:8500"));
        assert_eq!(cfg.consul.token.as_deref(), Some("secret"));
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
        // The old spelling gets the new one's meaning, and its errors after the warning.
        let cfg = CtConfig::from_args(args(&["-ssl", "-template", "a:b"])).unwrap();
        assert_eq!(cfg.consul.ssl.enabled, Some(true));
        let e = CtConfig::from_args(args(&["-ssl=maybe", "-template", "a:b"])).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("-ssl is deprecated; use -consul-ssl\ninvalid boolean value"),
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

    #[test]
    fn dedup_flag_and_stanza_merge_cli_last() {
        // Off by default; `-dedup` alone gives upstream's defaults.
        assert_eq!(
            CtConfig::from_args(args(&["-template", "a:b"]))
                .unwrap()
                .dedup,
            None
        );
        let on = CtConfig::from_args(args(&["-dedup", "-template", "a:b"]))
            .unwrap()
            .dedup
            .expect("-dedup turns it on");
        assert_eq!(on, DedupOptions::default());
        assert_eq!(on.prefix, "consul-template/dedup/");
        assert_eq!(on.ttl, Duration::from_secs(15));
        // The stanza's keys apply; setting one turns the mode on, as upstream.
        let stanza = format!(
            "{ONE}deduplicate {{\n  prefix = \"fleet/\"\n  TTL = \"30s\"\n  \
             block_query_wait = \"5s\"\n}}\n"
        );
        let d = with_file(&stanza, &[])
            .unwrap()
            .dedup
            .expect("keys set turn it on");
        assert_eq!(d.prefix, "fleet/");
        assert_eq!(d.ttl, Duration::from_secs(30));
        assert_eq!(d.block_query_wait, Duration::from_secs(5));
        assert_eq!(d.max_stale, Duration::from_secs(2));
        // The command line beats the file both ways.
        assert_eq!(with_file(&stanza, &["-dedup=false"]).unwrap().dedup, None);
        let off = format!("{ONE}deduplicate {{\n  enabled = false\n  prefix = \"p/\"\n}}\n");
        assert_eq!(with_file(&off, &[]).unwrap().dedup, None);
        let d = with_file(&off, &["-dedup"]).unwrap().dedup.unwrap();
        assert_eq!(d.prefix, "p/");
    }

    fn with_file(hcl: &str, extra: &[&str]) -> Result<CtConfig, FlagError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ct.hcl");
        std::fs::write(&file, hcl).unwrap();
        let mut a = args(&["-config", file.to_str().unwrap()]);
        a.extend(args(extra));
        CtConfig::from_args(a)
    }

    const ONE: &str = "template {\n  contents = \"x\"\n  destination = \"out\"\n}\n";

    #[test]
    fn global_flags_parse_and_beat_the_files() {
        let file = format!(
            "{ONE}max_stale = \"5s\"\ntemplate_error_fatal = false\nerr_on_failed_lookup = true\n\
             default_delimiters {{\n  left = \"<<\"\n  right = \">>\"\n}}\n\
             template {{\n  contents = \"y\"\n  destination = \"own\"\n  left_delimiter = \"[[\"\n  error_fatal = true\n}}\n\
             log_file {{\n  path = \"/tmp/ct.log\"\n  log_rotate_max_files = 2\n}}\n\
             syslog {{\n  enabled = true\n  facility = \"LOCAL1\"\n}}\n"
        );
        let cfg = with_file(&file, &[]).unwrap();
        assert_eq!(cfg.max_stale, Some(Duration::from_secs(5)));
        assert!(cfg.err_on_failed_lookup && !cfg.parse_only);
        assert_eq!(cfg.templates[0].error_fatal, Some(false));
        assert_eq!(cfg.templates[1].error_fatal, Some(true));
        assert_eq!(cfg.templates[0].left_delimiter.as_deref(), Some("<<"));
        assert_eq!(cfg.templates[0].right_delimiter.as_deref(), Some(">>"));
        assert_eq!(cfg.templates[1].left_delimiter.as_deref(), Some("[["));
        assert_eq!(cfg.log_file.path.as_deref(), Some("/tmp/ct.log"));
        assert_eq!(cfg.syslog.facility.as_deref(), Some("LOCAL1"));
        let cfg = with_file(
            &file,
            &[
                "-max-stale=0",
                "-parse-only",
                "-template-error-fatal",
                "-default-left-delimiter=((",
                "-log-file=/tmp/other.log",
                "-syslog=false",
                "-consul-ssl-verify=false",
            ],
        )
        .unwrap();
        assert_eq!(cfg.max_stale, Some(Duration::ZERO));
        assert!(cfg.parse_only);
        assert!(cfg.templates.iter().all(|t| t.error_fatal == Some(true)));
        assert_eq!(cfg.templates[0].left_delimiter.as_deref(), Some("(("));
        assert_eq!(cfg.templates[0].right_delimiter.as_deref(), Some(">>"));
        assert_eq!(cfg.log_file.path.as_deref(), Some("/tmp/other.log"));
        assert_eq!(cfg.log_file.rotate_max_files, Some(2));
        assert_eq!(cfg.syslog.enabled, Some(false));
        assert_eq!(cfg.consul.ssl.verify, Some(false));
        for (bad, flag) in [
            ("-max-stale=2", "-max-stale"),
            ("-template-error-fatal=nope", "-template-error-fatal"),
            ("-parse-only=2", "-parse-only"),
        ] {
            let e = with_file(ONE, &[bad]).unwrap_err().to_string();
            assert!(e.contains(flag), "{bad}: {e}");
        }
    }

    #[test]
    fn every_upstream_flag_is_defined() {
        // consul-template 0.42.1's cli.go, in its order.
        let upstream = "config consul-addr consul-auth consul-retry consul-retry-attempts \
            consul-retry-backoff consul-retry-max-backoff consul-ssl consul-ssl-ca-cert \
            consul-ssl-ca-path consul-ssl-cert consul-ssl-key consul-ssl-server-name \
            consul-ssl-verify consul-token consul-token-file consul-transport-dial-keep-alive \
            consul-transport-dial-timeout consul-transport-disable-keep-alives \
            consul-transport-max-idle-conns-per-host consul-transport-tls-handshake-timeout \
            dedup default-left-delimiter default-right-delimiter dry exec exec-kill-signal \
            exec-kill-timeout exec-reload-signal exec-splay exec-env-pristine exec-env-custom \
            exec-env-allowlist exec-env-denylist kill-signal log-level log-file log-rotate-bytes \
            log-rotate-duration log-rotate-max-files max-stale once parse-only pid-file \
            reload-signal retry syslog syslog-facility syslog-name template template-error-fatal \
            vault-addr vault-renew-token vault-retry vault-retry-attempts vault-retry-backoff \
            vault-retry-max-backoff vault-client-user-agent vault-ssl vault-ssl-ca-cert \
            vault-ssl-ca-path vault-ssl-cert vault-ssl-key vault-ssl-server-name vault-ssl-verify \
            vault-transport-dial-keep-alive vault-transport-dial-timeout \
            vault-transport-disable-keep-alives vault-transport-max-idle-conns-per-host \
            vault-transport-max-conns-per-host vault-transport-tls-handshake-timeout vault-token \
            vault-agent-token-file vault-unwrap-token vault-default-lease-duration wait v version";
        let names: Vec<&str> = upstream.split_whitespace().collect();
        assert_eq!(names.len(), 78);
        let usage = flags().usage();
        for name in names {
            assert!(
                usage.contains(&format!("  -{name} ")) || usage.contains(&format!("  -{name}\n")),
                "-{name} is not defined"
            );
        }
    }

    #[test]
    fn unsupported_features_and_unknown_keys_are_named() {
        let e = CtConfig::from_args(args(&["-vault-addr=https://v", "-template", "a:b"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "-vault-addr: Vault is not supported by this consul-template"
        );
        assert!(with_file(&format!("{ONE}vault {{}}\nnomad {{}}\n"), &[]).is_ok());
        assert!(with_file(&format!("{ONE}vault {{\n  renew_token = false\n}}\n"), &[]).is_ok());
        for (hcl, want) in [
            ("vault {\n  address = \"https://v\"\n}\n", "vault { address }: Vault is not supported"),
            ("nomad {\n  address = \"n\"\n}\n", "Nomad is not supported"),
            ("deduplicate {\n  ttl = \"soon\"\n}\n", "deduplicate.ttl: invalid duration"),
            ("deduplicate = true\n", "deduplicate: expected a block"),
            ("bogus = 1\n", "invalid key \"bogus\""),
            ("consul {\n  adress = \"x\"\n}\n", "consul: invalid key \"adress\""),
            ("exec {\n  comand = \"x\"\n}\n", "exec: invalid key \"comand\""),
            (
                "template {\n  source = \"a\"\n  destination = \"b\"\n  destnation = \"c\"\n}\n",
                "template: invalid key \"destnation\"",
            ),
            (
                "template {\n  source = \"a\"\n  destination = \"b\"\n  exec {\n    comand = \"x\"\n  }\n}\n",
                "exec: invalid key \"comand\"",
            ),
            (
                "template {\n  source = \"a\"\n  destination = \"b\"\n  function_denylist = 3\n}\n",
                "template { function_denylist }: expected a list of strings",
            ),
            ("log_file {\n  pth = \"x\"\n}\n", "log_file: invalid key \"pth\""),
            ("max_stale = \"soon\"\n", "max_stale"),
        ] {
            let e = with_file(&format!("{ONE}{hcl}"), &[]).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("ct.hcl"), "{hcl}: {e}");
        }
        // Accepted template keys.
        let cfg = with_file(
            "template {\n  contents = \"x\"\n  destination = \"out\"\n  user = \"root\"\n  gid = 0\n  \
             sandbox_path = \"/srv\"\n  function_denylist = []\n  exec {}\n}\n",
            &[],
        )
        .unwrap();
        let t = &cfg.templates[0];
        assert_eq!(t.user.as_deref(), Some("root"));
        assert_eq!(t.group.as_deref(), Some("0"));
        assert_eq!(t.sandbox_path, Some(PathBuf::from("/srv")));
        assert!(t.function_denylist.is_empty() && t.command_env.is_none());
        // A template's exec {}: its command and timeout win over command and command_timeout.
        let cfg = with_file(
            "template {\n  contents = \"x\"\n  destination = \"out\"\n  command = \"old\"\n  \
             command_timeout = \"5s\"\n  function_denylist = [\"sprig_*\", \"plugin\"]\n  \
             function_blacklist = \"file\"\n  exec {\n    command = [\"sh\", \"-c\", \"echo $A\"]\n    \
             timeout = \"2s\"\n    env {\n      pristine = true\n      custom = [\"A=1\"]\n    }\n  }\n}\n",
            &[],
        )
        .unwrap();
        let t = &cfg.templates[0];
        assert_eq!(t.command.as_deref(), Some("sh -c 'echo $A'"));
        assert_eq!(t.command_timeout, std::time::Duration::from_secs(2));
        assert_eq!(t.function_denylist, ["sprig_*", "plugin", "file"]);
        let env = t.command_env.as_ref().unwrap();
        assert!(env.pristine);
        assert_eq!(env.custom, ["A=1"]);
        assert!(matches!(
            CtConfig::from_args(args(&["-v"])),
            Err(FlagError::Help(v)) if v.starts_with("consul-template v")
        ));
        let e = CtConfig::from_args(args(&["-template", "a:b", "extra"])).unwrap_err();
        assert_eq!(e.to_string(), "cli: extra args: [\"extra\"]");
    }
}
