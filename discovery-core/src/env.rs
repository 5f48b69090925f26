//! [`EnvBackend`]: confd's `-backend env`, a read-only [`KvView`] over environment variables.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{Key, KvEvent, KvPair, KvSnapshot, KvView, KvWatchStream, Result, Revision};

/// The revision every env read reports: the environment never changes under a watch.
const REVISION: Revision = Revision(1);

/// Environment variables as keys, as confd's env backend maps them: the key `/foo/bar` is the
/// variable `FOO_BAR` (leading `/` dropped, `/` → `_`, uppercased), and a variable maps back to a
/// key by lowercasing it, `_` → `/` and prefixing `/`.
///
/// [`list`](KvView::list) returns every variable whose name equals the transformed prefix or
/// starts with it followed by `_` (so `/app` finds `APP` and `APP_PORT`, not `APPLE`; confd
/// itself also matches `APPLE`). The root prefix `/` lists every variable. Watches yield one
/// [`KvEvent::Reset`] and then stay pending: the environment does not change.
///
/// ```
/// use discovery_core::{EnvBackend, Key, KvView};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> discovery_core::Result<()> {
/// let env = EnvBackend::from_vars([("APP_DB_HOST".to_string(), "db1".to_string())]);
/// let pair = env.get(&Key::new("/app/db/host")?).await?.unwrap();
/// assert_eq!(pair.value, "db1");
/// let all = env.list(&[Key::new("/app")?]).await?;
/// assert!(all.pairs.contains_key(&Key::new("/app/db/host")?));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct EnvBackend {
    /// Fixed variables (tests), or `None` for the process environment read at each call.
    vars: Option<Arc<BTreeMap<String, Bytes>>>,
}

impl fmt::Debug for EnvBackend {
    // Values are often secrets: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.vars {
            None => f.write_str("EnvBackend(process environment)"),
            Some(v) => write!(f, "EnvBackend({} fixed variables)", v.len()),
        }
    }
}

impl EnvBackend {
    /// Reads the process environment at each call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves exactly `vars` (name, value) instead of the process environment.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        EnvBackend {
            vars: Some(Arc::new(
                vars.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect(),
            )),
        }
    }

    /// The variable name of `key`: `/foo/bar` → `FOO_BAR`.
    pub fn variable_name(key: &Key) -> String {
        key.as_str()
            .trim_start_matches('/')
            .replace('/', "_")
            .to_uppercase()
    }

    /// The key of variable `name`: `FOO_BAR` → `/foo/bar`.
    pub fn key_of(name: &str) -> Result<Key> {
        Key::new(format!("/{}", name.to_lowercase().replace('_', "/")))
    }

    fn vars(&self) -> Arc<BTreeMap<String, Bytes>> {
        match &self.vars {
            Some(v) => v.clone(),
            None => Arc::new(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_encoded_bytes())))
                    .map(|(k, v)| (k, Bytes::from(v)))
                    .collect(),
            ),
        }
    }

    fn collect(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        let vars = self.vars();
        let mut snap = KvSnapshot {
            revision: REVISION,
            ..Default::default()
        };
        for prefix in prefixes {
            let wanted = Self::variable_name(prefix);
            for (name, value) in vars.iter().filter(|(n, _)| matches(&wanted, n)) {
                let key = Self::key_of(name)?;
                let pair = KvPair {
                    key: key.clone(),
                    value: value.clone(),
                    mod_revision: REVISION,
                };
                snap.pairs.insert(key, pair);
            }
        }
        Ok(snap)
    }
}

/// Whether variable `name` is under the transformed prefix `wanted` (segment-based).
fn matches(wanted: &str, name: &str) -> bool {
    if wanted.is_empty() || wanted.ends_with('_') {
        return name.starts_with(wanted);
    }
    name == wanted
        || name
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('_'))
}

#[async_trait]
impl KvView for EnvBackend {
    fn backend(&self) -> &'static str {
        "env"
    }

    async fn get(&self, key: &Key) -> Result<Option<KvPair>> {
        let name = Self::variable_name(key);
        let value = match &self.vars {
            Some(vars) => vars.get(&name).cloned(),
            None => std::env::var_os(&name).map(|v| Bytes::from(v.into_encoded_bytes())),
        };
        Ok(value.map(|value| KvPair {
            key: key.clone(),
            value,
            mod_revision: REVISION,
        }))
    }

    async fn list(&self, prefixes: &[Key]) -> Result<KvSnapshot> {
        self.collect(prefixes)
    }

    async fn watch_prefix(&self, prefix: &Key, after: Option<Revision>) -> Result<KvWatchStream> {
        let first = match after {
            // Nothing ever changes after the one revision there is.
            Some(r) if r >= REVISION => None,
            _ => Some(Ok(KvEvent::Reset(
                self.collect(std::slice::from_ref(prefix))?,
            ))),
        };
        Ok(futures::stream::iter(first)
            .chain(futures::stream::pending())
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    fn env() -> EnvBackend {
        EnvBackend::from_vars(
            [
                ("APP", "root"),
                ("APP_PORT", "8080"),
                ("APP_DB_HOST", "db1"),
                ("APPLE", "fruit"),
                ("OTHER", "x"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[tokio::test]
    async fn get_maps_key_to_variable() {
        let e = env();
        assert_eq!(
            e.get(&key("/app/port")).await.unwrap().unwrap().value,
            "8080"
        );
        assert_eq!(
            e.get(&key("app/db/host")).await.unwrap().unwrap().value,
            "db1"
        );
        assert!(e.get(&key("/app/missing")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn list_is_segment_based_and_maps_back() {
        let snap = env().list(&[key("/app")]).await.unwrap();
        let keys: Vec<&str> = snap.pairs.keys().map(Key::as_str).collect();
        assert_eq!(keys, ["/app", "/app/db/host", "/app/port"]);
        let all = env().list(&[Key::root()]).await.unwrap();
        assert_eq!(all.pairs.len(), 5);
        let under = env().list(&[key("/app/")]).await.unwrap();
        assert_eq!(under.pairs.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn watch_yields_one_reset() {
        let mut w = env().watch_prefix(&key("/app"), None).await.unwrap();
        match w.next().await.unwrap().unwrap() {
            KvEvent::Reset(s) => assert_eq!(s.pairs.len(), 3),
            other => panic!("expected a reset, got {other:?}"),
        }
        // Paused time: the hour passes at once unless the stream yields something.
        let more = tokio::time::timeout(std::time::Duration::from_secs(3600), w.next()).await;
        assert!(more.is_err(), "the env watch must stay pending");
    }

    #[tokio::test]
    async fn process_environment_is_read_at_call_time() {
        // PATH exists in every test environment this runs in.
        let path = std::env::var_os("PATH").map(|p| Bytes::from(p.into_encoded_bytes()));
        assert!(path.is_some(), "PATH is set");
        let got = EnvBackend::new().get(&key("/path")).await.unwrap();
        assert_eq!(got.map(|p| p.value), path);
    }

    #[test]
    fn debug_hides_values() {
        assert!(!format!("{:?}", env()).contains("db1"));
    }
}
