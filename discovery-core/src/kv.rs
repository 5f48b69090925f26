//! The key-value view ([`KvView`]) used by confd-style rendering, and the write side ([`KvStore`]).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::{Key, Result, Revision};

/// One key and its value as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvPair {
    /// The full key (within the backend's namespace).
    pub key: Key,
    /// The raw value. It need not be UTF-8; renderers check that and name the key when it is not.
    pub value: Bytes,
    /// The revision of the last change to this key.
    pub mod_revision: Revision,
}

impl KvPair {
    /// The value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// Every key under one or more prefixes, read at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvSnapshot {
    /// The revision the snapshot was read at (for a watch: the last applied revision).
    pub revision: Revision,
    /// The pairs, sorted by key.
    pub pairs: BTreeMap<Key, KvPair>,
}

impl KvSnapshot {
    /// Applies one watch event: a [`KvEvent::Reset`] replaces the snapshot, a
    /// [`KvEvent::Changed`] applies its puts and deletes and advances the revision.
    ///
    /// Folding a watch stream from its first event with `apply` gives the same pairs as
    /// [`KvView::list`] at the same revision; every consumer and test uses this one reducer.
    ///
    /// ```
    /// use discovery_core::{Key, KvChange, KvEvent, KvPair, KvSnapshot, Revision};
    /// let mut s = KvSnapshot::default();
    /// let k = Key::new("/test/a")?;
    /// s.apply(KvEvent::Changed {
    ///     revision: Revision(2),
    ///     changes: vec![KvChange::Put(KvPair { key: k.clone(), value: "1".into(), mod_revision: Revision(2) })],
    /// });
    /// assert_eq!(s.pairs[&k].value, "1");
    /// assert_eq!(s.revision, Revision(2));
    /// # Ok::<(), discovery_core::Error>(())
    /// ```
    pub fn apply(&mut self, event: KvEvent) {
        match event {
            KvEvent::Reset(snapshot) => *self = snapshot,
            KvEvent::Changed { revision, changes } => {
                for change in changes {
                    self.apply_change(change);
                }
                self.revision = revision;
            }
            KvEvent::Progress(revision) => self.revision = self.revision.max(revision),
        }
    }

    /// Applies one change without touching the revision.
    pub fn apply_change(&mut self, change: KvChange) {
        match change {
            KvChange::Put(pair) => {
                self.pairs.insert(pair.key.clone(), pair);
            }
            KvChange::Delete(key) => {
                self.pairs.remove(&key);
            }
        }
    }

    /// The pairs contained in `prefix` (segment-based, see [`Key`]).
    pub fn under<'a>(&'a self, prefix: &'a Key) -> impl Iterator<Item = &'a KvPair> + 'a {
        self.pairs
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.as_str().starts_with(prefix.as_str()))
            .filter(move |(k, _)| prefix.contains(k))
            .map(|(_, v)| v)
    }
}

/// One change inside a [`KvEvent::Changed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvChange {
    /// The key was created or its value changed.
    Put(KvPair),
    /// The key was deleted (explicitly, or because its lease expired).
    Delete(Key),
}

impl KvChange {
    /// The key this change is about.
    pub fn key(&self) -> &Key {
        match self {
            KvChange::Put(p) => &p.key,
            KvChange::Delete(k) => k,
        }
    }
}

/// An item of a KV watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvEvent {
    /// The complete state under the watched prefix. Always the first event of a stream that
    /// was not asked to resume, and emitted again whenever the backend cannot deliver the
    /// missing changes (compaction, index reset): consumers replace their state.
    Reset(KvSnapshot),
    /// The changes of one revision (or of a run of revisions, ending at `revision`), in order.
    /// Never empty; revisions strictly increase along a stream.
    Changed {
        /// The revision of the last change in `changes`.
        revision: Revision,
        /// The changes, in the order they happened.
        changes: Vec<KvChange>,
    },
    /// Nothing changed under the prefix up to `revision` (etcd progress notification).
    Progress(Revision),
}

impl KvEvent {
    /// The revision this event brings a consumer to.
    pub fn revision(&self) -> Revision {
        match self {
            KvEvent::Reset(s) => s.revision,
            KvEvent::Changed { revision, .. } | KvEvent::Progress(revision) => *revision,
        }
    }
}

