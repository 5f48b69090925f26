//! Shared blocking queries: one loop per watched endpoint, fanned out to every subscriber.
//!
//! The loop follows Consul's blocking-query rules: `index` from `X-Consul-Index`, reset when it
//! goes backwards, never 0 after the first call, a token bucket before each request, jittered
//! backoff on errors, and content compared before anything is published. It stops when its
//! last subscriber goes away.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use discovery_core::{Backoff, Error, Result};

use crate::RetryConfig;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::watch;

use crate::consumer::{events, Diff};
use crate::ratelimit::TokenBucket;

/// Fetches the endpoint once, blocking on `index` when it is not 0. Returns the new
/// `X-Consul-Index` and the decoded content.
pub(crate) type Fetch<T> = Arc<dyn Fn(u64) -> BoxFuture<'static, Result<(u64, T)>> + Send + Sync>;

/// What the loop publishes.
#[derive(Debug)]
pub(crate) enum Feed<T> {
    /// No answer yet.
    Pending,
    /// The latest answer. `epoch` grows whenever the index went backwards (consumers start over).
    Data {
        index: u64,
        epoch: u64,
        value: Arc<T>,
    },
    /// The loop stopped on an error retrying cannot fix.
    Failed(Arc<Error>),
}

impl<T> Clone for Feed<T> {
    fn clone(&self) -> Self {
        match self {
            Feed::Pending => Feed::Pending,
            Feed::Data {
                index,
                epoch,
                value,
            } => Feed::Data {
                index: *index,
                epoch: *epoch,
                value: value.clone(),
            },
            Feed::Failed(e) => Feed::Failed(e.clone()),
        }
    }
}

type Senders<T> = Mutex<HashMap<String, Arc<watch::Sender<Feed<T>>>>>;

/// The running loops of one kind of endpoint, by path.
pub(crate) struct Hub<T> {
    loops: Arc<Senders<T>>,
    retry: RetryConfig,
}

impl<T> fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.loops.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Hub").field("loops", &n).finish()
    }
}

