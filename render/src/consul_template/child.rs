//! consul-template's exec mode (its `child` package): [`Child`] supervises one process — starts
//! it, signals it (its process group when it runs under `sh -c`), reloads or restarts it, stops
//! it with `kill_signal` then SIGKILL after `kill_timeout`, and reports how it exited.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use discovery_core::{Error, Result};
use rustix::process::{kill_process, kill_process_group, Pid};

use super::exec::ExecSpec;
use super::signal::Signal;

/// How a supervised child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildExit {
    /// Its wait status.
    pub status: ExitStatus,
}

impl ChildExit {
    /// consul-template's exit code for it: the child's own code, or -1 when a signal ended it
    /// (a process exiting with -1 exits with 255).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

impl std::fmt::Display for ChildExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "child process died with exit code {}", self.code())
    }
}

/// One supervised process of an [`ExecSpec`].
///
/// A one-string command with a space runs as `sh -c "…"` in a process group of its own, and is
/// signalled as a group (so a shell's children get the signals too); a one-word command or a
/// list runs directly and only it is signalled. Standard input, output and error are
/// consul-template's. Dropping a `Child` SIGKILLs the process.
///
/// ```no_run
/// use discovery_render::consul_template::{Child, ExecSpec, Signal};
/// # async fn example() -> discovery_core::Result<()> {
/// let spec = ExecSpec::new(["my-app --serve"]).reload_signal(Some(Signal::SIGHUP));
/// let mut child = Child::spawn(spec, std::env::vars().collect())?;
/// child.reload().await?; // SIGHUP (after the splay)
/// child.stop(false).await; // SIGINT, SIGKILL 30 s later if still running
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Child {
    spec: ExecSpec,
    argv: Vec<String>,
    group: bool,
    env: Vec<(String, String)>,
    process: Option<tokio::process::Child>,
}

fn spawn_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid_config("exec", format!("{what}: {e}"))
}

/// Looks `program` up in `PATH` as consul-template does before the child's environment
/// applies (a name with a `/` is taken as it is).
fn look_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The argv to run and whether it runs under `sh -c` (consul-template's `CommandPrep`).
fn prepare(command: &[String]) -> Result<(Vec<String>, bool)> {
    match command {
        [one] if one.split_whitespace().count() > 1 => {
            let sh = look_path("sh")
                .or_else(|| {
                    ["/bin/sh", "/usr/bin/sh"]
                        .map(PathBuf::from)
                        .into_iter()
                        .find(|p| is_executable(p))
                })
                .ok_or_else(|| spawn_error("command", "no sh to run it"))?;
            Ok((
                vec![sh.display().to_string(), "-c".into(), one.clone()],
                true,
            ))
        }
        [first, ..] if !first.trim().is_empty() => Ok((command.to_vec(), false)),
        _ => Err(spawn_error("command", "missing command")),
    }
}

/// Sends `sig` to the process (or its group); nothing for `SIGNULL` or an exited process.
fn send(process: &tokio::process::Child, group: bool, sig: Signal) -> Result<()> {
    let (Some(raw), Some(id)) = (sig.raw(), process.id()) else {
        return Ok(());
    };
    let Some(pid) = i32::try_from(id).ok().and_then(Pid::from_raw) else {
        return Ok(());
    };
    let sent = if group {
        kill_process_group(pid, raw)
    } else {
        kill_process(pid, raw)
    };
    match sent {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::Io {
            path: format!("signal {sig} to child {id}"),
            source: e.into(),
        }),
    }
}

impl Child {
    /// Starts `spec`'s command with the environment `parent` filtered by `spec.env` (see
    /// [`super::ExecEnv::environment`]). A command that cannot start is the error.
    pub fn spawn(spec: ExecSpec, parent: Vec<(String, String)>) -> Result<Child> {
        let (argv, group) = prepare(&spec.command)?;
        let env = spec.env.environment(parent);
        let mut child = Child {
            spec,
            argv,
            group,
            env,
            process: None,
        };
        child.start()?;
        Ok(child)
    }

