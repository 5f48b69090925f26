//! confd's global configuration: command-line flags, `confd.toml` and environment.
//!
//! Precedence (documented improvement over confd, whose file silently beats its flags):
//! command-line flags > environment (`CONFD_CLIENT_*`) > `confd.toml` > defaults.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use discovery_core::endpoints::SrvRecord;
use discovery_core::{Error, Result};

use crate::goflags::{parse_duration, FlagError, FlagSet, Kind};
use discovery_render::confd::options::{ConfdOptions, Interval, Mode};
use discovery_render::quiesce::Wait;
use discovery_render::sync::Fsync;

/// Everything the confd CLI runs with.
#[derive(Clone, PartialEq)]
pub struct ConfdConfig {
    /// `etcdv3`, `etcd`, `consul`, `file`, `env` or `memory`.
    pub backend: String,
    /// Backend addresses (`-node`, repeatable).
    pub nodes: Vec<String>,
    /// `-confdir`: holds `conf.d/` and `templates/`.
    pub confdir: PathBuf,
    /// `-interval`: seconds between runs in interval mode.
    pub interval: Duration,
    /// Whether `-interval` (or `CONFD_INTERVAL`, or `interval` in `confd.toml`) was given: with
    /// `-watch`, it adds a full pass every interval.
    pub interval_set: bool,
    /// `-watch`.
    pub watch: bool,
    /// `-onetime`.
    pub onetime: bool,
    /// `-noop`: render and compare, print a diff, change nothing.
    pub noop: bool,
    /// The fork's `-diff-context`: lines of context in `-noop`'s diff (default 3).
    pub diff_context: Option<usize>,
    /// The fork's `-color`: ANSI colours in `-noop`'s diff.
    pub color: bool,
    /// `-sync-only`: write files, skip check and reload commands.
    pub sync_only: bool,
    /// `-keep-stage-file`.
    pub keep_stage_file: bool,
    /// `-prefix`: replaces every resource's prefix when set (confd's semantics).
    pub prefix: Option<String>,
    /// `-log-level`.
    pub log_level: String,
    /// `-client-cert`.
    pub client_cert: Option<PathBuf>,
    /// `-client-key`.
    pub client_key: Option<PathBuf>,
    /// `-client-ca-keys`.
    pub client_cakeys: Option<PathBuf>,
    /// `-basic-auth`.
    pub basic_auth: bool,
    /// `-username`.
    pub username: Option<String>,
    /// `-password` (redacted in `Debug`).
    pub password: Option<String>,
    /// `-auth-token` (redacted in `Debug`).
    pub auth_token: Option<String>,
    /// `-file` (file backend, repeatable).
    pub files: Vec<PathBuf>,
    /// `-scheme`: `https` puts `https://` before the nodes an SRV record gives.
    pub scheme: String,
    /// `-srv-domain`: the SRV record is `_<backend>._tcp.<domain>.`, then (etcd) etcd's own
    /// `_etcd-client._tcp.<domain>` (`_etcd-client-ssl` with `-scheme https`).
    pub srv_domain: Option<String>,
    /// `-srv-record`: the SRV record's full name (beats `-srv-domain`).
    pub srv_record: Option<String>,
    /// Ours: `-gateway`: with no nodes, SRV record or environment variable, use the default
    /// gateway (the Docker host, from a container) before `127.0.0.1`.
    pub gateway: bool,
    /// Ours: `-wait min[:max]` debounce (quiescence) in watch mode; `None` renders at once.
    pub wait: Option<Wait>,
    /// Ours: `-command-timeout` for check and reload commands.
    pub command_timeout: Duration,
    /// Ours: `-watch-grace`: a watch that stays broken this long is reported (exit 1, or the health file).
    pub watch_grace: Duration,
    /// Ours: `-health-file`: written `ok` while every watch is healthy, `lost: ...` otherwise;
    /// with it set, a lost watch does not exit.
    pub health_file: Option<PathBuf>,
    /// Ours: `-fsync before|after|never`: when a written file is made durable. confd never
    /// fsyncs; our default (`after`) renames first, so readers see the change at once, and
    /// fsyncs before any reload command runs.
    pub fsync: Fsync,
    /// Ours: `-metrics-addr` and `-systemd-notify`.
    pub ops: crate::ops::OpsFlags,
    /// abtreece/confd's flags that confd 0.17 lacks (`-log-format`, `-preflight`, ...).
    pub fork: super::fork_cli::ForkFlags,
    /// The fork's `-check-cmd-timeout`: beats `-command-timeout` for check commands.
    pub check_cmd_timeout: Option<Duration>,
    /// The fork's `-reload-cmd-timeout`: beats `-command-timeout` for reload commands.
    pub reload_cmd_timeout: Option<Duration>,
    /// The fork's `-check-config`: check `conf.d` and the templates, then exit (no backend).
    pub check_config: bool,
    /// The fork's `-validate`: load every resource and template (with `-mock-data`, render them
    /// from its keys), then exit (no backend, nothing written).
    pub validate: bool,
    /// The fork's `-mock-data`: a YAML or JSON file of keys for `-validate`, read as the file
    /// backend reads its files.
    pub mock_data: Option<PathBuf>,
    /// The fork's `-resource`: `-check-config` and `-validate` check this resource file only.
    pub resource: Option<PathBuf>,
    /// `-template-functions fork` (`template_functions = "fork"`): abtreece/confd's versions of
    /// the functions it changed (`seq`, `reverse`, ...) instead of confd 0.17's.
    pub fork_functions: bool,
}

