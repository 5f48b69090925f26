//! # discovery-etcd
//!
//! The etcd v3 backend of [`discovery_core`]: service registration with leases, resumable
//! watches, and confd-style key-value access, over [`etcd-client`](https://docs.rs/etcd-client).
//!
//! [`EtcdBackend`] implements [`KvView`](discovery_core::KvView),
//! [`KvStore`](discovery_core::KvStore), [`LeaseKv`](discovery_core::LeaseKv),
//! [`Registry`] and [`Watcher`].
//!
//! ## Connect
//!
//! ```no_run
//! use discovery_etcd::{EtcdBackend, EtcdConfig};
//! # async fn demo() -> discovery_core::Result<()> {
//! // Several endpoints; every key lives under /prod; the defaults otherwise.
//! let config = EtcdConfig::new(["10.0.0.1:2379", "10.0.0.2:2379"]).with_namespace("/prod");
//! let etcd = EtcdBackend::connect(config).await?; // fails fast if no member answers
//! # Ok(()) }
//! ```
//!
//! `EtcdConfig::from_url("etcd://user:pw@host:2379/prod")` does the same from a URL. TLS (CA,
//! client certificate and key), user and password, and timeouts are fields of [`EtcdConfig`];
//! its `Debug` never prints the password.
//!
//! ## Register an instance
//!
//! Each registration owns a lease. discovery-core's state machine refreshes it every TTL/3,
//! and when the lease is lost (etcd restarted or unreachable past the TTL) grants a new one
//! and writes the instance again; dropping the guard revokes the lease.
//!
//! ```no_run
//! use std::time::Duration;
//! use discovery_core::{RegisterOptions, Registry, ServiceInstance};
//! # async fn demo(etcd: discovery_etcd::EtcdBackend) -> discovery_core::Result<()> {
//! let me = ServiceInstance::new("web".parse()?, "web-1".parse()?, "10.0.0.7", Some(8080));
//! let guard = etcd.register(me, RegisterOptions::with_ttl(Duration::from_secs(10))).await?;
//! // ... serve ...
//! guard.deregister().await?;
//! # Ok(()) }
//! ```
//!
//! With the default [`Layout`](discovery_core::Layout) the instance is JSON at
//! `/services/web/web-1`; `Layout::new(Key::root(), Codec::Plain)` stores the seeds' plain
//! `host:port` at `/web/web-1`, so confd templates with `getvs "/web/*"` see it.
//!
//! ## Watch a service
//!
//! ```no_run
//! use discovery_core::{Snapshot, Watcher};
//! use futures::StreamExt;
//! # async fn demo(etcd: discovery_etcd::EtcdBackend) -> discovery_core::Result<()> {
//! let mut events = etcd.watch(&"web".parse()?, None).await?;
//! let mut view = Snapshot::default();
//! while let Some(event) = events.next().await {
//!     match event {
//!         Ok(event) => view.apply(event), // the first event is a Reset with the full state
//!         Err(e) if matches!(e, discovery_core::Error::InvalidData { .. }) => {
//!             eprintln!("{e}"); // a bad value names its key; the watch goes on
//!         }
//!         Err(e) => return Err(e), // fatal (e.g. permission denied): the stream ends
//!     }
//!     println!("{} instances at revision {}", view.instances.len(), view.revision);
//! }
//! # Ok(()) }
//! ```
//!
//! The watch lists the prefix at revision R and watches from R+1. When the stream breaks it
//! reconnects with backoff and resumes from the last delivered revision + 1, so no event is
//! lost or repeated; when the history it needs was compacted it lists again and emits a
//! `Reset`. Progress notifications advance the resume point. Requests require a leader, so a
//! watch on a partitioned member fails and moves to another endpoint.
//!
//! ## Key-value access (confd)
//!
//! ```no_run
//! use discovery_core::{Key, KvStore, KvView};
//! # async fn demo(etcd: discovery_etcd::EtcdBackend) -> discovery_core::Result<()> {
//! etcd.put(&Key::new("/test/apache-8001")?, "172.17.8.101:8001".into(), None).await?;
//! let snap = etcd.list(&[Key::new("/test")?]).await?; // never returns /testing/...
//! for pair in snap.pairs.values() {
//!     println!("{} = {:?}", pair.key, pair.value_str());
//! }
//! # Ok(()) }
//! ```

mod backend;
mod config;
mod error;
mod keys;
mod lease;
mod resolve;
mod snapshot;
mod watch;

use async_trait::async_trait;
use discovery_core::{
    RegisterOptions, Registration, Registry, Result, Revision, ServiceInstance, ServiceName,
    Snapshot, WatchStream, Watcher,
};

pub use backend::EtcdBackend;
pub use config::{EtcdConfig, EtcdTls};

#[async_trait]
impl Registry for EtcdBackend {
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        self.registry().register(instance, opts).await
    }
}

#[async_trait]
impl Watcher for EtcdBackend {
    async fn snapshot(&self, service: &ServiceName) -> Result<Snapshot> {
        self.registry().snapshot(service).await
    }

    async fn watch(&self, service: &ServiceName, after: Option<Revision>) -> Result<WatchStream> {
        self.registry().watch(service, after).await
    }
}
