//! De-duplication mode (`-dedup`, `deduplicate {}`): per template, the processes rendering it
//! elect a leader through a Consul lock; only the leader watches the template's dependencies,
//! and it stores the data it rendered from for the others (followers), which render from that.
//!
//! Layout, per template (its id is upstream's: the SHA-256 of source, contents and
//! destination): `<prefix><id>/lock` is held by the leader's session (its value names the
//! holder, `host:pid`), `<prefix><id>/data.json` holds the shared data ([`Shared`]). Upstream's
//! lock and data share `<prefix><id>/data`, in gob: the keys do not overlap, so in a fleet of
//! both each implementation elects its own leader and renders (they do not share the work).
//!
//! One session per process (`Behavior=delete`, lock-delay 1 ms, as upstream), renewed every
//! half TTL; when it is lost every template steps down and a new session is made. Stopping
//! destroys it, which frees the locks at once.

use std::time::Duration;

use bytes::Bytes;
use discovery_consul::ConsulBackend;
use discovery_core::{Backoff, Key, KvStore, Result};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::dedup_config::DedupOptions;
use super::dedup_data::Shared;
use super::tmpl::Tmpl;

/// The session's name in Consul (upstream's).
const SESSION_NAME: &str = "Consul-Template de-duplication";
/// Upstream's lock-delay: effectively none, so a follower takes over as soon as a session ends.
const LOCK_DELAY: Duration = Duration::from_millis(1);
/// How long to wait before retrying a failed request on a lock or the data.
const RETRY: Duration = Duration::from_secs(1);

/// What this process is for one template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Renders from the data the leader stores (also before the election is decided).
    Follower,
    /// Holds the lock: watches the dependencies and stores the data.
    Leader,
}

/// What changed for one template.
#[derive(Debug)]
pub(crate) enum Change {
    /// It became leader or follower.
    Role,
    /// The leader stored new data (only reported to a follower).
    Data,
}

enum Event {
    Role(usize, Role),
    Data(usize, Shared),
}

/// The keys of one template.
#[derive(Clone, Debug)]
struct Keys {
    name: String,
    lock: Key,
    data: Key,
}