impl fmt::Debug for ConfdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConfdConfig")
            .field("backend", &self.backend)
            .field("nodes", &self.nodes)
            .field("confdir", &self.confdir)
            .field("interval", &self.interval)
            .field("interval_set", &self.interval_set)
            .field("watch", &self.watch)
            .field("onetime", &self.onetime)
            .field("noop", &self.noop)
            .field("diff_context", &self.diff_context)
            .field("color", &self.color)
            .field("sync_only", &self.sync_only)
            .field("keep_stage_file", &self.keep_stage_file)
            .field("prefix", &self.prefix)
            .field("log_level", &self.log_level)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("client_cakeys", &self.client_cakeys)
            .field("basic_auth", &self.basic_auth)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("auth_token", &redact(&self.auth_token))
            .field("files", &self.files)
            .field("scheme", &self.scheme)
            .field("srv_domain", &self.srv_domain)
            .field("srv_record", &self.srv_record)
            .field("gateway", &self.gateway)
            .field("wait", &self.wait)
            .field("command_timeout", &self.command_timeout)
            .field("watch_grace", &self.watch_grace)
            .field("health_file", &self.health_file)
            .field("fsync", &self.fsync)
            .field("ops", &self.ops)
            .field("fork", &self.fork)
            .field("check_cmd_timeout", &self.check_cmd_timeout)
            .field("reload_cmd_timeout", &self.reload_cmd_timeout)
            .field("check_config", &self.check_config)
            .field("validate", &self.validate)
            .field("mock_data", &self.mock_data)
            .field("resource", &self.resource)
            .field("fork_functions", &self.fork_functions)
            .finish()
    }
}

impl Default for ConfdConfig {
    fn default() -> Self {
        ConfdConfig {
            backend: "etcd".into(),
            nodes: Vec::new(),
            confdir: PathBuf::from("/etc/confd"),
            interval: Duration::from_secs(600),
            interval_set: false,
            watch: false,
            onetime: false,
            noop: false,
            diff_context: None,
            color: false,
            sync_only: false,
            keep_stage_file: false,
            prefix: None,
            log_level: "info".into(),
            client_cert: None,
            client_key: None,
            client_cakeys: None,
            basic_auth: false,
            username: None,
            password: None,
            auth_token: None,
            files: Vec::new(),
            scheme: "http".into(),
            srv_domain: None,
            srv_record: None,
            gateway: false,
            wait: None,
            command_timeout: Duration::from_secs(60),
            watch_grace: Duration::from_secs(60),
            health_file: None,
            fsync: Fsync::AfterRename,
            ops: crate::ops::OpsFlags::default(),
            fork: Default::default(),
            check_cmd_timeout: None,
            reload_cmd_timeout: None,
            check_config: false,
            validate: false,
            mock_data: None,
            resource: None,
            fork_functions: false,
        }
    }
}

/// `-template-functions`: `confd` (confd 0.17's functions) or `fork` (abtreece/confd's).
fn fork_functions(value: &str) -> Option<bool> {
    match value {
        "confd" => Some(false),
        "fork" => Some(true),
        _ => None,
    }
}

