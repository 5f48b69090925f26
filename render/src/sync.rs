//! Writing rendered output to its destination the way confd does, with its gaps closed:
//! compare first, stage in the destination's directory with restrictive permissions, run the
//! check command on the staged file, rename atomically, and make the new file durable (fsync of
//! the file and its directory) at the point [`Fsync`] chooses. A failing check leaves the
//! destination byte-for-byte untouched. Commands run through `/bin/sh -c` with a timeout.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> discovery_core::Result<()> {
//! use discovery_render::sync::{sync_file, FileTarget, SyncMode, SyncOutcome};
//! let dir = std::env::temp_dir().join(format!("sync-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let target = FileTarget::new(dir.join("upstream.conf"));
//! let first = sync_file(&target, b"server 10.0.0.1:80;\n", SyncMode::Write).await?;
//! assert_eq!(first, SyncOutcome::Written);
//! // Same bytes again: nothing is written, so no reload is needed.
//! let again = sync_file(&target, b"server 10.0.0.1:80;\n", SyncMode::Write).await?;
//! assert_eq!(again, SyncOutcome::Unchanged);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use discovery_core::{Error, Result};

/// Default timeout of check and reload commands (confd has none; a hanging command blocked it).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how one rendered file is written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileTarget {
    /// The destination file.
    pub dest: PathBuf,
    /// File mode; `None` keeps the existing destination's mode, else `0o644`.
    pub mode: Option<u32>,
    /// Owner uid; `None` keeps the existing owner (or the process's for a new file).
    pub uid: Option<u32>,
    /// Owner gid; `None` keeps the existing group (or the process's for a new file).
    pub gid: Option<u32>,
    /// confd's `check_cmd`: run on the staged file before it replaces `dest`; `{{.src}}` is the
    /// staged file's path. Non-zero exit keeps the old file.
    pub check_cmd: Option<String>,
    /// Keep the staged file after the sync (confd's `-keep-stage-file`).
    pub keep_stage_file: bool,
    /// Timeout of the check command.
    pub command_timeout: Duration,
    /// Create missing parent directories (consul-template's `create_dest_dirs`); confd requires them.
    pub create_dest_dirs: bool,
    /// Keep the previous content as `<dest>.bak` (consul-template's `backup`).
    pub backup: bool,
    /// When the new content is made durable.
    pub fsync: Fsync,
    /// How [`SyncMode::Noop`]'s diff is printed.
    pub diff: DiffStyle,
}

/// How a [`SyncOutcome::WouldChange`] diff looks: abtreece/confd's `-diff-context` and `-color`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffStyle {
    /// Lines of context around each change (default 3).
    pub context: usize,
    /// ANSI colours as the fork prints them: bold `---`/`+++`, cyan `@@`, green additions,
    /// red removals.
    pub color: bool,
}

impl Default for DiffStyle {
    fn default() -> Self {
        DiffStyle {
            context: 3,
            color: false,
        }
    }
}

/// When [`sync_file`] makes a new destination durable (survives a power loss).
///
/// Readers never see a partial file whatever the mode: the content is staged and renamed into
/// place. The modes differ only in what a power loss just after the write can leave behind,
/// and in how soon readers see the new content.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// fsync the staged file, rename, fsync the directory (consul-template's order). A power
    /// loss leaves the old or the new file; readers see the new one only after the fsync
    /// (1–4 ms on a typical SSD, more for large files).
    #[default]
    BeforeRename,
    /// Rename first, then fsync the file and the directory before returning, so before any
    /// reload command runs. Readers see the new content at once; a power loss in the few
    /// milliseconds between the rename and the fsync can leave an empty file on filesystems
    /// without ext4's replace-by-rename flush, which the next render repairs.
    AfterRename,
    /// Never fsync (confd's behaviour): atomic for readers, durable when the kernel flushes.
    Never,
}

impl FileTarget {
    /// A target with confd's defaults: mode from the existing file or 0644, no check.
    pub fn new(dest: impl Into<PathBuf>) -> Self {
        FileTarget {
            dest: dest.into(),
            mode: None,
            uid: None,
            gid: None,
            check_cmd: None,
            keep_stage_file: false,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            create_dest_dirs: false,
            backup: false,
            fsync: Fsync::default(),
            diff: DiffStyle::default(),
        }
    }
}

/// How far [`sync_file`] goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Compare, check, write.
    Write,
    /// Compare only and report what would change (confd `-noop`, consul-template `-dry`).
    Noop,
    /// Compare and write, skipping the check command (confd `-sync-only`).
    SyncOnly,
}

