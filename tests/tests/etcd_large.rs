//! Listing prefixes larger than one etcd reply: pages pinned to one revision, nothing lost,
//! nothing from beside the prefix.

use discovery_core::{Key, KvEvent, KvStore, KvView};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::unique;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_watch_reset_cover_a_prefix_spanning_several_pages() {
    let etcd = EtcdServer::shared().await;
    let kv = etcd.backend(&format!("/{}", unique("large"))).await;
    // More than two pages of 2,000 keys, and more than etcd-client's 4 MiB reply limit in all
    // (4,500 × ~1.1 KiB): read in one reply, this list would fail.
    const N: usize = 4_500;
    let pad = "x".repeat(1_100);
    let puts = (0..N).map(|i| {
        let kv = kv.clone();
        let pad = pad.clone();
        async move {
            let key = Key::new(format!("/big/k{i:05}")).unwrap();
            kv.put(
                &key,
                format!("10.0.{}.{}:80 {pad}", i / 256, i % 256).into(),
                None,
            )
            .await
            .unwrap();
        }
    });
    futures::stream::iter(puts)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    kv.put(&Key::new("/bigger/x").unwrap(), "beside".into(), None)
        .await
        .unwrap();

    let snap = kv.list(&[Key::new("/big").unwrap()]).await.unwrap();
    assert_eq!(snap.pairs.len(), N);
    assert!(snap.pairs.keys().all(|k| k.as_str().starts_with("/big/")));
    // Every value whole and with its own key (values of a page share one buffer).
    for (i, (key, pair)) in snap.pairs.iter().enumerate() {
        assert_eq!(key.as_str(), format!("/big/k{i:05}"));
        assert_eq!(&pair.key, key);
        assert_eq!(pair.value, format!("10.0.{}.{}:80 {pad}", i / 256, i % 256));
    }

    // Several prefixes are read in one transaction; the long one goes on in pages at the
    // transaction's revision.
    let both = kv
        .list(&[Key::new("/big").unwrap(), Key::new("/bigger").unwrap()])
        .await
        .unwrap();
    assert_eq!(both.revision, snap.revision);
    let mut expected = snap.pairs.clone();
    let beside = Key::new("/bigger/x").unwrap();
    expected.insert(beside.clone(), both.pairs[&beside].clone());
    assert_eq!(both.pairs, expected);
    assert_eq!(both.pairs[&beside].value, "beside");

    let mut watch = kv
        .watch_prefix(&Key::new("/big").unwrap(), None)
        .await
        .unwrap();
    match watch.next().await {
        Some(Ok(KvEvent::Reset(s))) => assert_eq!(s.pairs, snap.pairs),
        other => panic!("expected a Reset, got {other:?}"),
    }
}
