//! Watch mode's reload worker: makes written files durable and runs reload commands on a thread
//! of its own, so a slow fsync or reload never delays the next render. (Starting a command
//! blocks the starting thread until the child has exec'd, up to several milliseconds; an fsync
//! blocks it until the disk answers: neither may happen on the render loop's thread.)
//!
//! Guarantees, for every file the loop writes:
//! - with `-fsync after`, the destination is fsynced (file and directory) before the reload
//!   command of that write starts;
//! - reload commands never overlap, and run in order of first appearance;
//! - a write always has a reload that starts after it: requests made while a batch runs are
//!   collected and run as one more batch (a burst of writes gives a few reloads, not one per
//!   write), and [`Reloader::drain`] runs what is still pending before watch mode returns;
//! - a resource with `min_reload_interval` reloads at most once per interval: a reload asked
//!   for sooner waits for the interval's end (several such requests give one reload, with the
//!   latest command), except at [`Reloader::drain`], which runs it at once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::sync::make_durable;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::commands::{log_throttled, run_now, Reload, ReloadLimiter};

#[derive(Debug, Default)]
struct Pending {
    /// Destinations to fsync before the batch's commands run.
    durable: Vec<PathBuf>,
    /// Reloads (duplicate commands are run once by [`run_now`]).
    commands: Vec<Reload>,
    /// No more requests: finish what is pending, then stop.
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Pending) -> T) -> T {
        f(&mut self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The worker and its queue (one per watch-mode run).
#[derive(Debug)]
pub struct Reloader {
    shared: Arc<Shared>,
    done: Done,
}

#[derive(Debug)]
enum Done {
    /// The worker's thread signals its end.
    Thread(oneshot::Receiver<()>),
    /// No thread could be started: the worker runs as a task of the caller's runtime.
    Task(JoinHandle<()>),
}

impl Reloader {
    /// Starts the worker; `limiter` applies each resource's `min_reload_interval`.
    pub fn spawn(limiter: ReloadLimiter) -> Reloader {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = oneshot::channel();
        let worker = shared.clone();
        let limiter_for_thread = limiter.clone();
        let started = std::thread::Builder::new()
            .name("confd-reload".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(work(worker, limiter_for_thread)),
                    Err(e) => tracing::error!(error = %e, "reload worker: no runtime"),
                }
                let _ = tx.send(());
            });
        let done = match started {
            Ok(_) => Done::Thread(rx),
            Err(e) => {
                tracing::warn!(error = %e, "no reload thread; reloading on the watch loop's");
                Done::Task(tokio::spawn(work(shared.clone(), limiter)))
            }
        };
        Reloader { shared, done }
    }

    /// Queues what follows a write: fsync `durable` (if any), then run `command` (if any).
    pub fn submit(&self, durable: Option<PathBuf>, command: Option<Reload>) {
        if durable.is_none() && command.is_none() {
            return;
        }
        self.shared.with(|p| {
            p.durable.extend(durable);
            p.commands.extend(command);
        });
        self.shared.wake.notify_one();
    }

    /// Runs what is pending (the current batch and the queued one), then stops the worker.
    pub async fn drain(self) {
        self.shared.with(|p| p.closed = true);
        self.shared.wake.notify_one();
        match self.done {
            Done::Thread(rx) => {
                if rx.await.is_err() {
                    tracing::error!("reload worker failed");
                }
            }
            Done::Task(task) => {
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "reload worker failed");
                }
            }
        }
    }
}

async fn work(shared: Arc<Shared>, limiter: ReloadLimiter) {
    // Reloads held back by `min_reload_interval`: when each may run (one per resource).
    let mut deferred: Vec<(Instant, Reload)> = Vec::new();
    loop {
        let next_due = deferred.iter().map(|(due, _)| *due).min();
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {}
        }
        loop {
            let (durable, commands, closed) = shared.with(|p| {
                let batch = (
                    std::mem::take(&mut p.durable),
                    std::mem::take(&mut p.commands),
                );
                (batch.0, batch.1, p.closed)
            });
            let now = Instant::now();
            // Due deferred reloads join the batch; new requests of a throttled resource replace
            // its deferred one.
            let mut to_run = Vec::new();
            let mut i = 0;
            while i < deferred.len() {
                if closed || deferred[i].0 <= now {
                    to_run.push(deferred.remove(i).1);
                } else {
                    i += 1;
                }
            }
            for r in commands {
                match limiter.delay(&r, now).filter(|_| !closed) {
                    Some(wait) => {
                        log_throttled(&r, wait);
                        deferred.retain(|(_, d)| d.resource != r.resource);
                        deferred.push((now + wait, r));
                    }
                    None => {
                        to_run.retain(|d: &Reload| {
                            d.resource != r.resource || r.min_interval.is_none()
                        });
                        to_run.push(r);
                    }
                }
            }
            if durable.is_empty() && to_run.is_empty() {
                if closed {
                    return;
                }
                break;
            }
            for path in durable {
                if let Err(e) = make_durable(&path) {
                    tracing::error!(error = %e, "cannot make the file durable");
                }
            }
            for e in run_now(to_run, &limiter).await {
                tracing::error!(error = %e, "reload failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn reload(cmd: &str) -> Reload {
        Reload::new("r.toml", cmd, Duration::from_secs(5))
    }

    fn lines(path: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_during_a_reload_are_run_once_more_after_it_and_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // Each reload logs its start and end; a slow one gives the next requests time to pile up.
        let cmd = format!(
            "echo start >> {0}; sleep 0.2; echo end >> {0}",
            log.display()
        );
        let r = Reloader::spawn(ReloadLimiter::default());
        r.submit(None, Some(reload(&cmd)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..5 {
            r.submit(None, Some(reload(&cmd)));
        }
        r.drain().await;
        assert_eq!(lines(&log), ["start", "end", "start", "end"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drain_runs_what_is_pending_and_fsyncs_before_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        std::fs::write(&dest, "x").unwrap();
        let log = dir.path().join("log");
        let r = Reloader::spawn(ReloadLimiter::default());
        r.submit(
            Some(dest.clone()),
            Some(reload(&format!(
                "cat {} >> {}",
                dest.display(),
                log.display()
            ))),
        );
        // A missing file is an error in the log, not a stop of the worker.
        r.submit(Some(dir.path().join("missing")), None);
        r.drain().await;
        assert_eq!(lines(&log), ["x"]);
    }

    /// `min_reload_interval`: a burst of writes gives one reload now and one at the interval's
    /// end (none lost, none in between); the fork drops the second.
    #[tokio::test(flavor = "current_thread")]
    async fn min_reload_interval_delays_and_merges_instead_of_dropping() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut r = reload(&format!("date +%s%N >> {}", log.display()));
        r.min_interval = Some(Duration::from_millis(600));
        let worker = Reloader::spawn(ReloadLimiter::default());
        worker.submit(None, Some(r.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..4 {
            worker.submit(None, Some(r.clone()));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(lines(&log).len(), 1, "held back within the interval");
        tokio::time::sleep(Duration::from_millis(700)).await;
        let runs: Vec<u128> = lines(&log).iter().map(|l| l.parse().unwrap()).collect();
        assert_eq!(runs.len(), 2, "one more reload at the interval's end");
        assert!(runs[1] - runs[0] >= 550_000_000, "{runs:?}");
        // A request inside the new interval is run by drain at once rather than lost.
        worker.submit(None, Some(r.clone()));
        worker.drain().await;
        assert_eq!(lines(&log).len(), 3);
    }
}