    fn start(&mut self) -> Result<()> {
        let program = look_path(&self.argv[0])
            .ok_or_else(|| spawn_error(&self.argv[0], "executable file not found in $PATH"))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&self.argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        if self.group {
            cmd.process_group(0);
        }
        let process = cmd
            .spawn()
            .map_err(|e| spawn_error(&self.spec.command.join(" "), e))?;
        tracing::info!(command = %self.spec.command.join(" "), pid = process.id(), "(child) spawned");
        self.process = Some(process);
        Ok(())
    }

    /// The running process's id (`None` once it exited and was reaped).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(tokio::process::Child::id)
    }

    /// The spec it runs.
    pub fn spec(&self) -> &ExecSpec {
        &self.spec
    }

    /// Sends `sig` as it is (nothing for `SIGNULL` or a child that exited).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        match &self.process {
            Some(p) => send(p, self.group, sig),
            None => Ok(()),
        }
    }

    /// A signal consul-template received and passes on: the reload signal reloads (after the
    /// splay), the kill signal stops the child at once (SIGKILL after `kill_timeout`; its exit
    /// is then what [`wait`](Self::wait) returns), any other is sent as it is.
    pub async fn forward(&mut self, sig: Signal) -> Result<()> {
        if Some(sig) == self.spec.reload_signal {
            self.splay().await;
            self.signal(sig)
        } else if sig == self.spec.kill_signal {
            self.kill(true).await;
            Ok(())
        } else {
            self.signal(sig)
        }
    }

    /// A template changed: after the splay, sends the reload signal, or, without one, stops the
    /// child ([`stop`](Self::stop)) and starts it again.
    pub async fn reload(&mut self) -> Result<()> {
        match self.spec.reload_signal {
            Some(sig) => {
                self.splay().await;
                tracing::info!(signal = %sig, pid = self.pid(), "(child) reloading");
                self.signal(sig)
            }
            None => {
                tracing::info!(pid = self.pid(), "(child) restarting");
                self.kill(false).await;
                self.start()
            }
        }
    }

    /// Stops the child: after the splay (unless `immediately`), the kill signal, then SIGKILL if
    /// it still runs after `kill_timeout`. Returns how it exited (`None` when no process ran).
    pub async fn stop(&mut self, immediately: bool) -> Option<ChildExit> {
        self.kill(immediately).await
    }

    async fn kill(&mut self, immediately: bool) -> Option<ChildExit> {
        let group = self.group;
        if matches!(self.process.as_mut()?.try_wait(), Ok(Some(_))) {
            return self.wait().await.ok();
        }
        if !immediately {
            self.splay().await;
        }
        let (sig, timeout) = (self.spec.kill_signal, self.spec.kill_timeout);
        let process = self.process.as_mut()?;
        tracing::info!(signal = %sig, pid = process.id(), "(child) stopping");
        if let Err(e) = send(process, group, sig) {
            tracing::warn!(error = %e, "(child) kill signal failed");
        }
        let status = match tokio::time::timeout(timeout, process.wait()).await {
            Ok(r) => r.ok(),
            Err(_) => {
                tracing::warn!(
                    ?timeout,
                    "(child) still running after kill_timeout; SIGKILL"
                );
                if let Err(e) = send(process, group, Signal::SIGKILL) {
                    tracing::warn!(error = %e, "(child) SIGKILL failed");
                }
                process.wait().await.ok()
            }
        };
        status.map(|status| ChildExit { status })
    }

    /// Waits for the child to exit (cancel-safe; after the exit, returns it again at once).
    pub async fn wait(&mut self) -> Result<ChildExit> {
        let process = self.process.as_mut().ok_or(Error::Closed {
            backend: "consul-template",
            what: "child",
        })?;
        let status = process.wait().await.map_err(|e| Error::Io {
            path: "child process".into(),
            source: e,
        })?;
        Ok(ChildExit { status })
    }

    /// Sleeps a random time up to the splay.
    async fn splay(&self) {
        let splay = self.spec.splay;
        if splay.is_zero() {
            return;
        }
        let nanos = u64::try_from(splay.as_nanos()).unwrap_or(u64::MAX);
        let delay = Duration::from_nanos(fastrand::u64(0..nanos));
        tracing::debug!(?delay, "(child) waiting for the random splay");
        tokio::time::sleep(delay).await;
    }
}
