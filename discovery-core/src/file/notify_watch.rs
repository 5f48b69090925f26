//! File-change notifications: a `notify` watcher, or polling when none can be created.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::BACKEND;

/// A source of "something may have changed" signals for a set of paths.
pub(super) struct Changes {
    rx: Option<mpsc::UnboundedReceiver<()>>,
    /// Kept alive for as long as signals are wanted.
    _watcher: Option<notify::RecommendedWatcher>,
    poll: Duration,
}

impl Changes {
    /// Watches `paths` (the parent directory of files, so that editors replacing a file are
    /// seen; directories recursively). Falls back to polling every `poll`.
    pub(super) fn new(paths: &[PathBuf], poll: Duration) -> Self {
        match watcher(paths) {
            Ok((watcher, rx)) => Changes {
                rx: Some(rx),
                _watcher: Some(watcher),
                poll,
            },
            Err(e) => {
                tracing::warn!(backend = BACKEND, error = %e,
                    "cannot watch files; polling every {poll:?}");
                Changes {
                    rx: None,
                    _watcher: None,
                    poll,
                }
            }
        }
    }

    /// Waits for the next signal. Signals arriving together are merged into one.
    pub(super) async fn next(&mut self) {
        match &mut self.rx {
            Some(rx) => {
                if rx.recv().await.is_none() {
                    // The watcher died: fall back to polling.
                    self.rx = None;
                    self._watcher = None;
                    tokio::time::sleep(self.poll).await;
                    return;
                }
                // Editors write in several steps: let them finish, then take one signal for all.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while rx.try_recv().is_ok() {}
            }
            None => tokio::time::sleep(self.poll).await,
        }
    }
}

type Pair = (notify::RecommendedWatcher, mpsc::UnboundedReceiver<()>);

fn watcher(paths: &[PathBuf]) -> notify::Result<Pair> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => !matches!(e.kind, notify::EventKind::Access(_)),
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(());
        }
    })?;
    for path in paths {
        let (target, mode) = if path.is_dir() {
            (path.as_path(), RecursiveMode::Recursive)
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            (
                parent.unwrap_or(Path::new(".")),
                RecursiveMode::NonRecursive,
            )
        };
        watcher.watch(target, mode)?;
    }
    Ok((watcher, rx))
}
