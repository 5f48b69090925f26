//! Prints a service's or a key prefix's changes as they happen.
//!
//! Run with: `cargo run -p discovery-examples --bin watch -- -backend etcd://127.0.0.1:2379 -prefix /test`
//! or `... -service test -root / -plain` for the instances of a service.

use discovery_core::{Change, Codec, Key, KvChange, KvEvent, Layout, WatchEvent};
use discovery_examples::backend::{open, BackendSpec};
use discovery_examples::goflags::{parse_or_exit, FlagSet, Kind};
use futures::StreamExt;

#[tokio::main]
async fn main() {
    let mut f = FlagSet::new("watch");
    f.define(
        "backend",
        Kind::Value,
        "backend URL: etcd://host:port, consul://host:port or memory:// (default etcd://: ETCDCTL_ENDPOINTS and the other variables, else 127.0.0.1)",
    )
    .define("prefix", Kind::Value, "watch every key under this prefix")
    .define(
        "service",
        Kind::Value,
        "watch the instances of this service",
    )
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
    .define("log-level", Kind::Value, "log level (default warn)");
    discovery_examples::discover::define(&mut f);
    parse_or_exit(&mut f);
    discovery_examples::logging::init(f.value("log-level").unwrap_or("warn"));
    if let Err(e) = run(&f).await {
        eprintln!("watch: {e}");
        std::process::exit(1);
    }
}

async fn run(f: &FlagSet) -> discovery_core::Result<()> {
    let mut spec = BackendSpec::from_url(f.value("backend").unwrap_or("etcd://"))?;
    discovery_examples::discover::read(f).apply(&mut spec);
    let root = Key::new(f.value("root").unwrap_or("/services"))?;
    let codec = if f.bool("plain") == Some(true) {
        Codec::Plain
    } else {
        Codec::Json
    };
    let opened = open(&spec, Layout::new(root, codec)).await?;
    if let Some(service) = f.value("service") {
        let mut s = opened.watcher.watch(&service.parse()?, None).await?;
        while let Some(ev) = s.next().await {
            match ev {
                Ok(WatchEvent::Reset(snap)) => {
                    println!(
                        "@{} reset: {} instance(s)",
                        snap.revision,
                        snap.instances.len()
                    );
                    for i in snap.instances.values() {
                        println!("  {} {}", i.id, i.endpoint());
                    }
                }
                Ok(WatchEvent::Changed { revision, changes }) => {
                    for c in changes {
                        match c {
                            Change::Upsert(i) => {
                                println!("@{revision} up   {} {}", i.id, i.endpoint())
                            }
                            Change::Remove(id) => println!("@{revision} down {id}"),
                        }
                    }
                }
                Ok(_) => {}
                Err(e) if e.is_retryable() => eprintln!("(retrying: {e})"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
        return Ok(());
    }
    let prefix = Key::new(f.value("prefix").unwrap_or("/"))?;
    let mut s = opened.kv.watch_prefix(&prefix, None).await?;
    while let Some(ev) = s.next().await {
        match ev {
            Ok(KvEvent::Reset(snap)) => {
                println!("@{} reset: {} key(s)", snap.revision, snap.pairs.len());
                for p in snap.pairs.values() {
                    println!("  {} = {}", p.key, String::from_utf8_lossy(&p.value));
                }
            }
            Ok(KvEvent::Changed { revision, changes }) => {
                for c in changes {
                    match c {
                        KvChange::Put(p) => println!(
                            "@{revision} put {} = {}",
                            p.key,
                            String::from_utf8_lossy(&p.value)
                        ),
                        KvChange::Delete(k) => println!("@{revision} del {k}"),
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.is_retryable() => eprintln!("(retrying: {e})"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(())
}
