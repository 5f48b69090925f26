//! gliderlabs/registrator on our [`Registry`]: registers every
//! published port of the Docker host's running containers as a service instance (named, tagged
//! and health-checked through the containers' `SERVICE_*` environment and labels), following the
//! engine's events, and deregisters it when the container stops. Liveness is the registrations'
//! TTL + keepalive: a crashed registrator's instances expire by themselves, and `-cleanup`
//! removes them at once on the next start.
//!
//! Behind the `registrator` feature (default off), which pulls in the Docker client `bollard`.
//! The engine lives here, beside the [`Registry`] trait, because that
//! backend-agnostic trait is all it needs: it belongs neither in one backend's crate nor in the
//! template renderer. Opening a backend from a registry URI (`etcd://`, `consul://`, ...) needs
//! the backend crates and stays with the `registrator` binary (`discovery-examples`), which
//! hands [`run`] a [`Backend`].
//!
//! The parts: [`Engine`] (the Docker engine: containers, their state, their events),
//! [`plan`] (registrator's conventions, from a [`Container`] to [`Planned`] instances and
//! checks), [`Sweeper`] (`-cleanup`), and [`run`], the daemon that ties them together.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use discovery_core::registrator::{hostname, run, Backend, Config, Conventions, Engine, Sweeper};
//! use discovery_core::{Codec, Key, Layout, MemoryBackend};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> discovery_core::Result<()> {
//! // Any Registry works; the sweeper finds this host's leftovers for `cleanup`.
//! let layout = Layout::new(Key::new("/services")?, Codec::Plain);
//! let registry = MemoryBackend::with_layout(layout.clone());
//! let backend = Backend {
//!     registry: Arc::new(registry.clone()),
//!     sweeper: Sweeper::Kv { store: Arc::new(registry), layout },
//! };
//! let config = Config {
//!     conventions: Conventions { hostname: hostname(), ..Default::default() },
//!     ttl: Duration::from_secs(15),
//!     resync: Some(Duration::from_secs(30)),
//!     deregister: Default::default(),
//!     cleanup: true,
//!     health: Default::default(),
//! };
//! // Needs a Docker engine (`DOCKER_HOST`, else the local socket). Runs until `shutdown`
//! // completes (here after a minute; the binary waits for SIGTERM), then deregisters
//! // everything it registered.
//! let shutdown = async { tokio::time::sleep(Duration::from_secs(60)).await };
//! run(Engine::connect()?, backend, config, shutdown).await
//! # }
//! ```
//!
//! Deregistration (`-deregister`), as registrator's bridge does it:
//! - `always` (default): a container's instances go when it stops — at the `kill` event of
//!   `docker stop`/`docker kill` with `TERM`, `KILL`, `INT` or `QUIT` (a `HUP` or `USR1` meant
//!   to reload a server does not count), or at `die`, `stop` or `destroy`, whichever comes first.
//! - `on-success`: only at `die` with exit code 0 or with the signal bit (128) set — a container
//!   stopped or killed by a signal, as registrator's `shouldRemove` decides — or when the
//!   container is removed. A container that exited with another code keeps its instances (kept
//!   alive by this daemon, as registrator keeps them without a TTL) until it is removed
//!   (`destroy`, or gone at a resync) or started again (then registered afresh). The exit code
//!   comes from the event's `exitCode`, else from inspecting the container; a container already
//!   gone is deregistered.
//!
//! `-cleanup`: after the first listing and after every resync, instances of this host
//! (`<hostname>:<container>:<port>[:udp]`, see [`sweep::is_host_id`]) that this daemon does not
//! hold are removed from the registry ([`sweep::Sweeper`]). Without it, such leftovers expire
//! with their TTL.

pub mod docker;
pub mod service;
pub mod sweep;

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    Backoff, CheckKind, Error, RegisterOptions, Registration, Registry, Result, ServiceInstance,
};
use futures::StreamExt;

pub use docker::{Engine, Event, State};
pub use service::{instances, plan, Container, ContainerPort, Conventions, Planned};
pub use sweep::{AgentServices, Held, Sweeper};

/// An opened registry: where instances are registered, and how dangling ones are found.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Registers the instances.
    pub registry: Arc<dyn Registry>,
    /// Pings the registry and removes dangling instances (`-cleanup`).
    pub sweeper: Sweeper,
}

/// When a container's instances are deregistered (`-deregister`); see the module documentation.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Deregister {
    /// Whenever the container stops.
    #[default]
    Always,
    /// Only when it exits with code 0 or because of a signal, or is removed.
    OnSuccess,
}

