//! The seeds' sidekick: keeps `host:port` registered under a key with a TTL while the app is up.
//!
//! Run with: `cargo run -p discovery-examples --bin register -- -backend etcd://127.0.0.1:2379 -key /test/apache-8001 -value 172.17.8.101:8001 -ttl 10s -probe tcp://172.17.8.101:8001`

use std::time::Duration;

use discovery_examples::backend::{open, BackendSpec};
use discovery_examples::goflags::{parse_duration, parse_or_exit, FlagSet, Kind};
use discovery_examples::register::{instance_for_key, run, Probe};

#[tokio::main]
async fn main() {
    let mut f = FlagSet::new("register");
    f.define(
        "backend",
        Kind::Value,
        "backend URL: etcd://host:port, consul://host:port or memory:// (default etcd://: ETCDCTL_ENDPOINTS and the other variables, else 127.0.0.1)",
    )
    .define(
        "key",
        Kind::Value,
        "key to register under: /<service>/<id> or /<root>/<service>/<id>",
    )
    .define(
        "value",
        Kind::Value,
        "host:port (or a JSON instance with -json)",
    )
    .define(
        "json",
        Kind::Bool,
        "the value is a JSON instance ({\"address\":..,\"port\":..,\"tags\":[..],\"meta\":{..}})",
    )
    .define(
        "ttl",
        Kind::Value,
        "time to live of the registration (default 10s)",
    )
    .define(
        "probe",
        Kind::Value,
        "register only while tcp://host:port or http://host:port/path answers",
    )
    .define(
        "probe-interval",
        Kind::Value,
        "how often to probe (default 2s)",
    )
    .define("log-level", Kind::Value, "log level (default info)");
    discovery_examples::ops::define(&mut f);
    discovery_examples::discover::define(&mut f);
    parse_or_exit(&mut f);
    discovery_examples::logging::init(f.value("log-level").unwrap_or("info"));
    if let Err(e) = main_inner(&f).await {
        eprintln!("register: {e}");
        std::process::exit(1);
    }
}

async fn main_inner(f: &FlagSet) -> discovery_core::Result<()> {
    let need = |name: &str| {
        f.value(name)
            .map(str::to_owned)
            .ok_or_else(|| discovery_core::Error::invalid_config(format!("-{name}"), "is required"))
    };
    let mut spec = BackendSpec::from_url(f.value("backend").unwrap_or("etcd://"))?;
    discovery_examples::discover::read(f).apply(&mut spec);
    let (layout, instance) =
        instance_for_key(&need("key")?, &need("value")?, f.bool("json") == Some(true))?;
    let ttl = match f.value("ttl") {
        Some(v) => parse_duration(v).ok_or_else(|| {
            discovery_core::Error::invalid_config("-ttl", format!("{v:?} is not a duration"))
        })?,
        None => Duration::from_secs(10),
    };
    // The library's rule (at least 1 s), checked before any backend is opened.
    if let Err(discovery_core::Error::InvalidConfig { reason, .. }) =
        discovery_core::RegisterOptions::with_ttl(ttl).validate()
    {
        let given = f.value("ttl").unwrap_or_default();
        return Err(discovery_core::Error::invalid_config(
            "-ttl",
            format!("{given:?}: {reason}"),
        ));
    }
    let probe = match f.value("probe") {
        Some(p) => {
            let every = f
                .value("probe-interval")
                .and_then(parse_duration)
                .unwrap_or(Duration::from_secs(2));
            Some((Probe::parse(p)?, every))
        }
        None => None,
    };
    let ops_flags = discovery_examples::ops::read(f)
        .map_err(|e| discovery_core::Error::invalid_config("flags", e.to_string()))?;
    let health = discovery_core::health::HealthRegistry::new();
    let ops = discovery_examples::ops::Ops::start(&ops_flags, &health).await?;
    let opened = open(&spec, layout).await?;
    let result = run(opened.registry.as_ref(), instance, ttl, probe, &health).await;
    ops.stopping();
    result
}