/// confd's flags (all accepted; the ones for backends we do not ship are refused when used).
pub fn flag_set() -> FlagSet {
    let mut f = FlagSet::new("confd");
    let v = Kind::Value;
    let b = Kind::Bool;
    f.define(
        "backend",
        v,
        "backend to use: etcdv3, etcd, consul, file, env, memory",
    )
    .define("node", Kind::Repeated, "list of backend nodes")
    .define("confdir", v, "confd conf directory")
    .define("config-file", v, "the confd config file")
    .define("interval", v, "backend polling interval (seconds)")
    .define("watch", b, "enable watch support")
    .define("onetime", b, "run once and exit")
    .define(
        "noop",
        b,
        "only show pending changes (prints a unified diff)",
    )
    .define("sync-only", b, "sync without check_cmd and reload_cmd")
    .define("keep-stage-file", b, "keep staged files")
    .define(
        "prefix",
        v,
        "key path prefix (replaces each resource's prefix)",
    )
    .define("log-level", v, "level which confd should log messages")
    .define("client-cert", v, "the client cert")
    .define("client-key", v, "the client key")
    .define("client-ca-keys", v, "client ca keys")
    .define(
        "client-insecure",
        b,
        "accepted for compatibility; TLS is always verified",
    )
    .define("basic-auth", b, "use basic auth to authenticate")
    .define("username", v, "the username to authenticate as")
    .define("password", v, "the password to authenticate with")
    .define("auth-token", v, "auth bearer token to use")
    .define("auth-type", v, "vault auth backend type (unsupported)")
    .define(
        "file",
        Kind::Repeated,
        "the YAML/JSON file(s) to watch for changes",
    )
    .define("filter", v, "files filter (default \"*\")")
    .define(
        "scheme",
        v,
        "the backend URI scheme for nodes retrieved from DNS SRV records (http or https)",
    )
    .define("srv-domain", v, "the name of the resource record")
    .define(
        "srv-record",
        v,
        "the SRV record to search for backends nodes. Example: _etcd-client._tcp.example.com",
    )
    .define(
        "gateway",
        b,
        "with no -node, SRV record or ETCDCTL_ENDPOINTS/CONSUL_HTTP_ADDR, use the default gateway (the Docker host) before 127.0.0.1",
    )
    .define("app-id", v, "vault app-id (unsupported)")
    .define("user-id", v, "vault user-id (unsupported)")
    .define("role-id", v, "vault role-id (unsupported)")
    .define("secret-id", v, "vault secret-id (unsupported)")
    .define("path", v, "vault mount path of the auth method (unsupported)")
    .define("table", v, "the name of the DynamoDB table (unsupported)")
    .define(
        "separator",
        v,
        "the separator to replace '/' with when looking up keys (redis, unsupported)",
    )
    .define("version", b, "print version and exit")
    .define(
        "wait",
        v,
        "debounce in watch mode: min[:max] quiescence, e.g. 50ms:500ms (max defaults to 4×min)",
    )
    .define(
        "command-timeout",
        v,
        "timeout of check_cmd and reload_cmd (default 60s)",
    )
    .define(
        "watch-grace",
        v,
        "report a watch that stays broken this long (default 60s)",
    )
    .define(
        "health-file",
        v,
        "write watch health to this file instead of exiting on a lost watch",
    )
    .define(
        "fsync",
        v,
        "when written files are made durable: before (the rename), after (the rename, before reload; default) or never (confd)",
    )
    .define(
        "check-cmd-timeout",
        v,
        "timeout of check_cmd, over -command-timeout (a resource's check_cmd_timeout beats it)",
    )
    .define(
        "reload-cmd-timeout",
        v,
        "timeout of reload_cmd, over -command-timeout (a resource's reload_cmd_timeout beats it)",
    )
    .define(
        "check-config",
        b,
        "check conf.d resources and templates and exit (no backend)",
    )
    .define(
        "validate",
        b,
        "load every resource and template and exit (no backend); with -mock-data, render them too",
    )
    .define(
        "mock-data",
        v,
        "YAML or JSON file of keys (as the file backend reads it) that -validate renders from",
    )
    .define(
        "resource",
        v,
        "with -check-config or -validate: check this resource file only (relative to conf.d)",
    )
    .define(
        "diff",
        b,
        "accepted for abtreece/confd: -noop always prints a unified diff",
    )
    .define(
        "diff-context",
        v,
        "lines of context around each change in -noop's diff (default 3)",
    )
    .define("color", b, "colour -noop's diff (ANSI)")
    .define(
        "template-functions",
        v,
        "confd (confd 0.17's seq, reverse, div, mod, fileExists; default) or fork (abtreece/confd's)",
    );
    crate::ops::define(&mut f);
    super::fork_cli::define(&mut f);
    f
}

