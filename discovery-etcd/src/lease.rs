//! Lease primitives ([`LeaseKv`]) with one cached keepalive stream per lease.
//!
//! The keepalive *schedule* and re-registration live in discovery-core's state machine; this
//! file only sends one refresh when asked and reads its answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use discovery_core::{Error, Key, LeaseId, LeaseKv, Result, Revision};
use etcd_client::{LeaseKeepAliveStream, LeaseKeeper};

use crate::error::{call, map, timed, BACKEND};
use crate::EtcdBackend;

/// An open keepalive stream of one lease.
pub(crate) struct Keeper {
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
}

/// The cached keepalive streams, by lease id.
pub(crate) type Keepers = Mutex<HashMap<i64, Keeper>>;

/// The outcome of one refresh on a stream.
enum Refresh {
    Alive(Duration),
    Gone,
}

impl Keeper {
    /// Sends one refresh and reads its answer. Every request gets exactly one response, so
    /// reading one per request drains the stream.
    async fn refresh(&mut self) -> std::result::Result<Refresh, etcd_client::Error> {
        self.keeper.keep_alive().await?;
        match self.stream.message().await? {
            Some(resp) if resp.ttl() > 0 => Ok(Refresh::Alive(Duration::from_secs(
                u64::try_from(resp.ttl()).unwrap_or(0),
            ))),
            Some(_) => Ok(Refresh::Gone),
            None => Err(etcd_client::Error::LeaseKeepAliveError(
                "keepalive stream closed".into(),
            )),
        }
    }
}

fn lock(keepers: &Keepers) -> std::sync::MutexGuard<'_, HashMap<i64, Keeper>> {
    keepers.lock().unwrap_or_else(|p| p.into_inner())
}

impl EtcdBackend {
    /// Opens a keepalive stream for `lease`; `None` when the lease no longer exists.
    async fn open_keeper(&self, lease: i64) -> Result<Option<Keeper>> {
        let mut client = self.client().lease_client();
        match tokio::time::timeout(self.timeout(), client.keep_alive(lease)).await {
            Err(_) => Err(Error::Timeout {
                backend: BACKEND,
                operation: "keepalive",
                after: self.timeout(),
            }),
            // etcd-client reads the first answer itself and reports a TTL of 0 this way.
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(m))) if m.contains("not found") => {
                Ok(None)
            }
            Ok(Err(e)) => Err(map(e)),
            Ok(Ok((keeper, stream))) => Ok(Some(Keeper { keeper, stream })),
        }
    }
}

#[async_trait]
impl LeaseKv for EtcdBackend {
    async fn grant(&self, ttl: Duration) -> Result<LeaseId> {
        let secs = i64::try_from(ttl.as_secs_f64().ceil() as u64)
            .unwrap_or(i64::MAX)
            .max(1);
        let client = self.client().lease_client();
        let resp = call("grant", self.timeout(), || {
            let mut client = client.clone();
            async move { client.grant(secs, None).await }
        })
        .await?;
        if !resp.error().is_empty() {
            return Err(Error::backend_error(BACKEND, resp.error().to_owned()));
        }
        Ok(LeaseId(resp.id()))
    }

    async fn put_with_lease(&self, key: &Key, value: Bytes, lease: LeaseId) -> Result<Revision> {
        self.put_raw(key, value, Some(lease.0)).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>> {
        let cached = lock(self.keepers()).remove(&lease.0);
        if let Some(mut keeper) = cached {
            match tokio::time::timeout(self.timeout(), keeper.refresh()).await {
                Ok(Ok(Refresh::Alive(ttl))) => {
                    lock(self.keepers()).insert(lease.0, keeper);
                    return Ok(Some(ttl));
                }
                Ok(Ok(Refresh::Gone)) => return Ok(None),
                Ok(Err(e)) => {
                    tracing::debug!(lease = lease.0, error = %map(e), "keepalive stream broken; reopening");
                }
                Err(_) => {
                    tracing::debug!(lease = lease.0, "keepalive answer timed out; reopening");
                }
            }
        }
        // Opening the stream refreshes the lease once (its first answer is read by the client).
        let Some(mut keeper) = self.open_keeper(lease.0).await? else {
            return Ok(None);
        };
        // One more refresh on the new stream tells the remaining TTL.
        match timed("keepalive", self.timeout(), keeper.refresh()).await? {
            Refresh::Alive(ttl) => {
                lock(self.keepers()).insert(lease.0, keeper);
                Ok(Some(ttl))
            }
            Refresh::Gone => Ok(None),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<()> {
        lock(self.keepers()).remove(&lease.0);
        let client = self.client().lease_client();
        let revoked = call("revoke", self.timeout(), || {
            let mut client = client.clone();
            async move { client.revoke(lease.0).await }
        })
        .await;
        match revoked {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
