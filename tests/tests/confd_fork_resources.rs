//! abtreece/confd's resource keys and flags through the real `confd` binary and a real etcd
//! (the fork's docs/template-resources.md and docs/command-line-flags.md): `output_format`,
//! `check_cmd_timeout`, `{{.src}}`/`{{.dest}}` in `reload_cmd`, `min_reload_interval`,
//! `-template-functions fork`, and the backend-free `-check-config` / `-validate -mock-data`.

use std::path::Path;
use std::time::Duration;

use discovery_tests::confd::{put, resource, run, value_template, wait_content, Confd, SOON};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::{eventually, unique};

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `output_format = "json"`: a render that is not JSON keeps the old file, runs no reload and
/// is logged naming the resource, the format and the position; the next good render lands.
#[tokio::test(flavor = "multi_thread")]
async fn output_format_keeps_the_old_file_when_the_render_does_not_parse() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-format"));
    let dir = tempfile::tempdir().unwrap();
    let reloads = dir.path().join("reloads");
    let dest = resource(
        dir.path(),
        &prefix,
        &format!(
            "output_format = \"json\"\nreload_cmd = \"cat {{{{.dest}}}} >> {}\"\n",
            reloads.display()
        ),
        &format!("{{\"port\": {{{{getv \"{prefix}/value\"}}}}}}\n"),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "8080").await;
    let confd = Confd::start(
        dir.path(),
        &["-watch", "-backend", "etcdv3", "-node", &server.endpoint()],
    );
    wait_content(&dest, "{\"port\": 8080}\n").await;
    put(&server.endpoint(), &format!("{prefix}/value"), "80,").await;
    confd
        .wait_log(
            &[
                "app.toml:1:",
                "output format validation failed (json)",
                "keeping the old file",
            ],
            1,
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "{\"port\": 8080}\n"
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "81").await;
    wait_content(&dest, "{\"port\": 81}\n").await;
    eventually("the reload of the good render", SOON, || async {
        (lines(&reloads).len() == 2).then_some(())
    })
    .await;
    assert_eq!(lines(&reloads), ["{\"port\": 8080}", "{\"port\": 81}"]);
    assert!(!confd.log().contains("panicked"), "{}", confd.log());
}

/// `check_cmd_timeout` beats `-command-timeout`: the hanging check is killed after 300 ms, the
/// log names the resource and the command, and the old file stays.
#[tokio::test(flavor = "multi_thread")]
async fn check_cmd_timeout_kills_the_check_and_keeps_the_old_file() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-check-timeout"));
    let dir = tempfile::tempdir().unwrap();
    let dest = resource(
        dir.path(),
        &prefix,
        "check_cmd = \"test -z \\\"$(grep slow {{.src}})\\\" || sleep 30\"\ncheck_cmd_timeout = \"300ms\"\n",
        &value_template(&prefix),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "fast").await;
    let confd = Confd::start(
        dir.path(),
        &[
            "-watch",
            "-backend",
            "etcdv3",
            "-node",
            &server.endpoint(),
            "-command-timeout",
            "60s",
        ],
    );
    wait_content(&dest, "v=fast\n").await;
    let started = std::time::Instant::now();
    put(&server.endpoint(), &format!("{prefix}/value"), "slow").await;
    confd
        .wait_log(
            &["app.toml", "sleep 30", "timed out", "keeping the old file"],
            1,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "v=fast\n");
}

/// `reload_cmd` expands `{{.dest}}` (the destination) and `{{.src}}` (the staged file, kept
/// with `-keep-stage-file`), as the fork's `executeReload` does.
#[tokio::test(flavor = "multi_thread")]
async fn reload_cmd_expands_src_and_dest() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-reload-vars"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reloads");
    let dest = resource(
        dir.path(),
        &prefix,
        &format!(
            "reload_cmd = \"cat {{{{ .dest }}}} {{{{.src}}}} >> {}\"\n",
            log.display()
        ),
        &value_template(&prefix),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "1").await;
    let (code, _, stderr) = run(
        dir.path(),
        &[
            "-onetime",
            "-keep-stage-file",
            "-backend",
            "etcdv3",
            "-node",
            &server.endpoint(),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "v=1\n");
    assert_eq!(lines(&log), ["v=1", "v=1"], "dest, then the staged copy");
}

