//! The seeds' picture as containers on one Docker network: etcd; two app containers, each a tiny
//! HTTP server (Debian's nginx answering its own name) with our `register` sidekick keeping
//! `/test/<app> = <app>:8080` alive with a 3 s TTL while a TCP probe of the app passes; our
//! `confd -watch` rendering nginx's upstream block into a volume shared with an nginx container,
//! which reloads when confd's `reload_cmd` touches a stamp file in that volume.
//!
//! Requests through the nginx container reach both apps. `docker kill` of one app: within
//! TTL + 1 s every request goes to the survivor. etcd's container stopped for 10 s and started
//! again: confd's `/health` reports the outage, then recovers by itself, and the survivor is
//! still served. Images, containers, the network and the volume are removed at the end.
//!
//! Needs a Docker engine (a missing one fails the test) and the local etcd image
//! (`scripts/etcd-image.sh`, run by `scripts/test.sh`). The image with nginx, `sh`, `confd` and
//! `register` is built here from the host's Debian nginx and the binaries of this build.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use discovery_tests::bins::bin;
use discovery_tests::etcd::image_name;
use discovery_tests::image::{build, copy_with_libs};
use discovery_tests::util::{docker, docker_available, docker_image_exists, eventually, unique};
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const TTL: Duration = Duration::from_secs(3);
const SOON: Duration = Duration::from_secs(60);

/// nginx in front: proxies to the upstream block confd renders into the shared volume.
const FRONT_CONF: &str = "pid /tmp/nginx.pid;
error_log stderr warn;
events {}
http {
  access_log off;
  include /out/upstream.conf;
  server {
    listen 80;
    location / {
      proxy_pass http://apps;
      proxy_connect_timeout 1s;
      # A dead app answers 502 instead of being skipped: the test sees what confd rendered.
      proxy_next_upstream off;
    }
  }
}
";

/// The front container: start nginx once confd's file is there (and valid), reload it whenever
/// confd's reload command touched the stamp (`: > file` and `-nt` are shell builtins; `sleep` is copied).
const FRONT_SCRIPT: &str = ": > /tmp/stamp
while sleep 0.2; do
  if [ ! -f /tmp/nginx.pid ]; then
    [ -f /out/upstream.conf ] && nginx -c /etc/nginx/front.conf && : > /tmp/stamp
  elif [ /out/reload-stamp -nt /tmp/stamp ]; then
    : > /tmp/stamp
    nginx -c /etc/nginx/front.conf -s reload
  fi
done
";

/// An app container: nginx answering its own name on 8080, and the register sidekick.
const APP_SCRIPT: &str = "printf 'pid /tmp/nginx.pid;\\nerror_log stderr warn;\\nevents {}\\nhttp {\\n  access_log off;\\n  server {\\n    listen 8080;\\n    location / { return 200 \"%s\\\\n\"; }\\n  }\\n}\\n' \"$APP\" > /tmp/app.conf
nginx -c /tmp/app.conf
exec register -backend \"etcd://$ETCD:2379\" -key \"/test/$APP\" -value \"$APP:8080\" -ttl 3s -probe tcp://127.0.0.1:8080 -probe-interval 500ms
";

