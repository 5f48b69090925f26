//! # discovery-consul
//!
//! The Consul backend of `discovery-core`, over Consul's HTTP API:
//!
//! - [`Registry`](discovery_core::Registry): an agent service registration with a TTL check
//!   (`service:<id>`), kept alive through the check-pass endpoint by the core keepalive state
//!   machine; when the agent forgot the service (agent restart) it is registered again.
//! - [`Watcher`](discovery_core::Watcher): blocking queries on `/v1/health/service/<name>`
//!   (every instance, with its aggregated health and node). One blocking query runs per watched
//!   service however many consumers watch it.
//! - [`KvView`](discovery_core::KvView) / [`KvStore`](discovery_core::KvStore) over Consul KV
//!   (`/a/b` is Consul's `a/b`), with recursive blocking queries for watches.
//! - Sessions and key locks ([`ConsulBackend::create_lock_session`],
//!   [`ConsulBackend::acquire_key`], [`ConsulBackend::read_key`]): consul-template's
//!   de-duplication mode.
//! - [`ConsulBackend::services`] / [`ConsulBackend::watch_services`]: the catalog's service list.
//! - [`ConsulBackend::api_get`] / [`ConsulBackend::watch_api`]: any other endpoint
//!   ([`ApiRead`](discovery_core::ApiRead)) as JSON, for consul-template's `node`, `nodes`,
//!   `datacenters`, `connect`, `caRoots` and `caLeaf`.
//!
//! A plain `http://` agent is spoken to over hyper's HTTP/1.1 client connections, one driven in
//! each requesting task, with idle keep-alive sockets kept bare (no buffer) between requests;
//! `https://` (or any TLS setting) goes through `reqwest` with rustls.
//!
//! Blocking queries follow Consul's rules: the index resets when it goes backwards (a consumer
//! then gets a `Reset`), is never 0 after the first call, requests go through a token bucket
//! (burst 3, then 50/s: one query every 20 ms while every query returns at once), errors are retried with jittered backoff, and an answer is published only
//! when its content differs (a return is not a change).
//!
//! ```no_run
//! use std::time::Duration;
//! use discovery_consul::{ConsulBackend, ConsulConfig};
//! use discovery_core::{RegisterOptions, Registry, ServiceInstance};
//! # async fn demo() -> discovery_core::Result<()> {
//! let consul = ConsulBackend::new(ConsulConfig::from_url("consul://127.0.0.1:8500")?)?;
//! let web = ServiceInstance::new("web".parse()?, "web-1".parse()?, "10.0.0.1", Some(8080));
//! let guard = consul.register(web, RegisterOptions::with_ttl(Duration::from_secs(10))).await?;
//! guard.deregister().await?;
//! # Ok(()) }
//! ```

mod agent_conn;
mod api;
mod catalog;
mod config;
mod consumer;
mod health;
mod http;
mod hub;
mod kv;
mod ratelimit;
mod registry;
mod session;
mod watch;

use std::fmt;
use std::sync::Arc;

use discovery_core::{Result, ServiceInstance, ServiceName};

pub use api::{ApiAnswer, POLL_INTERVAL};
pub use catalog::CatalogServices;
pub use config::{BasicAuth, ConsulConfig, RetryConfig, TlsConfig, TransportConfig};
pub use session::HeldKey;

use crate::http::Http;
use crate::hub::Hub;

/// A Consul agent as a discovery backend. Cheap to clone; clones share one HTTP client and
/// one set of blocking queries.
#[derive(Clone)]
pub struct ConsulBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: ConsulConfig,
    http: Http,
    health: Hub<health::Instances>,
    kv: Hub<kv::Pairs>,
    catalog: Hub<catalog::Services>,
    api: Hub<api::Json>,
}

impl fmt::Debug for ConsulBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulBackend")
            .field("config", &self.inner.config)
            .field("health_watches", &self.inner.health.active())
            .field("kv_watches", &self.inner.kv.active())
            .finish()
    }
}

impl ConsulBackend {
    /// A backend for `config`. Does no I/O (the first request tells whether the agent answers);
    /// fails on an invalid configuration or unreadable TLS files.
    pub fn new(config: ConsulConfig) -> Result<Self> {
        config.validate()?;
        let http = Http::new(&config)?;
        let retry = config.retry;
        Ok(ConsulBackend {
            inner: Arc::new(Inner {
                config,
                http,
                health: Hub::new(retry),
                kv: Hub::new(retry),
                catalog: Hub::new(retry),
                api: Hub::new(retry),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsulConfig {
        &self.inner.config
    }

    /// How many HTTP requests this backend (and its clones) sent so far: for metrics, benchmarks
    /// and tests.
    pub fn requests_sent(&self) -> u64 {
        self.inner.http.total_requests()
    }

    /// How many health queries (blocking or not) were sent for `service` so far.
    pub fn health_requests(&self, service: &ServiceName) -> u64 {
        let path = format!(
            "health/service/{}",
            http::encode(&self.consul_name(service), false)
        );
        self.inner.http.requests_to(&path)
    }

    /// How many shared blocking-query loops run now (health, KV, catalog and other endpoints).
    pub fn active_blocking_queries(&self) -> usize {
        self.inner.health.active()
            + self.inner.kv.active()
            + self.inner.catalog.active()
            + self.inner.api.active()
    }

    fn http(&self) -> &Http {
        &self.inner.http
    }

    /// The Consul service name of `service` (namespace-prefixed).
    fn consul_name(&self, service: &ServiceName) -> String {
        match &self.inner.config.namespace {
            Some(ns) => format!("{ns}.{service}"),
            None => service.to_string(),
        }
    }

    /// The prefix of the Consul service ids this crate registers for `service`.
    fn id_prefix(&self, service: &ServiceName) -> String {
        format!("{}:", self.consul_name(service))
    }

    /// The Consul service id under which [`Registry::register`](discovery_core::Registry)
    /// registers `instance`: `<service>:<instance id>`, or `<namespace>.<service>:<instance id>`
    /// with a namespace. (Its TTL check is `service:<service id>`.) Watches map such ids back to
    /// the instance id; services registered by other tools keep their Consul id as instance id.
    pub fn service_id(&self, instance: &ServiceInstance) -> String {
        format!("{}{}", self.id_prefix(&instance.service), instance.id)
    }
}
