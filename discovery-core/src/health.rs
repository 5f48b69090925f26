//! What a running engine reports about itself: which of its watches and leases are healthy, and
//! whether everything it serves has been produced once ("ready").
//!
//! An engine (the confd runner, the consul-template runner, a registration sidekick) is given a
//! [`HealthRegistry`] and keeps it up to date; whoever runs the engine reads it: the telemetry
//! server's `/health` and `/ready`, systemd's readiness notification, a test. It costs a mutex
//! and a few strings, so engines always keep one.
//!
//! Every component also sets the gauge `discovery_health{kind, name}` (1 healthy, 0 failing),
//! and every readiness item `discovery_ready{kind, name}` (1 once done).
//!
//! ```
//! use discovery_core::health::HealthRegistry;
//!
//! let health = HealthRegistry::new();
//! health.expect("resource", "nginx.toml");
//! health.set_ok("watch", "/test");
//! assert!(health.report().healthy && !health.report().ready);
//!
//! health.mark_ready("resource", "nginx.toml");
//! health.set_failing("watch", "/test", "connection refused");
//! let report = health.report();
//! assert!(report.ready && !report.healthy);
//! assert_eq!(report.failing[0].name, "/test");
//! assert!(report.to_json().contains("connection refused"));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// The shared health and readiness state of one process's engines. Cheap to clone: clones share
/// the state.
#[derive(Clone, Debug)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    ready: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    components: BTreeMap<(String, String), Status>,
    /// Readiness items and whether each is done.
    items: BTreeMap<(String, String), bool>,
}

#[derive(Debug, Clone)]
enum Status {
    Ok,
    Failing { error: String, since: SystemTime },
}

/// One failing component in a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// What it is: `watch`, `lease`, `consul`, `docker`, ...
    pub kind: String,
    /// Which one: a key prefix, a registration, a query path.
    pub name: String,
    /// The last error.
    pub error: String,
    /// Since when it has been failing, in seconds since the Unix epoch.
    pub since_unix: u64,
}

/// A point-in-time view of a [`HealthRegistry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// No component is failing.
    pub healthy: bool,
    /// At least one item was expected and every expected item is done (once true, stays true).
    pub ready: bool,
    /// The failing components, by kind then name.
    pub failing: Vec<Failing>,
    /// The readiness items not done yet, as `kind name`.
    pub pending: Vec<String>,
    /// How many components are known.
    pub components: usize,
}

impl HealthRegistry {
    /// An empty registry: healthy, not ready.
    pub fn new() -> Self {
        HealthRegistry {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                ready: watch::Sender::new(false),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the component `kind name` healthy (known from now on).
    pub fn set_ok(&self, kind: &str, name: &str) {
        let changed = {
            let mut s = self.state();
            let prev = s
                .components
                .insert((kind.to_owned(), name.to_owned()), Status::Ok);
            !matches!(prev, Some(Status::Ok))
        };
        if changed {
            gauge(kind, name, 1.0);
        }
    }

    /// Marks the component `kind name` failing with `error`. A component already failing keeps
    /// the time it started failing and takes the new error.
    pub fn set_failing(&self, kind: &str, name: &str, error: impl std::fmt::Display) {
        let error = error.to_string();
        {
            let mut s = self.state();
            let key = (kind.to_owned(), name.to_owned());
            let since = match s.components.get(&key) {
                Some(Status::Failing { since, .. }) => *since,
                _ => SystemTime::now(),
            };
            s.components.insert(key, Status::Failing { error, since });
        }
        gauge(kind, name, 0.0);
    }

    /// Forgets the component `kind name` (a watch no longer needed, a registration removed);
    /// its gauge turns NaN (the exporter cannot drop a series).
    pub fn remove(&self, kind: &str, name: &str) {
        let removed = self
            .state()
            .components
            .remove(&(kind.to_owned(), name.to_owned()))
            .is_some();
        if removed {
            gauge(kind, name, f64::NAN);
        }
    }

    /// Adds the component `kind name` as failing with "not established yet", unless it is
    /// known already (a subscription being started).
    pub fn set_pending(&self, kind: &str, name: &str) {
        let added = {
            let mut s = self.state();
            let key = (kind.to_owned(), name.to_owned());
            match s.components.entry(key) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(Status::Failing {
                        error: "not established yet".into(),
                        since: SystemTime::now(),
                    });
                    true
                }
                std::collections::btree_map::Entry::Occupied(_) => false,
            }
        };
        if added {
            gauge(kind, name, 0.0);
        }
    }

    /// Makes `names` the components of `kind`: forgets the others of that kind, and adds the
    /// new ones as failing with "not established yet" (those already known keep their state).
    /// For an engine that (re)starts a set of watches.
    pub fn track(&self, kind: &str, names: &[&str]) {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        {
            let mut s = self.state();
            s.components.retain(|(k, n), _| {
                let keep = k != kind || names.contains(&n.as_str());
                if !keep {
                    removed.push(n.clone());
                }
                keep
            });
            for n in names {
                let key = (kind.to_owned(), (*n).to_owned());
                if let std::collections::btree_map::Entry::Vacant(e) = s.components.entry(key) {
                    e.insert(Status::Failing {
                        error: "not established yet".into(),
                        since: SystemTime::now(),
                    });
                    added.push(*n);
                }
            }
        }
        for n in added {
            gauge(kind, n, 0.0);
        }
        for n in removed {
            gauge(kind, &n, f64::NAN);
        }
    }

