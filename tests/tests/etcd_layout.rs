//! The seeds' plain layout on etcd (`/test/apache-8001 = 172.17.8.101:8001`) and namespaces, on
//! one server shared by the tests of this file.

use std::time::Duration;

use discovery_core::{
    Change, Codec, Error, Key, KvStore, KvView, Layout, RegisterOptions, Registry, ServiceInstance,
    WatchEvent, Watcher,
};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::unique;
use futures::StreamExt;

const GUARD: Duration = Duration::from_secs(30);

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("key {s}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_layout_is_what_confd_templates_read() {
    let server = EtcdServer::shared().await;
    let ns = format!("/{}", unique("plain"));
    let plain = Layout::new(Key::root(), Codec::Plain);
    let backend = server.backend_with(&ns, plain).await;
    let svc = "test".parse().unwrap();

    // A seed written by hand is an instance...
    backend
        .put(&key("/test/apache-8001"), "172.17.8.101:8001".into(), None)
        .await
        .unwrap();
    let snap = backend.snapshot(&svc).await.unwrap();
    let seed = &snap.instances[&"apache-8001".parse().unwrap()];
    assert_eq!(seed.endpoint(), "172.17.8.101:8001");

    // ...and a registered instance is a plain `host:port` value a template can `getvs`.
    let me = ServiceInstance::new(
        svc.clone(),
        "apache-8002".parse().unwrap(),
        "172.17.8.102",
        Some(8002),
    );
    let reg = backend
        .register(me, RegisterOptions::with_ttl(Duration::from_secs(5)))
        .await
        .unwrap();
    let pairs = backend.list(&[key("/test")]).await.unwrap().pairs;
    let values: Vec<_> = pairs.values().filter_map(|p| p.value_str()).collect();
    assert_eq!(values, ["172.17.8.101:8001", "172.17.8.102:8002"]);

    // A bad value names its key and does not end the watch.
    let mut w = backend.watch(&svc, None).await.unwrap();
    let first = tokio::time::timeout(GUARD, w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, WatchEvent::Reset(s) if s.instances.len() == 2));
    backend
        .put(&key("/test/apache-8001"), "not-a-port:x".into(), None)
        .await
        .unwrap();
    let mut saw_error = false;
    loop {
        match tokio::time::timeout(GUARD, w.next())
            .await
            .expect("watch hung")
        {
            Some(Err(Error::InvalidData { key, .. })) => {
                assert_eq!(key, "/test/apache-8001");
                saw_error = true;
            }
            Some(Ok(WatchEvent::Changed { changes, .. })) => {
                assert!(changes.contains(&Change::Remove("apache-8001".parse().unwrap())));
                if saw_error {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        if saw_error {
            break;
        }
    }
    reg.deregister().await.unwrap();
    match tokio::time::timeout(GUARD, w.next())
        .await
        .expect("watch hung")
    {
        Some(Ok(WatchEvent::Changed { changes, .. })) => {
            assert_eq!(changes, [Change::Remove("apache-8002".parse().unwrap())]);
        }
        other => panic!("expected the deregistration, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_is_a_raw_key_prefix() {
    let server = EtcdServer::shared().await;
    let ns = format!("/{}", unique("ns"));
    let inner = server.backend(&ns).await;
    let outer = server.backend("").await;
    inner.put(&key("/a/b"), "1".into(), None).await.unwrap();
    // Stored under the namespace, visible as such without one.
    let raw = outer
        .get(&key(&format!("{ns}/a/b")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.value, "1");
    // A namespace with a trailing slash is the same namespace.
    let slash = server.backend(&format!("{ns}/")).await;
    assert_eq!(slash.get(&key("/a/b")).await.unwrap().unwrap().value, "1");
    // Keys beside the namespace (`<ns>x/...`) are not inside it.
    outer
        .put(&key(&format!("{ns}x/a/b")), "2".into(), None)
        .await
        .unwrap();
    let all = inner.list(&[Key::root()]).await.unwrap();
    assert_eq!(all.pairs.len(), 1, "{all:?}");
}
