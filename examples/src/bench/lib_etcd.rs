//! Scenarios against the library itself over etcd: put→event latency of our
//! `EtcdBackend::watch_prefix` next to a bare etcd-client watch, and registering many instances.

use std::time::{Duration, Instant};

use discovery_core::{
    Key, KvChange, KvEvent, KvView, RegisterOptions, Registration, Registry, Result,
    ServiceInstance,
};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use etcd_client::{Client, GetOptions, WatchOptions};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;

use super::data;
use super::servers::EtcdProc;
use super::stats::{median, Figures, Percentiles};
use super::{fail, procstat, Opts};

const OURS: usize = 0;
const BARE: usize = 1;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn connect(etcd: &EtcdProc) -> Result<Client> {
    Client::connect([&etcd.endpoint], None)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// `etcd-watcher-latency`: `--changes` puts at `--rate`/s; for each, the time from sending the
/// put to the event arriving through our watcher and through a bare etcd-client watch (its own
/// connection), both in this process.
pub async fn watcher_latency(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 100)?;
    let changes: usize = opts.num("changes", 200)?;
    let rate: f64 = opts.num("rate", 50.0)?;
    let etcd = EtcdProc::start().await?;
    let writer = connect(&etcd).await?;
    data::load_etcd(&writer, keys).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String, Instant)>();

    let backend = EtcdBackend::connect(EtcdConfig::new([etcd.endpoint.clone()])).await?;
    let mut ours = backend.watch_prefix(&Key::new(data::PREFIX)?, None).await?;
    match ours.next().await {
        Some(Ok(KvEvent::Reset(_))) => {}
        other => return Err(fail(format!("expected a Reset first, got {other:?}"))),
    }
    let tx_ours = tx.clone();
    let ours_task = tokio::spawn(async move {
        while let Some(Ok(event)) = ours.next().await {
            let at = Instant::now();
            if let KvEvent::Changed { changes, .. } = event {
                for c in changes {
                    if let KvChange::Put(p) = c {
                        let v = p.value_str().unwrap_or_default().to_owned();
                        let _ = tx_ours.send((OURS, v, at));
                    }
                }
            }
        }
    });
    let mut bare_client = connect(&etcd).await?;
    let mut bare = bare_client
        .watch(
            format!("{}/", data::PREFIX),
            Some(WatchOptions::new().with_prefix()),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    let bare_task = tokio::spawn(async move {
        while let Ok(Some(resp)) = bare.message().await {
            let at = Instant::now();
            for ev in resp.events() {
                if let Some(v) = ev.kv().and_then(|kv| kv.value_str().ok()) {
                    let _ = tx.send((BARE, v.to_owned(), at));
                }
            }
        }
    });

    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut lat: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut diff = Vec::new();
    for i in 0..changes {
        tick.tick().await;
        let v = format!("w{i}.example:80");
        let sent = Instant::now();
        data::put(&writer, data::key(i % keys), v.clone()).await?;
        let mut seen: [Option<Instant>; 2] = [None, None];
        while seen.iter().any(Option::is_none) {
            let (who, value, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .map_err(|_| fail(format!("change {i} was not delivered by both watches")))?
                .ok_or_else(|| fail("a watch ended"))?;
            if value == v {
                seen[who] = Some(at);
            }
        }
        let (o, b) = (seen[OURS].unwrap_or(sent), seen[BARE].unwrap_or(sent));
        lat[OURS].push(ms(o - sent));
        lat[BARE].push(ms(b - sent));
        diff.push(super::fswatch::signed_ms(b, o));
    }
    ours_task.abort();
    bare_task.abort();
    let mut f = Figures::default();
    f.latencies("ours: put sent → event", &lat[OURS]);
    f.latencies("bare etcd-client: put sent → event", &lat[BARE]);
    let (po, pb) = (Percentiles::of(&lat[OURS]), Percentiles::of(&lat[BARE]));
    f.push("overhead at p50", (po.p50 / pb.p50 - 1.0) * 100.0, "%");
    f.push("overhead at p99", (po.p99 / pb.p99 - 1.0) * 100.0, "%");
    f.push("ours − bare per change (median)", median(&diff), "ms");
    Ok(f)
}

/// `etcd-register`: registers `--count` instances (TTL `--ttl` s, `--concurrency` at a time)
/// from this process, then measures the keepalive traffic etcd receives for `--seconds`.
pub async fn register(opts: &Opts) -> Result<Figures> {
    let count: usize = opts.num("count", 10_000)?;
    let ttl = opts.secs("ttl", 30.0)?;
    let window = opts.secs("seconds", 20.0)?;
    let concurrency: usize = opts.num("concurrency", 64)?;
    // Own leases by default, so that the figures stay comparable with section 5 of BENCHMARKS.md.
    let reg_opts = RegisterOptions::with_ttl(ttl).shared_lease(opts.num("shared-lease", false)?);
    let etcd = EtcdProc::start().await?;
    let backend = EtcdBackend::connect(EtcdConfig::new([etcd.endpoint.clone()])).await?;
    let base = procstat::sample_self()?;
    let started = Instant::now();
    let service: discovery_core::ServiceName = "bench".parse()?;
    let guards: Vec<Registration> = futures::stream::iter(0..count)
        .map(|i| {
            let (backend, service, o) = (backend.clone(), service.clone(), reg_opts.clone());
            async move {
                let addr = data::value(i);
                let addr = addr.trim_end_matches(":80").to_owned();
                let me = ServiceInstance::new(service, format!("i{i}").parse()?, addr, Some(80));
                backend.register(me, o).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let took = started.elapsed();
    let registered = procstat::sample_self()?;
    let mut check = connect(&etcd).await?;
    let stored = check
        .get(
            "/services/bench/",
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .map_err(|e| fail(e.to_string()))?
        .count();
    if stored as usize != count {
        return Err(fail(format!(
            "{stored} instances stored, {count} registered"
        )));
    }
    // Steady state: keepalives are spread over a TTL/3 period by the registration times.
    tokio::time::sleep(ttl / 3).await;
    let before = (etcd.grpc_requests().await?, procstat::sample_self()?);
    tokio::time::sleep(window).await;
    let after = (etcd.grpc_requests().await?, procstat::sample_self()?);
    let of = |v: &[(String, f64)], m: Option<&str>| -> f64 {
        v.iter()
            .filter(|(k, _)| match m {
                Some(m) => k == m,
                None => true,
            })
            .map(|(_, n)| n)
            .sum()
    };
    let secs = window.as_secs_f64();
    let mut f = Figures::default();
    f.push("instances", count as f64, "count");
    f.push("register all", ms(took), "ms");
    f.push(
        "registrations per second",
        count as f64 / took.as_secs_f64(),
        "1/s",
    );
    f.push("process RSS before", base.rss_mb(), "MB");
    f.push("process RSS with all registered", registered.rss_mb(), "MB");
    let end = &after.1;
    f.push("process RSS after the steady window", end.rss_mb(), "MB");
    f.push("process peak RSS (VmHWM)", end.hwm_mb(), "MB");
    let ka = of(&after.0, Some("LeaseKeepAlive")) - of(&before.0, Some("LeaseKeepAlive"));
    f.push("steady keepalive requests", ka / secs, "req/s");
    f.push(
        "expected (count / (TTL/3))",
        count as f64 / (ttl.as_secs_f64() / 3.0),
        "req/s",
    );
    f.push(
        "steady gRPC requests, all",
        (of(&after.0, None) - of(&before.0, None)) / secs,
        "req/s",
    );
    f.push(
        "steady CPU of this process",
        ms(end.cpu - before.1.cpu) / secs / 10.0,
        "%",
    );
    drop(guards);
    Ok(f)
}
