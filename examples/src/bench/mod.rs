//! The benchmark harness behind `cargo run --release -p discovery-examples --bin bench --
//! <scenario> [--option value ...] [--runs N]`: it starts its own etcd / Consul on loopback,
//! drives writes through the servers' own APIs, sees destination changes with inotify, and
//! prints p50/p90/p99/max, renders, reloads, CPU and peak RSS, with the median over the runs.
//! The figures are recorded in `BENCHMARKS.md`.

pub mod cluster;
pub mod confd_watch;
pub mod consul;
pub mod consul_setup;
pub mod data;
pub mod fswatch;
pub mod lib_etcd;
pub mod onetime;
pub mod procstat;
pub mod render;
pub mod s7;
pub mod s7_confd;
pub mod s7_consul;
pub mod servers;
pub mod stats;

use std::collections::HashMap;
use std::time::Duration;

use discovery_core::{Error, Result};

use stats::Figures;

/// The scenarios, with their options and defaults.
pub const USAGE: &str = "usage: bench <scenario> [--option value ...] [--runs N (default 3)]

scenarios:
  render                  [--keys 1000|10000|100000 (default: all three, one process each)] [--iterations N]
  etcd-watch-latency      [--keys 100] [--changes 200] [--rate 10] [--fsync before|after|never (confd's -fsync)]
  etcd-burst              [--keys 100] [--puts 1000] [--rate 0 (= back to back)] [--wait 50ms:500ms] [--fsync ...]
  etcd-watcher-latency    [--keys 100] [--changes 200] [--rate 50]
  etcd-register           [--count 10000] [--ttl 30] [--seconds 20] [--concurrency 64] [--shared-lease false]
  etcd-onetime            [--keys 100000] [--probe-ranges true (time etcd Range shapes first, on stderr)]
  idle                    [--keys 1000] [--seconds 60]
  consul-latency          [--instances 50] [--changes 100] [--rate 10]
  consul-burst            [--instances 50] [--registrations 300] [--wait 50ms:500ms]
  consul-idle             [--services 100] [--seconds 60] [--block-query-wait 5m (consul-template's block_query_wait)]
  s7-keepalive            [--count 10000] [--ttl 10] [--seconds 20] [--shared-lease true|false] (3-member etcd in Docker)
  s7                      [--watchers 10] [--procs 4] [--model prefix|per-key] [--engine confd|library] [--fsync before|after|never] [--keys 10] [--changes 30] (3-member etcd in Docker)
  s7-consul               [--watchers 200] [--instances 10] [--changes 20] [--dedup false] [--idle-seconds 10] [--binary consul-template (e.g. a Go peer)]

Binaries: target/release/confd and consul-template next to this one (build them first), or
BENCH_CONFD / BENCH_CONSUL_TEMPLATE; servers: /usr/bin/etcd (BENCH_ETCD) and
.tools/consul/usr/bin/consul (BENCH_CONSUL).";

/// A harness failure (a server that did not start, a destination that never changed, ...).
pub fn fail(message: impl Into<String>) -> Error {
    Error::invalid_config("bench", message)
}

/// `--name value` options.
#[derive(Clone, Debug, Default)]
pub struct Opts(HashMap<String, String>);

impl Opts {
    /// Parses `--name value` pairs.
    pub fn parse(args: &[String]) -> Result<Opts> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| fail(format!("unexpected argument {a:?}\n{USAGE}")))?;
            let value = it
                .next()
                .ok_or_else(|| fail(format!("--{name} needs a value")))?;
            map.insert(name.to_owned(), value.clone());
        }
        Ok(Opts(map))
    }

    /// The raw value of `--name`.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `--name` as a number, or `default`.
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| fail(format!("--{name}: not a number: {v:?}"))),
        }
    }

    /// `--name` in seconds, or `default`.
    pub fn secs(&self, name: &str, default: f64) -> Result<Duration> {
        Ok(Duration::from_secs_f64(self.num(name, default)?))
    }
}

/// `--wait min:max` (as the CLIs take it) and its max, for how long to let a burst settle.
pub fn wait_arg(opts: &Opts) -> Result<Option<(String, Duration)>> {
    let Some(w) = opts.str("wait") else {
        return Ok(None);
    };
    let wait =
        discovery_render::quiesce::Wait::parse(w).map_err(|e| fail(format!("--wait: {e}")))?;
    Ok(Some((w.to_owned(), wait.max)))
}

async fn run_once(scenario: &str, opts: &Opts) -> Result<Figures> {
    match scenario {
        "render" => render::run(opts).await,
        "etcd-watch-latency" => confd_watch::latency(opts).await,
        "etcd-burst" => confd_watch::burst(opts).await,
        "idle" | "etcd-idle" => confd_watch::idle(opts).await,
        "etcd-watcher-latency" => lib_etcd::watcher_latency(opts).await,
        "etcd-register" => lib_etcd::register(opts).await,
        "etcd-onetime" => onetime::run(opts).await,
        "consul-latency" => consul::latency(opts).await,
        "consul-burst" => consul::burst(opts).await,
        "consul-idle" => consul::idle(opts).await,
        "s7-keepalive" => s7::keepalive(opts).await,
        "s7" => s7::watchers(opts).await,
        "s7-consul" => s7_consul::run(opts).await,
        other => Err(fail(format!("unknown scenario {other:?}\n{USAGE}"))),
    }
}

/// Set in a child run: where it writes its figures.
const FIGURES_OUT: &str = "BENCH_FIGURES_OUT";

/// Scenarios that measure this process's own memory: each run gets a fresh process.
fn isolated(scenario: &str) -> bool {
    scenario == "etcd-register"
}

/// `args` without `--runs N`.
fn without_runs(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runs" {
            it.next();
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// Runs one run of `args` in a child process of this binary and reads its figures back.
async fn run_child(args: &[String]) -> Result<Figures> {
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let out = tempfile::NamedTempFile::new().map_err(|e| fail(e.to_string()))?;
    let status = tokio::process::Command::new(exe)
        .args(args)
        .args(["--runs", "1"])
        .env(FIGURES_OUT, out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("child run failed: {status}")));
    }
    let text = std::fs::read_to_string(out.path()).map_err(|e| fail(e.to_string()))?;
    Ok(Figures::from_tsv(&text))
}

/// Runs `<scenario> [options]` `--runs` times; prints each run and the median of every figure.
pub async fn main(args: Vec<String>) -> i32 {
    crate::logging::init("error");
    let Some(scenario) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return 2;
    };
    if scenario == "-h" || scenario == "--help" {
        println!("{USAGE}");
        return 0;
    }
    let result = async {
        let opts = Opts::parse(&args[1..])?;
        if scenario == "s7-watchers" {
            return s7::child(&opts).await;
        }
        if scenario == "render" && opts.str("keys").is_none() {
            return render::run_sizes(&args[1..]).await;
        }
        let runs: usize = opts.num("runs", 3)?;
        let child_out = std::env::var_os(FIGURES_OUT);
        let mut all = Vec::new();
        for i in 0..runs.max(1) {
            let figures = if isolated(&scenario) && child_out.is_none() {
                run_child(&without_runs(&args)).await?
            } else {
                run_once(&scenario, &opts).await?
            };
            if let Some(path) = &child_out {
                std::fs::write(path, figures.to_tsv()).map_err(|e| fail(e.to_string()))?;
            }
            eprintln!("run {}/{runs} done", i + 1);
            all.push(figures);
        }
        println!("== {} {}", scenario, args[1..].join(" "));
        print!("{}", stats::report(&all));
        Ok(())
    }
    .await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench: {e}");
            1
        }
    }
}
