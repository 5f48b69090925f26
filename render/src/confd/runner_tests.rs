//! The contracts of [`ConfdRunner`] and [`ConfdHandle`], one test per sentence, on the memory
//! backend with `sh -c` check and reload commands that log to marker files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{Error, Key, KvStore, MemoryBackend};

use super::*;
use crate::confd::options::Interval;

/// Hang guard for anything the runner should do "soon".
const SOON: Duration = Duration::from_secs(20);

/// A confdir with `conf.d/` and `templates/`.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("conf.d")).unwrap();
        std::fs::create_dir_all(d.path().join("templates")).unwrap();
        Dir(d)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// `conf.d/<name>.toml` watching `/<key>`, rendering `v=<value of /<key>/value>` into
    /// `<name>.out`, with `extra` TOML lines; returns the destination.
    fn resource(&self, name: &str, key: &str, extra: &str) -> PathBuf {
        let dest = self.file(&format!("{name}.out"));
        std::fs::write(
            self.path().join(format!("conf.d/{name}.toml")),
            format!(
                "[template]\nsrc = \"{name}.tmpl\"\ndest = \"{}\"\nkeys = [\"/{key}\"]\n{extra}",
                dest.display()
            ),
        )
        .unwrap();
        self.template(name, &format!("v={{{{getv \"/{key}/value\"}}}}\n"));
        dest
    }

    fn template(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(format!("templates/{name}.tmpl")), text).unwrap();
    }

    fn options(&self, mode: Mode) -> ConfdOptions {
        ConfdOptions::new(mode, self.path())
    }
}

