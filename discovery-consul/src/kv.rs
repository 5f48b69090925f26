//! [`KvView`] and [`KvStore`] over Consul KV. `/a/b` is Consul's `a/b` (under `<namespace>/`
//! when one is configured).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use discovery_core::{
    Error, Key, KvChange, KvEvent, KvPair, KvSnapshot, KvStore, KvView, KvWatchStream, Result,
    Revision,
};
use futures::FutureExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::consumer::{diff_maps, Diff};
use crate::http::{encode, status_error, BACKEND};
use crate::hub::Fetch;
use crate::watch::blocking_query;
use crate::ConsulBackend;

/// Consul's shortest session TTL: shorter key TTLs are rounded up to it.
const MIN_SESSION_TTL: Duration = Duration::from_secs(10);

/// One KV entry as Consul sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    modify_index: u64,
    #[serde(default)]
    session: Option<String>,
}

/// The pairs under one watched prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pairs(BTreeMap<Key, KvPair>);

impl Pairs {
    fn snapshot(&self, index: u64) -> KvSnapshot {
        KvSnapshot {
            revision: Revision(index),
            pairs: self.0.clone(),
        }
    }
}

impl Diff for Pairs {
    type Event = KvEvent;

    fn reset(&self, index: u64) -> KvEvent {
        KvEvent::Reset(self.snapshot(index))
    }

    fn diff(&self, prev: &Self, index: u64) -> Option<KvEvent> {
        let changes = diff_maps(
            &prev.0,
            &self.0,
            |p| KvChange::Put(p.clone()),
            |k| KvChange::Delete(k.clone()),
        );
        (!changes.is_empty()).then_some(KvEvent::Changed {
            revision: Revision(index),
            changes,
        })
    }
}

