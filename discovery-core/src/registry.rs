//! Registering instances: [`Registry`], [`RegisterOptions`] (with an optional [`HealthCheck`]),
//! the [`Registration`] guard and the [`LeaseDriver`] primitives a backend supplies.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::{Backoff, Error, Health, Result, ServiceInstance};

/// Registers service instances with a TTL and keeps them alive.
///
/// # Contract
///
/// - `register_visible_in_snapshot`: once `register` returns, the instance is in the
///   [`crate::Watcher::snapshot`] of its service.
/// - `deregister_removes`: after [`Registration::deregister`] returns `Ok`, the instance is gone
///   from the snapshot.
/// - `drop_guard_deregisters`: dropping the [`Registration`] deregisters the instance shortly
///   after (in a background task; the TTL removes it if the runtime is shutting down).
/// - `lease_expiry_removes`: when the instance's lease expires (or the backend forgets it),
///   watchers see it removed.
/// - `reregister_after_expiry`: after such an expiry the registration puts the instance back by
///   itself, and its state goes from [`LeaseState::Reregistering`] back to [`LeaseState::Live`].
/// - `two_registrations_have_independent_leases`: deregistering one registration never affects
///   another, even of the same service. (Registrations that share a lease, see
///   [`RegisterOptions::shared_lease`], are removed and re-registered together when that lease
///   expires; with `shared_lease` off, expiring one never affects another either.)
/// - `register_refuses_short_ttl`: a TTL under [`RegisterOptions::MIN_TTL`] (1 s) is refused
///   with [`Error::InvalidConfig`] naming `ttl` before anything is registered
///   ([`RegisterOptions::validate`]).
///
/// Keepalives are sent about every TTL/3 (see [`RegisterOptions::keepalive_interval`]).
#[async_trait]
pub trait Registry: Debug + Send + Sync + 'static {
    /// Registers `instance` under a lease of `opts.ttl` (its own, or one shared with the
    /// registry's other registrations of the same TTL: [`RegisterOptions::shared_lease`]) and keeps it alive until the returned
    /// guard is deregistered or dropped. Fails if the first registration fails (bad credentials,
    /// backend unreachable): later failures are retried by the guard and show in its state.
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration>;
}

/// Options for [`Registry::register`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisterOptions {
    /// How long the instance survives without a keepalive. Default 10 s.
    pub ttl: Duration,
    /// How often to refresh the lease. Default `ttl / 3`.
    pub keepalive_interval: Option<Duration>,
    /// Give up re-registering after this many failed attempts in a row (`None`: never give up).
    pub max_reregister_attempts: Option<u32>,
    /// Retry schedule for failed keepalives and re-registrations.
    pub backoff: Backoff,
    /// A health check the backend runs on the instance, in addition to (never instead of) the
    /// registration's own TTL liveness. Default none. Backends that can run checks (Consul)
    /// register it with the instance; the others (etcd, memory) ignore it with a debug log.
    pub check: Option<HealthCheck>,
    /// Share one lease with the other registrations of the same registry (one backend client)
    /// that have the same `ttl` and keepalive interval. Default `true`. Lease-based KV backends
    /// (etcd, memory) then keep one lease per group alive with one refresh per interval, instead
    /// of one lease and one refresh per registration (10,000 registrations with a 10 s TTL:
    /// 1 keepalive every 3.3 s instead of 3,000 a second). Consul ignores it (its TTL checks
    /// belong to each service).
    ///
    /// It is the default because what it changes cannot be told apart from outside in normal
    /// operation: deregistering one registration deletes its key only (the lease lives on while
    /// others use it, the last one out revokes it), each registration keeps its own
    /// [`LeaseState`], and a lease is lost only when its client cannot reach the backend for a
    /// whole TTL, which takes all of that client's leases at once anyway; every registration on
    /// it then re-registers by itself, as with its own lease. The difference is an operator
    /// revoking one lease by hand (`etcdctl lease revoke`): that removes (and re-registers) every
    /// instance on it. Set it to `false` when one instance must be removable by its lease alone.
    pub shared_lease: bool,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            ttl: Duration::from_secs(10),
            keepalive_interval: None,
            max_reregister_attempts: None,
            backoff: Backoff::default(),
            check: None,
            shared_lease: true,
        }
    }
}

impl RegisterOptions {
    /// Options with the given TTL and defaults for the rest.
    pub fn with_ttl(ttl: Duration) -> Self {
        RegisterOptions {
            ttl,
            ..Default::default()
        }
    }

    /// Sets the keepalive interval.
    pub fn keepalive_every(mut self, interval: Duration) -> Self {
        self.keepalive_interval = Some(interval);
        self
    }

    /// Sets the maximum number of consecutive failed re-registration attempts.
    pub fn max_reregister_attempts(mut self, attempts: u32) -> Self {
        self.max_reregister_attempts = Some(attempts);
        self
    }

    /// Sets the retry schedule.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Adds a health check run by the backend (see [`RegisterOptions::check`]).
    pub fn check(mut self, check: HealthCheck) -> Self {
        self.check = Some(check);
        self
    }

