//! A [`tower::discover::Discover`] over a [`WatchStream`] (feature `tower`), for
//! `tower::balance` and tonic's `Channel::balance_channel`.

use std::collections::{BTreeSet, VecDeque};

use futures::stream::{self, BoxStream, StreamExt};
use tower::discover::Change as TowerChange;

use crate::{Change, Error, InstanceId, ServiceInstance, WatchEvent, WatchStream};

/// The changes of a watch as `tower::discover::Change`s: an instance that appears or changes is
/// an `Insert` of `make(&instance)`, one that goes is a `Remove`. A [`WatchEvent::Reset`] removes
/// the instances it no longer holds and (re)inserts the rest. Errors end the stream, except
/// [`Error::InvalidData`] items (the instance is removed by the watcher) and retryable errors
/// (the watch recovers by itself), which are skipped.
///
/// ```
/// use std::time::Duration;
/// use discovery_core::{MemoryBackend, RegisterOptions, Registry, ServiceInstance, Watcher};
/// use futures::StreamExt;
/// use tower::discover::Change;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> discovery_core::Result<()> {
/// let backend = MemoryBackend::new();
/// let web = "web".parse()?;
/// let i = ServiceInstance::new("web".parse()?, "w1".parse()?, "10.0.0.1", Some(80));
/// let _guard = backend.register(i, RegisterOptions::with_ttl(Duration::from_secs(10))).await?;
/// let mut changes = discovery_core::tower::discover(backend.watch(&web, None).await?, |i| i.endpoint());
/// match changes.next().await.unwrap()? {
///     Change::Insert(id, endpoint) => assert_eq!((id.as_str(), endpoint.as_str()), ("w1", "10.0.0.1:80")),
///     Change::Remove(_) => unreachable!(),
/// }
/// # Ok(()) }
/// ```
pub fn discover<S, F>(
    watch: WatchStream,
    make: F,
) -> BoxStream<'static, Result<TowerChange<InstanceId, S>, Error>>
where
    S: Send + 'static,
    F: FnMut(&ServiceInstance) -> S + Send + 'static,
{
    let state = (watch, make, BTreeSet::<InstanceId>::new(), VecDeque::new());
    stream::unfold(Some(state), |state| async move {
        let (mut watch, mut make, mut live, mut queue) = state?;
        loop {
            if let Some(change) = queue.pop_front() {
                return Some((Ok(change), Some((watch, make, live, queue))));
            }
            match watch.next().await? {
                Ok(WatchEvent::Reset(snapshot)) => {
                    for gone in live
                        .iter()
                        .filter(|id| !snapshot.instances.contains_key(*id))
                    {
                        queue.push_back(TowerChange::Remove(gone.clone()));
                    }
                    live = snapshot.instances.keys().cloned().collect();
                    for (id, instance) in &snapshot.instances {
                        queue.push_back(TowerChange::Insert(id.clone(), make(instance)));
                    }
                }
                Ok(WatchEvent::Changed { changes, .. }) => {
                    for change in changes {
                        match change {
                            Change::Upsert(i) => {
                                live.insert(i.id.clone());
                                queue.push_back(TowerChange::Insert(i.id.clone(), make(&i)));
                            }
                            Change::Remove(id) => {
                                if live.remove(&id) {
                                    queue.push_back(TowerChange::Remove(id));
                                }
                            }
                        }
                    }
                }
                Ok(_) => {}
                Err(Error::InvalidData { key, reason, .. }) => {
                    tracing::warn!(%key, %reason, "skipping undecodable instance");
                }
                // The watch retries by itself; the balancer keeps its current endpoints meanwhile.
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "watch interrupted; keeping the current endpoints");
                }
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Revision, Snapshot};

    fn inst(id: &str) -> ServiceInstance {
        ServiceInstance::new(
            "web".parse().unwrap(),
            id.parse().unwrap(),
            "10.0.0.1",
            Some(80),
        )
    }

    fn reset(ids: &[&str]) -> WatchEvent {
        WatchEvent::Reset(Snapshot {
            revision: Revision(1),
            instances: ids.iter().map(|i| (i.parse().unwrap(), inst(i))).collect(),
        })
    }

    #[tokio::test]
    async fn resets_become_removes_and_inserts() {
        let events: Vec<crate::Result<WatchEvent>> = vec![
            Ok(reset(&["a", "b"])),
            Ok(WatchEvent::Changed {
                revision: Revision(2),
                changes: vec![
                    Change::Remove("a".parse().unwrap()),
                    Change::Upsert(inst("c")),
                ],
            }),
            Err(Error::invalid_data("memory", "/services/web/x", "bad")),
            Ok(WatchEvent::Changed {
                revision: Revision(3),
                changes: vec![Change::Remove("zz".parse().unwrap())],
            }),
            Ok(reset(&["c", "d"])),
            Err(Error::Closed {
                backend: "memory",
                what: "watch",
            }),
            Ok(reset(&[])),
        ];
        let got: Vec<String> = discover(stream::iter(events).boxed(), |i| i.id.to_string())
            .map(|c| match c {
                Ok(TowerChange::Insert(id, s)) => format!("+{id}:{s}"),
                Ok(TowerChange::Remove(id)) => format!("-{id}"),
                Err(e) => format!("error {e}"),
            })
            .collect()
            .await;
        assert_eq!(
            got,
            [
                "+a:a",
                "+b:b",
                "-a",
                "+c:c",
                "-b",
                "+c:c",
                "+d:d",
                "error memory: watch closed"
            ]
        );
    }
}
