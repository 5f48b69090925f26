//! Endpoint discovery where it is used: in containers on a Docker network.
//!
//! - SRV records: a container runs Debian's dnsmasq (its `/etc/resolv.conf` points at it) and
//!   our `confd -watch -srv-domain disc.test`. The record `_etcd-client._tcp.disc.test` names
//!   an etcd container; confd renders its data. Then the cluster moves: that container is
//!   removed, the same member (same data volume) comes back under another name, and the record
//!   is changed to it. Every endpoint confd had now fails, so it resolves the record again and
//!   renders a change made on the moved member.
//! - The default gateway: etcd's port is published on the network's gateway address (the Docker
//!   host, as seen from the network), and `confd -onetime -gateway` with no `-node`, SRV record
//!   or variable finds it there.
//!
//! Needs a Docker engine (a missing one fails the test) and the local etcd image
//! (`scripts/etcd-image.sh`, run by `scripts/test.sh`); the image with dnsmasq and confd is
//! built from this machine's binaries and removed afterwards.

use std::path::Path;
use std::time::Duration;

use discovery_core::{Key, KvStore};
use discovery_etcd::{EtcdBackend, EtcdConfig};
use discovery_tests::bins::bin;
use discovery_tests::etcd::image_name;
use discovery_tests::image::{build, copy_with_libs};
use discovery_tests::util::{
    docker, docker_available, docker_image_exists, eventually, free_port, on_exit, unique,
};
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const SOON: Duration = Duration::from_secs(60);

