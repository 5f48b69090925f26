//! The runner's side of exec mode: when to start the child (once every template rendered), when
//! to reload it (a destination changed), and its environment (consul-template's, with the
//! Consul variables it exports added).

use discovery_consul::ConsulBackend;
use discovery_core::Result;

use super::child::{Child, ChildExit};
use super::exec::ExecSpec;
use super::signal::Signal;

/// The exec spec of the running configuration and its child, if started.
#[derive(Debug)]
pub(crate) struct Supervisor {
    spec: Option<ExecSpec>,
    consul_env: Vec<String>,
    child: Option<Child>,
}

/// The variables consul-template gives its child on top of `env { custom }` (even a pristine
/// one): `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN` (when set), `CONSUL_HTTP_SSL` and
/// `CONSUL_HTTP_SSL_VERIFY`.
fn consul_env(backend: &ConsulBackend) -> Vec<String> {
    let config = backend.config();
    let https = config.address.starts_with("https://");
    let addr = config
        .address
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let mut env = vec![format!("CONSUL_HTTP_ADDR={addr}")];
    if let Some(t) = &config.token {
        env.push(format!("CONSUL_HTTP_TOKEN={t}"));
    }
    env.push(format!("CONSUL_HTTP_SSL={https}"));
    env.push("CONSUL_HTTP_SSL_VERIFY=true".into());
    env
}

impl Supervisor {
    pub(crate) fn new(spec: Option<ExecSpec>, backend: &ConsulBackend) -> Self {
        Supervisor {
            spec,
            consul_env: consul_env(backend),
            child: None,
        }
    }

    /// After a render pass: a child already running is reloaded when a destination changed;
    /// none yet is started once every template has rendered.
    pub(crate) async fn after_render(&mut self, all_rendered: bool, changed: bool) -> Result<()> {
        let Some(spec) = &self.spec else {
            return Ok(());
        };
        match &mut self.child {
            Some(child) if changed => child.reload().await,
            Some(_) => Ok(()),
            None if all_rendered => {
                let mut spec = spec.clone();
                let mut custom = self.consul_env.clone();
                custom.append(&mut spec.env.custom);
                spec.env.custom = custom;
                self.child = Some(Child::spawn(spec, std::env::vars().collect())?);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Whether a child is running (exec mode, after the first complete render).
    pub(crate) fn has_child(&self) -> bool {
        self.child.is_some()
    }

    /// The child's exit; never, while there is no child.
    pub(crate) async fn wait(&mut self) -> Result<ChildExit> {
        match &mut self.child {
            Some(child) => child.wait().await,
            None => std::future::pending().await,
        }
    }

    /// A signal consul-template passes on ([`Child::forward`]); none without a child.
    pub(crate) async fn forward(&mut self, sig: Signal) -> Result<()> {
        match &mut self.child {
            Some(child) => child.forward(sig).await,
            None => {
                tracing::debug!(signal = %sig, "no child to forward the signal to");
                Ok(())
            }
        }
    }

    /// Stops the child (if any) and forgets it.
    pub(crate) async fn stop(&mut self, immediately: bool) {
        if let Some(mut child) = self.child.take() {
            if let Some(exit) = child.stop(immediately).await {
                tracing::info!("(child) stopped: {exit}");
            }
        }
    }

    /// A reloaded configuration: the child stops (after the splay), and the new spec's starts
    /// once every template has rendered again.
    pub(crate) async fn replace(&mut self, spec: Option<ExecSpec>) {
        self.stop(false).await;
        self.spec = spec;
    }
}
