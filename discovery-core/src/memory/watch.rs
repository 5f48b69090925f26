//! Prefix watches on the in-memory backend: replay from the history, then live commits, with a
//! consistent reset when a consumer falls too far behind.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};

use super::store::{Commit, RawChange, Store};
use super::{Namespace, Shared, BACKEND};
use crate::{
    prefix_contains, Error, KvChange, KvEvent, KvPair, KvSnapshot, KvWatchStream, Result, Revision,
};

/// The state of one watch stream.
struct Watch {
    shared: Weak<Shared>,
    ns: Namespace,
    /// The watched prefix, namespaced.
    prefix: String,
    rx: broadcast::Receiver<Arc<Commit>>,
    drops: tokio::sync::watch::Receiver<String>,
    pending: VecDeque<KvEvent>,
    /// The last revision delivered (or skipped); later commits at or below it are ignored.
    last: u64,
}

/// Opens a watch of `prefix` (namespaced) in `ns`; see [`crate::KvView::watch_prefix`].
pub(super) fn open(
    shared: &Arc<Shared>,
    ns: Namespace,
    prefix: String,
    after: Option<Revision>,
) -> KvWatchStream {
    let store = shared.lock();
    let rx = store.events.subscribe();
    let drops = store.drops.subscribe();
    let mut pending = VecDeque::new();
    let last = match after {
        Some(r) if r.0 >= store.compacted => {
            for commit in store.history.iter().filter(|c| c.revision > r.0) {
                pending.extend(changed(&ns, &prefix, commit));
            }
            r.0.max(store.revision)
        }
        _ => {
            pending.push_back(KvEvent::Reset(snapshot(&store, &ns, &prefix)));
            store.revision
        }
    };
    drop(store);
    let watch = Watch {
        shared: Arc::downgrade(shared),
        ns,
        prefix,
        rx,
        drops,
        pending,
        last,
    };
    futures::stream::unfold(Some(watch), |watch| async move {
        let mut watch = watch?;
        match watch.next().await {
            Ok(event) => Some((Ok(event), Some(watch))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

impl Watch {
    async fn next(&mut self) -> Result<KvEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                Ok(()) = self.drops.changed() => {
                    let root = self.drops.borrow_and_update().clone();
                    if prefix_contains(&root, &self.prefix) {
                        return Err(Error::unavailable(BACKEND, "watch dropped (test hook)"));
                    }
                    continue;
                }
            };
            match received {
                Ok(commit) if commit.revision <= self.last => {}
                Ok(commit) => {
                    self.last = commit.revision;
                    if let Some(event) = changed(&self.ns, &self.prefix, &commit) {
                        return Ok(event);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // The receiver now continues at the oldest commit still buffered; a snapshot
                    // taken under the lock covers everything up to `last`, later commits follow.
                    let shared = self.shared.upgrade().ok_or_else(closed)?;
                    let store = shared.lock();
                    self.last = store.revision;
                    tracing::debug!(
                        backend = BACKEND,
                        prefix = %self.prefix,
                        missed,
                        "watch fell behind; resetting"
                    );
                    return Ok(KvEvent::Reset(snapshot(&store, &self.ns, &self.prefix)));
                }
                Err(RecvError::Closed) => return Err(closed()),
            }
        }
    }
}

fn closed() -> Error {
    Error::Closed {
        backend: BACKEND,
        what: "watch",
    }
}

/// The state under `prefix` at the store's current revision.
pub(super) fn snapshot(store: &Store, ns: &Namespace, prefix: &str) -> KvSnapshot {
    let prefixes = [prefix.to_owned()];
    KvSnapshot {
        revision: Revision(store.revision),
        pairs: store
            .range(&prefixes)
            .filter_map(|(k, e)| {
                let key = ns.strip(k)?;
                let pair = KvPair {
                    key: key.clone(),
                    value: e.value.clone(),
                    mod_revision: Revision(e.mod_revision),
                };
                Some((key, pair))
            })
            .collect(),
    }
}

/// The part of `commit` under `prefix`, as an event; `None` when nothing there changed.
fn changed(ns: &Namespace, prefix: &str, commit: &Commit) -> Option<KvEvent> {
    let revision = Revision(commit.revision);
    let changes: Vec<KvChange> = commit
        .changes
        .iter()
        .filter(|c| prefix_contains(prefix, c.key()))
        .filter_map(|c| {
            let key = ns.strip(c.key())?;
            Some(match c {
                RawChange::Put { value, .. } => KvChange::Put(KvPair {
                    key,
                    value: value.clone(),
                    mod_revision: revision,
                }),
                RawChange::Delete { .. } => KvChange::Delete(key),
            })
        })
        .collect();
    (!changes.is_empty()).then_some(KvEvent::Changed { revision, changes })
}