/// The running de-duplication of a set of templates.
pub(crate) struct Dedup {
    backend: ConsulBackend,
    rx: mpsc::UnboundedReceiver<Event>,
    keys: Vec<Keys>,
    /// `None` until the first election result (a follower until then, as upstream).
    roles: Vec<Option<Role>>,
    shared: Vec<Option<Shared>>,
    published: Vec<Option<Vec<u8>>>,
    session: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedup")
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Drop for Dedup {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `<prefix><id>/<leaf>` as a key (a prefix without a trailing `/` gets one, as upstream's
/// `path.Join`).
fn key_of(prefix: &str, id: &str, leaf: &str) -> Result<Key> {
    let prefix = prefix.trim_matches('/');
    let path = if prefix.is_empty() {
        format!("/{id}/{leaf}")
    } else {
        format!("/{prefix}/{id}/{leaf}")
    };
    Key::new(path)
}

impl Dedup {
    /// Starts the session and one election per template. A prefix that makes no valid key is
    /// an error.
    pub(crate) fn start(
        backend: &ConsulBackend,
        options: &DedupOptions,
        templates: &[Tmpl],
    ) -> Result<Dedup> {
        let keys = templates
            .iter()
            .map(|t| {
                Ok(Keys {
                    name: t.spec.name(),
                    lock: key_of(&options.prefix, &t.id, "lock")?,
                    data: key_of(&options.prefix, &t.id, "data.json")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(templates = keys.len(), prefix = %options.prefix, "starting de-duplication");
        if options.ttl < Duration::from_secs(10) {
            tracing::warn!(ttl = ?options.ttl, "deduplicate ttl is below Consul's minimum; using 10s");
        }
        let (session_tx, session) = watch::channel(None);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = vec![tokio::spawn(keep_session(
            backend.clone(),
            options.ttl,
            session_tx,
        ))];
        let holder = format!(
            "{}:{}",
            gethostname::gethostname().to_string_lossy(),
            std::process::id()
        );
        for (i, k) in keys.iter().enumerate() {
            let e = Election {
                backend: backend.clone(),
                index: i,
                keys: k.clone(),
                holder: Bytes::from(holder.clone()),
                wait: options.block_query_wait,
                max_stale: Some(options.max_stale).filter(|d| !d.is_zero()),
                session: session.clone(),
                tx: tx.clone(),
            };
            tasks.push(tokio::spawn(e.run()));
        }
        Ok(Dedup {
            backend: backend.clone(),
            rx,
            roles: vec![None; keys.len()],
            shared: vec![None; keys.len()],
            published: vec![None; keys.len()],
            keys,
            session,
            tasks,
        })
    }

    /// Waits for the next change and applies it: which template, and what changed.
    pub(crate) async fn next(&mut self) -> (usize, Change) {
        loop {
            let Some(ev) = self.rx.recv().await else {
                // Every election ended (they never do while the tasks run).
                std::future::pending::<()>().await;
                continue;
            };
            match ev {
                Event::Role(i, role) => {
                    if self.roles[i] == Some(role) {
                        continue;
                    }
                    self.roles[i] = Some(role);
                    let k = &self.keys[i];
                    match role {
                        Role::Leader => {
                            tracing::info!(template = %k.name, lock = %k.lock, "de-duplication: leader of the template")
                        }
                        Role::Follower => {
                            self.published[i] = None;
                            tracing::info!(template = %k.name, lock = %k.lock, "de-duplication: follower of the template")
                        }
                    }
                    return (i, Change::Role);
                }
                Event::Data(i, shared) => {
                    self.shared[i] = Some(shared);
                    if self.roles[i] != Some(Role::Leader) {
                        return (i, Change::Data);
                    }
                }
            }
        }
    }

    /// Whether template `i` renders from the shared data.
    pub(crate) fn is_follower(&self, i: usize) -> bool {
        self.roles.get(i) != Some(&Some(Role::Leader))
    }

    /// The data the leader of template `i` stored last, if any arrived.
    pub(crate) fn shared(&self, i: usize) -> Option<&Shared> {
        self.shared.get(i).and_then(Option::as_ref)
    }

    /// As leader of template `i`, stores `shared` for the followers (unless it is what was
    /// stored last). A failure is logged: the followers keep the previous data.
    pub(crate) async fn publish(&mut self, i: usize, shared: &Shared) {
        if self.is_follower(i) {
            return;
        }
        let bytes = shared.encode();
        if self.published[i].as_ref() == Some(&bytes) {
            tracing::debug!(key = %self.keys[i].data, "de-duplication data already current");
            return;
        }
        let key = &self.keys[i].data;
        match self
            .backend
            .put(key, Bytes::from(bytes.clone()), None)
            .await
        {
            Ok(_) => {
                tracing::debug!(%key, bytes = bytes.len(), "de-duplication data updated");
                self.published[i] = Some(bytes);
            }
            Err(e) => tracing::error!(%key, error = %e, "could not store the de-duplication data"),
        }
    }

    /// Stops the elections and destroys the session, which frees this process's locks.
    pub(crate) async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let id = self.session.borrow().clone();
        if let Some(id) = id {
            match self.backend.destroy_session(&id).await {
                Ok(()) => tracing::info!(session = %id, "de-duplication session destroyed"),
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "could not destroy the de-duplication session")
                }
            }
        }
    }
}

/// Creates the session and renews it every half TTL; publishes its id (`None` while there is
/// none). A session Consul forgot, or one not renewed for a TTL, is replaced.
async fn keep_session(backend: ConsulBackend, ttl: Duration, tx: watch::Sender<Option<String>>) {
    let ttl = ttl.max(Duration::from_secs(10));
    let backoff = Backoff::new(RETRY, Duration::from_secs(15));
    let mut attempt = 0u32;
    loop {
        let id = match backend
            .create_lock_session(SESSION_NAME, ttl, LOCK_DELAY)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "could not create the de-duplication session");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        attempt = 0;
        tracing::info!(session = %id, "de-duplication session created");
        tx.send_replace(Some(id.clone()));
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ttl / 2).await;
            match backend.renew_session(&id).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::warn!(session = %id, "de-duplication session lost");
                    break;
                }
                Err(e) if renewed.elapsed() < ttl => {
                    tracing::warn!(session = %id, error = %e, "could not renew the de-duplication session; retrying");
                }
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "de-duplication session not renewed for a TTL; replacing it");
                    break;
                }
            }
        }
        tx.send_replace(None);
    }
}

/// One template's election: acquire the lock, hold it while the session lives, else follow.
struct Election {
    backend: ConsulBackend,
    index: usize,
    keys: Keys,
    holder: Bytes,
    wait: Duration,
    max_stale: Option<Duration>,
    session: watch::Receiver<Option<String>>,
    tx: mpsc::UnboundedSender<Event>,
}