/// The longest whole-segment prefix containing every one of `prefixes` (`/` when none).
fn common_prefix(prefixes: &[Key]) -> Key {
    let Some(first) = prefixes.first() else {
        return Key::root();
    };
    if prefixes.iter().all(|p| p == first) {
        return first.clone();
    }
    let mut common: Vec<&str> = first.as_str().split('/').collect();
    for p in &prefixes[1..] {
        let segs: Vec<&str> = p.as_str().split('/').collect();
        let n = common.iter().zip(&segs).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    // A partial last segment would not contain the others: drop what could be partial.
    let joined = common.join("/");
    let candidate = Key::new(joined).unwrap_or_else(|_| Key::root());
    if prefixes.iter().all(|p| candidate.contains(p)) {
        candidate
    } else {
        Key::root()
    }
}

impl ConsulBackend {
    fn kv_root(&self) -> String {
        self.config()
            .namespace
            .as_ref()
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default()
    }

    /// The Consul key of `key`.
    pub(crate) fn consul_key(&self, key: &Key) -> String {
        format!("{}{}", self.kv_root(), key.as_str().trim_start_matches('/'))
    }

    fn decode_entry(&self, e: Entry) -> Result<(Key, KvPair, Option<String>)> {
        let rel = e.key.strip_prefix(&self.kv_root()).unwrap_or(&e.key);
        let key = Key::new(rel)?;
        let value = match e.value {
            Some(v) => B64
                .decode(v)
                .map_err(|err| Error::invalid_data(BACKEND, key.as_str(), err.to_string()))?,
            None => Vec::new(),
        };
        let pair = KvPair {
            key: key.clone(),
            value: Bytes::from(value),
            mod_revision: Revision(e.modify_index),
        };
        Ok((key, pair, e.session))
    }

    /// Every pair under `prefix` (one recurse GET), blocking on `index` when it is not 0.
    async fn fetch_prefix(&self, prefix: &Key, index: u64) -> Result<(u64, Pairs)> {
        let path = format!("kv/{}", encode(&self.consul_key(prefix), true));
        let (mut query, wait) = blocking_query(index, self.config().wait);
        query.push(("recurse", String::new()));
        let resp = self
            .http()
            .send(Method::GET, &path, &query, None, wait)
            .await?;
        let new_index = resp.index.unwrap_or(0);
        if resp.status == 404 {
            return Ok((new_index, Pairs::default()));
        }
        let resp = resp.ok(prefix.as_str())?;
        let entries: Vec<Entry> = resp.json(prefix.as_str())?;
        let mut pairs = BTreeMap::new();
        for e in entries {
            let (key, pair, _) = self.decode_entry(e)?;
            if prefix.contains(&key) {
                pairs.insert(key, pair);
            }
        }
        Ok((new_index, Pairs(pairs)))
    }

    async fn get_entry(&self, key: &Key) -> Result<Option<(KvPair, Option<String>)>> {
        let (_, entry) = self.get_entry_at(key, &[], None, None).await?;
        Ok(entry)
    }

    /// One key (`X-Consul-Index` and the pair with its session), with `query` added (a
    /// blocking query waits `wait`), stale reads as `stale` says.
    pub(crate) async fn get_entry_at(
        &self,
        key: &Key,
        query: &[(&str, String)],
        wait: Option<Duration>,
        stale: Option<Option<Duration>>,
    ) -> Result<(u64, Option<(KvPair, Option<String>)>)> {
        let path = format!("kv/{}", encode(&self.consul_key(key), true));
        let resp = match stale {
            Some(stale) => {
                self.http()
                    .send_with_stale(Method::GET, &path, query, None, wait, stale)
                    .await?
            }
            None => {
                self.http()
                    .send(Method::GET, &path, query, None, wait)
                    .await?
            }
        };
        let index = resp.index.unwrap_or(0);
        if resp.status == 404 {
            return Ok((index, None));
        }
        let entries: Vec<Entry> = resp.ok(key.as_str())?.json(key.as_str())?;
        for e in entries {
            let (k, pair, session) = self.decode_entry(e)?;
            if &k == key {
                return Ok((index, Some((pair, session))));
            }
        }
        Ok((index, None))
    }

    /// Runs a KV transaction: `Ok(Ok(index))` with the `ModifyIndex` of its last result, or
    /// `Ok(Err(reasons))` when Consul rolled it back (409).
    async fn txn(&self, ops: Vec<Value>, what: &str) -> Result<std::result::Result<u64, String>> {
        let body = Bytes::from(Value::Array(ops).to_string());
        let resp = self
            .http()
            .send(Method::PUT, "txn", &[], Some(body), None)
            .await?;
        if resp.status != 200 && resp.status != 409 {
            return Err(status_error(resp.status, what, resp.text()));
        }
        let answer: Value = resp.json(what)?;
        if resp.status == 409 {
            return Ok(Err(answer["Errors"].to_string()));
        }
        answer["Results"]
            .as_array()
            .and_then(|r| r.last())
            .and_then(|r| r["KV"]["ModifyIndex"].as_u64())
            .map(Ok)
            .ok_or_else(|| {
                Error::invalid_data(BACKEND, what, "transaction answer without an index")
            })
    }

    /// A session for a key TTL: `Behavior=delete`, never renewed.
    async fn create_session(&self, ttl: Duration) -> Result<String> {
        self.create_session_named("discovery key ttl", ttl, Duration::ZERO)
            .await
    }

    /// Creates a `Behavior=delete` session named `name`; `ttl` is clamped to Consul's range
    /// (10 s to 24 h).
    pub(crate) async fn create_session_named(
        &self,
        name: &str,
        ttl: Duration,
        lock_delay: Duration,
    ) -> Result<String> {
        let ttl = ttl.max(MIN_SESSION_TTL).min(Duration::from_secs(86_400));
        let body = json!({
            "Name": name,
            "TTL": format!("{}s", ttl.as_secs()),
            "Behavior": "delete",
            "LockDelay": format!("{}ms", lock_delay.as_millis()),
        });
        let resp = self
            .http()
            .send(
                Method::PUT,
                "session/create",
                &[],
                Some(Bytes::from(body.to_string())),
                None,
            )
            .await?
            .ok("session")?;
        let v: Value = resp.json("session")?;
        v["ID"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_data(BACKEND, "session", "no ID in the answer"))
    }
}

#[async_trait]
impl KvView for ConsulBackend {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &Key) -> Result<Option<KvPair>> {
        Ok(self.get_entry(key).await?.map(|(pair, _)| pair))
    }

    /// One recurse GET on the longest prefix common to `prefixes`, so every pair comes from one
    /// index.
    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        let common = common_prefix(prefixes);
        let (index, pairs) = self.fetch_prefix(&common, 0).await?;
        let pairs = pairs
            .0
            .into_iter()
            .filter(|(k, _)| prefixes.iter().any(|p| p.contains(k)))
            .collect();
        Ok(KvSnapshot {
            revision: Revision(index.max(1)),
            pairs,
        })
    }

    /// A shared blocking query per prefix. Consul keeps no history: resuming with `after` yields
    /// a `Reset` unless the prefix's index is still `after`.
    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream> {
        let this = self.clone();
        let p = prefix.clone();
        let fetch: Fetch<Pairs> = Arc::new(move |index| {
            let this = this.clone();
            let p = p.clone();
            async move { this.fetch_prefix(&p, index).await }.boxed()
        });
        self.inner
            .kv
            .stream(prefix.as_str(), fetch, after.map(Revision::get))
            .await
    }
}

