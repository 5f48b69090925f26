//! gliderlabs/registrator on the discovery library: registers the published ports of this Docker
//! host's containers into etcd or Consul, following the engine's events.
//!
//! Run with: `cargo run -p discovery-examples --bin registrator -- -ttl 15s -resync 30 etcd://127.0.0.1:2379/services`

use std::sync::Arc;
use std::time::Duration;

use discovery_core::{Codec, Error, Key, Layout, Result};
use discovery_examples::backend::{open, BackendSpec};
use discovery_examples::goflags::{parse_duration, parse_or_exit, FlagSet, Kind};
use discovery_examples::registrator::{
    hostname, run, service::split_tags, Config, Conventions, Engine,
};

#[tokio::main]
async fn main() {
    let mut f = FlagSet::new("registrator");
    f.define(
        "ip",
        Kind::Value,
        "IP address to advertise for published ports",
    )
    .define(
        "internal",
        Kind::Bool,
        "register container IPs and exposed ports instead of published ones",
    )
    .define(
        "explicit",
        Kind::Bool,
        "only register containers with SERVICE_NAME",
    )
    .define(
        "tags",
        Kind::Value,
        "comma-separated tags added to every service",
    )
    .define(
        "resync",
        Kind::Value,
        "re-list the containers every N seconds (0: never)",
    )
    .define(
        "cleanup",
        Kind::Bool,
        "accepted for compatibility: every resync removes services whose container is gone",
    )
    .define(
        "ttl",
        Kind::Value,
        "time to live of the registrations (default 15s; a number is seconds)",
    )
    .define(
        "hostname",
        Kind::Value,
        "host name used in service ids (default: this host's)",
    )
    .define("log-level", Kind::Value, "log level (default info)");
    parse_or_exit(&mut f);
    discovery_examples::logging::init(f.value("log-level").unwrap_or("info"));
    if let Err(e) = main_inner(&f).await {
        eprintln!("registrator: {e}");
        std::process::exit(1);
    }
}

/// A duration given as seconds (`15`) or Go syntax (`15s`).
fn seconds_or_duration(flag: &str, v: &str) -> Result<Duration> {
    v.parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| parse_duration(v))
        .ok_or_else(|| {
            Error::invalid_config(format!("-{flag}"), format!("{v:?} is not a duration"))
        })
}

async fn main_inner(f: &FlagSet) -> Result<()> {
    let uri = f.rest.first().ok_or_else(|| {
        Error::invalid_config(
            "registry URI",
            "missing: registrator [flags] etcd://host:port/prefix | consul://host:port",
        )
    })?;
    let spec = BackendSpec::from_url(uri)?;
    let prefix = uri
        .split_once("://")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(_, p)| p.trim_matches('/'));
    let root = Key::new(format!("/{}", prefix.unwrap_or("")))?;
    let opened = open(&spec, Layout::new(root, Codec::Plain)).await?;
    let ttl = match f.value("ttl") {
        Some(v) => seconds_or_duration("ttl", v)?,
        None => Duration::from_secs(15),
    };
    let resync = match f.value("resync") {
        Some(v) => Some(seconds_or_duration("resync", v)?).filter(|d| !d.is_zero()),
        None => None,
    };
    let config = Config {
        conventions: Conventions {
            hostname: f
                .value("hostname")
                .map(str::to_owned)
                .unwrap_or_else(hostname),
            ip: f.value("ip").map(str::to_owned),
            internal: f.bool("internal") == Some(true),
            explicit: f.bool("explicit") == Some(true),
            tags: f.value("tags").map(split_tags).unwrap_or_default(),
        },
        ttl,
        resync,
    };
    let engine = Engine::connect()?;
    let registry: Arc<dyn discovery_core::Registry> = opened.registry;
    let mut signals = discovery_examples::confd::watch::Signals::new()?;
    run(engine, registry, config, async move {
        // SIGHUP has nothing to reload here: keep running.
        while !matches!(
            signals.next().await,
            discovery_examples::confd::watch::Exit::Signal
        ) {}
    })
    .await
}
