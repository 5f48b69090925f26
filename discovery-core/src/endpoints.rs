//! Finding a backend's endpoints when the command line names none: DNS SRV records, the
//! environment variables the etcd and Consul tools read, and the default gateway (the Docker
//! host, seen from a container on a bridge network).
//!
//! [`Discovery::resolve`] applies one order of precedence, the same for every binary:
//!
//! 1. an SRV record ([`Discovery::srv`]), when one is configured (confd's `-srv-record` /
//!    `-srv-domain`; as in confd, it beats explicit nodes);
//! 2. the explicit nodes (`-node`, `confd.toml`'s `nodes`, a URL's host);
//! 3. the first set variable of [`Family::env_vars`] (`ETCDCTL_ENDPOINTS`, `ETCD_ENDPOINTS`,
//!    `ETCD_ENDPOINT`, `ETCDCTL_PEERS`; or `CONSUL_HTTP_ADDR`), comma-separated;
//! 4. with [`Discovery::gateway`] set, the default gateway's address on the family's port;
//! 5. `127.0.0.1` on the family's port.
//!
//! ```
//! use discovery_core::endpoints::{Discovery, Family, Source};
//! # tokio_test_block_on(async {
//! let d = Discovery::new(Family::Etcd).with_env(|var| {
//!     (var == "ETCD_ENDPOINTS").then(|| "http://10.0.0.1:2379,http://10.0.0.2:2379".to_owned())
//! });
//! let found = d.resolve().await?;
//! assert_eq!(found.source, Source::Env("ETCD_ENDPOINTS"));
//! assert_eq!(found.endpoints, ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
//! # Ok::<(), discovery_core::Error>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::{Error, Result};

/// Which kind of backend the endpoints are for: it decides the variables read and the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// etcd (v3): port 2379.
    Etcd,
    /// Consul: port 8500.
    Consul,
}

impl Family {
    /// The environment variables read, in order: the first one set (and not empty) wins.
    pub fn env_vars(self) -> &'static [&'static str] {
        match self {
            Family::Etcd => &[
                "ETCDCTL_ENDPOINTS",
                "ETCD_ENDPOINTS",
                "ETCD_ENDPOINT",
                "ETCDCTL_PEERS",
            ],
            Family::Consul => &["CONSUL_HTTP_ADDR"],
        }
    }

    /// The client port when none is given.
    pub fn default_port(self) -> u16 {
        match self {
            Family::Etcd => 2379,
            Family::Consul => 8500,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Etcd => "etcd",
            Family::Consul => "consul",
        }
    }
}

/// Where [`Discovery::resolve`] found the endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The SRV record of that name.
    Srv(String),
    /// The explicit nodes.
    Nodes,
    /// That environment variable.
    Env(&'static str),
    /// The default gateway.
    Gateway,
    /// Nothing was configured: `127.0.0.1`.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Srv(name) => write!(f, "SRV record {name}"),
            Source::Nodes => f.write_str("the configured nodes"),
            Source::Env(var) => write!(f, "${var}"),
            Source::Gateway => f.write_str("the default gateway"),
            Source::Default => f.write_str("the default address"),
        }
    }
}

/// The endpoints found and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Found {
    /// `host:port` or `scheme://host:port`, as the source gave them.
    pub endpoints: Vec<String>,
    /// Where they came from.
    pub source: Source,
}

/// The SRV record(s) to take endpoints from, and the scheme to put before each target.
///
/// Several names are tried in order and the first with records wins: confd's
/// `-srv-domain example.com` asks for `_etcdv3._tcp.example.com.` (its backend's name), and
/// etcd's own convention is `_etcd-client._tcp.example.com` (`_etcd-client-ssl` for TLS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SrvRecord {
    /// Full record names, e.g. `_etcd-client._tcp.example.com`, tried in order.
    pub names: Vec<String>,
    /// `http` or `https` for each `scheme://target:port`; `None` gives bare `target:port`.
    pub scheme: Option<String>,
}

impl fmt::Display for SrvRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names.join(", "))
    }
}

impl SrvRecord {
    /// The record `name`, targets given as `host:port`.
    pub fn new(name: impl Into<String>) -> Self {
        SrvRecord {
            names: vec![name.into()],
            scheme: None,
        }
    }

