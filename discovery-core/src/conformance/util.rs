//! Helpers shared by the conformance cases.

use std::fmt::Debug;
use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::{
    InstanceId, Key, KvEvent, KvSnapshot, RegisterOptions, Result, ServiceInstance, ServiceName,
    Snapshot, WatchEvent,
};

/// Hang guard of every single wait (free under paused time).
pub(crate) const GUARD: Duration = Duration::from_secs(30);
/// TTL of registrations (etcd's minimum is 2 s; keepalives go every TTL/3).
pub(crate) const REGISTER_TTL: Duration = Duration::from_secs(6);
/// TTL of KV puts in `kv_put_with_ttl_expires`.
pub(crate) const KV_TTL: Duration = Duration::from_secs(2);

/// Unwraps `r`, panicking with what was attempted.
#[track_caller]
pub(crate) fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// Waits (up to [`GUARD`]) for `fut`.
pub(crate) async fn guard<T>(fut: impl std::future::Future<Output = T>, what: &str) -> T {
    match tokio::time::timeout(GUARD, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {GUARD:?} waiting for {what}"),
    }
}

/// The next item of `stream`, which must come, and be `Ok`.
pub(crate) async fn next<T: Debug>(
    stream: &mut (impl Stream<Item = Result<T>> + Unpin),
    what: &str,
) -> T {
    match guard(stream.next(), what).await {
        Some(Ok(v)) => v,
        Some(Err(e)) => panic!("watch yielded an error while waiting for {what}: {e}"),
        None => panic!("watch ended while waiting for {what}"),
    }
}

pub(crate) fn service(name: &str) -> ServiceName {
    ok(ServiceName::new(name), "service name")
}

pub(crate) fn id(s: &str) -> InstanceId {
    ok(InstanceId::new(s), "instance id")
}

pub(crate) fn key(s: &str) -> Key {
    ok(Key::new(s), "key")
}

/// An instance of `service` on 127.0.0.1 with a tag and a metadata entry.
pub(crate) fn instance(service: &ServiceName, id_: &str, port: u16) -> ServiceInstance {
    ServiceInstance::new(service.clone(), id(id_), "127.0.0.1", Some(port))
        .with_tag("conformance")
        .with_meta("case", "yes")
}

pub(crate) fn opts() -> RegisterOptions {
    RegisterOptions::with_ttl(REGISTER_TTL)
}

/// Asserts that `got` describes `want` (a backend may add metadata, health or a node).
#[track_caller]
pub(crate) fn assert_same(got: &ServiceInstance, want: &ServiceInstance) {
    assert_eq!(got.service, want.service, "service of {}", want.id);
    assert_eq!(got.id, want.id);
    assert_eq!(got.address, want.address, "address of {}", want.id);
    assert_eq!(got.port, want.port, "port of {}", want.id);
    assert_eq!(got.tags, want.tags, "tags of {}", want.id);
    for (k, v) in &want.meta {
        assert_eq!(got.meta.get(k), Some(v), "metadata {k} of {}", want.id);
    }
}

/// The first event of a fresh service watch, which must be a reset.
pub(crate) async fn first_reset(
    stream: &mut (impl Stream<Item = Result<WatchEvent>> + Unpin),
) -> Snapshot {
    match next(stream, "the initial reset").await {
        WatchEvent::Reset(s) => s,
        other => panic!("a watch without `after` must start with a Reset, got {other:?}"),
    }
}

/// The first event of a fresh KV watch, which must be a reset.
pub(crate) async fn first_kv_reset(
    stream: &mut (impl Stream<Item = Result<KvEvent>> + Unpin),
) -> KvSnapshot {
    match next(stream, "the initial reset").await {
        KvEvent::Reset(s) => s,
        other => panic!("a watch without `after` must start with a Reset, got {other:?}"),
    }
}

/// Applies service events to `view` until `done(view)`; returns the events applied.
pub(crate) async fn fold_until(
    stream: &mut (impl Stream<Item = Result<WatchEvent>> + Unpin),
    view: &mut Snapshot,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
) -> Vec<WatchEvent> {
    let mut seen = Vec::new();
    while !done(view) {
        let event = next(stream, what).await;
        view.apply(event.clone());
        seen.push(event);
    }
    seen
}

/// Applies KV events to `view` until `done(view)`; returns the events applied.
pub(crate) async fn fold_kv_until(
    stream: &mut (impl Stream<Item = Result<KvEvent>> + Unpin),
    view: &mut KvSnapshot,
    what: &str,
    done: impl Fn(&KvSnapshot) -> bool,
) -> Vec<KvEvent> {
    let mut seen = Vec::new();
    while !done(view) {
        let event = next(stream, what).await;
        view.apply(event.clone());
        seen.push(event);
    }
    seen
}

/// The values of a KV snapshot, by key (revisions left out).
pub(crate) fn values(s: &KvSnapshot) -> Vec<(String, Vec<u8>)> {
    s.pairs
        .values()
        .map(|p| (p.key.as_str().to_owned(), p.value.to_vec()))
        .collect()
}
