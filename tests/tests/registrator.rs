//! `registrator` end to end with the real Docker engine and a real etcd or Consul: containers
//! started from the project's etcd image appear (in etcd under `<prefix>/<name>/<id> = ip:port`),
//! disappear when they stop, expire after the TTL when registrator is killed, and come back when it
//! restarts.

use std::process::{Command, Stdio};
use std::time::Duration;

use discovery_core::{Codec, Health, Key, Layout, ServiceInstance, ServiceName, Watcher};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::{EtcdServer, DEFAULT_IMAGE};
use discovery_tests::util::{
    docker, docker_available, docker_image_exists, eventually, on_exit, unique,
};

const HOSTNAME: &str = "regtest-host";
const LIMIT: Duration = Duration::from_secs(30);

/// Containers removed when dropped (and when the process exits, however it exits).
struct Containers(Vec<String>);

impl Containers {
    fn run(&mut self, name: &str, service: &str, tags: &str) -> u16 {
        on_exit(&format!("docker rm -f {name} >/dev/null 2>&1"));
        self.0.push(name.to_owned());
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "-e",
            &format!("SERVICE_NAME={service}"),
            "-e",
            &format!("SERVICE_TAGS={tags}"),
            "-e",
            "SERVICE_REGION=test",
            "-p",
            "127.0.0.1::2379",
            DEFAULT_IMAGE,
            "--listen-client-urls",
            "http://0.0.0.0:2379",
            "--advertise-client-urls",
            "http://127.0.0.1:2379",
        ]);
        let mapped = docker(&["port", name, "2379/tcp"]);
        let port = mapped
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        port.unwrap_or_else(|| panic!("unexpected `docker port` output {mapped:?}"))
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = Command::new("docker")
                .args(["rm", "-f", c])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn start_registrator(uri: &str) -> ChildGuard {
    let child = Command::new(bin("registrator"))
        .args([
            "-ttl",
            "3s",
            "-resync",
            "2",
            "-explicit",
            "-hostname",
            HOSTNAME,
            "-log-level",
            "info",
            uri,
        ])
        .spawn()
        .expect("cannot start registrator");
    ChildGuard(child)
}

async fn instances(reader: &dyn Watcher, service: &str) -> Vec<ServiceInstance> {
    let name = ServiceName::new(service).unwrap();
    match reader.snapshot(&name).await {
        Ok(s) => s.instances.into_values().collect(),
        Err(_) => Vec::new(),
    }
}

/// The passing instance of `service`, if there is one.
async fn passing(reader: &dyn Watcher, service: &str) -> Option<ServiceInstance> {
    instances(reader, service)
        .await
        .into_iter()
        .find(|i| i.health == Health::Passing)
}

/// Runs the scenario against `uri`, reading through `reader`; returns the first container's
/// registered instance.
async fn scenario(uri: &str, reader: &dyn Watcher) -> (Vec<ServiceInstance>, String, u16) {
    assert!(docker_available(), "this test needs the Docker engine");
    assert!(
        docker_image_exists(DEFAULT_IMAGE),
        "build {DEFAULT_IMAGE} with scripts/etcd-image.sh"
    );
    let (svc_a, svc_b) = (unique("rega"), unique("regb"));
    let (name_a, name_b) = (unique("regc-a"), unique("regc-b"));

    let mut containers = Containers(Vec::new());
    let mut registrator = start_registrator(uri);
    let port_a = containers.run(&name_a, &svc_a, "primary,v1");
    let port_b = containers.run(&name_b, &svc_b, "replica");

    // Both appear with the published host address and port, under the registrator's id.
    let mut found = Vec::new();
    for (svc, name, port) in [(&svc_a, &name_a, port_a), (&svc_b, &name_b, port_b)] {
        let inst = eventually(&format!("{svc} registered"), LIMIT, || passing(reader, svc)).await;
        assert_eq!(inst.id.as_str(), format!("{HOSTNAME}:{name}:2379"));
        assert_eq!(inst.address, "127.0.0.1");
        assert_eq!(inst.port, Some(port));
        found.push(inst);
    }

    // Stopping a container removes its instance; the other stays.
    docker(&["stop", "-t", "1", &name_b]);
    eventually(
        &format!("{svc_b} deregistered"),
        Duration::from_secs(10),
        || async { instances(reader, &svc_b).await.is_empty().then_some(()) },
    )
    .await;
    assert!(
        passing(reader, &svc_a).await.is_some(),
        "the running container stays registered"
    );

    // A killed registrator cannot deregister: its instances expire after the TTL.
    registrator.0.kill().expect("kill registrator");
    let _ = registrator.0.wait();
    eventually(&format!("{svc_a} expired"), LIMIT, || async {
        passing(reader, &svc_a).await.is_none().then_some(())
    })
    .await;

    // Restarted, it registers the running container again (and not the stopped one).
    registrator = start_registrator(uri);
    let back = eventually(&format!("{svc_a} registered again"), LIMIT, || {
        passing(reader, &svc_a)
    })
    .await;
    assert_eq!(back.port, Some(port_a));
    assert!(
        instances(reader, &svc_b).await.is_empty(),
        "a stopped container is not registered"
    );

    // A clean shutdown deregisters at once.
    drop(registrator);
    eventually(
        &format!("{svc_a} deregistered on shutdown"),
        LIMIT,
        || async { instances(reader, &svc_a).await.is_empty().then_some(()) },
    )
    .await;
    (found, svc_a, port_a)
}

#[tokio::test(flavor = "multi_thread")]
async fn registrator_follows_containers_into_etcd() {
    let etcd = EtcdServer::start().await;
    let prefix = unique("registrator");
    let layout = Layout::new(Key::new(format!("/{prefix}")).unwrap(), Codec::Plain);
    let reader = EtcdBackend::connect(EtcdConfig::new([etcd.endpoint()]).with_layout(layout))
        .await
        .expect("connect to etcd");
    let uri = format!("etcd://{}/{prefix}", etcd.endpoint());
    let (found, svc_a, port_a) = scenario(&uri, &reader).await;
    // The seeds' layout: `<prefix>/<name>/<id> = ip:port` (checked through the watcher's decode,
    // and here on the raw key the registration wrote, now deleted).
    assert_eq!(found[0].service.as_str(), svc_a);
    assert_eq!(found[0].endpoint(), format!("127.0.0.1:{port_a}"));
    let key = Key::new(format!("/{prefix}/{svc_a}/{}", found[0].id)).unwrap();
    assert!(
        discovery_core::KvView::get(&reader, &key)
            .await
            .unwrap()
            .is_none(),
        "deregistered key is deleted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registrator_follows_containers_into_consul() {
    let consul = ConsulServer::start().await;
    let reader = consul.backend(None);
    let uri = format!(
        "consul://{}",
        consul.address().trim_start_matches("http://")
    );
    let (found, _, _) = scenario(&uri, &reader).await;
    // Consul keeps SERVICE_TAGS as tags and other SERVICE_* keys as metadata.
    let tags: Vec<&str> = found[0].tags.iter().map(String::as_str).collect();
    assert_eq!(tags, ["primary", "v1"]);
    assert_eq!(
        found[1].tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["replica"]
    );
    assert_eq!(
        found[0].meta.get("region").map(String::as_str),
        Some("test")
    );
}
