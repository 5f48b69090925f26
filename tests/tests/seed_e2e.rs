//! The seeds' load balancer end to end, with real servers: etcd, nginx, two HTTP backends,
//! `register` sidekicks and `confd -watch` rendering nginx.conf with `nginx -t` as check_cmd and
//! a HUP as reload_cmd.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NGINX: &str = "/usr/sbin/nginx";

/// A tiny HTTP backend answering its own name.
async fn backend(name: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, task)
}

async fn get(port: u16) -> Option<String> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        out.starts_with("HTTP/1.1 200")
            .then(|| out.rsplit("\r\n\r\n").next().unwrap_or("").to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

/// Which backends answer over `n` requests through nginx.
async fn hits(port: u16, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        if let Some(b) = get(port).await {
            seen.push(b);
        }
    }
    seen
}

fn template(prefix: &Path, listen: u16) -> String {
    let p = prefix.display();
    format!(
        r#"worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp;
    proxy_temp_path {p}/tmp;
    fastcgi_temp_path {p}/tmp;
    uwsgi_temp_path {p}/tmp;
    scgi_temp_path {p}/tmp;
    upstream app {{
{{{{- range getvs "/test/*"}}}}
        server {{{{.}}}};
{{{{- end}}}}
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{ proxy_pass http://app; proxy_next_upstream error timeout; proxy_connect_timeout 1s; }}
    }}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_load_balancer_follows_registrations_and_survives_a_broken_template() {
    assert!(
        Path::new(NGINX).exists(),
        "nginx is required (scripts/test.sh installs Debian's nginx)"
    );
    let etcd = EtcdServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("nginx");
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let confdir = dir.path().join("confd");
    std::fs::create_dir_all(confdir.join("conf.d")).unwrap();
    std::fs::create_dir_all(confdir.join("templates")).unwrap();
    let listen = free_port();
    let tmpl_path = confdir.join("templates/nginx.conf.tmpl");
    std::fs::write(&tmpl_path, template(&prefix, listen)).unwrap();
    let dest = prefix.join("nginx.conf");
    std::fs::write(
        confdir.join("conf.d/nginx.toml"),
        format!(
            "[template]\nsrc = \"nginx.conf.tmpl\"\ndest = \"{dest}\"\nkeys = [\"/test\"]\nmode = \"0644\"\n\
             check_cmd = \"{NGINX} -t -q -p {p} -c {{{{.src}}}}\"\n\
             reload_cmd = \"kill -HUP $(cat {p}/nginx.pid)\"\n",
            dest = dest.display(),
            p = prefix.display()
        ),
    )
    .unwrap();

    // Two app instances, each with its register sidekick (TCP probe of the app).
    let (port_a, task_a) = backend("backend-a").await;
    let (port_b, _task_b) = backend("backend-b").await;
    let register = |id: &str, port: u16| {
        ChildGuard(
            Command::new(bin("register"))
                .args([
                    "-backend",
                    &format!("etcd://{}", etcd.endpoint()),
                    "-key",
                    &format!("/test/{id}"),
                    "-value",
                    &format!("127.0.0.1:{port}"),
                    "-ttl",
                    "3s",
                    "-probe",
                    &format!("tcp://127.0.0.1:{port}"),
                    "-probe-interval",
                    "200ms",
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("start register"),
        )
    };
    let _reg_a = register("app-a", port_a);
    let _reg_b = register("app-b", port_b);

    let confd = ChildGuard(
        Command::new(bin("confd"))
            .args([
                "-watch",
                "-backend",
                "etcdv3",
                "-node",
                &etcd.client_url(),
                "-confdir",
                confdir.to_str().unwrap(),
                "-config-file",
                "/nonexistent",
                "-log-level",
                "debug",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start confd"),
    );

    let a = format!("127.0.0.1:{port_a}");
    let b = format!("127.0.0.1:{port_b}");
    eventually(
        "nginx.conf listing both backends",
        Duration::from_secs(30),
        || async {
            let text = std::fs::read_to_string(&dest).unwrap_or_default();
            (text.contains(&a) && text.contains(&b)).then_some(())
        },
    )
    .await;

    let nginx = ChildGuard(
        Command::new(NGINX)
            .args(["-p", prefix.to_str().unwrap(), "-c", dest.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    let seen = eventually(
        "requests through nginx reaching both backends",
        Duration::from_secs(20),
        || async {
            // A round that began while nginx was still binding its port counts for nothing:
            // wait for one where every request is answered and both backends are reached.
            let h = hits(listen, 10).await;
            (h.len() == 10
                && h.iter().any(|x| x == "backend-a")
                && h.iter().any(|x| x == "backend-b"))
            .then_some(h)
        },
    )
    .await;
    assert_eq!(seen.len(), 10);

    // Backend A dies: its sidekick's probe fails, its key goes away, confd re-renders,
    // nginx -t passes, nginx is reloaded, every request reaches B.
    task_a.abort();
    eventually(
        "nginx.conf without backend A",
        Duration::from_secs(20),
        || async {
            let text = std::fs::read_to_string(&dest).unwrap_or_default();
            (!text.contains(&a) && text.contains(&b)).then_some(())
        },
    )
    .await;
    eventually(
        "every request going to backend B",
        Duration::from_secs(20),
        || async {
            let h = hits(listen, 10).await;
            (h.len() == 10 && h.iter().all(|x| x == "backend-b")).then_some(())
        },
    )
    .await;

    // Break the template: the check fails, the old config stays, nginx keeps serving.
    let good = std::fs::read(&dest).unwrap();
    std::fs::write(
        &tmpl_path,
        template(&prefix, listen).replace("server {{.}};", "server {{.}}"),
    )
    .unwrap();
    confd.signal("HUP"); // re-read conf.d and templates
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A change that would re-render: a third instance appears.
    let kv = etcd.backend("").await;
    use discovery_core::KvStore;
    kv.put(
        &discovery_core::Key::new("/test/app-c").unwrap(),
        "127.0.0.1:1".into(),
        None,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        good,
        "a failing check must keep the old config byte for byte"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&prefix)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".nginx.conf"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staged files left behind: {leftovers:?}"
    );
    let h = hits(listen, 5).await;
    assert!(
        h.len() == 5 && h.iter().all(|x| x == "backend-b"),
        "nginx keeps serving: {h:?}"
    );
    drop(nginx);
    drop(confd);
}