impl FromStr for Deregister {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "always" => Ok(Deregister::Always),
            "on-success" => Ok(Deregister::OnSuccess),
            other => Err(Error::invalid_config(
                "-deregister",
                format!("{other:?}: must be \"always\" or \"on-success\""),
            )),
        }
    }
}

impl Deregister {
    /// Whether a container that exited with `code` is deregistered.
    pub fn removes_exit(self, code: i64) -> bool {
        match self {
            Deregister::Always => true,
            Deregister::OnSuccess => code == 0 || code & 128 == 128,
        }
    }
}

/// The daemon's settings (registrator's flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// How containers become instances.
    pub conventions: Conventions,
    /// TTL of every registration (`-ttl`).
    pub ttl: Duration,
    /// Re-list the containers this often (`-resync`), if set. Every (re)sync registers the
    /// running containers that have no registration and deregisters the ones whose container
    /// stopped (a missed event), under the `deregister` rule.
    pub resync: Option<Duration>,
    /// `-deregister`.
    pub deregister: Deregister,
    /// `-cleanup`: remove this host's dangling instances after every (re)sync.
    pub cleanup: bool,
    /// Where the daemon reports: `docker events` (failing while the event stream is broken)
    /// and the readiness item `registrator sync`, done after the first sync of the running
    /// containers.
    pub health: crate::health::HealthRegistry,
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
    backend: Backend,
    config: Config,
    /// Registrations of running containers.
    live: HashMap<String, Vec<Registration>>,
    /// `on-success`: registrations kept for containers that exited with a failure.
    exited: HashMap<String, Vec<Registration>>,
}

impl Daemon {
    /// Registers one planned instance; a script check the agent refuses is dropped with a warning.
    async fn register(&self, p: Planned) -> Result<Registration> {
        let opts = RegisterOptions::with_ttl(self.config.ttl);
        let script = matches!(
            p.check.as_ref().map(|c| &c.kind),
            Some(CheckKind::Script { .. })
        );
        let with_check = match &p.check {
            Some(c) => opts.clone().check(c.clone()),
            None => opts.clone(),
        };
        match self
            .backend
            .registry
            .register(p.instance.clone(), with_check)
            .await
        {
            Err(Error::Unsupported { operation, .. }) if script => {
                tracing::warn!(
                    service = %p.instance.service,
                    id = %p.instance.id,
                    "the registry refuses SERVICE_CHECK_SCRIPT / SERVICE_CHECK_CMD ({operation}); \
                     registering without that check"
                );
                self.backend.registry.register(p.instance, opts).await
            }
            other => other,
        }
    }

