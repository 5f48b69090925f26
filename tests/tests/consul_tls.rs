//! The Consul backend over HTTPS with a private CA and a client certificate (mutual TLS), against
//! a real agent that requires client certificates.

use std::time::Duration;

use discovery_consul::{ConsulBackend, TlsConfig};
use discovery_core::{Key, KvStore, KvView, RegisterOptions, Registry, ServiceInstance, Watcher};
use discovery_tests::consul::ConsulServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_a_private_ca() {
    discovery_tests::util::init_tracing();
    let server = ConsulServer::start_tls().await;
    let cfg = server
        .config()
        .with_address(server.https_address())
        .with_tls(server.tls());
    let consul = ConsulBackend::new(cfg).expect("backend");

    let k = Key::new("/tls/key").expect("key");
    let r = consul
        .put(&k, "over https".into(), None)
        .await
        .expect("put over https");
    let got = consul.get(&k).await.expect("get").expect("the key exists");
    assert_eq!(
        (got.value.as_ref(), got.mod_revision),
        (&b"over https"[..], r)
    );

    let web = "web".parse().expect("name");
    let inst = ServiceInstance::new(
        "web".parse().expect("name"),
        "w1".parse().expect("id"),
        "10.1.1.1",
        Some(80),
    );
    let reg = consul
        .register(inst, RegisterOptions::with_ttl(Duration::from_secs(10)))
        .await
        .expect("register over https");
    assert_eq!(
        consul
            .snapshot(&web)
            .await
            .expect("snapshot")
            .instances
            .len(),
        1
    );
    reg.deregister().await.expect("deregister");

    // Without the client certificate the agent refuses the connection.
    let no_client_cert = server
        .config()
        .with_address(server.https_address())
        .with_tls(TlsConfig::default().with_ca(server.tls().ca_file.expect("ca")));
    let refused = ConsulBackend::new(no_client_cert)
        .expect("backend")
        .get(&k)
        .await
        .expect_err("an agent requiring client certificates accepted none");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "the refusal does not say why: {refused}"
    );

    // Without the private CA the agent's certificate is not trusted.
    let untrusted = ConsulBackend::new(server.config().with_address(server.https_address()))
        .expect("backend")
        .get(&k)
        .await
        .expect_err("a certificate from an unknown CA was trusted");
    assert!(
        untrusted.to_string().to_lowercase().contains("certificate"),
        "the TLS failure does not say why: {untrusted}"
    );
}
