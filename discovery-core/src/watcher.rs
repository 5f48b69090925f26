//! Watching a service: [`Watcher`], [`Snapshot`], [`WatchEvent`].

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{InstanceId, Result, Revision, ServiceInstance, ServiceName};

/// The instances of one service at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The revision the snapshot is at.
    pub revision: Revision,
    /// The instances, by id.
    pub instances: BTreeMap<InstanceId, ServiceInstance>,
}

impl Snapshot {
    /// Applies one watch event; see [`crate::KvSnapshot::apply`] for the rules, which are the same.
    ///
    /// ```
    /// use discovery_core::{Change, Revision, ServiceInstance, Snapshot, WatchEvent};
    /// let mut s = Snapshot::default();
    /// let web = ServiceInstance::new("web".parse()?, "w1".parse()?, "10.0.0.1", Some(80));
    /// s.apply(WatchEvent::Changed { revision: Revision(5), changes: vec![Change::Upsert(web)] });
    /// assert_eq!(s.instances.len(), 1);
    /// # Ok::<(), discovery_core::Error>(())
    /// ```
    pub fn apply(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Reset(s) => *self = s,
            WatchEvent::Changed { revision, changes } => {
                for c in changes {
                    match c {
                        Change::Upsert(i) => {
                            self.instances.insert(i.id.clone(), i);
                        }
                        Change::Remove(id) => {
                            self.instances.remove(&id);
                        }
                    }
                }
                self.revision = revision;
            }
            WatchEvent::Progress(r) => self.revision = self.revision.max(r),
        }
    }
}

/// One change inside a [`WatchEvent::Changed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The instance appeared or changed.
    Upsert(ServiceInstance),
    /// The instance went away (deregistered, lease expired, check failed).
    Remove(InstanceId),
}

/// An item of a service watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The full state of the service; consumers replace theirs. First event of a fresh watch, and
    /// emitted again when the backend cannot deliver missed changes (compaction, index reset).
    Reset(Snapshot),
    /// Ordered changes up to `revision`; never empty, revisions strictly increase.
    Changed {
        /// The revision of the last change.
        revision: Revision,
        /// The changes in order.
        changes: Vec<Change>,
    },
    /// No change to this service up to `revision`.
    Progress(Revision),
}

impl WatchEvent {
    /// The revision this event brings a consumer to.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Reset(s) => s.revision,
            WatchEvent::Changed { revision, .. } | WatchEvent::Progress(revision) => *revision,
        }
    }
}

/// A `'static` stream of service watch events. See [`Watcher::watch`].
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// Watches the instances of a service.
///
/// # Contract
///
/// - `watch_starts_with_reset`: a watch without `after` first yields [`WatchEvent::Reset`] with
///   every current instance, even when there is none (an empty service is a real state).
/// - `watch_changes_strictly_increase`: the revisions of successive `Changed` events strictly
///   increase, and no `Changed` event is empty.
/// - `watch_fold_equals_snapshot`: folding the stream with [`Snapshot::apply`] equals
///   [`snapshot`](Watcher::snapshot) at the same revision.
/// - `watch_resume_no_loss_no_dup`: a watch with `after = Some(r)` yields every change after `r`
///   exactly once, or a `Reset` when the backend can no longer deliver them.
/// - `watch_reset_after_compaction`: resuming from a compacted revision yields a `Reset` holding
///   the current state, not an error.
/// - `watch_reports_last_instance_removed`: removing the last instance is reported (as a
///   `Remove`), leaving an empty service.
/// - `watch_bad_value_does_not_break_stream`: an instance whose stored value cannot be decoded
///   yields an [`crate::Error::InvalidData`] item naming its key, and the stream goes on.
///
/// Transient failures are retried inside the stream and resumed from the last delivered revision;
/// each failed attempt is reported as a retryable `Err` item and the stream goes on, yielding an
/// event (at least a [`WatchEvent::Progress`]) once it has recovered. `InvalidData` items are not
/// fatal either. Any other `Err` is the last item of the stream.
#[async_trait]
pub trait Watcher: Debug + Send + Sync + 'static {
    /// The current instances of `service`.
    async fn snapshot(&self, service: &ServiceName) -> Result<Snapshot>;

    /// Watches `service`; see the trait's contract.
    async fn watch(&self, service: &ServiceName, after: Option<Revision>) -> Result<WatchStream>;
}
