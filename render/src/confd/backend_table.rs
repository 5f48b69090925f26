//! abtreece/confd's per-resource `[backend]` table: a template resource that reads from its own
//! backend instead of the global one.
//!
//! The render crate knows no backend: it parses the table into a [`BackendConfig`] and asks the
//! [`BackendFactory`] the application gives
//! ([`ConfdRunner::backend_factory`](super::runner::ConfdRunner::backend_factory)) to open it.
//! Resources whose tables are equal once normalised share one client (and, in watch mode, one
//! watch per prefix).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use discovery_core::{Error, KvView, Result};
use futures::future::BoxFuture;

/// A resource's `[backend]` table, normalised: the backend name lowercased, empty strings
/// unset, `scheme = "http"` (the default) unset. Two tables that name the same backend the
/// same way compare equal, which is how resources come to share one client.
///
/// Secrets (`password`, `auth_token`) are redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BackendConfig {
    /// `backend`: the backend's name (`etcdv3`, `etcd`, `consul`, `file`, `env`, ... as the
    /// factory knows them).
    pub backend: String,
    /// `nodes`: the backend's addresses.
    pub nodes: Vec<String>,
    /// `scheme`: `https` for the nodes an SRV record gives (unset: `http`).
    pub scheme: Option<String>,
    /// `client_cert`: TLS client certificate.
    pub client_cert: Option<PathBuf>,
    /// `client_key`: TLS client key.
    pub client_key: Option<PathBuf>,
    /// `client_cakeys`: TLS CA file.
    pub client_cakeys: Option<PathBuf>,
    /// `client_insecure`: accepted as the global flag is (TLS is verified either way).
    pub client_insecure: bool,
    /// `basic_auth`.
    pub basic_auth: bool,
    /// `username`.
    pub username: Option<String>,
    /// `password` (redacted in `Debug`).
    pub password: Option<String>,
    /// `auth_token` (redacted in `Debug`).
    pub auth_token: Option<String>,
    /// `file`: the file backend's files.
    pub file: Vec<PathBuf>,
    /// `filter`: the file backend's filter (accepted as the global one is).
    pub filter: Option<String>,
    /// `srv_domain`: find the nodes in `_<backend>._tcp.<domain>` (ours, as the global flag).
    pub srv_domain: Option<String>,
    /// `srv_record`: find the nodes in this SRV record (ours, as the global flag).
    pub srv_record: Option<String>,
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("BackendConfig")
            .field("backend", &self.backend)
            .field("nodes", &self.nodes)
            .field("scheme", &self.scheme)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("client_cakeys", &self.client_cakeys)
            .field("client_insecure", &self.client_insecure)
            .field("basic_auth", &self.basic_auth)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("auth_token", &redact(&self.auth_token))
            .field("file", &self.file)
            .field("filter", &self.filter)
            .field("srv_domain", &self.srv_domain)
            .field("srv_record", &self.srv_record)
            .finish()
    }
}

/// The fork's keys for backends this crate family does not ship (Vault, DynamoDB, Redis, SSM,
/// ACM, Secrets Manager, IMDS): refused when set, as the global flags are.
const UNSHIPPED_KEYS: &[&str] = &[
    "auth_type",
    "app_id",
    "user_id",
    "role_id",
    "secret_id",
    "path",
    "role",
    "table",
    "separator",
    "certificate_arn",
    "acm_export_private_key",
    "secretsmanager_version_stage",
    "secretsmanager_no_flatten",
    "imds_cache_ttl",
];

/// The fork's connection timeouts and retries: they do not make a different client (the fork
/// leaves them out of its cache key too); our clients keep their own, so they are ignored.
const OPERATIONAL_KEYS: &[&str] = &[
    "dial_timeout",
    "read_timeout",
    "write_timeout",
    "retry_max_attempts",
    "retry_base_delay",
    "retry_max_delay",
];

fn bad(file: &Path, key: &str, why: impl Into<String>) -> Error {
    Error::invalid_config(format!("{}: [backend] {key}", file.display()), why)
}

