//! What every binary offers an operator: `-metrics-addr` (`/metrics`, `/health`, `/ready`,
//! served by [`discovery_core::telemetry`]) and `-systemd-notify` (readiness, reload, stop and
//! watchdog notifications through `sd-notify`).
//!
//! Both are off unless asked for. The engine reports to a [`HealthRegistry`]; [`Ops`] reads it.

use std::net::SocketAddr;
use std::time::Duration;

use discovery_core::health::HealthRegistry;
use discovery_core::telemetry::TelemetryServer;
use discovery_core::Result;
use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::goflags::{FlagError, FlagSet, Kind};

/// The operator flags as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpsFlags {
    /// `-metrics-addr HOST:PORT`: serve `/metrics`, `/health` and `/ready` there.
    pub metrics_addr: Option<SocketAddr>,
    /// `-systemd-notify`: tell systemd (`NOTIFY_SOCKET`) when the service is ready, reloading
    /// or stopping, and keep its watchdog fed when `WATCHDOG_USEC` is set.
    pub systemd_notify: bool,
    /// abtreece/confd's `-watchdog-interval`: ping systemd's watchdog this often (with
    /// `systemd_notify`); `None` pings at half of `WATCHDOG_USEC` when systemd sets it.
    pub watchdog_interval: Option<Duration>,
}

/// Adds `-metrics-addr` and `-systemd-notify` to `f`.
pub fn define(f: &mut FlagSet) {
    f.define(
        "metrics-addr",
        Kind::Value,
        "serve /metrics (Prometheus), /health and /ready on HOST:PORT (off by default)",
    )
    .define(
        "systemd-notify",
        Kind::Bool,
        "notify systemd: READY=1 after the first render, RELOADING=1, STOPPING=1, WATCHDOG=1",
    );
}

/// Reads the flags [`define`] added.
pub fn read(f: &FlagSet) -> std::result::Result<OpsFlags, FlagError> {
    let metrics_addr = match f.value("metrics-addr") {
        None | Some("") => None,
        Some(v) => Some(parse_addr(v).map_err(FlagError::Bad)?),
    };
    Ok(OpsFlags {
        metrics_addr,
        systemd_notify: f.bool("systemd-notify") == Some(true),
        watchdog_interval: None,
    })
}

/// `HOST:PORT`, where HOST is an IP address or `localhost` (`:PORT` binds every address, as Go's
/// listeners do).
fn parse_addr(v: &str) -> std::result::Result<SocketAddr, String> {
    let bad = || format!("invalid value {v:?} for flag -metrics-addr: expected HOST:PORT");
    let (host, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| bad())?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The running operator side of a binary. Dropping it stops the server and the notifier.
#[derive(Debug)]
pub struct Ops {
    _server: Option<TelemetryServer>,
    notify: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl Ops {
    /// Starts what `flags` ask for, reading `health`.
    ///
    /// # Errors
    ///
    /// [`discovery_core::Error::InvalidConfig`] naming `metrics-addr` when the address cannot be bound.
    pub async fn start(flags: &OpsFlags, health: &HealthRegistry) -> Result<Ops> {
        let server = match flags.metrics_addr {
            Some(addr) => Some(TelemetryServer::start(addr, health.clone()).await?),
            None => None,
        };
        let mut tasks = Vec::new();
        if flags.systemd_notify {
            let h = health.clone();
            tasks.push(tokio::spawn(async move {
                h.wait_ready().await;
                notify(&[NotifyState::Ready, NotifyState::Status("ready")]);
            }));
            let mut usec = 0;
            let every = flags.watchdog_interval.or_else(|| {
                // Half the timeout, as sd_watchdog_enabled(3) advises; proves the runtime runs.
                (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
                    .then(|| Duration::from_micros(usec / 2))
            });
            if let Some(every) = every {
                tasks.push(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        notify(&[NotifyState::Watchdog]);
                    }
                }));
            }
        }
        Ok(Ops {
            _server: server,
            notify: flags.systemd_notify,
            tasks,
        })
    }

    /// The address `/metrics` is served on, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self._server.as_ref().map(TelemetryServer::local_addr)
    }

    /// A reload (SIGHUP) starts: `RELOADING=1` with the monotonic time systemd 253 asks for.
    pub fn reloading(&self) {
        if self.notify {
            let mut states = vec![NotifyState::Reloading];
            if let Ok(now) = NotifyState::monotonic_usec_now() {
                states.push(now);
            }
            notify(&states);
        }
    }

    /// A reload is done: `READY=1` again.
    pub fn reloaded(&self) {
        if self.notify {
            notify(&[NotifyState::Ready]);
        }
    }

    /// The process is shutting down: `STOPPING=1`.
    pub fn stopping(&self) {
        if self.notify {
            notify(&[NotifyState::Stopping]);
        }
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "systemd notification failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_go_listeners() {
        assert_eq!(parse_addr("127.0.0.1:9102").unwrap().port(), 9102);
        assert!(parse_addr(":9102").unwrap().ip().is_unspecified());
        assert!(parse_addr("localhost:1").unwrap().ip().is_loopback());
        assert!(parse_addr("[::1]:80").unwrap().is_ipv6());
        for bad in ["9102", "host:port", "example.com:80", "1.2.3.4:99999"] {
            let e = parse_addr(bad).unwrap_err();
            assert!(e.contains("-metrics-addr"), "{e}");
        }
    }

    #[test]
    fn flags_are_off_by_default() {
        let mut f = FlagSet::new("t");
        define(&mut f);
        f.parse(Vec::<String>::new()).unwrap();
        assert_eq!(read(&f).unwrap(), OpsFlags::default());
        let mut f = FlagSet::new("t");
        define(&mut f);
        f.parse([
            "-metrics-addr=127.0.0.1:0".to_owned(),
            "-systemd-notify".to_owned(),
        ])
        .unwrap();
        let o = read(&f).unwrap();
        assert!(o.systemd_notify && o.metrics_addr.is_some());
    }
}
