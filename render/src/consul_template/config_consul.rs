//! consul-template's `consul {}` stanza (and the matching `-consul-*` flags, which fill the same
//! [`ConsulFile`]): address, token, `token_file`, `auth {}`, `ssl {}`, `retry {}`,
//! `transport {}`. Every field is `None` unless set, so a later file or the command line
//! overrides only what it sets.

use std::time::Duration;

use serde_json::{Map, Value};

use super::config_file::{blocks, bool_field, check_keys, duration_field, int_field, str_field};

/// `consul { auth {} }` / `-consul-auth`. `Debug` redacts the password.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthFile {
    /// `enabled` (set by `-consul-auth`; a `username` enables it too).
    pub enabled: Option<bool>,
    /// `username`.
    pub username: Option<String>,
    /// `password`. Never logged.
    pub password: Option<String>,
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFile")
            .field("enabled", &self.enabled)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `consul { ssl {} }` / `-consul-ssl*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SslFile {
    /// `enabled`: talk HTTPS.
    pub enabled: Option<bool>,
    /// `verify` (default true): check the agent's certificate.
    pub verify: Option<bool>,
    /// `ca_cert`.
    pub ca_cert: Option<String>,
    /// `ca_path`: a directory of CA certificates.
    pub ca_path: Option<String>,
    /// `cert`: client certificate.
    pub cert: Option<String>,
    /// `key`: client key.
    pub key: Option<String>,
    /// `server_name`: the name the certificate is checked against.
    pub server_name: Option<String>,
}

/// `consul { retry {} }` / `-consul-retry*` / `-retry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryFile {
    /// `enabled` (default true).
    pub enabled: Option<bool>,
    /// `attempts` (default 12; 0 retries forever).
    pub attempts: Option<u32>,
    /// `backoff` (default 250 ms).
    pub backoff: Option<Duration>,
    /// `max_backoff` (default 1 min).
    pub max_backoff: Option<Duration>,
}

/// `consul { transport {} }` / `-consul-transport-*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportFile {
    /// `dial_keep_alive`: TCP keep-alive period (read, no effect).
    pub dial_keep_alive: Option<Duration>,
    /// `dial_timeout`: how long connecting may take.
    pub dial_timeout: Option<Duration>,
    /// `disable_keep_alives`: one connection per request.
    pub disable_keep_alives: Option<bool>,
    /// `idle_conn_timeout`: how long an idle connection is kept.
    pub idle_conn_timeout: Option<Duration>,
    /// `max_idle_conns`: the most idle connections kept.
    pub max_idle_conns: Option<u32>,
    /// `max_idle_conns_per_host`: the same (there is one host).
    pub max_idle_conns_per_host: Option<u32>,
    /// `max_conns_per_host` (read, no effect).
    pub max_conns_per_host: Option<u32>,
    /// `tls_handshake_timeout` (read, no effect: the dial timeout covers the handshake).
    pub tls_handshake_timeout: Option<Duration>,
}

/// `consul {}`. `Debug` redacts the token and the password.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsulFile {
    /// `address`.
    pub address: Option<String>,
    /// `token`. Never logged.
    pub token: Option<String>,
    /// `token_file`: a file holding the token.
    pub token_file: Option<String>,
    /// `namespace` (Consul Enterprise; read, no effect).
    pub namespace: Option<String>,
    /// `auth {}`.
    pub auth: AuthFile,
    /// `ssl {}`.
    pub ssl: SslFile,
    /// `retry {}`.
    pub retry: RetryFile,
    /// `transport {}`.
    pub transport: TransportFile,
}

impl std::fmt::Debug for ConsulFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulFile")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("namespace", &self.namespace)
            .field("auth", &self.auth)
            .field("ssl", &self.ssl)
            .field("retry", &self.retry)
            .field("transport", &self.transport)
            .finish()
    }
}

/// `b` wins where it is set.
fn over<T>(a: &mut Option<T>, b: Option<T>) {
    if b.is_some() {
        *a = b;
    }
}

