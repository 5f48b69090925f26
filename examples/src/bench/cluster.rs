//! A 3-member etcd 3.4 cluster in Docker containers (image `discovery-etcd:3.4.23` from
//! `scripts/etcd-image.sh`, or `BENCH_ETCD_IMAGE`), each member's client port published on
//! loopback; dropping the cluster removes the containers and their network.

use std::process::Command;
use std::time::{Duration, Instant};

use discovery_core::Result;

use super::fail;
use super::servers::{free_port, parse_msg_received};

/// How long the cluster may take to elect a leader.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The image members run.
pub fn image() -> String {
    std::env::var("BENCH_ETCD_IMAGE").unwrap_or_else(|_| "discovery-etcd:3.4.23".to_owned())
}

/// Runs `docker <args>`, returning its trimmed stdout.
pub fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| fail(format!("cannot run docker: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One member: its container name and published client port.
#[derive(Debug)]
pub struct Member {
    /// The container (and etcd member) name.
    pub name: String,
    /// The client port on 127.0.0.1.
    pub port: u16,
}

/// Three etcd members in containers on one private network.
#[derive(Debug)]
pub struct Cluster {
    /// The members, in creation order.
    pub members: Vec<Member>,
    network: String,
}

/// A member's CPU and memory, from `docker stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// CPU in percent of one core, as docker reports it.
    pub cpu_percent: f64,
    /// Resident memory in MB.
    pub mem_mb: f64,
}

impl Cluster {
    /// Creates and starts the members, and waits until every one is healthy.
    pub async fn start(prefix: &str) -> Result<Cluster> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let id = format!("{prefix}-{}-{nanos:x}", std::process::id());
        let network = format!("{id}-net");
        docker(&["network", "create", &network])?;
        let mut cluster = Cluster {
            members: Vec::new(),
            network,
        };
        let names: Vec<String> = (0..3).map(|i| format!("{id}-m{i}")).collect();
        let initial: Vec<String> = names
            .iter()
            .map(|n| format!("{n}=http://{n}:2380"))
            .collect();
        let image = image();
        for name in &names {
            let port = free_port()?;
            let publish = format!("127.0.0.1:{port}:2379");
            let flags = [
                format!("--name={name}"),
                "--data-dir=/etcd-data/member".to_owned(),
                "--listen-client-urls=http://0.0.0.0:2379".to_owned(),
                format!("--advertise-client-urls=http://127.0.0.1:{port}"),
                "--listen-peer-urls=http://0.0.0.0:2380".to_owned(),
                format!("--initial-advertise-peer-urls=http://{name}:2380"),
                format!("--initial-cluster={}", initial.join(",")),
                "--initial-cluster-state=new".to_owned(),
                "--heartbeat-interval=100".to_owned(),
                "--election-timeout=1000".to_owned(),
            ];
            let mut args = vec![
                "run",
                "-d",
                "--name",
                name,
                "--network",
                &cluster.network,
                "-p",
                &publish,
                "--entrypoint",
                "/usr/local/bin/etcd",
                &image,
            ];
            args.extend(flags.iter().map(String::as_str));
            docker(&args)?;
            cluster.members.push(Member {
                name: name.clone(),
                port,
            });
        }
        let started = Instant::now();
        for m in &cluster.members {
            while !cluster.healthy(m).await {
                if started.elapsed() > START_LIMIT {
                    return Err(fail(format!("member {} never became healthy", m.name)));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(cluster)
    }

    async fn healthy(&self, m: &Member) -> bool {
        let url = format!("http://127.0.0.1:{}/health", m.port);
        let got = tokio::time::timeout(Duration::from_secs(2), reqwest::get(&url)).await;
        match got {
            Ok(Ok(r)) => r
                .text()
                .await
                .is_ok_and(|t| t.contains("\"health\":\"true\"")),
            _ => false,
        }
    }

    /// The client endpoints (`127.0.0.1:<port>`) of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port))
            .collect()
    }

    /// The index of the leader, asked of the members that answer.
    pub async fn leader(&self) -> Result<usize> {
        let started = Instant::now();
        loop {
            for (i, m) in self.members.iter().enumerate() {
                let ep = format!("127.0.0.1:{}", m.port);
                let connect = etcd_client::Client::connect([ep], None);
                let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(2), connect).await
                else {
                    continue;
                };
                if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), c.status()).await {
                    let me = s.header().map(|h| h.member_id()).unwrap_or(0);
                    if s.leader() != 0 && s.leader() == me {
                        return Ok(i);
                    }
                }
            }
            if started.elapsed() > START_LIMIT {
                return Err(fail("no leader elected"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&self, i: usize) -> Result<()> {
        docker(&["kill", &self.members[i].name]).map(|_| ())
    }

    /// `/metrics` of member `i`.
    pub async fn metrics(&self, i: usize) -> Result<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.members[i].port);
        let resp = reqwest::get(&url).await.map_err(|e| fail(e.to_string()))?;
        resp.text().await.map_err(|e| fail(e.to_string()))
    }

    /// `grpc_server_msg_received_total` of `method`, summed over the members that answer.
    pub async fn msg_received(&self, method: &str) -> Result<f64> {
        self.sum(|m| {
            parse_msg_received(m)
                .into_iter()
                .filter(|(k, _)| k == method)
                .map(|(_, n)| n)
                .sum()
        })
        .await
    }

    /// The value of the metric line `name` (no labels), summed over the members that answer.
    pub async fn gauge(&self, name: &str) -> Result<f64> {
        self.sum(|m| gauge(m, name)).await
    }

    async fn sum(&self, of: impl Fn(&str) -> f64) -> Result<f64> {
        let mut total = 0.0;
        for i in 0..self.members.len() {
            if let Ok(m) = self.metrics(i).await {
                total += of(&m);
            }
        }
        Ok(total)
    }

    /// CPU and memory of every running member, one `docker stats` sample (docker averages the
    /// CPU over about a second).
    pub fn usage(&self) -> Result<Vec<Usage>> {
        let mut args = vec![
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}} {{.MemUsage}}",
        ];
        args.extend(self.members.iter().map(|m| m.name.as_str()));
        let out = docker(&args)?;
        Ok(out.lines().map(parse_usage).collect())
    }

    /// Total CPU seconds used so far by member `i`'s container (its cgroup's `cpuacct`/`cpu.stat`).
    pub fn cpu_seconds(&self, i: usize) -> Result<f64> {
        let name = &self.members[i].name;
        let id = docker(&["inspect", "--format", "{{.Id}}", name])?;
        let v2 = format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat");
        let v1 = format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage");
        if let Ok(text) = std::fs::read_to_string(&v2) {
            let usec = text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| fail(format!("no usage_usec in {v2}")))?;
            return Ok(usec / 1e6);
        }
        let ns: f64 = std::fs::read_to_string(&v1)
            .map_err(|e| {
                fail(format!(
                    "cannot read the CPU use of {name} ({v2}, {v1}): {e}"
                ))
            })?
            .trim()
            .parse()
            .map_err(|_| fail(format!("bad number in {v1}")))?;
        Ok(ns / 1e9)
    }

    /// CPU seconds of all members so far (the killed ones count as 0).
    pub fn cpu_seconds_all(&self) -> f64 {
        (0..self.members.len())
            .filter_map(|i| self.cpu_seconds(i).ok())
            .sum()
    }
}

