//! Opening a backend by name (confd's `-backend`) or by URL (`etcd://host:2379/prefix`,
//! `consul://host:8500`, `memory://`), for every example binary.

use std::path::PathBuf;
use std::sync::Arc;

use discovery_consul::{ConsulBackend, ConsulConfig};
use discovery_core::endpoints::{Discovery, Family, SrvRecord};
use discovery_core::{EnvBackend, Error, FileBackend, KvView, MemoryBackend, Result};
#[cfg(feature = "etcd")]
use discovery_etcd::{EtcdBackend, EtcdConfig, EtcdTls};
use discovery_render::confd::backend_table::{BackendConfig, BackendFactory};
use futures::future::BoxFuture;

/// What to connect to.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BackendSpec {
    /// `etcdv3`, `etcd`, `consul`, `file`, `env` or `memory`.
    pub kind: String,
    /// Node addresses.
    pub nodes: Vec<String>,
    /// TLS CA file.
    pub ca: Option<PathBuf>,
    /// TLS client certificate.
    pub cert: Option<PathBuf>,
    /// TLS client key.
    pub key: Option<PathBuf>,
    /// User name (etcd auth, Consul basic auth).
    pub username: Option<String>,
    /// Password (redacted in `Debug`).
    pub password: Option<String>,
    /// Token (Consul ACL token; redacted in `Debug`).
    pub token: Option<String>,
    /// Files of the file backend (also seeds the memory backend).
    pub files: Vec<PathBuf>,
    /// An SRV record to take the nodes from (beats `nodes`, as in confd).
    pub srv: Option<SrvRecord>,
    /// With no nodes, SRV record or environment variable, use the default gateway's address
    /// (the Docker host, from a container) before `127.0.0.1`.
    pub gateway: bool,
    /// Timeout of one request (abtreece/confd's `-backend-timeout`); `None`: the client's.
    pub request_timeout: Option<std::time::Duration>,
    /// Timeout of a connection (abtreece/confd's `-dial-timeout`); `None`: the client's.
    pub dial_timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendSpec")
            .field("kind", &self.kind)
            .field("nodes", &self.nodes)
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key.as_ref().map(|_| "<redacted path>"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("files", &self.files)
            .field("srv", &self.srv)
            .field("gateway", &self.gateway)
            .field("request_timeout", &self.request_timeout)
            .field("dial_timeout", &self.dial_timeout)
            .finish()
    }
}

impl BackendSpec {
    /// From confd's configuration.
    pub fn from_confd(cfg: &crate::confd::config::ConfdConfig) -> Self {
        BackendSpec {
            kind: cfg.backend.clone(),
            nodes: cfg.nodes.clone(),
            ca: cfg.client_cakeys.clone(),
            cert: cfg.client_cert.clone(),
            key: cfg.client_key.clone(),
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            token: cfg.auth_token.clone(),
            files: cfg.files.clone(),
            srv: cfg.srv_record(),
            gateway: cfg.gateway,
            request_timeout: cfg.fork.request_timeout,
            dial_timeout: cfg.fork.dial_timeout,
        }
    }

    /// From a confd resource's `[backend]` table (abtreece/confd's per-resource backend);
    /// `gateway` is the global `-gateway`.
    pub fn from_table(t: &BackendConfig, gateway: bool) -> Self {
        let scheme = t.scheme.as_deref().unwrap_or("http");
        BackendSpec {
            kind: t.backend.clone(),
            nodes: t.nodes.clone(),
            ca: t.client_cakeys.clone(),
            cert: t.client_cert.clone(),
            key: t.client_key.clone(),
            username: t.username.clone(),
            password: t.password.clone(),
            token: t.auth_token.clone(),
            files: t.file.clone(),
            srv: crate::confd::config::srv_record(
                &t.backend,
                scheme,
                t.srv_record.as_deref(),
                t.srv_domain.as_deref(),
            ),
            gateway,
            request_timeout: None,
            dial_timeout: None,
        }
    }

