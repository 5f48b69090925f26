//! [`FileBackend`]: confd's `-backend file`, a [`KvView`] over YAML and JSON files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{
    Error, Key, KvChange, KvEvent, KvPair, KvSnapshot, KvView, KvWatchStream, Result, Revision,
};

mod load;
mod notify_watch;

const BACKEND: &str = "file";
/// How often files are re-read when no file-system watcher can be created.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Keys loaded from YAML or JSON files, as confd's file backend does.
///
/// Each path is a file or a directory (every `*.yaml`, `*.yml` and `*.json` inside, recursively).
/// Nested maps flatten to `/a/b` keys, lists to `/a/0`, `/a/1`; scalars are stored as text
/// (`true`, `8080`, `1.5`; null is empty). Files are read again at every call, so a
/// [`list`](KvView::list) always sees the current content; the revision goes up by one each time
/// a read finds different content. Watches re-read on file-system events (or every second when
/// the platform offers no watcher) and report the difference as a [`KvEvent::Changed`].
///
/// ```
/// use discovery_core::{FileBackend, Key, KvView};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> discovery_core::Result<()> {
/// let dir = std::env::temp_dir().join(format!("file-backend-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("app.yaml"), "app:\n  port: 8080\n  hosts: [a, b]\n").unwrap();
/// let files = FileBackend::new(vec![dir.clone()]);
/// assert_eq!(files.get(&Key::new("/app/port")?).await?.unwrap().value, "8080");
/// assert_eq!(files.get(&Key::new("/app/hosts/1")?).await?.unwrap().value, "b");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FileBackend {
    paths: Arc<Vec<PathBuf>>,
    state: Arc<Mutex<Loaded>>,
}

/// The last content read and its revision.
#[derive(Debug, Default)]
struct Loaded {
    revision: u64,
    pairs: BTreeMap<Key, Bytes>,
}

impl FileBackend {
    /// A backend reading `paths` (files or directories).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        FileBackend {
            paths: Arc::new(paths),
            state: Arc::default(),
        }
    }

    /// The configured paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads every file now; the revision and the full content.
    async fn load(&self) -> Result<(Revision, Arc<BTreeMap<Key, Bytes>>)> {
        let paths = self.paths.clone();
        let pairs = tokio::task::spawn_blocking(move || load::load_all(&paths))
            .await
            .map_err(|e| Error::backend_error(BACKEND, e))??;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.revision == 0 || state.pairs != pairs {
            state.revision += 1;
            state.pairs = pairs;
        }
        Ok((Revision(state.revision), Arc::new(state.pairs.clone())))
    }

    async fn snapshot(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        let (revision, all) = self.load().await?;
        Ok(select(revision, &all, prefixes))
    }
}

/// The pairs of `all` under any of `prefixes`.
fn select(revision: Revision, all: &BTreeMap<Key, Bytes>, prefixes: &[Key]) -> KvSnapshot {
    let pairs = all
        .iter()
        .filter(|(k, _)| prefixes.iter().any(|p| p.contains(k)))
        .map(|(k, v)| {
            let pair = KvPair {
                key: k.clone(),
                value: v.clone(),
                mod_revision: revision,
            };
            (k.clone(), pair)
        })
        .collect();
    KvSnapshot { revision, pairs }
}

/// The changes turning `old` into `new`, deletes first, each group sorted by key.
fn diff(old: &KvSnapshot, new: &KvSnapshot) -> Vec<KvChange> {
    let deletes = old
        .pairs
        .keys()
        .filter(|k| !new.pairs.contains_key(*k))
        .map(|k| KvChange::Delete(k.clone()));
    let puts = new
        .pairs
        .values()
        .filter(|p| old.pairs.get(&p.key).map(|o| &o.value) != Some(&p.value))
        .map(|p| KvChange::Put(p.clone()));
    deletes.chain(puts).collect()
}

#[async_trait]
impl KvView for FileBackend {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &Key) -> Result<Option<KvPair>> {
        let (revision, all) = self.load().await?;
        Ok(all.get(key).map(|v| KvPair {
            key: key.clone(),
            value: v.clone(),
            mod_revision: revision,
        }))
    }

    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        self.snapshot(prefixes).await
    }

    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream> {
        let changes = notify_watch::Changes::new(&self.paths, POLL_INTERVAL);
        let prefixes = vec![prefix.clone()];
        let current = self.snapshot(&prefixes).await?;
        let first = match after {
            Some(r) if r == current.revision => None,
            _ => Some(Ok(KvEvent::Reset(current.clone()))),
        };
        let state = (self.clone(), prefixes, current, changes);
        let rest = futures::stream::unfold(state, |(backend, prefixes, mut seen, mut changes)| {
            async move {
                loop {
                    changes.next().await;
                    let now = match backend.snapshot(&prefixes).await {
                        Ok(s) => s,
                        Err(e) => {
                            // Often a file caught half-written: keep watching, report once fixed.
                            tracing::warn!(backend = BACKEND, error = %e, "cannot reload files");
                            continue;
                        }
                    };
                    let changes_now = diff(&seen, &now);
                    if changes_now.is_empty() {
                        continue;
                    }
                    let event = KvEvent::Changed {
                        revision: now.revision,
                        changes: changes_now,
                    };
                    seen = now;
                    return Some((Ok(event), (backend, prefixes, seen, changes)));
                }
            }
        });
        Ok(futures::stream::iter(first).chain(rest).boxed())
    }
}

/// Whether `path` names a file the backend loads from a directory.
fn is_data_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