#[async_trait]
impl KvStore for ConsulBackend {
    /// With a TTL, the key is held by a Consul session (`Behavior=delete`, never renewed), so
    /// Consul deletes it once the session expires: TTLs are rounded up to Consul's minimum of
    /// 10 s, and Consul may take up to twice the TTL to expire a session.
    async fn put(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<Revision> {
        let ckey = self.consul_key(key);
        let b64 = B64.encode(&value);
        let held_by = self.get_entry(key).await?.and_then(|(_, s)| s);
        let mut ops = Vec::new();
        if let Some(old) = &held_by {
            // Release a previous TTL session's hold, or Consul would delete the new value too.
            ops.push(json!({"KV": {"Verb": "unlock", "Key": ckey, "Value": b64, "Session": old}}));
        }
        match ttl {
            Some(ttl) => {
                let session = self.create_session(ttl).await?;
                ops.push(
                    json!({"KV": {"Verb": "lock", "Key": ckey, "Value": b64, "Session": session}}),
                );
            }
            None if held_by.is_none() => {
                ops.push(json!({"KV": {"Verb": "set", "Key": ckey, "Value": b64}}));
            }
            None => {}
        }
        match self.txn(ops, key.as_str()).await? {
            Ok(index) => Ok(Revision(index)),
            Err(reasons) => Err(Error::Unavailable {
                backend: BACKEND,
                source: Box::new(crate::http::Failure(format!(
                    "put {key} was rolled back (concurrent writer?): {reasons}"
                ))),
            }),
        }
    }

    async fn delete(&self, key: &Key) -> Result<bool> {
        let ckey = self.consul_key(key);
        let ops = vec![
            json!({"KV": {"Verb": "get", "Key": ckey}}),
            json!({"KV": {"Verb": "delete", "Key": ckey}}),
        ];
        match self.txn(ops, key.as_str()).await? {
            Ok(_) => Ok(true),
            Err(reasons) if reasons.contains("doesn't exist") => Ok(false),
            Err(reasons) => Err(Error::backend_error(
                BACKEND,
                crate::http::Failure(format!("delete {key} was rolled back: {reasons}")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    #[test]
    fn common_prefixes_are_whole_segments() {
        assert_eq!(common_prefix(&[k("/a/b"), k("/a/c")]), k("/a"));
        assert_eq!(common_prefix(&[k("/test"), k("/testing")]), k("/"));
        assert_eq!(common_prefix(&[k("/x/")]), k("/x/"));
        assert_eq!(common_prefix(&[]), k("/"));
    }
}
