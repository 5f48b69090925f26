//! The seeds' registration sidekick as a library function: register `host:port` (or a JSON
//! instance) under a key with a TTL, optionally only while a TCP or HTTP probe of the app passes,
//! and deregister on SIGTERM/SIGINT.

use std::time::Duration;

use discovery_core::health::HealthRegistry;
use discovery_core::{
    Codec, Error, InstanceId, Key, Layout, LeaseState, RegisterOptions, Registration, Result,
    ServiceInstance, ServiceName,
};

/// A probe of the application's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Connect to `host:port`.
    Tcp(String),
    /// `GET` this `http://host:port/path` URL; any 2xx/3xx status passes.
    Http {
        /// `host:port`.
        authority: String,
        /// Path and query.
        path: String,
    },
}

impl Probe {
    /// Parses `tcp://host:port` or `http://host:port/path`.
    pub fn parse(s: &str) -> Result<Probe> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            return Ok(Probe::Tcp(rest.trim_end_matches('/').to_owned()));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            return Ok(Probe::Http {
                authority: authority.to_owned(),
                path: path.to_owned(),
            });
        }
        Err(Error::invalid_config(
            "-probe",
            format!("{s:?}: expected tcp://host:port or http://host:port/path"),
        ))
    }

    /// Runs the probe once, with `timeout`.
    pub async fn check(&self, timeout: Duration) -> bool {
        let fut = async {
            match self {
                Probe::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
                Probe::Http { authority, path } => {
                    // A redirect is an answer: 3xx passes as it is, without following it.
                    let client = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build();
                    let Ok(client) = client else { return false };
                    match client.get(format!("http://{authority}{path}")).send().await {
                        Ok(resp) => matches!(resp.status().as_u16(), 200..=399),
                        Err(_) => false,
                    }
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.unwrap_or(false)
    }
}

/// Splits `<root>/<service>/<id>` and builds the instance and the layout that stores it there.
/// `value` is `host:port` (plain layout) or, with `json`, a JSON object with `address`, `port`,
/// `tags`, `meta` (JSON layout).
pub fn instance_for_key(key: &str, value: &str, json: bool) -> Result<(Layout, ServiceInstance)> {
    let key = Key::new(key)?;
    let segs: Vec<&str> = key.as_str().trim_start_matches('/').split('/').collect();
    if segs.len() < 2 || segs.iter().any(|s| s.is_empty()) {
        return Err(Error::invalid_config(
            "-key",
            format!("{key}: expected /<service>/<id> or /<root>/<service>/<id>"),
        ));
    }
    let id = InstanceId::new(segs[segs.len() - 1])?;
    let service = ServiceName::new(segs[segs.len() - 2])?;
    let root = Key::new(format!("/{}", segs[..segs.len() - 2].join("/")))?;
    let codec = if json { Codec::Json } else { Codec::Plain };
    let layout = Layout::new(root, codec);
    let probe_key = layout.service_prefix(&service).join(id.as_str());
    let decoded = layout.decode("register", &service, &probe_key, value.as_bytes())?;
    Ok((layout, decoded))
}

/// Registers while `probe` passes (or always, without a probe) until a signal arrives.
///
/// Reports to `health`: the component `lease <service>/<id>` follows the registration's lease
/// (failing while it is being re-registered or lost), `probe <service>/<id>` fails while the
/// probe does, and the readiness item `registration <service>/<id>` is done at the first
/// registration.
pub async fn run(
    registry: &dyn discovery_core::Registry,
    instance: ServiceInstance,
    ttl: Duration,
    probe: Option<(Probe, Duration)>,
    health: &HealthRegistry,
) -> Result<()> {
    let name = format!("{}/{}", instance.service, instance.id);
    health.expect("registration", &name);
    let mut follower: Option<tokio::task::JoinHandle<()>> = None;
    let mut signals = crate::signals::Signals::new()?;
    let mut current: Option<Registration> = None;
    let opts = RegisterOptions::with_ttl(ttl);
    let interval = probe
        .as_ref()
        .map(|(_, i)| *i)
        .unwrap_or(Duration::from_secs(3600));
    loop {
        let healthy = match &probe {
            None => true,
            Some((p, i)) => {
                let up = p.check((*i).min(Duration::from_secs(5))).await;
                if up {
                    health.set_ok("probe", &name);
                } else {
                    health.set_failing("probe", &name, "the application does not answer");
                }
                up
            }
        };
        match (healthy, current.is_some()) {
            (true, false) => match registry.register(instance.clone(), opts.clone()).await {
                Ok(r) => {
                    tracing::info!(service = %instance.service, id = %instance.id, endpoint = %instance.endpoint(), "registered");
                    health.mark_ready("registration", &name);
                    if let Some(f) =
                        follower.replace(follow_lease(&r, health.clone(), name.clone()))
                    {
                        f.abort();
                    }
                    current = Some(r);
                }
                Err(e) => {
                    tracing::error!(error = %e, "registration failed; retrying");
                    health.set_failing("lease", &name, &e);
                }
            },
            (false, true) => {
                tracing::warn!(id = %instance.id, "probe failed; deregistering");
                if let Some(f) = follower.take() {
                    f.abort();
                }
                health.remove("lease", &name);
                if let Some(r) = current.take() {
                    if let Err(e) = r.deregister().await {
                        tracing::warn!(error = %e, "deregistration failed; the TTL will remove the key");
                    }
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = signals.next() => break,
        }
    }
    if let Some(f) = follower.take() {
        f.abort();
    }
    if let Some(r) = current.take() {
        r.deregister().await?;
        tracing::info!(id = %instance.id, "deregistered");
    }
    Ok(())
}

/// Mirrors `reg`'s lease state into `health` as the component `lease <name>`.
fn follow_lease(
    reg: &Registration,
    health: HealthRegistry,
    name: String,
) -> tokio::task::JoinHandle<()> {
    let mut states = reg.subscribe();
    tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            match state {
                LeaseState::Live => health.set_ok("lease", &name),
                LeaseState::Reregistering { reason, .. } | LeaseState::Lost { reason } => {
                    health.set_failing("lease", &name, reason)
                }
                LeaseState::Deregistered => health.remove("lease", &name),
                // A state added later: report it as it reads.
                other => health.set_failing("lease", &name, format!("{other:?}")),
            }
            if states.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_keys_map_to_plain_layout() {
        let (layout, i) =
            instance_for_key("/test/apache-8001", "172.17.8.101:8001", false).unwrap();
        assert_eq!(layout.root.as_str(), "/");
        assert_eq!(i.service.as_str(), "test");
        assert_eq!(i.id.as_str(), "apache-8001");
        assert_eq!(layout.instance_key(&i).as_str(), "/test/apache-8001");
        let (l2, _) = instance_for_key(
            "/services/web/w1",
            r#"{"address":"10.0.0.1","port":80}"#,
            true,
        )
        .unwrap();
        assert_eq!(l2.root.as_str(), "/services");
        assert!(instance_for_key("/x", "a:1", false).is_err());
        assert!(instance_for_key("/test/a", "not-a-port:x", false).is_err());
    }

    #[test]
    fn probes_parse() {
        assert_eq!(
            Probe::parse("tcp://127.0.0.1:80").unwrap(),
            Probe::Tcp("127.0.0.1:80".into())
        );
        assert_eq!(
            Probe::parse("http://127.0.0.1:80/health").unwrap(),
            Probe::Http {
                authority: "127.0.0.1:80".into(),
                path: "/health".into()
            }
        );
        assert!(Probe::parse("ftp://x").is_err());
    }

    /// A server answering every connection with `status_line` (a fixture, not a client).
    async fn answering(status_line: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let resp = format!("{status_line}\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn http_probe_passes_on_2xx_and_3xx_only() {
        let t = Duration::from_secs(5);
        for (line, want) in [
            ("HTTP/1.1 204 No Content", true),
            ("HTTP/1.1 302 Found", true),
            ("HTTP/1.1 503 Service Unavailable", false),
        ] {
            let authority = answering(line).await;
            let p = Probe::Http {
                authority,
                path: "/health".into(),
            };
            assert_eq!(p.check(t).await, want, "{line}");
        }
        let closed = Probe::Http {
            authority: "127.0.0.1:1".into(),
            path: "/".into(),
        };
        assert!(!closed.check(t).await);
    }
}
