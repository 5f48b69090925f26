//! Reload commands of written resources: their timeouts (the fork's `reload_cmd_timeout` over
//! `-command-timeout`), one run per distinct command, and the fork's `min_reload_interval`
//! throttle, which here delays a reload instead of dropping it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use discovery_core::Error;
use tokio::time::Instant;

use crate::sync::run_command;

/// What stands for "no timeout" (the fork's `0s`): long enough never to fire.
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The timeout a command runs with: the resource's own (`check_cmd_timeout`,
/// `reload_cmd_timeout`; zero means none, as in the fork) or else the global one.
pub fn effective_timeout(own: Option<Duration>, global: Duration) -> Duration {
    match own {
        Some(d) if d.is_zero() => NO_TIMEOUT,
        Some(d) => d,
        None => global,
    }
}

/// A reload due after a resource's destination was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reload {
    /// The resource's TOML file: the throttle's key.
    pub resource: PathBuf,
    /// The command, `{{.src}}` and `{{.dest}}` already expanded.
    pub command: String,
    /// How long it may run.
    pub timeout: Duration,
    /// The resource's `min_reload_interval`.
    pub min_interval: Option<Duration>,
}

#[cfg(test)]
impl Reload {
    /// A reload of `command` for `resource` with `timeout` and no throttle.
    pub fn new(
        resource: impl Into<PathBuf>,
        command: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Reload {
            resource: resource.into(),
            command: command.into(),
            timeout,
            min_interval: None,
        }
    }
}

/// When each resource last reloaded, for `min_reload_interval`; shared by every pass and watch
/// of a runner, so the interval holds across `conf.d` reloads.
#[derive(Clone, Debug, Default)]
pub struct ReloadLimiter(Arc<Mutex<HashMap<PathBuf, Instant>>>);

impl ReloadLimiter {
    /// How long `reload` must still wait at `now` (`None`: it may run).
    pub fn delay(&self, reload: &Reload, now: Instant) -> Option<Duration> {
        let interval = reload.min_interval?;
        let last = *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&reload.resource)?;
        (last + interval)
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
    }

    /// Records that `reload`'s resource reloaded at `at`.
    fn ran(&self, reload: &Reload, at: Instant) {
        if reload.min_interval.is_some() {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(reload.resource.clone(), at);
        }
    }
}

/// Runs each distinct command of `reloads` once, in order of first appearance (confd runs one
/// per resource; several resources sharing a command reloaded the service several times), and
/// records the run for each resource it served. The errors of the commands that failed.
pub async fn run_now(reloads: Vec<Reload>, limiter: &ReloadLimiter) -> Vec<Error> {
    let mut groups: Vec<(Reload, Vec<Reload>)> = Vec::new();
    for r in reloads {
        match groups
            .iter_mut()
            .find(|(first, _)| first.command == r.command)
        {
            Some((_, served)) => served.push(r),
            None => groups.push((r.clone(), vec![r])),
        }
    }
    let mut errors = Vec::new();
    for (first, served) in groups {
        let started = Instant::now();
        metrics::counter!("discovery_reloads_total").increment(1);
        match run_command("reload_cmd", &first.command, first.timeout).await {
            Ok(_) => {
                tracing::info!(command = %first.command, elapsed_ms = started.elapsed().as_millis() as u64, "reloaded")
            }
            Err(e) => errors.push(e),
        }
        for r in &served {
            limiter.ran(r, started);
        }
    }
    errors
}

/// [`run_now`] for a pass (`-onetime`, interval mode): a reload its resource's
/// `min_reload_interval` holds back waits for the interval's end, then runs.
pub async fn run_pass(reloads: Vec<Reload>, limiter: &ReloadLimiter) -> Vec<Error> {
    let mut errors = Vec::new();
    let mut now = Vec::new();
    let mut later = Vec::new();
    let start = Instant::now();
    for r in reloads {
        match limiter.delay(&r, start) {
            Some(wait) => {
                log_throttled(&r, wait);
                later.push((start + wait, r));
            }
            None => now.push(r),
        }
    }
    errors.extend(run_now(now, limiter).await);
    later.sort_by_key(|(due, _)| *due);
    for (due, r) in later {
        tokio::time::sleep_until(due).await;
        errors.extend(run_now(vec![r], limiter).await);
    }
    errors
}

/// Logs that `reload` waits `wait` for its resource's `min_reload_interval`.
pub fn log_throttled(reload: &Reload, wait: Duration) {
    tracing::warn!(resource = %reload.resource.display(), command = %reload.command,
        next_in_ms = wait.as_millis() as u64,
        "reload throttled by min_reload_interval; it runs at the interval's end");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn own_timeouts_beat_the_global_one_and_zero_is_none() {
        let global = Duration::from_secs(60);
        assert_eq!(effective_timeout(None, global), global);
        assert_eq!(
            effective_timeout(Some(Duration::from_secs(5)), global),
            Duration::from_secs(5)
        );
        assert!(effective_timeout(Some(Duration::ZERO), global) > Duration::from_secs(86400));
    }

    #[tokio::test]
    async fn a_throttled_reload_in_a_pass_runs_at_the_intervals_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut r = Reload::new(
            "a.toml",
            format!("echo a >> {}", log.display()),
            Duration::from_secs(5),
        );
        r.min_interval = Some(Duration::from_millis(400));
        let limiter = ReloadLimiter::default();
        assert!(run_pass(vec![r.clone()], &limiter).await.is_empty());
        let first = Instant::now();
        assert_eq!(lines(&log), ["a"]);
        assert!(limiter.delay(&r, Instant::now()).is_some());
        assert!(run_pass(vec![r.clone()], &limiter).await.is_empty());
        assert_eq!(lines(&log), ["a", "a"], "the second reload was not lost");
        assert!(
            first.elapsed() >= Duration::from_millis(300),
            "it waited for the interval"
        );
        // Without an interval nothing is held back.
        r.min_interval = None;
        assert_eq!(limiter.delay(&r, Instant::now()), None);
    }

    #[tokio::test]
    async fn a_shared_command_runs_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let cmd = format!("echo x >> {}", log.display());
        let t = Duration::from_secs(5);
        let errs = run_now(
            vec![
                Reload::new("a.toml", &cmd, t),
                Reload::new("b.toml", &cmd, t),
            ],
            &ReloadLimiter::default(),
        )
        .await;
        assert!(errs.is_empty());
        assert_eq!(lines(&log), ["x"]);
    }
}