    /// From a URL: `etcd://host:port[/prefix]`, `consul://host:port`, `memory://`.
    pub fn from_url(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            // The URL may hold credentials: never echo it.
            Error::invalid_config("backend", "expected a URL like etcd://127.0.0.1:2379")
        })?;
        let authority = rest.split('/').next().unwrap_or("");
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            Some((u, p)) => (
                Some(u.to_owned()).filter(|u| !u.is_empty()),
                Some(p.to_owned()).filter(|p| !p.is_empty()),
            ),
            None => (None, None),
        };
        let kind = match scheme {
            "etcd" | "etcdv3" => "etcdv3",
            "consul" => "consul",
            "memory" => "memory",
            other => {
                return Err(Error::invalid_config(
                    "backend",
                    format!("unknown scheme {other:?}"),
                ))
            }
        };
        Ok(BackendSpec {
            kind: kind.into(),
            nodes: if host.is_empty() {
                vec![]
            } else {
                vec![host.to_owned()]
            },
            username,
            password,
            ..Default::default()
        })
    }

    /// Where the nodes are found when none are given (see [`discovery_core::endpoints`]).
    fn discovery(&self, family: Family) -> Discovery {
        Discovery::new(family)
            .nodes(self.nodes.clone())
            .srv(self.srv.clone())
            .gateway(self.gateway)
    }

    #[cfg(feature = "etcd")]
    async fn etcd_config(&self) -> Result<EtcdConfig> {
        let mut c = match &self.srv {
            // Resolved by the backend, which resolves it again when every endpoint fails.
            Some(srv) => EtcdConfig::default().with_srv(srv.clone()),
            None => {
                let found = self.discovery(Family::Etcd).resolve().await?;
                tracing::debug!(endpoints = ?found.endpoints, from = %found.source, "etcd endpoints");
                EtcdConfig::new(found.endpoints)
            }
        };
        if self.ca.is_some() || self.cert.is_some() {
            let mut tls = match &self.ca {
                Some(ca) => EtcdTls::with_ca(ca),
                None => EtcdTls::default(),
            };
            if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                tls = tls.client_identity(cert, key);
            }
            c.tls = Some(tls);
        }
        c.user = self.username.clone();
        c.password = self.password.clone();
        if let Some(t) = self.request_timeout {
            c.request_timeout = t;
        }
        if let Some(t) = self.dial_timeout {
            c.connect_timeout = t;
        }
        Ok(c)
    }

    async fn consul_config(&self) -> Result<ConsulConfig> {
        let found = self.discovery(Family::Consul).resolve().await?;
        tracing::debug!(endpoints = ?found.endpoints, from = %found.source, "consul address");
        let mut c = ConsulConfig::default();
        // Like confd, the first node is the agent asked.
        if let Some(n) = found.endpoints.first() {
            let addr = if n.contains("://") {
                n.clone()
            } else {
                format!("http://{n}")
            };
            c = c.with_address(addr);
        }
        if let Some(t) = &self.token {
            c = c.with_token(t.clone());
        }
        if let Some(t) = self.request_timeout {
            c.request_timeout = t;
        }
        if let Some(t) = self.dial_timeout {
            c.transport.dial_timeout = Some(t);
        }
        Ok(c)
    }
}

/// The factory confd's runner opens `[backend]` tables with: [`open_kv`] of
/// [`BackendSpec::from_table`], so a table gets the same backends, and the same errors, as the
/// global `-backend` flag.
pub fn table_factory(gateway: bool) -> Arc<dyn BackendFactory> {
    Arc::new(
        move |t: BackendConfig| -> BoxFuture<'static, Result<Arc<dyn KvView>>> {
            let spec = BackendSpec::from_table(&t, gateway);
            Box::pin(async move { open_kv(&spec).await })
        },
    )
}

