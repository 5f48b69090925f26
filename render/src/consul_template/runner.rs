//! [`CtRunner`]: consul-template in-process — render templates from Consul, run their commands —
//! and the [`CtHandle`] that reloads, stops and awaits it.

use discovery_consul::ConsulBackend;
use discovery_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::child::ChildExit;
use super::dedup::Dedup;
use super::options::{CtOptions, Mode};
use super::run::{self, Control, Stop};
use super::signal::Signal;
use super::store::Store;
use super::supervise::Supervisor;
use super::tmpl::Tmpl;

/// consul-template's engine: renders [`CtOptions::templates`] from a Consul agent, one shared
/// subscription per thing read (a service's health, a KV prefix, the catalog) across all
/// templates, writes each destination atomically and runs the templates' commands.
///
/// Signals are not handled here: a program maps them onto the [`CtHandle`] (the
/// `consul-template` binary maps its reload signal to [`CtHandle::reload`], its kill signal to
/// [`CtHandle::shutdown`] and, in exec mode, any other to [`CtHandle::signal`]).
///
/// ```no_run
/// use discovery_consul::{ConsulBackend, ConsulConfig};
/// use discovery_render::consul_template::{CtOptions, CtRunner, TemplateSpec};
///
/// # async fn example() -> discovery_core::Result<()> {
/// let backend = ConsulBackend::new(ConsulConfig::from_url("consul://127.0.0.1:8500")?)?;
/// let upstreams = TemplateSpec::new("/etc/nginx/conf.d/web.conf")
///     .with_contents("{{range service \"web\"}}server {{.Address}}:{{.Port}};\n{{end}}")
///     .with_command("nginx -s reload");
/// let mut handle = CtRunner::new(CtOptions::new(vec![upstreams]), backend)?.start();
/// // ... later, on SIGTERM:
/// handle.shutdown();
/// handle.wait().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Contract
///
/// - A template's destination is written before its command runs.
/// - Among the templates written in one pass, commands run in configuration order, and a command
///   string shared by several of them runs once.
/// - A render that fails leaves the destination as it was and ends the runner: [`CtHandle::wait`]
///   returns the error.
/// - A command that fails (non-zero exit) ends the runner with that error; its destination has
///   been written.
/// - [`CtHandle::shutdown`] lets the render and commands in progress finish and starts no new
///   one; in watch mode [`CtHandle::wait`] then returns `Ok(())`.
/// - In [`Mode::Once`], [`CtHandle::wait`] returns `Ok(())` once every template was written and
///   the commands ran; a shutdown before every template had its data makes it return an error.
/// - [`CtHandle::reload`] replaces the running templates only when every new one loads;
///   otherwise it returns the error and the running templates go on.
/// - Exec mode ([`CtOptions::exec`]): the child starts once every template has rendered (after
///   their commands ran); a pass that changes a destination then sends it its reload signal, or
///   restarts it when it has none. When the child exits, the runner ends and
///   [`CtHandle::wait`] returns [`Finished::ChildExited`]. A shutdown, or an error that ends the
///   runner, stops it at once (kill signal, then SIGKILL after `kill_timeout`); a successful
///   reload stops it (after the splay) and starts the new configuration's child once every
///   template has rendered again. In [`Mode::Once`] the runner renders, starts the child and
///   waits for it.
/// - [`CtOptions::pid_file`] is written (the process id, no newline) before anything else and
///   removed when the runner ends.
#[derive(Debug)]
pub struct CtRunner {
    options: CtOptions,
    backend: ConsulBackend,
    templates: Vec<Tmpl>,
}

/// Loads (reads and parses) every template of `options`.
fn load_all(options: &CtOptions) -> Result<Vec<Tmpl>> {
    options
        .templates
        .iter()
        .map(|spec| Tmpl::load(spec.clone(), options.wait))
        .collect()
}

impl CtRunner {
    /// A runner of `options` over `backend`. Reads and parses every template now: a missing
    /// source or a template that does not parse is an error here, before anything connects.
    pub fn new(options: CtOptions, backend: ConsulBackend) -> Result<CtRunner> {
        let templates = load_all(&options)?;
        Ok(CtRunner {
            options,
            backend,
            templates,
        })
    }

