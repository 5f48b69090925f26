//! The file backend on real temporary files: loading, flattening, errors, watching.

use std::time::Duration;

use discovery_core::{Error, FileBackend, Key, KvChange, KvEvent, KvView};
use futures::StreamExt;

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn text(pairs: &discovery_core::KvSnapshot) -> Vec<(String, String)> {
    pairs
        .pairs
        .values()
        .map(|p| (p.key.to_string(), p.value_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn directories_load_yaml_and_json_recursively_and_flatten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        "app:\n  port: 8080\n  debug: true\n  ratio: 1.5\n  empty: null\n  hosts:\n    - a\n    - b\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nested/db.json"),
        r#"{"db": {"host": "db1", "replicas": [{"host": "r1"}]}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not: loaded").unwrap();
    let files = FileBackend::new(vec![dir.path().to_owned()]);
    let all = files.list(&[Key::root()]).await.unwrap();
    let want: Vec<(String, String)> = [
        ("/app/debug", "true"),
        ("/app/empty", ""),
        ("/app/hosts/0", "a"),
        ("/app/hosts/1", "b"),
        ("/app/port", "8080"),
        ("/app/ratio", "1.5"),
        ("/db/host", "db1"),
        ("/db/replicas/0/host", "r1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(text(&all), want);
    let db = files.list(&[key("/db")]).await.unwrap();
    assert_eq!(db.pairs.len(), 2);
    assert_eq!(
        files.get(&key("/app/port")).await.unwrap().unwrap().value,
        "8080"
    );
    assert!(files.get(&key("/app/nope")).await.unwrap().is_none());
    // Nothing changed between reads: the revision stays.
    assert_eq!(
        files.list(&[Key::root()]).await.unwrap().revision,
        all.revision
    );
}

#[tokio::test]
async fn a_single_file_path_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conf.yml");
    std::fs::write(&file, "/test/apache-8001: 172.17.8.101:8001\n").unwrap();
    let files = FileBackend::new(vec![file]);
    let got = files.get(&key("/test/apache-8001")).await.unwrap().unwrap();
    assert_eq!(got.value, "172.17.8.101:8001");
}

#[tokio::test]
async fn syntax_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "ok: 1\nbad: [unclosed\nmore: 2\n").unwrap();
    let err = FileBackend::new(vec![bad])
        .list(&[Key::root()])
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidData { .. }), "{err:?}");
    assert!(msg.contains("broken.yaml"), "{msg}");
    assert!(msg.contains("line"), "{msg}");

    let json = dir.path().join("broken.json");
    std::fs::write(&json, "{\"a\": 1,\n \"b\": }").unwrap();
    let msg = FileBackend::new(vec![json])
        .get(&key("/a"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("broken.json") && msg.contains("line 2"),
        "{msg}"
    );

    let missing = dir.path().join("missing.yaml");
    let err = FileBackend::new(vec![missing])
        .list(&[Key::root()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}

#[tokio::test]
async fn a_change_to_a_file_is_reported_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, "app:\n  port: 8080\n  gone: x\nother: 1\n").unwrap();
    let files = FileBackend::new(vec![dir.path().to_owned()]);
    let mut w = files.watch_prefix(&key("/app"), None).await.unwrap();
    let first = w.next().await.unwrap().unwrap();
    let KvEvent::Reset(reset) = first else {
        panic!("expected a reset, got {first:?}");
    };
    assert_eq!(reset.pairs.len(), 2);
    // Replaced atomically, as editors and config management do.
    let tmp = dir.path().join("app.yaml.tmp");
    std::fs::write(&tmp, "app:\n  port: 9090\n  new: y\nother: 2\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("a change within the hang guard")
        .unwrap()
        .unwrap();
    let KvEvent::Changed { revision, changes } = event else {
        panic!("expected Changed, got {event:?}");
    };
    assert!(revision > reset.revision);
    let described: Vec<String> = changes
        .iter()
        .map(|c| match c {
            KvChange::Put(p) => format!("put {}={}", p.key, p.value_str().unwrap()),
            KvChange::Delete(k) => format!("delete {k}"),
        })
        .collect();
    assert_eq!(
        described,
        ["delete /app/gone", "put /app/new=y", "put /app/port=9090"]
    );
}
