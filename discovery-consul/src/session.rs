//! Consul sessions and the key locks they hold (`?acquire=`), with blocking reads of one key:
//! what consul-template's de-duplication mode elects a leader per template with.

use std::time::Duration;

use bytes::Bytes;
use discovery_core::{Error, Key, KvPair, Result};
use reqwest::Method;

use crate::http::{encode, BACKEND};
use crate::watch::blocking_query;
use crate::ConsulBackend;

/// One key as a (blocking) read saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldKey {
    /// The answer's `X-Consul-Index`: pass it back to [`ConsulBackend::read_key`] to block
    /// until the key changes.
    pub index: u64,
    /// The pair, when the key exists.
    pub pair: Option<KvPair>,
    /// The session holding the key's lock, if any.
    pub session: Option<String>,
}

impl ConsulBackend {
    /// Creates a session named `name` whose TTL is `ttl` (rounded to whole seconds and clamped
    /// to Consul's 10 s – 24 h) and whose `LockDelay` is `lock_delay`. Its behaviour is
    /// `delete`: the keys it holds are deleted when it ends. Consul expires a session that is
    /// not renewed within up to twice its TTL.
    pub async fn create_lock_session(
        &self,
        name: &str,
        ttl: Duration,
        lock_delay: Duration,
    ) -> Result<String> {
        self.create_session_named(name, ttl, lock_delay).await
    }

    /// Renews session `id`: `Ok(false)` when Consul no longer knows it (expired or destroyed).
    pub async fn renew_session(&self, id: &str) -> Result<bool> {
        let path = format!("session/renew/{}", encode(id, false));
        let resp = self
            .http()
            .send(Method::PUT, &path, &[], None, None)
            .await?;
        if resp.status == 404 {
            return Ok(false);
        }
        resp.ok("session")?;
        Ok(true)
    }

    /// Destroys session `id`, releasing (with `Behavior=delete`: deleting) the keys it holds.
    pub async fn destroy_session(&self, id: &str) -> Result<()> {
        let path = format!("session/destroy/{}", encode(id, false));
        self.http()
            .send(Method::PUT, &path, &[], None, None)
            .await?
            .ok("session")?;
        Ok(())
    }

    /// Takes the lock of `key` for `session`, writing `value`: `Ok(false)` when another session
    /// holds it (or its lock-delay is running).
    pub async fn acquire_key(&self, key: &Key, value: Bytes, session: &str) -> Result<bool> {
        self.lock_verb(key, value, "acquire", session).await
    }

    /// Releases `session`'s lock of `key` (the value stays): `Ok(false)` when it did not hold
    /// it.
    pub async fn release_key(&self, key: &Key, session: &str) -> Result<bool> {
        self.lock_verb(key, Bytes::new(), "release", session).await
    }

    async fn lock_verb(&self, key: &Key, value: Bytes, verb: &str, session: &str) -> Result<bool> {
        let path = format!("kv/{}", encode(&self.consul_key(key), true));
        let resp = self
            .http()
            .send(
                Method::PUT,
                &path,
                &[(verb, session.to_owned())],
                Some(value),
                None,
            )
            .await?
            .ok(key.as_str())?;
        match resp.text().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(Error::invalid_data(
                BACKEND,
                key.as_str(),
                format!("unexpected answer to ?{verb}: {other}"),
            )),
        }
    }

    /// Reads `key`; with `index` other than 0, blocks up to `wait` until its index passes
    /// `index`. With `max_stale`, any server may answer (one that has not heard from the leader
    /// for longer is asked again of the leader); `None` reads consistently.
    pub async fn read_key(
        &self,
        key: &Key,
        index: u64,
        wait: Duration,
        max_stale: Option<Duration>,
    ) -> Result<HeldKey> {
        let (query, wait) = blocking_query(index, wait);
        let (index, entry) = self
            .get_entry_at(key, &query, wait, Some(max_stale))
            .await?;
        let (pair, session) = match entry {
            Some((pair, session)) => (Some(pair), session.filter(|s| !s.is_empty())),
            None => (None, None),
        };
        Ok(HeldKey {
            index,
            pair,
            session,
        })
    }
}
