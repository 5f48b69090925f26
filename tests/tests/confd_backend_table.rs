//! The `confd` binary with abtreece/confd's per-resource `[backend]` tables, on a real etcd and
//! a real Consul: each resource reads its own backend, identical tables share one client and one
//! watch (etcd's own watcher gauge says how many watches it serves), bad tables are refused by
//! file and key; and `-watch` with `-interval` (flag or `confd.toml`): changes render at once
//! and the periodic pass repairs a destination edited behind confd's back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use discovery_core::{Key, KvStore};
use discovery_tests::confd::{put, run, wait_content, Confd, SOON};
use discovery_tests::consul::ConsulServer;
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, free_port, unique};

/// Writes `conf.d/<name>.toml` rendering `template` into `<dir>/<name>.conf` from `keys`, with
/// `backend` (a `[backend]` table's body) when given; returns the destination.
fn resource(dir: &Path, name: &str, keys: &str, template: &str, backend: Option<&str>) -> PathBuf {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let dest = dir.join(format!("{name}.conf"));
    let mut toml =
        format!("[template]\nsrc = \"{name}.tmpl\"\ndest = {dest:?}\nkeys = [\"{keys}\"]\n");
    if let Some(b) = backend {
        toml.push_str(&format!("\n[backend]\n{b}\n"));
    }
    std::fs::write(dir.join(format!("conf.d/{name}.toml")), toml).unwrap();
    std::fs::write(dir.join(format!("templates/{name}.tmpl")), template).unwrap();
    dest
}

fn read(dest: &Path) -> String {
    std::fs::read_to_string(dest).unwrap_or_default()
}

/// The value of gauge `name` on etcd's `/metrics`.
async fn etcd_gauge(etcd: &EtcdServer, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", etcd.client_url()))
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("etcd metrics: {e}"))
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in etcd's metrics"))
}

/// One confd, three backends: the global (a file), etcd and Consul by `[backend]` tables; two
/// resources with the same etcd table (spelled differently) share one client and one watch.
#[tokio::test(flavor = "multi_thread")]
async fn resources_read_their_own_backends_and_identical_tables_share_one_watch() {
    // A server of its own: its watcher gauge counts this confd's watches only.
    let etcd = EtcdServer::start().await;
    let consul = ConsulServer::shared().await;
    let ep = etcd.endpoint();
    let ns = unique("bt");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let global_file = d.join("global.yaml");
    std::fs::write(&global_file, "g:\n  v: one\n").unwrap();
    let global = resource(d, "global", "/g", "g={{getv \"/g/v\"}}\n", None);
    let etcd_table = format!("backend = \"etcdv3\"\nnodes = [\"{ep}\"]");
    let on_etcd_a = resource(
        d,
        "etcd_a",
        "/e",
        "a={{getv \"/e/v\"}}\n",
        Some(&etcd_table),
    );
    // The same table, spelled differently: one client all the same.
    let same_table = format!("Backend = \"ETCDv3\"\nnodes = [\"{ep}/\"]\nscheme = \"http\"");
    let on_etcd_b = resource(
        d,
        "etcd_b",
        "/e",
        "b={{getv \"/e/v\"}}\n",
        Some(&same_table),
    );
    // Consul without ACLs ignores the token; confd must not print it.
    let consul_table = format!(
        "backend = \"consul\"\nnodes = [\"{}\"]\nauth_token = \"tok-secret-1\"",
        consul.address()
    );
    let on_consul = resource(
        d,
        "consul",
        &format!("/{ns}"),
        &format!("c={{{{getv \"/{ns}/v\"}}}}\n"),
        Some(&consul_table),
    );
    put(&ep, "/e/v", "e1").await;
    let ckv = consul.backend(None);
    let ckey = Key::new(format!("/{ns}/v")).unwrap();
    ckv.put(&ckey, "c1".into(), None).await.unwrap();

    let confd = Confd::start(
        d,
        &[
            "-backend",
            "file",
            "-file",
            global_file.to_str().unwrap(),
            "-watch",
            "-log-level",
            "debug",
        ],
    );
    wait_content(&global, "g=one\n").await;
    wait_content(&on_etcd_a, "a=e1\n").await;
    wait_content(&on_etcd_b, "b=e1\n").await;
    wait_content(&on_consul, "c=c1\n").await;

    // A change in each backend renders the resources on it, and only those.
    put(&ep, "/e/v", "e2").await;
    wait_content(&on_etcd_a, "a=e2\n").await;
    wait_content(&on_etcd_b, "b=e2\n").await;
    ckv.put(&ckey, "c2".into(), None).await.unwrap();
    wait_content(&on_consul, "c=c2\n").await;
    std::fs::write(&global_file, "g:\n  v: two\n").unwrap();
    wait_content(&global, "g=two\n").await;
    assert_eq!(read(&on_etcd_a), "a=e2\n");
    assert_eq!(read(&on_consul), "c=c2\n");

    // One client for both etcd tables, and one watch on etcd (for /e) serving both resources.
    let log = confd.log();
    let opened: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[backend] opened a client"))
        .collect();
    assert_eq!(
        opened.len(),
        2,
        "one etcd and one Consul client: {opened:#?}"
    );
    assert_eq!(
        opened.iter().filter(|l| l.contains("etcdv3")).count(),
        1,
        "{opened:#?}"
    );
    assert_eq!(
        etcd_gauge(&etcd, "etcd_debugging_mvcc_watcher_total").await,
        1.0
    );
    assert!(!log.contains("tok-secret-1"), "the token was logged");

    // Control: a table that differs (a scheme before the node) is another client and another
    // watch, picked up on SIGHUP.
    let other_table = format!("backend = \"etcdv3\"\nnodes = [\"http://{ep}\"]");
    resource(
        d,
        "etcd_b",
        "/e",
        "b={{getv \"/e/v\"}}\n",
        Some(&other_table),
    );
    confd.child.signal("HUP");
    eventually("a second etcd watcher after SIGHUP", SOON, || async {
        (etcd_gauge(&etcd, "etcd_debugging_mvcc_watcher_total").await == 2.0).then_some(())
    })
    .await;
    put(&ep, "/e/v", "e3").await;
    wait_content(&on_etcd_a, "a=e3\n").await;
    wait_content(&on_etcd_b, "b=e3\n").await;
}

