//! The namespace: how our [`Key`]s map to etcd keys and back.

use bytes::Bytes;
use discovery_core::{prefix_contains, Key, KvPair, Revision};
use etcd_client::KeyValue;

/// A raw key prefix applied to every key (empty for none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Namespace(String);

impl Namespace {
    /// `ns` without a trailing `/`.
    pub(crate) fn new(ns: String) -> Self {
        Namespace(ns)
    }

    /// The etcd key of `key`.
    pub(crate) fn encode(&self, key: &Key) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.0.len() + key.as_str().len());
        v.extend_from_slice(self.0.as_bytes());
        v.extend_from_slice(key.as_str().as_bytes());
        v
    }

    /// The etcd key prefix covering `prefix` (a byte prefix; callers filter by segment).
    pub(crate) fn range_prefix(&self, prefix: &Key) -> Vec<u8> {
        self.encode(prefix)
    }

    /// Our key for an etcd key, when it is inside the namespace and valid.
    pub(crate) fn decode(&self, raw: &[u8]) -> Option<Key> {
        let rest = raw.strip_prefix(self.0.as_bytes())?;
        let s = std::str::from_utf8(rest).ok()?;
        if !s.starts_with('/') {
            return None;
        }
        Key::new(s).ok()
    }

    /// Our key for etcd key `raw`, when it is inside the namespace and contained in `prefix`.
    pub(crate) fn key_under(&self, raw: &[u8], prefix: &Key) -> Option<Key> {
        let key = self.decode(raw)?;
        prefix_contains(prefix.as_str(), key.as_str()).then_some(key)
    }

    /// `kv` as a pair, when its key is inside the namespace and contained in `prefix`.
    pub(crate) fn pair_under(&self, kv: &KeyValue, prefix: &Key) -> Option<KvPair> {
        let key = self.key_under(kv.key(), prefix)?;
        Some(KvPair {
            key,
            value: Bytes::copy_from_slice(kv.value()),
            mod_revision: revision(kv.mod_revision()),
        })
    }
}

/// An etcd revision (never negative in practice) as ours.
pub(crate) fn revision(r: i64) -> Revision {
    Revision(u64::try_from(r).unwrap_or(0))
}

/// Our revision as etcd's (saturating).
pub(crate) fn etcd_revision(r: Revision) -> i64 {
    i64::try_from(r.0).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_round_trip_and_boundaries() {
        let ns = Namespace::new("/prod".into());
        let k = Key::new("/test/a").unwrap();
        assert_eq!(ns.encode(&k), b"/prod/test/a".to_vec());
        assert_eq!(ns.decode(b"/prod/test/a"), Some(k));
        assert_eq!(ns.decode(b"/production/x"), None);
        assert_eq!(ns.decode(b"/other/x"), None);
        let none = Namespace::default();
        assert_eq!(none.decode(b"/x").unwrap().as_str(), "/x");
        assert_eq!(none.decode(b"x"), None);
    }
}
