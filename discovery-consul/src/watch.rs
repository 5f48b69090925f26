//! [`Watcher`] over `/v1/health/service/<name>` blocking queries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use discovery_core::{Result, Revision, ServiceName, Snapshot, WatchStream, Watcher};
use futures::FutureExt;
use reqwest::Method;

use crate::health::{Entry, Instances};
use crate::http::encode;
use crate::hub::Fetch;
use crate::ConsulBackend;

/// The query string of a blocking query on `index` (none on the first call).
pub(crate) fn blocking_query(
    index: u64,
    wait: Duration,
) -> (Vec<(&'static str, String)>, Option<Duration>) {
    if index == 0 {
        (Vec::new(), None)
    } else {
        (
            vec![
                ("index", index.to_string()),
                ("wait", format!("{}ms", wait.as_millis())),
            ],
            Some(wait),
        )
    }
}

impl ConsulBackend {
    /// The health of `service`, blocking on `index` when it is not 0.
    async fn fetch_health(&self, service: &ServiceName, index: u64) -> Result<(u64, Instances)> {
        let name = self.consul_name(service);
        let path = format!("health/service/{}", encode(&name, false));
        let (query, wait) = blocking_query(index, self.config().wait);
        let resp = self
            .http()
            .send(Method::GET, &path, &query, None, wait)
            .await?
            .ok(&format!("service {service}"))?;
        let entries: Vec<Entry> = resp.json(&format!("service {service}"))?;
        let instances = Instances::from_entries(service, &self.id_prefix(service), entries);
        Ok((resp.index.unwrap_or(0), instances))
    }

    fn health_fetch(&self, service: &ServiceName) -> Fetch<Instances> {
        let this = self.clone();
        let service = service.clone();
        Arc::new(move |index| {
            let this = this.clone();
            let service = service.clone();
            async move { this.fetch_health(&service, index).await }.boxed()
        })
    }
}

#[async_trait]
impl Watcher for ConsulBackend {
    async fn snapshot(&self, service: &ServiceName) -> Result<Snapshot> {
        let (index, instances) = self.fetch_health(service, 0).await?;
        Ok(instances.snapshot(index.max(1)))
    }

    /// Every instance of `service`, whatever its health (see
    /// [`ServiceInstance::health`](discovery_core::ServiceInstance)). Consul keeps no history:
    /// resuming with `after` yields a `Reset` unless the service's index is still `after`.
    async fn watch(&self, service: &ServiceName, after: Option<Revision>) -> Result<WatchStream> {
        let key = self.consul_name(service);
        self.inner
            .health
            .stream(&key, self.health_fetch(service), after.map(Revision::get))
            .await
    }
}