/// Bad `[backend]` tables: a backend we do not ship gives the global flag's error with the
/// resource file; an unknown key or a wrong value names the file and the key; a secret is
/// never printed; the good resource of the same run is still rendered.
#[tokio::test(flavor = "multi_thread")]
async fn bad_backend_tables_are_refused_by_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data.yaml");
    std::fs::write(&data, "app:\n  v: ok\n").unwrap();
    let good = resource(d, "good", "/app", "v={{getv \"/app/v\"}}\n", None);
    let vault = resource(
        d,
        "vault",
        "/app",
        "x\n",
        Some("backend = \"vault\"\nnodes = [\"https://vault:8200\"]\npassword = \"hunter2\""),
    );
    let typo = resource(
        d,
        "typo",
        "/app",
        "x\n",
        Some("backend = \"etcdv3\"\nnode = [\"127.0.0.1:2379\"]"),
    );
    let wrong = resource(
        d,
        "wrong",
        "/app",
        "x\n",
        Some("backend = \"consul\"\nnodes = \"127.0.0.1:8500\""),
    );
    let approle = resource(
        d,
        "approle",
        "/app",
        "x\n",
        Some("backend = \"vault\"\nrole_id = \"r\""),
    );
    let data = data.to_string_lossy();
    let (code, _, stderr) = run(
        d,
        &[
            "-onetime",
            "-log-level",
            "debug",
            "-backend",
            "file",
            "-file",
            &data,
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("4 template resource(s) failed"), "{stderr}");
    assert_eq!(read(&good), "v=ok\n", "{stderr}");
    for dest in [&vault, &typo, &wrong, &approle] {
        assert!(!dest.exists(), "{} written", dest.display());
    }

    // The global flag's error for vault...
    let (_, _, global_err) = run(d, &["-onetime", "-backend", "vault"]).await;
    let why = "\"vault\" is not supported (use etcdv3, etcd, consul, file, env or memory)";
    assert!(global_err.contains(why), "{global_err}");
    // ... is the table's, with the file.
    let line = |file: &str| {
        stderr
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no error names {file}: {stderr}"))
            .to_owned()
    };
    let l = line("vault.toml");
    assert!(l.contains("[backend] backend") && l.contains(why), "{l}");
    let l = line("typo.toml");
    assert!(
        l.contains("[backend] node") && l.contains("unknown key"),
        "{l}"
    );
    let l = line("wrong.toml");
    assert!(
        l.contains("[backend] nodes") && l.contains("list of strings"),
        "{l}"
    );
    let l = line("approle.toml");
    assert!(
        l.contains("[backend] role_id") && l.contains("does not ship"),
        "{l}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// `-watch` with `-interval`: a change renders at once (well before the next pass), and the
/// pass every interval repairs a destination changed behind confd's back, as confd's interval
/// mode does (it writes whenever the rendered content differs). With `-watch` alone the edit
/// stays until the keys change.
#[tokio::test(flavor = "multi_thread")]
async fn watch_with_interval_renders_at_once_and_repairs_every_interval() {
    let etcd = EtcdServer::shared().await;
    let ep = etcd.endpoint();
    let prefix = format!("/{}", unique("wi"));
    let key = format!("{prefix}/v");
    put(&ep, &key, "1").await;
    let node = ["-backend", "etcdv3", "-node", ep.as_str()];

    let both_dir = tempfile::tempdir().unwrap();
    let both = resource(
        both_dir.path(),
        "app",
        &prefix,
        &format!("v={{{{getv \"{key}\"}}}}\n"),
        None,
    );
    let watch_dir = tempfile::tempdir().unwrap();
    let watch_only = resource(
        watch_dir.path(),
        "app",
        &prefix,
        &format!("v={{{{getv \"{key}\"}}}}\n"),
        None,
    );
    // The same mode from confd.toml: `watch = true` and `interval = 1`.
    let toml_dir = tempfile::tempdir().unwrap();
    let from_toml = resource(
        toml_dir.path(),
        "app",
        &prefix,
        &format!("v={{{{getv \"{key}\"}}}}\n"),
        None,
    );
    let toml_file = toml_dir.path().join("confd.toml");
    std::fs::write(
        &toml_file,
        format!("backend = \"etcdv3\"\nnodes = [\"{ep}\"]\nwatch = true\ninterval = 1\n"),
    )
    .unwrap();

    let _both = Confd::start(
        both_dir.path(),
        &[node.as_slice(), &["-watch", "-interval", "1"]].concat(),
    );
    let _watch = Confd::start(watch_dir.path(), &[node.as_slice(), &["-watch"]].concat());
    let _toml = Confd::start(
        toml_dir.path(),
        &["-config-file", toml_file.to_str().unwrap()],
    );
    for dest in [&both, &watch_only, &from_toml] {
        wait_content(dest, "v=1\n").await;
    }

    // A change is rendered by the watch, long before a pass could have: a pass every hour.
    let hourly_dir = tempfile::tempdir().unwrap();
    let hourly = resource(
        hourly_dir.path(),
        "app",
        &prefix,
        &format!("v={{{{getv \"{key}\"}}}}\n"),
        None,
    );
    let _hourly = Confd::start(
        hourly_dir.path(),
        &[node.as_slice(), &["-watch", "-interval", "3600"]].concat(),
    );
    wait_content(&hourly, "v=1\n").await;
    put(&ep, &key, "2").await;
    for dest in [&both, &watch_only, &from_toml, &hourly] {
        wait_content(dest, "v=2\n").await;
    }

    // Edited behind confd's back: the interval pass puts it back; watch alone does not.
    for dest in [&both, &watch_only, &from_toml] {
        std::fs::write(dest, "tampered\n").unwrap();
    }
    wait_content(&both, "v=2\n").await;
    wait_content(&from_toml, "v=2\n").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(read(&watch_only), "tampered\n", "-watch alone has no pass");
    // ... until the keys change.
    put(&ep, &key, "3").await;
    for dest in [&both, &watch_only, &from_toml] {
        wait_content(dest, "v=3\n").await;
    }
}

/// A `[backend]` whose etcd is down when `confd -watch` starts: the other resources render, the
/// resource waits (and says so), and once that etcd is up its file is rendered and watched;
/// confd needs no SIGHUP.
#[tokio::test(flavor = "multi_thread")]
async fn a_backend_table_that_is_down_at_start_is_watched_once_it_is_up() {
    let etcd = EtcdServer::shared().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ns = unique("/late-table");
    let global = resource(
        d,
        "global",
        &ns,
        &format!("g={{{{getv \"{ns}/v\"}}}}\n"),
        None,
    );
    let port = free_port();
    let late = resource(
        d,
        "late",
        "/late",
        "l={{getv \"/late/v\"}}\n",
        Some(&format!(
            "backend = \"etcdv3\"\nnodes = [\"127.0.0.1:{port}\"]"
        )),
    );
    put(&etcd.endpoint(), &format!("{ns}/v"), "1").await;
    let confd = Confd::start(
        d,
        &["-watch", "-backend", "etcdv3", "-node", &etcd.endpoint()],
    );
    wait_content(&global, "g=1\n").await;
    confd
        .wait_log(&["late.toml", "waiting for its [backend]"], 1)
        .await;
    assert!(!late.exists());

    let late_etcd = EtcdServer::process_on(port).await;
    put(&late_etcd.endpoint(), "/late/v", "up").await;
    wait_content(&late, "l=up\n").await;
    put(&late_etcd.endpoint(), "/late/v", "changed").await;
    wait_content(&late, "l=changed\n").await;
    put(&etcd.endpoint(), &format!("{ns}/v"), "2").await;
    wait_content(&global, "g=2\n").await;
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}
