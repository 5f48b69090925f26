//! [`EtcdConfig`]: where the etcd cluster is and how to talk to it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use discovery_core::{Error, Layout, Result};
use serde::{Deserialize, Serialize};

/// Connection settings for [`crate::EtcdBackend`].
///
/// Every field has a documented default, so a config file only names what differs:
///
/// ```
/// use discovery_etcd::EtcdConfig;
/// let cfg = EtcdConfig::default();
/// assert_eq!(cfg.endpoints, vec!["127.0.0.1:2379".to_string()]);
/// assert!(cfg.namespace.is_none());
///
/// let cfg = EtcdConfig::from_url("etcd://10.0.0.1:2379,10.0.0.2:2379/prod")?;
/// assert_eq!(cfg.endpoints.len(), 2);
/// assert_eq!(cfg.namespace.as_deref(), Some("/prod"));
/// # Ok::<(), discovery_core::Error>(())
/// ```
///
/// `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Client URLs of the cluster members: `host:port`, `http://host:port` or `https://host:port`.
    /// A plain `host:port` uses TLS when [`tls`](Self::tls) is set. Default `["127.0.0.1:2379"]`.
    pub endpoints: Vec<String>,
    /// A key prefix applied to every key, like etcd-client's `KvClientPrefix`: with namespace
    /// `/prod`, the key `/test/a` is stored at `/prod/test/a`. A trailing `/` is ignored.
    /// Default: none (keys are used as they are, which is what confd expects).
    pub namespace: Option<String>,
    /// How instances are laid out under the namespace. Default: JSON at `/services/<service>/<id>`.
    pub layout: Layout,
    /// TLS settings; `None` (the default) talks plain HTTP/2 unless an endpoint says `https://`.
    pub tls: Option<EtcdTls>,
    /// User name for etcd authentication. Default: none.
    pub user: Option<String>,
    /// Password for [`user`](Self::user). Default: none. Never printed by `Debug`.
    pub password: Option<String>,
    /// How long connecting to one endpoint may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one request (get, put, grant, watch creation, ...) may take. Default 5 s.
    pub request_timeout: Duration,
    /// HTTP/2 keepalive ping interval; a member that does not answer a ping within the same
    /// time is considered gone, so a watch on a partitioned member moves on. Default 10 s
    /// (etcd rejects pings more often than every 5 s).
    pub keepalive_interval: Duration,
    /// An SRV record to take the endpoints from instead of [`endpoints`](Self::endpoints)
    /// (confd's `-srv-record`). It is resolved when connecting, and again whenever no endpoint
    /// answers, so a cluster that moved is followed. Needs discovery-core's `dns` feature
    /// (this crate's `dns` feature turns it on). Default: none.
    pub srv: Option<discovery_core::endpoints::SrvRecord>,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            endpoints: vec!["127.0.0.1:2379".to_owned()],
            namespace: None,
            layout: Layout::default(),
            tls: None,
            user: None,
            password: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(10),
            srv: None,
        }
    }
}

/// TLS files for [`EtcdConfig::tls`]. Paths are read when connecting.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EtcdTls {
    /// PEM file of the CA that signed the server certificates (`--cacert`). Default: the
    /// platform's roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate (`--cert`), for client-certificate authentication.
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate (`--key`). Its contents are never logged.
    pub key: Option<PathBuf>,
    /// Server name to verify instead of the endpoint's host.
    pub domain: Option<String>,
}

impl EtcdTls {
    /// TLS with the given CA file.
    pub fn with_ca(ca: impl Into<PathBuf>) -> Self {
        EtcdTls {
            ca: Some(ca.into()),
            ..Default::default()
        }
    }

    /// Adds a client certificate and key.
    pub fn client_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert = Some(cert.into());
        self.key = Some(key.into());
        self
    }
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            // The path is not secret; the file's contents are never read into this struct.
            .field("key", &self.key)
            .field("domain", &self.domain)
            .finish()
    }
}

impl fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("namespace", &self.namespace)
            .field("layout", &self.layout)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("srv", &self.srv)
            .finish()
    }
}

