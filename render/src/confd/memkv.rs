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

/// One key of the store: its prefix-relative name (a range of [`MemKv::names`]) and its value
/// (a range of [`MemKv::values`]).
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    end: u32,
    value_start: u32,
    value_end: u32,
}

/// The keys one template resource sees, sorted by prefix-relative key.
///
/// Laid out to cost one copy of each name and value and no allocation per key: names live in one
/// string, values in one byte array, 16-byte entries point into both, and a [`KvPair`] object
/// (with its own `Arc<str>` key) is only made when a template asks for pairs. Watch mode keeps one per resource and brings it up
/// to date with [`MemKv::update`] (a binary search per changed key) instead of rebuilding it
/// from the snapshot for every render.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemKv {
    names: String,
    values: Vec<u8>,
    entries: Vec<Entry>,
    /// Bytes of `names` and `values` no entry points to any more (removed keys, replaced
    /// values), reclaimed by compaction.
    garbage: usize,
    /// Every key was stored under its canonical name ([`canonical_name`]): names and keys
    /// correspond one to one, so a changed key can be applied on its own.
    canonical: bool,
}

/// True when `p` (starting with `/`) is already what Go's `path.Clean` returns.
fn is_clean(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    let b = p.as_bytes();
    if b.last() == Some(&b'/') {
        return false;
    }
    // A segment that is empty, `.` or `..` makes the path unclean.
    b.iter().enumerate().all(|(i, &c)| {
        c != b'/' || {
            let rest = &b[i + 1..];
            !(rest.first() == Some(&b'/')
                || rest == b"."
                || rest.starts_with(b"./")
                || rest == b".."
                || rest.starts_with(b"../"))
        }
    })
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

/// `prefix` and `keys` of a resource as the fetches confd makes (`path.Join(prefix, key)`).
pub(crate) fn fetches(prefix: &str, keys: &[String]) -> Vec<Key> {
    keys.iter()
        .filter_map(|k| Key::new(path_join(&[prefix, k])).ok())
        .collect()
}

/// The name of `raw` when it is canonical: `prefix` (without a trailing `/`) followed by a clean
/// name, or the prefix itself (name `/`). Such names map back to exactly one key, so a change to
/// one key touches one entry. Others (`/app//x`, several keys cleaned to one name) need the
/// whole build, which lets the last write of a name win as confd's map does.
fn canonical_name<'a>(raw: &'a str, prefix: &str) -> Option<&'a str> {
    let name = match relative(raw, prefix) {
        Cow::Borrowed(n) => n,
        Cow::Owned(_) => return None,
    };
    let base = prefix.strip_suffix('/').unwrap_or(prefix);
    let exact = if name == "/" {
        raw == base || (base.is_empty() && raw == "/")
    } else {
        raw.strip_prefix(base) == Some(name)
    };
    exact.then_some(name)
}

