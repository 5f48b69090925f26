//! # discovery-core
//!
//! Backend-agnostic service registration, watching and key-value views, for applications that
//! register themselves, follow other services, or render configuration the way confd and
//! consul-template do.
//!
//! The crate defines the contracts every backend implements, and ships the embedded default:
//!
//! - [`Registry`]: register a [`ServiceInstance`] with a TTL; the returned [`Registration`]
//!   keeps it alive, re-registers it when its lease is lost and deregisters it when dropped.
//! - [`Watcher`]: a [`Snapshot`] of a service and a [`WatchStream`] of ordered changes that can
//!   resume after a [`Revision`], or tells you to start over with a [`WatchEvent::Reset`].
//! - [`KvView`] / [`KvStore`]: confd-style key-value access with segment-based prefixes.
//! - [`Renderer`]: the contract of a compiled template (implemented by `discovery-render`).
//! - [`MemoryBackend`]: all of the above in memory — the default when no server is configured,
//!   and the test double. [`FileBackend`] and [`EnvBackend`] are confd's `file` and `env` backends.
//!
//! Every error is an [`Error`]; [`Error::is_retryable`] tells transient failures apart.
//!
//! Features (all off by default): `registrator` (the `registrator` module: Docker containers
//! registered through any [`Registry`], as gliderlabs/registrator does; pulls in `bollard`),
//! `tower` (a `tower::discover` adapter), `telemetry` (the `telemetry` module: `/metrics`,
//! `/health` and `/ready` over hyper), `dns` and `gateway` (SRV records and the default gateway
//! for [`endpoints`]), `conformance` and `test-util` (for backends' tests).
//!
//! ## Register, watch, fold
//!
//! ```
//! use std::time::Duration;
//! use discovery_core::{MemoryBackend, RegisterOptions, Registry, ServiceInstance, Snapshot, Watcher};
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> discovery_core::Result<()> {
//! let backend = MemoryBackend::new();
//! let web = "web".parse()?;
//!
//! // A consumer starts watching: the first event is the full (here: empty) state.
//! let mut changes = backend.watch(&web, None).await?;
//! let mut view = Snapshot::default();
//! view.apply(changes.next().await.unwrap()?);
//! assert!(view.instances.is_empty());
//!
//! // An instance registers with a 10 s TTL; its guard keeps the lease alive.
//! let instance = ServiceInstance::new(web.clone(), "web-1".parse()?, "10.0.0.1", Some(8080));
//! let guard = backend.register(instance, RegisterOptions::with_ttl(Duration::from_secs(10))).await?;
//! view.apply(changes.next().await.unwrap()?);
//! assert_eq!(view.instances.len(), 1);
//!
//! // Deregistering (or dropping the guard) removes it, and the watcher sees that too.
//! guard.deregister().await?;
//! view.apply(changes.next().await.unwrap()?);
//! assert!(view.instances.is_empty());
//! assert_eq!(view, backend.snapshot(&web).await?);
//! # Ok(()) }
//! ```
//!
//! ## Key-value view
//!
//! ```
//! use discovery_core::{Key, KvStore, KvView, MemoryBackend};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> discovery_core::Result<()> {
//! let kv = MemoryBackend::new();
//! kv.put(&Key::new("/test/apache-8001")?, "172.17.8.101:8001".into(), None).await?;
//! kv.put(&Key::new("/testing/x")?, "not under /test".into(), None).await?;
//! let snap = kv.list(&[Key::new("/test")?]).await?;
//! assert_eq!(snap.pairs.len(), 1); // prefixes match whole segments
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod duration;
pub mod endpoints;
pub mod env;
mod error;
pub mod file;
pub mod health;
mod instance;
mod kv;
mod kv_registry;
mod layout;
mod lease;
mod lease_pool;
pub mod memory;
mod name;
mod registry;
mod renderer;
mod revision;
#[cfg(feature = "telemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "telemetry")))]
pub mod telemetry;
mod watcher;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "registrator")]
pub mod registrator;

#[cfg(feature = "tower")]
pub mod tower;

pub use backoff::Backoff;
pub use duration::parse_go_duration;
pub use env::EnvBackend;
pub use error::{BoxError, Error, Result};
pub use file::FileBackend;
pub use instance::{Health, NodeInfo, ServiceInstance};
pub use kv::{
    KvChange, KvEvent, KvPair, KvSnapshot, KvStore, KvView, KvWatchStream, LeaseId, LeaseKv,
};
pub use kv_registry::KvRegistry;
pub use layout::{Codec, Layout};
pub use lease_pool::LeasePool;
pub use memory::MemoryBackend;
pub use name::{prefix_contains, InstanceId, Key, ServiceName};
pub use registry::{
    CheckKind, HealthCheck, KeepAlive, LeaseDriver, LeaseState, RegisterOptions, Registration,
    Registry,
};
pub use renderer::{ApiRead, Dependency, RenderData, Rendered, Renderer};
pub use revision::Revision;
pub use watcher::{Change, Snapshot, WatchEvent, WatchStream, Watcher};