    /// Sets whether the registration may share its lease (see [`RegisterOptions::shared_lease`]).
    pub fn shared_lease(mut self, shared: bool) -> Self {
        self.shared_lease = shared;
        self
    }

    /// The shortest TTL a registration may have: 1 s. etcd leases are whole seconds and
    /// Consul's TTL checks are the same; a shorter one would expire between keepalives.
    pub const MIN_TTL: Duration = Duration::from_secs(1);

    /// Checks the options: the TTL must be at least [`MIN_TTL`](Self::MIN_TTL) and a set
    /// keepalive interval must be shorter than the TTL. Every [`Registry`] calls this before it
    /// touches the backend (through [`Registration::start`]), so a bad TTL is refused the same
    /// way everywhere, with [`Error::InvalidConfig`] naming `ttl`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discovery_core::RegisterOptions;
    /// assert!(RegisterOptions::with_ttl(Duration::from_secs(1)).validate().is_ok());
    /// let err = RegisterOptions::with_ttl(Duration::from_millis(1)).validate().unwrap_err();
    /// assert!(err.to_string().contains("ttl"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.ttl < Self::MIN_TTL {
            return Err(Error::invalid_config(
                "ttl",
                format!(
                    "{:?} is below the minimum of 1s (etcd leases and Consul TTL checks are whole seconds)",
                    self.ttl
                ),
            ));
        }
        if let Some(every) = self.keepalive_interval {
            if every.is_zero() || every >= self.ttl {
                return Err(Error::invalid_config(
                    "keepalive_interval",
                    format!(
                        "{every:?} must be above zero and below the ttl ({:?})",
                        self.ttl
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn interval(&self) -> Duration {
        self.keepalive_interval
            .unwrap_or(self.ttl / 3)
            .max(Duration::from_millis(10))
    }
}

/// What a [`HealthCheck`] probes.
///
/// The enum is `#[non_exhaustive]`: more kinds may come; its variants can be built directly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// An HTTP(S) request to `url`; a 2xx answer passes, 429 warns, anything else is critical.
    Http {
        /// The full URL (`http://10.0.0.1:8080/health`).
        url: String,
        /// The request method; `None` is the backend's default (`GET`).
        method: Option<String>,
        /// Do not verify the server's certificate (`https://` URLs).
        tls_skip_verify: bool,
    },
    /// A TCP connection to `address` (`host:port`); it passes when the connection is accepted.
    Tcp {
        /// `host:port` to connect to.
        address: String,
    },
    /// The gRPC health-checking protocol against `target` (`host:port[/service]`).
    Grpc {
        /// `host:port`, optionally followed by `/service`.
        target: String,
        /// Talk TLS to the target.
        use_tls: bool,
        /// Do not verify the target's certificate.
        tls_skip_verify: bool,
    },
    /// A command run by the backend's agent (exit 0 passes, 1 warns, others are critical).
    /// Agents may refuse script checks (Consul without `enable_script_checks`): registering then
    /// fails with [`Error::Unsupported`].
    Script {
        /// The program and its arguments (no shell unless the first items ask for one).
        args: Vec<String>,
    },
    /// A check that the instance (not the backend) must mark passing at least every `ttl`, through
    /// the backend's own API. It is separate from the registration's TTL liveness.
    Ttl {
        /// How long a status stays valid.
        ttl: Duration,
    },
}

impl CheckKind {
    /// A short name of the kind: `http`, `tcp`, `grpc`, `script` or `ttl`.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::Script { .. } => "script",
            CheckKind::Ttl { .. } => "ttl",
        }
    }
}

/// A backend-neutral description of a health check that the backend runs on a registered
/// instance, in addition to the registration's own TTL liveness (see [`RegisterOptions::check`]).
///
/// ```
/// use std::time::Duration;
/// use discovery_core::{CheckKind, Health, HealthCheck, RegisterOptions};
/// let check = HealthCheck::new(CheckKind::Tcp { address: "10.0.0.1:8080".into() })
///     .interval(Duration::from_secs(5))
///     .timeout(Duration::from_secs(1))
///     .initial_status(Health::Passing);
/// let opts = RegisterOptions::with_ttl(Duration::from_secs(10)).check(check);
/// assert_eq!(opts.check.unwrap().kind.name(), "tcp");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheck {
    /// What is probed.
    pub kind: CheckKind,
    /// How often the backend probes (ignored by [`CheckKind::Ttl`]). Default 10 s.
    pub interval: Duration,
    /// How long one probe may take; `None` is the backend's default.
    pub timeout: Option<Duration>,
    /// The status before the first probe ([`Health::Maintenance`] is not a check status);
    /// `None` is the backend's default (Consul: critical).
    pub initial_status: Option<Health>,
    /// Let the backend remove the whole instance once this check has been critical this long.
    /// (The registration then puts it back at its next keepalive.)
    pub deregister_critical_after: Option<Duration>,
}

