//! The drop-in `confd`: same command line, `confd.toml` and `conf.d` resources as confd, built on
//! the discovery crates. See the README for the improvements over confd.

pub mod config;
pub mod process;
pub mod reload;
pub mod resource;
pub mod watch;

use std::sync::Arc;

use discovery_core::{Error, KvView, Result};

use crate::goflags::FlagError;
use config::ConfdConfig;
use process::{load_resources, process, run_reloads, Processed, Resource};

/// Runs confd with `args` (without the program name); returns the process exit code.
pub async fn main(args: Vec<String>) -> i32 {
    let cfg = match ConfdConfig::from_args(args) {
        Ok(c) => c,
        Err(FlagError::Help(text)) => {
            println!("{text}");
            return 0;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("{msg}");
            return 2;
        }
    };
    crate::logging::init(&cfg.log_level);
    match run(&cfg).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("confd: {e}");
            1
        }
    }
}

/// Runs the configured mode to completion.
pub async fn run(cfg: &ConfdConfig) -> Result<()> {
    let spec = crate::backend::BackendSpec::from_confd(cfg);
    let kv = if cfg.onetime {
        crate::backend::open_kv(&spec).await?
    } else {
        match open_with_retry(&spec).await? {
            Some(kv) => kv,
            None => return Ok(()),
        }
    };
    tracing::info!(backend = %cfg.backend, nodes = ?cfg.nodes, confdir = %cfg.confdir.display(), "starting confd");
    if cfg.onetime {
        let (resources, errors) = startup(cfg);
        let mut failures = errors.len();
        failures += process_all(cfg, kv.as_ref(), &resources).await;
        return if failures == 0 {
            Ok(())
        } else {
            Err(Error::invalid_config(
                "confd",
                format!("{failures} template resource(s) failed"),
            ))
        };
    }
    if cfg.watch {
        loop {
            let (resources, _errors) = startup(cfg);
            match watch::run(cfg, kv.clone(), &resources).await? {
                watch::Exit::Signal => return Ok(()),
                watch::Exit::Reload => tracing::info!("SIGHUP: reloading conf.d"),
            }
        }
    }
    // Interval mode: re-read conf.d and process everything every tick (confd's default mode).
    let mut signals = watch::Signals::new()?;
    loop {
        let (resources, _errors) = startup(cfg);
        process_all(cfg, kv.as_ref(), &resources).await;
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            sig = signals.next() => if sig == watch::Exit::Signal { return Ok(()) },
        }
    }
}

/// Connects to the backend, retrying with backoff until it answers (watch and interval modes:
/// confd must come up before its backend does). `None` when a signal asked to stop first.
async fn open_with_retry(spec: &crate::backend::BackendSpec) -> Result<Option<Arc<dyn KvView>>> {
    let backoff = discovery_core::Backoff::new(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(10),
    );
    let mut signals = watch::Signals::new()?;
    let mut attempt = 0u32;
    loop {
        match crate::backend::open_kv(spec).await {
            Ok(kv) => return Ok(Some(kv)),
            Err(e) if e.is_retryable() => {
                let delay = backoff.delay(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(backend = %spec.kind, nodes = ?spec.nodes, error = %e,
                    retry_in_ms = delay.as_millis() as u64, "backend unreachable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    sig = signals.next() => if sig == watch::Exit::Signal { return Ok(None) },
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Loads `conf.d`, logging what was loaded and every resource that failed to load.
fn startup(cfg: &ConfdConfig) -> (Vec<Resource>, Vec<Error>) {
    let (resources, errors) = load_resources(cfg);
    for e in &errors {
        tracing::error!("{e}");
    }
    for r in &resources {
        tracing::info!(
            resource = %r.name(),
            src = %r.spec.src.display(),
            dest = %r.spec.dest.display(),
            keys = ?r.spec.keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "loaded template resource"
        );
        if !process::dest_dir_exists(&r.spec.dest) {
            tracing::warn!(resource = %r.name(), dest = %r.spec.dest.display(), "destination directory does not exist");
        }
    }
    (resources, errors)
}

/// Fetches, renders and syncs every resource once (one read per resource, at one revision);
/// returns the number of failures.
async fn process_all(cfg: &ConfdConfig, kv: &dyn KvView, resources: &[Resource]) -> usize {
    let mut failures = 0;
    let mut reloads = Vec::new();
    for r in resources {
        let result = match kv.list(&r.spec.keys).await {
            Ok(snap) => {
                // The template's store keeps what it needs; the snapshot goes before rendering.
                let store = r.template.store(&snap);
                drop(snap);
                process(r, &store, cfg, cfg.fsync).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Processed::Written { reload: Some(cmd) }) => reloads.push(cmd),
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                tracing::error!(resource = %r.name(), "{e}");
            }
        }
    }
    let errs = run_reloads(reloads, cfg.command_timeout).await;
    for e in &errs {
        tracing::error!("{e}");
    }
    failures + errs.len()
}
