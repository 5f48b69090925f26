//! The confd engine in-process: keep the files of confd template resources in sync with a
//! [`KvView`] (etcd, Consul, a file, memory), check them, reload what uses them.
//!
//! Signals are not handled here: the `confd` binary maps SIGHUP to [`ConfdHandle::reload`] and
//! SIGINT/SIGTERM to [`ConfdHandle::shutdown`]; an application does what suits it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use discovery_core::{Error, KvView, Result};
use tokio::task::JoinHandle;

use super::backend_table::{BackendFactory, Backends};
use super::commands::{run_pass, ReloadLimiter};
use super::control::{self, Control, Exit, Requester};
use super::options::{ConfdOptions, Mode};
use super::process::{dest_dir_exists, load_resources, process, Processed, Resource};
use super::resource::ResourceSpec;
use super::watch;

/// Renders confd template resources from a [`KvView`], as the `confd` binary does: the same
/// `conf.d` resources, templates, check and reload commands, in the [`Mode`] of its
/// [`ConfdOptions`].
///
/// [`ConfdRunner::start`] spawns it and gives a [`ConfdHandle`] to reload or stop it;
/// [`ConfdRunner::run`] runs it to its end (a [`Mode::Onetime`] pass, or a watch that fails).
///
/// ```
/// use std::sync::Arc;
/// use discovery_core::{Key, KvStore, MemoryBackend};
/// use discovery_render::confd::options::{ConfdOptions, Mode};
/// use discovery_render::confd::runner::ConfdRunner;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let confdir = tempfile::tempdir()?;
/// let dest = confdir.path().join("app.conf");
/// std::fs::create_dir_all(confdir.path().join("conf.d"))?;
/// std::fs::create_dir_all(confdir.path().join("templates"))?;
/// std::fs::write(
///     confdir.path().join("conf.d/app.toml"),
///     format!("[template]\nsrc = \"app.tmpl\"\ndest = {:?}\nkeys = [\"/app\"]\n", dest),
/// )?;
/// std::fs::write(confdir.path().join("templates/app.tmpl"), "port={{getv \"/app/port\"}}\n")?;
///
/// let kv = MemoryBackend::new();
/// kv.put(&Key::new("/app/port")?, "8080".into(), None).await?;
/// let options = ConfdOptions::new(Mode::Onetime, confdir.path());
/// ConfdRunner::new(options, Arc::new(kv)).run().await?;
/// assert_eq!(std::fs::read_to_string(&dest)?, "port=8080\n");
/// # Ok(()) }
/// ```
///
/// # Contract
///
/// - `reload_runs_after_its_file_is_written`: a resource's reload command starts after its
///   destination holds the new content.
/// - `shared_reload_command_runs_once_per_pass`: in [`Mode::Onetime`] and [`Mode::Interval`],
///   the resources written in one pass that share a reload command run it once, after the last
///   of them is written; a pass that writes nothing runs no reload.
/// - `watch_reloads_never_overlap_and_follow_the_last_write`: in [`Mode::Watch`], reload
///   commands never run at the same time; the requests made while one runs are merged into one
///   more run, so a burst of changes gives a few runs, the last of them after the last write.
/// - `failed_check_keeps_the_old_file_and_runs_no_reload`: when a resource's check command
///   fails, its destination keeps its old content and its reload command does not run; in
///   watch mode, the next change to its keys tries again.
/// - `onetime_result_counts_the_failures`: in [`Mode::Onetime`] every resource is processed
///   even when others fail; the result is `Ok` when none failed, else an
///   [`Error::InvalidConfig`] saying how many did.
/// - `interval_mode_rereads_conf_d_every_pass`: in [`Mode::Interval`], every pass reads
///   `conf.d` and the templates again.
/// - `backend_tables_share_one_backend_per_config`: a resource with a `[backend]` table reads
///   the backend the [`backend_factory`](Self::backend_factory) opened for it; tables equal once
///   normalised share one backend, kept across reloads (and, in watch mode, one watch per
///   prefix); without a factory, such a resource fails to load.
/// - `watch_interval_renders_changes_and_repairs_every_interval`: in [`Mode::WatchInterval`],
///   changes render as in [`Mode::Watch`], and every interval all resources are rendered from a
///   fresh read, so a destination changed by someone else is written again.
#[derive(Debug)]
pub struct ConfdRunner {
    options: ConfdOptions,
    source: Source,
    kv: Arc<dyn KvView>,
    backends: Backends,
}

