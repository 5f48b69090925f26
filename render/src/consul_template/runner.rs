//! [`CtRunner`]: consul-template in-process — render templates from Consul, run their commands —
//! and the [`CtHandle`] that reloads, stops and awaits it.

use discovery_consul::ConsulBackend;
use discovery_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::options::{CtOptions, Mode};
use super::run::{self, Control, Stop};
use super::store::Store;
use super::tmpl::Tmpl;

/// consul-template's engine: renders [`CtOptions::templates`] from a Consul agent, one shared
/// subscription per thing read (a service's health, a KV prefix, the catalog) across all
/// templates, writes each destination atomically and runs the templates' commands.
///
/// Signals are not handled here: a program maps them onto the [`CtHandle`] (the
/// `consul-template` binary maps SIGHUP to [`CtHandle::reload`], SIGINT and SIGTERM to
/// [`CtHandle::shutdown`]).
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

    async fn drive(self, mut ctl: mpsc::UnboundedReceiver<Control>) -> Result<()> {
        let CtRunner {
            mut options,
            backend,
            mut templates,
        } = self;
        tracing::info!(
            templates = templates.len(),
            mode = ?options.mode,
            dry = options.dry,
            "starting consul-template"
        );
        let mut store = Store::new(backend.clone());
        if options.mode == Mode::Once {
            run::preflight(&backend).await?;
            return run::once(&mut templates, &mut store, options.dry, &mut ctl).await;
        }
        loop {
            match run::watch(&mut templates, &mut store, options.dry, &mut ctl).await? {
                Stop::Shutdown => return Ok(()),
                Stop::Reload(new, reply) => {
                    let loaded = load_all(&new);
                    let answer = loaded.map(|t| {
                        templates = t;
                        options = CtOptions {
                            mode: options.mode,
                            ..*new
                        };
                    });
                    if let Err(e) = &answer {
                        tracing::error!(error = %e, "reload failed; keeping the running templates");
                    }
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// A started [`CtRunner`]: reload it, shut it down, await its end. `Send + Sync`; dropping it
/// shuts the runner down (without waiting).
#[derive(Debug)]
pub struct CtHandle {
    ctl: mpsc::UnboundedSender<Control>,
    task: Option<JoinHandle<Result<()>>>,
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

    /// Waits for the runner to end: `Ok(())` after a shutdown in watch mode or a completed once
    /// run, else the error that ended it. Cancel-safe; once it returned, later calls are
    /// [`Error::Closed`].
    pub async fn wait(&mut self) -> Result<()> {
        let task = self.task.as_mut().ok_or_else(stopped)?;
        let joined = task.await;
        self.task = None;
        match joined {
            Ok(r) => r,
            Err(e) => Err(Error::unavailable("consul-template", e)),
        }
    }
}
