//! etcd security end to end: TLS with client certificates (certificates generated here with
//! `rcgen`) and etcd's own authentication (users, roles, permissions on a prefix). Registration,
//! watch and rendering (in-process and through the `confd` binary) work with the right
//! credentials; missing or wrong ones give clear, typed errors.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{
    Codec, Error, InstanceId, Key, KvStore, KvView, Layout, RegisterOptions, Registry, RenderData,
    Renderer, ServiceInstance, ServiceName, WatchEvent, Watcher,
};
use discovery_etcd::{EtcdBackend, EtcdConfig, EtcdTls};
use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::free_port;
use etcd_client::Permission;
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Hang guard.
const LIMIT: Duration = Duration::from_secs(30);

/// PEM files of a test PKI.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A CA that signed nothing here (for "untrusted server" checks).
    other_ca: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(
    cn: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage, ExtendedKeyUsagePurpose::ClientAuth];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn generate() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, pem).unwrap();
            p
        };
        let root = ca("discovery test CA");
        let (server_cert, server_key) = leaf(
            "etcd",
            &["localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &root,
        );
        let (client_cert, client_key) =
            leaf("client", &[], ExtendedKeyUsagePurpose::ClientAuth, &root);
        let other = ca("unrelated CA");
        Pki {
            ca: write("ca.pem", &root.0.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server-key.pem", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client-key.pem", &client_key),
            other_ca: write("other-ca.pem", &other.0.pem()),
            _dir: dir,
        }
    }
}

/// etcd serving clients over TLS only, requiring a client certificate signed by the test CA.
struct TlsEtcd {
    _child: ChildGuard,
    _data: tempfile::TempDir,
    port: u16,
}