/// Opens the key-value view of `spec`.
pub async fn open_kv(spec: &BackendSpec) -> Result<Arc<dyn KvView>> {
    Ok(match spec.kind.as_str() {
        #[cfg(feature = "etcd")]
        "etcd" | "etcdv3" => Arc::new(EtcdBackend::connect(spec.etcd_config().await?).await?),
        #[cfg(not(feature = "etcd"))]
        "etcd" | "etcdv3" => return Err(no_etcd()),
        "consul" => Arc::new(ConsulBackend::new(spec.consul_config().await?)?),
        "file" => Arc::new(FileBackend::new(spec.files.clone())),
        "env" => Arc::new(EnvBackend::new()),
        "memory" => Arc::new(MemoryBackend::new()),
        other => {
            return Err(Error::invalid_config(
                "backend",
                format!(
                    "{other:?} is not supported (use etcdv3, etcd, consul, file, env or memory)"
                ),
            ))
        }
    })
}

#[cfg(not(feature = "etcd"))]
fn no_etcd() -> Error {
    Error::Unsupported {
        backend: "etcd",
        operation: "this build (compiled without the `etcd` feature)",
    }
}

/// Opens an etcd backend with the seeds' plain layout under `root` when asked (`register`, `watch`).
#[cfg(feature = "etcd")]
pub async fn open_etcd(spec: &BackendSpec, layout: discovery_core::Layout) -> Result<EtcdBackend> {
    let mut c = spec.etcd_config().await?;
    c.layout = layout;
    EtcdBackend::connect(c).await
}

/// A backend's registry, watcher and KV view behind trait objects.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Registers instances.
    pub registry: Arc<dyn discovery_core::Registry>,
    /// Watches services.
    pub watcher: Arc<dyn discovery_core::Watcher>,
    /// Reads keys.
    pub kv: Arc<dyn KvView>,
}

/// Opens `spec` with instances laid out as `layout` (ignored by Consul, whose catalog holds them).
pub async fn open(spec: &BackendSpec, layout: discovery_core::Layout) -> Result<Opened> {
    Ok(match spec.kind.as_str() {
        #[cfg(not(feature = "etcd"))]
        "etcd" | "etcdv3" => return Err(no_etcd()),
        #[cfg(feature = "etcd")]
        "etcd" | "etcdv3" => {
            let b = open_etcd(spec, layout).await?;
            Opened {
                registry: Arc::new(b.clone()),
                watcher: Arc::new(b.clone()),
                kv: Arc::new(b),
            }
        }
        "consul" => {
            let b = ConsulBackend::new(spec.consul_config().await?)?;
            Opened {
                registry: Arc::new(b.clone()),
                watcher: Arc::new(b.clone()),
                kv: Arc::new(b),
            }
        }
        "memory" => {
            let b = MemoryBackend::with_layout(layout);
            Opened {
                registry: Arc::new(b.clone()),
                watcher: Arc::new(b.clone()),
                kv: Arc::new(b),
            }
        }
        other => {
            return Err(Error::invalid_config(
                "backend",
                format!(
                "{other:?} cannot register or watch services (use etcd://, consul:// or memory://)"
            ),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_parsed_and_never_shown() {
        let s = BackendSpec::from_url("etcd://alice:s3cret@127.0.0.1:2379/prefix").unwrap();
        assert_eq!(s.nodes, ["127.0.0.1:2379"]);
        assert_eq!(s.username.as_deref(), Some("alice"));
        assert_eq!(s.password.as_deref(), Some("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
        let e = BackendSpec::from_url("alice:s3cret@127.0.0.1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[tokio::test]
    async fn backends_confd_0_17_has_and_we_do_not_ship_are_refused_by_name() {
        for backend in ["vault", "redis", "zookeeper", "dynamodb", "ssm", "rancher"] {
            let c = crate::confd::config::ConfdConfig::from_args(
                ["-config-file", "/nonexistent", "-backend", backend].map(String::from),
            )
            .unwrap();
            let e = open_kv(&BackendSpec::from_confd(&c)).await.err().unwrap();
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid configuration backend: {backend:?} is not supported (use \
                     etcdv3, etcd, consul, file, env or memory)"
                )
            );
        }
    }
}