/// What [`sync_file`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Content, mode and owner already match: nothing written.
    Unchanged,
    /// `Noop` mode: the file would change; `diff` is a unified diff of the content (empty when
    /// only mode or owner differ).
    WouldChange {
        /// Unified diff from the current to the new content.
        diff: String,
    },
    /// The file was replaced.
    Written,
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A unified diff between two contents, labelled with `path`, with 3 lines of context.
pub fn unified_diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    styled_diff(path, old, new, DiffStyle::default())
}

/// A unified diff between two contents, labelled with `path`, in `style`.
///
/// ```
/// use std::path::Path;
/// use discovery_render::sync::{styled_diff, DiffStyle};
/// let mut style = DiffStyle::default();
/// style.context = 0;
/// style.color = true;
/// let d = styled_diff(Path::new("/etc/app.conf"), b"a\nb\nc\n", b"a\nB\nc\n", style);
/// assert_eq!(
///     d,
///     "\x1b[1m--- /etc/app.conf\x1b[0m\n\x1b[1m+++ /etc/app.conf\x1b[0m\n\
///      \x1b[36m@@ -2 +2 @@\x1b[0m\n\x1b[31m-b\x1b[0m\n\x1b[32m+B\x1b[0m\n"
/// );
/// ```
pub fn styled_diff(path: &Path, old: &[u8], new: &[u8], style: DiffStyle) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let name = path.display().to_string();
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(style.context)
        .header(&name, &name)
        .to_string();
    if !style.color {
        return diff;
    }
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.lines() {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with("@@") {
            "36"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        out.push_str(&format!("\x1b[{code}m{line}\x1b[0m\n"));
    }
    out
}

/// Brings `target.dest` to `content`, in confd's order: compare → (`Noop`: report) → stage in the
/// destination's directory (mode 0600 until complete) → check command on the staged file → atomic
/// rename, with fsyncs where [`FileTarget::fsync`] puts them. The destination is never partially
/// written; on any error it is left as it was.
#[tracing::instrument(level = "debug", skip(content), fields(dest = %target.dest.display(), bytes = content.len()))]
pub async fn sync_file(target: &FileTarget, content: &[u8], mode: SyncMode) -> Result<SyncOutcome> {
    sync_file_staged(target, content, mode)
        .await
        .map(|(outcome, _)| outcome)
}

/// [`sync_file`], also giving the path the content was staged at when it was written (the
/// `{{.src}}` of confd's commands; it still exists only with [`FileTarget::keep_stage_file`]).
pub async fn sync_file_staged(
    target: &FileTarget,
    content: &[u8],
    mode: SyncMode,
) -> Result<(SyncOutcome, Option<PathBuf>)> {
    let dest = &target.dest;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        if target.create_dest_dirs && mode != SyncMode::Noop {
            fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        } else if mode != SyncMode::Noop {
            return Err(io_err(
                &dir,
                std::io::Error::new(ErrorKind::NotFound, "destination directory does not exist"),
            ));
        }
    }
    // Compare in place: reading a large destination into memory on every change would cost an
    // allocation (and page faults) per render.
    let current = match File::open(dest) {
        Ok(f) => {
            let meta = f.metadata().map_err(|e| io_err(dest, e))?;
            let same = same_content(f, &meta, content).map_err(|e| io_err(dest, e))?;
            Some((same, meta))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(dest, e)),
    };
    let want_mode = target
        .mode
        .or_else(|| current.as_ref().map(|(_, m)| m.mode() & 0o7777))
        .unwrap_or(0o644);
    let changed = match &current {
        None => true,
        Some((same, meta)) => {
            !same
                || meta.mode() & 0o7777 != want_mode
                || target.uid.is_some_and(|u| u != meta.uid())
                || target.gid.is_some_and(|g| g != meta.gid())
        }
    };
    if !changed {
        return Ok((SyncOutcome::Unchanged, None));
    }
    if mode == SyncMode::Noop {
        let old = match &current {
            Some(_) => fs::read(dest).map_err(|e| io_err(dest, e))?,
            None => Vec::new(),
        };
        let diff = styled_diff(dest, &old, content, target.diff);
        return Ok((SyncOutcome::WouldChange { diff }, None));
    }

    let meta = current.as_ref().map(|(_, m)| m);
    let staged = stage(&dir, dest, content, want_mode, target, meta)?;
    let result = finish(target, &staged, mode).await;
    if result.is_ok() {
        metrics::counter!("discovery_files_written_total").increment(1);
    }
    if result.is_err() && !target.keep_stage_file {
        let _ = fs::remove_file(&staged);
    }
    result.map(|()| (SyncOutcome::Written, Some(staged)))
}

