//! The drop-in `consul-template`: the same command line and `-config` files as consul-template,
//! rendering its templates byte for byte, with one shared subscription per dependency across all
//! templates and a unified diff in `-dry` mode.

//!
//! The engine is [`discovery_render::consul_template::CtRunner`]; this module is its command
//! line: flags and config files, the exported environment, logging, signals and exit codes.

pub mod config;
mod consul_flags;
mod exec_flags;
mod log_file;
mod log_flags;
mod signals;
mod unsupported;

use discovery_consul::{ConsulBackend, ConsulConfig};
use discovery_core::{Error, Result};
use discovery_render::consul_template::{CtOptions, CtRunner, Finished, Mode};

use crate::goflags::FlagError;
use config::CtConfig;

/// Runs consul-template with `args` (without the program name); returns the exit code.
///
/// Builds its own runtime, a current-thread one: the work is waiting on sockets and rendering
/// small files, which one thread does (worker threads would each add a malloc arena). The
/// Consul variables consul-template exports (`CONSUL_HTTP_ADDR`, `CONSUL_HTTP_SSL`,
/// `CONSUL_HTTP_SSL_VERIFY`, `CONSUL_HTTP_TOKEN`) are set in the process environment first,
/// while it has one thread, so templates' `env` and commands see them.
pub fn main(args: Vec<String>) -> i32 {
    let cfg = match CtConfig::from_args(args.clone()) {
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
    if let Err(e) = log_flags::init(&cfg.log_level, &cfg.log_file, &cfg.syslog) {
        eprintln!("consul-template: {e}");
        return 1;
    }
    for d in &cfg.deprecations {
        tracing::warn!("{d}");
    }
    if cfg.parse_only {
        return parse_only(&cfg);
    }
    let consul = match consul_config(&cfg) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    export_env(&cfg, &consul);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return fail(&Error::Io {
                path: "tokio runtime".into(),
                source: e,
            })
        }
    };
    match runtime.block_on(run(cfg, consul, args)) {
        Ok(Finished::ChildExited(exit)) => {
            if exit.code() != 0 {
                eprintln!("consul-template: {exit}");
            }
            // As Go's os.Exit: the low 8 bits (a child killed by a signal is -1: 255).
            exit.code() & 0xff
        }
        Ok(_) => 0,
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> i32 {
    tracing::error!("{e}");
    eprintln!("consul-template: {e}");
    1
}

/// `-parse-only`: loads (reads and parses) every template; 0 when all parse, else 1 with an
/// error naming the first template that does not.
fn parse_only(cfg: &CtConfig) -> i32 {
    for t in &cfg.templates {
        if let Err(e) = discovery_render::consul_template::check_template(t) {
            return fail(&Error::invalid_config(
                format!("template {}", t.name()),
                e.to_string(),
            ));
        }
    }
    0
}

/// The Consul connection: CLI/config settings, else `CONSUL_HTTP_ADDR` and the other
/// variables, else the local agent.
fn consul_config(cfg: &CtConfig) -> Result<ConsulConfig> {
    let mut consul = consul_flags::consul_config(&cfg.consul, cfg.max_stale)?;
    // consul-template's `block_query_wait`; both default to 60 s.
    if let Some(w) = cfg.block_query_wait {
        consul = consul.with_wait(w);
    }
    Ok(consul)
}

fn export_env(cfg: &CtConfig, consul: &ConsulConfig) {
    let https = consul.address.starts_with("https://");
    let verify = !consul.tls.as_ref().is_some_and(|t| t.insecure_skip_verify);
    let addr = cfg
        .consul
        .address
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| {
            consul
                .address
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_owned()
        });
    std::env::set_var("CONSUL_HTTP_ADDR", addr);
    std::env::set_var("CONSUL_HTTP_SSL", if https { "true" } else { "false" });
    std::env::set_var(
        "CONSUL_HTTP_SSL_VERIFY",
        if verify { "true" } else { "false" },
    );
    if let Some(t) = &consul.token {
        std::env::set_var("CONSUL_HTTP_TOKEN", t);
    }
}

/// The runner's options from the configuration.
fn options(cfg: &CtConfig) -> CtOptions {
    let mode = if cfg.once { Mode::Once } else { Mode::Watch };
    CtOptions::new(cfg.templates.clone())
        .mode(mode)
        .dry(cfg.dry)
        .wait(cfg.wait)
        .exec(cfg.exec.clone())
        .pid_file(cfg.pid_file.clone())
        .dedup(cfg.dedup.clone())
}

/// Runs the configured mode to completion. The kill signal (`-kill-signal`, default SIGINT)
/// stops; the reload signal (`-reload-signal`, default SIGHUP) re-reads the configuration and
/// the templates in watch mode (the runner keeps its subscriptions; a bad reload keeps the
/// running set) and stops in `-once` mode. In exec mode every other signal is passed on to the
/// child; without it SIGINT and SIGTERM stop.
pub async fn run(cfg: CtConfig, consul: ConsulConfig, args: Vec<String>) -> Result<Finished> {
    let backend = ConsulBackend::new(consul)?;
    let exec = cfg.exec.is_some();
    let mut signals = signals::Listener::new(cfg.kill_signal, cfg.reload_signal, exec)?;
    let health = discovery_core::health::HealthRegistry::new();
    let ops = crate::ops::Ops::start(&cfg.ops, &health).await?;
    let mut handle = CtRunner::new(options(&cfg).health(health), backend)?.start();
    loop {
        tokio::select! {
            r = handle.wait() => return r,
            sig = signals.next() => {
                let reload = sig == cfg.reload_signal && !cfg.once;
                let stop = sig == cfg.kill_signal
                    || (sig == cfg.reload_signal && cfg.once)
                    || (!exec && (sig == discovery_render::consul_template::Signal::SIGINT
                        || sig == discovery_render::consul_template::Signal::SIGTERM));
                if stop {
                    tracing::info!(signal = %sig, "signal: stopping");
                    ops.stopping();
                    handle.shutdown();
                    return handle.wait().await;
                }
                if !reload {
                    tracing::info!(signal = %sig, "passing the signal on to the child");
                    handle.signal(sig);
                    continue;
                }
                tracing::info!("{sig}: reloading configuration and templates");
                ops.reloading();
                let reloaded = CtConfig::from_args(args.clone())
                    .map_err(|e| Error::invalid_config("config", e.to_string()));
                match reloaded {
                    // The runner logs a template that does not load and keeps the running set.
                    Ok(c) => {
                        let _ = handle.reload(options(&c)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload failed; keeping the running configuration")
                    }
                }
                ops.reloaded();
            }
        }
    }
}
