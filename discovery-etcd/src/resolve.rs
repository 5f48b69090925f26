//! Endpoints from an SRV record, resolved again when every endpoint fails.
//!
//! With [`crate::EtcdConfig::srv`] set, [`crate::EtcdBackend::connect`] takes the endpoints
//! from the record. Later, a watch or request that finds no endpoint answering calls
//! [`Resolving::failing`]; a background task then looks the record up again (at most once per
//! [`MIN_INTERVAL`]) and moves the client to the new targets, so a cluster that moved to other
//! addresses is found without a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use discovery_core::endpoints::SrvRecord;
use etcd_client::Client;
use tokio::sync::Notify;

/// The shortest time between two lookups of the record.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(2);

/// The record, the endpoints in use, and the signal that they fail.
#[derive(Debug)]
pub(crate) struct Resolving {
    srv: SrvRecord,
    tls: bool,
    endpoints: Mutex<Vec<String>>,
    failing: Notify,
}

/// Aborts the re-resolving task when the backend goes.
#[derive(Debug)]
pub(crate) struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Resolving {
    pub(crate) fn new(srv: SrvRecord, tls: bool, endpoints: Vec<String>) -> Arc<Self> {
        Arc::new(Resolving {
            srv,
            tls,
            endpoints: Mutex::new(endpoints),
            failing: Notify::new(),
        })
    }

    /// The endpoints in use.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// No endpoint answered: look the record up again.
    pub(crate) fn failing(&self) {
        self.failing.notify_one();
    }

    /// Starts the task that re-resolves on [`failing`](Self::failing).
    pub(crate) fn spawn(self: &Arc<Self>, client: Client) -> Task {
        let me = self.clone();
        Task(tokio::spawn(async move {
            loop {
                me.failing.notified().await;
                me.refresh(&client).await;
                tokio::time::sleep(MIN_INTERVAL).await;
            }
        }))
    }

    async fn refresh(&self, client: &Client) {
        let new = match self.srv.resolve().await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(record = %self.srv, error = %e, "re-resolving etcd endpoints failed; keeping the old ones");
                return;
            }
        };
        let old = self.endpoints();
        if new == old {
            return;
        }
        tracing::info!(record = %self.srv, from = ?old, to = ?new, "etcd endpoints moved");
        for e in new.iter().filter(|e| !old.contains(e)) {
            if let Err(err) = client.add_endpoint(e).await {
                tracing::warn!(endpoint = %e, error = %err, "cannot add etcd endpoint");
            }
        }
        for e in old.iter().filter(|e| !new.contains(e)) {
            if let Err(err) = client.remove_endpoint(self.url(e)).await {
                tracing::warn!(endpoint = %e, error = %err, "cannot remove etcd endpoint");
            }
        }
        *self.endpoints.lock().unwrap_or_else(|e| e.into_inner()) = new;
    }

    /// The URL etcd-client keyed the endpoint by (it adds the scheme to a bare `host:port`).
    fn url(&self, endpoint: &str) -> String {
        if endpoint.contains("://") {
            endpoint.to_owned()
        } else if self.tls {
            format!("https://{endpoint}")
        } else {
            format!("http://{endpoint}")
        }
    }
}
