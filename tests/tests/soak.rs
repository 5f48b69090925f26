//! Soak: `confd -watch` against a real etcd under random puts, deletes, lease expiries (puts
//! with a short TTL) and two etcd restarts. At the end the rendered file must equal what the
//! final etcd state renders to (rendered in-process with `ConfdTemplate` from a `list`), and
//! confd's resident memory must stay flat (≤ 2 × start + 20 MiB).
//!
//! Duration: `DISCOVERY_SOAK_SECS` (default 45 s). Figures are printed (run with
//! `--nocapture` to see them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discovery_core::{Key, KvView, RenderData, Renderer};
use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
use discovery_tests::bins::{bin, ChildGuard};
use discovery_tests::etcd::EtcdServer;
use discovery_tests::util::eventually;
use etcd_client::{GetOptions, PutOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TEMPLATE: &str = "# soak\n{{range gets \"/soak/*\"}}{{base .Key}}={{.Value}}\n{{end}}count={{len (ls \"/soak\")}}\n";
/// Distinct keys the random operations touch.
const KEYS: usize = 64;
/// TTL of the short leases.
const TTL_SECS: i64 = 2;

/// Resident set size of `pid` in KiB (`VmRSS` of /proc/<pid>/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("confd (pid {pid}) is gone: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

fn soak_duration() -> Duration {
    let secs = std::env::var("DISCOVERY_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45u64);
    Duration::from_secs(secs)
}

fn write_confdir(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let dest = dir.join("soak.conf");
    std::fs::write(
        dir.join("conf.d/soak.toml"),
        format!(
            "[template]\nsrc = \"soak.tmpl\"\ndest = \"{}\"\nkeys = [\"/soak\"]\n",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("templates/soak.tmpl"), TEMPLATE).unwrap();
    dest
}

/// What the current etcd state renders to (after every leased key has expired).
async fn expected_render(server: &EtcdServer) -> String {
    let backend = server.backend("").await;
    let snapshot = backend
        .list(&[Key::new("/soak").unwrap()])
        .await
        .unwrap_or_else(|e| panic!("list /soak: {e}"));
    let template = Template::parse(
        TEMPLATE,
        TemplateOptions::new(Dialect::Confd).name("soak.tmpl"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    ConfdTemplate::new(template, "/", vec!["/soak".to_owned()])
        .render(&RenderData::from_kv(Arc::new(snapshot)))
        .unwrap_or_else(|e| panic!("{e}"))
        .output
}

#[derive(Debug, Default)]
struct Counts {
    puts: u64,
    deletes: u64,
    leased_puts: u64,
    failed_ops: u64,
    restarts: u64,
}

#[tokio::test(flavor = "multi_thread")]
async fn confd_watch_survives_churn_and_restarts_and_ends_in_sync() {
    let duration = soak_duration();
    let server = EtcdServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let dest = write_confdir(dir.path());
    let log = dir.path().join("confd.log");
    let mut client = etcd_client::Client::connect([server.endpoint()], None)
        .await
        .unwrap();
    client.put("/soak/seed", "0", None).await.unwrap();
    let child = Command::new(bin("confd"))
        .args([
            "-watch",
            "-backend",
            "etcdv3",
            "-node",
            &server.endpoint(),
            "-log-level",
            "warn",
        ])
        .arg("-confdir")
        .arg(dir.path())
        .arg("-config-file")
        .arg(dir.path().join("none.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut confd = ChildGuard(child);
    let pid = confd.0.id();
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        while !std::fs::read_to_string(&dest).is_ok_and(|s| s.contains("seed=0")) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        first.is_ok(),
        "no first render within 60 s; confd log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let rss_start = rss_kib(pid);

    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counts = Counts::default();
    let started = Instant::now();
    let restart_at = [duration / 3, duration * 2 / 3];
    while started.elapsed() < duration {
        if counts.restarts < 2 && started.elapsed() >= restart_at[counts.restarts as usize] {
            server.restart().await;
            counts.restarts += 1;
            client = etcd_client::Client::connect([server.endpoint()], None)
                .await
                .unwrap();
            continue;
        }
        let key = format!("/soak/k{:02}", rng.gen_range(0..KEYS));
        let value = format!("v{}", rng.gen::<u32>());
        let roll = rng.gen_range(0..100);
        let result = if roll < 60 {
            counts.puts += 1;
            client.put(key, value, None).await.map(drop)
        } else if roll < 85 {
            counts.deletes += 1;
            client.delete(key, None).await.map(drop)
        } else {
            counts.leased_puts += 1;
            match client.lease_grant(TTL_SECS, None).await {
                Ok(lease) => client
                    .put(key, value, Some(PutOptions::new().with_lease(lease.id())))
                    .await
                    .map(drop),
                Err(e) => Err(e),
            }
        };
        if result.is_err() {
            counts.failed_ops += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..60))).await;
    }
    assert!(
        matches!(confd.0.try_wait(), Ok(None)),
        "confd exited during the soak: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Let every leased key expire, then the file must match the final state.
    eventually("leased keys to expire", Duration::from_secs(90), || {
        let mut c = client.clone();
        async move {
            let resp = c
                .get("/soak/", Some(GetOptions::new().with_prefix()))
                .await
                .ok()?;
            resp.kvs().iter().all(|kv| kv.lease() == 0).then_some(())
        }
    })
    .await;
    let want = expected_render(&server).await;
    let mut last = String::new();
    let synced = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            last = std::fs::read_to_string(&dest).unwrap_or_default();
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        synced.is_ok(),
        "rendered file differs from the final etcd state\n--- want\n{want}\n--- got\n{last}\n--- confd log\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let rss_end = rss_kib(pid);
    let confd_log = std::fs::read_to_string(&log).unwrap_or_default();
    println!(
        "soak: {:?}, seed {seed}, {counts:?}, final keys {}, confd RSS start {rss_start} KiB, end {rss_end} KiB, \
         confd log lines {}",
        started.elapsed(),
        want.lines().count().saturating_sub(2),
        confd_log.lines().count()
    );
    assert!(!confd_log.contains("panicked"), "{confd_log}");
    assert!(
        rss_end <= 2 * rss_start + 20 * 1024,
        "confd RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
}
