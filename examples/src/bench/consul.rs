//! Scenarios against our `consul-template` over a Consul dev agent: registration→file latency
//! (next to a bare blocking query), a burst of registrations, idle requests.

use std::time::{Duration, Instant};

use discovery_core::Result;
use tokio::process::Child;
use tokio::sync::mpsc;

use super::consul_setup::{address, ConsulApi, CountingProxy, CtDir};
use super::data;
use super::fswatch::{signed_ms, FileWatch};
use super::servers::ConsulProc;
use super::stats::Figures;
use super::{fail, procstat, wait_arg, Opts};

/// One upstream line per passing instance of `web`.
pub const UPSTREAM: &str =
    "upstream web {\n{{- range service \"web\"}}\n    server {{.Address}}:{{.Port}};\n{{- end}}\n}\n";

/// Every service with its instances' addresses, one line per service.
pub const ALL_SERVICES: &str =
    "{{range services}}{{.Name}}:{{range service .Name}} {{.Address}}{{end}}\n{{end}}";

/// Hang guard for one change.
const GUARD: Duration = Duration::from_secs(10);

/// The instant the bare blocking query first returned a body containing `needle`.
async fn bare_sees(
    rx: &mut mpsc::UnboundedReceiver<(Instant, String)>,
    needle: &str,
) -> Result<Instant> {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let (at, body) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| fail("the bare blocking query missed a registration"))?
            .ok_or_else(|| fail("the bare blocking query ended"))?;
        if body.contains(needle) {
            return Ok(at);
        }
    }
}

#[derive(Debug)]
struct Running {
    _consul: ConsulProc,
    api: ConsulApi,
    dir: CtDir,
    watch: FileWatch,
    _ct: Child,
    pid: u32,
}

fn lines(content: &str) -> usize {
    content.matches("    server ").count()
}

/// Consul with `instances` instances of `web` and our consul-template rendering [`UPSTREAM`].
async fn start(instances: usize, extra: &[&str]) -> Result<Running> {
    let consul = ConsulProc::start().await?;
    let api = ConsulApi::new(&consul.addr);
    for i in 0..instances {
        api.register("web", &format!("web-{i}"), &address(i))
            .await?;
    }
    let dir = CtDir::new(UPSTREAM)?;
    let mut watch = FileWatch::new(&dir.dest)?;
    let ct = data::spawn_logged(
        &data::sibling_binary("consul-template")?,
        &dir.args(&consul.addr, extra),
        &dir.dir.path().join("consul-template.log"),
    )?;
    let pid = ct
        .id()
        .ok_or_else(|| fail("consul-template exited at once"))?;
    watch
        .wait_for(Duration::from_secs(60), |c| lines(c) == instances)
        .await?;
    watch.drain_for(Duration::from_millis(500)).await;
    watch.writes = 0;
    Ok(Running {
        _consul: consul,
        api,
        dir,
        watch,
        _ct: ct,
        pid,
    })
}