/// Parses the `[backend]` table of resource file `file`. `None` when the table names no
/// backend (the fork then uses the global one); an error naming the file and the key for an
/// unknown key, a value of the wrong type, a key of a backend we do not ship, or keys set
/// without `backend`.
pub(crate) fn parse(file: &Path, table: &toml::Table) -> Result<Option<BackendConfig>> {
    let mut c = BackendConfig::default();
    let string = |k: &str, v: &toml::Value| -> Result<Option<String>> {
        let s = v
            .as_str()
            .ok_or_else(|| bad(file, k, "expected a string"))?;
        Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
    };
    let boolean = |k: &str, v: &toml::Value| -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| bad(file, k, "expected true or false"))
    };
    let strings = |k: &str, v: &toml::Value, single_ok: bool| -> Result<Vec<String>> {
        let items: Vec<&toml::Value> = match v {
            toml::Value::Array(a) => a.iter().collect(),
            toml::Value::String(_) if single_ok => vec![v],
            _ => return Err(bad(file, k, "expected a list of strings")),
        };
        let mut out = Vec::new();
        for item in items {
            out.extend(string(k, item)?);
        }
        Ok(out)
    };
    let path = |k: &str, v: &toml::Value| string(k, v).map(|s| s.map(PathBuf::from));
    let mut set = Vec::new();
    for (key, v) in table {
        let k = key.to_ascii_lowercase();
        match k.as_str() {
            "backend" => c.backend = string(key, v)?.unwrap_or_default().to_ascii_lowercase(),
            "nodes" => {
                c.nodes = strings(key, v, false)?
                    .into_iter()
                    .map(|n| n.trim_end_matches('/').to_owned())
                    .collect()
            }
            "scheme" => {
                c.scheme = string(key, v)?
                    .map(|s| s.to_ascii_lowercase())
                    .filter(|s| s != "http")
            }
            "client_cert" => c.client_cert = path(key, v)?,
            "client_key" => c.client_key = path(key, v)?,
            "client_cakeys" => c.client_cakeys = path(key, v)?,
            "client_insecure" => c.client_insecure = boolean(key, v)?,
            "basic_auth" => c.basic_auth = boolean(key, v)?,
            "username" => c.username = string(key, v)?,
            "password" => c.password = string(key, v)?,
            "auth_token" => c.auth_token = string(key, v)?,
            "file" => {
                c.file = strings(key, v, true)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect()
            }
            "filter" => c.filter = string(key, v)?,
            "srv_domain" => c.srv_domain = string(key, v)?,
            "srv_record" => c.srv_record = string(key, v)?,
            other if UNSHIPPED_KEYS.contains(&other) => {
                let empty = v.as_str().is_some_and(str::is_empty) || v.as_bool() == Some(false);
                if !empty {
                    return Err(bad(
                        file,
                        key,
                        "belongs to a backend this confd does not ship (etcdv3, etcd, consul, file, env, memory)",
                    ));
                }
            }
            other if OPERATIONAL_KEYS.contains(&other) => {
                tracing::warn!(file = %file.display(), key = other,
                    "[backend] timeout and retry keys are ignored (the client keeps its own)");
            }
            _ => return Err(bad(file, key, "unknown key")),
        }
        if k != "backend" {
            set.push(key.as_str());
        }
    }
    if c.client_insecure {
        tracing::warn!(file = %file.display(),
            "[backend] client_insecure is accepted for compatibility; TLS is always verified");
    }
    if c.backend.is_empty() {
        return match set.first() {
            None => Ok(None),
            Some(key) => Err(bad(
                file,
                "backend",
                format!("missing: {key} is set but no backend is named"),
            )),
        };
    }
    Ok(Some(c))
}

/// Opens the backend a [`BackendConfig`] names: what an application gives a
/// [`ConfdRunner`](super::runner::ConfdRunner) so that `[backend]` tables work.
///
/// Closures `Fn(BackendConfig) -> BoxFuture<'static, Result<Arc<dyn KvView>>>` implement it.
/// An error should name the bad setting; the runner adds the resource file. A backend the
/// application does not support is best refused with [`Error::InvalidConfig`] for `backend`.
pub trait BackendFactory: Send + Sync {
    /// Opens (connects) the backend `config` names.
    fn open(&self, config: BackendConfig) -> BoxFuture<'static, Result<Arc<dyn KvView>>>;
}

impl<F> BackendFactory for F
where
    F: Fn(BackendConfig) -> BoxFuture<'static, Result<Arc<dyn KvView>>> + Send + Sync,
{
    fn open(&self, config: BackendConfig) -> BoxFuture<'static, Result<Arc<dyn KvView>>> {
        self(config)
    }
}

/// A resource's backend once opened: `id` 0 is the global backend, others one per distinct
/// [`BackendConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) id: usize,
    pub(crate) kv: Arc<dyn KvView>,
}

