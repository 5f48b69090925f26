//! The one keepalive / re-registration state machine, shared by every backend.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::{sleep, timeout, Instant};

use crate::registry::{KeepAlive, LeaseDriver, LeaseState, RegisterOptions};
use crate::{Result, ServiceInstance};

/// How long a revoke on shutdown may take before the task gives up (the TTL cleans up after).
const REVOKE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn run<D: LeaseDriver>(
    driver: D,
    instance: ServiceInstance,
    opts: RegisterOptions,
    lease: D::Lease,
    state: watch::Sender<LeaseState>,
    mut stop: oneshot::Receiver<()>,
) -> Result<()> {
    let backend = driver.backend();
    let interval = opts.interval();
    let mut lease = Some(lease);
    let mut last_ok = Instant::now();
    // Consecutive failures of the current phase (keepalive retries or re-registration attempts).
    let mut failures: u32 = 0;
    let set = |s: LeaseState| {
        state.send_if_modified(|cur| {
            if *cur != s {
                *cur = s;
                true
            } else {
                false
            }
        });
    };

    loop {
        let wait = match (&lease, failures) {
            (Some(_), 0) => interval,
            (Some(_), n) => opts.backoff.delay(n - 1).min(interval),
            (None, 0) => Duration::ZERO,
            (None, n) => opts.backoff.delay(n - 1),
        };
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = sleep(wait) => {}
        }

        match lease.as_mut() {
            Some(l) => match driver.keep_alive(l).await {
                Ok(KeepAlive::Alive) => {
                    last_ok = Instant::now();
                    failures = 0;
                    set(LeaseState::Live);
                }
                Ok(KeepAlive::Expired) => {
                    metrics::counter!("discovery_leases_lost_total", "backend" => backend)
                        .increment(1);
                    tracing::warn!(backend, service = %instance.service, id = %instance.id,
                        "lease lost; re-registering");
                    lease = None;
                    failures = 0;
                    set(LeaseState::Reregistering {
                        attempt: 0,
                        reason: "lease expired".into(),
                    });
                }
                Err(e) => {
                    failures += 1;
                    metrics::counter!("discovery_keepalive_failures_total", "backend" => backend)
                        .increment(1);
                    tracing::warn!(backend, service = %instance.service, id = %instance.id,
                        error = %e, failures, "keepalive failed");
                    if last_ok.elapsed() >= opts.ttl {
                        // The lease has certainly expired by now: start over with a new one.
                        if let Some(old) = lease.take() {
                            let _ = timeout(REVOKE_TIMEOUT, driver.revoke(old)).await;
                        }
                        failures = 0;
                        set(LeaseState::Reregistering {
                            attempt: 0,
                            reason: e.to_string(),
                        });
                    }
                }
            },
            None => match driver.grant(&instance, opts.ttl).await {
                Ok(l) => {
                    metrics::counter!("discovery_reregistrations_total", "backend" => backend)
                        .increment(1);
                    tracing::info!(backend, service = %instance.service, id = %instance.id,
                        attempts = failures + 1, "re-registered");
                    lease = Some(l);
                    last_ok = Instant::now();
                    failures = 0;
                    set(LeaseState::Live);
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(backend, service = %instance.service, id = %instance.id,
                        error = %e, attempt = failures, "re-registration failed");
                    if opts
                        .max_reregister_attempts
                        .is_some_and(|max| failures >= max)
                    {
                        set(LeaseState::Lost {
                            reason: e.to_string(),
                        });
                        // Wait for the guard to go away; nothing left to revoke.
                        let _ = (&mut stop).await;
                        set(LeaseState::Deregistered);
                        return Err(e);
                    }
                    if e.is_retryable() {
                        set(LeaseState::Reregistering {
                            attempt: failures,
                            reason: e.to_string(),
                        });
                    } else {
                        set(LeaseState::Lost {
                            reason: e.to_string(),
                        });
                    }
                }
            },
        }
    }

    let result = match lease {
        Some(l) => match timeout(REVOKE_TIMEOUT, driver.revoke(l)).await {
            Ok(r) => r,
            Err(_) => Err(crate::Error::Timeout {
                backend,
                operation: "revoke",
                after: REVOKE_TIMEOUT,
            }),
        },
        None => Ok(()),
    };
    tracing::info!(backend, service = %instance.service, id = %instance.id,
        ok = result.is_ok(), "deregistered");
    set(LeaseState::Deregistered);
    result
}