impl<T: PartialEq + Send + Sync + 'static> Hub<T> {
    pub(crate) fn new(retry: RetryConfig) -> Self {
        Hub {
            loops: Arc::new(Mutex::new(HashMap::new())),
            retry,
        }
    }

    /// How many loops run.
    pub(crate) fn active(&self) -> usize {
        self.loops.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// A receiver of the loop for `path`, starting the loop (with `fetch`) if none runs; `true`
    /// when it joined a running loop (whose latest answer may predate the caller's writes).
    pub(crate) fn subscribe(
        &self,
        path: &str,
        fetch: Fetch<T>,
    ) -> (watch::Receiver<Feed<T>>, bool) {
        let mut map = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(path) {
            return (tx.subscribe(), true);
        }
        let (tx, rx) = watch::channel(Feed::Pending);
        let tx = Arc::new(tx);
        map.insert(path.to_owned(), tx.clone());
        tokio::spawn(run_loop(
            self.loops.clone(),
            path.to_owned(),
            tx,
            fetch,
            self.retry,
        ));
        (rx, false)
    }

    /// A consumer's stream of the loop for `path`. A consumer joining a running loop first
    /// reads the current state itself (one non-blocking request), so its first event is never
    /// older than its call; it then follows the shared loop.
    pub(crate) async fn stream(
        &self,
        path: &str,
        fetch: Fetch<T>,
        resume_from: Option<u64>,
    ) -> Result<BoxStream<'static, Result<T::Event>>>
    where
        T: Diff,
    {
        let (rx, joined) = self.subscribe(path, fetch.clone());
        let initial = if joined {
            match fetch(0).await {
                Ok((index, value)) => Some((index.max(1), value)),
                // The loop retries by itself; its next answer is this consumer's first.
                Err(e) if e.is_retryable() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(events(rx, resume_from, initial))
    }
}

async fn run_loop<T: PartialEq + Send + Sync + 'static>(
    loops: Arc<Senders<T>>,
    path: String,
    tx: Arc<watch::Sender<Feed<T>>>,
    fetch: Fetch<T>,
    retry: RetryConfig,
) {
    let backoff = Backoff::new(retry.backoff, retry.max_backoff);
    let mut bucket = TokenBucket::for_blocking_queries();
    let mut index: u64 = 0;
    let mut epoch: u64 = 0;
    let mut last: Option<Arc<T>> = None;
    let mut failures: u32 = 0;
    loop {
        let pause = if failures > 0 {
            backoff.delay(failures - 1)
        } else {
            bucket.take()
        };
        let result = tokio::select! {
            _ = tx.closed() => {
                if stop_if_unused(&loops, &path, &tx) { return; }
                continue;
            }
            r = async { tokio::time::sleep(pause).await; fetch(index).await } => r,
        };
        match result {
            Ok((new_index, value)) => {
                failures = 0;
                let backwards = new_index < index;
                if backwards {
                    tracing::debug!(
                        path,
                        index,
                        new_index,
                        "index went backwards; starting over"
                    );
                    epoch += 1;
                }
                let same_content = last.as_deref() == Some(&value);
                // Never block on 0 after the first call (it would not block at all).
                index = new_index.max(1);
                // A return is not a change: publish only new content (or a restart).
                if backwards || !same_content {
                    let value = Arc::new(value);
                    last = Some(value.clone());
                    tx.send_replace(Feed::Data {
                        index,
                        epoch,
                        value,
                    });
                }
            }
            Err(e) if e.is_retryable() && !retry.exhausted(failures + 1) => {
                failures += 1;
                tracing::warn!(path, error = %e, failures, "blocking query failed; retrying");
            }
            Err(e) => {
                // Out of retries: not retryable any more, so the consumer gives up too.
                let e = if e.is_retryable() {
                    Error::Backend {
                        backend: "consul",
                        source: Box::new(crate::http::Failure(format!(
                            "giving up after {failures} retries: {e}"
                        ))),
                    }
                } else {
                    e
                };
                tracing::warn!(path, error = %e, "blocking query failed; giving up");
                let mut map = loops.lock().unwrap_or_else(|p| p.into_inner());
                if map.get(&path).is_some_and(|t| Arc::ptr_eq(t, &tx)) {
                    map.remove(&path);
                }
                tx.send_replace(Feed::Failed(Arc::new(e)));
                return;
            }
        }
    }
}

/// Removes the loop when nobody subscribed again meanwhile; `true` when it should stop.
fn stop_if_unused<T>(loops: &Senders<T>, path: &str, tx: &Arc<watch::Sender<Feed<T>>>) -> bool {
    let mut map = loops.lock().unwrap_or_else(|p| p.into_inner());
    if tx.receiver_count() > 0 {
        return false;
    }
    if map.get(path).is_some_and(|t| Arc::ptr_eq(t, tx)) {
        map.remove(path);
    }
    true
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

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

    #[tokio::test]
    async fn one_loop_per_path_stopping_with_its_last_subscriber() {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = calls.clone();
        // A source that answers once, then blocks like a long poll.
        let fetch: Fetch<Val> = Arc::new(move |index| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                if index > 0 {
                    futures::future::pending::<()>().await;
                }
                Ok((3, Val("x")))
            })
        });
        let hub: Hub<Val> = Hub::new(RetryConfig::default());
        let mut a = hub.stream("p", fetch.clone(), None).await.unwrap();
        assert_eq!(a.next().await.unwrap().unwrap(), "reset x @3");
        let mut b = hub.stream("p", fetch.clone(), None).await.unwrap();
        assert_eq!(b.next().await.unwrap().unwrap(), "reset x @3");
        assert_eq!(hub.active(), 1);
        // The loop's first read, the joining consumer's own first read, then one blocking
        // read shared by both: never one per consumer.
        let n = || calls.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..100 {
            if n() >= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(n(), 3);
        drop(a);
        drop(b);
        for _ in 0..100 {
            if hub.active() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(hub.active(), 0, "the loop outlived its subscribers");
    }
}
