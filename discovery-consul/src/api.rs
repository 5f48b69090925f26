//! Reads of API endpoints with no typed model here ([`ApiRead`]: `catalog/nodes`,
//! `agent/connect/ca/roots`, ...), answered as JSON, once or as a shared blocking query.

use std::sync::Arc;
use std::time::Duration;

use discovery_core::{ApiRead, Result, Revision};
use futures::stream::BoxStream;
use futures::FutureExt;
use reqwest::Method;

use crate::consumer::Diff;
use crate::hub::Fetch;
use crate::watch::blocking_query;
use crate::ConsulBackend;

/// How often an endpoint that ignores blocking queries is asked again (consul-template's
/// `DefaultNonBlockingQuerySleepTime`, `dependency/dependency.go`).
pub const POLL_INTERVAL: Duration = Duration::from_secs(15);

/// One JSON answer of an endpoint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ApiAnswer {
    /// The `X-Consul-Index` of the answer (0 when the endpoint sends none).
    pub revision: Revision,
    /// The decoded body.
    pub body: Arc<serde_json::Value>,
}

/// The loop's state: the last body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Json(Arc<serde_json::Value>);

impl Diff for Json {
    type Event = ApiAnswer;

    fn reset(&self, index: u64) -> ApiAnswer {
        ApiAnswer {
            revision: Revision(index),
            body: self.0.clone(),
        }
    }

    fn diff(&self, prev: &Self, index: u64) -> Option<ApiAnswer> {
        (prev != self).then(|| self.reset(index))
    }
}

/// The hub key of `read`: its path and query as sent.
fn loop_key(read: &ApiRead) -> String {
    let mut key = read.path.clone();
    for (i, (k, v)) in read.query.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

impl ConsulBackend {
    async fn fetch_api(&self, read: &ApiRead, index: u64) -> Result<(u64, Json)> {
        let what = read.path.as_str();
        let (mut query, wait) = if read.blocking {
            blocking_query(index, self.config().wait)
        } else {
            if index > 0 {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            (Vec::new(), None)
        };
        query.extend(read.query.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let resp = self
            .http()
            .send(Method::GET, &read.path, &query, None, wait)
            .await?
            .ok(what)?;
        let body: serde_json::Value = resp.json(what)?;
        Ok((resp.index.unwrap_or(0), Json(Arc::new(body))))
    }

    /// The JSON answer of `read`, now.
    pub async fn api_get(&self, read: &ApiRead) -> Result<ApiAnswer> {
        let (index, json) = self.fetch_api(read, 0).await?;
        Ok(json.reset(index))
    }

    /// The JSON answer of `read`, then every new answer when it changes (one shared loop per
    /// path and query, blocking, or polled every [`POLL_INTERVAL`] when the endpoint ignores
    /// blocking queries). Transient errors are retried inside; an `Err` item ends it.
    pub async fn watch_api(&self, read: &ApiRead) -> Result<BoxStream<'static, Result<ApiAnswer>>> {
        let this = self.clone();
        let owned = read.clone();
        let fetch: Fetch<Json> = Arc::new(move |index| {
            let this = this.clone();
            let read = owned.clone();
            async move { this.fetch_api(&read, index).await }.boxed()
        });
        self.inner.api.stream(&loop_key(read), fetch, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_keys_tell_queries_apart() {
        let a = ApiRead::new("catalog/nodes");
        let b = ApiRead::new("catalog/nodes")
            .with("dc", "dc2")
            .with("near", "_agent");
        assert_eq!(loop_key(&a), "catalog/nodes");
        assert_eq!(loop_key(&b), "catalog/nodes?dc=dc2&near=_agent");
    }
}
