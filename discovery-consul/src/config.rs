//! [`ConsulConfig`] and [`TlsConfig`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use discovery_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How to reach and use a Consul agent.
///
/// Every field has a default, so `ConsulConfig::default()` talks to a local agent at
/// `http://127.0.0.1:8500` without a token. Durations are written as Go-style strings in files
/// (`"60s"`, `"1m"`, `"500ms"`) or as a number of seconds.
///
/// ```
/// use std::time::Duration;
/// use discovery_consul::ConsulConfig;
/// let cfg = ConsulConfig::from_url("consul://127.0.0.1:8500")?
///     .with_token("s3cr3t")
///     .with_wait(Duration::from_secs(30));
/// assert_eq!(cfg.address, "http://127.0.0.1:8500");
/// assert!(!format!("{cfg:?}").contains("s3cr3t"));
/// # Ok::<(), discovery_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsulConfig {
    /// Base URL of the agent's HTTP API. Default `http://127.0.0.1:8500`.
    pub address: String,
    /// ACL token sent as `X-Consul-Token`. Default none. Redacted in `Debug`.
    pub token: Option<String>,
    /// TLS settings for an `https://` address. Default none (system roots only).
    pub tls: Option<TlsConfig>,
    /// Datacenter to query (`?dc=`). Default: the agent's own.
    pub datacenter: Option<String>,
    /// Isolates this backend from others sharing the Consul cluster: KV keys are stored under
    /// `<namespace>/`, and services are registered and watched under the Consul name
    /// `<namespace>.<service>` (so a namespace cannot contain `.` or `/`). Default none (plain keys and service names, as consul-template
    /// and other tools see them).
    pub namespace: Option<String>,
    /// How long one blocking query may wait for a change (`?wait=`). Default 60 s, as
    /// consul-template's `block_query_wait`. Consul answers after at most this plus a random
    /// jitter of up to 1/16 of it (so an idle watch is re-issued every 60–63.75 s by default),
    /// caps it at 10 min, and waits 5 min when a client sends no `wait` at all. A longer wait
    /// means fewer requests while nothing changes, never slower updates.
    #[serde(with = "duration_str")]
    pub wait: Duration,
    /// `DeregisterCriticalServiceAfter` of the TTL check of every registration: how long the
    /// agent keeps an instance whose heartbeats stopped. Default 1 min (Consul's minimum).
    #[serde(with = "duration_str")]
    pub deregister_critical_after: Duration,
    /// Timeout of a non-blocking request (blocking ones get `wait` on top). Default 10 s.
    #[serde(with = "duration_str")]
    pub request_timeout: Duration,
    /// HTTP basic authentication sent with every request (consul-template's `-consul-auth`).
    /// Default none. The password is redacted in `Debug`. Set in code, not read from files.
    #[serde(skip)]
    pub auth: Option<BasicAuth>,
    /// How the blocking-query loops retry a failed request. Default: forever, 250 ms doubling
    /// to 10 s. Set in code, not read from files.
    #[serde(skip)]
    pub retry: RetryConfig,
    /// Connection handling (dial timeout, idle connections). Set in code, not read from files.
    #[serde(skip)]
    pub transport: TransportConfig,
    /// Reads may be answered by any server (`?stale`), not only the leader, when set to more
    /// than zero (consul-template's `max_stale`). Default none: consistent reads.
    #[serde(skip)]
    pub max_stale: Option<Duration>,
}

/// HTTP basic authentication (`Authorization: Basic …`). `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password (may be empty). Never logged.
    pub password: String,
}

