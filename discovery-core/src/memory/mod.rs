//! [`MemoryBackend`]: every contract of the crate, in memory.
//!
//! The embedded default (no server needed) and the test double of the other backends. Clones
//! share one store; [`MemoryBackend::namespaced`] gives views of the same store whose keys never
//! meet. Revisions, leases, watches with resume and compaction behave like etcd's, with TTLs
//! running on Tokio's clock, so tests can use paused time.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Key, KvPair, KvRegistry, KvSnapshot, KvStore, KvView, KvWatchStream, Layout, LeaseId, LeaseKv,
    RegisterOptions, Registration, Registry, Result, Revision, ServiceInstance, ServiceName,
    Snapshot, WatchStream, Watcher,
};

mod lease;
mod store;
#[cfg(test)]
mod tests;
mod watch;

use store::Store;

const BACKEND: &str = "memory";

/// The in-memory backend: a [`KvStore`] with leases ([`LeaseKv`]), and through
/// [`KvRegistry`] a [`Registry`] and [`Watcher`] with the instance [`Layout`] it was built with.
///
/// - Clones share state: a registration made through one clone is seen by every other.
/// - One revision counter (starting at 1, like etcd) is bumped by every put, delete and lease
///   expiry; every key keeps the revision of its last change.
/// - Lease TTLs run on [`tokio::time`], so `#[tokio::test(start_paused = true)]` tests expire
///   leases without waiting. Leases need a Tokio runtime.
/// - Watches replay from a bounded history (1024 revisions by default, see
///   [`MemoryBackend::builder`]); resuming from before it, or after [`MemoryBackend::compact`],
///   yields a [`crate::KvEvent::Reset`]. A watch that falls behind by more than its buffer gets a
///   `Reset` too, so it never misses a change.
///
/// ```
/// use discovery_core::{Key, KvStore, KvView, MemoryBackend};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> discovery_core::Result<()> {
/// let store = MemoryBackend::new();
/// let tenant = store.namespaced("/tenant-a");
/// tenant.put(&Key::new("/app/port")?, "8080".into(), None).await?;
/// assert!(store.get(&Key::new("/app/port")?).await?.is_none());
/// assert!(store.get(&Key::new("/tenant-a/app/port")?).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
    ns: Namespace,
    layout: Layout,
    pool: crate::LeasePool,
}

/// Builder of a [`MemoryBackend`] with non-default limits.
#[derive(Clone, Debug)]
pub struct MemoryBuilder {
    layout: Layout,
    history: usize,
    watch_buffer: usize,
}

impl MemoryBuilder {
    /// Sets the instance layout used by [`Registry`] and [`Watcher`].
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// How many revisions watches can resume from (default 1024).
    pub fn history(mut self, revisions: usize) -> Self {
        self.history = revisions;
        self
    }

    /// How many commits a watch may fall behind before it gets a reset (default 1024).
    pub fn watch_buffer(mut self, commits: usize) -> Self {
        self.watch_buffer = commits;
        self
    }

    /// Builds a backend with an empty store.
    pub fn build(self) -> MemoryBackend {
        MemoryBackend {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new(self.history, self.watch_buffer)),
            }),
            ns: Namespace::default(),
            layout: self.layout,
            pool: crate::LeasePool::new(),
        }
    }
}

impl MemoryBackend {
    /// An empty store with the default layout and limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose registry uses `layout`.
    pub fn with_layout(layout: Layout) -> Self {
        Self::builder().layout(layout).build()
    }

    /// A builder for other limits.
    pub fn builder() -> MemoryBuilder {
        MemoryBuilder {
            layout: Layout::default(),
            history: store::DEFAULT_HISTORY,
            watch_buffer: store::DEFAULT_WATCH_BUFFER,
        }
    }

    /// A view of the same store in which every key is transparently prefixed by `ns`
    /// (`"/tenant-a"`, `"ns-1"`; nested when called on a namespaced backend). Two different
    /// namespaces never see each other's keys; the root namespace sees them all, prefixed. The
    /// view has its own [`crate::LeasePool`]: registrations share leases within a namespace only.
    pub fn namespaced(&self, ns: &str) -> MemoryBackend {
        MemoryBackend {
            shared: self.shared.clone(),
            ns: self.ns.join(ns),
            layout: self.layout.clone(),
            pool: crate::LeasePool::new(),
        }
    }

    /// The instance layout used by [`Registry`] and [`Watcher`].
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The current revision of the store.
    pub fn revision(&self) -> Revision {
        Revision(self.shared.lock().revision)
    }

    fn registry(&self) -> KvRegistry<MemoryBackend> {
        KvRegistry::with_pool(self.clone(), self.layout.clone(), self.pool.clone())
    }
}

/// Fault hooks for tests (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
impl MemoryBackend {
    /// Drops the history up to the current revision: a watch resuming from before it gets a
    /// [`crate::KvEvent::Reset`] (as after an etcd compaction). Affects the whole store.
    pub fn compact(&self) {
        self.shared.lock().compact();
    }