    /// Tries `name` when the names before it have no records.
    pub fn or(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Puts `scheme://` before every target.
    pub fn with_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = Some(scheme.into());
        self
    }

    /// Looks the records up through the system's resolver configuration (`/etc/resolv.conf`)
    /// and returns the first name's targets ordered by priority, then weight (heaviest first),
    /// as `host:port` (with the scheme, if set). When no name has records, an
    /// [`Error::Unavailable`] names them all, so a caller retrying a connection re-resolves.
    #[cfg(feature = "dns")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
    pub async fn resolve(&self) -> Result<Vec<String>> {
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| Error::invalid_config("/etc/resolv.conf", format!("cannot read it: {e}")))?
            .build()
            .map_err(|e| Error::invalid_config("dns resolver", e.to_string()))?;
        let mut why = Vec::new();
        for name in &self.names {
            match resolver.srv_lookup(name.as_str()).await {
                Ok(lookup) => {
                    let targets =
                        self.targets(lookup.answers().iter().filter_map(|r| match &r.data {
                            hickory_resolver::proto::rr::RData::SRV(srv) => Some(srv),
                            _ => None,
                        }));
                    if !targets.is_empty() {
                        return Ok(targets);
                    }
                    why.push(format!("{name}: no records"));
                }
                Err(e) => why.push(format!("{name}: {e}")),
            }
        }
        Err(self.failed(why.join("; ")))
    }

    #[cfg(feature = "dns")]
    fn targets<'a>(
        &self,
        records: impl Iterator<Item = &'a hickory_resolver::proto::rr::rdata::SRV>,
    ) -> Vec<String> {
        let mut records: Vec<_> = records.collect();
        records.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
        records
            .iter()
            .map(|s| {
                let host = s.target.to_string();
                let host = host.trim_end_matches('.');
                let hostport = if host.contains(':') {
                    format!("[{host}]:{}", s.port)
                } else {
                    format!("{host}:{}", s.port)
                };
                match &self.scheme {
                    Some(scheme) => format!("{scheme}://{hostport}"),
                    None => hostport,
                }
            })
            .collect()
    }

    /// Without the `dns` feature there is no resolver: always an error naming the record.
    #[cfg(not(feature = "dns"))]
    pub async fn resolve(&self) -> Result<Vec<String>> {
        Err(Error::invalid_config(
            format!("SRV record {self}"),
            "this build has no DNS resolver (feature `dns` of discovery-core)",
        ))
    }

    #[cfg_attr(not(feature = "dns"), allow(dead_code))]
    fn failed(&self, why: String) -> Error {
        Error::unavailable(
            "dns",
            format!("cannot get nodes from SRV records {self}: {why}"),
        )
    }
}

/// The default gateway's IPv4 address: the Docker host, seen from a container on a bridge
/// network. `None` when the routing table has no default route.
pub fn default_gateway() -> Result<Option<std::net::IpAddr>> {
    #[cfg(feature = "gateway")]
    {
        match netdev::get_default_gateway() {
            Ok(gw) => Ok(gw.ipv4.first().copied().map(std::net::IpAddr::V4)),
            Err(e) if e.to_lowercase().contains("not found") => Ok(None),
            Err(e) => Err(Error::unavailable("gateway", e)),
        }
    }
    #[cfg(not(feature = "gateway"))]
    {
        Err(Error::invalid_config(
            "gateway",
            "this build cannot read the routing table (feature `gateway` of discovery-core)",
        ))
    }
}

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to find the endpoints of one backend; see the [module docs](self) for the order.
#[derive(Clone)]
pub struct Discovery {
    family: Family,
    srv: Option<SrvRecord>,
    nodes: Vec<String>,
    gateway: bool,
    env: EnvLookup,
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("family", &self.family)
            .field("srv", &self.srv)
            .field("nodes", &self.nodes)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Nothing configured yet: the process environment, then `127.0.0.1`.
    pub fn new(family: Family) -> Self {
        Discovery {
            family,
            srv: None,
            nodes: Vec::new(),
            gateway: false,
            env: Arc::new(|var| std::env::var(var).ok()),
        }
    }

    /// The explicit nodes (ignored when empty).
    pub fn nodes(mut self, nodes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// An SRV record to resolve first.
    pub fn srv(mut self, record: Option<SrvRecord>) -> Self {
        self.srv = record;
        self
    }

    /// Falls back to the default gateway before `127.0.0.1`.
    pub fn gateway(mut self, on: bool) -> Self {
        self.gateway = on;
        self
    }

    /// Reads variables through `lookup` instead of the process environment.
    pub fn with_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env = Arc::new(lookup);
        self
    }

