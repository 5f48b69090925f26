//! What a [`ConfdRunner`](super::runner::ConfdRunner) runs with: its [`Mode`] and the confd
//! settings (`-noop`, `-sync-only`, `-wait`, ...).

use std::path::PathBuf;
use std::time::Duration;

use discovery_core::health::HealthRegistry;
use discovery_core::{Error, Result};

use crate::quiesce::Wait;
use crate::sync::{Fsync, DEFAULT_COMMAND_TIMEOUT};

/// The time between two passes of [`Mode::Interval`]: never zero.
///
/// ```
/// use std::time::Duration;
/// use discovery_render::confd::options::Interval;
///
/// assert_eq!(Interval::new(Duration::from_secs(30))?.get(), Duration::from_secs(30));
/// let err = Interval::new(Duration::ZERO).unwrap_err();
/// assert!(err.to_string().contains("interval"), "{err}");
/// # Ok::<(), discovery_core::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Interval(Duration);

impl Interval {
    /// confd's default, 600 seconds.
    pub const DEFAULT: Interval = Interval(Duration::from_secs(600));

    /// An interval of `every`. Zero is refused with [`Error::InvalidConfig`] naming `interval`:
    /// it would re-render in a busy loop.
    pub fn new(every: Duration) -> Result<Interval> {
        if every.is_zero() {
            return Err(Error::invalid_config(
                "interval",
                "must be greater than zero (got 0s)",
            ));
        }
        Ok(Interval(every))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl Default for Interval {
    fn default() -> Self {
        Interval::DEFAULT
    }
}

/// When a [`ConfdRunner`](super::runner::ConfdRunner) renders.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// confd's `-onetime`: one pass over every resource, then the runner ends. Its result is an
    /// error counting the resources that failed (to load, render, check, write or reload).
    Onetime,
    /// confd's default mode: a pass over every resource, re-reading `conf.d`, every interval.
    Interval(Interval),
    /// confd's `-watch`: one watch per distinct key prefix; a resource is rendered when one of
    /// its keys changes.
    Watch,
    /// `-watch` with `-interval` (confd and abtreece/confd drop the interval): [`Mode::Watch`],
    /// plus a full pass every interval that reads every watched prefix again and renders every
    /// resource, so that a change a watch missed, or a destination edited behind confd's back,
    /// is repaired within one interval. `conf.d` is read again on reload only, as in watch mode.
    WatchInterval(Interval),
}

impl Mode {
    /// [`Mode::Interval`] of `every`; zero is refused (see [`Interval::new`]).
    pub fn interval(every: Duration) -> Result<Mode> {
        Interval::new(every).map(Mode::Interval)
    }
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Interval(Interval::DEFAULT)
    }
}

/// The settings of a [`ConfdRunner`](super::runner::ConfdRunner), with confd's defaults
/// ([`Default`]): interval mode every 600 s, `confdir` `/etc/confd`.
///
/// ```
/// use std::time::Duration;
/// use discovery_render::confd::options::{ConfdOptions, Mode};
///
/// let mut options = ConfdOptions::new(Mode::Watch, "/etc/confd");
/// options.command_timeout = Duration::from_secs(10);
/// assert_eq!(options.resource_dir(), std::path::Path::new("/etc/confd/conf.d"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConfdOptions {
    /// When to render.
    pub mode: Mode,
    /// confd's `-confdir`: holds `conf.d/` (the resources) and `templates/`.
    pub confdir: PathBuf,
    /// confd's `-prefix`: replaces every resource's prefix when set.
    pub prefix: Option<String>,
    /// `-wait min[:max]`: debounce (quiescence) in watch mode; `None` renders at once.
    pub wait: Option<Wait>,
    /// `-noop`: render and compare, print a unified diff to stdout, change nothing.
    pub noop: bool,
    /// The fork's `-diff-context` and `-color`: how `-noop`'s diff is printed.
    pub diff: crate::sync::DiffStyle,
    /// `-sync-only`: write files, skip check and reload commands.
    pub sync_only: bool,
    /// `-keep-stage-file`: leave the staged file next to the destination.
    pub keep_stage_file: bool,
    /// `-fsync`: when a written file is made durable. With [`Fsync::AfterRename`] (the default)
    /// it is fsynced before its reload command runs.
    pub fsync: Fsync,
    /// `-command-timeout`: how long a check or reload command may run before it is killed.
    pub command_timeout: Duration,
    /// The fork's `-check-cmd-timeout`: beats `command_timeout` for check commands; a
    /// resource's own `check_cmd_timeout` beats both.
    pub check_cmd_timeout: Option<Duration>,
    /// The fork's `-reload-cmd-timeout`: as `check_cmd_timeout`, for reload commands.
    pub reload_cmd_timeout: Option<Duration>,
    /// `-watch-grace`: a watch that stays broken this long is reported: the runner ends with an
    /// error, or, with `health_file`, the file says so.
    pub watch_grace: Duration,
    /// `-health-file`: written `ok` while every watch is healthy, `lost: ...` otherwise; with it
    /// set, a lost watch does not end the runner.
    pub health_file: Option<PathBuf>,
    /// Where the runner reports each watch (`watch <prefix>`: failing while it is broken) and
    /// each resource (`resource <name>`: ready once it has rendered and synced). Share it with a
    /// [`TelemetryServer`](discovery_core::telemetry::TelemetryServer) or read it yourself.
    pub health: HealthRegistry,
    /// Render with [`Dialect::ConfdFork`](crate::Dialect::ConfdFork): abtreece/confd's
    /// versions of `seq`, `reverse`, `div`, `mod` and `fileExists` instead of confd 0.17's
    /// (the fork's added functions are there either way). Default `false`.
    pub fork_functions: bool,
}

impl Default for ConfdOptions {
    fn default() -> Self {
        ConfdOptions {
            mode: Mode::default(),
            confdir: PathBuf::from("/etc/confd"),
            prefix: None,
            wait: None,
            noop: false,
            diff: crate::sync::DiffStyle::default(),
            sync_only: false,
            keep_stage_file: false,
            fsync: Fsync::AfterRename,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            check_cmd_timeout: None,
            reload_cmd_timeout: None,
            watch_grace: Duration::from_secs(60),
            health_file: None,
            health: HealthRegistry::new(),
            fork_functions: false,
        }
    }
}

impl ConfdOptions {
    /// The defaults with `mode` and `confdir`.
    pub fn new(mode: Mode, confdir: impl Into<PathBuf>) -> Self {
        ConfdOptions {
            mode,
            confdir: confdir.into(),
            ..ConfdOptions::default()
        }
    }

    /// `<confdir>/conf.d`.
    pub fn resource_dir(&self) -> PathBuf {
        self.confdir.join("conf.d")
    }

    /// `<confdir>/templates`.
    pub fn template_dir(&self) -> PathBuf {
        self.confdir.join("templates")
    }
}