impl HealthCheck {
    /// A check of `kind`, probed every 10 s, with the backend's defaults for the rest.
    pub fn new(kind: CheckKind) -> Self {
        HealthCheck {
            kind,
            interval: Duration::from_secs(10),
            timeout: None,
            initial_status: None,
            deregister_critical_after: None,
        }
    }

    /// Sets the probe interval.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the probe timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the status before the first probe.
    pub fn initial_status(mut self, status: Health) -> Self {
        self.initial_status = Some(status);
        self
    }

    /// Sets how long the check may stay critical before the backend removes the instance.
    pub fn deregister_critical_after(mut self, after: Duration) -> Self {
        self.deregister_critical_after = Some(after);
        self
    }
}

/// The state of a [`Registration`], observable through [`Registration::subscribe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseState {
    /// Registered and kept alive.
    Live,
    /// The lease was lost (expired, revoked, backend restarted); registering again.
    Reregistering {
        /// Failed attempts so far (0 while the first attempt runs).
        attempt: u32,
        /// Why the lease was lost, or why the last attempt failed.
        reason: String,
    },
    /// Not registered, and re-registration failed with an error retrying cannot fix, or ran out of
    /// attempts. With a non-retryable error the guard keeps trying at the maximum backoff; when
    /// attempts ran out it has stopped.
    Lost {
        /// The last error.
        reason: String,
    },
    /// Deregistered by [`Registration::deregister`] or by dropping the guard.
    Deregistered,
}

/// What a keepalive found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeepAlive {
    /// The lease is alive and was refreshed.
    Alive,
    /// The lease no longer exists (expired, revoked, or the backend forgot it).
    Expired,
}

/// The primitives a backend supplies so that [`Registration`] can run the one keepalive and
/// re-registration state machine. Backends implement this; applications use [`Registry`].
#[async_trait]
pub trait LeaseDriver: Send + Sync + 'static {
    /// The backend's handle on one lease (an etcd lease id, a hold on a shared lease, a Consul
    /// service id, ...). Each registration owns its own handle.
    type Lease: Send + Sync + 'static;

    /// The backend's name for logs and errors.
    fn backend(&self) -> &'static str;

    /// Whether this driver registers [`RegisterOptions::check`] with the instance. Default
    /// `false`: [`Registration::start`] then logs (at debug level) that the check is ignored.
    fn runs_checks(&self) -> bool {
        false
    }

    /// Creates a new lease of `ttl` and writes `instance` under it.
    async fn grant(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Self::Lease>;

    /// Refreshes `lease` once.
    async fn keep_alive(&self, lease: &mut Self::Lease) -> Result<KeepAlive>;

    /// Revokes `lease`, removing the instance. Revoking a lease that is gone is not an error.
    async fn revoke(&self, lease: Self::Lease) -> Result<()>;
}

/// The guard of one registered instance. It keeps the instance alive in a background task,
/// re-registers it when its lease is lost, and deregisters it on [`deregister`](Self::deregister)
/// or when dropped.
#[derive(Debug)]
pub struct Registration {
    instance: ServiceInstance,
    state: watch::Receiver<LeaseState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl Registration {
    /// Registers `instance` through `driver` (awaiting the first grant) and starts the keepalive
    /// task. Backends call this from their [`Registry::register`].
    #[tracing::instrument(level = "debug", skip_all, fields(backend = driver.backend(), service = %instance.service, id = %instance.id))]
    pub async fn start<D: LeaseDriver>(
        driver: D,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        opts.validate()?;
        if let Some(check) = &opts.check {
            if !driver.runs_checks() {
                tracing::debug!(
                    backend = driver.backend(),
                    service = %instance.service,
                    id = %instance.id,
                    check = check.kind.name(),
                    "this backend cannot run health checks; the check is ignored"
                );
            }
        }
        let lease = driver.grant(&instance, opts.ttl).await?;
        tracing::info!(
            backend = driver.backend(),
            service = %instance.service,
            id = %instance.id,
            ttl_ms = opts.ttl.as_millis() as u64,
            "registered"
        );
        let (state_tx, state) = watch::channel(LeaseState::Live);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(crate::lease::run(
            driver,
            instance.clone(),
            opts,
            lease,
            state_tx,
            stop_rx,
        ));
        Ok(Registration {
            instance,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The registered instance.
    pub fn instance(&self) -> &ServiceInstance {
        &self.instance
    }

    /// The current state.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Waits until the state satisfies `pred`, returning that state.
    pub async fn wait_for(&mut self, pred: impl FnMut(&LeaseState) -> bool) -> Result<LeaseState> {
        self.state
            .wait_for(pred)
            .await
            .map(|s| s.clone())
            .map_err(|_| Error::Closed {
                backend: "registry",
                what: "registration",
            })
    }

    /// Stops the keepalive and revokes the lease, waiting for the backend to confirm.
    pub async fn deregister(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::Backend {
                backend: "registry",
                source: Box::new(e),
            })?,
            None => Ok(()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Dropping `stop` wakes the task, which revokes the lease and exits. Never blocks.
        self.stop.take();
    }
}