/// `consul-latency`: with `--instances` instances, `--changes` registrations at `--rate`/s (each
/// each deregistered one tick later): registration response → file, and → a bare blocking query.
pub async fn latency(opts: &Opts) -> Result<Figures> {
    let instances: usize = opts.num("instances", 50)?;
    let changes: usize = opts.num("changes", 100)?;
    let rate: f64 = opts.num("rate", 10.0)?;
    let mut r = start(instances, &[]).await?;
    // A bare blocking-query loop on the same service, for Consul's own latency.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, String)>();
    let bare_api = r.api.clone();
    let bare = tokio::spawn(async move {
        let mut index = 0;
        while let Ok((next, body)) = bare_api.health_blocking("web", index).await {
            if tx.send((Instant::now(), body)).is_err() {
                break;
            }
            index = next;
        }
    });
    let reloads0 = r.dir.reload_count();
    let before = procstat::sample(r.pid)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let (mut lat, mut bare_lat, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..changes {
        // One change per tick: register chg-i (measured), then deregister it (measured apart).
        tick.tick().await;
        let addr = address(100_000 + i);
        let needle = format!("server {addr}:80;");
        r.api.register("web", &format!("chg-{i}"), &addr).await?;
        let answered = Instant::now();
        let w = r.watch.wait_for(GUARD, |c| c.contains(&needle)).await?;
        lat.push(signed_ms(answered, w.at));
        bare_lat.push(signed_ms(
            answered,
            bare_sees(&mut rx, &format!("\"{addr}\"")).await?,
        ));
        tick.tick().await;
        r.api.deregister(&format!("chg-{i}")).await?;
        let answered = Instant::now();
        let w = r.watch.wait_for(GUARD, |c| !c.contains(&needle)).await?;
        gone.push(signed_ms(answered, w.at));
    }
    bare.abort();
    let after = procstat::sample(r.pid)?;
    let mut f = Figures::default();
    f.latencies("registration response → file", &lat);
    f.latencies("registration response → bare blocking query", &bare_lat);
    f.latencies("deregistration response → file", &gone);
    f.push(
        "consul-template CPU per change",
        (after.cpu - before.cpu).as_secs_f64() * 1e3 / (2 * changes) as f64,
        "ms",
    );
    f.push(
        "renders (writes seen, incl. deregistrations)",
        r.watch.writes as f64,
        "count",
    );
    f.push(
        "commands run",
        (r.dir.reload_count() - reloads0) as f64,
        "count",
    );
    f.push("consul-template peak RSS (VmHWM)", after.hwm_mb(), "MB");
    Ok(f)
}

/// `consul-burst`: `--registrations` registrations back to back on top of `--instances`;
/// last response → the file listing them all; renders and commands (with `--wait`: debounced).
pub async fn burst(opts: &Opts) -> Result<Figures> {
    let instances: usize = opts.num("instances", 50)?;
    let count: usize = opts.num("registrations", 300)?;
    let wait = wait_arg(opts)?;
    let extra: Vec<&str> = match &wait {
        Some((w, _)) => vec!["-wait", w.as_str()],
        None => vec![],
    };
    let mut r = start(instances, &extra).await?;
    let reloads0 = r.dir.reload_count();
    let first = Instant::now();
    for i in 0..count {
        r.api
            .register("web", &format!("burst-{i}"), &address(200_000 + i))
            .await?;
    }
    let last = Instant::now();
    let total = instances + count;
    let w = r
        .watch
        .wait_for(Duration::from_secs(60), |c| lines(c) == total)
        .await?;
    let settle = wait.map(|(_, max)| max).unwrap_or_default() + Duration::from_secs(1);
    r.watch.drain_for(settle).await;
    let mut f = Figures::default();
    f.push(
        "burst duration (first → last response)",
        (last - first).as_secs_f64() * 1e3,
        "ms",
    );
    f.push(
        "final state after last response",
        signed_ms(last, w.at),
        "ms",
    );
    f.push("renders (writes seen)", r.watch.writes as f64, "count");
    f.push(
        "commands run",
        (r.dir.reload_count() - reloads0) as f64,
        "count",
    );
    Ok(f)
}

/// `consul-idle`: `--services` services of one instance each, all rendered, nothing changing for
/// `--seconds`; HTTP requests counted by a proxy between consul-template and Consul, and how
/// long after its previous request each watch's request in the window came (the blocking
/// query's re-issue interval: its `wait` plus Consul's jitter of up to wait/16).
/// `--block-query-wait 5m` sets consul-template's `block_query_wait` (a config file).
pub async fn idle(opts: &Opts) -> Result<Figures> {
    let services: usize = opts.num("services", 100)?;
    let period = opts.secs("seconds", 60.0)?;
    let block_wait: Option<String> = opts
        .num("block-query-wait", String::new())
        .ok()
        .filter(|s| !s.is_empty());
    let consul = ConsulProc::start().await?;
    let api = ConsulApi::new(&consul.addr);
    for i in 0..services {
        api.register(&format!("svc{i}"), &format!("svc{i}-0"), &address(i))
            .await?;
    }
    let proxy = CountingProxy::start(consul.addr.clone()).await?;
    let dir = CtDir::new(ALL_SERVICES)?;
    let mut extra = Vec::new();
    if let Some(w) = &block_wait {
        let conf = dir.dir.path().join("ct.hcl");
        std::fs::write(&conf, format!("block_query_wait = \"{w}\"\n"))
            .map_err(|e| fail(e.to_string()))?;
        extra = vec!["-config".to_owned(), conf.display().to_string()];
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut watch = FileWatch::new(&dir.dest)?;
    let ct = data::spawn_logged(
        &data::sibling_binary("consul-template")?,
        &dir.args(&proxy.addr, &extra),
        &dir.dir.path().join("consul-template.log"),
    )?;
    let pid = ct
        .id()
        .ok_or_else(|| fail("consul-template exited at once"))?;
    watch
        .wait_for(Duration::from_secs(60), |c| {
            let rendered = c
                .lines()
                .filter(|l| l.starts_with("svc") && l.contains(" 10."));
            rendered.count() == services
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (req0, before, t0) = (proxy.count(), procstat::sample(pid)?, Instant::now());
    let writes = watch.drain_for(period).await;
    let (req1, after, t1) = (proxy.count(), procstat::sample(pid)?, Instant::now());
    // For each request in the window, the time since the previous request on the same path.
    let seen = proxy.seen();
    let mut last: std::collections::HashMap<&str, Instant> = std::collections::HashMap::new();
    let mut intervals = Vec::new();
    for (at, path) in &seen {
        if let Some(prev) = last.insert(path.as_str(), *at) {
            if *at >= t0 && *at <= t1 {
                intervals.push(at.duration_since(prev).as_secs_f64());
            }
        }
    }
    intervals.sort_by(f64::total_cmp);
    let mut f = Figures::default();
    f.push("window", period.as_secs_f64(), "s");
    f.push("HTTP requests until the first render", req0 as f64, "count");
    f.push("HTTP requests in window", (req1 - req0) as f64, "count");
    f.push(
        "HTTP requests per minute",
        (req1 - req0) as f64 * 60.0 / period.as_secs_f64(),
        "req/min",
    );
    f.push(
        "consul-template CPU in window",
        (after.cpu - before.cpu).as_secs_f64() * 1e3,
        "ms",
    );
    f.push("consul-template RSS (VmRSS)", after.rss_mb(), "MB");
    f.push("consul-template peak RSS (VmHWM)", after.hwm_mb(), "MB");
    f.push("file writes in window", writes as f64, "count");
    f.push(
        "re-issued queries in window",
        intervals.len() as f64,
        "count",
    );
    let (lo, hi) = (
        intervals.first().copied().unwrap_or(f64::NAN),
        intervals.last().copied().unwrap_or(f64::NAN),
    );
    f.push("re-issue interval min", lo, "s");
    f.push(
        "re-issue interval median",
        super::stats::median(&intervals),
        "s",
    );
    f.push("re-issue interval max", hi, "s");
    drop(ct);
    Ok(f)
}
