//! [`EtcdBackend`]: the KV view, KV store and lease primitives over one etcd client.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use discovery_core::{
    Error, Key, KvPair, KvRegistry, KvSnapshot, KvStore, KvView, KvWatchStream, Layout, LeaseId,
    LeasePool, Result, Revision,
};
use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, PutOptions, TlsOptions, Txn, TxnOp,
    TxnOpResponse,
};

use crate::error::{call, timed, BACKEND};
use crate::keys::{etcd_revision, revision, Namespace};
use crate::lease::Keepers;
use crate::snapshot::SnapshotBuilder;
use crate::EtcdConfig;

/// Range requests per transaction in [`KvView::list`] (etcd's default limit is 128 operations).
const PREFIXES_PER_TXN: usize = 64;
/// Keys per range page (pages are pinned to the first page's revision). etcd 3.4 walks the whole
/// rest of the range for every page (to count it), so listing costs O(keys²/page): large pages
/// keep 100,000 keys to 10 walks. Larger pages cost more than they save: each reply is held
/// twice while it is read (the message, then its decoded key-values), and at 25,000 keys
/// `confd -onetime` over 100,000 keys peaked 5 MB higher for about 30 ms less. A page whose reply
/// exceeds the gRPC client's 4 MiB message limit (large values) is asked again with a quarter of
/// the keys, down to [`MIN_KEYS_PER_PAGE`].
const KEYS_PER_PAGE: i64 = 10_000;
/// The smallest page the size fallback asks for.
const MIN_KEYS_PER_PAGE: i64 = 64;

/// Whether `e` is the gRPC client refusing a reply over its message size limit.
fn reply_too_large(e: &Error) -> bool {
    e.to_string().contains("message length too large")
}

/// The next smaller page after a too-large reply, if any.
fn smaller_page(page: i64, e: &Error) -> Option<i64> {
    (reply_too_large(e) && page > MIN_KEYS_PER_PAGE).then(|| (page / 4).max(MIN_KEYS_PER_PAGE))
}

/// The first etcd key after `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// The end of the key range covering every key that starts with `prefix` (etcd's rule).
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An etcd v3 backend: [`KvView`], [`KvStore`], [`discovery_core::LeaseKv`], and — through
/// [`KvRegistry`] — [`discovery_core::Registry`] and [`discovery_core::Watcher`].
///
/// Cheap to clone: clones share one client (one HTTP/2 connection per endpoint).
#[derive(Clone)]
pub struct EtcdBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) ns: Namespace,
    pub(crate) layout: Layout,
    pub(crate) request_timeout: Duration,
    pub(crate) endpoints: Vec<String>,
    /// The SRV record the endpoints came from, and its re-resolving task.
    pub(crate) resolving: Option<(Arc<crate::resolve::Resolving>, crate::resolve::Task)>,
    pub(crate) keepers: Mutex<HashMap<i64, crate::lease::Keeper>>,
    /// The leases shared by this client's registrations.
    pub(crate) pool: LeasePool,
}

impl Inner {
    /// A request or watch found no endpoint answering: with an SRV record, look it up again.
    pub(crate) fn endpoints_failing(&self) {
        if let Some((r, _)) = &self.resolving {
            r.failing();
        }
    }
}