async fn finish(target: &FileTarget, staged: &Path, mode: SyncMode) -> Result<()> {
    if mode == SyncMode::Write {
        if let Some(check) = &target.check_cmd {
            let cmd = expand_paths(check, staged, &target.dest);
            run_command("check_cmd", &cmd, target.command_timeout).await?;
        }
    }
    if target.backup && target.dest.exists() {
        let bak = backup_path(&target.dest);
        let _ = fs::remove_file(&bak);
        fs::hard_link(&target.dest, &bak)
            .or_else(|_| fs::copy(&target.dest, &bak).map(|_| ()))
            .map_err(|e| io_err(&bak, e))?;
    }
    if target.keep_stage_file {
        // Keep the staged file: copy it into place atomically through a second stage.
        let second = staged.with_extension("keep");
        fs::copy(staged, &second)
            .and_then(|_| match target.fsync {
                Fsync::BeforeRename => File::open(&second)?.sync_all(),
                _ => Ok(()),
            })
            .map_err(|e| io_err(&second, e))?;
        return rename_into_place(&second, &target.dest, target.fsync);
    }
    rename_into_place(staged, &target.dest, target.fsync)
}

/// Whether the open file `f` (of metadata `meta`) holds exactly `content`, read in chunks.
fn same_content(mut f: File, meta: &fs::Metadata, content: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    if meta.len() != content.len() as u64 {
        return Ok(false);
    }
    let mut buf = [0u8; 16 * 1024];
    let mut rest = content;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(rest.is_empty());
        }
        match rest.strip_prefix(&buf[..n]) {
            Some(r) => rest = r,
            None => return Ok(false),
        }
    }
}

fn backup_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

fn rename_into_place(staged: &Path, dest: &Path, fsync: Fsync) -> Result<()> {
    match fs::rename(staged, dest) {
        Ok(()) => {}
        // A bind-mounted single file (Docker) cannot be replaced: write it in place (not atomic).
        Err(e) if e.raw_os_error() == Some(16) => {
            let bytes = fs::read(staged).map_err(|e| io_err(staged, e))?;
            fs::write(dest, bytes).map_err(|e| io_err(dest, e))?;
            let _ = fs::remove_file(staged);
        }
        Err(e) => return Err(io_err(dest, e)),
    }
    match fsync {
        Fsync::AfterRename => make_durable(dest),
        Fsync::BeforeRename => {
            sync_parent(dest);
            Ok(())
        }
        Fsync::Never => Ok(()),
    }
}

/// Makes `dest` durable as [`Fsync::AfterRename`] does after its rename: fsync the file, then
/// its directory (so the rename itself survives a power loss).
///
/// For callers that write with [`Fsync::Never`] and make the file durable later, off the
/// latency-critical path, but before anything (a reload) relies on it.
pub fn make_durable(dest: &Path) -> Result<()> {
    File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(dest, e))?;
    sync_parent(dest);
    Ok(())
}

/// fsyncs the directory holding `path` (best effort: some filesystems refuse it).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

fn stage(
    dir: &Path,
    dest: &Path,
    content: &[u8],
    mode: u32,
    target: &FileTarget,
    current: Option<&fs::Metadata>,
) -> Result<PathBuf> {
    let base = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dest".into());
    let mut attempt = 0u32;
    loop {
        let name = format!(".{base}{}", random_suffix());
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        let written = file
            .write_all(content)
            // Durable before it can become visible: fsync on the handle we wrote with.
            .and_then(|()| match target.fsync {
                Fsync::BeforeRename => file.sync_all(),
                _ => Ok(()),
            })
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(mode)));
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(io_err(&path, e));
        }
        let uid = target.uid.or_else(|| current.map(|m| m.uid()));
        let gid = target.gid.or_else(|| current.map(|m| m.gid()));
        if uid.is_some() || gid.is_some() {
            if let Err(e) = std::os::unix::fs::chown(&path, uid, gid) {
                // Owner requested explicitly but not settable: fail rather than write a wrong owner.
                if target.uid.is_some() || target.gid.is_some() {
                    let _ = fs::remove_file(&path);
                    return Err(io_err(&path, e));
                }
            }
        }
        return Ok(path);
    }
}

fn random_suffix() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