const RESOURCE: &str = "[template]
src = \"upstream.tmpl\"
dest = \"/out/upstream.conf\"
keys = [\"/test\"]
reload_cmd = \": > /out/reload-stamp\"
";

const TEMPLATE: &str = "upstream apps {
{{range getvs \"/test/*\"}}  server {{.}};
{{end}}}
";

/// Builds the image holding nginx, sh, sleep, confd (with its conf.d) and register.
fn build_image(name: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path().join("rootfs");
    copy_with_libs(Path::new("/usr/sbin/nginx"), &root, "/usr/sbin/nginx");
    copy_with_libs(Path::new("/bin/sh"), &root, "/bin/sh");
    copy_with_libs(Path::new("/bin/sleep"), &root, "/bin/sleep");
    copy_with_libs(&bin("confd"), &root, "/usr/local/bin/confd");
    copy_with_libs(&bin("register"), &root, "/usr/local/bin/register");
    for d in [
        "tmp",
        "out",
        "var/lib/nginx",
        "var/log/nginx",
        "run",
        "etc/nginx",
        "etc/confd/conf.d",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::create_dir_all(root.join("etc/confd/templates")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(root.join(p), s).unwrap();
    write("etc/nginx/front.conf", FRONT_CONF);
    write("front.sh", FRONT_SCRIPT);
    write("app.sh", APP_SCRIPT);
    write("etc/confd/conf.d/upstream.toml", RESOURCE);
    write("etc/confd/templates/upstream.tmpl", TEMPLATE);
    build(name, ctx.path());
}

/// What the front nginx answers on `port`: the app's name, or `None`.
async fn ask(port: u16) -> Option<String> {
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    Some(resp.text().await.ok()?.trim().to_owned())
}

async fn health(port: u16) -> Option<(u16, String)> {
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.text().await.ok()?))
}

/// Removes what the test made, even when it fails.
struct Cleanup {
    image: String,
    network: String,
    volume: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // The test removes its containers first; after a failure the exit reaper does.
        for args in [
            vec!["network", "rm", self.network.as_str()],
            vec!["volume", "rm", "-f", self.volume.as_str()],
            vec!["rmi", "-f", self.image.as_str()],
        ] {
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

async fn start_app(
    image: &str,
    name: &str,
    network: &str,
    etcd: &str,
) -> ContainerAsync<GenericImage> {
    let (repo, tag) = image.split_once(':').unwrap();
    GenericImage::new(repo, tag)
        .with_entrypoint("/bin/sh")
        .with_cmd(["/app.sh"])
        .with_env_var("APP", name)
        .with_env_var("ETCD", etcd)
        .with_network(network)
        .with_container_name(name)
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_topology_in_containers_follows_apps_and_survives_an_etcd_outage() {
    assert!(
        docker_available(),
        "no Docker engine answers: this test needs one (DISCOVERY_REQUIRE_DOCKER)"
    );
    let etcd_image = image_name();
    assert!(
        docker_image_exists(&etcd_image),
        "{etcd_image} is missing: run scripts/etcd-image.sh"
    );
    let id = unique("seed");
    let image = format!("discovery-{id}:test");
    let network = format!("{id}-net");
    let volume = format!("{id}-out");
    // Whatever happens to this test, its containers, network, volume and image go.
    discovery_tests::util::on_exit(&format!(
        "docker rm -f $(docker ps -aq --filter name={id}) ; docker network rm {network} ; \
         docker volume rm -f {volume} ; docker rmi -f {image}"
    ));
    let cleanup = Cleanup {
        image: image.clone(),
        network: network.clone(),
        volume: volume.clone(),
    };
    build_image(&image);
    let (repo, tag) = image.split_once(':').unwrap();

    let etcd_name = format!("{id}-etcd");
    let (erepo, etag) = etcd_image.split_once(':').unwrap();
    let etcd = GenericImage::new(erepo, etag)
        .with_entrypoint("/usr/local/bin/etcd")
        .with_cmd([
            "--name=default".to_owned(),
            "--data-dir=/etcd-data/member".to_owned(),
            "--listen-client-urls=http://0.0.0.0:2379".to_owned(),
            format!("--advertise-client-urls=http://{etcd_name}:2379"),
            "--listen-peer-urls=http://127.0.0.1:2380".to_owned(),
            "--initial-advertise-peer-urls=http://127.0.0.1:2380".to_owned(),
            "--initial-cluster=default=http://127.0.0.1:2380".to_owned(),
        ])
        .with_network(&network)
        .with_container_name(&etcd_name)
        .start()
        .await
        .expect("start etcd");

    let app1 = format!("{id}-app1");
    let app2 = format!("{id}-app2");
    let c1 = start_app(&image, &app1, &network, &etcd_name).await;
    let c2 = start_app(&image, &app2, &network, &etcd_name).await;

    let metrics_port = discovery_tests::util::free_port();
    let confd = GenericImage::new(repo, tag)
        .with_entrypoint("/usr/local/bin/confd")
        .with_cmd([
            "-watch".to_owned(),
            "-backend".to_owned(),
            "etcdv3".to_owned(),
            "-node".to_owned(),
            format!("http://{etcd_name}:2379"),
            "-confdir".to_owned(),
            "/etc/confd".to_owned(),
            "-config-file".to_owned(),
            "/none.toml".to_owned(),
            "-metrics-addr".to_owned(),
            "0.0.0.0:9102".to_owned(),
        ])
        .with_network(&network)
        .with_mount(Mount::volume_mount(&volume, "/out"))
        .with_mapped_port(metrics_port, 9102.tcp())
        .with_container_name(format!("{id}-confd"))
        .start()
        .await
        .expect("start confd");

    let front_port = discovery_tests::util::free_port();
    let front = GenericImage::new(repo, tag)
        .with_entrypoint("/bin/sh")
        .with_cmd(["/front.sh"])
        .with_network(&network)
        .with_mount(Mount::volume_mount(&volume, "/out"))
        .with_mapped_port(front_port, 80.tcp())
        .with_container_name(format!("{id}-front"))
        .start()
        .await
        .expect("start the front nginx");

    // Both apps answer through the front nginx.
    let mut seen = std::collections::BTreeSet::new();
    let started = Instant::now();
    while seen.len() < 2 {
        assert!(
            started.elapsed() < SOON,
            "both apps behind nginx; seen {seen:?}"
        );
        if let Some(name) = ask(front_port).await {
            seen.insert(name);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(seen.contains(&app1) && seen.contains(&app2), "{seen:?}");

    // One app dies with its sidekick: within TTL + 1 s only the survivor is served.
    docker(&["kill", c1.id()]);
    let killed = Instant::now();
    eventually("only the survivor behind nginx", SOON, || async {
        for _ in 0..10 {
            if ask(front_port).await.as_deref() != Some(app2.as_str()) {
                return None;
            }
        }
        Some(())
    })
    .await;
    let took = killed.elapsed();
    assert!(
        took <= TTL + Duration::from_secs(1),
        "the dead app was served for {took:?} (TTL {TTL:?})"
    );

    // etcd down for 10 s: /health turns 503 naming the watch; back up: confd recovers itself.
    assert_eq!(health(metrics_port).await.map(|(c, _)| c), Some(200));
    docker(&["stop", "--time=1", etcd.id()]);
    let body = eventually("/health to report the outage", SOON, || async {
        match health(metrics_port).await {
            Some((503, body)) => Some(body),
            _ => None,
        }
    })
    .await;
    assert!(
        body.contains("\"kind\":\"watch\"") && body.contains("/test"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    docker(&["start", etcd.id()]);
    eventually("/health to recover", SOON, || async {
        (health(metrics_port).await?.0 == 200).then_some(())
    })
    .await;
    // The survivor re-registered after its lease expired in the outage, and is served.
    eventually("the survivor after the outage", SOON, || async {
        (ask(front_port).await? == app2).then_some(())
    })
    .await;

    for c in [front, confd, c2, c1, etcd] {
        c.rm().await.expect("remove a container");
    }
    drop(cleanup);
}