/// Builds the store confd would fill for a resource with `prefix` and `fetches` from `kv`, and
/// the dependencies (one prefix per fetch).
pub(crate) fn build_store(
    kv: &KvSnapshot,
    prefix: &str,
    fetches: &[Key],
) -> (MemKv, BTreeSet<Dependency>) {
    // Sized exactly up front: growing by doubling would hold up to twice the entries (and a
    // copy while growing) at 100,000 keys.
    let (count, name_bytes, value_bytes) = fetches
        .iter()
        .flat_map(|f| kv.under(f))
        .fold((0, 0, 0), |(n, k, v), p| {
            (n + 1, k + p.key.as_str().len(), v + p.value.len())
        });
    let mut store = MemKv {
        names: String::with_capacity(name_bytes),
        values: Vec::with_capacity(value_bytes),
        entries: Vec::with_capacity(count),
        garbage: 0,
        canonical: true,
    };
    let mut used = BTreeSet::new();
    for fetch in fetches {
        for pair in kv.under(fetch) {
            let raw = pair.key.as_str();
            let name = match canonical_name(raw, prefix) {
                Some(n) => Cow::Borrowed(n),
                None => {
                    store.canonical = false;
                    relative(raw, prefix)
                }
            };
            let entry = store.append(&name, &pair.value);
            store.entries.push(entry);
        }
        used.insert(Dependency::Prefix(fetch.clone()));
    }
    let sorted = store
        .entries
        .windows(2)
        .all(|w| store.name(&w[0]) < store.name(&w[1]));
    if !sorted {
        // Several fetches, or keys renamed by path.Clean: sort, and let the last write of a
        // key win as it does in confd's map.
        let MemKv {
            names,
            values,
            mut entries,
            canonical,
            ..
        } = store;
        let name = |e: &Entry| &names[e.start as usize..e.end as usize];
        entries.sort_by(|a, b| name(a).cmp(name(b)));
        let mut deduped: Vec<Entry> = Vec::with_capacity(entries.len());
        let mut garbage = 0;
        for e in entries {
            match deduped.last_mut() {
                Some(last) if name(last) == name(&e) => {
                    garbage += last.len();
                    *last = e;
                }
                _ => deduped.push(e),
            }
        }
        store = MemKv {
            names,
            values,
            entries: deduped,
            garbage,
            canonical,
        };
    }
    (store, used)
}

