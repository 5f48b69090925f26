//! consul-template's log file (`-log-file`, `log_file {}`), rotated as consul-template rotates
//! it: every file is `<name>-<unix nanoseconds><ext>` beside the path given (`ct.log` gives
//! `ct-1733580000123456789.log`; no extension gives `.log`), a new one is started when the
//! current one has `-log-rotate-bytes` bytes or is `-log-rotate-duration` old (default 24 h),
//! and before each new file the oldest are removed so that `-log-rotate-max-files` remain
//! (0 keeps all; a negative number removes every older one).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// consul-template's `log_rotate_duration` when none (or 0) is given.
pub(super) const DEFAULT_ROTATE_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The file name used when the path given is a directory.
const DEFAULT_NAME: &str = "consul-template.log";

/// The rotating log file; wrap it in a `Mutex` to make it a `tracing` writer.
#[derive(Debug)]
pub(super) struct LogFile {
    dir: PathBuf,
    stem: String,
    ext: String,
    duration: Duration,
    max_bytes: u64,
    max_files: i64,
    file: File,
    created: Instant,
    written: u64,
}

impl LogFile {
    /// Opens the first file for `path` (a file name, or a directory ending in `/`), after
    /// pruning old files as consul-template does at start.
    pub(super) fn open(
        path: &Path,
        duration: Option<Duration>,
        max_bytes: Option<u64>,
        max_files: Option<i64>,
    ) -> io::Result<LogFile> {
        let as_dir = path.is_dir() || path.to_string_lossy().ends_with('/');
        let (dir, name) = if as_dir {
            (path.to_owned(), DEFAULT_NAME.to_owned())
        } else {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_owned)
                .unwrap_or_else(|| ".".into());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| DEFAULT_NAME.into());
            (dir, name)
        };
        // Go's filepath.Ext: from the last dot of the name (a leading dot counts).
        let (stem, ext) = match name.rfind('.') {
            Some(i) => (name[..i].to_owned(), name[i..].to_owned()),
            None => (name, ".log".to_owned()),
        };
        let (file, created) = create(&dir, &stem, &ext)?;
        let log = LogFile {
            dir,
            stem,
            ext,
            duration: duration
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_ROTATE_DURATION),
            max_bytes: max_bytes.unwrap_or(0),
            max_files: max_files.unwrap_or(0),
            file,
            created,
            written: 0,
        };
        // consul-template prunes before its first file; the new file is the newest, so pruning
        // now and keeping it leaves the same set.
        log.prune(1)?;
        Ok(log)
    }

    /// Starts a new file when the current one is full or old.
    fn rotate(&mut self) -> io::Result<()> {
        let full = self.max_bytes > 0 && self.written >= self.max_bytes;
        if full || self.created.elapsed() >= self.duration {
            self.file.flush()?;
            self.prune(0)?;
            let (file, created) = create(&self.dir, &self.stem, &self.ext)?;
            self.file = file;
            self.created = created;
            self.written = 0;
        }
        Ok(())
    }

    /// Removes the oldest of this log's files so that `max_files` (plus `keep_newest` not
    /// counted) remain; all of them but `keep_newest` when `max_files` is negative.
    fn prune(&self, keep_newest: usize) -> io::Result<()> {
        if self.max_files == 0 {
            return Ok(());
        }
        let prefix = format!("{}-", self.stem);
        let mut files: Vec<String> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(&self.ext))
            .filter(|n| n.len() > prefix.len() + self.ext.len())
            .collect();
        files.sort();
        let older = files.len().saturating_sub(keep_newest);
        let keep = usize::try_from(self.max_files).unwrap_or(0);
        if self.max_files > 0 && older < keep {
            return Ok(());
        }
        for name in &files[..older - keep.min(older)] {
            std::fs::remove_file(self.dir.join(name))?;
        }
        Ok(())
    }
}

/// Creates `<stem>-<unix nanoseconds><ext>` in `dir` (mode 0640, as consul-template).
fn create(dir: &Path, stem: &str, ext: &str) -> io::Result<(File, Instant)> {
    let mut nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    loop {
        let path = dir.join(format!("{stem}-{nanos}{ext}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&path)
        {
            Ok(f) => return Ok((f, Instant::now())),
            // Two files in one nanosecond: take the next one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => nanos += 1,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.rotate()?;
        self.written += buf.len() as u64;
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn files_are_named_like_consul_templates_and_rotate_on_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(&dir.path().join("ct.log"), None, Some(10), None).unwrap();
        for _ in 0..3 {
            log.write_all(b"0123456789\n").unwrap();
        }
        let files = names(dir.path());
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            let nanos = f.strip_prefix("ct-").and_then(|f| f.strip_suffix(".log"));
            assert!(nanos.is_some_and(|n| n.parse::<u128>().is_ok()), "{f}");
            let body = std::fs::read_to_string(dir.path().join(f)).unwrap();
            assert_eq!(body, "0123456789\n", "{f}");
        }
    }

    // `tracing`'s formatter hands over one whole line per write, as these tests do.
    #[test]
    fn max_files_keeps_that_many_older_files_besides_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(&dir.path().join("app"), None, Some(1), Some(2)).unwrap();
        for i in 0..6 {
            log.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let files = names(dir.path());
        // Pruned to 2 before the newest was created: 3 files, the last three lines.
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files
            .iter()
            .all(|f| f.starts_with("app-") && f.ends_with(".log")));
        let last = std::fs::read_to_string(dir.path().join(&files[2])).unwrap();
        assert_eq!(last, "line 5\n");
        // A negative count keeps only the current file.
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(&dir.path().join("x.txt"), None, Some(1), Some(-1)).unwrap();
        for i in 0..4 {
            log.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()).len(), 1);
    }

    #[test]
    fn a_directory_gets_the_default_name_and_time_rotation_defaults_to_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::open(dir.path(), Some(Duration::ZERO), None, None).unwrap();
        assert_eq!(log.duration, DEFAULT_ROTATE_DURATION);
        let files = names(dir.path());
        assert!(files[0].starts_with("consul-template-"), "{files:?}");
        let mut log = LogFile::open(
            &dir.path().join("t.log"),
            Some(Duration::from_millis(50)),
            None,
            None,
        )
        .unwrap();
        log.write_all(b"a\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        log.write_all(b"b\n").unwrap();
        let bodies: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|n| n.starts_with("t-"))
            .map(|n| std::fs::read_to_string(dir.path().join(n)).unwrap())
            .collect();
        // However slow the machine, "b" came after the period: it is in a file of its own.
        assert!(bodies.iter().any(|b| b == "b\n"), "{bodies:?}");
    }
}