impl Election {
    async fn run(self) {
        let Election {
            backend,
            index,
            keys,
            holder,
            wait,
            max_stale,
            mut session,
            tx,
        } = self;
        let lock = Lock {
            backend: &backend,
            key: &keys.lock,
            wait,
        };
        let mut last_data: Option<Bytes> = None;
        let mut refused_while_free = false;
        loop {
            let Ok(id) = session.wait_for(Option::is_some).await.map(|s| s.clone()) else {
                return;
            };
            let Some(id) = id else { continue };
            match backend.acquire_key(&keys.lock, holder.clone(), &id).await {
                Ok(true) => {
                    refused_while_free = false;
                    if tx.send(Event::Role(index, Role::Leader)).is_err() {
                        return;
                    }
                    lock.hold(&id, &mut session).await;
                    if tx.send(Event::Role(index, Role::Follower)).is_err() {
                        return;
                    }
                }
                Ok(false) => {
                    if tx.send(Event::Role(index, Role::Follower)).is_err() {
                        return;
                    }
                    let data = follow(&backend, &keys, index, wait, max_stale, &tx, &mut last_data);
                    tokio::select! {
                        free = lock.wait_free(&id, refused_while_free, &mut session) => {
                            refused_while_free = free;
                        }
                        () = data => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(lock = %keys.lock, error = %e, "could not try the de-duplication lock; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// One template's lock key.
struct Lock<'a> {
    backend: &'a ConsulBackend,
    key: &'a Key,
    wait: Duration,
}

impl Lock<'_> {
    /// Returns once the lock is no longer held by session `id` or the session changed.
    async fn hold(&self, id: &str, session: &mut watch::Receiver<Option<String>>) {
        let mut index = 0;
        loop {
            let read = tokio::select! {
                r = self.backend.read_key(self.key, index, self.wait, None) => r,
                _ = session.changed() => {
                    tracing::warn!(lock = %self.key, "de-duplication session ended; stepping down");
                    return;
                }
            };
            match read {
                Ok(held) if held.session.as_deref() == Some(id) => {
                    index = next_index(index, held.index)
                }
                Ok(_) => {
                    tracing::warn!(lock = %self.key, "lost the de-duplication lock");
                    return;
                }
                Err(e) => {
                    tracing::warn!(lock = %self.key, error = %e, "could not watch the de-duplication lock; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Returns once the lock looks free (or the session changed, or `id` holds it): `true`
    /// when it was free at once, which after a refused acquire means Consul's lock-delay is
    /// running (then it waits a little before the next try).
    async fn wait_free(
        &self,
        id: &str,
        refused_while_free: bool,
        session: &mut watch::Receiver<Option<String>>,
    ) -> bool {
        let mut index = 0;
        loop {
            let read = tokio::select! {
                r = self.backend.read_key(self.key, index, self.wait, None) => r,
                _ = session.changed() => return false,
            };
            match read {
                Ok(held) if held.session.is_none() => {
                    if index == 0 && refused_while_free {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    return index == 0;
                }
                Ok(held) if held.session.as_deref() == Some(id) => return false,
                Ok(held) => index = next_index(index, held.index),
                Err(e) => {
                    tracing::warn!(lock = %self.key, error = %e, "could not watch the de-duplication lock; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// The index to block on next: Consul's rules (an index that goes backwards starts over).
fn next_index(prev: u64, got: u64) -> u64 {
    if got < prev {
        0
    } else {
        got.max(1)
    }
}

/// As follower: blocks on the data key and reports each new content. Never returns.
async fn follow(
    backend: &ConsulBackend,
    keys: &Keys,
    i: usize,
    wait: Duration,
    max_stale: Option<Duration>,
    tx: &mpsc::UnboundedSender<Event>,
    last: &mut Option<Bytes>,
) {
    let mut index = 0;
    loop {
        let held = match backend.read_key(&keys.data, index, wait, max_stale).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(key = %keys.data, error = %e, "could not read the de-duplication data; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        index = next_index(index, held.index);
        let Some(pair) = held.pair else { continue };
        if last.as_ref() == Some(&pair.value) {
            continue;
        }
        *last = Some(pair.value.clone());
        match Shared::decode(&pair.value) {
            Ok(shared) => {
                tracing::debug!(key = %keys.data, deps = shared.deps.len(), "de-duplication data loaded");
                if tx.send(Event::Data(i, shared)).is_err() {
                    return std::future::pending().await;
                }
            }
            Err(e) => {
                tracing::error!(key = %keys.data, error = %e, "cannot use the de-duplication data")
            }
        }
    }
}
