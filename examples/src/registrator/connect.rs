//! The registry URI (registrator's adapters) and the first connection, with `-retry-attempts`
//! and `-retry-interval`.
//!
//! - `etcd://host:port/prefix`: etcd v3, instances at `<prefix>/<name>/<id> = ip:port` (the
//!   seeds' plain layout), each under a lease kept alive by the daemon.
//! - `consul://host:port` / `consul-tls://host:port`: the Consul agent's services (HTTP /
//!   HTTPS; `CONSUL_HTTP_TOKEN`, and for TLS `CONSUL_CACERT`, `CONSUL_CLIENT_CERT` or
//!   `CONSUL_TLSCERT`, `CONSUL_CLIENT_KEY` or `CONSUL_TLSKEY`, as registrator reads them).
//! - `memory://`: in-process, for trying the daemon out.
//!
//! `consulkv://` is refused: Consul KV has no lease-backed registry in this library (its TTL puts
//! are never-renewed sessions), so entries could not be kept alive or expire with the daemon.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use discovery_consul::{ConsulBackend, ConsulConfig, TlsConfig};
use discovery_core::registrator::{AgentServices, Backend, Sweeper};
use discovery_core::{Codec, Error, Key, Layout, MemoryBackend, Result, ServiceInstance};

use crate::backend::BackendSpec;
use crate::discover::DiscoverFlags;
use discovery_core::endpoints::{Discovery, Family, SrvRecord};

/// The Consul agent's services, for `-cleanup`.
#[derive(Clone, Debug)]
pub struct ConsulAgent(pub ConsulBackend);

#[async_trait]
impl AgentServices for ConsulAgent {
    async fn instances(&self) -> Result<Vec<ServiceInstance>> {
        self.0.agent_instances().await
    }

    async fn deregister(&self, instance: &ServiceInstance) -> Result<()> {
        self.0.deregister_agent_instance(instance).await
    }
}

/// How often the first connection is tried (`-retry-attempts`, `-retry-interval`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt; `None` retries forever (`-retry-attempts -1`).
    /// Default `Some(0)`: one attempt.
    pub attempts: Option<u32>,
    /// Pause between attempts. Default 2 s.
    pub interval: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: Some(0),
            interval: Duration::from_millis(2000),
        }
    }
}