/// Where the resources come from.
#[derive(Debug)]
enum Source {
    /// `<confdir>/conf.d`, read again at every reload.
    ConfDir,
    /// A fixed list; the templates are read again at every reload.
    Specs(Vec<ResourceSpec>),
}

impl ConfdRunner {
    /// A runner for the resources in `<options.confdir>/conf.d`, reading `kv`.
    pub fn new(options: ConfdOptions, kv: Arc<dyn KvView>) -> ConfdRunner {
        ConfdRunner {
            options,
            source: Source::ConfDir,
            kv,
            backends: Backends::default(),
        }
    }

    /// A runner for `resources` (made with [`super::resource::load_spec`] or by hand) instead of
    /// a `conf.d` directory; `options.confdir` and `options.prefix` are not used.
    pub fn with_resources(
        options: ConfdOptions,
        resources: Vec<ResourceSpec>,
        kv: Arc<dyn KvView>,
    ) -> ConfdRunner {
        ConfdRunner {
            options,
            source: Source::Specs(resources),
            kv,
            backends: Backends::default(),
        }
    }

    /// Opens the backends of resources with a `[backend]` table (abtreece/confd's per-resource
    /// backends) with `factory`. Resources whose tables are equal once normalised share one
    /// client, kept across passes and reloads, and in watch mode one watch per prefix. Without
    /// a factory, such a resource fails to load with an error naming its file.
    pub fn backend_factory(mut self, factory: Arc<dyn BackendFactory>) -> ConfdRunner {
        self.backends = Backends::new(Some(factory));
        self
    }

    /// Spawns the runner on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::spawn`].
    pub fn start(self) -> ConfdHandle {
        let (requests, control) = control::channel();
        ConfdHandle {
            requests,
            task: tokio::spawn(self.drive(control)),
        }
    }

    /// Runs on the caller's task until the runner ends: after its pass in [`Mode::Onetime`],
    /// else only when a watch fails (nothing can stop it: use [`ConfdRunner::start`] for that).
    pub async fn run(self) -> Result<()> {
        let (_requests, control) = control::channel();
        self.drive(control).await
    }

