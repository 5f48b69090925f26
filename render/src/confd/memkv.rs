//! confd's key store (memkv v0.1.1 semantics): keys relative to the resource prefix, and the
//! store functions `get gets getv getvs ls lsdir exists`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use discovery_core::{Dependency, Key, KvSnapshot};
use minijinja::Value;

use super::pathmatch::path_match;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::{path_base, path_clean, path_join};
use crate::value::{go_list, go_object, string_list, FormatVerb, GoObject, ListKind};

/// The Go type name of a confd pair.
pub(crate) const KVPAIR_TYPE: &str = "memkv.KVPair";
/// `gets` returns the named slice type `memkv.KVPairs`, which `reverse` does not recognise.
pub(crate) const KVPAIRS_NAMED: &str = "memkv.KVPairs";

/// A `memkv.KVPair`: `.Key` and `.Value`.
#[derive(Debug, Clone)]
pub(crate) struct KvPair {
    pub(crate) key: Arc<str>,
    value: Bytes,
}

impl KvPair {
    /// The value as a Go string (invalid UTF-8 is replaced).
    pub(crate) fn value(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

impl GoObject for KvPair {
    fn type_name(&self) -> &str {
        KVPAIR_TYPE
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Key" => Some(Value::from(self.key.clone())),
            "Value" => Some(Value::from(self.value().as_ref())),
            _ => None,
        }
    }

    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        let value = self.value();
        match verb {
            FormatVerb::PlusV => format!("{{Key:{} Value:{value}}}", self.key),
            FormatVerb::Q => format!(
                "{{{} {}}}",
                crate::gostr::go_quote(&self.key),
                crate::gostr::go_quote(&value)
            ),
            FormatVerb::V | FormatVerb::S => format!("{{{} {value}}}", self.key),
        }
    }
}

/// The keys one template resource sees, sorted by prefix-relative key.
#[derive(Debug, Default)]
pub(crate) struct MemKv {
    pairs: Vec<KvPair>,
}

/// True when `p` (starting with `/`) is already what Go's `path.Clean` returns.
fn is_clean(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    !(p.ends_with('/')
        || p.contains("//")
        || p.contains("/./")
        || p.contains("/../")
        || p.ends_with("/.")
        || p.ends_with("/.."))
}

/// `path.Join("/", strings.TrimPrefix(raw, prefix))`, without allocating for clean keys.
fn relative<'a>(raw: &'a str, prefix: &str) -> Cow<'a, str> {
    let stripped = raw.strip_prefix(prefix).unwrap_or(raw);
    if stripped.is_empty() {
        return Cow::Borrowed("/");
    }
    let candidate = if stripped.starts_with('/') {
        Some(stripped)
    } else {
        let at = raw.len() - stripped.len();
        (at > 0 && raw.as_bytes()[at - 1] == b'/').then(|| &raw[at - 1..])
    };
    match candidate {
        Some(c) if is_clean(c) => Cow::Borrowed(c),
        _ => Cow::Owned(path_join(&["/", stripped])),
    }
}

/// Builds the store confd would fill for a resource with `prefix` and `keys` from `kv`, and
/// the dependencies (one prefix per entry of `keys`).
pub(crate) fn build_store(
    kv: &KvSnapshot,
    prefix: &str,
    keys: &[String],
) -> (MemKv, BTreeSet<Dependency>) {
    let mut pairs: Vec<KvPair> = Vec::new();
    let mut used = BTreeSet::new();
    for k in keys {
        let Ok(fetch) = Key::new(path_join(&[prefix, k])) else {
            continue;
        };
        for pair in kv.under(&fetch) {
            pairs.push(KvPair {
                key: Arc::from(relative(pair.key.as_str(), prefix).as_ref()),
                value: pair.value.clone(),
            });
        }
        used.insert(Dependency::Prefix(fetch));
    }
    if !pairs.windows(2).all(|w| w[0].key < w[1].key) {
        // Several `keys` entries, or keys renamed by path.Clean: sort, and let the last
        // write of a key win as it does in confd's map.
        pairs.sort_by(|a, b| a.key.cmp(&b.key));
        let mut deduped: Vec<KvPair> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match deduped.last_mut() {
                Some(last) if last.key == p.key => *last = p,
                _ => deduped.push(p),
            }
        }
        pairs = deduped;
    }
    (MemKv { pairs }, used)
}

impl MemKv {
    fn get(&self, key: &str) -> Result<&KvPair, FuncError> {
        self.pairs
            .binary_search_by(|p| p.key.as_ref().cmp(key))
            .map(|i| &self.pairs[i])
            .map_err(|_| FuncError::with_key(format!("key does not exist: {key}"), key))
    }

    fn matching(&self, pattern: &str) -> Result<Vec<&KvPair>, FuncError> {
        let mut out = Vec::new();
        for p in &self.pairs {
            if path_match(pattern, &p.key).map_err(FuncError::new)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|p| p.key.as_ref())
    }

    fn list(&self, file_path: &str) -> Vec<String> {
        let prefix = terms(file_path);
        let mut names = BTreeSet::new();
        for k in self.keys() {
            if k == file_path {
                names.insert(path_base(k));
                continue;
            }
            if same_prefix_terms(&prefix, dir_of(k)) {
                let stripped = k.strip_prefix(file_path).unwrap_or(k);
                let stripped = stripped.strip_prefix('/').unwrap_or(stripped);
                names.insert(stripped.split('/').next().unwrap_or("").to_owned());
            }
        }
        names.into_iter().collect()
    }

