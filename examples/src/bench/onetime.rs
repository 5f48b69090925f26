//! Scenario `etcd-onetime`: `confd -onetime` fetching, rendering and writing 100,000 keys; wall
//! time, CPU and peak RSS (GNU time's `%M`, the kernel's maxrss of the exited process).

use std::time::Instant;

use discovery_core::Result;
use etcd_client::Client;

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
