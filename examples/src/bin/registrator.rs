//! gliderlabs/registrator on the discovery library: registers the published ports of this Docker
//! host's containers into etcd or Consul, following the engine's events.
//!
//! Run with: `cargo run -p discovery-examples --bin registrator -- -ttl 15s -resync 30 -cleanup etcd://127.0.0.1:2379/services`
//!
//! Registry URIs: `etcd://host:port/prefix`, `consul://host:port`, `consul-tls://host:port`,
//! `memory://` (see `discovery_examples::registrator::connect`).

use std::time::Duration;

use discovery_core::registrator::{
    hostname, run, service::split_tags, Config, Conventions, Deregister, Engine,
};
use discovery_core::{Error, RegisterOptions, Result};
use discovery_examples::goflags::{parse_duration, parse_or_exit, FlagSet, Kind};
use discovery_examples::registrator::{connect, Retry};

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
        "at start and every resync, remove services of this host whose container is gone",
    )
    .define(
        "deregister",
        Kind::Value,
        "deregister exited services \"always\" (default) or \"on-success\"",
    )
    .define(
        "useIpFromLabel",
        Kind::Value,
        "advertise the IP found in this container label, when present",
    )
    .define(
        "retry-attempts",
        Kind::Value,
        "retries of the first connection to the registry (-1: forever; default 0)",
    )
    .define(
        "retry-interval",
        Kind::Value,
        "milliseconds between connection attempts (default 2000)",
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
    discovery_examples::ops::define(&mut f);
    discovery_examples::discover::define(&mut f);
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

/// An integer flag.
fn int_flag(f: &FlagSet, flag: &str) -> Result<Option<i64>> {
    f.value(flag)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                Error::invalid_config(format!("-{flag}"), format!("{v:?} is not an integer"))
            })
        })
        .transpose()
}

/// `-retry-attempts` and `-retry-interval`, checked as registrator checks them.
fn retry(f: &FlagSet) -> Result<Retry> {
    let mut r = Retry::default();
    match int_flag(f, "retry-attempts")? {
        None => {}
        Some(-1) => r.attempts = None,
        Some(n) => {
            r.attempts = Some(u32::try_from(n).map_err(|_| {
                Error::invalid_config("-retry-attempts", "must be -1 (forever) or at least 0")
            })?)
        }
    }
    if let Some(ms) = int_flag(f, "retry-interval")? {
        let ms = u64::try_from(ms)
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| Error::invalid_config("-retry-interval", "must be greater than 0"))?;
        r.interval = Duration::from_millis(ms);
    }
    Ok(r)
}

async fn main_inner(f: &FlagSet) -> Result<()> {
    let uri = match f.rest.as_slice() {
        [uri] => uri,
        [] => {
            return Err(Error::invalid_config(
                "registry URI",
                "missing: registrator [flags] etcd://host:port/prefix | consul://host:port",
            ))
        }
        [_, extra @ ..] => {
            return Err(Error::invalid_config(
                "registry URI",
                format!("extra arguments {extra:?}: options must come before the registry URI"),
            ))
        }
    };
    let deregister: Deregister = f.value("deregister").unwrap_or("always").parse()?;
    let retry = retry(f)?;
    let ttl = match f.value("ttl") {
        Some(v) => seconds_or_duration("ttl", v)?,
        None => Duration::from_secs(15),
    };
    // Every registration would be refused (the library's floor is 1 s): say so at once.
    if let Err(Error::InvalidConfig { reason, .. }) = RegisterOptions::with_ttl(ttl).validate() {
        let given = f.value("ttl").unwrap_or_default();
        return Err(Error::invalid_config(
            "-ttl",
            format!("{given:?}: {reason}"),
        ));
    }
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
            ip_from_label: f
                .value("useIpFromLabel")
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        },
        ttl,
        resync,
        deregister,
        cleanup: f.bool("cleanup") == Some(true),
        health: Default::default(),
    };
    let ops_flags = discovery_examples::ops::read(f)
        .map_err(|e| Error::invalid_config("flags", e.to_string()))?;
    let ops = discovery_examples::ops::Ops::start(&ops_flags, &config.health).await?;
    let engine = Engine::connect()?;
    let backend = connect(uri, retry, &discovery_examples::discover::read(f)).await?;
    let mut signals = discovery_examples::signals::Signals::new()?;
    run(engine, backend, config, async move {
        // SIGHUP has nothing to reload here: keep running.
        while !matches!(
            signals.next().await,
            discovery_examples::signals::Exit::Signal
        ) {}
        ops.stopping();
    })
    .await
}