impl TlsEtcd {
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

async fn start_tls_etcd(pki: &Pki) -> TlsEtcd {
    let data = tempfile::tempdir().unwrap();
    let (port, peer) = (free_port(), free_port());
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(data.path().join("etcd.log")).unwrap();
    let child = Command::new("/usr/bin/etcd")
        .arg("--name=default")
        .arg(format!(
            "--data-dir={}",
            data.path().join("member").display()
        ))
        .arg(format!("--listen-client-urls=https://127.0.0.1:{port}"))
        .arg(format!("--advertise-client-urls=https://127.0.0.1:{port}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=default={peer_url}"))
        .arg("--heartbeat-interval=50")
        .arg("--election-timeout=500")
        .arg(format!("--cert-file={}", pki.server_cert.display()))
        .arg(format!("--key-file={}", pki.server_key.display()))
        .arg(format!("--trusted-ca-file={}", pki.ca.display()))
        .arg("--client-cert-auth")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cannot run /usr/bin/etcd");
    let server = TlsEtcd {
        _child: ChildGuard(child),
        _data: data,
        port,
    };
    // Ready when a TLS client with the right certificate gets an answer.
    let started = std::time::Instant::now();
    loop {
        if EtcdBackend::connect(tls_config(&server, pki)).await.is_ok() {
            return server;
        }
        assert!(
            started.elapsed() < LIMIT,
            "TLS etcd did not start: {}",
            std::fs::read_to_string(server._data.path().join("etcd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn tls_config(server: &TlsEtcd, pki: &Pki) -> EtcdConfig {
    EtcdConfig::new([server.endpoint()])
        .with_tls(EtcdTls::with_ca(&pki.ca).client_identity(&pki.client_cert, &pki.client_key))
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(3))
}

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn instance(service: &str, id: &str, port: u16) -> ServiceInstance {
    ServiceInstance::new(
        ServiceName::new(service).unwrap(),
        InstanceId::new(id).unwrap(),
        "10.0.0.7",
        Some(port),
    )
}

/// Registers `id` in `service` through `backend`, and checks a watch sees it.
async fn register_and_watch(
    backend: &EtcdBackend,
    service: &str,
    id: &str,
) -> discovery_core::Registration {
    let svc = ServiceName::new(service).unwrap();
    let mut watch = backend.watch(&svc, None).await.unwrap();
    match tokio::time::timeout(LIMIT, watch.next())
        .await
        .expect("no first watch event")
    {
        Some(Ok(WatchEvent::Reset(s))) => assert!(s.instances.is_empty(), "{s:?}"),
        other => panic!("first watch event: {other:?}"),
    }
    let reg = backend
        .register(
            instance(service, id, 8080),
            RegisterOptions::with_ttl(Duration::from_secs(10)),
        )
        .await
        .unwrap_or_else(|e| panic!("register: {e}"));
    let seen = tokio::time::timeout(LIMIT, async {
        while let Some(ev) = watch.next().await {
            if let Ok(WatchEvent::Changed { changes, .. }) = ev {
                if !changes.is_empty() {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the watch did not see the registration");
    let snap = backend.snapshot(&svc).await.unwrap();
    assert!(
        snap.instances.contains_key(&InstanceId::new(id).unwrap()),
        "{snap:?}"
    );
    reg
}

/// Renders `{{getv key}}` from `backend.list(prefix)` in-process.
async fn render_getv(backend: &EtcdBackend, prefix: &str, k: &str) -> String {
    let snap = backend.list(&[key(prefix)]).await.unwrap();
    let t = Template::parse(
        &format!("{{{{getv \"{k}\"}}}}"),
        TemplateOptions::new(Dialect::Confd).name("t.tmpl"),
    )
    .unwrap();
    ConfdTemplate::new(t, "/", vec![prefix.to_owned()])
        .render(&RenderData::from_kv(Arc::new(snap)))
        .unwrap()
        .output
}

/// Runs `confd -onetime` rendering `{{getv key}}` with `args`; returns (exit code, stderr, output).
fn confd_onetime(prefix: &str, k: &str, args: &[&str]) -> (Option<i32>, String, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    let dest = root.join("out.conf");
    std::fs::write(
        root.join("conf.d/r.toml"),
        format!(
            "[template]\nsrc = \"r.tmpl\"\ndest = \"{}\"\nkeys = [\"{prefix}\"]\n",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("templates/r.tmpl"),
        format!("{{{{getv \"{k}\"}}}}"),
    )
    .unwrap();
    let out = Command::new(bin("confd"))
        .args(["-onetime", "-backend", "etcdv3"])
        .args(args)
        .arg("-confdir")
        .arg(root)
        .arg("-config-file")
        .arg(root.join("none.toml"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(dest).ok(),
    )
}

async fn connect_err(config: EtcdConfig) -> Error {
    match tokio::time::timeout(LIMIT, EtcdBackend::connect(config)).await {
        Err(_) => panic!("connect hung"),
        Ok(Ok(b)) => panic!("connected: {b:?}"),
        Ok(Err(e)) => e,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_client_certificates_registration_watch_and_rendering() {
    let pki = Pki::generate();
    let server = start_tls_etcd(&pki).await;
    let backend = EtcdBackend::connect(tls_config(&server, &pki))
        .await
        .unwrap();
    let _reg = register_and_watch(&backend, "web", "tls-1").await;
    backend
        .put(&key("/tls/app/name"), "over-tls".into(), None)
        .await
        .unwrap();
    assert_eq!(
        render_getv(&backend, "/tls", "/tls/app/name").await,
        "over-tls"
    );

    // The confd binary with confd's TLS flags.
    let (code, stderr, out) = confd_onetime(
        "/tls",
        "/tls/app/name",
        &[
            "-node",
            &server.endpoint(),
            "-client-ca-keys",
            &pki.ca.display().to_string(),
            "-client-cert",
            &pki.client_cert.display().to_string(),
            "-client-key",
            &pki.client_key.display().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out.as_deref(), Some("over-tls"));
    let key_pem = std::fs::read_to_string(&pki.client_key).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(
        !stderr.contains(key_body),
        "private key material in the log"
    );

    // Without a client certificate the server refuses the handshake: a clear, fast error.
    let no_cert = EtcdConfig::new([server.endpoint()])
        .with_tls(EtcdTls::with_ca(&pki.ca))
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    let err = connect_err(no_cert).await;
    assert!(err.to_string().contains(&server.endpoint()), "{err}");
    let (code, stderr, out) = confd_onetime(
        "/tls",
        "/tls/app/name",
        &[
            "-node",
            &server.endpoint(),
            "-client-ca-keys",
            &pki.ca.display().to_string(),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&server.endpoint()), "{stderr}");
    assert!(out.is_none());

    // A server certificate from another CA is not trusted.
    let wrong_ca = EtcdConfig::new([server.endpoint()])
        .with_tls(
            EtcdTls::with_ca(&pki.other_ca).client_identity(&pki.client_cert, &pki.client_key),
        )
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    let err = connect_err(wrong_ca).await;
    assert!(err.to_string().contains(&server.endpoint()), "{err}");

    // Plain HTTP to a TLS-only server fails too.
    let plain = EtcdConfig::new([server.endpoint()])
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    let err = connect_err(plain).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

/// `root`/`root-secret-pw`, and `app`/`app-secret-pw` with readwrite on `/app/` only.
async fn enable_auth(server: &EtcdServer) {
    let mut c = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    c.user_add("root", "root-secret-pw", None).await.unwrap();
    c.user_grant_role("root", "root").await.unwrap();
    c.role_add("app-rw").await.unwrap();
    c.role_grant_permission("app-rw", Permission::read_write("/app/").with_prefix())
        .await
        .unwrap();
    c.user_add("app", "app-secret-pw", None).await.unwrap();
    c.user_grant_role("app", "app-rw").await.unwrap();
    c.auth_enable().await.unwrap();
}

fn app_config(server: &EtcdServer, password: &str) -> EtcdConfig {
    server
        .config("")
        .with_user("app", password)
        .with_layout(Layout::new(key("/app/services"), Codec::Json))
}

#[tokio::test(flavor = "multi_thread")]
async fn etcd_auth_user_with_a_prefix_role() {
    let server = EtcdServer::start().await;
    enable_auth(&server).await;

    let app = EtcdBackend::connect(app_config(&server, "app-secret-pw"))
        .await
        .unwrap();
    let reg = register_and_watch(&app, "api", "auth-1").await;
    app.put(&key("/app/config/greeting"), "hello".into(), None)
        .await
        .unwrap();
    assert_eq!(
        render_getv(&app, "/app/config", "/app/config/greeting").await,
        "hello"
    );
    reg.deregister().await.unwrap();
    let snap = app
        .snapshot(&ServiceName::new("api").unwrap())
        .await
        .unwrap();
    assert!(snap.instances.is_empty(), "{snap:?}");

    let (code, stderr, out) = confd_onetime(
        "/app/config",
        "/app/config/greeting",
        &[
            "-node",
            &server.endpoint(),
            "-username",
            "app",
            "-password",
            "app-secret-pw",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out.as_deref(), Some("hello"));

    // Wrong password: Unauthenticated, and the password is not in the message.
    let err = connect_err(app_config(&server, "wrong-secret-pw")).await;
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        !format!("{err} {err:?}").contains("wrong-secret-pw"),
        "{err:?}"
    );
    let (code, stderr, out) = confd_onetime(
        "/app/config",
        "/app/config/greeting",
        &[
            "-node",
            &server.endpoint(),
            "-username",
            "app",
            "-password",
            "wrong-secret-pw",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-pw"), "{stderr}");
    assert!(out.is_none());

    // Another prefix: PermissionDenied naming the key, for reads, writes and watches.
    let err = app.list(&[key("/other")]).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    let err = app.get(&key("/other/x")).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("/other/x"), "{err}");
    let err = app
        .put(&key("/other/x"), "1".into(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("/other/x"), "{err}");
    let first = tokio::time::timeout(LIMIT, async {
        let mut s = app.watch_prefix(&key("/other"), None).await?;
        s.next().await.unwrap_or(Err(Error::Closed {
            backend: "test",
            what: "watch",
        }))
    })
    .await
    .expect("watch on a forbidden prefix hung");
    assert!(
        matches!(first, Err(Error::PermissionDenied { .. })),
        "{first:?}"
    );
    let (code, stderr, _) = confd_onetime(
        "/other",
        "/other/x",
        &[
            "-node",
            &server.endpoint(),
            "-username",
            "app",
            "-password",
            "app-secret-pw",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");

    // Root still sees everything (auth is on, not broken).
    let root = EtcdBackend::connect(server.config("").with_user("root", "root-secret-pw"))
        .await
        .unwrap();
    assert!(root
        .get(&key("/app/config/greeting"))
        .await
        .unwrap()
        .is_some());
}