impl EtcdConfig {
    /// A config for the given endpoints, defaults otherwise.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Parses `etcd://[user[:password]@]host:port[,host:port...][/namespace]`; `etcds://` turns
    /// TLS on (platform roots). Without a port, 2379 is used.
    pub fn from_url(url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid_config("etcd url", reason.to_owned());
        let (tls, rest) = if let Some(r) = url.strip_prefix("etcd://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("etcds://") {
            (true, r)
        } else {
            return Err(bad("expected etcd://host:port[/namespace] or etcds://..."));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut cfg = EtcdConfig::default();
        if let Some(u) = userinfo {
            let (user, password) = match u.split_once(':') {
                Some((user, pw)) => (user, Some(pw)),
                None => (u, None),
            };
            if user.is_empty() {
                return Err(bad("empty user name"));
            }
            cfg.user = Some(user.to_owned());
            cfg.password = password.map(str::to_owned);
        }
        cfg.endpoints = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains(':') && !h.ends_with(']') {
                    h.to_owned()
                } else {
                    format!("{h}:2379")
                }
            })
            .collect();
        if cfg.endpoints.is_empty() {
            return Err(bad("no host"));
        }
        let ns = path.trim_end_matches('/');
        if !ns.is_empty() {
            cfg.namespace = Some(ns.to_owned());
        }
        if tls {
            cfg.tls = Some(EtcdTls::default());
        }
        Ok(cfg)
    }

    /// Takes the endpoints from the SRV record `srv` (see [`srv`](Self::srv)).
    pub fn with_srv(mut self, srv: discovery_core::endpoints::SrvRecord) -> Self {
        self.srv = Some(srv);
        self
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the layout.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets user and password.
    pub fn with_user(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Sets TLS.
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the connect and request timeouts.
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// The namespace as stored: no trailing `/`, empty for none.
    pub(crate) fn namespace_prefix(&self) -> String {
        self.namespace
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned()
    }

    /// Checks the settings that can be checked without a server.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.endpoints.is_empty() || self.endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err(Error::invalid_config(
                "endpoints",
                "at least one non-empty endpoint is required",
            ));
        }
        if self.password.is_some() && self.user.is_none() {
            return Err(Error::invalid_config(
                "user",
                "a password is set without a user",
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err(Error::invalid_config(
                    "tls",
                    "a client certificate needs both `cert` and `key`",
                ));
            }
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::invalid_config(name, "must be greater than zero"));
            }
        }
        if self.keepalive_interval < Duration::from_secs(5) {
            return Err(Error::invalid_config(
                "keepalive_interval",
                "etcd rejects keepalive pings more often than every 5 s",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let cfg = EtcdConfig::default().with_user("root", "s3cr3t-pw");
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(
            text.contains("root") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn url_parsing() {
        let c = EtcdConfig::from_url("etcd://u:p@a:1,b/ns/").unwrap();
        assert_eq!(c.endpoints, vec!["a:1", "b:2379"]);
        assert_eq!(c.namespace.as_deref(), Some("/ns"));
        assert_eq!(c.user.as_deref(), Some("u"));
        assert!(!format!("{c:?}").contains(":p@"));
        assert!(EtcdConfig::from_url("http://a:1").is_err());
        assert!(EtcdConfig::from_url("etcd:///ns").is_err());
        assert!(EtcdConfig::from_url("etcds://a:1").unwrap().tls.is_some());
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = EtcdConfig::new(Vec::<String>::new());
        assert!(c.validate().unwrap_err().to_string().contains("endpoints"));
        c = EtcdConfig::default();
        c.request_timeout = Duration::ZERO;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("request_timeout"));
    }

    #[test]
    fn serde_defaults_fill_missing_fields() {
        let c: EtcdConfig = serde_json::from_str(r#"{"namespace":"/x"}"#).unwrap();
        assert_eq!(c.endpoints, EtcdConfig::default().endpoints);
        assert_eq!(c.namespace_prefix(), "/x");
    }
}
