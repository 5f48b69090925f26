//! [`SnapshotBuilder`]: a [`KvSnapshot`] built from Range pages, laid out compactly.
//!
//! A snapshot of 100,000 small keys is mostly overhead: one allocation per value (plus one more
//! per value the first time a renderer clones it, when `Bytes` promotes a `Vec` to shared) and
//! B-tree nodes about two thirds full (what in-order inserts leave). The builder copies each page's
//! values into one buffer that the page's pairs share (cloning a value is then a reference count),
//! and merges pages into the map with [`BTreeMap::append`], which rebuilds it with full nodes.

use std::collections::BTreeMap;

use bytes::Bytes;
use discovery_core::{Key, KvPair, KvSnapshot, Revision};
use etcd_client::KeyValue;

use crate::keys::{revision, Namespace};

/// Pending pairs are merged into the map once there are this many, or a quarter of the map's
/// size if that is more (so that merging, which moves every pair, costs O(n) overall).
const MIN_MERGE: usize = 8_192;

/// What the builder reads of a key-value (etcd's [`KeyValue`]; plain tuples in tests).
pub(crate) trait RawKv {
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
    fn mod_revision(&self) -> i64;
}

impl RawKv for KeyValue {
    fn key(&self) -> &[u8] {
        KeyValue::key(self)
    }
    fn value(&self) -> &[u8] {
        KeyValue::value(self)
    }
    fn mod_revision(&self) -> i64 {
        KeyValue::mod_revision(self)
    }
}

/// Collects pages of key-values into a [`KvSnapshot`].
#[derive(Debug, Default)]
pub(crate) struct SnapshotBuilder {
    pairs: BTreeMap<Key, KvPair>,
    pending: Vec<(Key, KvPair)>,
}

impl SnapshotBuilder {
    /// Adds the key-values of one page that are inside the namespace and contained in `prefix`.
    ///
    /// Their values are copied into one buffer, shared by the page's pairs: a value replaced
    /// later (by a watch) keeps the rest of its page's buffer alive while any of it is in use,
    /// which bounds what is kept by the size of the values first read.
    pub(crate) fn add_page<T: RawKv>(&mut self, ns: &Namespace, prefix: &Key, kvs: &[T]) {
        let mut keep = Vec::with_capacity(kvs.len());
        let mut size = 0;
        for kv in kvs {
            if let Some(key) = ns.key_under(kv.key(), prefix) {
                size += kv.value().len();
                keep.push((key, kv));
            }
        }
        let mut buf = Vec::with_capacity(size);
        for (_, kv) in &keep {
            buf.extend_from_slice(kv.value());
        }
        let buf = Bytes::from(buf);
        self.pending.reserve(keep.len());
        let mut at = 0;
        for (key, kv) in keep {
            let end = at + kv.value().len();
            let pair = KvPair {
                key: key.clone(),
                value: buf.slice(at..end),
                mod_revision: revision(kv.mod_revision()),
            };
            self.pending.push((key, pair));
            at = end;
        }
        if self.pending.len() >= MIN_MERGE.max(self.pairs.len() / 4) {
            self.merge();
        }
    }

    /// Moves the pending pairs into the map (a later pair for the same key wins, as with
    /// inserts; pages of one revision agree anyway).
    fn merge(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut page: BTreeMap<Key, KvPair> =
            std::mem::take(&mut self.pending).into_iter().collect();
        self.pairs.append(&mut page);
    }

    /// The snapshot, read at `revision`.
    pub(crate) fn finish(mut self, revision: Revision) -> KvSnapshot {
        self.merge();
        KvSnapshot {
            revision,
            pairs: self.pairs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RawKv for (String, Vec<u8>, i64) {
        fn key(&self) -> &[u8] {
            self.0.as_bytes()
        }
        fn value(&self) -> &[u8] {
            &self.1
        }
        fn mod_revision(&self) -> i64 {
            self.2
        }
    }

    fn kv(k: &str, v: &[u8], r: i64) -> (String, Vec<u8>, i64) {
        (k.to_owned(), v.to_vec(), r)
    }

    #[test]
    fn pages_merge_into_one_sorted_map() {
        let ns = Namespace::new("/ns".into());
        let prefix = Key::new("/app").unwrap();
        let mut b = SnapshotBuilder::default();
        let mut expected = BTreeMap::new();
        for page in 0..5 {
            let mut raw = Vec::new();
            for i in 0..5_000 {
                let n = page * 5_000 + i;
                let (k, v) = (format!("/ns/app/k{n:06}"), format!("v{n}"));
                raw.push(kv(&k, v.as_bytes(), n as i64 + 1));
                let key = Key::new(&k[3..]).unwrap();
                let pair = KvPair {
                    key: key.clone(),
                    value: Bytes::from(v),
                    mod_revision: revision(n as i64 + 1),
                };
                expected.insert(key, pair);
            }
            // Outside the prefix (segment boundary) and outside the namespace: skipped.
            raw.push(kv("/ns/application/x", b"no", 1));
            raw.push(kv("/other/app/x", b"no", 1));
            b.add_page(&ns, &prefix, &raw);
        }
        // A key read again (two overlapping prefixes) changes nothing.
        b.add_page(&ns, &prefix, &[kv("/ns/app/k000001", b"v1", 2)]);
        let snap = b.finish(Revision(42));
        assert_eq!(snap.revision, Revision(42));
        assert_eq!(snap.pairs.len(), 25_000);
        assert_eq!(snap.pairs, expected);
    }

    #[test]
    fn empty_and_binary_values() {
        let mut b = SnapshotBuilder::default();
        let raw = [
            kv("/a", b"", 3),
            kv("/b", &[0xff, 0, 1], 4),
            kv("/c", b"", 5),
        ];
        b.add_page(&Namespace::default(), &Key::root(), &raw);
        let snap = b.finish(Revision(5));
        let values: Vec<&[u8]> = snap.pairs.values().map(|p| &p.value[..]).collect();
        assert_eq!(values, vec![&b""[..], &[0xff, 0, 1][..], &b""[..]]);
        assert_eq!(
            snap.pairs[&Key::new("/b").unwrap()].mod_revision,
            Revision(4)
        );
    }

    #[test]
    fn nothing_read_is_an_empty_snapshot() {
        let snap = SnapshotBuilder::default().finish(Revision(7));
        assert_eq!(
            snap,
            KvSnapshot {
                revision: Revision(7),
                pairs: BTreeMap::new()
            }
        );
    }
}
