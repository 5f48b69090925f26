//! tower load balancing driven by discovery in a real etcd: requests follow registrations.

use std::collections::BTreeSet;
use std::time::Duration;

use discovery_core::{RegisterOptions, Registry, ServiceInstance};
use discovery_examples::balance::{balancer, request};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::unique;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn server(name: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.0 200 OK\r\n\r\n{name}").as_bytes())
                    .await;
            });
        }
    });
    (port, task)
}

async fn who_answers<S>(lb: &mut S, n: usize) -> BTreeSet<String>
where
    S: tower::Service<(), Response = String, Error = tower::BoxError>,
{
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        seen.insert(request(lb).await.expect("request through the balancer"));
    }
    seen
}

async fn until_both<S>(lb: &mut S, both: &BTreeSet<String>, what: &str)
where
    S: tower::Service<(), Response = String, Error = tower::BoxError>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while who_answers(lb, 20).await != *both {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_follow_registrations() {
    let etcd = EtcdServer::shared().await;
    let backend = etcd.backend(&format!("/{}", unique("balance"))).await;
    let (port_a, _a) = server("a").await;
    let (port_b, _b) = server("b").await;
    let svc: discovery_core::ServiceName = "echo".parse().unwrap();
    let inst = |id: &str, port| {
        ServiceInstance::new(svc.clone(), id.parse().unwrap(), "127.0.0.1", Some(port))
    };
    let opts = RegisterOptions::with_ttl(Duration::from_secs(5));
    let reg_a = backend
        .register(inst("a", port_a), opts.clone())
        .await
        .unwrap();
    let _reg_b = backend
        .register(inst("b", port_b), opts.clone())
        .await
        .unwrap();

    let mut lb = balancer(&backend, &svc, "/").await.unwrap();
    let both: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
    until_both(&mut lb, &both, "requests reaching both servers").await;

    // A deregisters: within a second every request goes to B.
    reg_a.deregister().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        who_answers(&mut lb, 20).await,
        ["b".to_owned()].into(),
        "A still gets requests a second after deregistering"
    );

    // A comes back: both again.
    let _reg_a = backend.register(inst("a", port_a), opts).await.unwrap();
    until_both(&mut lb, &both, "requests reaching both servers again").await;
}