impl BasicAuth {
    /// Credentials for `username` and `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        BasicAuth {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parses consul-template's `user[:password]`.
    pub fn parse(s: &str) -> Self {
        match s.split_once(':') {
            Some((u, p)) => BasicAuth::new(u, p),
            None => BasicAuth::new(s, ""),
        }
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How the blocking-query loops retry a request that failed with a transient error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Whether to retry at all; `false` gives up on the first failure.
    pub enabled: bool,
    /// How many retries before giving up; 0 retries forever.
    pub attempts: u32,
    /// The first retry's delay (doubling after each failure, with jitter).
    pub backoff: Duration,
    /// The largest delay between retries.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            attempts: 0,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryConfig {
    /// Whether a loop that failed `failures` times in a row gives up.
    pub fn exhausted(&self, failures: u32) -> bool {
        !self.enabled || (self.attempts > 0 && failures > self.attempts)
    }
}

/// Connection handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// How long connecting (TCP, and TLS for `https://`) may take. Default: `request_timeout`.
    pub dial_timeout: Option<Duration>,
    /// How long an idle connection is kept for reuse. Default 90 s.
    pub idle_timeout: Duration,
    /// Close every connection after its request instead of keeping it for reuse.
    pub disable_keep_alives: bool,
    /// The most idle connections kept. Default none (no limit).
    pub max_idle_conns: Option<usize>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            dial_timeout: None,
            idle_timeout: Duration::from_secs(90),
            disable_keep_alives: false,
            max_idle_conns: None,
        }
    }
}

impl Default for ConsulConfig {
    fn default() -> Self {
        ConsulConfig {
            address: "http://127.0.0.1:8500".into(),
            token: None,
            tls: None,
            datacenter: None,
            namespace: None,
            wait: Duration::from_secs(60),
            deregister_critical_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            auth: None,
            retry: RetryConfig::default(),
            transport: TransportConfig::default(),
            max_stale: None,
        }
    }
}

impl fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("datacenter", &self.datacenter)
            .field("namespace", &self.namespace)
            .field("wait", &self.wait)
            .field("deregister_critical_after", &self.deregister_critical_after)
            .field("request_timeout", &self.request_timeout)
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("transport", &self.transport)
            .field("max_stale", &self.max_stale)
            .finish()
    }
}

/// TLS material for an `https://` agent address. Paths point at PEM files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// CA certificate(s) that sign the agent's certificate, added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS (needs `key_file`).
    pub cert_file: Option<PathBuf>,
    /// Private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// A directory of CA certificates (PEM files), added like `ca_file`.
    pub ca_path: Option<PathBuf>,
    /// The name the agent's certificate is checked against (and sent as SNI) instead of the
    /// address's host.
    pub server_name: Option<String>,
    /// Accept any certificate (consul-template's `ssl { verify = false }`). Default false.
    pub insecure_skip_verify: bool,
}

impl TlsConfig {
    /// TLS with an extra CA certificate.
    pub fn with_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// TLS with a client certificate and key (mutual TLS).
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(cert.into());
        self.key_file = Some(key.into());
        self
    }
}

