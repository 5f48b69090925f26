//! The shared state of the in-memory backend: keys, leases, the revision counter and the
//! bounded history of commits that watches replay from.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::{prefix_contains, Error, Result};

/// How many revisions the history keeps by default.
pub(super) const DEFAULT_HISTORY: usize = 1024;
/// How many commits a watch may fall behind before it is resynchronised with a reset.
pub(super) const DEFAULT_WATCH_BUFFER: usize = 1024;

/// One stored value.
pub(super) struct Entry {
    pub(super) value: Bytes,
    pub(super) mod_revision: u64,
    pub(super) lease: Option<i64>,
}

/// One granted lease.
pub(super) struct Lease {
    pub(super) ttl: Duration,
    pub(super) deadline: Instant,
    /// The namespace of the backend that granted it (for the test hook `expire_leases`).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub(super) namespace: String,
    pub(super) keys: BTreeSet<String>,
}

/// One change of a commit, with the full (namespaced) key.
pub(super) enum RawChange {
    Put { key: String, value: Bytes },
    Delete { key: String },
}

impl RawChange {
    pub(super) fn key(&self) -> &str {
        match self {
            RawChange::Put { key, .. } | RawChange::Delete { key } => key,
        }
    }
}

/// Every change made at one revision.
pub(super) struct Commit {
    pub(super) revision: u64,
    pub(super) changes: Vec<RawChange>,
}

/// Everything behind the backend's mutex.
pub(super) struct Store {
    /// The current revision: 1 before any change (as etcd), bumped by every commit.
    pub(super) revision: u64,
    pub(super) kv: BTreeMap<String, Entry>,
    pub(super) leases: HashMap<i64, Lease>,
    next_lease: i64,
    /// The commits after `compacted`, oldest first, at most `history_cap` of them.
    pub(super) history: VecDeque<Arc<Commit>>,
    history_cap: usize,
    /// Watches may resume after any revision `>= compacted`.
    pub(super) compacted: u64,
    pub(super) events: broadcast::Sender<Arc<Commit>>,
    /// The namespace root of the last `drop_watches` (test hook): watches under it end.
    pub(super) drops: tokio::sync::watch::Sender<String>,
}

impl Store {
    pub(super) fn new(history_cap: usize, watch_buffer: usize) -> Self {
        Store {
            revision: 1,
            kv: BTreeMap::new(),
            leases: HashMap::new(),
            next_lease: 1,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            compacted: 0,
            events: broadcast::channel(watch_buffer.max(1)).0,
            drops: tokio::sync::watch::channel(String::new()).0,
        }
    }

    /// Records `changes` as the next revision and publishes them to watches.
    fn commit(&mut self, changes: Vec<RawChange>) -> u64 {
        self.revision += 1;
        let commit = Arc::new(Commit {
            revision: self.revision,
            changes,
        });
        self.history.push_back(commit.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.revision;
            }
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.events.send(commit);
        self.revision
    }

    /// Writes `key`, attached to `lease` (or to none).
    pub(super) fn put(&mut self, key: String, value: Bytes, lease: Option<i64>) -> Result<u64> {
        if let Some(id) = lease {
            if !self.leases.contains_key(&id) {
                return Err(lease_gone(id));
            }
        }
        self.detach(&key);
        if let Some(id) = lease {
            if let Some(l) = self.leases.get_mut(&id) {
                l.keys.insert(key.clone());
            }
        }
        let revision = self.revision + 1;
        self.kv.insert(
            key.clone(),
            Entry {
                value: value.clone(),
                mod_revision: revision,
                lease,
            },
        );
        Ok(self.commit(vec![RawChange::Put { key, value }]))
    }

    /// Deletes `key`; whether it existed.
    pub(super) fn delete(&mut self, key: &str) -> bool {
        if !self.kv.contains_key(key) {
            return false;
        }
        self.detach(key);
        self.kv.remove(key);
        self.commit(vec![RawChange::Delete {
            key: key.to_owned(),
        }]);
        true
    }

    /// Removes `key` from the lease it is attached to, if any.
    fn detach(&mut self, key: &str) {
        if let Some(id) = self.kv.get(key).and_then(|e| e.lease) {
            if let Some(l) = self.leases.get_mut(&id) {
                l.keys.remove(key);
            }
        }
    }

    pub(super) fn grant(&mut self, ttl: Duration, namespace: &str) -> i64 {
        let id = self.next_lease;
        self.next_lease += 1;
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline: Instant::now() + ttl,
                namespace: namespace.to_owned(),
                keys: BTreeSet::new(),
            },
        );
        id
    }

    /// Resets the deadline of `id`; its TTL, or `None` when it no longer exists.
    pub(super) fn keep_alive(&mut self, id: i64) -> Option<Duration> {
        let lease = self.leases.get_mut(&id)?;
        lease.deadline = Instant::now() + lease.ttl;
        Some(lease.ttl)
    }

    /// Removes lease `id` and deletes its keys in one revision. Whether the lease existed.
    pub(super) fn revoke(&mut self, id: i64) -> bool {
        let Some(lease) = self.leases.remove(&id) else {
            return false;
        };
        let changes: Vec<RawChange> = lease
            .keys
            .into_iter()
            .filter(|k| self.kv.remove(k).is_some())
            .map(|key| RawChange::Delete { key })
            .collect();
        if !changes.is_empty() {
            self.commit(changes);
        }
        true
    }

    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    /// The ids of the leases granted in `namespace` or holding a key in it.
    pub(super) fn leases_in(&self, namespace: &str) -> Vec<i64> {
        let ns = ns_root(namespace);
        self.leases
            .iter()
            .filter(|(_, l)| {
                prefix_contains(&ns, &ns_root(&l.namespace))
                    || l.keys.iter().any(|k| prefix_contains(&ns, k))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    /// Forgets the history up to the current revision.
    pub(super) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.revision;
    }

    /// The entries whose full key is contained in any of `prefixes` (full prefixes).
    pub(super) fn range<'a>(
        &'a self,
        prefixes: &'a [String],
    ) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        prefixes.iter().flat_map(move |p| {
            self.kv
                .range::<str, _>((
                    std::ops::Bound::Included(p.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(move |(k, _)| k.starts_with(p.as_str()))
                .filter(move |(k, _)| prefix_contains(p, k))
        })
    }
}

#[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
/// The prefix covering a whole namespace (`/` for the root namespace).
pub(super) fn namespace_root(namespace: &str) -> String {
    ns_root(namespace)
}

/// The prefix covering a whole namespace (`/` for the root namespace).
fn ns_root(namespace: &str) -> String {
    if namespace.is_empty() {
        "/".to_owned()
    } else {
        format!("{namespace}/")
    }
}

pub(super) fn lease_gone(id: i64) -> Error {
    Error::LeaseExpired {
        backend: super::BACKEND,
        instance: format!("lease {id}"),
    }
}