/// Replaces confd's `{{.src}}` (with optional spaces) in a check command by the staged path.
pub fn expand_src(cmd: &str, staged: &Path) -> String {
    expand_vars(cmd, &[("src", staged)])
}

/// Replaces `{{.src}}` by the staged path and `{{.dest}}` by the destination (with optional
/// spaces inside the braces), as abtreece/confd does in `check_cmd` and `reload_cmd`.
pub fn expand_paths(cmd: &str, staged: &Path, dest: &Path) -> String {
    expand_vars(cmd, &[("src", staged), ("dest", dest)])
}

/// Replaces each `{{.<name>}}` of `vars` by its path; other `{{...}}` are kept as written.
fn expand_vars(cmd: &str, vars: &[(&str, &Path)]) -> String {
    let mut out = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let var = after.find("}}").and_then(|j| {
            let name = after[..j].trim().strip_prefix('.')?;
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, path)| (j, path.display().to_string()))
        });
        match var {
            Some((j, value)) => {
                out.push_str(&rest[..i]);
                out.push_str(&value);
                rest = &after[j + 2..];
            }
            None => {
                out.push_str(&rest[..i + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Runs `command` through `/bin/sh -c`, killing it after `timeout`. `what` names it in errors
/// (`check_cmd`, `reload_cmd`). Returns the combined output.
pub async fn run_command(what: &'static str, command: &str, timeout: Duration) -> Result<String> {
    run_command_in(what, command, timeout, None).await
}

/// [`run_command`] with the environment `env` instead of this process's (`None`: inherited):
/// a consul-template `template { exec { env {...} } }`.
#[tracing::instrument(level = "debug", skip(timeout, env))]
pub async fn run_command_in(
    what: &'static str,
    command: &str,
    timeout: Duration,
    env: Option<&[(String, String)]>,
) -> Result<String> {
    let started = std::time::Instant::now();
    let mut cmd = tokio::process::Command::new("/bin/sh");
    if let Some(env) = env {
        cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    }
    let child = cmd
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Command {
            what,
            command: command.to_owned(),
            reason: format!("could not be started: {e}"),
        })?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(Error::Command {
                what,
                command: command.to_owned(),
                reason: format!("failed: {e}"),
            })
        }
        Err(_) => {
            tracing::error!(
                what,
                command,
                timeout_ms = timeout.as_millis() as u64,
                "command timed out; killed"
            );
            return Err(Error::Command {
                what,
                command: command.to_owned(),
                reason: format!("timed out after {timeout:?} and was killed"),
            });
        }
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    metrics::histogram!("discovery_command_seconds", "command" => what)
        .record(started.elapsed().as_secs_f64());
    if !out.status.success() {
        metrics::counter!("discovery_command_failures_total", "command" => what).increment(1);
    }
    if out.status.success() {
        tracing::debug!(what, command, elapsed_ms, output = %text.trim_end(), "command succeeded");
        Ok(text)
    } else {
        tracing::error!(what, command, elapsed_ms, output = %text.trim_end(), "command failed");
        Err(Error::Command {
            what,
            command: command.to_owned(),
            reason: format!("exited with {}: {}", out.status, text.trim_end()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[tokio::test]
    async fn every_fsync_mode_replaces_the_file_whole_and_leaves_no_stage() {
        let d = tmp();
        let dest = d.path().join("up.conf");
        for (i, fsync) in [Fsync::BeforeRename, Fsync::AfterRename, Fsync::Never]
            .into_iter()
            .enumerate()
        {
            let mut t = FileTarget::new(&dest);
            t.fsync = fsync;
            let content = format!("server 10.0.0.{i}:80;\n").repeat(1000 + i);
            let out = sync_file(&t, content.as_bytes(), SyncMode::Write)
                .await
                .unwrap();
            assert_eq!(out, SyncOutcome::Written, "{fsync:?}");
            assert_eq!(fs::read_to_string(&dest).unwrap(), content, "{fsync:?}");
            let again = sync_file(&t, content.as_bytes(), SyncMode::Write)
                .await
                .unwrap();
            assert_eq!(again, SyncOutcome::Unchanged, "{fsync:?}");
        }
        // Same length, one byte different: the chunked comparison must see it.
        let mut t = FileTarget::new(&dest);
        t.fsync = Fsync::Never;
        let mut bytes = fs::read(&dest).unwrap();
        let last = bytes.len() - 2;
        bytes[last] = b'X';
        let out = sync_file(&t, &bytes, SyncMode::Write).await.unwrap();
        assert_eq!(out, SyncOutcome::Written);
        assert_eq!(fs::read(&dest).unwrap(), bytes);
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from("up.conf")],
            "no staged file left"
        );
    }

    #[tokio::test]
    async fn failing_check_keeps_old_file_and_leaves_no_stage() {
        let d = tmp();
        let dest = d.path().join("nginx.conf");
        fs::write(&dest, b"old\n").unwrap();
        let mut t = FileTarget::new(&dest);
        t.check_cmd = Some("grep -q good {{.src}}".into());
        let err = sync_file(&t, b"bad\n", SyncMode::Write).await.unwrap_err();
        assert!(err.to_string().contains("check_cmd"), "{err}");
        assert_eq!(fs::read(&dest).unwrap(), b"old\n");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "staged file left behind"
        );
        assert_eq!(
            sync_file(&t, b"good\n", SyncMode::Write).await.unwrap(),
            SyncOutcome::Written
        );
        assert_eq!(fs::read(&dest).unwrap(), b"good\n");
    }

    #[tokio::test]
    async fn check_sees_the_staged_file_with_final_mode() {
        let d = tmp();
        let dest = d.path().join("x.conf");
        let mut t = FileTarget::new(&dest);
        t.mode = Some(0o640);
        t.check_cmd =
            Some("test \"$(stat -c %a {{ .src }})\" = 640 && grep -q hello {{.src}}".into());
        assert_eq!(
            sync_file(&t, b"hello", SyncMode::Write).await.unwrap(),
            SyncOutcome::Written
        );
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o777, 0o640);
        // A mode change alone is a change.
        t.mode = Some(0o600);
        t.check_cmd = None;
        assert_eq!(
            sync_file(&t, b"hello", SyncMode::Write).await.unwrap(),
            SyncOutcome::Written
        );
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);
    }

    #[tokio::test]
    async fn noop_reports_a_diff_and_writes_nothing() {
        let d = tmp();
        let dest = d.path().join("up.conf");
        fs::write(&dest, "a\nb\n").unwrap();
        let t = FileTarget::new(&dest);
        match sync_file(&t, b"a\nc\n", SyncMode::Noop).await.unwrap() {
            SyncOutcome::WouldChange { diff } => {
                assert!(diff.contains("-b") && diff.contains("+c"), "{diff}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(fs::read(&dest).unwrap(), b"a\nb\n");
    }

    #[tokio::test]
    async fn missing_directory_is_an_error_naming_it() {
        let d = tmp();
        let t = FileTarget::new(d.path().join("nope/x.conf"));
        let err = sync_file(&t, b"x", SyncMode::Write).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[tokio::test]
    async fn hanging_command_is_killed_after_timeout() {
        let err = run_command("reload_cmd", "sleep 30", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[test]
    fn src_expansion() {
        let p = Path::new("/etc/nginx/.nginx.conf123");
        assert_eq!(
            expand_src("nginx -t -c {{.src}} && echo {{ .src }} {{.other}}", p),
            "nginx -t -c /etc/nginx/.nginx.conf123 && echo /etc/nginx/.nginx.conf123 {{.other}}"
        );
    }

    /// abtreece/confd's `executeReload` passes `{"src": stagePath, "dest": destPath}` to the
    /// command template (pkg/template/command_executor.go).
    #[test]
    fn src_and_dest_expansion() {
        let staged = Path::new("/etc/app/.app.conf42");
        let dest = Path::new("/etc/app/app.conf");
        assert_eq!(
            expand_paths("cp {{ .src }} /bak && kill -HUP $(cat {{.dest}}.pid) {{.destx}} {{dest}}", staged, dest),
            "cp /etc/app/.app.conf42 /bak && kill -HUP $(cat /etc/app/app.conf.pid) {{.destx}} {{dest}}"
        );
    }

    #[tokio::test]
    async fn check_cmd_sees_the_destination_too() {
        let d = tmp();
        let dest = d.path().join("app.conf");
        fs::write(&dest, "old\n").unwrap();
        let mut t = FileTarget::new(&dest);
        // The check compares the staged file with the destination it is about to replace.
        t.check_cmd = Some("grep -q new {{.src}} && grep -q old {{.dest}}".into());
        let (outcome, staged) = sync_file_staged(&t, b"new\n", SyncMode::Write)
            .await
            .unwrap();
        assert_eq!(outcome, SyncOutcome::Written);
        assert!(staged.is_some_and(|s| s.parent() == Some(d.path())));
        assert_eq!(fs::read(&dest).unwrap(), b"new\n");
    }
}