    /// Expires, as if their TTL had passed, every lease granted in this namespace or holding a
    /// key in it. Registrations notice at their next keepalive and register again.
    pub fn expire_leases(&self) {
        let mut store = self.shared.lock();
        for id in store.leases_in(self.ns.as_str()) {
            store.revoke(id);
        }
    }

    /// The live leases granted in this namespace or holding a key in it, in id order.
    pub fn leases(&self) -> Vec<crate::LeaseId> {
        let mut ids = self.shared.lock().leases_in(self.ns.as_str());
        ids.sort_unstable();
        ids.into_iter().map(crate::LeaseId).collect()
    }

    /// Ends every watch stream of this namespace with a retryable
    /// [`Error::Unavailable`](crate::Error::Unavailable) item, as a lost connection would: for
    /// testing how consumers resume (with `after`, nothing is lost).
    pub fn drop_watches(&self) {
        let store = self.shared.lock();
        store
            .drops
            .send_replace(store::namespace_root(self.ns.as_str()));
    }
}

/// The state shared by clones.
pub(crate) struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves the store consistent (every mutation is
        // completed before anything can panic), so poisoning is ignored.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            store: Mutex::new(Store::new(
                store::DEFAULT_HISTORY,
                store::DEFAULT_WATCH_BUFFER,
            )),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.lock();
        f.debug_struct("Shared")
            .field("revision", &store.revision)
            .field("keys", &store.kv.len())
            .field("leases", &store.leases.len())
            .finish()
    }
}

/// A key prefix (`""` for the root namespace, else `/a` or `/a/b`, never ending in `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Namespace(Arc<str>);

impl Namespace {
    fn join(&self, ns: &str) -> Namespace {
        let ns = ns.trim_matches('/');
        if ns.is_empty() {
            return self.clone();
        }
        Namespace(format!("{}/{ns}", self.0).into())
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form of `key`.
    fn full(&self, key: &Key) -> String {
        format!("{}{}", self.0, key.as_str())
    }

    /// The key as seen in this namespace, if `full` is in it.
    fn strip(&self, full: &str) -> Option<Key> {
        let rest = full.strip_prefix(&*self.0)?;
        rest.starts_with('/').then(|| Key::new(rest).ok()).flatten()
    }
}

#[async_trait]
impl KvView for MemoryBackend {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &Key) -> Result<Option<KvPair>> {
        let store = self.shared.lock();
        Ok(store.kv.get(&self.ns.full(key)).map(|e| KvPair {
            key: key.clone(),
            value: e.value.clone(),
            mod_revision: Revision(e.mod_revision),
        }))
    }

    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        let full: Vec<String> = prefixes.iter().map(|p| self.ns.full(p)).collect();
        let store = self.shared.lock();
        let mut snap = KvSnapshot {
            revision: Revision(store.revision),
            ..Default::default()
        };
        for (k, e) in store.range(&full) {
            if let Some(key) = self.ns.strip(k) {
                let pair = KvPair {
                    key: key.clone(),
                    value: e.value.clone(),
                    mod_revision: Revision(e.mod_revision),
                };
                snap.pairs.insert(key, pair);
            }
        }
        Ok(snap)
    }

    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream> {
        Ok(watch::open(
            &self.shared,
            self.ns.clone(),
            self.ns.full(prefix),
            after,
        ))
    }
}

#[async_trait]
impl KvStore for MemoryBackend {
    async fn put(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<Revision> {
        let full = self.ns.full(key);
        match ttl {
            None => self.shared.lock().put(full, value, None).map(Revision),
            Some(ttl) => {
                let id = self.grant(ttl).await?;
                let rev = self.shared.lock().put(full, value, Some(id.0));
                rev.map(Revision)
            }
        }
    }

    async fn delete(&self, key: &Key) -> Result<bool> {
        Ok(self.shared.lock().delete(&self.ns.full(key)))
    }
}

#[async_trait]
impl LeaseKv for MemoryBackend {
    async fn grant(&self, ttl: Duration) -> Result<LeaseId> {
        lease::grant(&self.shared, ttl, self.ns.as_str()).map(LeaseId)
    }

    async fn put_with_lease(&self, key: &Key, value: Bytes, lease: LeaseId) -> Result<Revision> {
        let full = self.ns.full(key);
        self.shared
            .lock()
            .put(full, value, Some(lease.0))
            .map(Revision)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>> {
        Ok(self.shared.lock().keep_alive(lease.0))
    }

    async fn revoke(&self, lease: LeaseId) -> Result<()> {
        self.shared.lock().revoke(lease.0);
        Ok(())
    }
}

#[async_trait]
impl Registry for MemoryBackend {
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        self.registry().register(instance, opts).await
    }
}

#[async_trait]
impl Watcher for MemoryBackend {
    async fn snapshot(&self, service: &ServiceName) -> Result<Snapshot> {
        self.registry().snapshot(service).await
    }

    async fn watch(&self, service: &ServiceName, after: Option<Revision>) -> Result<WatchStream> {
        self.registry().watch(service, after).await
    }
}
