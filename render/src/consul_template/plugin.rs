//! consul-template's `plugin NAME ARGS...`: runs an external command (looked up in `PATH`, with
//! the process's environment) and returns its standard output without surrounding whitespace.
//!
//! Like upstream it is not confined by the file sandbox, and a command still running after 30
//! seconds is killed.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use minijinja::Value;

use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::go_quote;

/// Upstream's fixed limit on a plugin's run time.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Go's `ProcessState.String()`: `exit status N` or `signal: NAME`.
fn exit_text(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let sig = status.signal().unwrap_or(0);
    let name = match sig {
        1 => "hangup".to_owned(),
        2 => "interrupt".to_owned(),
        3 => "quit".to_owned(),
        6 => "aborted".to_owned(),
        9 => "killed".to_owned(),
        11 => "segmentation fault".to_owned(),
        13 => "broken pipe".to_owned(),
        15 => "terminated".to_owned(),
        n => format!("signal {n}"),
    };
    format!("signal: {name}")
}

/// Upstream's failure text, with whatever the command printed.
fn failure(name: &str, err: &str, stdout: &[u8], stderr: &[u8]) -> FuncError {
    FuncError::new(format!(
        "exec {}: {err}\n\nstdout:\n\n{}\n\nstderr:\n\n{}",
        go_quote(name),
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    ))
}

/// Go's `exec.Command(...).Start()` error for a command that cannot be started.
fn start_error(name: &str, e: &std::io::Error) -> String {
    if !name.contains('/')
        && matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
        )
    {
        return format!(
            "exec: {}: executable file not found in $PATH",
            go_quote(name)
        );
    }
    format!("fork/exec {name}: {}", super::write_file::go_errno_text(e))
}

fn reader(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn plugin(_: &CallCtx<'_>, a: &[Value]) -> FuncResult {
    let name = arg_str(a, 0)?;
    if name.is_empty() {
        return Ok(Value::from(""));
    }
    let mut args = Vec::with_capacity(a.len());
    for i in 1..a.len() {
        let v = arg_str(a, i)?.trim();
        if !v.is_empty() {
            args.push(v);
        }
    }
    let mut child = Command::new(name)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failure(name, &start_error(name, &e), b"", b""))?;
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let deadline = Instant::now() + PLUGIN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                if child.kill().is_err() {
                    return Err(FuncError::new(format!(
                        "exec {}: failed to kill",
                        go_quote(name)
                    )));
                }
                let _ = child.wait();
                return Err(FuncError::new(format!(
                    "exec {}: did not finish in 30s",
                    go_quote(name)
                )));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(e),
        }
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    match status {
        Ok(s) if s.success() => Ok(Value::from(String::from_utf8_lossy(&stdout).trim())),
        Ok(s) => Err(failure(name, &exit_text(s), &stdout, &stderr)),
        Err(e) => Err(failure(
            name,
            &super::write_file::go_errno_text(&e),
            &stdout,
            &stderr,
        )),
    }
}

/// Registers `plugin`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("plugin", Arity::at_least(1), plugin);
}

#[cfg(test)]
mod tests {
    use super::super::tests::render;

    #[test]
    fn runs_the_command_and_trims_its_output() {
        // template/template_test.go helper_plugin.
        assert_eq!(render(r#"{{ "1" | plugin "echo" }}"#).unwrap(), "1");
        // Arguments are trimmed and empty ones dropped.
        assert_eq!(
            render(r#"{{ plugin "printf" " %s-%s \n" "" " a " "b" }}"#).unwrap(),
            "a-b"
        );
        assert_eq!(render(r#"{{ plugin "" "x" }}"#).unwrap(), "");
    }

    #[test]
    fn failures_read_like_upstream() {
        let err = render(r#"{{ plugin "sh" "-c" "echo out; echo err >&2; exit 3" }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exec \"sh\": exit status 3\n\nstdout:\n\nout\n\n\nstderr:\n\nerr\n"),
            "{err:?}"
        );
        let err = render(r#"{{ plugin "no-such-plugin-here" }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "exec \"no-such-plugin-here\": exec: \"no-such-plugin-here\": executable file not found in $PATH\n\nstdout:\n\n\n\nstderr:\n\n"
            ),
            "{err:?}"
        );
        let err = render(r#"{{ plugin "/no/such/plugin" }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fork/exec /no/such/plugin: no such file or directory"),
            "{err:?}"
        );
    }
}
