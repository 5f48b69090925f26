//! The seeds' scenario on the in-memory backend, with no server: three app instances register
//! `host:port` under `/test` with a TTL, a watcher follows them, the nginx upstream block is
//! rendered from the confd template `{{range getvs "/test/*"}}server {{.}};{{end}}`, one
//! instance leaves, and the re-rendered config and its diff are shown.
//!
//! Run with: `cargo run -p discovery-examples --no-default-features --bin quickstart`

use std::sync::Arc;
use std::time::Duration;

use discovery_core::{
    Change, Codec, Key, KvView, Layout, MemoryBackend, RegisterOptions, Registry, RenderData,
    Renderer, ServiceInstance, Snapshot, WatchEvent, Watcher,
};
use discovery_render::sync::unified_diff;
use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
use futures::StreamExt;

const TEMPLATE: &str = r#"upstream apache {
{{- range getvs "/test/*"}}
    server {{.}};
{{- end}}
}
"#;

#[tokio::main]
async fn main() -> discovery_core::Result<()> {
    // The seeds' plain layout: /test/<id> = host:port, where "test" is the service.
    let backend = MemoryBackend::with_layout(Layout::new(Key::root(), Codec::Plain));
    let service = "test".parse()?;

    println!("== a watcher follows service `test` (first event: the full, empty state)");
    let mut events = backend.watch(&service, None).await?;
    let mut view = Snapshot::default();
    describe(&mut view, events.next().await);

    println!("\n== three instances register with a 10 s TTL (kept alive by their guards)");
    let ttl = RegisterOptions::with_ttl(Duration::from_secs(10));
    let mut guards = Vec::new();
    for (id, port) in [
        ("apache-8001", 8001),
        ("apache-8002", 8002),
        ("apache-8003", 8003),
    ] {
        let instance =
            ServiceInstance::new(service.clone(), id.parse()?, "172.17.8.101", Some(port));
        guards.push(backend.register(instance, ttl.clone()).await?);
        describe(&mut view, events.next().await);
    }

    let template = Template::parse(
        TEMPLATE,
        TemplateOptions::new(Dialect::Confd).name("nginx.conf.tmpl"),
    )?;
    let resource = ConfdTemplate::new(template, "/", vec!["/test".into()]);
    let render = |kv| -> discovery_core::Result<String> {
        Ok(resource.render(&RenderData::from_kv(Arc::new(kv)))?.output)
    };

    println!("\n== the confd template\n{TEMPLATE}");
    let before = render(backend.list(&[Key::new("/test")?]).await?)?;
    println!("== renders (etcd keys: /test/apache-800{{1,2,3}})\n{before}");

    println!(
        "== apache-8002 leaves (deregistered; a crash would end the same way once the TTL passes)"
    );
    let leaving = guards.remove(1);
    leaving.deregister().await?;
    describe(&mut view, events.next().await);

    let after = render(backend.list(&[Key::new("/test")?]).await?)?;
    println!("\n== re-rendered\n{after}");
    println!(
        "== diff\n{}",
        unified_diff(
            std::path::Path::new("nginx.conf"),
            before.as_bytes(),
            after.as_bytes()
        )
    );
    assert_eq!(
        view,
        backend.snapshot(&service).await?,
        "the folded watch equals the snapshot"
    );
    println!(
        "the watcher's folded view equals the backend's snapshot ({} instances)",
        view.instances.len()
    );
    Ok(())
}

fn describe(view: &mut Snapshot, event: Option<discovery_core::Result<WatchEvent>>) {
    let Some(Ok(event)) = event else {
        println!("  (watch ended: {event:?})");
        return;
    };
    match &event {
        WatchEvent::Reset(s) => {
            println!("  @{} reset: {} instance(s)", s.revision, s.instances.len())
        }
        WatchEvent::Changed { revision, changes } => {
            for c in changes {
                match c {
                    Change::Upsert(i) => {
                        println!("  @{revision} up   {} -> {}", i.id, i.endpoint())
                    }
                    Change::Remove(id) => println!("  @{revision} down {id}"),
                }
            }
        }
        other => println!("  {other:?}"),
    }
    view.apply(event);
}