impl ConsulFile {
    /// Merges `other` over `self`: what `other` sets wins.
    pub fn merge(&mut self, other: ConsulFile) {
        over(&mut self.address, other.address);
        over(&mut self.token, other.token);
        over(&mut self.token_file, other.token_file);
        over(&mut self.namespace, other.namespace);
        let (a, b) = (&mut self.auth, other.auth);
        over(&mut a.enabled, b.enabled);
        over(&mut a.username, b.username);
        over(&mut a.password, b.password);
        let (a, b) = (&mut self.ssl, other.ssl);
        over(&mut a.enabled, b.enabled);
        over(&mut a.verify, b.verify);
        over(&mut a.ca_cert, b.ca_cert);
        over(&mut a.ca_path, b.ca_path);
        over(&mut a.cert, b.cert);
        over(&mut a.key, b.key);
        over(&mut a.server_name, b.server_name);
        let (a, b) = (&mut self.retry, other.retry);
        over(&mut a.enabled, b.enabled);
        over(&mut a.attempts, b.attempts);
        over(&mut a.backoff, b.backoff);
        over(&mut a.max_backoff, b.max_backoff);
        let (a, b) = (&mut self.transport, other.transport);
        over(&mut a.dial_keep_alive, b.dial_keep_alive);
        over(&mut a.dial_timeout, b.dial_timeout);
        over(&mut a.disable_keep_alives, b.disable_keep_alives);
        over(&mut a.idle_conn_timeout, b.idle_conn_timeout);
        over(&mut a.max_idle_conns, b.max_idle_conns);
        over(&mut a.max_idle_conns_per_host, b.max_idle_conns_per_host);
        over(&mut a.max_conns_per_host, b.max_conns_per_host);
        over(&mut a.tls_handshake_timeout, b.tls_handshake_timeout);
    }

