//! consul-template's exec-mode and process flags: `-exec*`, `-kill-signal`, `-reload-signal`
//! and `-pid-file` (the command line beats the config files).

use std::path::PathBuf;

use discovery_render::consul_template::{ExecConfig, Signal};

use crate::goflags::{FlagError, FlagSet, Kind};

/// Defines the flags on `f`.
pub(super) fn define(f: &mut FlagSet) {
    f.define(
        "exec",
        Kind::Value,
        "command to run as a supervised child (exec mode)",
    )
    .define(
        "exec-kill-signal",
        Kind::Value,
        "signal to stop the child with (default SIGINT)",
    )
    .define(
        "exec-kill-timeout",
        Kind::Value,
        "time the child has to stop before SIGKILL (default 30s)",
    )
    .define(
        "exec-reload-signal",
        Kind::Value,
        "signal sent to the child when a template changes (default: restart it)",
    )
    .define(
        "exec-splay",
        Kind::Value,
        "most random time to wait before signalling the child",
    )
    .define(
        "exec-env-pristine",
        Kind::Bool,
        "give the child only the custom environment",
    )
    .define(
        "exec-env-custom",
        Kind::Repeated,
        "KEY=value for the child's environment (repeatable)",
    )
    .define(
        "exec-env-allowlist",
        Kind::Repeated,
        "glob of variables the child gets (repeatable)",
    )
    .define(
        "exec-env-denylist",
        Kind::Repeated,
        "glob of variables the child does not get (repeatable)",
    )
    .define(
        "kill-signal",
        Kind::Value,
        "signal that stops consul-template (default SIGINT)",
    )
    .define(
        "reload-signal",
        Kind::Value,
        "signal that reloads the configuration (default SIGHUP)",
    )
    .define(
        "pid-file",
        Kind::Value,
        "path to write consul-template's PID to",
    );
}

fn signal(f: &FlagSet, name: &str) -> Result<Option<Signal>, FlagError> {
    f.value(name)
        .map(|s| {
            if s.is_empty() {
                Ok(Signal::SIGNULL)
            } else {
                Signal::parse(s)
            }
        })
        .transpose()
        .map_err(|e| {
            FlagError::Bad(format!(
                "invalid value {:?} for flag -{name}: {e}",
                f.value(name).unwrap_or("")
            ))
        })
}

/// What the flags set: exec mode's settings, then `-kill-signal`, `-reload-signal`,
/// `-pid-file`.
pub(super) struct Process {
    pub exec: ExecConfig,
    pub kill_signal: Option<Signal>,
    pub reload_signal: Option<Signal>,
    pub pid_file: Option<PathBuf>,
}

/// Reads the flags.
pub(super) fn read(f: &FlagSet) -> Result<Process, FlagError> {
    let mut exec = ExecConfig::default();
    if let Some(c) = f.value("exec") {
        exec.command = Some(vec![c.to_owned()]);
        exec.enabled = Some(true);
    }
    exec.kill_signal = signal(f, "exec-kill-signal")?;
    exec.kill_timeout = f.duration("exec-kill-timeout")?;
    exec.reload_signal = signal(f, "exec-reload-signal")?;
    exec.splay = f.duration("exec-splay")?;
    exec.env_pristine = f.bool("exec-env-pristine");
    exec.env_custom = f.values("exec-env-custom").to_vec();
    exec.env_allowlist = f.values("exec-env-allowlist").to_vec();
    exec.env_denylist = f.values("exec-env-denylist").to_vec();
    Ok(Process {
        exec,
        kill_signal: signal(f, "kill-signal")?,
        reload_signal: signal(f, "reload-signal")?,
        pid_file: f
            .value("pid-file")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
    })
}
