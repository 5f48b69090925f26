//! Scenario `render`: the nginx upstream template over 1,000 / 10,000 / 100,000 keys from an
//! in-memory snapshot, no server. Each size runs in its own process so its peak RSS is its own.

use std::sync::Arc;
use std::time::Instant;

use discovery_core::{Key, RenderData, Renderer, Result};

use super::stats::{median, Figures};
use super::{data, fail, procstat, Opts};

/// Renders `--keys` keys `--iterations` times (default: enough for ~1 s, at least 5).
pub async fn run(opts: &Opts) -> Result<Figures> {
    let keys: usize = opts.num("keys", 1000)?;
    let base = procstat::sample_self()?;
    let t = Instant::now();
    let template = data::template()?;
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;
    let render_data = RenderData::from_kv(Arc::new(data::snapshot(keys)?));
    let first = Instant::now();
    let out = template.render(&render_data)?.output;
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    if out.matches("    server ").count() != keys {
        return Err(fail("the render lacks upstream lines"));
    }
    let default_iters = ((1000.0 / first_ms.max(0.01)) as usize).clamp(5, 2000);
    let iterations: usize = opts.num("iterations", default_iters)?;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let r = template.render(&render_data)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(r);
    }
    // Watch mode's path: one key changes, the kept store is updated for it, then the render.
    let mut kv = (*render_data.kv).clone();
    let mut store = template.store(&kv);
    let changed: Vec<Key> = kv
        .pairs
        .keys()
        .step_by((keys / 97).max(1))
        .cloned()
        .collect();
    let mut kept = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let key = &changed[i % changed.len()];
        let t = Instant::now();
        if let Some(pair) = kv.pairs.get_mut(key) {
            pair.value = format!("10.9.{}.{}:80", (i / 250) % 250, i % 250).into();
        }
        store.update(&kv, Some(std::slice::from_ref(key)));
        let r = template.render_store(&store)?;
        kept.push(t.elapsed().as_secs_f64() * 1e3);
        drop(r);
    }
    let end = procstat::sample_self()?;
    let mut f = Figures::default();
    f.push("keys", keys as f64, "count");
    f.push("parse template", parse_ms, "ms");
    f.push("render (median of iterations)", median(&times), "ms");
    f.push("render per key", median(&times) * 1e6 / keys as f64, "ns");
    f.push(
        "one key changed: store update + render (watch mode)",
        median(&kept),
        "ms",
    );
    f.push("output size", out.len() as f64 / 1024.0, "KiB");
    f.push("peak RSS (VmHWM, whole process)", end.hwm_mb(), "MB");
    f.push("RSS before the snapshot", base.rss_mb(), "MB");
    Ok(f)
}

/// Runs every size (1,000 / 10,000 / 100,000) in a child process of this binary.
pub async fn run_sizes(args: &[String]) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    for keys in ["1000", "10000", "100000"] {
        let status = tokio::process::Command::new(&exe)
            .arg("render")
            .args(args)
            .args(["--keys", keys])
            .status()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !status.success() {
            return Err(fail(format!("render --keys {keys} failed: {status}")));
        }
    }
    Ok(())
}
