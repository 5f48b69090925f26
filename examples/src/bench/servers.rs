//! The servers a scenario runs against, started on loopback on free ports in a temporary
//! directory and killed when dropped: etcd (`/usr/bin/etcd`) and a Consul dev agent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use discovery_core::{Error, Result};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::fail;

/// The etcd binary (Debian's etcd-server 3.4.23); `BENCH_ETCD` overrides it.
pub fn etcd_binary() -> PathBuf {
    std::env::var_os("BENCH_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// The Consul binary (`scripts/install-consul.sh` puts 1.8.7 there); `BENCH_CONSUL` overrides it.
pub fn consul_binary() -> PathBuf {
    std::env::var_os("BENCH_CONSUL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".tools/consul/usr/bin/consul"))
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| io(e, "bind"))?;
    Ok(l.local_addr().map_err(|e| io(e, "bind"))?.port())
}

fn io(e: std::io::Error, what: &str) -> Error {
    Error::Io {
        path: what.to_owned(),
        source: e,
    }
}

fn spawn(binary: &Path, args: &[String], log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log).map_err(|e| io(e, "server log"))?;
    let err = out.try_clone().map_err(|e| io(e, "server log"))?;
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io(e, &binary.display().to_string()))
}

/// A single-member etcd on loopback.
#[derive(Debug)]
pub struct EtcdProc {
    child: Child,
    /// `127.0.0.1:<port>` of its client URL.
    pub endpoint: String,
    /// Its directory (data and log).
    pub dir: TempDir,
}

impl EtcdProc {
    /// Starts etcd and waits until it answers a read.
    pub async fn start() -> Result<EtcdProc> {
        let dir = tempfile::tempdir().map_err(|e| io(e, "tempdir"))?;
        let (client, peer) = (free_port()?, free_port()?);
        let c = format!("http://127.0.0.1:{client}");
        let p = format!("http://127.0.0.1:{peer}");
        let args: Vec<String> = [
            "--name",
            "bench",
            "--data-dir",
            &dir.path().join("data").display().to_string(),
            "--listen-client-urls",
            &c,
            "--advertise-client-urls",
            &c,
            "--listen-peer-urls",
            &p,
            "--initial-advertise-peer-urls",
            &p,
            "--initial-cluster",
            &format!("bench={p}"),
            "--log-level",
            "error",
            "--logger",
            "zap",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = spawn(&etcd_binary(), &args, &dir.path().join("etcd.log"))?;
        let server = EtcdProc {
            child,
            endpoint: format!("127.0.0.1:{client}"),
            dir,
        };
        for _ in 0..200 {
            if let Ok(mut c) = etcd_client::Client::connect([&server.endpoint], None).await {
                if c.get("/", None).await.is_ok() {
                    return Ok(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(fail(format!(
            "etcd did not come up; see {}",
            server.dir.path().join("etcd.log").display()
        )))
    }

    /// The server's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sum of `grpc_server_msg_received_total` per gRPC method, from `/metrics`: the requests
    /// the server received (a message on a stream counts once).
    pub async fn grpc_requests(&self) -> Result<Vec<(String, f64)>> {
        let url = format!("http://{}/metrics", self.endpoint);
        let body = reqwest::get(&url)
            .await
            .map_err(|e| fail(e.to_string()))?
            .text()
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(parse_msg_received(&body))
    }
}

/// `(method, count)` of every `grpc_server_msg_received_total` line.
pub fn parse_msg_received(metrics: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("grpc_server_msg_received_total{"))
        .filter_map(|l| {
            let method = l.split("grpc_method=\"").nth(1)?.split('"').next()?;
            let value = l.rsplit(' ').next()?.parse().ok()?;
            Some((method.to_owned(), value))
        })
        .collect()
}

/// A Consul dev agent on loopback.
#[derive(Debug)]
pub struct ConsulProc {
    child: Child,
    /// `127.0.0.1:<port>` of its HTTP API.
    pub addr: String,
    /// Its directory (config and log).
    pub dir: TempDir,
}

impl ConsulProc {
    /// The agent's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts `consul agent -dev` and waits until it has a leader.
    pub async fn start() -> Result<ConsulProc> {
        let dir = tempfile::tempdir().map_err(|e| io(e, "tempdir"))?;
        let http = free_port()?;
        let config = serde_json::json!({
            "bind_addr": "127.0.0.1",
            "client_addr": "127.0.0.1",
            "log_level": "error",
            "ports": {
                "http": http, "dns": -1, "grpc": -1,
                "serf_lan": free_port()?, "serf_wan": free_port()?, "server": free_port()?,
            },
            // Every client of a bench comes from 127.0.0.1 (S7 runs hundreds): lift the
            // default limit of 200 connections per client address.
            "limits": {"http_max_conns_per_client": 10000},
        });
        let cfg = dir.path().join("bench.json");
        std::fs::write(&cfg, config.to_string()).map_err(|e| io(e, "consul config"))?;
        let args = vec![
            "agent".to_owned(),
            "-dev".to_owned(),
            "-config-file".to_owned(),
            cfg.display().to_string(),
        ];
        let child = spawn(&consul_binary(), &args, &dir.path().join("consul.log"))?;
        let server = ConsulProc {
            child,
            addr: format!("127.0.0.1:{http}"),
            dir,
        };
        let url = format!("http://{}/v1/status/leader", server.addr);
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(&url).await {
                if r.text().await.is_ok_and(|t| t.contains(':')) {
                    return Ok(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(fail(format!(
            "consul did not come up; see {}",
            server.dir.path().join("consul.log").display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_received_messages() {
        let m = "# HELP x\ngrpc_server_msg_received_total{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 12\n\
                 grpc_server_msg_received_total{grpc_method=\"LeaseKeepAlive\",grpc_service=\"etcdserverpb.Lease\",grpc_type=\"bidi_stream\"} 3e+03\n";
        assert_eq!(
            parse_msg_received(m),
            vec![
                ("Range".to_owned(), 12.0),
                ("LeaseKeepAlive".to_owned(), 3000.0)
            ]
        );
    }
}