impl ConfdConfig {
    /// Builds the configuration from the command line (without the program name) and the
    /// environment. `Ok(None)` means `-version` was asked for.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, FlagError> {
        let mut flags = flag_set();
        let args = super::fork_cli::rewrite(args.into_iter().collect(), &flags);
        flags.parse(args)?;
        // CONFD_<FLAG> for every flag the command line leaves out (CONFD_LOG_LEVEL, CONFD_NODE=a,b).
        flags.fill_from_env("CONFD", &["version"], |v| std::env::var(v).ok())?;
        let mut cfg = ConfdConfig::default();
        let file = flags
            .value("config-file")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/confd/confd.toml"));
        if file.exists() {
            cfg.apply_file(&file)
                .map_err(|e| FlagError::Bad(e.to_string()))?;
        } else {
            tracing::info!(file = %file.display(), "skipping confd config file (not found)");
        }
        for (var, slot) in [
            ("CONFD_CLIENT_CAKEYS", &mut cfg.client_cakeys),
            ("CONFD_CLIENT_CERT", &mut cfg.client_cert),
            ("CONFD_CLIENT_KEY", &mut cfg.client_key),
        ] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    *slot = Some(PathBuf::from(v));
                }
            }
        }
        cfg.apply_flags(&flags)?;
        Ok(cfg)
    }

    fn apply_flags(&mut self, f: &FlagSet) -> Result<(), FlagError> {
        let bad =
            |flag: &str, v: &str| FlagError::Bad(format!("invalid value {v:?} for flag -{flag}"));
        if let Some(v) = f.value("backend") {
            self.backend = v.to_owned();
        }
        self.ops = crate::ops::read(f)?;
        if f.is_set("node") {
            self.nodes = f.values("node").to_vec();
        }
        if let Some(v) = f.value("confdir") {
            self.confdir = PathBuf::from(v);
        }
        if let Some(v) = f.value("interval") {
            self.interval = parse_duration(v).ok_or_else(|| bad("interval", v))?;
            self.interval_set = true;
        }
        for (name, slot) in [
            ("watch", &mut self.watch),
            ("onetime", &mut self.onetime),
            ("noop", &mut self.noop),
            ("color", &mut self.color),
            ("sync-only", &mut self.sync_only),
            ("keep-stage-file", &mut self.keep_stage_file),
            ("basic-auth", &mut self.basic_auth),
        ] {
            if let Some(b) = f.bool(name) {
                *slot = b;
            }
        }
        if let Some(v) = f.value("prefix") {
            self.prefix = Some(v.to_owned());
        }
        if let Some(n) = f.int("diff-context")? {
            self.diff_context = Some(n);
        }
        if let Some(v) = f.value("log-level") {
            self.log_level = v.to_owned();
        }
        for (name, slot) in [
            ("client-cert", &mut self.client_cert),
            ("client-key", &mut self.client_key),
            ("client-ca-keys", &mut self.client_cakeys),
        ] {
            if let Some(v) = f.value(name) {
                *slot = Some(PathBuf::from(v));
            }
        }
        for (name, slot) in [
            ("username", &mut self.username),
            ("password", &mut self.password),
            ("auth-token", &mut self.auth_token),
        ] {
            if let Some(v) = f.value(name) {
                *slot = Some(v.to_owned());
            }
        }
        if f.is_set("file") {
            self.files = f.values("file").iter().map(PathBuf::from).collect();
        }
        if let Some(v) = f.value("scheme") {
            self.scheme = v.to_owned();
        }
        if let Some(v) = f.value("srv-domain") {
            self.srv_domain = Some(v.to_owned()).filter(|v| !v.is_empty());
        }
        if let Some(v) = f.value("srv-record") {
            self.srv_record = Some(v.to_owned()).filter(|v| !v.is_empty());
        }
        if let Some(b) = f.bool("gateway") {
            self.gateway = b;
        }
        self.fork = super::fork_cli::read(f)?;
        self.ops.watchdog_interval = self.fork.watchdog_interval;
        // The fork's -debounce D is -wait D (max 4×D); -batch-interval D is -wait D:D. An
        // explicit -wait wins.
        if let Some(d) = self.fork.batch_interval {
            self.wait = Some(Wait { min: d, max: d });
        }
        if let Some(d) = self.fork.debounce {
            self.wait = Some(Wait { min: d, max: d * 4 });
        }
        if let Some(v) = f.value("wait") {
            self.wait =
                Some(Wait::parse(v).map_err(|e| FlagError::Bad(format!("flag -wait: {e}")))?);
        }
        if let Some(v) = f.value("command-timeout") {
            self.command_timeout = parse_duration(v).ok_or_else(|| bad("command-timeout", v))?;
        }
        for (name, slot) in [
            ("check-cmd-timeout", &mut self.check_cmd_timeout),
            ("reload-cmd-timeout", &mut self.reload_cmd_timeout),
        ] {
            if let Some(v) = f.value(name) {
                *slot = Some(parse_duration(v).ok_or_else(|| bad(name, v))?);
            }
        }
        for (name, slot) in [
            ("check-config", &mut self.check_config),
            ("validate", &mut self.validate),
        ] {
            if let Some(b) = f.bool(name) {
                *slot = b;
            }
        }
        if let Some(v) = f.value("mock-data") {
            self.mock_data = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = f.value("resource") {
            self.resource = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = f.value("template-functions") {
            self.fork_functions = fork_functions(v).ok_or_else(|| bad("template-functions", v))?;
        }
        if self.mock_data.is_some() && !self.validate {
            return Err(FlagError::Bad("flag -mock-data needs -validate".into()));
        }
        if let Some(v) = f.value("watch-grace") {
            self.watch_grace = parse_duration(v).ok_or_else(|| bad("watch-grace", v))?;
        }
        if let Some(v) = f.value("health-file") {
            self.health_file = Some(PathBuf::from(v));
        }
        if let Some(v) = f.value("fsync") {
            self.fsync = match v {
                "before" => Fsync::BeforeRename,
                "after" => Fsync::AfterRename,
                "never" => Fsync::Never,
                _ => return Err(bad("fsync", v)),
            };
        }
        for unsupported in [
            "table",
            "separator",
            "auth-type",
            "app-id",
            "user-id",
            "role-id",
            "secret-id",
            "path",
        ] {
            if f.is_set(unsupported) {
                return Err(FlagError::Bad(format!(
                    "flag -{unsupported} belongs to a backend this confd does not ship (etcdv3, etcd, consul, file, env, memory)"
                )));
            }
        }
        if f.bool("version") == Some(true) {
            return Err(FlagError::Help(format!(
                "confd {} (discovery-examples)",
                env!("CARGO_PKG_VERSION")
            )));
        }
        Ok(())
    }

    /// Applies `confd.toml`. Unknown keys are warned about, not ignored silently.
    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::invalid_config(path.display().to_string(), e.to_string())
        })?;
        let bad = |k: &str, why: &str| {
            Error::invalid_config(format!("{}: {k}", path.display()), why.to_owned())
        };
        let string = |k: &str, v: &toml::Value| -> Result<String> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(k, "expected a string"))
        };
        let boolean = |k: &str, v: &toml::Value| -> Result<bool> {
            v.as_bool().ok_or_else(|| bad(k, "expected true or false"))
        };
        for (key, v) in &table {
            match key.to_ascii_lowercase().as_str() {
                "backend" => self.backend = string(key, v)?,
                "nodes" => {
                    self.nodes = v
                        .as_array()
                        .ok_or_else(|| bad(key, "expected a list of strings"))?
                        .iter()
                        .map(|n| string(key, n))
                        .collect::<Result<_>>()?
                }
                "confdir" => self.confdir = PathBuf::from(string(key, v)?),
                "interval" => {
                    self.interval = Duration::from_secs(
                        v.as_integer()
                            .and_then(|i| u64::try_from(i).ok())
                            .ok_or_else(|| bad(key, "expected seconds"))?,
                    );
                    self.interval_set = true;
                }
                "watch" => self.watch = boolean(key, v)?,
                "noop" => self.noop = boolean(key, v)?,
                "sync-only" | "sync_only" => self.sync_only = boolean(key, v)?,
                "prefix" => self.prefix = Some(string(key, v)?),
                "log-level" | "log_level" => self.log_level = string(key, v)?,
                "client_cert" => self.client_cert = Some(string(key, v)?.into()),
                "client_key" => self.client_key = Some(string(key, v)?.into()),
                "client_cakeys" => self.client_cakeys = Some(string(key, v)?.into()),
                "basic_auth" => self.basic_auth = boolean(key, v)?,
                "username" => self.username = Some(string(key, v)?),
                "password" => self.password = Some(string(key, v)?),
                "auth_token" => self.auth_token = Some(string(key, v)?),
                "scheme" => self.scheme = string(key, v)?,
                "srv_domain" => self.srv_domain = Some(string(key, v)?).filter(|s| !s.is_empty()),
                "srv_record" => self.srv_record = Some(string(key, v)?).filter(|s| !s.is_empty()),
                "onetime" => self.onetime = boolean(key, v)?,
                "check_cmd_timeout" | "reload_cmd_timeout" => {
                    let text = string(key, v)?;
                    let d = discovery_core::parse_go_duration(&text)
                        .ok_or_else(|| bad(key, "expected a duration such as \"30s\""))?;
                    if key.eq_ignore_ascii_case("check_cmd_timeout") {
                        self.check_cmd_timeout = Some(d);
                    } else {
                        self.reload_cmd_timeout = Some(d);
                    }
                }
                "template_functions" | "template-functions" => {
                    self.fork_functions = fork_functions(&string(key, v)?)
                        .ok_or_else(|| bad(key, "expected \"confd\" or \"fork\""))?
                }
                "keepstagefile" | "keep_stage_file" | "keep-stage-file" => {
                    self.keep_stage_file = boolean(key, v)?
                }
                // Accepted as confd does; TLS is always verified here.
                "client_insecure" => {
                    boolean(key, v)?;
                }
                "filter" => {
                    string(key, v)?;
                }
                "table" | "separator" | "auth_type" | "app_id" | "user_id" | "role_id"
                | "secret_id" | "path" => {
                    if !string(key, v)?.is_empty() {
                        return Err(bad(
                            key,
                            "belongs to a backend this confd does not ship (etcdv3, etcd, consul, file, env, memory)",
                        ));
                    }
                }
                "file" => {
                    self.files = match v {
                        toml::Value::Array(a) => a
                            .iter()
                            .map(|n| string(key, n).map(PathBuf::from))
                            .collect::<Result<_>>()?,
                        other => vec![PathBuf::from(string(key, other)?)],
                    }
                }
                other => {
                    tracing::warn!(file = %path.display(), key = other, "unknown key in confd config file; ignored")
                }
            }
        }
        Ok(())
    }

    /// The SRV record(s) to find the backend's nodes in, if `-srv-record` or `-srv-domain` is
    /// set (not for the env and file backends, as in confd).
    pub fn srv_record(&self) -> Option<SrvRecord> {
        srv_record(
            &self.backend,
            &self.scheme,
            self.srv_record.as_deref(),
            self.srv_domain.as_deref(),
        )
    }

    /// The engine's options: `-onetime` beats `-watch`; `-watch` with an `-interval` given
    /// (flag, `CONFD_INTERVAL` or `confd.toml`) watches and also runs a full pass every
    /// interval; else interval mode. An interval of zero (`-interval 0`, `interval = 0` in
    /// `confd.toml`) is refused whatever the mode.
    pub fn options(&self) -> Result<ConfdOptions> {
        let interval = Interval::new(self.interval)?;
        let mode = match (self.onetime, self.watch) {
            (true, _) => Mode::Onetime,
            (false, true) if self.interval_set => Mode::WatchInterval(interval),
            (false, true) => Mode::Watch,
            (false, false) => Mode::Interval(interval),
        };
        let mut o = ConfdOptions::new(mode, &self.confdir);
        o.prefix = self.prefix.clone();
        o.wait = self.wait;
        o.noop = self.noop;
        if let Some(n) = self.diff_context {
            o.diff.context = n;
        }
        o.diff.color = self.color;
        o.sync_only = self.sync_only;
        o.keep_stage_file = self.keep_stage_file;
        o.fsync = self.fsync;
        o.command_timeout = self.command_timeout;
        o.watch_grace = self.watch_grace;
        o.health_file = self.health_file.clone();
        o.check_cmd_timeout = self.check_cmd_timeout;
        o.reload_cmd_timeout = self.reload_cmd_timeout;
        o.fork_functions = self.fork_functions;
        Ok(o)
    }
}