const RESOURCE: &str = "[template]
src = \"app.tmpl\"
dest = \"/out/app.conf\"
keys = [\"/test\"]
";

const TEMPLATE: &str = "{{range getvs \"/test/*\"}}server {{.}};\n{{end}}";

/// Starts dnsmasq with the SRV record pointing at `$TARGET`, answering for `disc.test` itself
/// and forwarding every other name to Docker's DNS. `: > f` and `kill` are shell builtins.
const DNS_SCRIPT: &str = "#!/bin/sh
[ -f /tmp/dnsmasq.pid ] && kill $(cat /tmp/dnsmasq.pid) && sleep 0.5
exec dnsmasq --conf-file=/dev/null --no-resolv --server=127.0.0.11 --local=/disc.test/ \
  --user=root --group=root --pid-file=/tmp/dnsmasq.pid --listen-address=127.0.0.1 --bind-interfaces \
  --cache-size=0 --srv-host=_etcd-client._tcp.disc.test,$1,2379
";

const CONFD_SCRIPT: &str = "#!/bin/sh
echo 'nameserver 127.0.0.1' > /etc/resolv.conf
/bin/sh /dns.sh \"$TARGET\"
exec confd -watch -backend etcdv3 -srv-domain disc.test -confdir /etc/confd \
  -config-file /nonexistent -log-level debug
";

/// Builds the image: sh, sleep, cat, dnsmasq, confd and its conf.d.
fn build_image(name: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path().join("rootfs");
    for tool in ["/bin/sh", "/bin/sleep", "/bin/cat"] {
        copy_with_libs(Path::new(tool), &root, tool);
    }
    copy_with_libs(Path::new("/usr/sbin/dnsmasq"), &root, "/usr/sbin/dnsmasq");
    copy_with_libs(&bin("confd"), &root, "/usr/local/bin/confd");
    for d in ["out", "etc/confd/conf.d", "etc/confd/templates"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let write = |p: &str, s: &str| std::fs::write(root.join(p), s).unwrap();
    write("etc/confd/conf.d/app.toml", RESOURCE);
    write("etc/confd/templates/app.tmpl", TEMPLATE);
    write("dns.sh", DNS_SCRIPT);
    write("confd.sh", CONFD_SCRIPT);
    build(name, ctx.path());
}

/// An etcd member named `default` with its data in `volume`, reachable as `name` on `network`
/// and on `host_port` from here.
async fn start_etcd(
    name: &str,
    network: &str,
    volume: &str,
    host_port: u16,
) -> ContainerAsync<GenericImage> {
    let image = image_name();
    let (repo, tag) = image.split_once(':').unwrap();
    GenericImage::new(repo, tag)
        .with_entrypoint("/usr/local/bin/etcd")
        .with_cmd([
            "--name=default".to_owned(),
            "--data-dir=/etcd-data/member".to_owned(),
            "--listen-client-urls=http://0.0.0.0:2379".to_owned(),
            format!("--advertise-client-urls=http://{name}:2379"),
            "--listen-peer-urls=http://127.0.0.1:2380".to_owned(),
            "--initial-advertise-peer-urls=http://127.0.0.1:2380".to_owned(),
            "--initial-cluster=default=http://127.0.0.1:2380".to_owned(),
        ])
        .with_network(network)
        .with_mount(Mount::volume_mount(volume, "/etcd-data"))
        .with_mapped_port(host_port, 2379.tcp())
        .with_container_name(name)
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
}

async fn put(port: u16, key: &str, value: &str) {
    let cfg = EtcdConfig::new([format!("127.0.0.1:{port}")]);
    let kv = eventually("etcd answering", SOON, || {
        let cfg = cfg.clone();
        async move { EtcdBackend::connect(cfg).await.ok() }
    })
    .await;
    kv.put(&Key::new(key).unwrap(), value.to_owned().into(), None)
        .await
        .unwrap();
}

/// The file confd rendered in `container`, once it equals `want`; on a timeout the panic shows
/// the container's log.
async fn rendered(container: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let out = std::process::Command::new("docker")
            .args(["exec", container, "cat", "/out/app.conf"])
            .output()
            .expect("docker runs");
        if String::from_utf8_lossy(&out.stdout) == want {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let logs = std::process::Command::new("docker")
                .args(["logs", "--tail", "40", container])
                .output()
                .expect("docker runs");
            panic!(
                "timed out waiting for {container} to render {want:?}; its log:\n{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn prerequisites() {
    assert!(
        docker_available(),
        "no Docker engine answers: this test needs one (DISCOVERY_REQUIRE_DOCKER)"
    );
    let etcd_image = image_name();
    assert!(
        docker_image_exists(&etcd_image),
        "{etcd_image} is missing: run scripts/etcd-image.sh"
    );
}

/// Removes what a test made, even when it fails (the exit reaper covers a panic).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.0)
            .output();
    }
}

fn cleanup_for(id: &str, image: &str) -> Cleanup {
    let script = format!(
        "docker rm -f $(docker ps -aq --filter name={id}) ; docker network rm {id}-net ; \
         docker volume rm -f {id}-data ; docker rmi -f {image}"
    );
    on_exit(&script);
    Cleanup(script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confd_finds_etcd_by_srv_record_and_follows_it_when_the_cluster_moves() {
    prerequisites();
    let id = unique("srv");
    let image = format!("discovery-{id}:test");
    let _cleanup = cleanup_for(&id, &image);
    build_image(&image);
    let network = format!("{id}-net");
    docker(&["network", "create", &network]);
    let volume = format!("{id}-data");

    let first = format!("{id}-etcd-a");
    let port_a = free_port();
    let etcd_a = start_etcd(&first, &network, &volume, port_a).await;
    put(port_a, "/test/app1", "10.0.0.1:80").await;

    let confd = format!("{id}-confd");
    let (repo, tag) = image.split_once(':').unwrap();
    let _confd = GenericImage::new(repo, tag)
        .with_entrypoint("/bin/sh")
        .with_cmd(["/confd.sh"])
        .with_env_var("TARGET", &first)
        .with_network(&network)
        .with_container_name(&confd)
        .start()
        .await
        .expect("start confd");
    rendered(&confd, "server 10.0.0.1:80;\n").await;

    // The member moves: its container goes (the name no longer resolves), the same data comes
    // back under another name, and DNS says so.
    etcd_a.rm().await.expect("remove the first etcd container");
    let second = format!("{id}-etcd-b");
    let port_b = free_port();
    let _etcd_b = start_etcd(&second, &network, &volume, port_b).await;
    docker(&["exec", &confd, "/bin/sh", "/dns.sh", &second]);
    put(port_b, "/test/app2", "10.0.0.2:80").await;
    rendered(&confd, "server 10.0.0.1:80;\nserver 10.0.0.2:80;\n").await;
    // The log reaches `docker logs` through the engine, after the file is on the container's
    // disk, so on a loaded machine the line can trail the render by a moment.
    let moved = |l: &str| l.contains("etcd endpoints moved") && l.contains(&second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let logs = container_log(&confd);
        if logs.lines().any(moved) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "confd got there by resolving the record again; its log:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everything `container` wrote to stdout and stderr so far.
fn container_log(container: &str) -> String {
    let logs = std::process::Command::new("docker")
        .args(["logs", container])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confd_finds_etcd_on_the_default_gateway_from_a_container() {
    prerequisites();
    let id = unique("gw");
    let image = format!("discovery-{id}:test");
    let _cleanup = cleanup_for(&id, &image);
    build_image(&image);
    let network = format!("{id}-net");
    docker(&["network", "create", &network]);
    let gateway = docker(&[
        "network",
        "inspect",
        &network,
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]);
    let gateway = gateway.trim();
    assert!(!gateway.is_empty(), "the network has a gateway");

    // etcd's client port published on the gateway address only: from the network, the host.
    let etcd_image = image_name();
    let etcd = format!("{id}-etcd");
    docker(&[
        "run",
        "-d",
        "--name",
        &etcd,
        "-p",
        &format!("{gateway}:2379:2379"),
        "-p",
        "127.0.0.1::2379",
        "--entrypoint",
        "/usr/local/bin/etcd",
        &etcd_image,
        "--listen-client-urls=http://0.0.0.0:2379",
        &format!("--advertise-client-urls=http://{gateway}:2379"),
    ]);
    let mapped = docker(&["port", &etcd, "2379/tcp"]);
    let local = mapped
        .lines()
        .find_map(|l| l.strip_prefix("127.0.0.1:"))
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no local port in {mapped:?}"));
    put(local, "/test/app", "10.0.0.9:80").await;

    // No -node, no SRV record, no variable: without -gateway confd would try 127.0.0.1.
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        &network,
        "--name",
        &format!("{id}-confd"),
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "confd -onetime -gateway -backend etcdv3 -confdir /etc/confd -config-file /nonexistent \
         -log-level error && cat /out/app.conf",
    ]);
    // (docker() trims the output.)
    assert_eq!(out, "server 10.0.0.9:80;");
}
