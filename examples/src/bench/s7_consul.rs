//! `s7-consul`: S7 on Consul. `--watchers` consul-template processes (200 by default), as 200
//! hosts would run, render one service of one dev agent into their own files; all of them talk
//! to the agent through one [`CountingProxy`], which counts their HTTP requests by kind.
//! Changes are registrations and deregistrations of one instance, one after another; each is
//! waited for in every file. Reported: change → all files p50/p99, the agent's requests per
//! change (by kind) and per second while idle, the agent's CPU, and the watchers' memory.
//! `--dedup true` runs every watcher with `-dedup` (one of them queries the service and shares
//! the result through the KV store); `--binary PATH` measures another consul-template (a Go
//! peer) the same way. Each watcher runs in its own directory with the same relative template
//! paths, as the same configuration on 200 hosts would be (consul-template's de-duplication
//! key is derived from the template's source, contents and destination).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use discovery_core::Result;
use tokio::process::Child;

use super::consul::UPSTREAM;
use super::consul_setup::{address, ConsulApi, CountingProxy, Seen};
use super::data;
use super::fswatch::{signed_ms, DirWatch};
use super::servers::ConsulProc;
use super::stats::Figures;
use super::{fail, procstat, Opts};

/// Hang guard for one change to reach every file.
const GUARD: Duration = Duration::from_secs(60);

/// How long after the last change its re-issued queries are still counted.
const SETTLE: Duration = Duration::from_secs(1);

/// What each destination holds now, by file name, fed by a [`DirWatch`].
struct Files {
    watch: DirWatch,
    content: HashMap<PathBuf, String>,
    writes: u64,
}

impl Files {
    /// Waits until every one of `names` satisfies `pred`; returns, for each file, when it first
    /// did after the call (files that already did count at the call's instant).
    async fn until_all(
        &mut self,
        names: &[PathBuf],
        pred: impl Fn(&str) -> bool,
    ) -> Result<Vec<Instant>> {
        let start = Instant::now();
        let mut at: HashMap<&Path, Instant> = names
            .iter()
            .filter(|n| self.content.get(*n).is_some_and(|c| pred(c)))
            .map(|n| (n.as_path(), start))
            .collect();
        let wanted: HashSet<&Path> = names.iter().map(PathBuf::as_path).collect();
        let deadline = tokio::time::Instant::now() + GUARD;
        while at.len() < names.len() {
            let w = tokio::time::timeout_at(deadline, self.watch.rx.recv())
                .await
                .map_err(|_| {
                    fail(format!(
                        "{} of {} files did not reach the expected content within {GUARD:?}",
                        names.len() - at.len(),
                        names.len()
                    ))
                })?
                .ok_or_else(|| fail("the directory watch ended"))?;
            self.writes += 1;
            if let Some(name) = wanted.get(w.path.as_path()) {
                if pred(&w.content) {
                    at.entry(name).or_insert(w.at);
                }
            }
            self.content.insert(w.path, w.content);
        }
        Ok(names.iter().map(|n| at[n.as_path()]).collect())
    }
}

/// The kind of an agent request, by its path.
fn kind(path: &str) -> &'static str {
    for (prefix, kind) in [
        ("/v1/health/", "health"),
        ("/v1/catalog/", "catalog"),
        ("/v1/kv/", "kv"),
        ("/v1/txn", "txn"),
        ("/v1/session/", "session"),
        ("/v1/agent/", "agent"),
        ("/v1/status/", "status"),
    ] {
        if path.starts_with(prefix) {
            return kind;
        }
    }
    "other"
}

/// Requests seen in `[from, to]`, by kind.
fn by_kind(seen: &[Seen], from: Instant, to: Instant) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for (at, path) in seen {
        if *at >= from && *at <= to {
            *out.entry(kind(path)).or_insert(0) += 1;
        }
    }
    out
}

fn servers(content: &str) -> usize {
    content.matches("    server ").count()
}

