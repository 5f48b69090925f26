//! [`LeasePool`]: registrations of one registry with the same TTL share one lease.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::registry::{KeepAlive, LeaseDriver};
use crate::{Error, Key, Layout, LeaseId, LeaseKv, RegisterOptions, Result, ServiceInstance};

/// A failed refresh is shared with callers that arrive this soon after it (on top of those that
/// waited for it), so that thousands of registrations retrying through a partition send about one
/// request a second per lease rather than one each.
const FAILURE_REUSE: Duration = Duration::from_secs(1);
/// How long a registration waits to delete its key again after a failed deregistration (the key
/// would otherwise live on under the lease the other registrations keep alive).
const DELETE_RETRY: Duration = Duration::from_secs(1);

/// A group of registrations that may share a lease: same TTL, same keepalive interval.
type Group = (Duration, Duration);

/// The registrations of one [`KvRegistry`](crate::KvRegistry) that have the same
/// TTL and keepalive interval share one lease, refreshed once per interval whatever their number.
///
/// The pool is a [`LeaseDriver`]: every registration still runs the one state machine
/// (`lease::run`) with its own [`LeaseState`](crate::LeaseState), schedule and backoff. What the
/// pool changes is what its primitives cost:
/// - `grant` joins the group's current lease (granting one when there is none, once however many
///   registrations ask at the same time) and writes the instance key under it;
/// - `keep_alive` is single-flight: callers that arrive while a refresh is in flight, or within
///   an interval of the last successful one, share its answer instead of sending their own;
/// - `revoke` deletes the registration's key only; the last registration to leave revokes the
///   lease.
///
/// When the lease expires, the first keepalive to find out marks it dead: every registration on
/// it then sees [`KeepAlive::Expired`] at its next keepalive, without a request, and re-registers
/// onto a new lease of the group.
///
/// Cheap to clone: clones share the pool. A backend keeps one per client and hands it to every
/// [`KvRegistry`](crate::KvRegistry) it builds ([`KvRegistry::with_pool`](crate::KvRegistry::with_pool)),
/// so that all registrations made through that client share.
#[derive(Clone, Default)]
pub struct LeasePool {
    inner: Arc<PoolInner>,
}

#[derive(Default)]
struct PoolInner {
    /// The lease that new registrations of each group join.
    current: Mutex<HashMap<Group, Arc<Shared>>>,
    /// Held while a lease is granted, so that registrations arriving together wait for one lease.
    granting: tokio::sync::Mutex<()>,
    /// How many pooled registrations hold each instance key (two registrations of one instance
    /// must not delete each other's key).
    keys: Mutex<HashMap<Key, usize>>,
}

impl fmt::Debug for LeasePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leases: Vec<LeaseId> = lock(&self.inner.current).values().map(|s| s.id).collect();
        f.debug_struct("LeasePool")
            .field("leases", &leases)
            .finish_non_exhaustive()
    }
}

/// One shared lease.
struct Shared {
    id: LeaseId,
    ttl: Duration,
    interval: Duration,
    /// When a refresh (or the grant) last found it alive.
    alive_at: Mutex<Instant>,
    /// Registrations holding it (changed under `PoolInner::current`'s lock).
    users: Mutex<usize>,
    /// A keepalive found it gone.
    dead: AtomicBool,
    /// Refreshes completed so far: a caller that saw another number before it got the lock waited
    /// for a refresh and takes its answer.
    refreshes: AtomicU64,
    last: tokio::sync::Mutex<Option<Refreshed>>,
}

/// The answer of the last refresh of a shared lease.
struct Refreshed {
    started: Instant,
    finished: Instant,
    failure: Option<Arc<str>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registration's hold on a shared lease ([`LeaseDriver::Lease`] of the pool).
pub(crate) struct PooledLease {
    shared: Arc<Shared>,
    key: Key,
    pool: LeasePool,
    released: bool,
}

impl PooledLease {
    /// Gives the hold back: returns whether other pooled registrations still hold the key, and
    /// whether this was the last holder of the lease (which must then be revoked).
    fn release(&mut self) -> (bool, bool) {
        if std::mem::replace(&mut self.released, true) {
            return (true, false);
        }
        let key_held = {
            let mut keys = lock(&self.pool.inner.keys);
            let n = keys.get_mut(&self.key).map(|n| {
                *n -= 1;
                *n
            });
            if n == Some(0) {
                keys.remove(&self.key);
            }
            n.unwrap_or(0) > 0
        };
        let mut current = lock(&self.pool.inner.current);
        let mut users = lock(&self.shared.users);
        *users -= 1;
        let last = *users == 0;
        if last {
            current.retain(|_, s| !Arc::ptr_eq(s, &self.shared));
        }
        (key_held, last)
    }
}

impl Drop for PooledLease {
    fn drop(&mut self) {
        // A hold dropped without `revoke` (its lease expired, or the revoke was cancelled): the
        // bookkeeping only; an unrevoked lease nobody refreshes expires after its TTL.
        self.release();
    }
}

impl LeasePool {
    /// A new, empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The leases new registrations would join now, one per (TTL, keepalive interval) in use.
    pub fn leases(&self) -> Vec<LeaseId> {
        lock(&self.inner.current).values().map(|s| s.id).collect()
    }

