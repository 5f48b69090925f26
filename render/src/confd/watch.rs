//! confd `-watch` mode without polling or re-reading: one long-lived watch per distinct key
//! prefix, a local snapshot updated from the events, re-rendering only the resources whose keys
//! changed, optional debounce, one reload per distinct command, lost-watch reporting.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use discovery_core::{Backoff, Error, Key, KvEvent, KvSnapshot, KvView, Result, Revision};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::commands::ReloadLimiter;
use super::control::{Control, Exit};
use super::options::{ConfdOptions, Mode};
use super::process::{process, Processed, Resource};
use super::reload::Reloader;
use super::ConfdStore;
use crate::quiesce::Quiescence;
use crate::sync::Fsync;

/// The prefixes to watch: every resource key, without those contained in another.
pub fn minimal_prefixes<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Vec<Key> {
    let all: BTreeSet<&Key> = keys.into_iter().collect();
    all.iter()
        .filter(|k| !all.iter().any(|o| o != *k && o.contains(k)))
        .map(|k| (*k).clone())
        .collect()
}

enum Msg {
    Event(usize, KvEvent),
    Failed(usize, Error),
}

/// Keeps one prefix watched for as long as the receiver lives, resuming after failures.
async fn watch_task(kv: Arc<dyn KvView>, idx: usize, prefix: Key, tx: mpsc::Sender<Msg>) {
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut resume: Option<Revision> = None;
    let mut attempt = 0u32;
    loop {
        match kv.watch_prefix(&prefix, resume).await {
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    let msg = match item {
                        Ok(ev) => {
                            attempt = 0;
                            resume = Some(ev.revision());
                            Msg::Event(idx, ev)
                        }
                        Err(e) => {
                            let fatal = !e.is_retryable();
                            let m = Msg::Failed(idx, e);
                            if fatal {
                                if tx.send(m).await.is_err() {
                                    return;
                                }
                                break;
                            }
                            m
                        }
                    };
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                if tx.send(Msg::Failed(idx, e)).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

/// One watched prefix of one backend.
struct Watched {
    /// The backend's id ([`Resource::backend_id`]: 0 is the global one).
    backend: usize,
    kv: Arc<dyn KvView>,
    prefix: Key,
    /// Its name in logs and health: the prefix, with the backend before it if not the global.
    name: String,
}

/// What to watch: per backend, its resources' keys without those contained in another.
/// Resources whose `[backend]` tables are equal share a backend id, so they share the watches.
fn watched(global: &Arc<dyn KvView>, resources: &[Resource]) -> Vec<Watched> {
    let mut ids: Vec<usize> = resources.iter().map(Resource::backend_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let group: Vec<&Resource> = resources.iter().filter(|r| r.backend_id() == id).collect();
        let Some(first) = group.first() else { continue };
        let kv = first.kv(global).clone();
        for prefix in minimal_prefixes(group.iter().flat_map(|r| r.spec.keys.iter())) {
            let name = match id {
                0 => prefix.as_str().to_owned(),
                _ => format!("{}#{id}:{prefix}", kv.backend()),
            };
            out.push(Watched {
                backend: id,
                kv: kv.clone(),
                prefix,
                name,
            });
        }
    }
    out
}

/// The watched keys (one snapshot per backend), and each resource's view of them.
struct Views {
    snapshots: HashMap<usize, KvSnapshot>,
    /// Each resource's backend id.
    backends: Vec<usize>,
    /// Built at a resource's first render, then updated per changed key (`None`: build it
    /// again from the snapshot at the next render).
    stores: Vec<Option<ConfdStore>>,
}

impl Views {
    fn new(resources: &[Resource]) -> Self {
        Views {
            snapshots: HashMap::new(),
            backends: resources.iter().map(Resource::backend_id).collect(),
            stores: resources.iter().map(|_| None).collect(),
        }
    }

    /// Applies an event of `backend`'s `prefix`; returns the changed keys (`None`: everything
    /// under the prefix may have changed).
    fn apply(&mut self, backend: usize, prefix: &Key, ev: KvEvent) -> Option<Vec<Key>> {
        let snapshot = self.snapshots.entry(backend).or_default();
        let changed = apply(snapshot, prefix, ev);
        for (slot, id) in self.stores.iter_mut().zip(&self.backends) {
            if *id != backend {
                continue;
            }
            match (slot.as_mut(), changed.as_deref()) {
                (Some(store), Some(keys)) => store.update(snapshot, Some(keys)),
                _ => *slot = None,
            }
        }
        changed
    }

    /// Resource `r`'s view, up to date.
    fn store(&mut self, r: usize, resource: &Resource) -> &ConfdStore {
        let snapshot = self.snapshots.entry(self.backends[r]).or_default();
        self.stores[r].get_or_insert_with(|| resource.template.store(snapshot))
    }
}

/// Applies a prefix's event to the shared snapshot; returns the changed keys (`None`: everything
/// under the prefix may have changed).
fn apply(snap: &mut KvSnapshot, prefix: &Key, ev: KvEvent) -> Option<Vec<Key>> {
    match ev {
        KvEvent::Reset(s) => {
            let stale: Vec<Key> = snap.under(prefix).map(|p| p.key.clone()).collect();
            for k in stale {
                snap.pairs.remove(&k);
            }
            snap.pairs.extend(s.pairs);
            snap.revision = snap.revision.max(s.revision);
            None
        }
        KvEvent::Changed { revision, changes } => {
            let keys = changes.iter().map(|c| c.key().clone()).collect();
            for c in changes {
                snap.apply_change(c);
            }
            snap.revision = snap.revision.max(revision);
            Some(keys)
        }
        _ => Some(Vec::new()),
    }
}

/// Runs watch mode until `control` asks for a reload or a shutdown. Resources are processed once
/// every prefix they use has delivered its first state, then again whenever one of their keys
/// changes. Reloads (and the fsync of `-fsync after`) run beside the loop in a [`Reloader`];
/// those still pending when the loop ends run before this returns.
pub async fn run(
    cfg: &ConfdOptions,
    kv: Arc<dyn KvView>,
    resources: &[Resource],
    limiter: &ReloadLimiter,
    control: &mut Control,
    mut retry: Option<Pin<&mut (dyn Future<Output = ()> + Send + '_)>>,
) -> Result<Exit> {
    let reloader = Reloader::spawn(limiter.clone());
    let exit = watch_loop(cfg, kv, resources, &reloader, control, &mut retry).await;
    reloader.drain().await;
    exit
}

async fn watch_loop(
    cfg: &ConfdOptions,
    kv: Arc<dyn KvView>,
    resources: &[Resource],
    reloader: &Reloader,
    control: &mut Control,
    retry: &mut Option<Pin<&mut (dyn Future<Output = ()> + Send + '_)>>,
) -> Result<Exit> {
    let prefixes = watched(&kv, resources);
    let names: Vec<&str> = prefixes.iter().map(|w| w.name.as_str()).collect();
    tracing::info!(prefixes = ?names, "watching");
    let (tx, mut rx) = mpsc::channel(4096);
    let tasks: Vec<_> = prefixes
        .iter()
        .enumerate()
        .map(|(i, w)| tokio::spawn(watch_task(w.kv.clone(), i, w.prefix.clone(), tx.clone())))
        .collect();
    drop(tx);
    let _guard = AbortOnDrop(tasks);
    cfg.health.track("watch", &names);

    let mut views = Views::new(resources);
    let mut ready = vec![false; prefixes.len()];
    let mut lost_since: Vec<Option<(Instant, String)>> = vec![None; prefixes.len()];
    // `-watch` with `-interval`: a full pass every interval besides the watches.
    let mut full_pass = match cfg.mode {
        Mode::WatchInterval(every) => {
            let mut t = tokio::time::interval_at(Instant::now() + every.get(), every.get());
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(t)
        }
        _ => None,
    };
    let mut dirty: BTreeSet<usize> = BTreeSet::new();
    // Debounce (`-wait`), as consul-template's quiescence.
    let mut pending = Quiescence::default();
    // When the oldest change not yet rendered arrived (for the watch-lag histogram).
    let mut dirty_since: Option<Instant> = None;
    let mut health_tick = tokio::time::interval(Duration::from_secs(1));
    write_health(cfg, None);

    loop {
        // A shutdown asked for during a render is honoured before anything else starts.
        if control.stopping() {
            return Ok(Exit::Shutdown);
        }
        let fire = pending.due();
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return Err(Error::Closed { backend: "confd", what: "watch" }) };
                let received = Instant::now();
                dirty_since.get_or_insert(received);
                let mut batch = vec![msg];
                while let Ok(m) = rx.try_recv() {
                    batch.push(m);
                }
                for msg in batch {
                    match msg {
                        Msg::Event(i, ev) => {
                            let w = &prefixes[i];
                            if lost_since[i].take().is_some() {
                                tracing::info!(prefix = %w.name, "watch recovered");
                            }
                            ready[i] = true;
                            cfg.health.set_ok("watch", &w.name);
                            let changed = views.apply(w.backend, &w.prefix, ev);
                            mark_dirty(resources, w, changed.as_deref(), &mut dirty);
                        }
                        Msg::Failed(i, e) => {
                            tracing::warn!(prefix = %prefixes[i].name, error = %e, "watch interrupted; retrying");
                            cfg.health.set_failing("watch", &prefixes[i].name, &e);
                            lost_since[i].get_or_insert((Instant::now(), e.to_string()));
                        }
                    }
                }
                if !dirty.is_empty() {
                    pending.kick(Instant::now(), cfg.wait);
                }
                // Without a debounce the render is due now: do it here rather than through a
                // timer, whose millisecond ticks would add up to 1 ms to every change.
                if pending.take_due(Instant::now()) {
                    render_dirty(cfg, resources, &prefixes, &ready, &mut views, &mut dirty, reloader).await;
                    record_lag(&mut dirty_since);
                }
            }
            _ = sleep_until(fire.unwrap_or_else(Instant::now)), if fire.is_some() => {
                pending.take_due(Instant::now());
                render_dirty(cfg, resources, &prefixes, &ready, &mut views, &mut dirty, reloader).await;
                record_lag(&mut dirty_since);
            }
            _ = next_tick(&mut full_pass) => {
                read_again(&prefixes, &mut ready, &mut views).await;
                dirty.extend(0..resources.len());
                render_dirty(cfg, resources, &prefixes, &ready, &mut views, &mut dirty, reloader).await;
            }
            _ = health_tick.tick() => {
                let worst = lost_since.iter().enumerate().filter_map(|(i, l)| l.as_ref().map(|(t, e)| (i, *t, e.clone()))).min_by_key(|(_, t, _)| *t);
                match worst {
                    Some((i, since, err)) if since.elapsed() >= cfg.watch_grace => {
                        let msg = format!("watch on {} lost for {:?}: {err}", prefixes[i].name, since.elapsed());
                        if cfg.health_file.is_some() {
                            write_health(cfg, Some(&msg));
                        } else {
                            return Err(Error::unavailable("confd", msg));
                        }
                    }
                    _ => write_health(cfg, None),
                }
            }
            exit = control.next() => return Ok(exit),
            () = until_opened(retry) => return Ok(Exit::Retry),
        }
    }
}

/// Resolves when the runner's background open of a waiting `[backend]` (if any) succeeds.
async fn until_opened(retry: &mut Option<Pin<&mut (dyn Future<Output = ()> + Send + '_)>>) {
    match retry {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Processes the dirty resources whose prefixes have all delivered their first state and hands
/// what follows each write (fsync, reload) to `reloader`. Resources that fail stay out of
/// `dirty`: the next change to their keys retries them, and the old file stays.
async fn render_dirty(
    cfg: &ConfdOptions,
    resources: &[Resource],
    prefixes: &[Watched],
    ready: &[bool],
    views: &mut Views,
    dirty: &mut BTreeSet<usize>,
    reloader: &Reloader,
) {
    let todo: Vec<usize> = dirty
        .iter()
        .copied()
        .filter(|&r| {
            let backend = resources[r].backend_id();
            resources[r]
                .spec
                .keys
                .iter()
                .all(|k| prefix_ready(prefixes, ready, backend, k))
        })
        .collect();
    for r in &todo {
        dirty.remove(r);
    }
    // `-fsync after`: rename now, fsync in the worker before the reload.
    let (write_fsync, deferred) = match cfg.fsync {
        Fsync::AfterRename => (Fsync::Never, true),
        other => (other, false),
    };
    for r in todo {
        let resource = &resources[r];
        match process(resource, views.store(r, resource), cfg, write_fsync).await {
            Ok(Processed::Written { reload }) => {
                reloader.submit(deferred.then(|| resource.spec.dest.clone()), reload)
            }
            Ok(_) => {}
            Err(e) => tracing::error!(resource = %resource.name(), error = %e,
                "resource failed; keeping the old file"),
        }
    }
}

/// Records how long the oldest unrendered change waited (the watch-lag histogram).
fn record_lag(dirty_since: &mut Option<Instant>) {
    if let Some(since) = dirty_since.take() {
        metrics::histogram!("discovery_watch_lag_seconds").record(since.elapsed().as_secs_f64());
    }
}

/// Waits for the next full pass of `-watch` with `-interval`; never without one.
async fn next_tick(full_pass: &mut Option<tokio::time::Interval>) {
    match full_pass {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The full pass of `-watch` with `-interval`: reads every watched prefix again and replaces
/// what the watches delivered with it (as a watch's reset would), so that a missed change is
/// caught. A prefix that cannot be read keeps its watched state until the next pass.
async fn read_again(prefixes: &[Watched], ready: &mut [bool], views: &mut Views) {
    tracing::debug!("interval pass: reading every watched prefix again");
    for (i, w) in prefixes.iter().enumerate() {
        match w.kv.list(std::slice::from_ref(&w.prefix)).await {
            Ok(snapshot) => {
                ready[i] = true;
                views.apply(w.backend, &w.prefix, KvEvent::Reset(snapshot));
            }
            Err(e) => tracing::warn!(prefix = %w.name, error = %e,
                "interval pass: cannot read the prefix; the watch goes on"),
        }
    }
}

fn prefix_ready(prefixes: &[Watched], ready: &[bool], backend: usize, key: &Key) -> bool {
    prefixes
        .iter()
        .zip(ready)
        .any(|(w, r)| *r && w.backend == backend && w.prefix.contains(key))
}

fn mark_dirty(
    resources: &[Resource],
    watched: &Watched,
    changed: Option<&[Key]>,
    dirty: &mut BTreeSet<usize>,
) {
    let prefix = &watched.prefix;
    for (i, r) in resources.iter().enumerate() {
        if r.backend_id() != watched.backend {
            continue;
        }
        let hit = match changed {
            None => r
                .spec
                .keys
                .iter()
                .any(|k| prefix.contains(k) || k.contains(prefix)),
            Some(keys) => keys
                .iter()
                .any(|c| r.spec.keys.iter().any(|k| k.contains(c))),
        };
        if hit {
            dirty.insert(i);
        }
    }
}

fn write_health(cfg: &ConfdOptions, lost: Option<&str>) {
    if let Some(path) = &cfg.health_file {
        let text = match lost {
            None => "ok\n".to_owned(),
            Some(m) => format!("lost: {m}\n"),
        };
        if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            if let Err(e) = std::fs::write(path, text) {
                tracing::warn!(file = %path.display(), error = %e, "cannot write health file");
            }
        }
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_minimal() {
        let k = |s: &str| Key::new(s).unwrap();
        let keys = [k("/app"), k("/app/db"), k("/apple"), k("/app")];
        assert_eq!(minimal_prefixes(keys.iter()), vec![k("/app"), k("/apple")]);
        let root = [k("/"), k("/x")];
        assert_eq!(minimal_prefixes(root.iter()), vec![k("/")]);
    }
}
