//! `ConfdRunner` embedded in-process against a real etcd, in watch mode: keys written to etcd
//! are rendered and reloaded, a key change re-renders and reloads, `reload()` picks up a new
//! resource added to `conf.d`, and `shutdown()` returns cleanly with nothing running after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{Key, KvStore};
use discovery_render::confd::options::{ConfdOptions, Mode};
use discovery_render::confd::runner::ConfdRunner;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, unique};

const SOON: Duration = Duration::from_secs(30);

/// `conf.d/<name>.toml` rendering `v=<prefix/value>` into `<name>.out`, reloading with a
/// command that appends the file to `marker`; returns the destination.
fn resource(dir: &Path, name: &str, prefix: &str, marker: &Path) -> PathBuf {
    let dest = dir.join(format!("{name}.out"));
    std::fs::write(
        dir.join(format!("conf.d/{name}.toml")),
        format!(
            "[template]\nsrc = \"{name}.tmpl\"\ndest = \"{}\"\nkeys = [\"{prefix}\"]\nreload_cmd = \"cat {} >> {}\"\n",
            dest.display(),
            dest.display(),
            marker.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("templates/{name}.tmpl")),
        format!("v={{{{getv \"{prefix}/value\"}}}}\n"),
    )
    .unwrap();
    dest
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn marker_is(marker: &Path, want: &[&str]) {
    eventually(
        &format!("{} = {want:?}", marker.display()),
        SOON,
        || async { (lines(marker) == want).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_runner_renders_reloads_picks_up_new_resources_and_shuts_down() {
    let server = EtcdServer::shared().await;
    let kv = Arc::new(server.backend("").await);
    let prefix = format!("/{}", unique("confd-runner"));
    let put = |key: String, value: &'static str| {
        let kv = kv.clone();
        async move {
            kv.put(&Key::new(&key).unwrap(), value.into(), None)
                .await
                .unwrap();
        }
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    let marker = dir.path().join("reloads");
    let a = resource(dir.path(), "a", &format!("{prefix}/a"), &marker);
    put(format!("{prefix}/a/value"), "1").await;
    put(format!("{prefix}/b/value"), "1").await;

    let options = ConfdOptions::new(Mode::Watch, dir.path());
    let handle = ConfdRunner::new(options, kv.clone()).start();
    marker_is(&marker, &["v=1"]).await;
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "v=1\n");

    // A key change re-renders and reloads.
    put(format!("{prefix}/a/value"), "2").await;
    marker_is(&marker, &["v=1", "v=2"]).await;

    // A resource added to conf.d is picked up by reload().
    let b = resource(dir.path(), "b", &format!("{prefix}/b"), &marker);
    handle.reload();
    eventually("b rendered and reloaded", SOON, || async {
        lines(&marker).contains(&"v=1".to_owned()).then_some(())?;
        (std::fs::read_to_string(&b).ok()?.as_str() == "v=1\n").then_some(())
    })
    .await;
    marker_is(&marker, &["v=1", "v=2", "v=1"]).await;

    // shutdown() returns cleanly; nothing renders or reloads after it.
    handle.shutdown().await.unwrap();
    let after = lines(&marker);
    put(format!("{prefix}/a/value"), "3").await;
    put(format!("{prefix}/b/value"), "3").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lines(&marker), after);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "v=2\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "v=1\n");
}