/// The backends opened for `[backend]` tables, one per distinct config, kept across passes
/// and `conf.d` reloads.
#[derive(Default)]
pub(crate) struct Backends {
    factory: Option<Arc<dyn BackendFactory>>,
    open: HashMap<BackendConfig, Opened>,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("factory", &self.factory.is_some())
            .field("open", &self.open.len())
            .finish()
    }
}

impl Backends {
    pub(crate) fn new(factory: Option<Arc<dyn BackendFactory>>) -> Self {
        Backends {
            factory,
            open: HashMap::new(),
        }
    }

    /// The backend of `config` (for resource file `file`), opened at its first use.
    pub(crate) async fn get(&mut self, file: &Path, config: &BackendConfig) -> Result<Opened> {
        if let Some(o) = self.open.get(config) {
            tracing::debug!(file = %file.display(), backend = %config.backend, id = o.id,
                "[backend] shares an open client");
            return Ok(o.clone());
        }
        let factory = self.factory.as_ref().ok_or_else(|| {
            bad(
                file,
                "backend",
                "this application gives the confd runner no backend factory",
            )
        })?;
        let kv = factory.open(config.clone()).await.map_err(|e| match e {
            Error::InvalidConfig { key, reason } => bad(file, &key, reason),
            // Down, not wrong: the runner tries again (see `runner::open_waiting`).
            other if other.is_retryable() => Error::unavailable(
                other.backend().unwrap_or("confd"),
                format!("{}: [backend]: {other}", file.display()),
            ),
            other => {
                Error::invalid_config(format!("{}: [backend]", file.display()), other.to_string())
            }
        })?;
        let opened = Opened {
            id: self.open.len() + 1,
            kv,
        };
        tracing::info!(file = %file.display(), backend = %config.backend, nodes = ?config.nodes,
            id = opened.id, "[backend] opened a client");
        self.open.insert(config.clone(), opened.clone());
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn fork_keys_parse_normalised_and_secrets_are_redacted() {
        let f = Path::new("/etc/confd/conf.d/app.toml");
        let c = parse(
            f,
            &table("backend = \"ETCDv3\"\nnodes = [\"127.0.0.1:2379/\"]\nscheme = \"http\"\nusername = \"u\"\npassword = \"hunter2\"\nauth_token = \"tok-9\"\nclient_cakeys = \"/ca.pem\"\nbasic_auth = true\ndial_timeout = \"5s\"\n"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.backend, "etcdv3");
        assert_eq!(c.nodes, ["127.0.0.1:2379"]);
        assert_eq!(c.scheme, None);
        assert_eq!(c.client_cakeys.as_deref(), Some(Path::new("/ca.pem")));
        assert!(c.basic_auth);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("tok-9"), "{dbg}");
        let same = parse(
            f,
            &table("backend = \"etcdv3\"\nnodes = [\"127.0.0.1:2379\"]\nusername = \"u\"\npassword = \"hunter2\"\nauth_token = \"tok-9\"\nclient_cakeys = \"/ca.pem\"\nbasic_auth = true\n"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c, same, "spelling differences do not make another client");
        let file = parse(f, &table("backend = \"file\"\nfile = \"/a.yaml\"\n"))
            .unwrap()
            .unwrap();
        assert_eq!(file.file, [PathBuf::from("/a.yaml")]);
        assert_eq!(parse(f, &table("")).unwrap(), None);
        assert_eq!(parse(f, &table("backend = \"\"\n")).unwrap(), None);
    }

    #[test]
    fn bad_keys_and_values_name_the_file_and_the_key() {
        let f = Path::new("/etc/confd/conf.d/app.toml");
        let err = |text: &str| parse(f, &table(text)).unwrap_err().to_string();
        let e = err("backend = \"etcd\"\nnode = [\"a\"]\n");
        assert!(
            e.contains("app.toml: [backend] node") && e.contains("unknown key"),
            "{e}"
        );
        let e = err("backend = \"etcd\"\nnodes = \"a:1\"\n");
        assert!(
            e.contains("[backend] nodes") && e.contains("list of strings"),
            "{e}"
        );
        let e = err("backend = \"vault\"\nrole_id = \"r\"\n");
        assert!(
            e.contains("[backend] role_id") && e.contains("does not ship"),
            "{e}"
        );
        let e = err("nodes = [\"a:1\"]\n");
        assert!(
            e.contains("[backend] backend") && e.contains("nodes"),
            "{e}"
        );
        let e = err("backend = 3\n");
        assert!(
            e.contains("[backend] backend") && e.contains("string"),
            "{e}"
        );
    }
}