    /// Joins the group's current lease, or grants a new one. Returns the lease and whether it
    /// was joined (rather than granted now).
    async fn join<B: LeaseKv>(
        &self,
        kv: &B,
        opts: &RegisterOptions,
    ) -> Result<(Arc<Shared>, bool)> {
        let group = (opts.ttl, opts.interval());
        if let Some(s) = self.enter(group) {
            return Ok((s, true));
        }
        let _granting = self.inner.granting.lock().await;
        if let Some(s) = self.enter(group) {
            return Ok((s, true));
        }
        let id = kv.grant(opts.ttl).await?;
        let shared = Arc::new(Shared {
            id,
            ttl: opts.ttl,
            interval: group.1,
            alive_at: Mutex::new(Instant::now()),
            users: Mutex::new(1),
            dead: AtomicBool::new(false),
            refreshes: AtomicU64::new(0),
            last: tokio::sync::Mutex::new(None),
        });
        lock(&self.inner.current).insert(group, shared.clone());
        Ok((shared, false))
    }

    /// Takes a hold on the group's current lease, if it has a live one.
    fn enter(&self, group: Group) -> Option<Arc<Shared>> {
        let current = lock(&self.inner.current);
        let s = current.get(&group)?;
        if s.dead.load(Ordering::Acquire) {
            return None;
        }
        *lock(&s.users) += 1;
        Some(s.clone())
    }

    /// Stops handing `shared` out to new registrations (it expired, or a put under it failed).
    fn retire(&self, shared: &Arc<Shared>) {
        lock(&self.inner.current).retain(|_, s| !Arc::ptr_eq(s, shared));
    }

    fn hold(&self, shared: Arc<Shared>, key: Key) -> PooledLease {
        *lock(&self.inner.keys).entry(key.clone()).or_insert(0) += 1;
        PooledLease {
            shared,
            key,
            pool: self.clone(),
            released: false,
        }
    }
}

/// The [`LeaseDriver`] of pooled registrations.
pub(crate) struct PooledDriver<B> {
    pub(crate) kv: B,
    pub(crate) layout: Layout,
    pub(crate) pool: LeasePool,
    pub(crate) opts: RegisterOptions,
}

#[async_trait]
impl<B: LeaseKv + Clone> LeaseDriver for PooledDriver<B> {
    type Lease = PooledLease;

    fn backend(&self) -> &'static str {
        self.kv.backend()
    }

    async fn grant(&self, instance: &ServiceInstance, _ttl: Duration) -> Result<PooledLease> {
        let key = self.layout.instance_key(instance);
        let value = self.layout.encode(instance);
        let mut retried = false;
        loop {
            let (shared, joined) = self.pool.join(&self.kv, &self.opts).await?;
            let id = shared.id;
            let mut lease = self.pool.hold(shared, key.clone());
            match self.kv.put_with_lease(&key, value.clone(), id).await {
                Ok(_) => return Ok(lease),
                Err(e) => {
                    // The joined lease may have expired unnoticed: try once with a new one.
                    self.pool.retire(&lease.shared);
                    let (_, last) = lease.release();
                    if last {
                        let _ = self.kv.revoke(id).await;
                    }
                    if !joined || retried {
                        return Err(e);
                    }
                    retried = true;
                }
            }
        }
    }

    async fn keep_alive(&self, lease: &mut PooledLease) -> Result<KeepAlive> {
        let shared = lease.shared.clone();
        let seen = shared.refreshes.load(Ordering::Acquire);
        let mut last = shared.last.lock().await;
        if shared.dead.load(Ordering::Acquire) {
            return Ok(KeepAlive::Expired);
        }
        let waited = shared.refreshes.load(Ordering::Acquire) != seen;
        if let Some(r) = last.as_ref() {
            let reuse = match &r.failure {
                None => waited || r.started.elapsed() < shared.interval,
                Some(_) => waited || r.finished.elapsed() < FAILURE_REUSE,
            };
            if reuse {
                return match &r.failure {
                    None => Ok(KeepAlive::Alive),
                    Some(reason) => Err(Error::unavailable(self.backend(), reason.to_string())),
                };
            }
        }
        let started = Instant::now();
        let answer = self.kv.keep_alive(shared.id).await;
        let failure = match &answer {
            Ok(Some(_)) => {
                *lock(&shared.alive_at) = started;
                None
            }
            Ok(None) => {
                shared.dead.store(true, Ordering::Release);
                self.pool.retire(&shared);
                None
            }
            Err(e) => Some(Arc::from(e.to_string())),
        };
        *last = Some(Refreshed {
            started,
            finished: Instant::now(),
            failure,
        });
        shared.refreshes.fetch_add(1, Ordering::AcqRel);
        Ok(match answer? {
            Some(_) => KeepAlive::Alive,
            None => KeepAlive::Expired,
        })
    }