async fn put(kv: &MemoryBackend, key: &str, value: &str) {
    kv.put(&Key::new(key).unwrap(), value.to_owned().into(), None)
        .await
        .unwrap();
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn lines(path: &Path) -> Vec<String> {
    read(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SOON;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn content(dest: &Path, want: &str) {
    eventually(&format!("{} = {want:?}", dest.display()), || {
        read(dest).as_deref() == Some(want)
    })
    .await;
}

fn start(dir: &Dir, mode: Mode, kv: &Arc<MemoryBackend>) -> ConfdHandle {
    ConfdRunner::new(dir.options(mode), kv.clone()).start()
}

#[test]
fn runner_and_handle_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ConfdRunner>();
    check::<ConfdHandle>();
    check::<ConfdOptions>();
}

#[test]
fn an_interval_of_zero_is_refused_naming_interval() {
    for err in [
        Interval::new(Duration::ZERO).unwrap_err(),
        Mode::interval(Duration::ZERO).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::InvalidConfig { key, .. } if key == "interval"),
            "{err:?}"
        );
    }
    assert_eq!(
        Mode::interval(Duration::from_millis(1)).unwrap(),
        Mode::Interval(Interval::new(Duration::from_millis(1)).unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_runs_after_its_file_is_written() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    let reload = |dest: &Path| {
        format!(
            "reload_cmd = \"cat {} >> {}\"\n",
            dest.display(),
            log.display()
        )
    };
    let dest = dir.file("app.out");
    dir.resource("app", "app", &reload(&dest));
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "1").await;

    // Onetime: the reload sees the file it follows.
    ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&log), ["v=1"]);

    // Watch: every change's reload sees that change.
    let handle = start(&dir, Mode::Watch, &kv);
    put(&kv, "/app/value", "2").await;
    eventually("the reload of v=2", || lines(&log).len() == 2).await;
    put(&kv, "/app/value", "3").await;
    eventually("the reload of v=3", || lines(&log).len() == 3).await;
    handle.shutdown().await.unwrap();
    assert_eq!(lines(&log), ["v=1", "v=2", "v=3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reload_command_runs_once_per_pass() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    let dests: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| dir.file(&format!("{n}.out")))
        .collect();
    let all = dests
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    // Each run logs what the three files hold when it starts.
    let reload = format!("reload_cmd = \"echo $(cat {all}) >> {}\"\n", log.display());
    for n in ["a", "b", "c"] {
        dir.resource(n, "shared", &reload);
    }
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/shared/value", "1").await;
    ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(
        lines(&log),
        ["v=1 v=1 v=1"],
        "one run, after all three writes"
    );

    // Interval mode: a pass that writes the three runs it once; passes without changes, never.
    put(&kv, "/shared/value", "2").await;
    let handle = start(
        &dir,
        Mode::interval(Duration::from_millis(50)).unwrap(),
        &kv,
    );
    eventually("the reload of pass 1", || !lines(&log).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.shutdown().await.unwrap();
    assert_eq!(lines(&log), ["v=1 v=1 v=1", "v=2 v=2 v=2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reloads_never_overlap_and_follow_the_last_write() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    let dests: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| dir.file(&format!("{n}.out")))
        .collect();
    let all = dests
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let reload = format!(
        "reload_cmd = \"echo start $(cat {all}) >> {0}; sleep 0.2; echo end >> {0}\"\n",
        log.display()
    );
    for n in ["a", "b", "c"] {
        dir.resource(n, "burst", &reload);
    }
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/burst/value", "0").await;
    let handle = start(&dir, Mode::Watch, &kv);
    eventually("the first reload", || lines(&log).len() >= 2).await;
    for i in 1..=10 {
        put(&kv, "/burst/value", &i.to_string()).await;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    eventually("a reload after the last write", || {
        let l = lines(&log);
        l.len() >= 2 && l[l.len() - 2] == "start v=10 v=10 v=10" && l[l.len() - 1] == "end"
    })
    .await;
    handle.shutdown().await.unwrap();
    let l = lines(&log);
    for (i, line) in l.iter().enumerate() {
        let want = if i % 2 == 0 { "start" } else { "end" };
        assert!(line.starts_with(want), "reloads overlap: {l:?}");
    }
    assert!(l.len() / 2 < 11, "as many runs as writes: {l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_check_keeps_the_old_file_and_runs_no_reload() {
    let dir = Dir::new();
    let (checks, reloads) = (dir.file("checks"), dir.file("reloads"));
    let dest = dir.resource(
        "app",
        "app",
        &format!(
            "check_cmd = \"echo check >> {}; grep -q good {{{{.src}}}}\"\nreload_cmd = \"echo reload >> {}\"\n",
            checks.display(),
            reloads.display()
        ),
    );
    let kv = Arc::new(MemoryBackend::new());
    std::fs::write(&dest, "old\n").unwrap();
    put(&kv, "/app/value", "bad-1").await;
    let err = ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1 template resource(s) failed"),
        "{err}"
    );
    assert_eq!(read(&dest).as_deref(), Some("old\n"));
    assert_eq!(lines(&checks), ["check"]);
    assert!(lines(&reloads).is_empty(), "a failed check ran the reload");

    let handle = start(&dir, Mode::Watch, &kv);
    eventually("the watch's first check", || lines(&checks).len() == 2).await;
    put(&kv, "/app/value", "good-2").await;
    content(&dest, "v=good-2\n").await;
    eventually("the reload of good-2", || lines(&reloads).len() == 1).await;
    put(&kv, "/app/value", "bad-3").await;
    eventually("the check of bad-3", || lines(&checks).len() == 4).await;
    // The next change to the resource's keys tries again (and fails again).
    put(&kv, "/app/other", "x").await;
    eventually("the check retried", || lines(&checks).len() == 5).await;
    put(&kv, "/app/value", "good-4").await;
    content(&dest, "v=good-4\n").await;
    handle.shutdown().await.unwrap();
    assert_eq!(
        lines(&reloads),
        ["reload", "reload"],
        "reloads of good-2 and good-4 only"
    );
    let strays: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".app.out"))
        .collect();
    assert!(strays.is_empty(), "staged files left: {strays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onetime_result_counts_the_failures() {
    let dir = Dir::new();
    let good = dir.resource("good", "good", "");
    dir.resource("missing-key", "nokey", "");
    std::fs::write(
        dir.path().join("conf.d/broken.toml"),
        "[template]\nsrc = \"broken.tmpl\"\n",
    )
    .unwrap();
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/good/value", "ok").await;
    let err = ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { reason, .. } if reason == "2 template resource(s) failed"),
        "{err:?}"
    );
    assert_eq!(
        read(&good).as_deref(),
        Some("v=ok\n"),
        "the good resource is still written"
    );

    // The same through a handle.
    let err = start(&dir, Mode::Onetime, &kv).await.unwrap_err();
    assert!(
        err.to_string().contains("2 template resource(s) failed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_rereads_conf_d_every_pass() {
    let dir = Dir::new();
    let a = dir.resource("a", "a", "");
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/a/value", "1").await;
    put(&kv, "/b/value", "2").await;
    let handle = start(
        &dir,
        Mode::interval(Duration::from_millis(50)).unwrap(),
        &kv,
    );
    content(&a, "v=1\n").await;
    // A new resource and a changed template are picked up without a reload.
    let b = dir.resource("b", "b", "");
    content(&b, "v=2\n").await;
    dir.template("a", "new={{getv \"/a/value\"}}\n");
    content(&a, "new=1\n").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_conf_d_and_keeps_the_old_set_on_failure() {
    let dir = Dir::new();
    let a = dir.resource("a", "a", "");
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/a/value", "1").await;
    put(&kv, "/b/value", "1").await;
    let handle = start(&dir, Mode::Watch, &kv);
    content(&a, "v=1\n").await;

    // A resource added to conf.d is rendered after a reload, not before.
    let b = dir.resource("b", "b", "");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(read(&b), None, "conf.d re-read without a reload");
    handle.reload();
    content(&b, "v=1\n").await;

    // A new set with a broken resource is refused: `a` keeps its old template.
    dir.template("a", "new={{getv \"/a/value\"}}\n");
    std::fs::write(dir.path().join("conf.d/broken.toml"), "[template\n").unwrap();
    handle.reload();
    tokio::time::sleep(Duration::from_millis(200)).await;
    put(&kv, "/a/value", "2").await;
    eventually("a re-rendered", || {
        read(&a).is_some_and(|t| t.ends_with("=2\n"))
    })
    .await;
    assert_eq!(
        read(&a).as_deref(),
        Some("v=2\n"),
        "the old set was not kept"
    );
    put(&kv, "/b/value", "2").await;
    content(&b, "v=2\n").await;

    // Once it loads, the new set replaces the old.
    std::fs::remove_file(dir.path().join("conf.d/broken.toml")).unwrap();
    handle.reload();
    content(&a, "new=2\n").await;
    handle.shutdown().await.unwrap();

    // Interval mode: a reload starts a pass at once.
    let c = dir.resource("c", "a", "");
    let handle = start(
        &dir,
        Mode::interval(Duration::from_secs(3600)).unwrap(),
        &kv,
    );
    content(&c, "v=2\n").await;
    let d = dir.resource("d", "a", "");
    handle.reload();
    content(&d, "v=2\n").await;
    handle.shutdown().await.unwrap();
}

/// A watch-mode runner whose check and reload commands are slow and log their start and end.
struct Slow {
    dir: Dir,
    dest: PathBuf,
    checks: PathBuf,
    reloads: PathBuf,
    kv: Arc<MemoryBackend>,
}

impl Slow {
    async fn new() -> Slow {
        let dir = Dir::new();
        let (checks, reloads) = (dir.file("checks"), dir.file("reloads"));
        let slow = |log: &Path| {
            format!(
                "echo start >> {0}; sleep 0.4; echo end >> {0}",
                log.display()
            )
        };
        let dest = dir.resource(
            "app",
            "app",
            &format!(
                "check_cmd = \"{}\"\nreload_cmd = \"{}\"\n",
                slow(&checks),
                slow(&reloads)
            ),
        );
        let kv = Arc::new(MemoryBackend::new());
        put(&kv, "/app/value", "1").await;
        Slow {
            dir,
            dest,
            checks,
            reloads,
            kv,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_render_and_reloads_in_flight() {
    // A shutdown while the reload runs waits for its end.
    let s = Slow::new().await;
    let handle = start(&s.dir, Mode::Watch, &s.kv);
    eventually("the first reload", || lines(&s.reloads) == ["start"]).await;
    handle.shutdown().await.unwrap();
    assert_eq!(lines(&s.reloads), ["start", "end"]);

    // A shutdown while a check runs waits for the check, the write and the write's reload.
    let s = Slow::new().await;
    let handle = start(&s.dir, Mode::Watch, &s.kv);
    eventually("the first check", || lines(&s.checks) == ["start"]).await;
    handle.shutdown().await.unwrap();
    assert_eq!(lines(&s.checks), ["start", "end"]);
    assert_eq!(read(&s.dest).as_deref(), Some("v=1\n"));
    assert_eq!(lines(&s.reloads), ["start", "end"]);

    // The same in a pass of interval mode; while it sleeps, a shutdown returns at once.
    let s = Slow::new().await;
    let handle = start(
        &s.dir,
        Mode::interval(Duration::from_secs(3600)).unwrap(),
        &s.kv,
    );
    eventually("the first check", || lines(&s.checks) == ["start"]).await;
    handle.shutdown().await.unwrap();
    assert_eq!(lines(&s.checks), ["start", "end"]);
    assert_eq!(lines(&s.reloads), ["start", "end"]);
    let handle = start(
        &s.dir,
        Mode::interval(Duration::from_secs(3600)).unwrap(),
        &s.kv,
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // the pass: nothing changed
    let asked = std::time::Instant::now();
    handle.shutdown().await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_runs_after_shutdown() {
    let s = Slow::new().await;
    let handle = start(&s.dir, Mode::Watch, &s.kv);
    eventually("the first check", || lines(&s.checks) == ["start"]).await;
    // A change queued behind the running check: the shutdown wins over rendering it.
    put(&s.kv, "/app/value", "2").await;
    handle.shutdown().await.unwrap();
    let (checks, reloads) = (lines(&s.checks), lines(&s.reloads));
    put(&s.kv, "/app/value", "3").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(lines(&s.checks), checks);
    assert_eq!(lines(&s.reloads), reloads);
    assert_eq!(read(&s.dest).as_deref(), Some("v=1\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_shuts_the_runner_down() {
    let dir = Dir::new();
    let dest = dir.resource("app", "app", "");
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "1").await;
    let handle = start(&dir, Mode::Watch, &kv);
    content(&dest, "v=1\n").await;
    drop(handle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    put(&kv, "/app/value", "2").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        read(&dest).as_deref(),
        Some("v=1\n"),
        "rendered after the handle was dropped"
    );
}

#[path = "fork_resource_tests.rs"]
mod fork_resource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_tables_share_one_backend_per_config() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::backend_table::BackendConfig;
    use discovery_core::KvView;
    use futures::future::BoxFuture;

    let dir = Dir::new();
    let global = dir.resource("global", "k", "");
    let a1 = dir.resource("a1", "k", "[backend]\nbackend = \"mem-a\"\n");
    let a2 = dir.resource("a2", "k", "[backend]\nBACKEND = \"MEM-A\"\n");
    let b = dir.resource("b", "k", "[backend]\nbackend = \"mem-b\"\n");
    let (kv, kv_a, kv_b) = (
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryBackend::new()),
    );
    put(&kv, "/k/value", "global").await;
    put(&kv_a, "/k/value", "a").await;
    put(&kv_b, "/k/value", "b").await;
    let opens = Arc::new(AtomicUsize::new(0));
    let factory = {
        let (kv_a, kv_b, opens) = (kv_a.clone(), kv_b.clone(), opens.clone());
        move |c: BackendConfig| -> BoxFuture<'static, discovery_core::Result<Arc<dyn KvView>>> {
            opens.fetch_add(1, Ordering::SeqCst);
            let kv: discovery_core::Result<Arc<dyn KvView>> = match c.backend.as_str() {
                "mem-a" => Ok(kv_a.clone()),
                "mem-b" => Ok(kv_b.clone()),
                other => Err(Error::invalid_config(
                    "backend",
                    format!("{other:?} unknown"),
                )),
            };
            Box::pin(async move { kv })
        }
    };
    let handle = ConfdRunner::new(dir.options(Mode::Watch), kv.clone())
        .backend_factory(Arc::new(factory))
        .start();
    content(&global, "v=global\n").await;
    content(&a1, "v=a\n").await;
    content(&a2, "v=a\n").await;
    content(&b, "v=b\n").await;
    put(&kv_a, "/k/value", "a2").await;
    content(&a1, "v=a2\n").await;
    content(&a2, "v=a2\n").await;
    assert_eq!(read(&global).as_deref(), Some("v=global\n"));
    assert_eq!(read(&b).as_deref(), Some("v=b\n"));
    assert_eq!(
        opens.load(Ordering::SeqCst),
        2,
        "one backend per distinct table"
    );
    // A reload keeps the backends it opened.
    handle.reload();
    put(&kv_b, "/k/value", "b2").await;
    content(&b, "v=b2\n").await;
    assert_eq!(opens.load(Ordering::SeqCst), 2);
    handle.shutdown().await.unwrap();

    // Without a factory a resource with a table fails to load, named by its file.
    let err = ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("3 template resource(s) failed"),
        "{err}"
    );
}

/// A `[backend]` that is down when watch mode starts is opened once it answers; the other
/// resources run meanwhile, and onetime mode counts the resource as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_table_that_is_down_at_start_is_opened_once_it_answers() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::super::backend_table::BackendConfig;
    use discovery_core::KvView;
    use futures::future::BoxFuture;

    let dir = Dir::new();
    let global = dir.resource("global", "k", "");
    let late = dir.resource("late", "k", "[backend]\nbackend = \"mem-late\"\n");
    let (kv, kv_late) = (
        Arc::new(MemoryBackend::new()),
        Arc::new(MemoryBackend::new()),
    );
    put(&kv, "/k/value", "global").await;
    put(&kv_late, "/k/value", "late").await;
    let (up, opens) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let factory = {
        let (kv_late, up, opens) = (kv_late.clone(), up.clone(), opens.clone());
        move |_: BackendConfig| -> BoxFuture<'static, discovery_core::Result<Arc<dyn KvView>>> {
            opens.fetch_add(1, Ordering::SeqCst);
            let kv: discovery_core::Result<Arc<dyn KvView>> = if up.load(Ordering::SeqCst) {
                Ok(kv_late.clone())
            } else {
                Err(Error::unavailable("mem-late", "connection refused"))
            };
            Box::pin(async move { kv })
        }
    };
    let factory = Arc::new(factory);

    let err = ConfdRunner::new(dir.options(Mode::Onetime), kv.clone())
        .backend_factory(factory.clone())
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1 template resource(s) failed"),
        "{err}"
    );
    assert_eq!(read(&global).as_deref(), Some("v=global\n"));
    assert_eq!(read(&late), None);

    let handle = ConfdRunner::new(dir.options(Mode::Watch), kv.clone())
        .backend_factory(factory)
        .start();
    put(&kv, "/k/value", "global-2").await;
    content(&global, "v=global-2\n").await;
    eventually("the down backend tried again", || {
        opens.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(read(&late), None);
    up.store(true, Ordering::SeqCst);
    content(&late, "v=late\n").await;
    // Watched from then on, and the other resource still is.
    put(&kv_late, "/k/value", "late-2").await;
    content(&late, "v=late-2\n").await;
    put(&kv, "/k/value", "global-3").await;
    content(&global, "v=global-3\n").await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_interval_renders_changes_and_repairs_every_interval() {
    let dir = Dir::new();
    let a = dir.resource("a", "a", "");
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/a/value", "1").await;
    let every = Interval::new(Duration::from_millis(100)).unwrap();
    let handle = start(&dir, Mode::WatchInterval(every), &kv);
    content(&a, "v=1\n").await;
    put(&kv, "/a/value", "2").await;
    content(&a, "v=2\n").await;
    std::fs::write(&a, "tampered\n").unwrap();
    content(&a, "v=2\n").await;
    handle.shutdown().await.unwrap();
}