/// A `'static` stream of KV watch events. See [`KvView::watch_prefix`].
pub type KvWatchStream = BoxStream<'static, Result<KvEvent>>;

/// Read access to a key-value store: what confd-style templates render from.
///
/// # Contract
///
/// - `kv_get_missing_is_none`: [`get`](KvView::get) of a key that does not exist returns `Ok(None)`.
/// - `kv_prefix_boundary`: prefixes match whole segments: a prefix `/test` returns `/test` and
///   `/test/...`, never `/testing`.
/// - `kv_list_one_revision`: [`list`](KvView::list) over several prefixes reads them all at one
///   revision and reports it.
/// - `kv_watch_starts_with_reset`: [`watch_prefix`](KvView::watch_prefix) without `after` first
///   yields a [`KvEvent::Reset`] holding the full state under the prefix.
/// - `kv_watch_fold_equals_list`: folding the stream with [`KvSnapshot::apply`] equals `list` at
///   the same revision.
/// - `kv_watch_resume_no_loss_no_dup`: a watch with `after = Some(r)` yields exactly the changes
///   after `r`, each once, or a `Reset` when they are no longer available.
/// - `kv_watch_reset_after_compaction`: resuming below the backend's compaction point yields a
///   `Reset` with the current state instead of an error.
/// - `kv_non_utf8_round_trips`: values are bytes; any byte sequence written is read back unchanged.
/// - `namespaces_isolated`: two backends configured with different namespaces never see each
///   other's keys.
///
/// Streams retry transient failures themselves, resuming from the last delivered revision. Each
/// failed attempt is reported as an `Err` item whose [`is_retryable`](crate::Error::is_retryable)
/// is true, and the stream goes on; once it has recovered it yields an event (at least a
/// [`KvEvent::Progress`]), so a consumer can tell a broken watch from a quiet one. An `Err` that is
/// not retryable is the last item of the stream.
#[async_trait]
pub trait KvView: Debug + Send + Sync + 'static {
    /// The backend's name for logs and errors (`"memory"`, `"etcd"`, `"consul"`, ...).
    fn backend(&self) -> &'static str;

    /// The value of exactly `key`, or `None`.
    async fn get(&self, key: &Key) -> Result<Option<KvPair>>;

    /// Every key contained in any of `prefixes`, read at one revision.
    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot>;

    /// Watches every key contained in `prefix`.
    ///
    /// Without `after`, the first event is a [`KvEvent::Reset`] with the current state. With
    /// `after = Some(r)`, the stream yields the changes after `r` (or a `Reset` if the backend can no
    /// longer deliver them).
    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream>;
}

/// Write access to a key-value store, for sidekicks, examples and tests.
///
/// # Contract
///
/// - `kv_put_then_get`: a put is visible to `get`, `list` and watches, with a revision greater
///   than any returned before.
/// - `kv_delete_reports_existence`: `delete` returns whether the key existed.
/// - `kv_put_with_ttl_expires`: a put with a TTL disappears (and watchers see a delete) once the
///   TTL passes without being refreshed.
#[async_trait]
pub trait KvStore: KvView {
    /// Writes `value` at `key`; with `ttl`, the key is deleted once the TTL passes.
    async fn put(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<Revision>;

    /// Deletes `key`; returns whether it existed.
    async fn delete(&self, key: &Key) -> Result<bool>;
}

/// Store-side lease primitives shared by lease-based KV backends (etcd, memory). A lease is
/// granted with a TTL, keys can be attached to it, it is kept alive by refreshes and deleting it
/// deletes its keys. [`crate::KvRegistry`] builds the [`crate::Registry`] and [`crate::Watcher`]
/// of such a backend from these.
#[async_trait]
pub trait LeaseKv: KvStore {
    /// Grants a new lease of `ttl` (the backend may round it up to its minimum).
    async fn grant(&self, ttl: Duration) -> Result<LeaseId>;

    /// Writes `value` at `key`, attached to `lease`.
    async fn put_with_lease(&self, key: &Key, value: Bytes, lease: LeaseId) -> Result<Revision>;

    /// Refreshes `lease`. `Ok(Some(ttl))` when it is alive, `Ok(None)` when it no longer exists.
    async fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>>;

    /// Revokes `lease`, deleting its keys. Revoking a lease that is gone is not an error.
    async fn revoke(&self, lease: LeaseId) -> Result<()>;
}

/// A lease identifier as the backend assigns it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);