/// `min_reload_interval = "1s"`: a burst of changes is written at once, reloaded once now and
/// once at the interval's end (the last write is reloaded; nothing in between).
#[tokio::test(flavor = "multi_thread")]
async fn min_reload_interval_spaces_reloads_and_reloads_the_last_write() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-min-reload"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reloads");
    let dest = resource(
        dir.path(),
        &prefix,
        &format!(
            "reload_cmd = \"echo $(date +%s%N) $(cat {{{{.dest}}}}) >> {}\"\nmin_reload_interval = \"1s\"\n",
            log.display()
        ),
        &value_template(&prefix),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "1").await;
    let _confd = Confd::start(
        dir.path(),
        &["-watch", "-backend", "etcdv3", "-node", &server.endpoint()],
    );
    eventually("the first reload", SOON, || async {
        (lines(&log).len() == 1).then_some(())
    })
    .await;
    for v in ["2", "3", "4"] {
        put(&server.endpoint(), &format!("{prefix}/value"), v).await;
        wait_content(&dest, &format!("v={v}\n")).await;
    }
    eventually("the reload at the interval's end", SOON, || async {
        (lines(&log).len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = lines(&log);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let at = |l: &str| l.split(' ').next().unwrap().parse::<u128>().unwrap();
    assert!(at(&runs[1]) - at(&runs[0]) >= 950_000_000, "{runs:?}");
    assert!(runs[1].ends_with("v=4"), "{runs:?}");
}

/// `-template-functions fork`: the fork's `seq` counts down (`seq 3 1` is `[3 2 1]`); confd
/// 0.17's gives `[]` (the fork's template_funcs_test.go and confd's own).
#[tokio::test(flavor = "multi_thread")]
async fn template_functions_fork_selects_the_forks_seq() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-funcs"));
    let dir = tempfile::tempdir().unwrap();
    let dest = resource(
        dir.path(),
        &prefix,
        "",
        &format!("{{{{seq 3 1}}}} {{{{getv \"{prefix}/value\"}}}}\n"),
    );
    put(&server.endpoint(), &format!("{prefix}/value"), "x").await;
    let endpoint = server.endpoint();
    let args = |funcs: &'static str| {
        vec![
            "-onetime",
            "-backend",
            "etcdv3",
            "-node",
            endpoint.as_str(),
            "-template-functions",
            funcs,
        ]
    };
    let (code, _, stderr) = run(dir.path(), &args("confd")).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "[] x\n");
    let (code, _, stderr) = run(dir.path(), &args("fork")).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "[3 2 1] x\n");
}

/// `-check-config` and `-validate -mock-data` need no backend, print nothing on success, name
/// file:line:col on failure and change nothing on disk.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_and_validate_run_without_a_backend() {
    let dir = tempfile::tempdir().unwrap();
    let dest = resource(
        dir.path(),
        "/app",
        "output_format = \"yaml\"\nreload_cmd = \"touch reloaded\"\n",
        "port: {{getv \"/app/port\"}}\nhosts: [{{join (getvs \"/app/hosts/*\") \", \"}}]\n",
    );
    let mock = dir.path().join("mock.yaml");
    std::fs::write(&mock, "app:\n  port: 8080\n  hosts: [a, b]\n").unwrap();
    let mock = mock.to_str().unwrap();
    // No backend at all: -node points nowhere.
    let no_backend = ["-backend", "etcdv3", "-node", "127.0.0.1:1"];
    let with = |extra: &[&'static str]| {
        let mut a: Vec<&str> = no_backend.to_vec();
        a.extend_from_slice(extra);
        a
    };
    let (code, out, err) = run(dir.path(), &with(&["-check-config"])).await;
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    let mut a = with(&["-validate", "-mock-data"]);
    a.push(mock);
    let (code, out, err) = run(dir.path(), &a).await;
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    assert!(!dest.exists() && !dir.path().join("reloaded").exists());

    // A key missing from the mock data names the template's line and column.
    std::fs::write(dir.path().join("mock.yaml"), "app:\n  hosts: [a]\n").unwrap();
    let (code, _, err) = run(dir.path(), &a).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("app.tmpl:1:") && err.contains("/app/port"),
        "{err}"
    );
    // A render that is not YAML names the resource, the format and the position.
    std::fs::write(
        dir.path().join("mock.yaml"),
        "app:\n  port: '[1'\n  hosts: [a]\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &a).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "app.toml:2:6: output format validation failed (yaml): invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 1 column 7"
        ),
        "{err}"
    );
    // A template that does not parse fails -check-config with its file and line.
    std::fs::write(
        dir.path().join("templates/app.tmpl"),
        "ok\n{{getv \"/app/port\"\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &with(&["-check-config"])).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("app.tmpl:3: unclosed action"), "{err}");
    assert!(!dest.exists());
}

