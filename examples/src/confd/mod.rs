//! The drop-in `confd`: same command line, `confd.toml` and `conf.d` resources as confd, built on
//! the discovery crates. See the README for the improvements over confd.
//!
//! The engine is [`discovery_render::confd::runner::ConfdRunner`]; this module parses the
//! command line into its options, connects the backend, maps signals onto its handle (SIGHUP
//! reloads `conf.d`, SIGINT/SIGTERM shut down) and turns the result into an exit code.

pub mod config;
pub mod fork_cli;

use std::sync::Arc;

use discovery_core::{FileBackend, Key, KvView, Result};
use discovery_render::confd::options::ConfdOptions;
use discovery_render::confd::runner::ConfdRunner;
use discovery_render::confd::validate;

use crate::backend::{open_kv, table_factory, BackendSpec};
use crate::goflags::FlagError;
use crate::ops::Ops;
use crate::signals::{Exit, Signals};
use config::ConfdConfig;

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
    crate::logging::init_as(&cfg.log_level, cfg.fork.json_logs);
    match run(&cfg).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("confd: {e}");
            1
        }
    }
}

/// Runs the configured mode to completion: `-onetime` until its pass is done, the other modes
/// until SIGINT or SIGTERM (or a watch lost for longer than `-watch-grace`).
pub async fn run(cfg: &ConfdConfig) -> Result<()> {
    let options = cfg.options()?;
    if cfg.check_config || cfg.validate {
        return check(cfg, &options).await;
    }
    let spec = BackendSpec::from_confd(cfg);
    if cfg.fork.preflight {
        return preflight(cfg, &options, &spec).await;
    }
    let started = || tracing::info!(backend = %cfg.backend, nodes = ?cfg.nodes, confdir = %cfg.confdir.display(), "starting confd");
    if cfg.onetime {
        let kv = open_kv(&spec).await?;
        started();
        return ConfdRunner::new(options, kv)
            .backend_factory(table_factory(cfg.gateway))
            .run()
            .await;
    }
    let mut signals = Signals::new()?;
    let ops = Ops::start(&cfg.ops, &options.health).await?;
    let Some(kv) = open_with_retry(cfg, &spec, &mut signals).await? else {
        ops.stopping();
        return Ok(());
    };
    started();
    let mut handle = ConfdRunner::new(options, kv)
        .backend_factory(table_factory(cfg.gateway))
        .start();
    loop {
        tokio::select! {
            result = &mut handle => return result,
            sig = signals.next() => match sig {
                Exit::Reload => {
                    tracing::info!("SIGHUP: reloading conf.d");
                    ops.reloading();
                    handle.reload();
                    ops.reloaded();
                }
                Exit::Signal => {
                    ops.stopping();
                    return handle.shutdown().await;
                }
            },
        }
    }
}

/// `-check-config` and `-validate` (abtreece/confd's): no backend, nothing written; each problem
/// is printed to stderr, and the result is an error counting them.
async fn check(cfg: &ConfdConfig, options: &ConfdOptions) -> Result<()> {
    let only = cfg.resource.as_deref();
    let mut problems = Vec::new();
    if cfg.check_config {
        problems.extend(validate::check_config(options, only));
    }
    if cfg.validate {
        let mock = cfg
            .mock_data
            .as_ref()
            .map(|p| FileBackend::new(vec![p.clone()]));
        if let Some(kv) = &mock {
            // A missing or malformed file is one clear error, not one per resource.
            kv.list(&[Key::new("/")?]).await?;
        }
        problems.extend(
            validate::validate(options, only, mock.as_ref().map(|m| m as &dyn KvView)).await,
        );
    }
    for p in &problems {
        eprintln!("{p}");
    }
    match problems.len() {
        0 => Ok(()),
        n => Err(discovery_core::Error::invalid_config(
            "conf.d",
            format!("{n} problem(s) found"),
        )),
    }
}

/// abtreece/confd's `-preflight`: connects to the backend and reads every resource's keys once,
/// within `-preflight-timeout` (default 10 s). Nothing is rendered or written.
async fn preflight(cfg: &ConfdConfig, options: &ConfdOptions, spec: &BackendSpec) -> Result<()> {
    let limit = cfg
        .fork
        .preflight_timeout
        .unwrap_or(std::time::Duration::from_secs(10));
    let checks = async {
        let kv = open_kv(spec).await?;
        validate::preflight(options, kv.as_ref()).await
    };
    let resources = tokio::time::timeout(limit, checks).await.map_err(|_| {
        discovery_core::Error::invalid_config(
            "preflight",
            format!("the backend did not answer within {limit:?}"),
        )
    })??;
    tracing::info!(backend = %spec.kind, resources, "preflight passed");
    Ok(())
}

/// Connects to the backend, retrying with backoff until it answers (watch and interval modes:
/// confd must come up before its backend does). `None` when a signal asked to stop first.
async fn open_with_retry(
    cfg: &ConfdConfig,
    spec: &BackendSpec,
    signals: &mut Signals,
) -> Result<Option<Arc<dyn KvView>>> {
    let backoff = discovery_core::Backoff::new(
        cfg.fork
            .retry_base_delay
            .unwrap_or(std::time::Duration::from_millis(250)),
        cfg.fork
            .retry_max_delay
            .unwrap_or(std::time::Duration::from_secs(10)),
    );
    let mut attempt = 0u32;
    loop {
        match open_kv(spec).await {
            Ok(kv) => return Ok(Some(kv)),
            Err(e) if e.is_retryable() => {
                let delay = backoff.delay(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(backend = %spec.kind, nodes = ?spec.nodes, error = %e,
                    retry_in_ms = delay.as_millis() as u64, "backend unreachable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    sig = signals.next() => if sig == Exit::Signal { return Ok(None) },
                }
            }
            Err(e) => return Err(e),
        }
    }
}
