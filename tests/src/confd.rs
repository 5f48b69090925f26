//! The `confd` binary as the integration tests run it: a long-running child with its stderr in
//! a file ([`Confd`]), a run to its end ([`run`]), and the one-resource conf.d most tests need
//! ([`resource`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bins::{bin, ChildGuard};
use crate::util::{eventually, strip_ansi};

/// Hang guard for anything confd should do "soon".
pub const SOON: Duration = Duration::from_secs(60);

/// `-confdir DIR`, and `-config-file DIR/no-confd.toml` unless `args` name one, so a
/// `/etc/confd/confd.toml` on the machine never leaks into a test.
fn confd_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("confd"));
    cmd.args(args).arg("-confdir").arg(dir);
    if !args.contains(&"-config-file") {
        cmd.arg("-config-file").arg(dir.join("no-confd.toml"));
    }
    cmd
}

/// A `confd` child with its stderr in `DIR/confd.log`; killed when dropped.
#[derive(Debug)]
pub struct Confd {
    /// The process.
    pub child: ChildGuard,
    log: PathBuf,
}

impl Confd {
    /// Starts `confd ARGS -confdir DIR` (with `-config-file DIR/no-confd.toml` unless `ARGS`
    /// name one).
    pub fn start(dir: &Path, args: &[&str]) -> Confd {
        let log = dir.join("confd.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = confd_command(dir, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run confd: {e}"));
        Confd {
            child: ChildGuard(child),
            log,
        }
    }

    /// stderr so far, without ANSI colours.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits until the log holds at least `n` lines containing all of `needles`.
    pub async fn wait_log(&self, needles: &[&str], n: usize) {
        let what = format!("{n} log line(s) with {needles:?}");
        eventually(&what, SOON, || async {
            let count = self
                .log()
                .lines()
                .filter(|l| needles.iter().all(|s| l.contains(s)))
                .count();
            (count >= n).then_some(())
        })
        .await;
    }
}

/// `confd ARGS -confdir DIR` to its end: (exit code, stdout, stderr without colours).
pub async fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        SOON,
        tokio::process::Command::from(confd_command(dir, args)).output(),
    )
    .await
    .expect("confd hung")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// Writes `conf.d/app.toml` (keys `[prefix]`, then the `extra` lines) and `templates/app.tmpl`;
/// returns the destination, `DIR/out/app.conf`.
pub fn resource(dir: &Path, prefix: &str, extra: &str, template: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let dest = dir.join("out").join("app.conf");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(
        dir.join("conf.d/app.toml"),
        format!(
            "[template]\nsrc = \"app.tmpl\"\ndest = \"{}\"\nkeys = [\"{prefix}\"]\n{extra}",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("templates/app.tmpl"), template).unwrap();
    dest
}

/// The template `v=<value of PREFIX/value>\n`.
pub fn value_template(prefix: &str) -> String {
    format!("v={{{{getv \"{prefix}/value\"}}}}\n")
}

/// Waits until `dest` holds exactly `want`.
pub async fn wait_content(dest: &Path, want: &str) {
    eventually(&format!("{} = {want:?}", dest.display()), SOON, || async {
        (std::fs::read_to_string(dest).ok().as_deref() == Some(want)).then_some(())
    })
    .await;
}

/// One put through a fresh etcd client.
pub async fn put(endpoint: &str, key: &str, value: &str) {
    let mut c = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to etcd at {endpoint}: {e}"));
    c.put(key, value, None)
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}