impl ConsulConfig {
    /// A configuration for `url`: `consul://host:port` (plain HTTP), `consuls://host:port`
    /// (HTTPS), an `http://` / `https://` URL, or a bare `host:port` as consul-template's
    /// `-consul-addr` takes it (plain HTTP). A missing port means 8500.
    pub fn from_url(url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidConfig {
            key: "consul url".into(),
            reason: format!("{url:?}: {reason}"),
        };
        let (scheme, rest) = url.split_once("://").unwrap_or(("consul", url));
        let scheme = match scheme {
            "consul" | "http" => "http",
            "consuls" | "https" => "https",
            _ => return Err(bad("scheme must be consul, consuls, http or https")),
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') || host.contains('?') || host.contains('@') {
            return Err(bad("expected only host[:port] after the scheme"));
        }
        let has_port = match host.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && (!h.contains(':') || h.ends_with(']')) => {
                p.parse::<u16>().map_err(|_| bad("invalid port"))?;
                true
            }
            _ => false,
        };
        let address = if has_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:8500")
        };
        Ok(ConsulConfig {
            address,
            ..Default::default()
        })
    }

    /// The defaults, overridden by `CONSUL_HTTP_ADDR` (`host:port` or a URL),
    /// `CONSUL_HTTP_TOKEN` and `CONSUL_CACERT` as the Consul CLI reads them.
    pub fn from_env() -> Result<Self> {
        let mut cfg = match std::env::var("CONSUL_HTTP_ADDR") {
            Ok(addr) if addr.contains("://") => Self::from_url(&addr)?,
            Ok(addr) if !addr.is_empty() => Self::from_url(&format!("consul://{addr}"))?,
            _ => Self::default(),
        };
        if let Ok(token) = std::env::var("CONSUL_HTTP_TOKEN") {
            if !token.is_empty() {
                cfg.token = Some(token);
            }
        }
        if let Ok(ca) = std::env::var("CONSUL_CACERT") {
            if !ca.is_empty() {
                cfg.tls = Some(cfg.tls.unwrap_or_default().with_ca(ca));
            }
        }
        Ok(cfg)
    }

    /// Sets the agent address (a URL such as `http://127.0.0.1:8500`).
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// Sets the ACL token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the TLS material.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the datacenter.
    pub fn with_datacenter(mut self, dc: impl Into<String>) -> Self {
        self.datacenter = Some(dc.into());
        self
    }

    /// Sets the isolation namespace (see [`ConsulConfig::namespace`]).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the blocking-query wait.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets `DeregisterCriticalServiceAfter`.
    pub fn with_deregister_critical_after(mut self, after: Duration) -> Self {
        self.deregister_critical_after = after;
        self
    }

    /// Sets the timeout of non-blocking requests.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| Error::InvalidConfig {
            key: key.into(),
            reason: reason.into(),
        };
        if !(self.address.starts_with("http://") || self.address.starts_with("https://")) {
            return Err(bad("address", "must start with http:// or https://"));
        }
        if let Some(ns) = &self.namespace {
            if ns.is_empty() || ns.contains(['/', '.']) || ns.chars().any(char::is_whitespace) {
                return Err(bad(
                    "namespace",
                    "must be non-empty, without '/', '.' or whitespace",
                ));
            }
        }
        if self.wait.is_zero() || self.wait > Duration::from_secs(600) {
            return Err(bad(
                "wait",
                "must be between 1ms and 10m (Consul's maximum)",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(bad("request_timeout", "must not be zero"));
        }
        if self.transport.dial_timeout.is_some_and(|d| d.is_zero()) {
            return Err(bad("transport.dial_timeout", "must not be zero"));
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err(bad("tls", "cert_file and key_file go together"));
            }
        }
        Ok(())
    }
}

/// Go-style duration strings (`"1m30s"`, `"250ms"`) or plain seconds.
mod duration_str {
    use std::time::Duration;

    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => super::parse_duration(&t).ok_or_else(|| {
                de::Error::custom(format!("invalid duration {t:?} (expected e.g. \"60s\")"))
            }),
        }
    }
}

pub(crate) use discovery_core::parse_go_duration as parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = ConsulConfig::from_url("consul://10.0.0.1:8501").unwrap();
        assert_eq!(c.address, "http://10.0.0.1:8501");
        let c = ConsulConfig::from_url("consuls://consul.local").unwrap();
        assert_eq!(c.address, "https://consul.local:8500");
        assert!(ConsulConfig::from_url("etcd://x:1").is_err());
        let bare = ConsulConfig::from_url("127.0.0.1:8501").unwrap();
        assert_eq!(bare.address, "http://127.0.0.1:8501");
        assert!(ConsulConfig::from_url("").is_err());
        assert!(ConsulConfig::from_url("consul://x:notaport").is_err());
    }

    #[test]
    fn durations_and_redaction() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("abc"), None);
        let c: ConsulConfig =
            serde_json::from_str(r#"{"token":"hunter2","wait":"5s","request_timeout":3}"#).unwrap();
        assert_eq!(c.wait, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(c.validate().is_ok());
        assert!(c.with_wait(Duration::from_secs(3600)).validate().is_err());
        let a = BasicAuth::parse("user:pa:ss");
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(BasicAuth::parse("user").password, "");
        let cfg = ConsulConfig {
            auth: Some(a),
            ..Default::default()
        };
        assert!(!format!("{cfg:?}").contains("pa:ss"));
    }

    #[test]
    fn retry_attempts() {
        let r = RetryConfig::default();
        assert!(!r.exhausted(1_000_000), "0 attempts retries forever");
        let r = RetryConfig { attempts: 2, ..r };
        assert!(!r.exhausted(2) && r.exhausted(3));
        let off = RetryConfig {
            enabled: false,
            ..r
        };
        assert!(off.exhausted(1));
    }
}
