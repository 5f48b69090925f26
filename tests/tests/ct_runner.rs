//! `CtRunner` embedded in-process against a real Consul agent: a template over a key and a
//! service, its command (appending the rendered file to a marker, which shows the file was
//! written first), a change that re-renders and re-runs, a clean shutdown; and a template that
//! does not load refused by `reload` while the running set goes on.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use discovery_core::{Key, KvStore, RegisterOptions, Registry, ServiceInstance};
use discovery_render::consul_template::{CtOptions, CtRunner, TemplateSpec};
use discovery_tests::consul::ConsulServer;
use discovery_tests::util::{eventually, init_tracing, unique};

const LIMIT: Duration = Duration::from_secs(30);

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_renders_runs_rerenders_and_shuts_down() {
    init_tracing();
    let consul = ConsulServer::shared().await;
    let backend = consul.backend(None);
    let dir = tempfile::tempdir().unwrap();
    let (dest, marker) = (dir.path().join("out.conf"), dir.path().join("ran.log"));
    let app = unique("ctrunner");
    let key = format!("{app}/mode");
    backend
        .put(
            &Key::new(format!("/{key}")).unwrap(),
            Bytes::from("blue"),
            None,
        )
        .await
        .unwrap();
    let svc = ServiceInstance::new(
        app.parse().unwrap(),
        format!("{app}-1").parse().unwrap(),
        "10.0.0.7",
        Some(8080),
    );
    let _reg = backend
        .register(svc, RegisterOptions::default())
        .await
        .unwrap();
    let source = format!(
        "mode={{{{key \"{key}\"}}}}\n{{{{range service \"{app}\"}}}}server {{{{.Address}}}}:{{{{.Port}}}}\n{{{{end}}}}"
    );
    let spec = TemplateSpec::new(&dest)
        .with_contents(source.clone())
        .with_command(format!("cat {} >> {}", dest.display(), marker.display()));
    let mut handle = CtRunner::new(CtOptions::new(vec![spec]), backend.clone())
        .unwrap()
        .start();

    let first = "mode=blue\nserver 10.0.0.7:8080\n";
    eventually("the first render and its command", LIMIT, || async {
        (read(&marker).as_deref() == Some(first)).then_some(())
    })
    .await;
    assert_eq!(read(&dest).as_deref(), Some(first));

    // A change re-renders and re-runs the command (which sees the new file).
    backend
        .put(
            &Key::new(format!("/{key}")).unwrap(),
            Bytes::from("green"),
            None,
        )
        .await
        .unwrap();
    let second = "mode=green\nserver 10.0.0.7:8080\n";
    eventually("the re-render and its command", LIMIT, || async {
        (read(&marker) == Some(format!("{first}{second}"))).then_some(())
    })
    .await;

    // A reload whose template does not parse is refused; the running set goes on.
    let broken = TemplateSpec::new(&dest).with_contents("{{ nosuchfunc }}");
    let err = handle
        .reload(CtOptions::new(vec![broken]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nosuchfunc"), "{err}");
    backend
        .put(
            &Key::new(format!("/{key}")).unwrap(),
            Bytes::from("red"),
            None,
        )
        .await
        .unwrap();
    eventually("a render after the refused reload", LIMIT, || async {
        (read(&dest).as_deref() == Some("mode=red\nserver 10.0.0.7:8080\n")).then_some(())
    })
    .await;

    handle.shutdown();
    tokio::time::timeout(LIMIT, handle.wait())
        .await
        .expect("shutdown returns")
        .expect("a watch run shut down is Ok");
    // Stopped: the handle reports it.
    assert!(handle.reload(CtOptions::new(Vec::new())).await.is_err());
}
