//! The thin HTTP client: request building, `X-Consul-Index`, error mapping, request counting.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use discovery_core::{Error, Result};
use reqwest::Method;

use crate::agent_conn::{AgentConn, Outgoing};
use crate::ConsulConfig;

pub(crate) const BACKEND: &str = "consul";

/// An opaque error message standing in for the HTTP library's error type.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// One HTTP answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// `X-Consul-Index`, when the endpoint sends one.
    pub(crate) index: Option<u64>,
    /// `X-Consul-LastContact`: how long ago (ms) the answering server heard from the leader.
    pub(crate) last_contact: Option<u64>,
    pub(crate) body: Bytes,
}

impl Response {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }

    /// `Ok(self)` for 2xx, else the mapped error.
    pub(crate) fn ok(self, what: &str) -> Result<Self> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(status_error(self.status, what, self.text()))
        }
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid_data(BACKEND, what, format!("unexpected answer: {e}")))
    }
}

/// How requests reach the agent.
enum Transport {
    /// `http://` without TLS settings: hyper's HTTP/1.1 connections, kept alive as bare
    /// sockets between requests (`agent_conn.rs`).
    Plain(AgentConn),
    /// `https://` (or TLS settings): `reqwest` over rustls.
    Tls(reqwest::Client),
}

/// The agent's HTTP API.
pub(crate) struct Http {
    transport: Transport,
    base: String,
    /// `X-Consul-Token`, marked sensitive.
    token: Option<reqwest::header::HeaderValue>,
    /// `Authorization: Basic …`, marked sensitive.
    auth: Option<reqwest::header::HeaderValue>,
    /// `?stale` on every GET, with how stale an answer may be (an older one is asked again of
    /// the leader).
    stale: Option<Duration>,
    datacenter: Option<String>,
    timeout: Duration,
    total: AtomicU64,
    per_path: Mutex<BTreeMap<String, u64>>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("stale", &self.stale)
            .field("datacenter", &self.datacenter)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(cfg: &ConsulConfig) -> Result<Self> {
        let mut base = cfg.address.trim_end_matches('/').to_owned();
        // TLS settings with an `http://` address keep going through reqwest, as before (their
        // files are still read and checked).
        let transport = if base.starts_with("http://") && cfg.tls.is_none() {
            Transport::Plain(AgentConn::new(&base, cfg.transport).map_err(|e| {
                Error::InvalidConfig {
                    key: "address".into(),
                    reason: e.to_string(),
                }
            })?)
        } else {
            let (client, named) = Self::tls_client(cfg, &base)?;
            base = named;
            Transport::Tls(client)
        };
        let auth = match &cfg.auth {
            Some(a) => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", a.username, a.password));
                let mut v = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| Error::invalid_config("auth", "not a valid header"))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let token = match &cfg.token {
            Some(t) => {
                let mut v = reqwest::header::HeaderValue::from_str(t).map_err(|_| {
                    Error::invalid_config("token", "contains characters not allowed in a header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Http {
            transport,
            base,
            token,
            auth,
            stale: cfg.max_stale.filter(|d| !d.is_zero()),
            datacenter: cfg.datacenter.clone(),
            timeout: cfg.request_timeout,
            total: AtomicU64::new(0),
            per_path: Mutex::new(BTreeMap::new()),
        })
    }

    /// The `reqwest` client of an `https://` agent (or of one with TLS settings), and the base
    /// URL to send to (with `server_name` as its host when one is set).
    fn tls_client(cfg: &ConsulConfig, base: &str) -> Result<(reqwest::Client, String)> {
        let t = cfg.transport;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(t.dial_timeout.unwrap_or(cfg.request_timeout))
            .pool_idle_timeout(t.idle_timeout);
        if t.disable_keep_alives {
            builder = builder.pool_max_idle_per_host(0);
        } else if let Some(n) = t.max_idle_conns {
            builder = builder.pool_max_idle_per_host(n);
        }
        let mut base = base.to_owned();
        if let Some(tls) = &cfg.tls {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|source| Error::Io {
                    path: p.display().to_string(),
                    source,
                })
            };
            let bad = |key: &str, e: reqwest::Error| Error::InvalidConfig {
                key: key.into(),
                reason: e.to_string(),
            };
            if let Some(ca) = &tls.ca_file {
                let pem = read(ca)?;
                for cert in reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| bad("tls.ca_file", e))?
                {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if let Some(dir) = &tls.ca_path {
                let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let mut files: Vec<_> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                for file in files {
                    let pem = read(&file)?;
                    for cert in reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| bad("tls.ca_path", e))?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
            }
            if tls.insecure_skip_verify {
                builder = builder.danger_accept_invalid_certs(true);
            }
            if let Some(name) = tls.server_name.as_deref().filter(|n| !n.is_empty()) {
                // Connect to the configured address, but name (and check) the server `name`.
                let (scheme, authority) = base.split_once("://").unwrap_or(("https", &base));
                let port = authority
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .unwrap_or(443);
                let addrs: Vec<std::net::SocketAddr> =
                    std::net::ToSocketAddrs::to_socket_addrs(authority)
                        .map_err(|e| Error::invalid_config("address", e.to_string()))?
                        .collect();
                builder = builder.resolve_to_addrs(name, &addrs);
                base = format!("{scheme}://{name}:{port}");
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| bad("tls.cert_file", e))?;
                builder = builder.identity(id);
            }
        }
        let client = builder.build().map_err(|e| Error::InvalidConfig {
            key: "consul".into(),
            reason: e.to_string(),
        })?;
        Ok((client, base))
    }

    /// Sends one request. `path` is already encoded and starts after `/v1/`; `blocking_wait`
    /// extends the timeout of a blocking query. With `max_stale`, a GET may be answered by any
    /// server (`?stale`); an answer from a server that has not heard from the leader for longer
    /// than that is asked again of the leader, as consul-template does.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
        blocking_wait: Option<Duration>,
    ) -> Result<Response> {
        self.send_with_stale(method, path, query, body, blocking_wait, self.stale)
            .await
    }

