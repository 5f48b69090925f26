//! One consumer of a shared loop: successive states turned into `Reset` and diff events.

use std::hash::Hash;
use std::sync::Arc;

use discovery_core::{Error, Result};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::watch;

use crate::http::copy_error;
use crate::hub::Feed;

/// Turns successive states into a consumer's events.
pub(crate) trait Diff: Send + Sync + 'static {
    /// The event type of the stream.
    type Event: Send + 'static;
    /// The full state at `index`.
    fn reset(&self, index: u64) -> Self::Event;
    /// What changed from `prev` to `self` at `index`; `None` when nothing did.
    fn diff(&self, prev: &Self, index: u64) -> Option<Self::Event>;
}

struct Consumer<T> {
    rx: watch::Receiver<Feed<T>>,
    /// `(epoch, index, state)` last delivered.
    seen: Option<(u64, u64, Arc<T>)>,
    resume_from: Option<u64>,
    done: bool,
}

/// The event stream of one consumer of a loop: a `Reset` first (unless `resume_from` equals the
/// current index, then the consumer is already up to date), then diffs; a `Reset` again when the
/// index went backwards.
pub(crate) fn events<T: Diff + PartialEq>(
    rx: watch::Receiver<Feed<T>>,
    resume_from: Option<u64>,
    initial: Option<(u64, T)>,
) -> BoxStream<'static, Result<T::Event>> {
    let epoch = match &*rx.borrow() {
        Feed::Data { epoch, .. } => *epoch,
        _ => 0,
    };
    let consumer = Consumer {
        rx,
        seen: None,
        resume_from,
        done: false,
    };
    stream::unfold(
        (consumer, initial),
        move |(mut c, mut initial)| async move {
            if c.done {
                return None;
            }
            if let Some((index, value)) = initial.take() {
                if let Some(event) = c.next_event(index, epoch, Arc::new(value)) {
                    return Some((Ok(event), (c, None)));
                }
            }
            loop {
                let feed = c.rx.borrow_and_update().clone();
                match feed {
                    Feed::Pending => {}
                    Feed::Failed(e) => {
                        c.done = true;
                        return Some((Err(copy_error(&e)), (c, None)));
                    }
                    Feed::Data {
                        index,
                        epoch,
                        value,
                    } => {
                        if let Some(event) = c.next_event(index, epoch, value) {
                            return Some((Ok(event), (c, None)));
                        }
                    }
                }
                if c.rx.changed().await.is_err() {
                    // The loop is gone without a final word: only when the runtime shuts down.
                    c.done = true;
                    return Some((
                        Err(Error::Closed {
                            backend: crate::http::BACKEND,
                            what: "watch",
                        }),
                        (c, None),
                    ));
                }
            }
        },
    )
    .boxed()
}

impl<T: Diff + PartialEq> Consumer<T> {
    fn next_event(&mut self, index: u64, epoch: u64, value: Arc<T>) -> Option<T::Event> {
        let event = match &self.seen {
            None if self.resume_from == Some(index) => None,
            None => Some(value.reset(index)),
            Some((e, _, _)) if *e != epoch => Some(value.reset(index)),
            // Not newer than what this consumer has (the loop bumps the epoch when its index
            // goes backwards, so this is an answer older than the consumer's own first read).
            Some((_, i, _)) if *i >= index => return None,
            // Nothing at all when the content is what this consumer already has.
            Some((_, _, prev)) => value.diff(prev, index),
        };
        self.seen = Some((epoch, index, value));
        event
    }
}

/// Diffs two maps: upserts for new or changed values, removals for missing keys.
pub(crate) fn diff_maps<K: Ord + Clone + Hash, V: PartialEq + Clone, C>(
    prev: &std::collections::BTreeMap<K, V>,
    next: &std::collections::BTreeMap<K, V>,
    upsert: impl Fn(&V) -> C,
    remove: impl Fn(&K) -> C,
) -> Vec<C> {
    let mut out = Vec::new();
    for (k, v) in next {
        if prev.get(k) != Some(v) {
            out.push(upsert(v));
        }
    }
    for k in prev.keys() {
        if !next.contains_key(k) {
            out.push(remove(k));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state whose events name what the consumer was told.
    #[derive(Debug, PartialEq)]
    struct Val(&'static str);

    impl Diff for Val {
        type Event = String;
        fn reset(&self, index: u64) -> String {
            format!("reset {} @{index}", self.0)
        }
        fn diff(&self, prev: &Self, index: u64) -> Option<String> {
            (prev != self).then(|| format!("{} -> {} @{index}", prev.0, self.0))
        }
    }

    fn consumer(resume_from: Option<u64>) -> Consumer<Val> {
        let (_tx, rx) = watch::channel(Feed::Pending);
        Consumer {
            rx,
            seen: None,
            resume_from,
            done: false,
        }
    }

    #[test]
    fn reset_then_diffs_then_reset_on_new_epoch() {
        let mut c = consumer(None);
        let mut ev = |i, e, v| c.next_event(i, e, Arc::new(Val(v)));
        assert_eq!(ev(5, 0, "a").as_deref(), Some("reset a @5"));
        assert_eq!(ev(7, 0, "b").as_deref(), Some("a -> b @7"));
        // Same content at a later index: a return is not a change.
        assert_eq!(ev(9, 0, "b"), None);
        // An older answer than what the consumer has: ignored.
        assert_eq!(ev(6, 0, "c"), None);
        // The index went backwards (new epoch): start over, even at a lower index.
        assert_eq!(ev(2, 1, "c").as_deref(), Some("reset c @2"));
        assert_eq!(ev(3, 1, "d").as_deref(), Some("c -> d @3"));
    }

    #[test]
    fn resume_at_the_current_index_skips_the_reset() {
        let mut c = consumer(Some(5));
        assert_eq!(c.next_event(5, 0, Arc::new(Val("a"))), None);
        assert_eq!(
            c.next_event(6, 0, Arc::new(Val("b"))).as_deref(),
            Some("a -> b @6")
        );
        let mut moved = consumer(Some(5));
        assert_eq!(
            moved.next_event(8, 0, Arc::new(Val("a"))).as_deref(),
            Some("reset a @8")
        );
    }
}
