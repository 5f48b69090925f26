//! ACL tokens against a real agent with ACLs on (`default_policy = deny`): the token is sent,
//! refusals are typed errors, and the token never shows in `Debug` output.

use std::time::Duration;

use discovery_consul::ConsulBackend;
use discovery_core::{
    Error, Key, KvEvent, KvStore, KvView, RegisterOptions, Registry, ServiceInstance,
};
use discovery_tests::consul::ConsulServer;
use futures::StreamExt;

const TOKEN: &str = "3f7c1c2e-5b8a-4d7e-9a44-0c1d2e3f4a5b";

fn instance() -> ServiceInstance {
    ServiceInstance::new(
        "web".parse().expect("name"),
        "w1".parse().expect("id"),
        "10.0.0.1",
        Some(80),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sent_and_refusals_are_typed() {
    discovery_tests::util::init_tracing();
    let server = ConsulServer::start_acl(TOKEN).await;
    let k = Key::new("/acl/key").expect("key");

    // Anonymous: every operation is refused with PermissionDenied naming what was refused.
    let anonymous = server.backend(None);
    match anonymous.put(&k, "x".into(), None).await {
        Err(Error::PermissionDenied { key, .. }) => {
            assert_eq!(key.as_deref(), Some("/acl/key"))
        }
        other => panic!("an anonymous put was not refused: {other:?}"),
    }
    match anonymous.get(&k).await {
        Err(Error::PermissionDenied { .. }) => {}
        other => panic!("an anonymous get was not refused: {other:?}"),
    }
    let opts = RegisterOptions::with_ttl(Duration::from_secs(10));
    match anonymous.register(instance(), opts.clone()).await {
        Err(Error::PermissionDenied { .. }) => {}
        other => panic!("an anonymous registration was not refused: {other:?}"),
    }
    // A watch refused for good (an unknown token) ends with the error instead of retrying.
    let unknown = ConsulBackend::new(
        server
            .config()
            .with_token("00000000-0000-0000-0000-000000000000"),
    )
    .expect("backend");
    let mut w = unknown.watch_prefix(&k, None).await.expect("watch");
    let first = tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("the refused watch answered");
    assert!(
        matches!(first, Some(Err(Error::PermissionDenied { .. }))),
        "{first:?}"
    );
    assert!(
        w.next().await.is_none(),
        "the watch went on after a refusal"
    );

    // With the token: everything works, and the token is never printed.
    let cfg = server.config().with_token(TOKEN);
    assert!(!format!("{cfg:?}").contains(TOKEN));
    let consul = ConsulBackend::new(cfg).expect("backend");
    assert!(!format!("{consul:?}").contains(TOKEN));
    consul
        .put(&k, "x".into(), None)
        .await
        .expect("put with the token");
    assert_eq!(
        consul.get(&k).await.expect("get").map(|p| p.value),
        Some("x".into())
    );
    let reg = consul
        .register(instance(), opts)
        .await
        .expect("register with the token");
    let mut w = consul.watch_prefix(&k, None).await.expect("watch");
    match w.next().await {
        Some(Ok(KvEvent::Reset(s))) => assert_eq!(s.pairs[&k].value, "x"),
        other => panic!("expected the key in the first Reset, got {other:?}"),
    }
    reg.deregister().await.expect("deregister");
}