    fn list_dir(&self, file_path: &str) -> Vec<String> {
        let prefix = terms(file_path);
        let mut names = BTreeSet::new();
        for k in self.keys() {
            if !k.starts_with(file_path) {
                continue;
            }
            let dir = dir_of(k);
            if same_prefix_terms(&prefix, dir) {
                if let Some(next) = dir.split('/').nth(prefix.len()) {
                    names.insert(next.to_owned());
                }
            }
        }
        names.into_iter().collect()
    }
}

fn terms(p: &str) -> Vec<String> {
    path_clean(p).split('/').map(str::to_owned).collect()
}

/// `path.Dir` of a store key (store keys are already clean, so no re-cleaning is needed).
fn dir_of(k: &str) -> &str {
    match k.rfind('/') {
        Some(0) => "/",
        Some(i) => &k[..i],
        None => ".",
    }
}

/// memkv's `samePrefixTerms(prefix, pathToTerms(dir))` without allocating.
fn same_prefix_terms(prefix: &[String], dir: &str) -> bool {
    let mut segs = dir.split('/');
    prefix.iter().all(|p| segs.next() == Some(p.as_str()))
}

fn pair_list(pairs: Vec<&KvPair>) -> Value {
    let items = pairs.into_iter().map(|p| go_object(p.clone())).collect();
    go_list(ListKind::Other(KVPAIRS_NAMED.to_owned()), items)
}

fn store<'a>(ctx: &'a CallCtx<'_>) -> Result<&'a MemKv, FuncError> {
    ctx.state::<super::ConfdState>()
        .map(|s| &s.store)
        .ok_or_else(|| FuncError::new("confd store functions need a confd render"))
}

/// Registers `get gets getv getvs ls lsdir exists`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("get", Arity::exact(1), |ctx, args| -> FuncResult {
        let p = store(ctx)?.get(arg_str(args, 0)?)?;
        Ok(go_object(p.clone()))
    });
    funcs.insert("gets", Arity::exact(1), |ctx, args| {
        Ok(pair_list(store(ctx)?.matching(arg_str(args, 0)?)?))
    });
    funcs.insert("getv", Arity::at_least(1), |ctx, args| {
        let key = arg_str(args, 0)?;
        match store(ctx)?.get(key) {
            Ok(p) => Ok(Value::from(p.value().as_ref())),
            Err(e) => match args.get(1) {
                Some(_) => Ok(Value::from(arg_str(args, 1)?)),
                None => Err(e),
            },
        }
    });
    funcs.insert("getvs", Arity::exact(1), |ctx, args| {
        let mut values: Vec<String> = store(ctx)?
            .matching(arg_str(args, 0)?)?
            .into_iter()
            .map(|p| p.value().into_owned())
            .collect();
        values.sort();
        Ok(string_list(values))
    });
    funcs.insert("ls", Arity::exact(1), |ctx, args| {
        Ok(string_list(store(ctx)?.list(arg_str(args, 0)?)))
    });
    funcs.insert("lsdir", Arity::exact(1), |ctx, args| {
        Ok(string_list(store(ctx)?.list_dir(arg_str(args, 0)?)))
    });
    funcs.insert("exists", Arity::exact(1), |ctx, args| {
        Ok(Value::from(store(ctx)?.get(arg_str(args, 0)?).is_ok()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use discovery_core::{KvPair as CoreKvPair, Revision};

    fn snapshot(pairs: &[(&str, &str)]) -> KvSnapshot {
        let mut s = KvSnapshot::default();
        for (k, v) in pairs {
            let key = Key::new(*k).unwrap();
            s.pairs.insert(
                key.clone(),
                CoreKvPair {
                    key,
                    value: v.to_string().into(),
                    mod_revision: Revision(1),
                },
            );
        }
        s
    }

    #[test]
    fn ls_and_lsdir_quirks() {
        let kv = snapshot(&[("/app", "root"), ("/app/name", "x"), ("/app/db/host", "h")]);
        let (store, used) = build_store(&kv, "/", &["/app".to_owned()]);
        assert_eq!(used.len(), 1);
        assert_eq!(store.list("/app"), ["app", "db", "name"]);
        assert_eq!(store.list("/app/"), ["db", "name"]);
        assert_eq!(store.list("/app/name"), ["name"]);
        assert_eq!(store.list("/"), ["app"]);
        assert_eq!(store.list_dir("/app"), ["db"]);
        assert!(store.list_dir("/").is_empty());
    }

    #[test]
    fn prefix_is_stripped_and_key_equal_to_prefix_is_root() {
        let kv = snapshot(&[("/cfg", "self"), ("/cfg/a", "1"), ("/cfgx/b", "2")]);
        let (store, _) = build_store(&kv, "/cfg", &["/".to_owned()]);
        assert_eq!(store.get("/").unwrap().value(), "self");
        assert_eq!(store.get("/a").unwrap().value(), "1");
        assert_eq!(store.list("/"), ["/", "a"]);
    }

    #[test]
    fn relative_keys_follow_path_join() {
        assert_eq!(relative("/test/a", "/"), "/test/a");
        assert_eq!(relative("/cfg/a", "/cfg"), "/a");
        assert_eq!(relative("/cfg", "/cfg"), "/");
        assert_eq!(relative("/cfg/a/", "/cfg"), "/a");
        assert_eq!(relative("/cfg//a/./b", "/cfg"), "/a/b");
        assert_eq!(relative("/shop/x", "/shop/"), "/x");
    }
}
