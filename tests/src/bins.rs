//! The example binaries (`confd`, `register`, ...) built once per test process, for tests that
//! run them as a user would.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Path of the example binary `name`, building `discovery-examples`' binaries on first use
/// (`cargo test` does not build another package's binaries).
///
/// The build runs `cargo build -q` with the arguments in `DISCOVERY_BIN_CARGO_ARGS`
/// (space-separated; default `-p discovery-examples --bins`). `scripts/test.sh` sets them to
/// `--workspace --all-features --bins --tests`, the feature set of its own `cargo test`, so that
/// the binaries reuse the dependencies the tests were built with instead of a second copy of
/// every crate (a few GB).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let args = std::env::var("DISCOVERY_BIN_CARGO_ARGS")
            .unwrap_or_else(|_| "-p discovery-examples --bins".into());
        let status = Command::new(cargo)
            .args(["build", "-q"])
            .args(args.split_whitespace())
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo to build the example binaries");
        assert!(status.success(), "building the example binaries failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("target"));
        target.join("debug")
    });
    let path = dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// Sends `signal` (e.g. `libc`-free: "HUP", "TERM") through `kill`.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.0.id().to_string()])
            .status();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGTERM first so that a server can stop its own children (nginx workers), then SIGKILL.
        self.signal("TERM");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
