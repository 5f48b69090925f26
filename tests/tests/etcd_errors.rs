//! Configuration and access errors on a real etcd: each is a clear, typed `Error`, fast (no hang).

use std::time::{Duration, Instant};

use discovery_core::{Error, Key, KvStore, KvView, RegisterOptions, Registry, ServiceInstance};
use discovery_etcd::{EtcdBackend, EtcdConfig, EtcdTls};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{free_port, unique};
use etcd_client::{Client, Permission};
use futures::StreamExt;

/// Every failing call must end well within this.
const FAST: Duration = Duration::from_secs(15);

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("key {s}: {e}"))
}

async fn connect_err(config: EtcdConfig) -> Error {
    let started = Instant::now();
    let result = tokio::time::timeout(FAST, EtcdBackend::connect(config))
        .await
        .expect("connect hung");
    assert!(started.elapsed() < FAST);
    match result {
        Ok(b) => panic!("connect succeeded: {b:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable_and_names_it() {
    let endpoint = format!("127.0.0.1:{}", free_port());
    let config = EtcdConfig::new([endpoint.clone()])
        .with_timeouts(Duration::from_secs(1), Duration::from_secs(1));
    let err = connect_err(config).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&endpoint), "{err}");
}

#[tokio::test]
async fn invalid_configs_name_the_setting() {
    let err = connect_err(EtcdConfig::new(Vec::<String>::new())).await;
    assert!(
        matches!(&err, Error::InvalidConfig { key, .. } if key == "endpoints"),
        "{err:?}"
    );

    let missing = "/nonexistent/discovery-ca.pem";
    let err = connect_err(EtcdConfig::default().with_tls(EtcdTls::with_ca(missing))).await;
    assert!(matches!(&err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains(missing), "{err}");

    let mut half = EtcdTls::with_ca(missing);
    half.cert = Some("/nonexistent/cert.pem".into());
    let err = connect_err(EtcdConfig::default().with_tls(half)).await;
    assert!(err.to_string().contains("key"), "{err}");

    let err = connect_err(EtcdConfig::new(["http://bad host:2379"])).await;
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");

    assert!(matches!(
        EtcdConfig::from_url("http://127.0.0.1:2379"),
        Err(Error::InvalidConfig { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_watch_fail_fast_when_etcd_is_down() {
    let server = EtcdServer::start().await;
    let backend = server.backend(&format!("/{}", unique("down"))).await;
    server.kill().await;

    let me = ServiceInstance::new(
        "web".parse().unwrap(),
        "w1".parse().unwrap(),
        "10.0.0.1",
        Some(80),
    );
    let started = Instant::now();
    let err = tokio::time::timeout(FAST, backend.register(me, RegisterOptions::default()))
        .await
        .expect("register hung")
        .expect_err("register must fail while etcd is down");
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < FAST);

    // A watch reports its failed attempts as retryable errors instead of hanging.
    let mut w = backend.watch_prefix(&key("/app"), None).await.unwrap();
    match tokio::time::timeout(FAST, w.next())
        .await
        .expect("watch hung")
    {
        Some(Err(e)) => assert!(e.is_retryable(), "{e:?}"),
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

/// Sets up auth: `root`/`rootpw`, and `reader`/`readerpw` who may only read `/ro/`.
async fn enable_auth(server: &EtcdServer) {
    let mut c = Client::connect([server.endpoint()], None).await.unwrap();
    c.user_add("root", "rootpw", None).await.unwrap();
    c.user_grant_role("root", "root").await.unwrap();
    c.role_add("ro").await.unwrap();
    c.role_grant_permission("ro", Permission::read("/ro/").with_prefix())
        .await
        .unwrap();
    c.user_add("reader", "readerpw", None).await.unwrap();
    c.user_grant_role("reader", "ro").await.unwrap();
    c.auth_enable().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_typed_and_never_show_the_password() {
    let server = EtcdServer::start().await;
    enable_auth(&server).await;

    let wrong = server.config("").with_user("root", "not-the-password");
    let err = connect_err(wrong).await;
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-password"), "{err}");
    assert!(!err.is_retryable());

    let root = EtcdBackend::connect(server.config("").with_user("root", "rootpw"))
        .await
        .unwrap();
    assert!(!format!("{root:?}").contains("rootpw"));
    root.put(&key("/ro/a"), "1".into(), None).await.unwrap();
    root.put(&key("/secret/x"), "1".into(), None).await.unwrap();

    let reader = EtcdBackend::connect(server.config("").with_user("reader", "readerpw"))
        .await
        .unwrap();
    assert_eq!(reader.get(&key("/ro/a")).await.unwrap().unwrap().value, "1");
    let err = reader
        .put(&key("/ro/b"), "2".into(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { key: Some(k), .. } if k == "/ro/b"),
        "{err:?}"
    );
    let err = reader.get(&key("/secret/x")).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");

    // Lists name the prefix refused: one prefix (plain ranges), several (one transaction).
    assert_eq!(reader.list(&[key("/ro/")]).await.unwrap().pairs.len(), 1);
    let err = reader.list(&[key("/secret")]).await.unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { key: Some(k), .. } if k == "/secret"),
        "{err:?}"
    );
    let err = reader
        .list(&[key("/ro/"), key("/secret")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { key: Some(k), .. } if k.contains("/secret")),
        "{err:?}"
    );

    // A watch the user may not read ends with PermissionDenied (not an endless retry).
    let mut w = reader.watch_prefix(&key("/secret"), None).await.unwrap();
    match tokio::time::timeout(FAST, w.next())
        .await
        .expect("watch hung")
    {
        Some(Err(Error::PermissionDenied { .. })) => {}
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    let end = tokio::time::timeout(FAST, w.next())
        .await
        .expect("watch hung");
    assert!(
        end.is_none(),
        "the stream must end after a fatal error: {end:?}"
    );
}
