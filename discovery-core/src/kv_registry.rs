//! [`KvRegistry`]: the [`Registry`] and [`Watcher`] of any lease-capable KV backend ([`LeaseKv`]),
//! written once for etcd and the in-memory backend.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use crate::lease_pool::PooledDriver;
use crate::registry::{KeepAlive, LeaseDriver};
use crate::{
    Change, KvChange, KvEvent, KvSnapshot, Layout, LeaseId, LeaseKv, LeasePool, RegisterOptions,
    Registration, Registry, Result, Revision, ServiceInstance, ServiceName, Snapshot, WatchEvent,
    WatchStream, Watcher,
};

/// Registry and watcher over a [`LeaseKv`] store with a [`Layout`].
///
/// ```
/// # async fn demo() -> discovery_core::Result<()> {
/// use std::time::Duration;
/// use discovery_core::{KvRegistry, Layout, MemoryBackend, RegisterOptions, Registry, ServiceInstance, Watcher};
/// let registry = KvRegistry::new(MemoryBackend::new(), Layout::default());
/// let web = ServiceInstance::new("web".parse()?, "w1".parse()?, "10.0.0.1", Some(80));
/// let guard = registry.register(web, RegisterOptions::with_ttl(Duration::from_secs(10))).await?;
/// assert_eq!(registry.snapshot(&"web".parse()?).await?.instances.len(), 1);
/// guard.deregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KvRegistry<B> {
    kv: B,
    layout: Layout,
    backend: &'static str,
    pool: LeasePool,
}

impl<B: fmt::Debug> fmt::Debug for KvRegistry<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvRegistry")
            .field("kv", &self.kv)
            .field("layout", &self.layout)
            .finish()
    }
}

impl<B: LeaseKv + Clone> KvRegistry<B> {
    /// Wraps `kv` with `layout`, with a new [`LeasePool`] shared by this registry's clones.
    pub fn new(kv: B, layout: Layout) -> Self {
        Self::with_pool(kv, layout, LeasePool::new())
    }

    /// Wraps `kv` with `layout`; registrations with [`RegisterOptions::shared_lease`] share the
    /// leases of `pool` (backends keep one pool per client, so that every registry they build
    /// shares it).
    pub fn with_pool(kv: B, layout: Layout, pool: LeasePool) -> Self {
        let backend = kv.backend();
        KvRegistry {
            kv,
            layout,
            backend,
            pool,
        }
    }

    /// The pool of shared leases.
    pub fn pool(&self) -> &LeasePool {
        &self.pool
    }

    /// The underlying store.
    pub fn kv(&self) -> &B {
        &self.kv
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn decode_snapshot(&self, service: &ServiceName, kv: &KvSnapshot) -> Snapshot {
        let mut snap = Snapshot {
            revision: kv.revision,
            ..Default::default()
        };
        for pair in kv.pairs.values() {
            if self.layout.instance_id(service, &pair.key).is_none() {
                continue;
            }
            match self
                .layout
                .decode(self.backend, service, &pair.key, &pair.value)
            {
                Ok(i) => {
                    snap.instances.insert(i.id.clone(), i);
                }
                Err(e) => tracing::warn!(error = %e, "skipping undecodable instance"),
            }
        }
        snap
    }
}

#[async_trait]
impl<B: LeaseKv + Clone> Registry for KvRegistry<B> {
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        if opts.shared_lease {
            let driver = PooledDriver {
                kv: self.kv.clone(),
                layout: self.layout.clone(),
                pool: self.pool.clone(),
                opts: opts.clone(),
            };
            return Registration::start(driver, instance, opts).await;
        }
        let driver = KvLeaseDriver {
            kv: self.kv.clone(),
            layout: self.layout.clone(),
            backend: self.backend,
        };
        Registration::start(driver, instance, opts).await
    }
}

#[async_trait]
impl<B: LeaseKv + Clone> Watcher for KvRegistry<B> {
    async fn snapshot(&self, service: &ServiceName) -> Result<Snapshot> {
        let prefix = self.layout.service_prefix(service);
        let kv = self.kv.list(std::slice::from_ref(&prefix)).await?;
        Ok(self.decode_snapshot(service, &kv))
    }

    async fn watch(&self, service: &ServiceName, after: Option<Revision>) -> Result<WatchStream> {
        let prefix = self.layout.service_prefix(service);
        let inner = self.kv.watch_prefix(&prefix, after).await?;
        let this = self.clone();
        let service = service.clone();
        let s = inner.flat_map(move |item| {
            let out: Vec<Result<WatchEvent>> = match item {
                Err(e) => vec![Err(e)],
                Ok(KvEvent::Reset(kv)) => {
                    vec![Ok(WatchEvent::Reset(this.decode_snapshot(&service, &kv)))]
                }
                Ok(KvEvent::Progress(r)) => vec![Ok(WatchEvent::Progress(r))],
                Ok(KvEvent::Changed { revision, changes }) => {
                    let mut errors = Vec::new();
                    let mut out_changes = Vec::new();
                    for c in changes {
                        let Some(id) = this
                            .layout
                            .instance_id(&service, c.key())
                            .map(str::to_owned)
                        else {
                            continue;
                        };
                        match c {
                            KvChange::Put(p) => {
                                match this.layout.decode(this.backend, &service, &p.key, &p.value) {
                                    Ok(i) => out_changes.push(Change::Upsert(i)),
                                    Err(e) => {
                                        // An undecodable value replaces whatever was there: the
                                        // instance is gone for consumers, as in `snapshot`.
                                        if let Ok(id) = id.parse() {
                                            out_changes.push(Change::Remove(id));
                                        }
                                        errors.push(Err(e));
                                    }
                                }
                            }
                            KvChange::Delete(_) => {
                                if let Ok(id) = id.parse() {
                                    out_changes.push(Change::Remove(id));
                                }
                            }
                        }
                    }
                    let mut v = Vec::with_capacity(1 + errors.len());
                    if out_changes.is_empty() {
                        v.push(Ok(WatchEvent::Progress(revision)));
                    } else {
                        v.push(Ok(WatchEvent::Changed {
                            revision,
                            changes: out_changes,
                        }));
                    }
                    v.extend(errors);
                    v
                }
            };
            stream::iter(out)
        });
        Ok(s.boxed())
    }
}

/// [`LeaseDriver`] for [`LeaseKv`] stores: a lease per registration, the instance key attached
/// (registrations with [`RegisterOptions::shared_lease`] off).
struct KvLeaseDriver<B> {
    kv: B,
    layout: Layout,
    backend: &'static str,
}

#[async_trait]
impl<B: LeaseKv + Clone> LeaseDriver for KvLeaseDriver<B> {
    type Lease = LeaseId;

    fn backend(&self) -> &'static str {
        self.backend
    }

    async fn grant(&self, instance: &ServiceInstance, ttl: Duration) -> Result<LeaseId> {
        let lease = self.kv.grant(ttl).await?;
        let key = self.layout.instance_key(instance);
        if let Err(e) = self
            .kv
            .put_with_lease(&key, self.layout.encode(instance), lease)
            .await
        {
            let _ = self.kv.revoke(lease).await;
            return Err(e);
        }
        Ok(lease)
    }

    async fn keep_alive(&self, lease: &mut LeaseId) -> Result<KeepAlive> {
        Ok(match self.kv.keep_alive(*lease).await? {
            Some(_) => KeepAlive::Alive,
            None => KeepAlive::Expired,
        })
    }

    async fn revoke(&self, lease: LeaseId) -> Result<()> {
        self.kv.revoke(lease).await
    }
}