    /// [`send`](Self::send) with its own `max_stale` instead of the configured one (`None`:
    /// consistent reads).
    pub(crate) async fn send_with_stale(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
        blocking_wait: Option<Duration>,
        stale: Option<Duration>,
    ) -> Result<Response> {
        let Some(max) = stale.filter(|d| !d.is_zero() && method == Method::GET) else {
            return self
                .send_once(method, path, query, body, blocking_wait, false)
                .await;
        };
        let answer = self
            .send_once(
                method.clone(),
                path,
                query,
                body.clone(),
                blocking_wait,
                true,
            )
            .await?;
        match answer.last_contact {
            Some(ms) if Duration::from_millis(ms) > max => {
                tracing::debug!(
                    path,
                    last_contact_ms = ms,
                    "stale answer too old; asking the leader"
                );
                self.send_once(method, path, query, body, blocking_wait, false)
                    .await
            }
            _ => Ok(answer),
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
        blocking_wait: Option<Duration>,
        stale: bool,
    ) -> Result<Response> {
        let mut target = format!("/v1/{path}");
        let mut sep = '?';
        let dc = self.datacenter.as_ref().map(|dc| ("dc", dc.clone()));
        let stale = stale.then(|| ("stale", String::new()));
        for (k, v) in query.iter().cloned().chain(dc).chain(stale) {
            target.push(sep);
            sep = '&';
            target.push_str(k);
            if !v.is_empty() {
                target.push('=');
                target.push_str(&encode(&v, false));
            }
        }
        let timeout = self.timeout + blocking_wait.map_or(Duration::ZERO, |w| w + w / 16);
        self.count(path);
        match &self.transport {
            Transport::Plain(plain) => {
                let with_body = body.as_ref().is_some_and(|b| !b.is_empty())
                    || !matches!(method, Method::GET | Method::HEAD);
                let out = Outgoing {
                    method,
                    target: &target,
                    token: self.token.as_ref(),
                    auth: self.auth.as_ref(),
                    body: with_body.then(|| body.unwrap_or_default()),
                };
                let answer = tokio::time::timeout(timeout, plain.request(&out, self.timeout))
                    .await
                    .map_err(|_| Error::Timeout {
                        backend: BACKEND,
                        operation: "request",
                        after: timeout,
                    })?
                    .map_err(|e| Error::Unavailable {
                        backend: BACKEND,
                        source: Box::new(Failure(format!("request to /v1/{path}: {e}"))),
                    })?;
                Ok(Response {
                    status: answer.status,
                    index: answer.index,
                    last_contact: answer.last_contact,
                    body: answer.body,
                })
            }
            Transport::Tls(client) => {
                let url = format!("{}{target}", self.base);
                let mut req = client.request(method, &url).timeout(timeout);
                if let Some(token) = &self.token {
                    req = req.header("X-Consul-Token", token.clone());
                }
                if let Some(auth) = &self.auth {
                    req = req.header(reqwest::header::AUTHORIZATION, auth.clone());
                }
                if let Some(body) = body {
                    req = req.body(body);
                }
                let resp = req.send().await.map_err(|e| transport_error(&e, timeout))?;
                let status = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                };
                let index = header("X-Consul-Index");
                let last_contact = header("X-Consul-LastContact");
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| transport_error(&e, timeout))?;
                Ok(Response {
                    status,
                    index,
                    last_contact,
                    body,
                })
            }
        }
    }

    fn count(&self, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.per_path.lock() {
            *map.entry(path.to_owned()).or_default() += 1;
        }
    }

    pub(crate) fn total_requests(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn requests_to(&self, path: &str) -> u64 {
        self.per_path
            .lock()
            .map(|m| m.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

fn transport_error(e: &reqwest::Error, after: Duration) -> Error {
    if e.is_timeout() {
        return Error::Timeout {
            backend: BACKEND,
            operation: "request",
            after,
        };
    }
    // The full chain, without the URL (it may name keys but never holds the token).
    let mut msg = e.without_url_ref().to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Unavailable {
        backend: BACKEND,
        source: Box::new(Failure(msg)),
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        match self.url() {
            Some(url) => self.to_string().replace(url.as_str(), url.path()),
            None => self.to_string(),
        }
    }
}

/// Maps an HTTP error status to the shared error type.
pub(crate) fn status_error(status: u16, what: &str, text: String) -> Error {
    let reason = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    match status {
        401 => Error::Unauthenticated {
            backend: BACKEND,
            reason,
        },
        403 => Error::PermissionDenied {
            backend: BACKEND,
            key: Some(what.to_owned()),
            reason,
        },
        404 => Error::NotFound {
            backend: BACKEND,
            key: what.to_owned(),
        },
        429 | 500..=599 => Error::Unavailable {
            backend: BACKEND,
            source: Box::new(Failure(format!("{what}: {reason}"))),
        },
        _ => Error::Backend {
            backend: BACKEND,
            source: Box::new(Failure(format!("{what}: {reason}"))),
        },
    }
}

/// A copy of `e` for fanning one failure out to several subscribers.
pub(crate) fn copy_error(e: &Error) -> Error {
    match e {
        Error::PermissionDenied {
            backend,
            key,
            reason,
        } => Error::PermissionDenied {
            backend,
            key: key.clone(),
            reason: reason.clone(),
        },
        Error::Unauthenticated { backend, reason } => Error::Unauthenticated {
            backend,
            reason: reason.clone(),
        },
        Error::InvalidData {
            backend,
            key,
            reason,
        } => Error::invalid_data(backend, key, reason.clone()),
        Error::InvalidConfig { key, reason } => Error::InvalidConfig {
            key: key.clone(),
            reason: reason.clone(),
        },
        Error::NotFound { backend, key } => Error::NotFound {
            backend,
            key: key.clone(),
        },
        other if other.is_retryable() => Error::Unavailable {
            backend: BACKEND,
            source: Box::new(Failure(other.to_string())),
        },
        other => Error::Backend {
            backend: BACKEND,
            source: Box::new(Failure(other.to_string())),
        },
    }
}

/// Percent-encodes `s` for a URL path (keeping `/` when `keep_slash`) or a query value.
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(encode("a/b c?", true), "a/b%20c%3F");
        assert_eq!(encode("a/b", false), "a%2Fb");
        assert_eq!(encode("service:web:1", false), "service:web:1");
    }

    #[test]
    fn status_mapping() {
        assert!(matches!(
            status_error(403, "kv/x", "ACL not found".into()),
            Error::PermissionDenied { .. }
        ));
        assert!(status_error(500, "x", String::new()).is_retryable());
        assert!(!status_error(400, "x", String::new()).is_retryable());
    }
}