/// `s7-consul`.
pub async fn run(opts: &Opts) -> Result<Figures> {
    let n: usize = opts.num("watchers", 200)?;
    let instances: usize = opts.num("instances", 10)?;
    let changes: usize = opts.num("changes", 20)?;
    let dedup: bool = opts.num("dedup", false)?;
    let idle = opts.secs("idle-seconds", 10.0)?;
    let binary = match opts.str("binary") {
        // Absolute: each watcher runs in its own directory.
        Some(b) => std::fs::canonicalize(b).map_err(|e| fail(format!("--binary {b}: {e}")))?,
        None => data::sibling_binary("consul-template")?,
    };
    let consul = ConsulProc::start().await?;
    let agent = consul.pid().ok_or_else(|| fail("consul exited at once"))?;
    let api = ConsulApi::new(&consul.addr);
    for i in 0..instances {
        api.register("web", &format!("web-{i}"), &address(i))
            .await?;
    }
    let proxy = CountingProxy::start(consul.addr.clone()).await?;
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let homes: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("w{i}"))).collect();
    for home in &homes {
        std::fs::create_dir_all(home.join("out")).map_err(|e| fail(e.to_string()))?;
        std::fs::write(home.join("in.tmpl"), UPSTREAM).map_err(|e| fail(e.to_string()))?;
    }
    let outs: Vec<PathBuf> = homes.iter().map(|h| h.join("out")).collect();
    let mut files = Files {
        watch: DirWatch::new(&outs, ".conf")?,
        content: HashMap::new(),
        writes: 0,
    };
    let names: Vec<PathBuf> = outs.iter().map(|o| o.join("ct.conf")).collect();
    let mut args = vec![
        "-consul-addr".to_owned(),
        proxy.addr.clone(),
        "-template".to_owned(),
        "in.tmpl:out/ct.conf".to_owned(),
        "-log-level".to_owned(),
        "err".to_owned(),
    ];
    if dedup {
        args.push("-dedup".to_owned());
    }
    let started = Instant::now();
    let mut children: Vec<Child> = Vec::with_capacity(n);
    for home in &homes {
        children.push(data::spawn_logged_in(
            &binary,
            &args,
            &home.join("consul-template.log"),
            Some(home),
        )?);
    }
    let pids: Vec<u32> = children.iter().filter_map(Child::id).collect();
    if pids.len() != n {
        return Err(fail("a consul-template exited at once"));
    }
    files.until_all(&names, |c| servers(c) == instances).await?;
    let first_render = started.elapsed();
    // Let the start-up traffic (dedup's leader election, first queries) settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (idle0, t_idle, idle_cpu0) = (proxy.count(), Instant::now(), procstat::sample(agent)?.cpu);
    tokio::time::sleep(idle).await;
    let idle_requests = proxy.count() - idle0;
    let idle_cpu = (procstat::sample(agent)?.cpu - idle_cpu0).as_secs_f64();

    let (cpu0, t0) = (procstat::sample(agent)?.cpu, Instant::now());
    let mut all = Vec::with_capacity(2 * changes);
    for c in 0..changes {
        let (id, addr) = (format!("chg-{c}"), address(100_000 + c));
        let needle = format!("server {addr}:80;");
        api.register("web", &id, &addr).await?;
        let answered = Instant::now();
        let at = files.until_all(&names, |s| s.contains(&needle)).await?;
        all.push(
            at.iter()
                .map(|t| signed_ms(answered, *t))
                .fold(0.0, f64::max),
        );
        api.deregister(&id).await?;
        let answered = Instant::now();
        let at = files.until_all(&names, |s| !s.contains(&needle)).await?;
        all.push(
            at.iter()
                .map(|t| signed_ms(answered, *t))
                .fold(0.0, f64::max),
        );
    }
    let (agent_end, t1) = (procstat::sample(agent)?, Instant::now());
    let cpu1 = agent_end.cpu;
    // The watchers re-issue their queries after writing the file: count the last change's too.
    tokio::time::sleep(SETTLE).await;
    let seen = proxy.seen();
    let idle_kinds = by_kind(&seen, t_idle, t_idle + idle);
    let window = (t1 - t0 + SETTLE).as_secs_f64();
    // What the changes cost beyond the idle traffic (dedup's session renewals and the like).
    let per_change: BTreeMap<&str, f64> = by_kind(&seen, t0, t1 + SETTLE)
        .into_iter()
        .map(|(k, v)| {
            let idle_rate = idle_kinds.get(k).copied().unwrap_or(0) as f64 / idle.as_secs_f64();
            (k, (v as f64 - idle_rate * window).max(0.0))
        })
        .collect();
    let mut rss_kb = 0;
    for pid in &pids {
        rss_kb += procstat::sample(*pid)?.rss_kb;
    }

    let mut f = Figures::default();
    f.push("watchers", n as f64, "count");
    f.push(
        "start → every file rendered",
        first_render.as_secs_f64() * 1e3,
        "ms",
    );
    f.latencies(&format!("change → all {n} files"), &all);
    let changes_made = (2 * changes) as f64;
    let total: f64 = per_change.values().sum();
    f.push("agent requests per change", total / changes_made, "count");
    for (k, v) in &per_change {
        f.push(
            format!("  {k} requests per change"),
            v / changes_made,
            "count",
        );
    }
    f.push(
        "agent requests/s while idle",
        idle_requests as f64 / idle.as_secs_f64(),
        "req/s",
    );
    for (k, v) in &idle_kinds {
        f.push(
            format!("  {k} requests/s while idle"),
            *v as f64 / idle.as_secs_f64(),
            "req/s",
        );
    }
    let cpu = (cpu1 - cpu0).as_secs_f64();
    f.push("agent CPU per change", cpu * 1e3 / changes_made, "ms");
    f.push(
        "agent CPU",
        cpu * 100.0 / (t1 - t0).as_secs_f64(),
        "% of a core",
    );
    f.push(
        "agent CPU while idle",
        idle_cpu * 100.0 / idle.as_secs_f64(),
        "% of a core",
    );
    f.push("agent RSS", agent_end.rss_mb(), "MB");
    f.push("watchers' RSS, total", rss_kb as f64 / 1024.0, "MB");
    f.push("file writes", files.writes as f64, "count");
    drop(children);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_kind_inside_the_window() {
        let t = Instant::now();
        let later = t + Duration::from_secs(1);
        let seen: Vec<Seen> = vec![
            (t, "/v1/health/service/web".into()),
            (t, "/v1/kv/consul-template/dedup/x".into()),
            (t, "/v1/kv/y".into()),
            (later, "/v1/session/renew/1".into()),
            (later + Duration::from_secs(1), "/v1/txn".into()),
        ];
        let k = by_kind(&seen, t, later);
        assert_eq!(k.get("health"), Some(&1));
        assert_eq!(k.get("kv"), Some(&2));
        assert_eq!(k.get("session"), Some(&1));
        assert_eq!(k.get("txn"), None);
    }
}