impl fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoints = match &self.inner.resolving {
            Some((r, _)) => r.endpoints(),
            None => self.inner.endpoints.clone(),
        };
        f.debug_struct("EtcdBackend")
            .field("endpoints", &endpoints)
            .field("namespace", &self.inner.ns)
            .field("layout", &self.inner.layout)
            .finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Connects to the cluster and checks that it answers (one read within the connect and
    /// request timeouts), so that a wrong endpoint, bad credentials or a missing TLS file fail
    /// here with a clear [`Error`] instead of on first use.
    pub async fn connect(mut config: EtcdConfig) -> Result<EtcdBackend> {
        if let Some(srv) = &config.srv {
            config.endpoints = srv.resolve().await?;
            tracing::info!(record = %srv, endpoints = ?config.endpoints, "etcd endpoints from SRV record");
        }
        config.validate()?;
        let options = connect_options(&config)?;
        let budget = config.connect_timeout + config.request_timeout;
        let client = timed(
            "connect",
            budget,
            Client::connect(config.endpoints.clone(), Some(options)),
        )
        .await?;
        let resolving = config.srv.clone().map(|srv| {
            let r =
                crate::resolve::Resolving::new(srv, config.tls.is_some(), config.endpoints.clone());
            let task = r.spawn(client.clone());
            (r, task)
        });
        let backend = EtcdBackend {
            inner: Arc::new(Inner {
                client,
                resolving,
                ns: Namespace::new(config.namespace_prefix()),
                layout: config.layout.clone(),
                request_timeout: config.request_timeout,
                endpoints: config.endpoints.clone(),
                keepers: Mutex::new(HashMap::new()),
                pool: LeasePool::new(),
            }),
        };
        // The channel connects lazily: probe once so that an unreachable cluster is reported now.
        let probe = backend.inner.ns.encode(&Key::root());
        let mut kv = backend.inner.client.kv_client();
        let probed = timed(
            "connect",
            budget,
            kv.get(probe, Some(GetOptions::new().with_count_only())),
        )
        .await;
        match probed {
            // The server answered and knew us: a user without read access to the namespace's
            // root is still connected.
            Ok(_) | Err(Error::PermissionDenied { .. }) => Ok(backend),
            Err(e) if e.is_retryable() => Err(Error::unavailable(
                BACKEND,
                format!(
                    "no endpoint of {:?} answered within {budget:?}: {e}",
                    config.endpoints
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// The registry and watcher of this backend (JSON or plain instances, per the config's
    /// layout). [`EtcdBackend`] implements both traits itself by delegating to this. Every
    /// registry of one backend (and its clones) shares one [`LeasePool`].
    pub fn registry(&self) -> KvRegistry<EtcdBackend> {
        KvRegistry::with_pool(
            self.clone(),
            self.inner.layout.clone(),
            self.inner.pool.clone(),
        )
    }

    /// The configured layout.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    pub(crate) fn client(&self) -> Client {
        self.inner.client.clone()
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Reads every key under `prefixes` at one revision (`at`, or the current one).
    pub(crate) async fn list_at(&self, prefixes: &[Key], at: Option<i64>) -> Result<KvSnapshot> {
        let mut snap = SnapshotBuilder::default();
        let mut pinned = at;
        let kv = self.client().kv_client();
        let chunks: Vec<&[Key]> = if prefixes.is_empty() {
            vec![&[]]
        } else {
            prefixes.chunks(PREFIXES_PER_TXN).collect()
        };
        for chunk in chunks {
            if let [prefix] = chunk {
                // One prefix needs no transaction: its pages are plain ranges (and a Txn's reply
                // would be copied once more by etcd-client's `op_responses`).
                let start = self.inner.ns.range_prefix(prefix);
                let rev = self
                    .list_pages(prefix, start, pinned, KEYS_PER_PAGE, &mut snap)
                    .await?;
                pinned.get_or_insert(rev);
                continue;
            }
            let opts = |page: i64| {
                let o = GetOptions::new().with_prefix().with_limit(page);
                match pinned {
                    Some(r) => o.with_revision(r),
                    None => o,
                }
            };
            let mut page = KEYS_PER_PAGE;
            let resp = loop {
                let mut ops: Vec<TxnOp> = chunk
                    .iter()
                    .map(|p| TxnOp::get(self.inner.ns.range_prefix(p), Some(opts(page))))
                    .collect();
                if ops.is_empty() {
                    // Still read the revision, so that an empty list reports where it was taken.
                    ops.push(TxnOp::get(
                        self.inner.ns.encode(&Key::root()),
                        Some(GetOptions::new().with_count_only()),
                    ));
                }
                let txn = Txn::new().and_then(ops);
                let result = call("list", self.timeout(), || {
                    let (mut kv, txn) = (kv.clone(), txn.clone());
                    async move { kv.txn(txn).await }
                })
                .await;
                match result {
                    Err(e) => match smaller_page(page, &e) {
                        Some(p) => page = p,
                        None => break Err(e),
                    },
                    Ok(r) => break Ok(r),
                }
            }
            .map_err(|e| {
                // Name the prefixes refused (a role may cover some of them only).
                let names = chunk.iter().map(Key::as_str).collect::<Vec<_>>().join(", ");
                with_key(e, &Key::new(names).unwrap_or_else(|_| Key::root()))
            })?;
            let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            let at = *pinned.get_or_insert(rev);
            for (prefix, op) in chunk.iter().zip(resp.op_responses()) {
                if let TxnOpResponse::Get(get) = op {
                    snap.add_page(&self.inner.ns, prefix, get.kvs());
                    if let (true, Some(last)) = (get.more(), get.kvs().last()) {
                        let from = after(last.key());
                        self.list_pages(prefix, from, Some(at), page, &mut snap)
                            .await?;
                    }
                }
            }
        }
        Ok(snap.finish(revision(pinned.unwrap_or(0))))
    }

    /// Reads the keys of `prefix` from etcd key `from` on, in pages of at most `page` keys, into
    /// `snap`; at revision `rev`, or at the current one (then the pages after the first are
    /// pinned to the first one's). Returns the revision read at.
    async fn list_pages(
        &self,
        prefix: &Key,
        mut from: Vec<u8>,
        mut rev: Option<i64>,
        mut page: i64,
        snap: &mut SnapshotBuilder,
    ) -> Result<i64> {
        let end = range_end(&self.inner.ns.range_prefix(prefix));
        let kv = self.client().kv_client();
        loop {
            let resp = loop {
                let mut opts = GetOptions::new().with_range(end.clone()).with_limit(page);
                if let Some(r) = rev {
                    opts = opts.with_revision(r);
                }
                let result = call("list", self.timeout(), || {
                    let (mut kv, from, opts) = (kv.clone(), from.clone(), opts.clone());
                    async move { kv.get(from, Some(opts)).await }
                })
                .await;
                match result {
                    Err(e) => match smaller_page(page, &e) {
                        Some(p) => page = p,
                        None => break Err(with_key(e, prefix)),
                    },
                    Ok(r) => break Ok(r),
                }
            }?;
            let at = *rev.get_or_insert(resp.header().map(|h| h.revision()).unwrap_or(0));
            snap.add_page(&self.inner.ns, prefix, resp.kvs());
            match (resp.more(), resp.kvs().last()) {
                (true, Some(last)) => from = after(last.key()),
                _ => return Ok(at),
            }
        }
    }

    pub(crate) async fn put_raw(
        &self,
        key: &Key,
        value: Bytes,
        lease: Option<i64>,
    ) -> Result<Revision> {
        let opts = lease.map(|l| PutOptions::new().with_lease(l));
        let (kv, k) = (self.client().kv_client(), self.inner.ns.encode(key));
        let resp = call("put", self.timeout(), || {
            let (mut kv, k, v, o) = (kv.clone(), k.clone(), value.to_vec(), opts.clone());
            async move { kv.put(k, v, o).await }
        })
        .await
        .map_err(|e| with_key(e, key))?;
        Ok(revision(resp.header().map(|h| h.revision()).unwrap_or(0)))
    }

    /// Compacts the history up to `rev` (for operators and tests).
    pub async fn compact(&self, rev: Revision) -> Result<()> {
        let kv = self.client().kv_client();
        call("compact", self.timeout(), || {
            let mut kv = kv.clone();
            async move { kv.compact(etcd_revision(rev), None).await }
        })
        .await?;
        Ok(())
    }

    /// The current revision of the cluster.
    pub async fn current_revision(&self) -> Result<Revision> {
        Ok(self.list_at(&[], None).await?.revision)
    }

    /// The lease attached to `key`, if any (for operators and tests).
    pub async fn lease_of(&self, key: &Key) -> Result<Option<LeaseId>> {
        let resp = self.get_raw(key).await?;
        Ok(resp
            .kvs()
            .first()
            .map(|kv| kv.lease())
            .filter(|l| *l != 0)
            .map(LeaseId))
    }

    async fn get_raw(&self, key: &Key) -> Result<etcd_client::GetResponse> {
        let (kv, k) = (self.client().kv_client(), self.inner.ns.encode(key));
        call("get", self.timeout(), || {
            let (mut kv, k) = (kv.clone(), k.clone());
            async move { kv.get(k, None).await }
        })
        .await
    }

    pub(crate) fn keepers(&self) -> &Keepers {
        &self.inner.keepers
    }
}

/// Names the key in permission errors.
fn with_key(e: Error, key: &Key) -> Error {
    match e {
        Error::PermissionDenied {
            backend,
            key: None,
            reason,
        } => Error::PermissionDenied {
            backend,
            key: Some(key.to_string()),
            reason,
        },
        other => other,
    }
}

fn read_file(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::invalid_config(
            format!("tls.{what}"),
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

fn connect_options(config: &EtcdConfig) -> Result<ConnectOptions> {
    let mut o = ConnectOptions::new()
        .with_connect_timeout(config.connect_timeout)
        .with_keep_alive(config.keepalive_interval, config.keepalive_interval)
        .with_keep_alive_while_idle(true)
        .with_require_leader(true);
    if let Some(user) = &config.user {
        o = o
            .with_user(user.clone(), config.password.clone().unwrap_or_default())
            .with_auto_token_refresh(true);
    }
    if let Some(tls) = &config.tls {
        let mut t = TlsOptions::new();
        if let Some(ca) = &tls.ca {
            t = t.ca_certificate(Certificate::from_pem(read_file("ca", ca)?));
        } else {
            t = t.with_native_roots();
        }
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            t = t.identity(Identity::from_pem(
                read_file("cert", cert)?,
                read_file("key", key)?,
            ));
        }
        if let Some(domain) = &tls.domain {
            t = t.domain_name(domain.clone());
        }
        o = o.with_tls(t);
    }
    Ok(o)
}

#[async_trait]
impl KvView for EtcdBackend {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &Key) -> Result<Option<KvPair>> {
        let resp = self.get_raw(key).await.map_err(|e| with_key(e, key))?;
        Ok(resp
            .kvs()
            .first()
            .and_then(|kv| self.inner.ns.pair_under(kv, key)))
    }

    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        let listed = self.list_at(prefixes, None).await;
        if matches!(&listed, Err(e) if e.is_retryable()) {
            self.inner.endpoints_failing();
        }
        listed
    }

    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream> {
        Ok(crate::watch::watch(self.clone(), prefix.clone(), after))
    }
}

#[async_trait]
impl KvStore for EtcdBackend {
    async fn put(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<Revision> {
        let lease = match ttl {
            Some(ttl) => Some(discovery_core::LeaseKv::grant(self, ttl).await?.0),
            None => None,
        };
        self.put_raw(key, value, lease).await
    }

    async fn delete(&self, key: &Key) -> Result<bool> {
        let (kv, k) = (self.client().kv_client(), self.inner.ns.encode(key));
        let resp = call("delete", self.timeout(), || {
            let (mut kv, k) = (kv.clone(), k.clone());
            async move { kv.delete(k, None).await }
        })
        .await
        .map_err(|e| with_key(e, key))?;
        Ok(resp.deleted() > 0)
    }
}
