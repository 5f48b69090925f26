//! Scenario `etcd-onetime`: `confd -onetime` fetching, rendering and writing 100,000 keys; wall
//! time, CPU and peak RSS (GNU time's `%M`, the kernel's maxrss of the exited process).

use std::time::Instant;

use discovery_core::Result;
use etcd_client::{Client, GetOptions};

use super::data::{self, ConfdDir};
use super::servers::EtcdProc;
use super::stats::Figures;
use super::{fail, Opts};

/// Runs one `confd -onetime` over `--keys` keys (default 100,000).
pub async fn run(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 100_000)?;
    let etcd = EtcdProc::start().await?;
    let client = Client::connect([&etcd.endpoint], None)
        .await
        .map_err(|e| fail(e.to_string()))?;
    data::load_etcd(&client, keys).await?;
    if opts
        .str("probe-ranges")
        .is_some_and(|v| v != "0" && v != "false")
    {
        probe_ranges(&client).await?;
    }
    let dir = ConfdDir::new()?;
    let confd = data::sibling_binary("confd")?;
    let timing = dir.dir.path().join("time.out");
    let mut args = vec![
        "-f".to_owned(),
        "%e %U %S %M".to_owned(),
        "-o".to_owned(),
        timing.display().to_string(),
        confd.display().to_string(),
    ];
    args.extend(dir.confd_args(&etcd.endpoint, &["-onetime"]));
    let started = Instant::now();
    let status = tokio::process::Command::new("/usr/bin/time")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| fail(format!("/usr/bin/time: {e}")))?;
    let wall = started.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        return Err(fail(format!("confd -onetime failed: {status}")));
    }
    let written = std::fs::read_to_string(&dir.dest).map_err(|e| fail(e.to_string()))?;
    if written != data::expected(data::snapshot(keys)?)? {
        return Err(fail(
            "confd -onetime wrote something else than the expected render",
        ));
    }
    let measured = std::fs::read_to_string(&timing).map_err(|e| fail(e.to_string()))?;
    let fields: Vec<f64> = measured
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let [_, user, sys, maxrss_kb] = fields[..] else {
        return Err(fail(format!(
            "unexpected /usr/bin/time output {measured:?}"
        )));
    };
    let mut f = Figures::default();
    f.push("keys", keys as f64, "count");
    f.push("wall time (spawn → exit)", wall, "ms");
    f.push("CPU user+sys", (user + sys) * 1e3, "ms");
    f.push("peak RSS (maxrss)", maxrss_kb / 1024.0, "MB");
    f.push("output size", written.len() as f64 / 1024.0, "KiB");
    Ok(f)
}

/// `--probe-ranges true`: before confd runs, times (on stderr) etcd's answer to Range requests of
/// several shapes over the loaded keys, three rounds each: a limit of 1 (etcd 3.4 still walks
/// the whole range to count it), count only, keys only, everything in one reply, and pages of
/// 10,000 / 25,000 / 50,000 keys pinned to one revision. Client-side decoding is included; the
/// figures are not part of the scenario's table.
async fn probe_ranges(client: &Client) -> Result<()> {
    let (start, end) = (data::PREFIX.as_bytes().to_vec(), range_end(data::PREFIX));
    let mut kv = client.kv_client().max_decoding_message_size(256 << 20);
    let range = || GetOptions::new().with_range(end.clone());
    for round in 1..=3 {
        let shapes = [
            ("limit 1", range().with_limit(1)),
            ("count only", range().with_count_only()),
            ("keys only, one reply", range().with_keys_only()),
            ("one reply", range()),
        ];
        let mut rev = 0;
        for (name, o) in shapes {
            let t = Instant::now();
            let r = kv
                .get(start.clone(), Some(o))
                .await
                .map_err(|e| fail(e.to_string()))?;
            rev = r.header().map(|h| h.revision()).unwrap_or(0);
            eprintln!(
                "probe {round}: {name}: {:.1} ms ({} keys returned)",
                t.elapsed().as_secs_f64() * 1e3,
                r.kvs().len()
            );
        }
        for page in [10_000i64, 25_000, 50_000] {
            let t = Instant::now();
            let (mut from, mut n, mut requests) = (start.clone(), 0, 0);
            loop {
                let o = range().with_limit(page).with_revision(rev);
                let r = kv
                    .get(from.clone(), Some(o))
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                n += r.kvs().len();
                requests += 1;
                match r.kvs().last() {
                    Some(last) if r.more() => {
                        from = last.key().to_vec();
                        from.push(0);
                    }
                    _ => break,
                }
            }
            eprintln!(
                "probe {round}: pages of {page}: {:.1} ms ({n} keys, {requests} requests)",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}

/// The end of the range of keys starting with `prefix`.
fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
