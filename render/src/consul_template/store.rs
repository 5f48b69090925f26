//! The data every template renders from, kept current by one subscription per watched thing
//! (a service's health, a KV prefix, the catalog's service list), shared by all templates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use discovery_consul::{ApiAnswer, CatalogServices, ConsulBackend, POLL_INTERVAL};
use discovery_core::health::HealthRegistry;
use discovery_core::{
    ApiRead, Backoff, Dependency, Error, Key, KvEvent, KvSnapshot, KvView, RenderData, Result,
    ServiceName, WatchEvent, Watcher,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Consecutive failed subscription attempts after which the process gives up (as
/// consul-template's 12 retries).
const MAX_ATTEMPTS: u32 = 12;

/// What one subscription watches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Watch {
    /// A service's instances, all health states (templates filter).
    Service(ServiceName),
    /// Every KV pair under a prefix.
    Kv(Key),
    /// The catalog's service list.
    Catalog,
    /// The datacenters (only the reachable ones with `true`), polled.
    Datacenters(bool),
    /// One endpoint's JSON answer.
    Api(ApiRead),
}

impl Watch {
    /// The natural subscription of `dep`. `ls`/`tree` prefixes are raw strings (`ls "app"` also
    /// lists `apple`), so a prefix is served by its parent's watch.
    fn natural(dep: &Dependency) -> Option<Watch> {
        Some(match dep {
            Dependency::Key(k) => Watch::Kv(k.clone()),
            Dependency::Prefix(p) => Watch::Kv(parent(p)),
            Dependency::Service(s) => Watch::Service(s.clone()),
            Dependency::Catalog => Watch::Catalog,
            Dependency::Datacenters { ignore_failing } => Watch::Datacenters(*ignore_failing),
            Dependency::Api(read) => Watch::Api(read.clone()),
            _ => return None,
        })
    }
}

impl Watch {
    /// consul-template's notation of the subscription (`health.service(web)`, `kv.list(app)`,
    /// `catalog.services`), for health reports.
    pub fn describe(&self) -> String {
        match self {
            Watch::Service(s) => format!("health.service({s})"),
            Watch::Kv(k) => format!("kv.list({})", k.as_str().trim_start_matches('/')),
            Watch::Catalog => "catalog.services".to_owned(),
            Watch::Datacenters(_) => "catalog.datacenters".to_owned(),
            Watch::Api(read) => super::api_reads::describe(read),
        }
    }
}

fn parent(k: &Key) -> Key {
    let s = k.as_str().trim_end_matches('/');
    match s.rfind('/') {
        Some(0) | None => Key::root(),
        Some(i) => Key::new(&s[..i]).unwrap_or_else(|_| Key::root()),
    }
}

/// consul-template's notation of a dependency, for logs (`kv.block(app/key)`).
pub fn describe(dep: &Dependency) -> String {
    match dep {
        Dependency::Key(k) => format!("kv.block({})", k.as_str().trim_start_matches('/')),
        Dependency::Prefix(p) => format!("kv.list({})", p.as_str().trim_start_matches('/')),
        Dependency::Service(s) => format!("health.service({s})"),
        Dependency::Catalog => "catalog.services".to_owned(),
        Dependency::Datacenters { .. } => "catalog.datacenters".to_owned(),
        Dependency::Api(read) => super::api_reads::describe(read),
        other => format!("{other:?}"),
    }
}

/// Where a template's render reads its data: the [`Store`] (subscribing to what it reads), or,
/// for a de-duplication follower, the data its leader stored.
pub(crate) trait Source {
    /// The data to render from.
    fn data(&self) -> &RenderData;
    /// Makes sure `deps` will be served (subscribes where needed).
    fn ensure(&mut self, deps: &BTreeSet<Dependency>);
    /// The subscription serving `dep`, if any (a change to it re-renders the template).
    fn watch_of(&self, dep: &Dependency) -> Option<Watch>;
    /// Whether `dep`'s data is there to render from.
    fn arrived(&self, dep: &Dependency) -> bool;
}

impl Source for Store {
    fn data(&self) -> &RenderData {
        Store::data(self)
    }
    fn ensure(&mut self, deps: &BTreeSet<Dependency>) {
        Store::ensure(self, deps);
    }
    fn watch_of(&self, dep: &Dependency) -> Option<Watch> {
        Store::watch_of(self, dep)
    }
    fn arrived(&self, dep: &Dependency) -> bool {
        Store::arrived(self, dep)
    }
}

enum Msg {
    Service(ServiceName, WatchEvent),
    Kv(Key, KvEvent),
    Catalog(CatalogServices),
    Datacenters(bool, Vec<String>),
    Api(ApiRead, ApiAnswer),
    Failed(Watch, Error, u32),
}

struct Sub {
    task: JoinHandle<()>,
    arrived: bool,
}

/// The shared data and its subscriptions.
pub struct Store {
    backend: ConsulBackend,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    subs: BTreeMap<Watch, Sub>,
    kv_parts: BTreeMap<Key, KvSnapshot>,
    data: RenderData,
    health: HealthRegistry,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("watches", &self.subs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        for s in self.subs.values() {
            s.task.abort();
        }
    }
}

impl Store {
    /// An empty store over `backend`, reporting its subscriptions to `health`.
    pub fn new(backend: ConsulBackend, health: HealthRegistry) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        Store {
            backend,
            tx,
            rx,
            subs: BTreeMap::new(),
            kv_parts: BTreeMap::new(),
            data: RenderData::default(),
            health,
        }
    }

    /// The registry the store reports to.
    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }

    /// The current data.
    pub fn data(&self) -> &RenderData {
        &self.data
    }

    /// The subscription serving `dep`: a running KV watch containing it, else its natural one.
    pub fn watch_of(&self, dep: &Dependency) -> Option<Watch> {
        let natural = Watch::natural(dep)?;
        if let Watch::Kv(k) = &natural {
            let covering = self.subs.keys().find(|w| match w {
                Watch::Kv(p) => p.contains(k),
                _ => false,
            });
            if let Some(w) = covering {
                return Some(w.clone());
            }
        }
        Some(natural)
    }

    /// Whether `dep`'s data arrived at least once.
    pub fn arrived(&self, dep: &Dependency) -> bool {
        self.watch_of(dep)
            .and_then(|w| self.subs.get(&w))
            .is_some_and(|s| s.arrived)
    }

    /// Starts the subscriptions `deps` need; returns how many were started.
    pub fn ensure<'a>(&mut self, deps: impl IntoIterator<Item = &'a Dependency>) -> usize {
        let mut started = 0;
        for dep in deps {
            let Some(w) = self.watch_of(dep) else {
                continue;
            };
            if self.subs.contains_key(&w) {
                continue;
            }
            tracing::debug!(watch = ?w, "subscribing");
            self.health.set_pending("consul", &w.describe());
            let task = tokio::spawn(pump(self.backend.clone(), w.clone(), self.tx.clone()));
            self.subs.insert(
                w,
                Sub {
                    task,
                    arrived: false,
                },
            );
            started += 1;
        }
        started
    }

    /// Waits for the next updates and applies them; returns the subscriptions whose data changed
    /// (or arrived for the first time). A subscription that keeps failing is an error.
    pub async fn next(&mut self) -> Result<BTreeSet<Watch>> {
        let first = self.rx.recv().await.ok_or(Error::Closed {
            backend: "consul",
            what: "subscriptions",
        })?;
        let mut batch = vec![first];
        while let Ok(m) = self.rx.try_recv() {
            batch.push(m);
        }
        let mut changed = BTreeSet::new();
        let mut kv_changed = false;
        for msg in batch {
            let (watch, content_changed) = match msg {
                Msg::Service(name, ev) => {
                    let progress = matches!(ev, WatchEvent::Progress(_));
                    let snap = self.data.services.entry(name.clone()).or_default();
                    Arc::make_mut(snap).apply(ev);
                    (Watch::Service(name), !progress)
                }
                Msg::Kv(prefix, ev) => {
                    self.kv_parts.entry(prefix.clone()).or_default().apply(ev);
                    kv_changed = true;
                    (Watch::Kv(prefix), true)
                }
                Msg::Catalog(list) => {
                    let names = list
                        .services
                        .into_iter()
                        .filter_map(|(n, tags)| ServiceName::new(n).ok().map(|n| (n, tags)))
                        .collect();
                    self.data.catalog = Some(Arc::new(names));
                    (Watch::Catalog, true)
                }
                Msg::Datacenters(ignore_failing, list) => {
                    let list = Arc::new(list);
                    let prev = self.data.datacenters.insert(ignore_failing, list.clone());
                    (Watch::Datacenters(ignore_failing), prev != Some(list))
                }
                Msg::Api(read, answer) => {
                    let prev = self.data.api.insert(read.clone(), answer.body.clone());
                    (Watch::Api(read), prev != Some(answer.body))
                }
                Msg::Failed(w, e, attempts) => {
                    if let (Watch::Api(read), Error::NotFound { .. }) = (&w, &e) {
                        if let Some(msg) = super::api_reads::missing_endpoint(read) {
                            return Err(Error::backend_error("consul", msg));
                        }
                    }
                    if !e.is_retryable() || attempts >= MAX_ATTEMPTS {
                        return Err(e);
                    }
                    tracing::warn!(watch = ?w, error = %e, attempts, "subscription failed; retrying");
                    self.health.set_failing("consul", &w.describe(), &e);
                    continue;
                }
            };
            let Some(sub) = self.subs.get_mut(&watch) else {
                continue;
            };
            self.health.set_ok("consul", &watch.describe());
            let first = !sub.arrived;
            sub.arrived = true;
            if first || content_changed {
                changed.insert(watch);
            }
        }
        if kv_changed {
            let mut merged = KvSnapshot::default();
            for part in self.kv_parts.values() {
                merged.revision = merged.revision.max(part.revision);
                merged
                    .pairs
                    .extend(part.pairs.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            self.data.kv = Arc::new(merged);
        }
        Ok(changed)
    }
}

/// Opens a subscription's stream, mapped to messages.
async fn open(backend: &ConsulBackend, w: &Watch) -> Result<BoxStream<'static, Result<Msg>>> {
    Ok(match w {
        Watch::Service(name) => {
            let name = name.clone();
            backend
                .watch(&name, None)
                .await?
                .map(move |r| r.map(|ev| Msg::Service(name.clone(), ev)))
                .boxed()
        }
        Watch::Kv(prefix) => {
            let prefix = prefix.clone();
            backend
                .watch_prefix(&prefix, None)
                .await?
                .map(move |r| r.map(|ev| Msg::Kv(prefix.clone(), ev)))
                .boxed()
        }
        Watch::Catalog => backend
            .watch_services()
            .await?
            .map(|r| r.map(Msg::Catalog))
            .boxed(),
        Watch::Datacenters(ignore_failing) => {
            let (backend, ignore_failing) = (backend.clone(), *ignore_failing);
            // `/v1/catalog/datacenters` does not block: asked now, then every POLL_INTERVAL
            // (consul-template's CatalogDatacentersQuerySleepTime).
            futures::stream::unfold(true, move |first| {
                let backend = backend.clone();
                async move {
                    if !first {
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                    let r = datacenters(&backend, ignore_failing)
                        .await
                        .map(|list| Msg::Datacenters(ignore_failing, list));
                    Some((r, false))
                }
            })
            .boxed()
        }
        Watch::Api(read) => {
            let read = read.clone();
            backend
                .watch_api(&read)
                .await?
                .map(move |r| r.map(|a| Msg::Api(read.clone(), a)))
                .boxed()
        }
    })
}

/// The datacenters, sorted; with `ignore_failing`, only those whose catalog answers a
/// consistent read (upstream's `CatalogDatacentersQuery` asks `catalog/services` of each).
async fn datacenters(backend: &ConsulBackend, ignore_failing: bool) -> Result<Vec<String>> {
    let answer = backend
        .api_get(&ApiRead::new("catalog/datacenters").polled())
        .await?;
    let mut list: Vec<String> = answer
        .body
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ignore_failing {
        let mut reachable = Vec::with_capacity(list.len());
        for dc in list {
            let probe = ApiRead::new("catalog/services")
                .polled()
                .with("dc", dc.clone())
                .with("consistent", "");
            match backend.api_get(&probe).await {
                Ok(_) => reachable.push(dc),
                Err(e) => tracing::debug!(datacenter = %dc, error = %e, "datacenter left out"),
            }
        }
        list = reachable;
    }
    list.sort();
    Ok(list)
}

/// Keeps one subscription running while the store lives; each (re)subscription starts from a
/// full state, so nothing is missed across failures.
async fn pump(backend: ConsulBackend, w: Watch, tx: mpsc::Sender<Msg>) {
    let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut attempt = 0u32;
    loop {
        let err = match open(&backend, &w).await {
            Ok(mut stream) => loop {
                match stream.next().await {
                    Some(Ok(msg)) => {
                        attempt = 0;
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => break e,
                    None => break Error::unavailable("consul", "the watch ended"),
                }
            },
            Err(e) => e,
        };
        attempt = attempt.saturating_add(1);
        if tx.send(Msg::Failed(w.clone(), err, attempt)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_prefixes_are_served_by_their_parent() {
        let k = |s: &str| Key::new(s).unwrap();
        assert_eq!(parent(&k("/app")), Key::root());
        assert_eq!(parent(&k("/a/b")), k("/a"));
        assert_eq!(parent(&k("/a/b/")), k("/a"));
        assert_eq!(
            describe(&Dependency::Key(k("/config/missing"))),
            "kv.block(config/missing)"
        );
    }
}
