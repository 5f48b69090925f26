//! A client that spreads requests over the instances of a service discovered in etcd (or Consul,
//! or memory), with `tower::balance`. Instances join and leave as they register and go away.
//!
//! Run with: `cargo run -p discovery-examples --bin balance -- -backend etcd://127.0.0.1:2379 -service web -requests 20`

use std::time::Duration;

use discovery_core::{Codec, Key, Layout};
use discovery_examples::backend::{open, BackendSpec};
use discovery_examples::balance::{balancer, request};
use discovery_examples::goflags::{parse_duration, parse_or_exit, FlagSet, Kind};

#[tokio::main]
async fn main() {
    let mut f = FlagSet::new("balance");
    f.define(
        "backend",
        Kind::Value,
        "backend URL: etcd://host:port, consul://host:port or memory://",
    )
    .define("service", Kind::Value, "service to call")
    .define(
        "root",
        Kind::Value,
        "root of the instance layout (default /services)",
    )
    .define(
        "plain",
        Kind::Bool,
        "instances are stored as host:port (the seeds' layout)",
    )
    .define("path", Kind::Value, "HTTP path to GET (default /)")
    .define(
        "requests",
        Kind::Value,
        "number of requests (default 10; 0 = forever)",
    )
    .define(
        "every",
        Kind::Value,
        "pause between requests (default 200ms)",
    )
    .define("log-level", Kind::Value, "log level (default warn)");
    parse_or_exit(&mut f);
    discovery_examples::logging::init(f.value("log-level").unwrap_or("warn"));
    if let Err(e) = run(&f).await {
        eprintln!("balance: {e}");
        std::process::exit(1);
    }
}

async fn run(f: &FlagSet) -> Result<(), tower::BoxError> {
    let spec = BackendSpec::from_url(f.value("backend").unwrap_or("etcd://127.0.0.1:2379"))?;
    let codec = if f.bool("plain") == Some(true) {
        Codec::Plain
    } else {
        Codec::Json
    };
    let layout = Layout::new(Key::new(f.value("root").unwrap_or("/services"))?, codec);
    let opened = open(&spec, layout).await?;
    let service = f.value("service").unwrap_or("web").parse()?;
    let mut lb = balancer(
        opened.watcher.as_ref(),
        &service,
        f.value("path").unwrap_or("/"),
    )
    .await?;
    let n: u64 = f
        .value("requests")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let every = f
        .value("every")
        .and_then(parse_duration)
        .unwrap_or(Duration::from_millis(200));
    let mut i = 0u64;
    while n == 0 || i < n {
        match request(&mut lb).await {
            Ok(body) => println!("{i}: {body}"),
            Err(e) => println!("{i}: error: {e}"),
        }
        i += 1;
        tokio::time::sleep(every).await;
    }
    Ok(())
}