/// The value of an unlabelled metric line `name value`.
fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .sum()
}

/// `"12.34% 45.6MiB / 7.7GiB"` as a [`Usage`].
fn parse_usage(line: &str) -> Usage {
    let mut it = line.split_whitespace();
    let cpu = it.next().and_then(|c| c.trim_end_matches('%').parse().ok());
    let mem = it.next().map(|m| {
        let (num, scale) = if let Some(n) = m.strip_suffix("GiB") {
            (n, 1024.0)
        } else if let Some(n) = m.strip_suffix("MiB") {
            (n, 1.0)
        } else if let Some(n) = m.strip_suffix("KiB") {
            (n, 1.0 / 1024.0)
        } else {
            (m.trim_end_matches('B'), 1.0 / 1024.0 / 1024.0)
        };
        num.parse::<f64>().unwrap_or(0.0) * scale
    });
    Usage {
        cpu_percent: cpu.unwrap_or(0.0),
        mem_mb: mem.unwrap_or(0.0),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &self.members {
            let _ = Command::new("docker").args(["rm", "-f", &m.name]).output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_stats_and_gauges() {
        let u = parse_usage("12.5% 45.5MiB / 7.7GiB");
        assert_eq!(u.cpu_percent, 12.5);
        assert_eq!(u.mem_mb, 45.5);
        assert_eq!(parse_usage("0.1% 1GiB / 2GiB").mem_mb, 1024.0);
        let m = "# HELP x\netcd_debugging_mvcc_watcher_total 12\netcd_debugging_mvcc_watcher_total_x 3\n";
        assert_eq!(gauge(m, "etcd_debugging_mvcc_watcher_total"), 12.0);
    }
}