/// `-noop -diff -diff-context N -color`: the diff on standard output has N lines of context and
/// the fork's colours; the destination is not touched.
#[tokio::test(flavor = "multi_thread")]
async fn noop_diff_context_and_color() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-diff"));
    let dir = tempfile::tempdir().unwrap();
    let dest = resource(
        dir.path(),
        &prefix,
        "",
        &format!("a\nb\nc\nv={{{{getv \"{prefix}/value\"}}}}\nd\ne\nf\n"),
    );
    let before = "a\nb\nc\nv=old\nd\ne\nf\n";
    std::fs::write(&dest, before).unwrap();
    put(&server.endpoint(), &format!("{prefix}/value"), "new").await;
    let endpoint = server.endpoint();
    let base = [
        "-onetime", "-noop", "-diff", "-backend", "etcdv3", "-node", &endpoint,
    ];
    let name = dest.display().to_string();
    let (code, out, stderr) = run(dir.path(), &base).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        out,
        format!(
            "--- {name}\n+++ {name}\n@@ -1,7 +1,7 @@\n a\n b\n c\n-v=old\n+v=new\n d\n e\n f\n"
        )
    );
    let mut args = base.to_vec();
    args.extend(["-diff-context", "1", "-color"]);
    let (code, out, stderr) = run(dir.path(), &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        out,
        format!(
            "\x1b[1m--- {name}\x1b[0m\n\x1b[1m+++ {name}\x1b[0m\n\x1b[36m@@ -3,3 +3,3 @@\x1b[0m\n c\n\
             \x1b[31m-v=old\x1b[0m\n\x1b[32m+v=new\x1b[0m\n d\n"
        )
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), before);
    let (code, _, stderr) = run(dir.path(), &["-diff-context", "many", "-onetime"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("-diff-context"), "{stderr}");
}

/// abtreece/confd's command line: the backend as a subcommand, `-n`, `--` flags, JSON logs and
/// `--preflight`, with a real etcd.
#[tokio::test(flavor = "multi_thread")]
async fn the_forks_command_line_works_unchanged() {
    let server = EtcdServer::shared().await;
    let prefix = format!("/{}", unique("fork-cli"));
    let dir = tempfile::tempdir().unwrap();
    let dest = resource(dir.path(), &prefix, "", &value_template(&prefix));
    put(&server.endpoint(), &format!("{prefix}/value"), "7").await;
    let endpoint = format!("http://{}", server.endpoint().trim_start_matches("http://"));
    let (code, _, stderr) = run(
        dir.path(),
        &[
            "etcd",
            "-n",
            &endpoint,
            "--onetime",
            "--log-format",
            "json",
            "--no-template-cache",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "v=7\n");
    let logs: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!logs.is_empty());
    for l in &logs {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }

    // --preflight reads the keys and writes nothing; an unreachable backend fails in time.
    std::fs::remove_file(&dest).unwrap();
    let (code, _, stderr) = run(dir.path(), &["etcd", "--node", &endpoint, "--preflight"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("preflight passed"), "{stderr}");
    assert!(!dest.exists(), "preflight wrote the destination");
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(
        dir.path(),
        &[
            "etcd",
            "-n",
            "http://127.0.0.1:1",
            "--preflight",
            "--preflight-timeout",
            "2s",
            "--dial-timeout",
            "500ms",
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{stderr}"
    );
    // Refused by name, not ignored.
    let (code, _, stderr) = run(
        dir.path(),
        &["etcd", "--failure-mode", "fail-fast", "--onetime"],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("-failure-mode fail-fast: not implemented"),
        "{stderr}"
    );
    let (code, _, stderr) = run(dir.path(), &["vault", "--onetime"]).await;
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("vault"), "{stderr}");
}