/// The `/prefix` of `uri` as a key (`/` without one).
fn prefix_key(uri: &str) -> Result<Key> {
    let prefix = uri
        .split_once("://")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(_, p)| p.trim_matches('/'))
        .unwrap_or("");
    Key::new(format!("/{prefix}"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The Consul configuration of `consul://host:port` or (`tls`) `consul-tls://host:port`; with
/// no host, the agent is found as [`DiscoverFlags`] says (`CONSUL_HTTP_ADDR`, ...).
async fn consul_config(uri: &str, tls: bool, discover: &DiscoverFlags) -> Result<ConsulConfig> {
    let (_, rest) = uri.split_once("://").unwrap_or(("", uri));
    let mut host = rest.split('/').next().unwrap_or("").to_owned();
    if host.is_empty() || discover.srv_record.is_some() {
        let found = Discovery::new(Family::Consul)
            .srv(discover.srv_record.clone().map(SrvRecord::new))
            .nodes(Some(host.clone()).filter(|h| !h.is_empty()))
            .gateway(discover.gateway)
            .resolve()
            .await?;
        host = found.endpoints.first().cloned().unwrap_or_default();
        if let Some((_, h)) = host.split_once("://") {
            host = h.to_owned();
        }
    }
    let scheme = if tls { "consuls" } else { "consul" };
    let mut cfg = ConsulConfig::from_url(&format!("{scheme}://{host}"))?;
    if let Some(token) = env("CONSUL_HTTP_TOKEN") {
        cfg = cfg.with_token(token);
    }
    if tls {
        let mut t = TlsConfig::default();
        if let Some(ca) = env("CONSUL_CACERT") {
            t = t.with_ca(ca);
        }
        let cert = env("CONSUL_CLIENT_CERT").or_else(|| env("CONSUL_TLSCERT"));
        let key = env("CONSUL_CLIENT_KEY").or_else(|| env("CONSUL_TLSKEY"));
        if let (Some(cert), Some(key)) = (cert, key) {
            t = t.with_client_cert(cert, key);
        }
        cfg = cfg.with_tls(t);
    }
    Ok(cfg)
}

/// Opens the registry of `uri` (see the module documentation), without checking that it
/// answers (etcd's connection does check).
pub async fn open(uri: &str, discover: &DiscoverFlags) -> Result<Backend> {
    let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or("");
    let layout = Layout::new(prefix_key(uri)?, Codec::Plain);
    match scheme {
        "consul" | "consul-tls" => {
            let consul =
                ConsulBackend::new(consul_config(uri, scheme == "consul-tls", discover).await?)?;
            Ok(Backend {
                registry: Arc::new(consul.clone()),
                sweeper: Sweeper::Agent(Arc::new(ConsulAgent(consul))),
            })
        }
        "consulkv" => Err(Error::invalid_config(
            "registry URI",
            "consulkv:// is not supported (Consul KV has no lease-backed registry here); use \
             consul://host:port or etcd://host:port/prefix",
        )),
        "memory" => {
            let m = MemoryBackend::with_layout(layout.clone());
            Ok(Backend {
                registry: Arc::new(m.clone()),
                sweeper: Sweeper::Kv {
                    store: Arc::new(m),
                    layout,
                },
            })
        }
        _ => {
            let mut spec = BackendSpec::from_url(uri)?;
            discover.apply(&mut spec);
            if spec.kind != "etcdv3" {
                return Err(Error::invalid_config(
                    "registry URI",
                    "expected etcd://host:port/prefix, consul://host:port, consul-tls://host:port \
                     or memory://",
                ));
            }
            open_etcd(&spec, layout).await
        }
    }
}

#[cfg(feature = "etcd")]
async fn open_etcd(spec: &BackendSpec, layout: Layout) -> Result<Backend> {
    let etcd = crate::backend::open_etcd(spec, layout.clone()).await?;
    Ok(Backend {
        registry: Arc::new(etcd.clone()),
        sweeper: Sweeper::Kv {
            store: Arc::new(etcd),
            layout,
        },
    })
}

#[cfg(not(feature = "etcd"))]
async fn open_etcd(_: &BackendSpec, _: Layout) -> Result<Backend> {
    Err(Error::Unsupported {
        backend: "etcd",
        operation: "this build (compiled without the `etcd` feature)",
    })
}

/// Opens the registry of `uri` and pings it (registrator's `Ping`), trying again every
/// `retry.interval` up to `retry.attempts` more times after a failure. A URI, name or
/// configuration error is returned at once; otherwise the last attempt's error.
pub async fn connect(uri: &str, retry: Retry, discover: &DiscoverFlags) -> Result<Backend> {
    let mut attempt = 0u32;
    loop {
        let result = match open(uri, discover).await {
            Ok(b) => b.sweeper.ping().await.map(|()| b),
            Err(e) => Err(e),
        };
        let e = match result {
            Ok(b) => return Ok(b),
            Err(e @ (Error::InvalidConfig { .. } | Error::InvalidName { .. })) => return Err(e),
            Err(e) => e,
        };
        if retry.attempts.is_some_and(|max| attempt >= max) {
            return Err(e);
        }
        attempt += 1;
        let of = retry
            .attempts
            .map_or_else(|| "unlimited".to_owned(), |m| m.to_string());
        tracing::warn!(error = %e, "cannot reach the registry; retry {attempt}/{of} in {:?}", retry.interval);
        tokio::time::sleep(retry.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_consul_urls() {
        assert_eq!(
            prefix_key("etcd://127.0.0.1:2379/services/x/")
                .unwrap()
                .as_str(),
            "/services/x"
        );
        assert_eq!(prefix_key("consul://127.0.0.1:8500").unwrap().as_str(), "/");
    }

    #[tokio::test]
    async fn consul_urls() {
        let none = DiscoverFlags::default();
        let c = consul_config("consul-tls://10.0.0.1:8501", true, &none)
            .await
            .unwrap();
        assert_eq!(c.address, "https://10.0.0.1:8501");
        assert!(c.tls.is_some());
        let c = consul_config("consul://10.0.0.1", false, &none)
            .await
            .unwrap();
        assert_eq!(c.address, "http://10.0.0.1:8500");
    }

    #[tokio::test]
    async fn unsupported_schemes_fail_at_once_and_memory_works() {
        let e = connect(
            "consulkv://127.0.0.1:8500/services",
            Retry::default(),
            &DiscoverFlags::default(),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("consulkv"), "{e}");
        let e = connect(
            "zookeeper://127.0.0.1:2181/x",
            Retry {
                attempts: None,
                interval: Duration::from_millis(1),
            },
            &DiscoverFlags::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        connect("memory://", Retry::default(), &DiscoverFlags::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn retries_then_gives_up_with_the_last_error() {
        // Nothing listens on port 1: every attempt fails fast.
        let start = std::time::Instant::now();
        let retry = Retry {
            attempts: Some(2),
            interval: Duration::from_millis(100),
        };
        let e = connect("consul://127.0.0.1:1", retry, &DiscoverFlags::default())
            .await
            .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200),
            "two pauses between three attempts, took {took:?}"
        );
    }
}
