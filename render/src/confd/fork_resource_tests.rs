//! The abtreece/confd resource keys through the runner: `output_format`, `check_cmd_timeout`,
//! `reload_cmd_timeout`, `{{.src}}`/`{{.dest}}` in commands and `min_reload_interval`
//! (docs/template-resources.md of the fork).

use super::*;

/// A bad render under `output_format` keeps the old file and runs no reload; a good one is
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_format_keeps_the_old_file_on_a_parse_error() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    let dest = dir.resource(
        "app",
        "app",
        &format!(
            "output_format = \"json\"\nreload_cmd = \"echo r >> {}\"\n",
            log.display()
        ),
    );
    dir.template("app", "{\"port\": {{getv \"/app/value\"}}}\n");
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "8080").await;
    let onetime = || ConfdRunner::new(dir.options(Mode::Onetime), kv.clone()).run();
    onetime().await.unwrap();
    assert_eq!(read(&dest).as_deref(), Some("{\"port\": 8080}\n"));
    put(&kv, "/app/value", "80,").await;
    let err = onetime().await.unwrap_err().to_string();
    assert!(err.contains("1 template resource(s) failed"), "{err}");
    assert_eq!(read(&dest).as_deref(), Some("{\"port\": 8080}\n"));
    assert_eq!(lines(&log), ["r"], "no reload for the bad render");
}

/// `check_cmd_timeout` beats `-command-timeout`: the hanging check is killed after it, and
/// the old file stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_cmd_timeout_beats_the_global_timeout_and_keeps_the_old_file() {
    let dir = Dir::new();
    let dest = dir.resource(
        "app",
        "app",
        "check_cmd = \"sleep 30\"\ncheck_cmd_timeout = \"300ms\"\n",
    );
    std::fs::write(&dest, "old\n").unwrap();
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "1").await;
    let mut options = dir.options(Mode::Onetime);
    options.command_timeout = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let result = ConfdRunner::new(options, kv.clone()).run().await;
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(read(&dest).as_deref(), Some("old\n"));
}

/// `reload_cmd_timeout` beats `-command-timeout` for the reload; `{{.dest}}` is the written file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_cmd_sees_dest_and_has_its_own_timeout() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    dir.resource(
        "app",
        "app",
        &format!(
            "reload_cmd = \"cat {{{{.dest}}}} >> {}\"\nreload_cmd_timeout = \"10s\"\n",
            log.display()
        ),
    );
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "1").await;
    let mut options = dir.options(Mode::Onetime);
    options.command_timeout = Duration::from_millis(1);
    ConfdRunner::new(options, kv.clone()).run().await.unwrap();
    assert_eq!(lines(&log), ["v=1"]);
}

/// Watch mode with `min_reload_interval`: every change is written at once; the reloads are
/// at least the interval apart, and the last change still gets its reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_reload_interval_spaces_reloads_without_losing_the_last() {
    let dir = Dir::new();
    let log = dir.file("reloads");
    let dest = dir.file("app.out");
    dir.resource(
        "app",
        "app",
        &format!(
            "reload_cmd = \"echo $(date +%s%N) $(cat {}) >> {}\"\nmin_reload_interval = \"700ms\"\n",
            dest.display(),
            log.display()
        ),
    );
    let kv = Arc::new(MemoryBackend::new());
    put(&kv, "/app/value", "1").await;
    let handle = start(&dir, Mode::Watch, &kv);
    eventually("the first reload", || lines(&log).len() == 1).await;
    for v in ["2", "3", "4"] {
        put(&kv, "/app/value", v).await;
        content(&dest, &format!("v={v}\n")).await;
    }
    assert_eq!(lines(&log).len(), 1, "held back inside the interval");
    eventually("the reload at the interval's end", || {
        lines(&log).len() == 2
    })
    .await;
    handle.shutdown().await.unwrap();
    let runs = lines(&log);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let at = |l: &str| l.split(' ').next().unwrap().parse::<u128>().unwrap();
    assert!(at(&runs[1]) - at(&runs[0]) >= 650_000_000, "{runs:?}");
    assert!(
        runs[1].ends_with("v=4"),
        "the reload follows the last write: {runs:?}"
    );
}