    /// Reads one `consul {}` block; unknown keys are errors naming them.
    pub(crate) fn from_stanza(o: &Map<String, Value>) -> Result<ConsulFile, String> {
        check_keys(
            o,
            "consul",
            &[
                "address",
                "auth",
                "namespace",
                "retry",
                "ssl",
                "token",
                "token_file",
                "transport",
            ],
        )?;
        let mut c = ConsulFile {
            address: str_field(o, "address")?,
            token: str_field(o, "token")?,
            token_file: str_field(o, "token_file")?,
            namespace: str_field(o, "namespace")?,
            ..ConsulFile::default()
        };
        for a in blocks(o.get("auth")) {
            check_keys(a, "consul.auth", &["enabled", "username", "password"])?;
            over(&mut c.auth.enabled, bool_field(a, "enabled")?);
            over(&mut c.auth.username, str_field(a, "username")?);
            over(&mut c.auth.password, str_field(a, "password")?);
        }
        for s in blocks(o.get("ssl")) {
            check_keys(
                s,
                "consul.ssl",
                &[
                    "enabled",
                    "verify",
                    "ca_cert",
                    "ca_cert_bytes",
                    "ca_path",
                    "cert",
                    "key",
                    "server_name",
                ],
            )?;
            if str_field(s, "ca_cert_bytes")?.is_some_and(|b| !b.is_empty()) {
                return Err(
                    "consul.ssl.ca_cert_bytes: not supported by this consul-template \
                     (use ca_cert with a file)"
                        .into(),
                );
            }
            over(&mut c.ssl.enabled, bool_field(s, "enabled")?);
            over(&mut c.ssl.verify, bool_field(s, "verify")?);
            over(&mut c.ssl.ca_cert, str_field(s, "ca_cert")?);
            over(&mut c.ssl.ca_path, str_field(s, "ca_path")?);
            over(&mut c.ssl.cert, str_field(s, "cert")?);
            over(&mut c.ssl.key, str_field(s, "key")?);
            over(&mut c.ssl.server_name, str_field(s, "server_name")?);
        }
        for r in blocks(o.get("retry")) {
            check_keys(
                r,
                "consul.retry",
                &["enabled", "attempts", "backoff", "max_backoff"],
            )?;
            over(&mut c.retry.enabled, bool_field(r, "enabled")?);
            over(&mut c.retry.attempts, int_field(r, "attempts")?);
            over(&mut c.retry.backoff, duration_field(r, "backoff")?);
            over(&mut c.retry.max_backoff, duration_field(r, "max_backoff")?);
        }
        for t in blocks(o.get("transport")) {
            check_keys(
                t,
                "consul.transport",
                &[
                    "dial_keep_alive",
                    "dial_timeout",
                    "disable_keep_alives",
                    "idle_conn_timeout",
                    "max_idle_conns",
                    "max_idle_conns_per_host",
                    "max_conns_per_host",
                    "tls_handshake_timeout",
                ],
            )?;
            let x = &mut c.transport;
            over(
                &mut x.dial_keep_alive,
                duration_field(t, "dial_keep_alive")?,
            );
            over(&mut x.dial_timeout, duration_field(t, "dial_timeout")?);
            over(
                &mut x.disable_keep_alives,
                bool_field(t, "disable_keep_alives")?,
            );
            over(
                &mut x.idle_conn_timeout,
                duration_field(t, "idle_conn_timeout")?,
            );
            over(&mut x.max_idle_conns, int_field(t, "max_idle_conns")?);
            over(
                &mut x.max_idle_conns_per_host,
                int_field(t, "max_idle_conns_per_host")?,
            );
            over(
                &mut x.max_conns_per_host,
                int_field(t, "max_conns_per_host")?,
            );
            over(
                &mut x.tls_handshake_timeout,
                duration_field(t, "tls_handshake_timeout")?,
            );
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(hcl: &str) -> Result<ConsulFile, String> {
        let v: Value = hcl::from_str(hcl).map_err(|e| e.to_string())?;
        let o = v.get("consul").and_then(Value::as_object).cloned();
        ConsulFile::from_stanza(&o.unwrap_or_default())
    }

    #[test]
    fn every_sub_stanza_is_read() {
        let c = stanza(
            r#"consul {
  address = "a:1"
  token_file = "/t"
  auth {
    enabled = true
    username = "u"
    password = "p4ss"
  }
  ssl {
    enabled = true
    verify = false
    ca_cert = "/ca.pem"
    ca_path = "/cas"
    cert = "/c.pem"
    key = "/k.pem"
    server_name = "consul.local"
  }
  retry {
    attempts = 3
    backoff = "1s"
    max_backoff = "5s"
    enabled = true
  }
  transport {
    dial_timeout = "2s"
    disable_keep_alives = true
    idle_conn_timeout = "7s"
    max_idle_conns_per_host = 4
    dial_keep_alive = "10s"
    tls_handshake_timeout = "3s"
  }
}"#,
        )
        .unwrap();
        assert_eq!(c.token_file.as_deref(), Some("/t"));
        assert_eq!(c.auth.username.as_deref(), Some("u"));
        assert!(!format!("{c:?}").contains("p4ss"));
        assert_eq!(c.ssl.verify, Some(false));
        assert_eq!(c.ssl.server_name.as_deref(), Some("consul.local"));
        assert_eq!(c.retry.attempts, Some(3));
        assert_eq!(c.retry.max_backoff, Some(Duration::from_secs(5)));
        assert_eq!(c.transport.dial_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.transport.max_idle_conns_per_host, Some(4));
        let mut merged = c.clone();
        merged.merge(ConsulFile {
            retry: RetryFile {
                attempts: Some(0),
                ..RetryFile::default()
            },
            ..ConsulFile::default()
        });
        assert_eq!(merged.retry.attempts, Some(0));
        assert_eq!(merged.retry.backoff, Some(Duration::from_secs(1)));
    }

    #[test]
    fn bad_keys_and_values_name_them() {
        let e = stanza("consul {\n  adress = \"x\"\n}").unwrap_err();
        assert!(e.contains("consul") && e.contains("\"adress\""), "{e}");
        let e = stanza("consul {\n  retry {\n    attempts = \"many\"\n  }\n}").unwrap_err();
        assert!(e.contains("attempts"), "{e}");
        let e = stanza("consul {\n  transport {\n    dial_timeout = \"soon\"\n  }\n}").unwrap_err();
        assert!(e.contains("dial_timeout"), "{e}");
        let e = stanza("consul {\n  ssl {\n    verfy = true\n  }\n}").unwrap_err();
        assert!(e.contains("consul.ssl") && e.contains("verfy"), "{e}");
    }
}