    async fn revoke(&self, mut lease: PooledLease) -> Result<()> {
        let (key_held, last) = lease.release();
        let id = lease.shared.id;
        if last {
            // Revoking the lease deletes the key with it.
            return self.kv.revoke(id).await;
        }
        if lock(&lease.shared.alive_at).elapsed() >= lease.shared.ttl {
            // Not refreshed for a whole TTL (the state machine gives up on it for the same
            // reason): the lease, and the key with it, are gone; the others re-register too.
            lease.shared.dead.store(true, Ordering::Release);
            self.pool.retire(&lease.shared);
            return Ok(());
        }
        if key_held || lease.shared.dead.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.kv.delete(&lease.key).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tokio::spawn(delete_later(self.kv.clone(), lease));
                Err(e)
            }
        }
    }
}

/// Deletes the key of a released hold until it is gone, the lease is gone, or another pooled
/// registration of the same instance holds the key again.
async fn delete_later<B: LeaseKv>(kv: B, lease: PooledLease) {
    loop {
        tokio::time::sleep(DELETE_RETRY).await;
        let key_held = lock(&lease.pool.inner.keys).contains_key(&lease.key);
        let lease_gone =
            lease.shared.dead.load(Ordering::Acquire) || *lock(&lease.shared.users) == 0;
        if key_held || lease_gone {
            return;
        }
        match kv.delete(&lease.key).await {
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(key = %lease.key, error = %e, "deleting a deregistered key failed; retrying")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{LeaseState, MemoryBackend, Registration, Registry, Watcher};

    fn web(i: usize) -> ServiceInstance {
        let id = format!("w{i}").parse().expect("instance id");
        ServiceInstance::new("web".parse().expect("service"), id, "10.0.0.1", Some(80))
    }

    async fn register(b: &MemoryBackend, n: usize, opts: RegisterOptions) -> Vec<Registration> {
        let mut regs = Vec::new();
        for i in 0..n {
            regs.push(b.register(web(i), opts.clone()).await.expect("register"));
        }
        regs
    }

    async fn leases(b: &MemoryBackend) -> BTreeSet<LeaseId> {
        b.leases().into_iter().collect()
    }

    #[tokio::test(start_paused = true)]
    async fn same_ttl_shares_one_lease_and_the_last_one_out_revokes_it() {
        let b = MemoryBackend::new().namespaced("/pool");
        let ttl = RegisterOptions::with_ttl(Duration::from_secs(10));
        let mut regs = register(&b, 50, ttl.clone()).await;
        let twenty = RegisterOptions::with_ttl(Duration::from_secs(20));
        let other = b.register(web(100), twenty).await.expect("register");
        assert_eq!(leases(&b).await.len(), 2, "one lease per TTL");
        // Alive across many TTLs with the shared refreshes.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let web = "web".parse().expect("service");
        assert_eq!(
            b.snapshot(&web).await.expect("snapshot").instances.len(),
            51
        );
        // Deregistering one deletes its key only.
        regs.pop()
            .expect("one")
            .deregister()
            .await
            .expect("deregister");
        let snap = b.snapshot(&web).await.expect("snapshot");
        assert_eq!(snap.instances.len(), 50);
        assert!(!snap.instances.contains_key(&web_id(49)));
        assert!(regs.iter().all(|r| r.state() == LeaseState::Live));
        for r in regs {
            r.deregister().await.expect("deregister");
        }
        assert_eq!(
            leases(&b).await.len(),
            1,
            "the last one out revoked the shared lease"
        );
        drop(other);
    }

    fn web_id(i: usize) -> crate::InstanceId {
        format!("w{i}").parse().expect("instance id")
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_shared_lease_re_registers_everyone_onto_a_new_one() {
        let b = MemoryBackend::new().namespaced("/pool");
        let regs = register(&b, 20, RegisterOptions::default()).await;
        let mut states: Vec<_> = regs.iter().map(Registration::subscribe).collect();
        let before = leases(&b).await;
        assert_eq!(before.len(), 1);
        b.expire_leases();
        for s in &mut states {
            s.changed().await.expect("a state change (Reregistering)");
            s.wait_for(|s| *s == LeaseState::Live).await.expect("live");
        }
        let web = "web".parse().expect("service");
        assert_eq!(
            b.snapshot(&web).await.expect("snapshot").instances.len(),
            20
        );
        let after = leases(&b).await;
        assert_eq!(after.len(), 1, "all on one new lease: {after:?}");
        assert!(after.is_disjoint(&before));
    }

    #[tokio::test(start_paused = true)]
    async fn shared_lease_off_gives_each_registration_its_own() {
        let b = MemoryBackend::new().namespaced("/pool");
        let _regs = register(&b, 5, RegisterOptions::default().shared_lease(false)).await;
        assert_eq!(leases(&b).await.len(), 5);
    }
}
