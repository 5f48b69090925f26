//! Scenarios against our `confd -watch` over etcd: change→file latency, a burst of puts, idle.

use std::time::{Duration, Instant};

use discovery_core::{Key, KvPair, Result, Revision};
use etcd_client::Client;
use tokio::process::Child;

use super::data::{self, ConfdDir};
use super::fswatch::{signed_ms, FileWatch};
use super::servers::EtcdProc;
use super::stats::Figures;
use super::{fail, procstat, wait_arg, Opts};

/// Hang guard for one change to show up in the file.
const CHANGE_GUARD: Duration = Duration::from_secs(10);

/// etcd loaded with `keys` upstreams and our confd watching them, its first render done.
struct Running {
    etcd: EtcdProc,
    client: Client,
    dir: ConfdDir,
    watch: FileWatch,
    _confd: Child,
    pid: u32,
}

async fn start(keys: usize, extra: &[&str]) -> Result<Running> {
    let etcd = EtcdProc::start().await?;
    let client = Client::connect([&etcd.endpoint], None)
        .await
        .map_err(|e| fail(e.to_string()))?;
    data::load_etcd(&client, keys).await?;
    let dir = ConfdDir::new()?;
    let mut watch = FileWatch::new(&dir.dest)?;
    let mut args = vec!["-watch"];
    args.extend_from_slice(extra);
    let confd = data::spawn_logged(
        &data::sibling_binary("confd")?,
        &dir.confd_args(&etcd.endpoint, &args),
        &dir.dir.path().join("confd.log"),
    )?;
    let pid = confd.id().ok_or_else(|| fail("confd exited at once"))?;
    let want = data::expected(data::snapshot(keys)?)?;
    watch
        .wait_for(Duration::from_secs(60), |c| c == want)
        .await?;
    // Let the start-up reload and any late event pass before measuring.
    watch.drain_for(Duration::from_millis(500)).await;
    watch.writes = 0;
    Ok(Running {
        etcd,
        client,
        dir,
        watch,
        _confd: confd,
        pid,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `etcd-watch-latency`: one put every 1/`--rate` s to one of `--keys` keys; put response →
/// inotify event of a file that holds the new value.
pub async fn latency(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 100)?;
    let changes: usize = opts.num("changes", 200)?;
    let rate: f64 = opts.num("rate", 10.0)?;
    let extra: Vec<&str> = match opts.str("fsync") {
        Some(mode) => vec!["-fsync", mode],
        None => vec![],
    };
    let mut r = start(keys, &extra).await?;
    let reloads0 = r.dir.reload_count();
    let before = procstat::sample(r.pid)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let (mut lat, mut rtt) = (Vec::new(), Vec::new());
    for i in 0..changes {
        tick.tick().await;
        let v = format!("c{i}.example:80");
        let needle = format!("server {v};");
        let sent = Instant::now();
        data::put(&r.client, data::key(i % keys), v).await?;
        let answered = Instant::now();
        let w = r
            .watch
            .wait_for(CHANGE_GUARD, |c| c.contains(&needle))
            .await?;
        lat.push(signed_ms(answered, w.at));
        rtt.push(ms(answered - sent));
    }
    let after = procstat::sample(r.pid)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let size = std::fs::metadata(&r.dir.dest).map_or(0, |m| m.len() as usize);
    let dest_dir = r.dir.dest.parent().unwrap_or(r.dir.dir.path());
    let floor = super::fswatch::fsync_floor(dest_dir, size, 50)?;
    let mut f = Figures::default();
    f.latencies("put response → file", &lat);
    f.push("floor: write+fsync+rename of the same size", floor, "ms");
    f.latencies("put round trip", &rtt);
    f.push(
        "confd CPU per change",
        ms(after.cpu - before.cpu) / changes as f64,
        "ms",
    );
    f.push("renders (writes seen)", r.watch.writes as f64, "count");
    f.push("reloads", (r.dir.reload_count() - reloads0) as f64, "count");
    f.push("confd peak RSS (VmHWM)", after.hwm_mb(), "MB");
    Ok(f)
}

/// `etcd-burst`: `--puts` puts back to back (or at `--rate`/s) over `--keys` keys; last put's response → the file
/// holding the final state; renders and reloads during the burst (with `--wait`: debounced).
pub async fn burst(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 100)?;
    let puts: usize = opts.num("puts", 1000)?;
    let rate: f64 = opts.num("rate", 0.0)?;
    let wait = wait_arg(opts)?;
    let mut extra: Vec<&str> = match &wait {
        Some((w, _)) => vec!["-wait", w.as_str()],
        None => vec![],
    };
    if let Some(mode) = opts.str("fsync") {
        extra.extend(["-fsync", mode]);
    }
    let mut r = start(keys, &extra).await?;
    let reloads0 = r.dir.reload_count();
    let mut kv = data::snapshot(keys)?;
    let mut pace = (rate > 0.0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / rate)));
    let first = Instant::now();
    for i in 0..puts {
        if let Some(p) = pace.as_mut() {
            p.tick().await;
        }
        let (k, v) = (data::key(i % keys), format!("b{i}.example:80"));
        let key = Key::new(&k)?;
        let pair = KvPair {
            key: key.clone(),
            value: v.clone().into(),
            mod_revision: Revision(0),
        };
        kv.pairs.insert(key, pair);
        data::put(&r.client, k, v).await?;
    }
    let last = Instant::now();
    let want = data::expected(kv)?;
    let w = r
        .watch
        .wait_for(Duration::from_secs(30), |c| c == want)
        .await?;
    let settle = wait.map(|(_, max)| max).unwrap_or_default() + Duration::from_secs(1);
    r.watch.drain_for(settle).await;
    let after = procstat::sample(r.pid)?;
    let mut f = Figures::default();
    f.push(
        "burst duration (first put → last response)",
        ms(last - first),
        "ms",
    );
    f.push(
        "final state after last put response",
        signed_ms(last, w.at),
        "ms",
    );
    f.push("renders (writes seen)", r.watch.writes as f64, "count");
    f.push("reloads", (r.dir.reload_count() - reloads0) as f64, "count");
    f.push("confd peak RSS (VmHWM)", after.hwm_mb(), "MB");
    Ok(f)
}

/// `idle`: confd watching `--keys` keys with nothing changing for `--seconds`.
pub async fn idle(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 1000)?;
    let period = opts.secs("seconds", 60.0)?;
    let mut r = start(keys, &[]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let req0 = r.etcd.grpc_requests().await?;
    let before = procstat::sample(r.pid)?;
    let writes = r.watch.drain_for(period).await;
    let after = procstat::sample(r.pid)?;
    let req1 = r.etcd.grpc_requests().await?;
    let total = |v: &[(String, f64)]| v.iter().map(|(_, n)| n).sum::<f64>();
    let mut f = Figures::default();
    f.push("window", period.as_secs_f64(), "s");
    f.push("confd CPU in window", ms(after.cpu - before.cpu), "ms");
    f.push("confd RSS (VmRSS)", after.rss_mb(), "MB");
    f.push("confd peak RSS (VmHWM)", after.hwm_mb(), "MB");
    f.push(
        "gRPC requests etcd received in window",
        total(&req1) - total(&req0),
        "count",
    );
    f.push("file writes in window", writes as f64, "count");
    Ok(f)
}
