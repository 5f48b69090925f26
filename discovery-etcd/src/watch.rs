//! Resumable prefix watches: list at R → `Reset` → watch from R+1; reconnect from the last
//! delivered revision + 1; re-list on compaction.

use std::time::Duration;

use discovery_core::{
    prefix_contains, Backoff, Error, Key, KvChange, KvEvent, KvPair, KvWatchStream, Revision,
};
use etcd_client::{EventType, WatchOptions, WatchResponse, WatchStream};
use futures::StreamExt;

use crate::error::{map, timed, BACKEND};
use crate::keys::{etcd_revision, revision};
use crate::EtcdBackend;

/// Reconnect schedule of a broken watch.
const RECONNECT: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_secs(3),
};

/// A watch of `backend` under `prefix`, starting after `after` (or with a `Reset`).
pub(crate) fn watch(backend: EtcdBackend, prefix: Key, after: Option<Revision>) -> KvWatchStream {
    let state = WatchState {
        backend,
        prefix,
        last: after.unwrap_or_default(),
        need_reset: after.is_none(),
        stream: None,
        failures: 0,
        sleep: None,
        recovering: false,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    })
    .boxed()
}

struct WatchState {
    backend: EtcdBackend,
    prefix: Key,
    /// The last revision delivered to the consumer: the resume point is `last + 1`.
    last: Revision,
    /// The next item must be a fresh `Reset` (first event, or the history was compacted).
    need_reset: bool,
    stream: Option<WatchStream>,
    /// Consecutive failures, for the reconnect backoff.
    failures: u32,
    /// Wait this long before the next attempt (set by a reported failure).
    sleep: Option<Duration>,
    /// A failure was reported and no event has been delivered since: the next successful
    /// (re)connection yields at least a `Progress`.
    recovering: bool,
    /// A fatal error was delivered; the stream is over.
    done: bool,
}

/// What one watch response means for the consumer.
enum Step {
    Emit(KvEvent),
    Continue,
    Fail(Error),
}

impl WatchState {
    async fn next(&mut self) -> Option<discovery_core::Result<KvEvent>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(delay) = self.sleep.take() {
                tokio::time::sleep(delay).await;
            }
            if self.need_reset {
                match self
                    .backend
                    .list_at(std::slice::from_ref(&self.prefix), None)
                    .await
                {
                    Ok(snap) => {
                        self.recovering = false;
                        self.need_reset = false;
                        self.stream = None;
                        self.last = snap.revision;
                        return Some(Ok(KvEvent::Reset(snap)));
                    }
                    Err(e) => return Some(Err(self.fail(e))),
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                match self.open().await {
                    Ok(s) => self.stream = Some(s),
                    Err(e) => return Some(Err(self.fail(e))),
                }
                continue;
            };
            let step = match stream.message().await {
                Ok(Some(resp)) => self.handle(resp),
                Ok(None) => Step::Fail(Error::unavailable(BACKEND, "watch stream closed")),
                Err(e) => Step::Fail(map(e)),
            };
            match step {
                Step::Emit(ev) => {
                    self.recovering = false;
                    return Some(Ok(ev));
                }
                Step::Continue => {}
                Step::Fail(e) => {
                    self.stream = None;
                    return Some(Err(self.fail(e)));
                }
            }
        }
    }

    /// Records a failure, to be reported as an `Err` item: a transient one schedules a
    /// reconnect after a backoff, any other ends the stream.
    fn fail(&mut self, e: Error) -> Error {
        if !e.is_retryable() {
            tracing::warn!(prefix = %self.prefix, error = %e, "watch failed");
            self.done = true;
            return e;
        }
        self.backend.inner.endpoints_failing();
        self.sleep = Some(RECONNECT.delay(self.failures));
        self.failures = self.failures.saturating_add(1);
        self.recovering = true;
        tracing::debug!(prefix = %self.prefix, error = %e, failures = self.failures,
            resume_from = self.last.0 + 1, "watch interrupted; reconnecting");
        e
    }

    async fn open(&mut self) -> discovery_core::Result<WatchStream> {
        let key = self.backend.inner.ns.range_prefix(&self.prefix);
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(etcd_revision(self.last.next()))
            .with_progress_notify();
        let mut client = self.backend.client().watch_client();
        timed(
            "watch",
            self.backend.timeout(),
            client.watch(key, Some(opts)),
        )
        .await
    }

    fn handle(&mut self, resp: WatchResponse) -> Step {
        if resp.compact_revision() > 0 {
            // etcd 3.4 may send this without `canceled` and then idle: never wait on it.
            tracing::info!(prefix = %self.prefix, requested = self.last.0 + 1,
                compact_revision = resp.compact_revision(), "watch compacted; re-listing");
            self.stream = None;
            self.need_reset = true;
            return Step::Continue;
        }
        if resp.canceled() {
            let reason = resp.cancel_reason().to_owned();
            let err = if reason.to_ascii_lowercase().contains("permission denied") {
                Error::PermissionDenied {
                    backend: BACKEND,
                    key: Some(self.prefix.to_string()),
                    reason,
                }
            } else {
                Error::unavailable(BACKEND, format!("watch canceled: {reason}"))
            };
            return Step::Fail(err);
        }
        if resp.events().is_empty() {
            if resp.created() {
                self.failures = 0;
                if self.recovering {
                    // Tell the consumer the watch is back, at the revision it already has.
                    return Step::Emit(KvEvent::Progress(self.last));
                }
                return Step::Continue;
            }
            // A progress notification: everything up to the header revision was delivered.
            let rev = revision(resp.header().map(|h| h.revision()).unwrap_or(0));
            if rev > self.last {
                self.last = rev;
                return Step::Emit(KvEvent::Progress(rev));
            }
            return Step::Continue;
        }
        self.failures = 0;
        let ns = &self.backend.inner.ns;
        let mut changes = Vec::new();
        let mut top = self.last;
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let rev = revision(kv.mod_revision());
            if rev <= self.last {
                continue; // already delivered before a reconnect
            }
            top = top.max(rev);
            let Some(key) = ns.decode(kv.key()) else {
                continue;
            };
            if !prefix_contains(self.prefix.as_str(), key.as_str()) {
                continue;
            }
            changes.push(match ev.event_type() {
                EventType::Put => KvChange::Put(KvPair {
                    key,
                    value: kv.value().to_vec().into(),
                    mod_revision: rev,
                }),
                EventType::Delete => KvChange::Delete(key),
            });
        }
        if top <= self.last {
            return Step::Continue;
        }
        self.last = top;
        if changes.is_empty() {
            // Only keys beside the prefix (`/testing` for `/test`) changed: still advance.
            return Step::Emit(KvEvent::Progress(top));
        }
        Step::Emit(KvEvent::Changed {
            revision: top,
            changes,
        })
    }
}