    /// The configured SRV record, if any.
    pub fn srv_record(&self) -> Option<&SrvRecord> {
        self.srv.as_ref()
    }

    /// Finds the endpoints. Fails only when an SRV record is configured and cannot be
    /// resolved, or the gateway is asked for and cannot be read.
    pub async fn resolve(&self) -> Result<Found> {
        if let Some(srv) = &self.srv {
            return Ok(Found {
                endpoints: srv.resolve().await?,
                source: Source::Srv(srv.to_string()),
            });
        }
        if !self.nodes.is_empty() {
            return Ok(Found {
                endpoints: self.nodes.clone(),
                source: Source::Nodes,
            });
        }
        for var in self.family.env_vars() {
            let Some(value) = (self.env)(var) else {
                continue;
            };
            let endpoints: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if !endpoints.is_empty() {
                return Ok(Found {
                    endpoints,
                    source: Source::Env(var),
                });
            }
        }
        let port = self.family.default_port();
        if self.gateway {
            return match default_gateway()? {
                Some(ip) => Ok(Found {
                    endpoints: vec![format!("{ip}:{port}")],
                    source: Source::Gateway,
                }),
                None => Err(Error::unavailable(
                    "gateway",
                    format!(
                        "no default route to find {} on: give the nodes",
                        self.family.name()
                    ),
                )),
            };
        }
        Ok(Found {
            endpoints: vec![format!("127.0.0.1:{port}")],
            source: Source::Default,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    async fn found(d: Discovery) -> Found {
        d.resolve().await.expect("resolves")
    }

    #[tokio::test]
    async fn nodes_beat_the_environment_and_the_first_variable_wins() {
        let e = env(&[
            ("ETCD_ENDPOINT", "10.0.0.3:2379"),
            ("ETCD_ENDPOINTS", "10.0.0.2:2379, 10.0.0.4:2379"),
        ]);
        let d = Discovery::new(Family::Etcd).with_env(e);
        let f = found(d.clone()).await;
        assert_eq!(f.source, Source::Env("ETCD_ENDPOINTS"));
        assert_eq!(f.endpoints, ["10.0.0.2:2379", "10.0.0.4:2379"]);
        let f = found(d.nodes(["10.0.0.9:2379"])).await;
        assert_eq!(f.source, Source::Nodes);
        assert_eq!(f.endpoints, ["10.0.0.9:2379"]);
    }

    #[tokio::test]
    async fn consul_reads_its_own_variable_and_port() {
        let e = env(&[
            ("ETCD_ENDPOINTS", "10.0.0.2:2379"),
            ("CONSUL_HTTP_ADDR", "10.0.0.5:8500"),
        ]);
        let f = found(Discovery::new(Family::Consul).with_env(e)).await;
        assert_eq!(f.source, Source::Env("CONSUL_HTTP_ADDR"));
        let f = found(Discovery::new(Family::Consul).with_env(env(&[]))).await;
        assert_eq!(f.source, Source::Default);
        assert_eq!(f.endpoints, ["127.0.0.1:8500"]);
    }

    #[tokio::test]
    async fn empty_variables_are_skipped() {
        let e = env(&[("ETCDCTL_ENDPOINTS", " , "), ("ETCDCTL_PEERS", "h:1")]);
        let f = found(Discovery::new(Family::Etcd).with_env(e)).await;
        assert_eq!(f.source, Source::Env("ETCDCTL_PEERS"));
        assert_eq!(f.endpoints, ["h:1"]);
    }

    #[cfg(feature = "dns")]
    #[tokio::test]
    async fn an_unknown_srv_record_is_an_error_naming_it() {
        let d = Discovery::new(Family::Etcd)
            .nodes(["10.0.0.9:2379"])
            .srv(Some(SrvRecord::new("_etcd-client._tcp.nowhere.invalid")));
        let e = d.resolve().await.expect_err("no such record");
        assert!(e.is_retryable(), "{e}");
        assert!(
            e.to_string().contains("_etcd-client._tcp.nowhere.invalid"),
            "{e}"
        );
    }
}