    /// Starts the runner as a task on the current Tokio runtime (it panics outside one, as
    /// `tokio::spawn` does). Dropping the returned handle shuts the runner down.
    pub fn start(self) -> CtHandle {
        let (ctl, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(self.drive(rx));
        CtHandle {
            ctl,
            task: Some(task),
        }
    }

    async fn drive(self, mut ctl: mpsc::UnboundedReceiver<Control>) -> Result<Finished> {
        let pid_file = self.options.pid_file.clone();
        if let Some(path) = &pid_file {
            tracing::info!(path = %path.display(), "creating pid file");
            std::fs::write(path, std::process::id().to_string()).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        let mut sup = Supervisor::new(self.options.exec.clone(), &self.backend);
        let result = self.serve(&mut ctl, &mut sup).await;
        sup.stop(true).await;
        if let Some(path) = &pid_file {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove the pid file");
            }
        }
        result
    }

    async fn serve(
        self,
        ctl: &mut mpsc::UnboundedReceiver<Control>,
        sup: &mut Supervisor,
    ) -> Result<Finished> {
        let CtRunner {
            mut options,
            backend,
            mut templates,
        } = self;
        tracing::info!(
            templates = templates.len(),
            mode = ?options.mode,
            dry = options.dry,
            exec = options.exec.is_some(),
            "starting consul-template"
        );
        for t in &templates {
            options.health.expect("template", &t.spec.name());
        }
        let mut store = Store::new(backend.clone(), options.health.clone());
        if options.mode == Mode::Once {
            run::preflight(&backend).await?;
            let mut dedup = start_dedup(&options, &backend, &templates)?;
            let exit = run::once(
                &mut templates,
                &mut store,
                &mut dedup,
                options.dry,
                ctl,
                sup,
            )
            .await;
            stop_dedup(dedup).await;
            return Ok(exit?.map_or(Finished::Done, Finished::ChildExited));
        }
        let mut dedup = start_dedup(&options, &backend, &templates)?;
        let result = Self::watch(
            &mut options,
            &backend,
            &mut templates,
            &mut store,
            &mut dedup,
            ctl,
            sup,
        )
        .await;
        stop_dedup(dedup).await;
        result
    }

    /// Watch mode until shutdown, the child's exit or an error, reloading as asked.
    async fn watch(
        options: &mut CtOptions,
        backend: &ConsulBackend,
        templates: &mut Vec<Tmpl>,
        store: &mut Store,
        dedup: &mut Option<Dedup>,
        ctl: &mut mpsc::UnboundedReceiver<Control>,
        sup: &mut Supervisor,
    ) -> Result<Finished> {
        loop {
            match run::watch(templates, store, dedup, options.dry, ctl, sup).await? {
                Stop::Shutdown => return Ok(Finished::Done),
                Stop::ChildExited(exit) => {
                    tracing::info!("{exit}");
                    return Ok(Finished::ChildExited(exit));
                }
                Stop::Reload(new, reply) => {
                    let loaded = load_all(&new);
                    let answer = match loaded {
                        Ok(t) => {
                            *templates = t;
                            *options = CtOptions {
                                mode: options.mode,
                                health: options.health.clone(),
                                ..*new
                            };
                            for t in templates.iter() {
                                options.health.expect("template", &t.spec.name());
                            }
                            sup.replace(options.exec.clone()).await;
                            // The templates (and so their locks) changed: elect anew.
                            stop_dedup(dedup.take()).await;
                            start_dedup(options, backend, templates).map(|d| *dedup = d)
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = &answer {
                        tracing::error!(error = %e, "reload failed; keeping the running templates");
                    }
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// Starts de-duplication when `options` ask for it.
fn start_dedup(
    options: &CtOptions,
    backend: &ConsulBackend,
    templates: &[Tmpl],
) -> Result<Option<Dedup>> {
    options
        .dedup
        .as_ref()
        .map(|d| Dedup::start(backend, d, templates))
        .transpose()
}

async fn stop_dedup(dedup: Option<Dedup>) {
    if let Some(d) = dedup {
        d.stop().await;
    }
}

/// How a [`CtRunner`] ended well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finished {
    /// Shut down (watch mode), or a once run completed without exec mode.
    Done,
    /// Exec mode: the child exited (on its own, or after a forwarded signal); consul-template
    /// exits with [`ChildExit::code`].
    ChildExited(ChildExit),
}

impl Finished {
    /// The exit code consul-template has for it: 0, or the child's.
    pub fn exit_code(&self) -> i32 {
        match self {
            Finished::Done => 0,
            Finished::ChildExited(exit) => exit.code(),
        }
    }
}

/// A started [`CtRunner`]: reload it, shut it down, await its end. `Send + Sync`; dropping it
/// shuts the runner down (without waiting).
#[derive(Debug)]
pub struct CtHandle {
    ctl: mpsc::UnboundedSender<Control>,
    task: Option<JoinHandle<Result<Finished>>>,
}

fn stopped() -> Error {
    Error::Closed {
        backend: "consul-template",
        what: "runner",
    }
}

impl CtHandle {
    /// consul-template's SIGHUP: loads `options`' templates and, only if every one loads,
    /// replaces the running set (and the global `wait` and `dry`; the mode stays) and renders
    /// them all; the subscriptions are kept. A template that does not load is the error
    /// returned, and the running set goes on. A once run refuses reloads; a stopped runner is
    /// [`Error::Closed`].
    pub async fn reload(&self, options: CtOptions) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Control::Reload(Box::new(options), tx))
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Asks the runner to stop once the render and commands in progress finish; returns at
    /// once. Await [`wait`](Self::wait) for the end.
    pub fn shutdown(&self) {
        let _ = self.ctl.send(Control::Shutdown);
    }

    /// Passes `signal` on to the exec child as consul-template does (its reload signal reloads
    /// it, its kill signal stops it, any other is sent as is); nothing without a child. Returns
    /// at once.
    pub fn signal(&self, signal: Signal) {
        let _ = self.ctl.send(Control::Signal(signal));
    }

    /// Waits for the runner to end: [`Finished::Done`] after a shutdown in watch mode or a
    /// completed once run, [`Finished::ChildExited`] when the exec child exited, else the error
    /// that ended it. Cancel-safe; once it returned, later calls are [`Error::Closed`].
    pub async fn wait(&mut self) -> Result<Finished> {
        let task = self.task.as_mut().ok_or_else(stopped)?;
        let joined = task.await;
        self.task = None;
        match joined {
            Ok(r) => r,
            Err(e) => Err(Error::unavailable("consul-template", e)),
        }
    }
}