    async fn drive(self, mut control: Control) -> Result<()> {
        let ConfdRunner {
            options,
            source,
            kv,
            mut backends,
        } = self;
        // `min_reload_interval` holds across passes and conf.d reloads.
        let limiter = ReloadLimiter::default();
        match options.mode {
            Mode::Onetime => {
                let loaded = load(&options, &source, &mut backends).await;
                let failures = loaded.errors.len()
                    + loaded.waiting.len()
                    + process_all(&options, &kv, &loaded.resources, &limiter).await;
                if failures == 0 {
                    Ok(())
                } else {
                    Err(Error::invalid_config(
                        "confd",
                        format!("{failures} template resource(s) failed"),
                    ))
                }
            }
            // Re-read conf.d and process everything every tick (confd's default mode).
            Mode::Interval(every) => loop {
                // A `[backend]` that did not answer is tried again at the next tick.
                let loaded = load(&options, &source, &mut backends).await;
                process_all(&options, &kv, &loaded.resources, &limiter).await;
                tokio::select! {
                    _ = tokio::time::sleep(every.get()) => {}
                    exit = control.next() => if exit == Exit::Shutdown { return Ok(()) },
                }
            },
            Mode::Watch | Mode::WatchInterval(_) => {
                let loaded = load(&options, &source, &mut backends).await;
                let (mut resources, mut waiting) = (loaded.resources, loaded.waiting);
                loop {
                    // Resources whose `[backend]` did not answer at load: opened in the
                    // background while the others run; the watch restarts once one opens.
                    let mut opened = Vec::new();
                    let any_waiting = !waiting.is_empty();
                    let exit = {
                        let retry = open_waiting(&mut backends, &mut waiting, &mut opened);
                        tokio::pin!(retry);
                        let retry =
                            any_waiting.then_some(
                                retry.as_mut() as Pin<&mut (dyn Future<Output = ()> + Send)>
                            );
                        watch::run(
                            &options,
                            kv.clone(),
                            &resources,
                            &limiter,
                            &mut control,
                            retry,
                        )
                        .await?
                    };
                    resources.append(&mut opened);
                    match exit {
                        Exit::Shutdown => return Ok(()),
                        Exit::Retry => {}
                        Exit::Reload => {
                            tracing::info!("reloading conf.d");
                            let new = load(&options, &source, &mut backends).await;
                            if new.errors.is_empty() {
                                (resources, waiting) = (new.resources, new.waiting);
                            } else {
                                tracing::error!(
                                    failed = new.errors.len(),
                                    kept = resources.len(),
                                    "conf.d reload failed; keeping the resources loaded before"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A running [`ConfdRunner`]. Await it (or [`ConfdHandle::wait`]) for the runner's result.
///
/// ```
/// use std::sync::Arc;
/// use discovery_core::{Key, KvStore, MemoryBackend};
/// use discovery_render::confd::options::{ConfdOptions, Mode};
/// use discovery_render::confd::runner::ConfdRunner;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let confdir = tempfile::tempdir()?;
/// # let dest = confdir.path().join("app.conf");
/// # std::fs::create_dir_all(confdir.path().join("conf.d"))?;
/// # std::fs::create_dir_all(confdir.path().join("templates"))?;
/// # std::fs::write(confdir.path().join("conf.d/app.toml"),
/// #     format!("[template]\nsrc = \"app.tmpl\"\ndest = {dest:?}\nkeys = [\"/app\"]\n"))?;
/// # std::fs::write(confdir.path().join("templates/app.tmpl"), "port={{getv \"/app/port\"}}\n")?;
/// // conf.d/app.toml renders `port={{getv "/app/port"}}` into app.conf.
/// let kv = Arc::new(MemoryBackend::new());
/// let options = ConfdOptions::new(Mode::Watch, confdir.path());
/// let handle = ConfdRunner::new(options, kv.clone()).start();
/// kv.put(&Key::new("/app/port")?, "8080".into(), None).await?;
/// while std::fs::read_to_string(&dest).ok().as_deref() != Some("port=8080\n") {
///     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
/// }
/// handle.reload(); // what the confd binary does on SIGHUP
/// handle.shutdown().await?; // and on SIGINT or SIGTERM
/// # Ok(()) }
/// ```
///
/// # Contract
///
/// - `reload_rereads_conf_d_and_keeps_the_old_set_on_failure`: [`ConfdHandle::reload`] makes
///   the runner read `conf.d` and the templates again (in [`Mode::Interval`], a pass starts at
///   once); in [`Mode::Watch`], if any resource of the new set fails to load, the runner keeps
///   rendering the set it had.
/// - `shutdown_waits_for_the_render_and_reloads_in_flight`: [`ConfdHandle::shutdown`] returns
///   once the runner has finished the pass it is in (rendering, checking and writing each
///   resource it started; in [`Mode::Watch`], the batch of changed resources) and every reload
///   command (and fsync) due for a file written so far has run to its end.
/// - `nothing_runs_after_shutdown`: once [`ConfdHandle::shutdown`] has returned, no render,
///   check or reload command starts, whatever the keys do.
/// - `dropping_the_handle_shuts_the_runner_down`: dropping the handle asks the runner to shut
///   down as [`ConfdHandle::shutdown`] does, without waiting for it.
#[derive(Debug)]
pub struct ConfdHandle {
    requests: Requester,
    task: JoinHandle<Result<()>>,
}

impl ConfdHandle {
    /// Asks the runner to read `conf.d` again (confd's SIGHUP) and returns at once. Requests
    /// made while the runner is busy are kept; several count as one.
    pub fn reload(&self) {
        self.requests.reload();
    }

    /// Asks the runner to stop and waits until it has (see the contract for what it finishes
    /// first); returns its result.
    pub async fn shutdown(self) -> Result<()> {
        self.requests.shutdown();
        self.wait().await
    }

    /// Waits for the runner to end by itself and returns its result: in [`Mode::Onetime`] an
    /// error counting the resources that failed; in [`Mode::Watch`] the error of a watch lost
    /// for longer than [`ConfdOptions::watch_grace`] (without a health file).
    pub async fn wait(self) -> Result<()> {
        self.await
    }
}

impl Future for ConfdHandle {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.task)
            .poll(cx)
            .map(|joined| joined.unwrap_or_else(|e| Err(Error::backend_error("confd", e))))
    }
}

/// What [`load`] read from `conf.d`.
struct Loaded {
    /// Ready to run.
    resources: Vec<Resource>,
    /// Loaded, but their `[backend]` did not answer (a retryable error): watch mode opens them
    /// in the background ([`open_waiting`]), interval mode at its next tick.
    waiting: Vec<Resource>,
    /// Resources that failed to load for good (a bad file, template or `[backend]` table).
    errors: Vec<Error>,
}

/// Loads the resources, logging what was loaded and every resource that failed to load.
/// A resource whose `[backend]` cannot be opened fails to load, or waits for it when the
/// failure is retryable (the backend is down).
async fn load(options: &ConfdOptions, source: &Source, backends: &mut Backends) -> Loaded {
    let (loaded, mut errors) = match source {
        Source::ConfDir => load_resources(options),
        Source::Specs(specs) => {
            let (mut ok, mut errors) = (Vec::new(), Vec::new());
            for spec in specs {
                match Resource::load_in(spec.clone(), options) {
                    Ok(r) => ok.push(r),
                    Err(e) => errors.push(e),
                }
            }
            (ok, errors)
        }
    };
    let mut resources = Vec::with_capacity(loaded.len());
    let mut waiting = Vec::new();
    for mut r in loaded {
        if let Some(config) = &r.spec.backend {
            match backends.get(&r.spec.file, config).await {
                Ok(opened) => r.backend = Some(opened),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(resource = %r.name(), "{e}; waiting for its [backend]");
                    waiting.push(r);
                    continue;
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        }
        resources.push(r);
    }
    for e in &errors {
        tracing::error!("{e}");
    }
    for r in &resources {
        options.health.expect("resource", &r.name());
        tracing::info!(
            resource = %r.name(),
            src = %r.spec.src.display(),
            dest = %r.spec.dest.display(),
            keys = ?r.spec.keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "loaded template resource"
        );
        if !dest_dir_exists(&r.spec.dest) {
            tracing::warn!(resource = %r.name(), dest = %r.spec.dest.display(), "destination directory does not exist");
        }
    }
    Loaded {
        resources,
        waiting,
        errors,
    }
}

/// How soon a `[backend]` that did not answer is tried again (doubling up to the maximum).
const BACKEND_RETRY: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(30),
);

/// Tries the `[backend]` of each `waiting` resource again, with backoff, until at least one
/// opens; moves those that opened into `opened`. Never returns while nothing waits.
async fn open_waiting(
    backends: &mut Backends,
    waiting: &mut Vec<Resource>,
    opened: &mut Vec<Resource>,
) {
    let backoff = discovery_core::Backoff::new(BACKEND_RETRY.0, BACKEND_RETRY.1);
    let mut attempt = 0u32;
    while opened.is_empty() {
        if waiting.is_empty() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt = attempt.saturating_add(1);
        for mut r in std::mem::take(waiting) {
            let Some(config) = r.spec.backend.clone() else {
                opened.push(r);
                continue;
            };
            match backends.get(&r.spec.file, &config).await {
                Ok(o) => {
                    tracing::info!(resource = %r.name(), "[backend] answers; watching it");
                    r.backend = Some(o);
                    opened.push(r);
                }
                Err(e) => {
                    tracing::debug!(resource = %r.name(), "{e}; still waiting for its [backend]");
                    waiting.push(r);
                }
            }
        }
    }
}

/// Fetches, renders and syncs every resource once (one read per resource, at one revision, from
/// its own backend or `kv`), then runs the reload commands of the files written; returns the
/// number of failures.
async fn process_all(
    options: &ConfdOptions,
    kv: &Arc<dyn KvView>,
    resources: &[Resource],
    limiter: &ReloadLimiter,
) -> usize {
    let mut failures = 0;
    let mut reloads = Vec::new();
    for r in resources {
        let result = match r.kv(kv).list(&r.spec.keys).await {
            Ok(snap) => {
                options.health.set_ok("backend", "read");
                // The template's store keeps what it needs; the snapshot goes before rendering.
                let store = r.template.store(&snap);
                drop(snap);
                process(r, &store, options, options.fsync).await
            }
            Err(e) => {
                options.health.set_failing("backend", "read", &e);
                Err(e)
            }
        };
        match result {
            Ok(Processed::Written {
                reload: Some(reload),
            }) => reloads.push(reload),
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                tracing::error!(resource = %r.name(), "{e}");
            }
        }
    }
    let errs = run_pass(reloads, limiter).await;
    for e in &errs {
        tracing::error!("{e}");
    }
    failures + errs.len()
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