/// The SRV record(s) to find `backend`'s nodes in, if `srv_record` or `srv_domain` is set (not
/// for the env, file and memory backends, as in confd): the global flags' and a `[backend]`
/// table's.
pub fn srv_record(
    backend: &str,
    scheme: &str,
    srv_record: Option<&str>,
    srv_domain: Option<&str>,
) -> Option<SrvRecord> {
    if matches!(backend, "env" | "file" | "memory") {
        return None;
    }
    let etcd = matches!(backend, "etcd" | "etcdv3");
    let mut rec = match (srv_record, srv_domain) {
        (Some(r), _) => SrvRecord::new(r.to_owned()),
        (None, Some(d)) => {
            let d = d.trim_end_matches('.');
            let r = SrvRecord::new(format!("_{backend}._tcp.{d}."));
            if etcd && scheme == "https" {
                r.or(format!("_etcd-client-ssl._tcp.{d}."))
            } else if etcd {
                r.or(format!("_etcd-client._tcp.{d}."))
            } else {
                r
            }
        }
        (None, None) => return None,
    };
    // A bare host:port takes TLS from the client certificate flags; https:// says so.
    if etcd && scheme == "https" {
        rec = rec.with_scheme("https");
    }
    Some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_flag_of_confd_0_17_is_defined() {
        // kelseyhightower/confd 0.17's config.go, in its order.
        let upstream = "auth-token backend basic-auth client-ca-keys client-cert client-key \
            client-insecure confdir config-file file filter interval keep-stage-file log-level \
            node noop onetime prefix version scheme srv-domain srv-record sync-only auth-type \
            app-id user-id role-id secret-id path table separator username password watch";
        let names: Vec<&str> = upstream.split_whitespace().collect();
        assert_eq!(names.len(), 34);
        let f = flag_set();
        for name in names {
            assert!(f.kind_of(name).is_some(), "-{name} is not defined");
        }
    }

    #[test]
    fn flags_beat_the_file() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("confd.toml");
        std::fs::write(
            &file,
            "backend = \"file\"\nnodes = [\"a:1\"]\nwatch = true\nbogus = 1\n",
        )
        .unwrap();
        let cfg = ConfdConfig::from_args(args(&[
            "-config-file",
            file.to_str().unwrap(),
            "-backend",
            "etcdv3",
            "-node",
            "127.0.0.1:2379",
        ]))
        .unwrap();
        assert_eq!(cfg.backend, "etcdv3");
        assert_eq!(cfg.nodes, ["127.0.0.1:2379"]);
        assert!(cfg.watch, "file value kept when no flag is given");
    }

    #[test]
    fn srv_domain_asks_for_confds_record_then_etcds_own() {
        let cfg = |backend: &str, scheme: &str| ConfdConfig {
            backend: backend.into(),
            scheme: scheme.into(),
            srv_domain: Some("example.com".into()),
            ..Default::default()
        };
        let r = cfg("etcdv3", "http").srv_record().unwrap();
        assert_eq!(
            r.names,
            [
                "_etcdv3._tcp.example.com.",
                "_etcd-client._tcp.example.com."
            ]
        );
        assert_eq!(r.scheme, None);
        let r = cfg("etcdv3", "https").srv_record().unwrap();
        assert_eq!(
            r.names,
            [
                "_etcdv3._tcp.example.com.",
                "_etcd-client-ssl._tcp.example.com."
            ]
        );
        assert_eq!(r.scheme.as_deref(), Some("https"));
        let r = cfg("consul", "http").srv_record().unwrap();
        assert_eq!(r.names, ["_consul._tcp.example.com."]);
        assert!(
            cfg("env", "http").srv_record().is_none(),
            "as confd: not for env"
        );
        let mut c = cfg("etcdv3", "http");
        c.srv_record = Some("_etcd-client._tcp.other.org".into());
        assert_eq!(
            c.srv_record().unwrap().names,
            ["_etcd-client._tcp.other.org"]
        );
    }

    #[test]
    fn vault_flags_and_keys_are_refused_by_name() {
        let e = ConfdConfig::from_args(args(&["-config-file", "/nonexistent", "-role-id", "x"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("-role-id") && e.contains("does not ship"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("confd.toml");
        std::fs::write(&file, "srv_domain = \"example.com\"\nrole_id = \"r\"\n").unwrap();
        let e = ConfdConfig::from_args(args(&["-config-file", file.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("role_id") && e.contains("confd.toml"), "{e}");
        std::fs::write(
            &file,
            "srv_domain = \"example.com\"\nrole_id = \"\"\nonetime = true\n",
        )
        .unwrap();
        let c = ConfdConfig::from_args(args(&["-config-file", file.to_str().unwrap()])).unwrap();
        assert_eq!(c.srv_domain.as_deref(), Some("example.com"));
        assert!(c.onetime);
    }

    #[test]
    fn fsync_flag_chooses_when_files_are_made_durable() {
        let base = ["-config-file", "/nonexistent"];
        let with = |extra: &[&str]| {
            let mut a = base.to_vec();
            a.extend_from_slice(extra);
            ConfdConfig::from_args(args(&a))
        };
        assert_eq!(with(&[]).unwrap().fsync, Fsync::AfterRename);
        assert_eq!(
            with(&["-fsync", "before"]).unwrap().fsync,
            Fsync::BeforeRename
        );
        assert_eq!(with(&["-fsync", "never"]).unwrap().fsync, Fsync::Never);
        let err = with(&["-fsync", "sometimes"]).unwrap_err().to_string();
        assert!(err.contains("fsync") && err.contains("sometimes"), "{err}");
    }

    /// The fork's flags and keys (docs/command-line-flags.md, docs/configuration-guide.md).
    #[test]
    fn fork_flags_and_keys() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("confd.toml");
        std::fs::write(
            &file,
            "check_cmd_timeout = \"30s\"\nreload_cmd_timeout = \"2m\"\ntemplate_functions = \"fork\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = ConfdConfig::from_args(args(&["-config-file", f])).unwrap();
        assert_eq!(c.check_cmd_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.reload_cmd_timeout, Some(Duration::from_secs(120)));
        assert!(c.fork_functions && c.options().unwrap().fork_functions);
        let c = ConfdConfig::from_args(args(&[
            "-config-file",
            f,
            "--check-cmd-timeout=5s",
            "-template-functions",
            "confd",
            "--validate",
            "--mock-data",
            "keys.yaml",
            "--resource",
            "app.toml",
            "--diff",
        ]))
        .unwrap();
        assert_eq!(
            c.options().unwrap().check_cmd_timeout,
            Some(Duration::from_secs(5))
        );
        assert!(!c.fork_functions);
        assert!(c.validate && !c.check_config);
        assert_eq!(c.mock_data.as_deref(), Some(Path::new("keys.yaml")));
        assert_eq!(c.resource.as_deref(), Some(Path::new("app.toml")));
        let bad = |a: &[&str]| match ConfdConfig::from_args(args(a)) {
            Err(FlagError::Bad(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = bad(&[
            "-config-file",
            "/nonexistent",
            "-template-functions",
            "sprig",
        ]);
        assert!(
            m.contains("template-functions") && m.contains("sprig"),
            "{m}"
        );
        let m = bad(&["-config-file", "/nonexistent", "-mock-data", "k.json"]);
        assert!(m.contains("-validate"), "{m}");
        std::fs::write(&file, "template_functions = \"x\"\n").unwrap();
        let m = bad(&["-config-file", f]);
        assert!(m.contains("template_functions"), "{m}");
    }

    #[test]
    fn secrets_are_redacted() {
        let cfg = ConfdConfig::from_args(args(&[
            "-password",
            "hunter2",
            "-auth-token",
            "tok-123",
            "-config-file",
            "/nonexistent",
        ]))
        .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("tok-123"),
            "{dbg}"
        );
    }

    #[test]
    fn watch_with_an_interval_given_also_runs_full_passes() {
        let mode = |a: &[&str], file: &str| {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("confd.toml");
            std::fs::write(&f, file).unwrap();
            let mut all = vec!["-config-file", f.to_str().unwrap()];
            all.extend_from_slice(a);
            ConfdConfig::from_args(args(&all))
                .unwrap()
                .options()
                .unwrap()
                .mode
        };
        let every = |s| Mode::WatchInterval(Interval::new(Duration::from_secs(s)).unwrap());
        assert_eq!(
            mode(&["-watch"], ""),
            Mode::Watch,
            "-watch alone never polls"
        );
        assert_eq!(mode(&["-watch", "-interval", "5"], ""), every(5));
        assert_eq!(mode(&[], "watch = true\ninterval = 7\n"), every(7));
        assert_eq!(mode(&["-onetime", "-interval", "5"], ""), Mode::Onetime);
    }

    #[test]
    fn wait_defaults_max_to_four_times_min() {
        let w = |min, max| Wait {
            min: Duration::from_millis(min),
            max: Duration::from_millis(max),
        };
        assert_eq!(Wait::parse("50ms"), Ok(w(50, 200)));
        assert_eq!(Wait::parse("50ms:500ms"), Ok(w(50, 500)));
        assert!(Wait::parse("1s:10ms").is_err());
    }
}
