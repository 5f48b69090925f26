//! gliderlabs/registrator on our [`Registry`]: registers every published port of the Docker
//! host's running containers as a service instance (named and tagged through the containers'
//! `SERVICE_*` environment), following the engine's events, and deregisters it when the container
//! stops. Liveness is the registrations' TTL + keepalive: a crashed registrator's instances expire
//! by themselves.

pub mod docker;
pub mod service;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{Backoff, RegisterOptions, Registration, Registry, Result};
use futures::StreamExt;

pub use docker::{Engine, Event};
pub use service::{instances, Container, ContainerPort, Conventions};

/// The daemon's settings (registrator's flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// How containers become instances.
    pub conventions: Conventions,
    /// TTL of every registration (`-ttl`).
    pub ttl: Duration,
    /// Re-list the containers this often (`-resync`), if set. Every (re)sync registers the
    /// running containers that have no registration and deregisters the ones whose container is
    /// gone (a missed event). registrator's `-cleanup` is therefore always on; dangling entries of
    /// a crashed registrator expire with their TTL.
    pub resync: Option<Duration>,
}

/// This host's name (`/proc/sys/kernel/hostname`, `HOSTNAME`, else `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The running daemon's state: the registrations of each container.
struct Daemon {
    engine: Engine,
    registry: Arc<dyn Registry>,
    config: Config,
    live: HashMap<String, Vec<Registration>>,
}

impl Daemon {
    /// Registers the instances of container `id` unless it already has registrations.
    async fn add(&mut self, id: &str) {
        if self.live.contains_key(id) {
            return;
        }
        let container = match self.engine.inspect(id).await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(container = %short(id), error = %e, "cannot inspect container");
                return;
            }
        };
        let list = match instances(&container, &self.config.conventions) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(container = %container.name, error = %e, "container skipped");
                return;
            }
        };
        let mut regs = Vec::new();
        for inst in list {
            let (service, iid, endpoint) = (inst.service.clone(), inst.id.clone(), inst.endpoint());
            match self
                .registry
                .register(inst, RegisterOptions::with_ttl(self.config.ttl))
                .await
            {
                Ok(r) => {
                    tracing::info!(%service, id = %iid, %endpoint, "registered");
                    regs.push(r);
                }
                Err(e) => {
                    tracing::warn!(%service, id = %iid, error = %e, "registration failed; the next resync retries")
                }
            }
        }
        if !regs.is_empty() {
            self.live.insert(id.to_owned(), regs);
        }
    }

    /// Deregisters the instances of container `id`.
    async fn remove(&mut self, id: &str) {
        for r in self.live.remove(id).unwrap_or_default() {
            let (service, iid) = (r.instance().service.clone(), r.instance().id.clone());
            match r.deregister().await {
                Ok(()) => tracing::info!(%service, id = %iid, "deregistered"),
                Err(e) => {
                    tracing::warn!(%service, id = %iid, error = %e, "deregistration failed; the TTL removes it")
                }
            }
        }
    }

    /// Registers every running container and deregisters the ones no longer running.
    async fn sync(&mut self) -> Result<()> {
        let running = self.engine.running().await?;
        for id in &running {
            self.add(id).await;
        }
        let gone: Vec<String> = self
            .live
            .keys()
            .filter(|k| !running.contains(k))
            .cloned()
            .collect();
        for id in gone {
            self.remove(&id).await;
        }
        Ok(())
    }

    async fn shutdown(&mut self) {
        let ids: Vec<String> = self.live.keys().cloned().collect();
        for id in ids {
            self.remove(&id).await;
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Runs the daemon until `shutdown` completes, then deregisters everything it registered.
/// Engine errors are retried with a backoff; the first listing's error is returned.
pub async fn run(
    engine: Engine,
    registry: Arc<dyn Registry>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut d = Daemon {
        engine,
        registry,
        config,
        live: HashMap::new(),
    };
    tokio::pin!(shutdown);
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let resync_every = d
        .config
        .resync
        .unwrap_or(Duration::from_secs(3600 * 24 * 365));
    let mut resync =
        tokio::time::interval_at(tokio::time::Instant::now() + resync_every, resync_every);
    let mut attempt = 0u32;
    // Subscribe before listing so that no start between the two is missed.
    let mut events = Box::pin(d.engine.events());
    d.sync().await?;
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = resync.tick(), if d.config.resync.is_some() => {
                if let Err(e) = d.sync().await {
                    tracing::warn!(error = %e, "resync failed");
                }
            }
            ev = events.next() => match ev {
                Some(Ok(Event::Start(id))) => { attempt = 0; d.add(&id).await }
                Some(Ok(Event::Stop(id))) => { attempt = 0; d.remove(&id).await }
                other => {
                    if let Some(Err(e)) = &other {
                        tracing::warn!(error = %e, "docker event stream failed; reconnecting");
                    }
                    tokio::time::sleep(backoff.delay(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    events = Box::pin(d.engine.events());
                    if let Err(e) = d.sync().await {
                        tracing::warn!(error = %e, "resync after reconnect failed");
                    }
                }
            }
        }
    };
    d.shutdown().await;
    result
}
