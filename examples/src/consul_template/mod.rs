//! The drop-in `consul-template`: the same command line and `-config` files as consul-template,
//! rendering its templates byte for byte, with one shared subscription per dependency across all
//! templates and a unified diff in `-dry` mode.

pub mod config;
mod config_file;
pub mod run;
pub mod store;
pub mod tmpl;

use discovery_consul::{ConsulBackend, ConsulConfig};
use discovery_core::{Backoff, Error, Result};

use crate::goflags::FlagError;
use crate::signals::Exit;
use config::CtConfig;
use store::Store;
use tmpl::Tmpl;

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
    crate::logging::init(&cfg.log_level);
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
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> i32 {
    tracing::error!("{e}");
    eprintln!("consul-template: {e}");
    1
}

/// The Consul connection: CLI/config address, else `CONSUL_HTTP_ADDR`, else the local agent.
fn consul_config(cfg: &CtConfig) -> Result<ConsulConfig> {
    let mut consul = ConsulConfig::from_env()?;
    if let Some(addr) = &cfg.consul_addr {
        let url = if addr.contains("://") {
            addr.clone()
        } else {
            format!("consul://{addr}")
        };
        consul.address = ConsulConfig::from_url(&url)?.address;
    }
    if let Some(t) = &cfg.token {
        consul = consul.with_token(t.clone());
    }
    // consul-template's `block_query_wait`; both default to 60 s.
    if let Some(w) = cfg.block_query_wait {
        consul = consul.with_wait(w);
    }
    Ok(consul)
}

fn export_env(cfg: &CtConfig, consul: &ConsulConfig) {
    let https = consul.address.starts_with("https://");
    let addr = cfg.consul_addr.clone().unwrap_or_else(|| {
        consul
            .address
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned()
    });
    std::env::set_var("CONSUL_HTTP_ADDR", addr);
    std::env::set_var("CONSUL_HTTP_SSL", if https { "true" } else { "false" });
    std::env::set_var("CONSUL_HTTP_SSL_VERIFY", "true");
    if let Some(t) = &consul.token {
        std::env::set_var("CONSUL_HTTP_TOKEN", t);
    }
}

fn load_all(cfg: &CtConfig) -> Result<Vec<Tmpl>> {
    cfg.templates
        .iter()
        .map(|spec| Tmpl::load(spec.clone(), cfg.wait))
        .collect()
}

/// Runs the configured mode to completion. In watch mode `SIGHUP` re-reads the configuration
/// and the templates (keeping the subscriptions); a bad reload keeps the running set.
pub async fn run(cfg: CtConfig, consul: ConsulConfig, args: Vec<String>) -> Result<()> {
    let backend = ConsulBackend::new(consul)?;
    let mut store = Store::new(backend.clone());
    let mut templates = load_all(&cfg)?;
    tracing::info!(
        templates = templates.len(),
        once = cfg.once,
        dry = cfg.dry,
        "starting consul-template"
    );
    if cfg.once {
        preflight(&backend).await?;
        return run::once(&mut templates, &mut store, cfg.dry).await;
    }
    let mut cfg = cfg;
    loop {
        match run::watch(&mut templates, &mut store, cfg.dry).await? {
            Exit::Signal => return Ok(()),
            Exit::Reload => {
                tracing::info!("SIGHUP: reloading configuration and templates");
                match CtConfig::from_args(args.clone())
                    .map_err(|e| Error::invalid_config("config", e.to_string()))
                    .and_then(|c| load_all(&c).map(|t| (c, t)))
                {
                    Ok((c, t)) => {
                        cfg = c;
                        templates = t;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload failed; keeping the running configuration")
                    }
                }
            }
        }
    }
}

/// `-once` gives up when the agent cannot be reached after a few attempts (the shared
/// subscriptions retry forever, which suits a daemon but would hang a one-shot run).
async fn preflight(backend: &ConsulBackend) -> Result<()> {
    const ATTEMPTS: u32 = 6;
    let backoff = Backoff::new(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(4),
    );
    let mut attempt = 0;
    loop {
        match backend.services().await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() && attempt + 1 < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "Consul not reachable yet; retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
