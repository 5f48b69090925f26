//! Change detection on the destination file with inotify (through `notify`): every completed
//! write of the file (atomic rename onto it, or close after writing) is reported with the instant
//! the kernel event reached us and the content the file had then.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use discovery_core::{Error, Result};
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// One completed write of the watched file.
#[derive(Clone, Debug)]
pub struct FileWrite {
    /// When the inotify event was received.
    pub at: Instant,
    /// The file's content read right after the event.
    pub content: String,
}

/// Watches one file (through its directory, so atomic replacements are seen).
#[derive(Debug)]
pub struct FileWatch {
    _watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<FileWrite>,
    /// Writes received but not yet consumed by [`FileWatch::wait_for`].
    pub writes: u64,
}

impl FileWatch {
    /// Starts watching `file`; its directory must exist.
    pub fn new(file: &Path) -> Result<FileWatch> {
        let dest: PathBuf = file.to_path_buf();
        let dir = dest
            .parent()
            .ok_or_else(|| Error::invalid_config("bench", "destination has no directory"))?
            .to_path_buf();
        let (tx, rx) = mpsc::unbounded_channel();
        let target = dest.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            let at = Instant::now();
            let completed = matches!(
                event.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::To))
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            );
            if completed && event.paths.iter().any(|p| p == &target) {
                let content = std::fs::read_to_string(&target).unwrap_or_default();
                let _ = tx.send(FileWrite { at, content });
            }
        })
        .map_err(notify_err)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(notify_err)?;
        Ok(FileWatch {
            _watcher: watcher,
            rx,
            writes: 0,
        })
    }

    /// Waits (at most `timeout`, a hang guard) for a write whose content satisfies `pred`;
    /// counts every write seen on the way.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<FileWrite> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(w)) => {
                    self.writes += 1;
                    if pred(&w.content) {
                        return Ok(w);
                    }
                }
                Ok(None) => return Err(Error::invalid_config("bench", "file watch ended")),
                Err(_) => {
                    return Err(Error::invalid_config(
                        "bench",
                        format!(
                            "the destination did not reach the expected content within {timeout:?}"
                        ),
                    ))
                }
            }
        }
    }

    /// Counts the writes arriving within `period` (the file settling after a burst).
    pub async fn drain_for(&mut self, period: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + period;
        let mut n = 0;
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            n += 1;
        }
        self.writes += n;
        n
    }
}

pub(crate) fn notify_err(e: notify::Error) -> Error {
    Error::invalid_config("bench: inotify", e.to_string())
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
pub fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64() * 1e3
    } else {
        -((from - to).as_secs_f64() * 1e3)
    }
}

/// The floor of any atomic file update in `dir`: the median over `n` rounds of writing `size`
/// bytes to a staged file, fsyncing it and renaming it onto a sibling (not the watched file).
pub fn fsync_floor(dir: &Path, size: usize, n: usize) -> Result<f64> {
    use std::io::Write as _;
    let (staged, target) = (dir.join(".floor.stage"), dir.join(".floor.conf"));
    let io = |e: std::io::Error| Error::Io {
        path: staged.display().to_string(),
        source: e,
    };
    let bytes = vec![b'x'; size];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut f = std::fs::File::create(&staged).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&staged, &target).map_err(io)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_file(&target);
    Ok(super::stats::median(&times))
}

/// One completed write of a file in a [`DirWatch`]ed directory.
#[derive(Clone, Debug)]
pub struct DirWrite {
    /// The file's path.
    pub path: PathBuf,
    /// When the inotify event was received.
    pub at: Instant,
    /// The file's content read right after the event.
    pub content: String,
}

/// Watches the files of several directories with one inotify instance (many destinations, one
/// watcher thread), reporting each completed write with the file's path.
#[derive(Debug)]
pub struct DirWatch {
    _watcher: RecommendedWatcher,
    /// The writes, in the order the kernel reported them.
    pub rx: mpsc::UnboundedReceiver<DirWrite>,
}

impl DirWatch {
    /// Starts watching `dirs`, which must exist, for files whose name ends with `suffix` (so
    /// staged files are left out).
    pub fn new(dirs: &[PathBuf], suffix: &'static str) -> Result<DirWatch> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            let at = Instant::now();
            let completed = matches!(
                event.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::To))
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            );
            if !completed {
                return;
            }
            for path in &event.paths {
                if !path.to_str().is_some_and(|p| p.ends_with(suffix)) {
                    continue;
                }
                let content = std::fs::read_to_string(path).unwrap_or_default();
                let _ = tx.send(DirWrite {
                    path: path.clone(),
                    at,
                    content,
                });
            }
        })
        .map_err(notify_err)?;
        for dir in dirs {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(notify_err)?;
        }
        Ok(DirWatch {
            _watcher: watcher,
            rx,
        })
    }
}
