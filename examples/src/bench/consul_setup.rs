//! Consul helpers: registrations through the agent HTTP API, a directory for our
//! `consul-template` with a counting command, and a proxy that counts the HTTP requests a client
//! sends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use discovery_core::Result;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::fail;

/// The agent HTTP API of one Consul.
#[derive(Clone, Debug)]
pub struct ConsulApi {
    http: reqwest::Client,
    base: String,
}

impl ConsulApi {
    /// The API at `addr` (`host:port`).
    pub fn new(addr: &str) -> ConsulApi {
        ConsulApi {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    async fn put(&self, path: &str, body: Option<serde_json::Value>) -> Result<()> {
        let mut req = self.http.put(format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("consul {path}: {e}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!("consul {path}: {}", resp.status())));
        }
        Ok(())
    }

    /// Registers instance `id` of `service` at `address:80` (no check: passing).
    pub async fn register(&self, service: &str, id: &str, address: &str) -> Result<()> {
        let body = serde_json::json!({"ID": id, "Name": service, "Address": address, "Port": 80});
        self.put("/v1/agent/service/register", Some(body)).await
    }

    /// Deregisters instance `id`.
    pub async fn deregister(&self, id: &str) -> Result<()> {
        self.put(&format!("/v1/agent/service/deregister/{id}"), None)
            .await
    }

    /// One blocking health query of `service` after `index`: `(new index, body)`.
    pub async fn health_blocking(&self, service: &str, index: u64) -> Result<(u64, String)> {
        let url = format!(
            "{}/v1/health/service/{service}?index={index}&wait=60s",
            self.base
        );
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(format!("consul health: {e}")))?;
        let next = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(index);
        let body = resp.text().await.map_err(|e| fail(e.to_string()))?;
        Ok((next, body))
    }
}

/// The address of instance `i` (distinct, never a prefix of another one followed by `:`).
pub fn address(i: usize) -> String {
    format!(
        "10.{}.{}.{}",
        100 + ((i >> 16) & 127),
        (i >> 8) & 255,
        i & 255
    )
}

/// A directory with a template, a destination and a reload counter for `consul-template`.
#[derive(Debug)]
pub struct CtDir {
    /// The temporary directory.
    pub dir: TempDir,
    /// The template.
    pub src: PathBuf,
    /// The destination.
    pub dest: PathBuf,
    /// The command's counter file.
    pub reloads: PathBuf,
}

impl CtDir {
    /// Writes `template` into a new directory.
    pub fn new(template: &str) -> Result<CtDir> {
        let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).map_err(|e| fail(e.to_string()))?;
        let src = dir.path().join("in.tmpl");
        std::fs::write(&src, template).map_err(|e| fail(e.to_string()))?;
        Ok(CtDir {
            src,
            dest: out.join("out.conf"),
            reloads: dir.path().join("reloads"),
            dir,
        })
    }

    /// `consul-template` arguments against `addr` (plus `extra`).
    pub fn args(&self, addr: &str, extra: &[&str]) -> Vec<String> {
        let template = format!(
            "{}:{}:echo r >> {}",
            self.src.display(),
            self.dest.display(),
            self.reloads.display()
        );
        let mut args: Vec<String> = [
            "-consul-addr",
            addr,
            "-template",
            &template,
            "-log-level",
            "err",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Commands run so far.
    pub fn reload_count(&self) -> u64 {
        std::fs::read_to_string(&self.reloads)
            .map(|s| s.lines().count() as u64)
            .unwrap_or(0)
    }
}

/// One request seen by a [`CountingProxy`]: when, and its path without the query.
pub type Seen = (std::time::Instant, String);

/// A TCP proxy to `upstream` that counts HTTP/1.1 request lines sent through it and records
/// when each was seen, with its path.
#[derive(Debug)]
pub struct CountingProxy {
    /// `127.0.0.1:<port>` to point the client at.
    pub addr: String,
    /// Requests seen so far.
    pub requests: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// Starts the proxy.
    pub async fn start(upstream: String) -> Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| fail(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| fail(e.to_string()))?
            .to_string();
        let requests = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (counter, log) = (requests.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counter, log) = (upstream.clone(), counter.clone(), log.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        // Without this, Nagle holds a request's last bytes for up to 40 ms.
                        let _ = (client.set_nodelay(true), server.set_nodelay(true));
                        relay(client, server, counter, log).await;
                    }
                });
            }
        });
        Ok(CountingProxy {
            addr,
            requests,
            seen,
            task,
        })
    }

    /// Requests seen so far.
    pub fn count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    counter: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Seen>>>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut line: Vec<u8> = Vec::new();
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            let now = std::time::Instant::now();
            for path in request_lines(&mut line, &buf[..n]) {
                counter.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut l) = log.lock() {
                    l.push((now, path));
                }
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

const REQUEST_LINE_END: &[u8] = b" HTTP/1.1\r";

/// The paths (without query) of the HTTP/1.1 request lines completed by `bytes`; `line` keeps
/// the unfinished last line between calls.
fn request_lines(line: &mut Vec<u8>, bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for &b in bytes {
        if b != b'\n' {
            // Only the start of a long line (a body) matters.
            if line.len() < 4096 {
                line.push(b);
            }
            continue;
        }
        if line.ends_with(REQUEST_LINE_END) {
            let text = String::from_utf8_lossy(line);
            let target = text.split(' ').nth(1).unwrap_or("");
            out.push(target.split('?').next().unwrap_or("").to_owned());
        }
        line.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_request_lines() {
        let mut line = Vec::new();
        let two = b"GET /a?index=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(request_lines(&mut line, two), ["/a", "/b"]);
        assert!(request_lines(&mut line, b"PUT /c HTTP/1.1").is_empty());
        assert_eq!(request_lines(&mut line, b"\r\n\r\n"), ["/c"]);
    }

    #[test]
    fn addresses_are_distinct() {
        assert_ne!(address(1), address(256));
        assert_eq!(address(0), "10.100.0.0");
    }
}