/// An offset into the names or values; stores past 4 GiB of names or values are not a use case
/// (etcd's own database is limited to 8 GiB, 2 GiB by default).
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a `gets`/`getvs` pattern needs from a key, decided once per call.
enum Pattern<'a> {
    /// No metacharacter: the key must equal it.
    Literal(&'a str),
    /// A literal followed by one final `*`: keys starting with the literal, with no `/` after it.
    PrefixStar(&'a str),
    /// Anything else: Go's `path.Match` on every key.
    General(&'a str),
}

impl<'a> Pattern<'a> {
    fn new(pattern: &'a str) -> Self {
        let meta = |c: char| matches!(c, '*' | '?' | '[' | '\\');
        match pattern.find(meta) {
            None => Pattern::Literal(pattern),
            Some(i) if i == pattern.len() - 1 && pattern.ends_with('*') => {
                Pattern::PrefixStar(&pattern[..i])
            }
            Some(_) => Pattern::General(pattern),
        }
    }
}

impl Entry {
    fn value_len(&self) -> usize {
        (self.value_end - self.value_start) as usize
    }

    /// The bytes of names and values the entry holds.
    fn len(&self) -> usize {
        (self.end - self.start) as usize + self.value_len()
    }
}

impl MemKv {
    fn name(&self, e: &Entry) -> &str {
        &self.names[e.start as usize..e.end as usize]
    }

    /// Brings the store up to date with `kv` after `changed` keys changed there (by a put or a
    /// delete). `false` when it cannot (a non-canonical key): the caller rebuilds it.
    pub(crate) fn update(
        &mut self,
        kv: &KvSnapshot,
        prefix: &str,
        fetches: &[Key],
        changed: &[Key],
    ) -> bool {
        for key in changed {
            if !fetches.iter().any(|f| f.contains(key)) {
                continue;
            }
            if !self.canonical {
                return false;
            }
            let Some(name) = canonical_name(key.as_str(), prefix) else {
                return false;
            };
            match kv.pairs.get(key) {
                Some(pair) => self.upsert(name, &pair.value),
                None => self.remove(name),
            }
        }
        self.compact_if_wasteful();
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| self.name(e).cmp(name))
    }

    /// Copies `name` and `value` to the end of the names and values; the entry for them.
    fn append(&mut self, name: &str, value: &[u8]) -> Entry {
        let start = self.names.len();
        self.names.push_str(name);
        let (value_start, value_end) = self.push_value(value);
        Entry {
            start: offset(start),
            end: offset(self.names.len()),
            value_start,
            value_end,
        }
    }

    /// Copies `value` to the end of the values; its range there.
    fn push_value(&mut self, value: &[u8]) -> (u32, u32) {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        (offset(start), offset(self.values.len()))
    }

    fn upsert(&mut self, name: &str, value: &[u8]) {
        match self.position(name) {
            Ok(i) => {
                let old = self.entries[i];
                if self.raw_value(&old) == value {
                    return;
                }
                let (value_start, value_end) = self.push_value(value);
                let e = &mut self.entries[i];
                (e.value_start, e.value_end) = (value_start, value_end);
                self.garbage += old.value_len();
            }
            Err(i) => {
                let entry = self.append(name, value);
                self.entries.insert(i, entry);
            }
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            let e = self.entries.remove(i);
            self.garbage += e.len();
        }
    }

    /// Rewrites names and values without the unused ones once they are most of the bytes.
    fn compact_if_wasteful(&mut self) {
        let total = self.names.len() + self.values.len();
        if self.garbage < 4096 || self.garbage * 2 < total {
            return;
        }
        let old = std::mem::take(self);
        let mut fresh = MemKv {
            names: String::with_capacity(old.names.len()),
            values: Vec::with_capacity(old.values.len()),
            entries: Vec::with_capacity(old.entries.len()),
            garbage: 0,
            canonical: old.canonical,
        };
        for e in &old.entries {
            let entry = fresh.append(old.name(e), old.raw_value(e));
            fresh.entries.push(entry);
        }
        *self = fresh;
    }

    fn raw_value(&self, e: &Entry) -> &[u8] {
        &self.values[e.value_start as usize..e.value_end as usize]
    }

    fn value<'s>(&'s self, e: &'s Entry) -> Cow<'s, str> {
        // The plain check is several times faster than the lossy decoder on valid text.
        let raw = self.raw_value(e);
        match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(raw),
        }
    }

    fn pair(&self, e: &Entry) -> KvPair {
        KvPair {
            key: Arc::from(self.name(e)),
            value: Bytes::copy_from_slice(self.raw_value(e)),
        }
    }

    fn find(&self, key: &str) -> Result<&Entry, FuncError> {
        self.entries
            .binary_search_by(|e| self.name(e).cmp(key))
            .map(|i| &self.entries[i])
            .map_err(|_| FuncError::with_key(format!("key does not exist: {key}"), key))
    }

    /// The entries whose names start with `prefix` (a contiguous run, the store being sorted).
    fn starting_with(&self, prefix: &str) -> &[Entry] {
        let from = self.entries.partition_point(|e| self.name(e) < prefix);
        let len = self.entries[from..]
            .iter()
            .take_while(|e| self.name(e).starts_with(prefix))
            .count();
        &self.entries[from..from + len]
    }

    /// The entries matching `pattern` as confd's `GetAll` does (Go's `path.Match`), in key order.
    fn matching(&self, pattern: &str) -> Result<Vec<&Entry>, FuncError> {
        Ok(match Pattern::new(pattern) {
            Pattern::Literal(l) => self.find(l).ok().into_iter().collect(),
            Pattern::PrefixStar(l) => self
                .starting_with(l)
                .iter()
                .filter(|e| !self.name(e)[l.len()..].contains('/'))
                .collect(),
            Pattern::General(p) => {
                let mut out = Vec::new();
                for e in &self.entries {
                    if path_match(p, self.name(e)).map_err(FuncError::new)? {
                        out.push(e);
                    }
                }
                out
            }
        })
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| self.name(e))
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

/// The first 16 bytes of `s` as a big-endian integer (zero-padded): ordering by it, then by the
/// whole string, is the byte order of the strings.
fn sort_prefix(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

fn pair_list(store: &MemKv, entries: Vec<&Entry>) -> Value {
    let items = entries
        .into_iter()
        .map(|e| go_object(store.pair(e)))
        .collect();
    go_list(ListKind::Other(KVPAIRS_NAMED.to_owned()), items)
}

fn store<'a>(ctx: &'a CallCtx<'_>) -> Result<&'a MemKv, FuncError> {
    ctx.state::<super::ConfdState>()
        .map(|s| s.store.as_ref())
        .ok_or_else(|| FuncError::new("confd store functions need a confd render"))
}

/// Registers `get gets getv getvs ls lsdir exists`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("get", Arity::exact(1), |ctx, args| -> FuncResult {
        let store = store(ctx)?;
        let e = store.find(arg_str(args, 0)?)?;
        Ok(go_object(store.pair(e)))
    });
    funcs.insert("gets", Arity::exact(1), |ctx, args| {
        let store = store(ctx)?;
        Ok(pair_list(store, store.matching(arg_str(args, 0)?)?))
    });
    funcs.insert("getv", Arity::at_least(1), |ctx, args| {
        let key = arg_str(args, 0)?;
        let store = store(ctx)?;
        match store.find(key) {
            Ok(e) => Ok(Value::from(store.value(e).as_ref())),
            Err(e) => match args.get(1) {
                Some(_) => Ok(Value::from(arg_str(args, 1)?)),
                None => Err(e),
            },
        }
    });
    funcs.insert("getvs", Arity::exact(1), |ctx, args| {
        let store = store(ctx)?;
        let mut values: Vec<(u128, Cow<'_, str>)> = store
            .matching(arg_str(args, 0)?)?
            .into_iter()
            .map(|e| {
                let v = store.value(e);
                (sort_prefix(&v), v)
            })
            .collect();
        // Go's sort.Strings order. Comparing the first 16 bytes as one integer settles most
        // comparisons without a memcmp. Equal elements are the same string, so an unstable
        // sort gives the same list, without the stable sort's scratch buffer.
        values.sort_unstable();
        let items = values
            .iter()
            .map(|(_, v)| Value::from(v.as_ref()))
            .collect();
        Ok(go_list(ListKind::String, items))
    });
    funcs.insert("ls", Arity::exact(1), |ctx, args| {
        Ok(string_list(store(ctx)?.list(arg_str(args, 0)?)))
    });
    funcs.insert("lsdir", Arity::exact(1), |ctx, args| {
        Ok(string_list(store(ctx)?.list_dir(arg_str(args, 0)?)))
    });
    funcs.insert("exists", Arity::exact(1), |ctx, args| {
        Ok(Value::from(store(ctx)?.find(arg_str(args, 0)?).is_ok()))
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
        let (store, used) = build_store(&kv, "/", &fetches("/", &["/app".to_owned()]));
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
        let (store, _) = build_store(&kv, "/cfg", &fetches("/cfg", &["/".to_owned()]));
        assert_eq!(store.value(store.find("/").unwrap()), "self");
        assert_eq!(store.value(store.find("/a").unwrap()), "1");
        assert_eq!(store.list("/"), ["/", "a"]);
    }

    #[test]
    fn fast_patterns_select_what_path_match_selects() {
        let kv = snapshot(&[
            ("/test", "r"),
            ("/test/a", "1"),
            ("/test/a/b", "2"),
            ("/test/ab", "3"),
            ("/test/b", "4"),
            ("/test-x/a", "5"),
            ("/tes", "6"),
        ]);
        let (store, _) = build_store(&kv, "/", &fetches("/", &["/".to_owned()]));
        for pattern in [
            "/test/*",
            "/test/a",
            "/test/a*",
            "/test*",
            "/*",
            "*",
            "",
            "/test/",
            "/nope/*",
            "/test/a/*",
        ] {
            let fast: Vec<&str> = store
                .matching(pattern)
                .unwrap()
                .into_iter()
                .map(|e| store.name(e))
                .collect();
            let general: Vec<&str> = store
                .keys()
                .filter(|k| path_match(pattern, k).unwrap())
                .collect();
            assert_eq!(fast, general, "pattern {pattern:?}");
        }
    }

    #[test]
    fn sort_prefix_orders_as_the_strings() {
        let mut v = [
            "10.0.1.10:80",
            "10.0.1.9:80",
            "a",
            "a\0",
            "",
            "172.17.8.101:8002",
            "172.17.8.101:8001",
        ]
        .map(|s| (sort_prefix(s), s));
        v.sort();
        let mut plain = v.map(|(_, s)| s);
        let by_prefix = plain;
        plain.sort();
        assert_eq!(by_prefix, plain);
    }

    /// What a store holds: (name, value) in order.
    fn contents(store: &MemKv) -> Vec<(String, String)> {
        store
            .entries
            .iter()
            .map(|e| (store.name(e).to_owned(), store.value(e).into_owned()))
            .collect()
    }

    #[test]
    fn updating_per_changed_key_gives_what_a_fresh_build_gives() {
        // Keys in and out of the fetches, keys equal to the prefix, and non-canonical ones
        // (`//`, a trailing `/`) that force a rebuild.
        let canonical = [
            "/app",
            "/app/a",
            "/app/b/c",
            "/app/b",
            "/apple/x",
            "/other/y",
            "/app/db/host",
        ];
        let mut mixed = canonical.to_vec();
        mixed.extend(["/app//a", "/app/z/"]);
        let cases = [
            ("/", vec!["/app".to_owned()]),
            ("/app", vec!["/".to_owned()]),
            ("/app/", vec!["/b".to_owned(), "/db".to_owned()]),
            ("/", vec!["/app".to_owned(), "/app/b".to_owned()]),
        ];
        let mut incremental = 0;
        for (raw, (prefix, keys)) in cases
            .iter()
            .map(|c| (&canonical[..], c))
            .chain(cases.iter().map(|c| (&mixed[..], c)))
        {
            let (prefix, keys) = (*prefix, keys.clone());
            let fetches = fetches(prefix, &keys);
            let mut kv = KvSnapshot::default();
            let (mut store, _) = build_store(&kv, prefix, &fetches);
            let mut seed = 0x2545_f491_4f6c_dd1d_u64;
            for step in 0..400 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let key = Key::new(raw[(seed % raw.len() as u64) as usize]).unwrap();
                if seed % 3 == 0 {
                    kv.pairs.remove(&key);
                } else {
                    let value = format!("v{step}");
                    kv.pairs.insert(
                        key.clone(),
                        CoreKvPair {
                            key: key.clone(),
                            value: value.into(),
                            mod_revision: Revision(step),
                        },
                    );
                }
                if store.update(&kv, prefix, &fetches, std::slice::from_ref(&key)) {
                    incremental += 1;
                } else {
                    store = build_store(&kv, prefix, &fetches).0;
                }
                let fresh = build_store(&kv, prefix, &fetches).0;
                assert_eq!(
                    contents(&store),
                    contents(&fresh),
                    "prefix {prefix:?} keys {keys:?} after step {step} ({key})"
                );
            }
        }
        // The canonical half never needs a rebuild.
        assert!(
            incremental >= 4 * 400,
            "only {incremental} updates were incremental"
        );
    }

    #[test]
    fn removed_names_are_compacted_away() {
        let fetches = fetches("/", &["/k".to_owned()]);
        let mut kv = KvSnapshot::default();
        let (mut store, _) = build_store(&kv, "/", &fetches);
        for i in 0..2000 {
            let key = Key::new(format!("/k/{i:08}")).unwrap();
            kv.pairs.insert(
                key.clone(),
                CoreKvPair {
                    key: key.clone(),
                    value: "x".into(),
                    mod_revision: Revision(1),
                },
            );
            assert!(store.update(&kv, "/", &fetches, std::slice::from_ref(&key)));
            kv.pairs.remove(&key);
            assert!(store.update(&kv, "/", &fetches, &[key]));
        }
        assert!(store.entries.is_empty());
        assert!(
            store.names.len() < 8192,
            "names kept {} bytes",
            store.names.len()
        );
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