    /// Adds the readiness item `kind name` (a resource to render once, a service to register).
    /// Expecting an item already known does nothing.
    pub fn expect(&self, kind: &str, name: &str) {
        self.state()
            .items
            .entry((kind.to_owned(), name.to_owned()))
            .or_insert(false);
    }

    /// Marks the readiness item `kind name` done (adding it if it was not expected); the
    /// registry turns ready when no expected item is left.
    pub fn mark_ready(&self, kind: &str, name: &str) {
        let (first, all) = {
            let mut s = self.state();
            let done = s
                .items
                .insert((kind.to_owned(), name.to_owned()), true)
                .unwrap_or(false);
            (!done, s.items.values().all(|d| *d))
        };
        if first {
            metrics::gauge!("discovery_ready", "kind" => kind.to_owned(), "name" => name.to_owned())
                .set(1.0);
        }
        if all {
            self.inner
                .ready
                .send_if_modified(|r| !std::mem::replace(r, true));
        }
    }

    /// The current state.
    pub fn report(&self) -> HealthReport {
        let s = self.state();
        let failing: Vec<Failing> = s
            .components
            .iter()
            .filter_map(|((kind, name), st)| match st {
                Status::Ok => None,
                Status::Failing { error, since } => Some(Failing {
                    kind: kind.clone(),
                    name: name.clone(),
                    error: error.clone(),
                    since_unix: since
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                }),
            })
            .collect();
        let pending = s
            .items
            .iter()
            .filter(|(_, done)| !**done)
            .map(|((k, n), _)| format!("{k} {n}"))
            .collect();
        HealthReport {
            healthy: failing.is_empty(),
            ready: *self.inner.ready.borrow(),
            failing,
            pending,
            components: s.components.len(),
        }
    }

    /// Whether the registry is ready (see [`HealthReport::ready`]).
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// Waits until the registry is ready.
    pub async fn wait_ready(&self) {
        let mut rx = self.inner.ready.subscribe();
        // The sender lives in `self`: this cannot fail while `self` is borrowed.
        let _ = rx.wait_for(|r| *r).await;
    }
}

/// Two registries are equal when they are the same registry (clones of one another).
impl PartialEq for HealthRegistry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for HealthRegistry {}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry::new()
    }
}

fn gauge(kind: &str, name: &str, v: f64) {
    metrics::gauge!("discovery_health", "kind" => kind.to_owned(), "name" => name.to_owned())
        .set(v);
}

impl HealthReport {
    /// The report as JSON: `{"healthy":..,"ready":..,"failing":[{"kind","name","error",
    /// "since_unix"}],"pending":[..]}`.
    pub fn to_json(&self) -> String {
        let failing: Vec<_> = self
            .failing
            .iter()
            .map(|f| {
                serde_json::json!({
                    "kind": f.kind, "name": f.name, "error": f.error, "since_unix": f.since_unix,
                })
            })
            .collect();
        serde_json::json!({
            "healthy": self.healthy,
            "ready": self.ready,
            "components": self.components,
            "failing": failing,
            "pending": self.pending,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_keeps_its_start_and_recovers() {
        let h = HealthRegistry::new();
        h.set_failing("watch", "/a", "e1");
        let since = h.report().failing[0].since_unix;
        h.set_failing("watch", "/a", "e2");
        let r = h.report();
        assert_eq!(r.failing[0].error, "e2");
        assert_eq!(r.failing[0].since_unix, since);
        h.set_ok("watch", "/a");
        assert!(h.report().healthy);
        h.set_failing("watch", "/b", "x");
        h.remove("watch", "/b");
        assert!(h.report().healthy);
        assert_eq!(h.report().components, 1);
        // A new set of watches: /a keeps its state, /c starts failing, /d of another kind stays.
        h.set_ok("lease", "/d");
        h.track("watch", &["/a", "/c"]);
        let r = h.report();
        assert_eq!(r.components, 3);
        assert_eq!(r.failing.len(), 1);
        assert_eq!(
            (r.failing[0].name.as_str(), r.failing[0].error.as_str()),
            ("/c", "not established yet")
        );
        h.track("watch", &[]);
        assert_eq!(h.report().components, 1);
    }

    #[test]
    fn ready_needs_every_item_and_latches() {
        let h = HealthRegistry::new();
        assert!(!h.is_ready(), "nothing expected is not ready");
        h.expect("resource", "a");
        h.expect("resource", "b");
        h.mark_ready("resource", "a");
        assert!(!h.is_ready());
        assert_eq!(h.report().pending, ["resource b"]);
        h.mark_ready("resource", "b");
        assert!(h.is_ready());
        h.expect("resource", "c");
        assert!(h.is_ready(), "ready latches");
    }

    #[tokio::test]
    async fn wait_ready_wakes() {
        let h = HealthRegistry::new();
        h.expect("x", "y");
        let h2 = h.clone();
        let t = tokio::spawn(async move { h2.wait_ready().await });
        tokio::task::yield_now().await;
        h.mark_ready("x", "y");
        t.await.unwrap();
    }
}