    /// Registers the instances of container `id` unless it already has registrations (a
    /// container kept in `exited` is registered afresh).
    async fn add(&mut self, id: &str) {
        if self.live.contains_key(id) {
            return;
        }
        if let Some(old) = self.exited.remove(id) {
            deregister_all(id, old).await;
        }
        let container = match self.engine.inspect(id).await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(container = %short(id), error = %e, "cannot inspect container");
                return;
            }
        };
        let list = match plan(&container, &self.config.conventions) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(container = %container.name, error = %e, "container skipped");
                return;
            }
        };
        let mut regs = Vec::new();
        for p in list {
            let (service, iid, endpoint) = (
                p.instance.service.clone(),
                p.instance.id.clone(),
                p.instance.endpoint(),
            );
            let check = p.check.as_ref().map_or("none", |c| c.kind.name());
            match self.register(p).await {
                Ok(r) => {
                    tracing::info!(%service, id = %iid, %endpoint, check, "registered");
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

    /// Deregisters the instances of container `id` (running or kept).
    async fn remove(&mut self, id: &str) {
        let mut regs = self.live.remove(id).unwrap_or_default();
        regs.extend(self.exited.remove(id).unwrap_or_default());
        deregister_all(id, regs).await;
    }

    /// The container `id` exited with `code` (`None`: unknown, ask the engine).
    async fn settle_exit(&mut self, id: &str, code: Option<i64>) {
        if !self.live.contains_key(id) {
            return;
        }
        let code = match code {
            Some(c) => c,
            None => match self.engine.state(id).await {
                Ok(State::Exited(c)) => c,
                Ok(State::Gone) => return self.remove(id).await,
                Ok(State::Running) => return,
                Err(e) => {
                    tracing::warn!(container = %short(id), error = %e, "cannot read the exit code; keeping its services");
                    return self.keep(id, None);
                }
            },
        };
        if self.config.deregister.removes_exit(code) {
            self.remove(id).await;
        } else {
            self.keep(id, Some(code));
        }
    }

    /// Keeps the registrations of the exited container `id` until it is removed or restarted.
    fn keep(&mut self, id: &str, code: Option<i64>) {
        if let Some(regs) = self.live.remove(id) {
            tracing::info!(
                container = %short(id),
                exit_code = code,
                services = regs.len(),
                "container failed; -deregister on-success keeps its services until it is removed"
            );
            self.exited.insert(id.to_owned(), regs);
        }
    }

    async fn on_event(&mut self, ev: Event) {
        let always = self.config.deregister == Deregister::Always;
        match ev {
            Event::Start(id) => self.add(&id).await,
            Event::Kill { id, signal } if always && Event::kill_terminates(signal) => {
                self.remove(&id).await
            }
            Event::Die { id, exit_code } => {
                if always {
                    self.remove(&id).await
                } else {
                    self.settle_exit(&id, exit_code).await
                }
            }
            Event::Stop(id) if always => self.remove(&id).await,
            Event::Destroy(id) => self.remove(&id).await,
            Event::Kill { .. } | Event::Stop(_) => {}
        }
    }

    /// Registers every running container, settles the ones no longer running, then (with
    /// `-cleanup`) removes this host's dangling instances.
    async fn sync(&mut self) -> Result<()> {
        let running = self.engine.running().await?;
        for id in &running {
            self.add(id).await;
        }
        let stopped: Vec<String> = self
            .live
            .keys()
            .filter(|k| !running.contains(k))
            .cloned()
            .collect();
        for id in stopped {
            match self.config.deregister {
                Deregister::Always => self.remove(&id).await,
                Deregister::OnSuccess => self.settle_exit(&id, None).await,
            }
        }
        if !self.exited.is_empty() {
            let all = self.engine.all().await?;
            let gone: Vec<String> = self
                .exited
                .keys()
                .filter(|k| !all.contains(k))
                .cloned()
                .collect();
            for id in gone {
                self.remove(&id).await;
            }
        }
        if self.config.cleanup {
            self.cleanup().await;
        }
        Ok(())
    }

    /// `-cleanup`: removes this host's instances that no registration of this daemon holds.
    async fn cleanup(&self) {
        let held: Held = self
            .live
            .values()
            .chain(self.exited.values())
            .flatten()
            .map(|r| {
                let i: &ServiceInstance = r.instance();
                (i.service.to_string(), i.id.to_string())
            })
            .collect();
        let host = &self.config.conventions.hostname;
        match self.backend.sweeper.sweep(host, &held).await {
            Ok(removed) => {
                for i in removed {
                    tracing::info!(service = %i.service, id = %i.id, "dangling service removed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cleanup failed; the next resync retries"),
        }
    }

    async fn shutdown(&mut self) {
        let ids: Vec<String> = self
            .live
            .keys()
            .chain(self.exited.keys())
            .cloned()
            .collect();
        for id in ids {
            self.remove(&id).await;
        }
    }
}

async fn deregister_all(container: &str, regs: Vec<Registration>) {
    for r in regs {
        let (service, iid) = (r.instance().service.clone(), r.instance().id.clone());
        match r.deregister().await {
            Ok(()) => {
                tracing::info!(container = %short(container), %service, id = %iid, "deregistered")
            }
            Err(e) => {
                tracing::warn!(%service, id = %iid, error = %e, "deregistration failed; the TTL removes it")
            }
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Runs the daemon until `shutdown` completes, then deregisters everything it registered.
/// Engine errors are retried with a backoff; the first listing's error is returned. See the
/// [module documentation](self) for an example and the `-deregister` / `-cleanup` rules.
///
/// # Contract
///
/// Each promise names the test that backs it; `tests/tests/registrator.rs` runs the
/// `registrator` binary of `discovery-examples` (flag parsing and [`Backend`] opening around
/// this function) against the real Docker engine and a real etcd or Consul.
///
/// - The containers running when `run` starts, and those started later, are registered (one
///   instance per published port, as [`plan`] maps them), each by a registration of
///   `config.ttl` that this daemon keeps alive (`registrator_follows_containers_into_etcd`,
///   `registrator_follows_containers_into_consul`; the mapping: the unit tests of [`service`]).
/// - If the process dies without deregistering, its instances expire with their TTL (same
///   tests).
/// - Under [`Deregister::Always`], a container's instances are deregistered when it stops,
///   within a second of `docker stop` returning (same tests).
/// - Under [`Deregister::OnSuccess`], a container that exits with a failure keeps its
///   instances, kept alive past the TTL, until it is removed (then they are deregistered) or
///   started again (then registered afresh); one that exits with code 0 is deregistered at once
///   (`deregister_on_success_keeps_failed_containers_until_removed`; which exit codes count:
///   `deregister_modes_follow_registrators_should_remove`).
/// - A health check the registry refuses as [`Error::Unsupported`] (a script check on a Consul
///   agent without script checks) is dropped with a warning, and the instance is registered
///   without it (`consul_gets_the_service_check_next_to_the_ttl_check`).
/// - With `config.cleanup`, after the first listing and after every resync, this host's
///   instances that the daemon does not hold are removed from the registry, and no others
///   (`cleanup_removes_only_this_hosts_dangling_entries`; [`Sweeper`]'s unit tests).
/// - When the Docker event stream fails, `run` subscribes again after a backoff and re-lists
///   the containers: one started while it was cut off is registered, one stopped meanwhile is
///   deregistered, without waiting for `config.resync`
///   (`docker_reconnect_resyncs_and_shutdown_deregisters`).
/// - When `shutdown` completes, every instance it registered is deregistered before `run`
///   returns `Ok(())` (`docker_reconnect_resyncs_and_shutdown_deregisters`).
/// - An error of the first listing (no Docker engine answers) is returned
///   (`no_docker_engine_is_an_error_at_start`).
pub async fn run(
    engine: Engine,
    backend: Backend,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut d = Daemon {
        engine,
        backend,
        config,
        live: HashMap::new(),
        exited: HashMap::new(),
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
    let health = d.config.health.clone();
    health.expect("registrator", "sync");
    d.sync().await?;
    health.set_ok("docker", "events");
    health.mark_ready("registrator", "sync");
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = resync.tick(), if d.config.resync.is_some() => {
                if let Err(e) = d.sync().await {
                    tracing::warn!(error = %e, "resync failed");
                }
            }
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if attempt > 0 {
                        health.set_ok("docker", "events");
                    }
                    attempt = 0;
                    d.on_event(ev).await
                }
                other => {
                    match &other {
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "docker event stream failed; reconnecting");
                            health.set_failing("docker", "events", e);
                        }
                        _ => health.set_failing("docker", "events", "the event stream ended"),
                    }
                    tokio::time::sleep(backoff.delay(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    events = Box::pin(d.engine.events());
                    match d.sync().await {
                        Ok(()) => health.set_ok("docker", "events"),
                        Err(e) => tracing::warn!(error = %e, "resync after reconnect failed"),
                    }
                }
            }
        }
    };
    d.shutdown().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deregister_modes_follow_registrators_should_remove() {
        assert_eq!("always".parse::<Deregister>().unwrap(), Deregister::Always);
        assert_eq!(
            "on-success".parse::<Deregister>().unwrap(),
            Deregister::OnSuccess
        );
        assert!("never".parse::<Deregister>().is_err());
        for code in [0, 1, 2, 137, 143] {
            assert!(Deregister::Always.removes_exit(code));
        }
        let s = Deregister::OnSuccess;
        assert!(s.removes_exit(0));
        assert!(s.removes_exit(137), "SIGKILL");
        assert!(s.removes_exit(143), "SIGTERM");
        assert!(!s.removes_exit(1));
        assert!(!s.removes_exit(2));
        assert!(!s.removes_exit(127));
    }

    #[test]
    fn engine_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Engine>();
        send_sync::<Backend>();
        send_sync::<Config>();
        send_sync::<Sweeper>();
        send_sync::<Container>();
        send_sync::<Planned>();
        fn send<T: Send>(_: &T) {}
        let engine = Engine::connect().unwrap();
        let backend = Backend {
            registry: std::sync::Arc::new(crate::MemoryBackend::new()),
            sweeper: Sweeper::Kv {
                store: std::sync::Arc::new(crate::MemoryBackend::new()),
                layout: crate::Layout::new(crate::Key::root(), crate::Codec::Plain),
            },
        };
        let config = Config {
            conventions: Conventions::default(),
            ttl: Duration::from_secs(1),
            resync: None,
            deregister: Deregister::Always,
            cleanup: false,
            health: Default::default(),
        };
        // Not polled: only its type matters (`tokio::spawn` needs a `Send` future).
        send(&run(engine, backend, config, async {}));
    }

    #[test]
    fn reload_signals_do_not_end_a_container() {
        for sig in [None, Some(2), Some(3), Some(9), Some(15)] {
            assert!(Event::kill_terminates(sig), "{sig:?}");
        }
        for sig in [Some(1), Some(10), Some(12), Some(28)] {
            assert!(!Event::kill_terminates(sig), "{sig:?}");
        }
    }
}
