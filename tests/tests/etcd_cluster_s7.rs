//! S7 at test size: `bench s7-keepalive` and `bench s7` (the benchmark binary itself) against a
//! 3-member etcd cluster in Docker. Shared leases must cut the keepalive rate to about one
//! request per TTL/3, and every watcher must get every change, including the one made after the
//! leader is killed. Needs Docker and the `discovery-etcd:3.4.23` image (scripts/etcd-image.sh).

use std::process::Command;

use discovery_tests::bins;

/// Runs `bench <args> --runs 1` and returns the median column of its report, by figure name.
fn bench(args: &[&str]) -> Vec<(String, f64)> {
    let out = Command::new(bins::bin("bench"))
        .args(args)
        .args(["--runs", "1"])
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("figure"))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let value = cols.get(1)?.parse().ok()?;
            Some((cols[0].to_owned(), value))
        })
        .collect()
}

fn figure(figures: &[(String, f64)], name: &str) -> f64 {
    figures
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no figure {name:?} in {figures:?}"))
        .1
}

#[test]
fn shared_leases_cut_keepalives_on_a_cluster() {
    let run = |shared: &str| {
        let f = bench(&[
            "s7-keepalive",
            "--count",
            "300",
            "--ttl",
            "6",
            "--seconds",
            "6",
            "--shared-lease",
            shared,
        ]);
        figure(&f, "steady keepalive requests (3 members)")
    };
    let own = run("false");
    let pooled = run("true");
    // 300 leases refreshed every 2 s: ~150/s; one shared lease: ~0.5/s.
    assert!(own > 100.0, "own leases: {own} keepalives/s");
    assert!(pooled < 2.0, "shared lease: {pooled} keepalives/s");
}

#[test]
fn every_watcher_gets_every_change_and_survives_a_leader_kill() {
    for model in ["prefix", "per-key"] {
        let f = bench(&[
            "s7",
            "--watchers",
            "6",
            "--procs",
            "2",
            "--changes",
            "5",
            "--keys",
            "4",
            "--model",
            model,
        ]);
        let watchers = figure(&f, "watchers held by etcd (3 members)");
        let expected = if model == "prefix" { 6.0 } else { 24.0 };
        assert!(
            watchers >= expected,
            "{model}: etcd holds {watchers} watchers"
        );
        let kill = figure(&f, "leader killed -> all N have the next change");
        assert!(kill > 0.0 && kill < 60_000.0, "{model}: {kill} ms");
    }
}
