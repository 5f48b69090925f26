//! The data a de-duplication leader rendered a template from, as it stores it for the
//! followers: compact JSON of the dependencies the render read and their values. (Upstream
//! stores gob, LZW-compressed, which only Go reads: the two formats are not shared.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use discovery_core::{
    ApiRead, Dependency, Key, KvPair, KvSnapshot, RenderData, Revision, ServiceInstance,
    ServiceName, Snapshot,
};
use serde::{Deserialize, Serialize};

/// What marks our encoding (and its version) in the stored JSON.
const FORMAT: &str = "discovery-dedup/1";

/// The data of one template's dependencies, as a leader rendered it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shared {
    /// The values.
    pub(crate) data: RenderData,
    /// The dependencies the leader had data for (a follower waits for any other).
    pub(crate) deps: BTreeSet<Dependency>,
}

/// A follower renders from the shared data: nothing to subscribe to, and only what the leader
/// had counts as arrived.
impl super::store::Source for Shared {
    fn data(&self) -> &RenderData {
        &self.data
    }
    fn ensure(&mut self, _deps: &BTreeSet<Dependency>) {}
    fn watch_of(&self, _dep: &Dependency) -> Option<super::store::Watch> {
        None
    }
    fn arrived(&self, dep: &Dependency) -> bool {
        self.covers(dep)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireDep {
    Key(String),
    Prefix(String),
    Service(String),
    Catalog,
    Datacenters(bool),
    Api(WireApi),
}

#[derive(Serialize, Deserialize)]
struct WireApi {
    path: String,
    query: Vec<(String, String)>,
    blocking: bool,
}

#[derive(Serialize, Deserialize)]
struct WirePair {
    key: String,
    /// The value when it is UTF-8 ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// ... else its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes: Option<Vec<u8>>,
    index: u64,
}

#[derive(Serialize, Deserialize)]
struct WireService {
    index: u64,
    instances: Vec<ServiceInstance>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: String,
    deps: Vec<WireDep>,
    #[serde(default)]
    kv: Vec<WirePair>,
    #[serde(default)]
    services: BTreeMap<String, WireService>,
    #[serde(default)]
    catalog: Option<BTreeMap<String, BTreeSet<String>>>,
    #[serde(default)]
    datacenters: Vec<(bool, Vec<String>)>,
    #[serde(default)]
    api: Vec<(WireApi, serde_json::Value)>,
}

fn wire_api(read: &ApiRead) -> WireApi {
    WireApi {
        path: read.path.clone(),
        query: read.query.clone(),
        blocking: read.blocking,
    }
}

fn api_read(w: WireApi) -> ApiRead {
    let mut read = ApiRead::new(w.path);
    read.query = w.query;
    read.blocking = w.blocking;
    read
}

fn key(s: &str) -> Result<Key, String> {
    Key::new(s).map_err(|e| e.to_string())
}

fn service(s: &str) -> Result<ServiceName, String> {
    ServiceName::new(s).map_err(|e| e.to_string())
}

impl Shared {
    /// The part of `data` that `deps` read.
    pub(crate) fn capture(data: &RenderData, deps: &BTreeSet<Dependency>) -> Shared {
        let mut out = RenderData::default();
        let mut kv = KvSnapshot::default();
        for dep in deps {
            match dep {
                Dependency::Key(k) => {
                    if let Some(p) = data.kv.pairs.get(k) {
                        kv.pairs.insert(k.clone(), p.clone());
                    }
                }
                Dependency::Prefix(p) => {
                    let start = p.as_str();
                    let under = data.kv.pairs.range(p.clone()..);
                    for (k, pair) in under.take_while(|(k, _)| k.as_str().starts_with(start)) {
                        kv.pairs.insert(k.clone(), pair.clone());
                    }
                }
                Dependency::Service(s) => {
                    if let Some(snap) = data.services.get(s) {
                        out.services.insert(s.clone(), snap.clone());
                    }
                }
                Dependency::Catalog => out.catalog = data.catalog.clone(),
                Dependency::Datacenters { ignore_failing } => {
                    if let Some(list) = data.datacenters.get(ignore_failing) {
                        out.datacenters.insert(*ignore_failing, list.clone());
                    }
                }
                Dependency::Api(read) => {
                    if let Some(body) = data.api.get(read) {
                        out.api.insert(read.clone(), body.clone());
                    }
                }
                _ => {}
            }
        }
        kv.revision = kv
            .pairs
            .values()
            .map(|p| p.mod_revision)
            .max()
            .unwrap_or_default();
        out.kv = Arc::new(kv);
        Shared {
            data: out,
            deps: deps.clone(),
        }
    }

    /// Whether the leader had data for `dep`.
    pub(crate) fn covers(&self, dep: &Dependency) -> bool {
        self.deps.contains(dep)
    }

    /// The stored form: compact JSON.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let deps = self
            .deps
            .iter()
            .filter_map(|d| {
                Some(match d {
                    Dependency::Key(k) => WireDep::Key(k.as_str().to_owned()),
                    Dependency::Prefix(k) => WireDep::Prefix(k.as_str().to_owned()),
                    Dependency::Service(s) => WireDep::Service(s.as_str().to_owned()),
                    Dependency::Catalog => WireDep::Catalog,
                    Dependency::Datacenters { ignore_failing } => {
                        WireDep::Datacenters(*ignore_failing)
                    }
                    Dependency::Api(read) => WireDep::Api(wire_api(read)),
                    _ => return None,
                })
            })
            .collect();
        let kv = self
            .data
            .kv
            .pairs
            .values()
            .map(|p| {
                let text = p.value_str().map(str::to_owned);
                WirePair {
                    key: p.key.as_str().to_owned(),
                    bytes: text.is_none().then(|| p.value.to_vec()),
                    value: text,
                    index: p.mod_revision.0,
                }
            })
            .collect();
        let services = self
            .data
            .services
            .iter()
            .map(|(name, snap)| {
                let w = WireService {
                    index: snap.revision.0,
                    instances: snap.instances.values().cloned().collect(),
                };
                (name.as_str().to_owned(), w)
            })
            .collect();
        let catalog = self.data.catalog.as_ref().map(|c| {
            c.iter()
                .map(|(n, tags)| (n.as_str().to_owned(), tags.clone()))
                .collect()
        });
        let wire = Wire {
            format: FORMAT.to_owned(),
            deps,
            kv,
            services,
            catalog,
            datacenters: self
                .data
                .datacenters
                .iter()
                .map(|(b, l)| (*b, l.as_ref().clone()))
                .collect(),
            api: self
                .data
                .api
                .iter()
                .map(|(r, v)| (wire_api(r), v.as_ref().clone()))
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads what [`encode`](Self::encode) stored; anything else (upstream's gob, another
    /// version of ours) is an error saying what it is.
    pub(crate) fn decode(raw: &[u8]) -> Result<Shared, String> {
        let wire: Wire = serde_json::from_slice(raw).map_err(|e| {
            format!("not this consul-template's data (upstream's gob cannot be read): {e}")
        })?;
        if wire.format != FORMAT {
            return Err(format!(
                "data format {:?}, this consul-template reads {FORMAT:?}",
                wire.format
            ));
        }
        let mut deps = BTreeSet::new();
        for d in wire.deps {
            deps.insert(match d {
                WireDep::Key(k) => Dependency::Key(key(&k)?),
                WireDep::Prefix(k) => Dependency::Prefix(key(&k)?),
                WireDep::Service(s) => Dependency::Service(service(&s)?),
                WireDep::Catalog => Dependency::Catalog,
                WireDep::Datacenters(ignore_failing) => Dependency::Datacenters { ignore_failing },
                WireDep::Api(a) => Dependency::Api(api_read(a)),
            });
        }
        let mut data = RenderData::default();
        let mut kv = KvSnapshot::default();
        for p in wire.kv {
            let k = key(&p.key)?;
            let value = match (p.value, p.bytes) {
                (Some(v), _) => Bytes::from(v),
                (None, Some(b)) => Bytes::from(b),
                (None, None) => Bytes::new(),
            };
            kv.revision = kv.revision.max(Revision(p.index));
            let pair = KvPair {
                key: k.clone(),
                value,
                mod_revision: Revision(p.index),
            };
            kv.pairs.insert(k, pair);
        }
        data.kv = Arc::new(kv);
        for (name, w) in wire.services {
            let snap = Snapshot {
                revision: Revision(w.index),
                instances: w.instances.into_iter().map(|i| (i.id.clone(), i)).collect(),
            };
            data.services.insert(service(&name)?, Arc::new(snap));
        }
        if let Some(c) = wire.catalog {
            let mut names = BTreeMap::new();
            for (n, tags) in c {
                names.insert(service(&n)?, tags);
            }
            data.catalog = Some(Arc::new(names));
        }
        for (b, list) in wire.datacenters {
            data.datacenters.insert(b, Arc::new(list));
        }
        for (r, v) in wire.api {
            data.api.insert(api_read(r), Arc::new(v));
        }
        Ok(Shared { data, deps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    fn pair(key: &str, value: &[u8], index: u64) -> KvPair {
        KvPair {
            key: k(key),
            value: Bytes::copy_from_slice(value),
            mod_revision: Revision(index),
        }
    }

    #[test]
    fn captures_only_what_was_read_and_round_trips() {
        let mut kv = KvSnapshot::default();
        for p in [
            pair("/app/a", b"1", 5),
            pair("/app/b", &[0xff, 0x00], 6),
            pair("/apple", b"x", 7),
            pair("/other", b"secret", 8),
        ] {
            kv.pairs.insert(p.key.clone(), p);
        }
        let web: ServiceName = "web".parse().unwrap();
        let inst = ServiceInstance::new(web.clone(), "w1".parse().unwrap(), "10.0.0.1", Some(80))
            .with_tag("prod");
        let mut snap = Snapshot::default();
        snap.instances.insert(inst.id.clone(), inst);
        let mut data = RenderData::default();
        data.kv = Arc::new(kv);
        data.services.insert(web.clone(), Arc::new(snap));
        data.datacenters.insert(false, Arc::new(vec!["dc1".into()]));
        let read = ApiRead::new("catalog/nodes").with("dc", "dc1");
        data.api
            .insert(read.clone(), Arc::new(serde_json::json!([{"Node": "n1"}])));
        let deps: BTreeSet<Dependency> = [
            Dependency::Prefix(k("/app")),
            Dependency::Key(k("/missing")),
            Dependency::Service(web.clone()),
            Dependency::Datacenters {
                ignore_failing: false,
            },
            Dependency::Api(read.clone()),
        ]
        .into_iter()
        .collect();
        let shared = Shared::capture(&data, &deps);
        // `ls "app"` reads `apple` too (a raw prefix); `/other` was not read.
        let keys: Vec<&str> = shared.data.kv.pairs.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["/app/a", "/app/b", "/apple"]);
        let back = Shared::decode(&shared.encode()).unwrap();
        assert_eq!(back.deps, deps);
        assert_eq!(back.data.kv, shared.data.kv);
        assert_eq!(back.data.services, shared.data.services);
        assert_eq!(back.data.datacenters, shared.data.datacenters);
        assert_eq!(back.data.api, shared.data.api);
        assert!(back.covers(&Dependency::Key(k("/missing"))));
        assert!(!back.covers(&Dependency::Catalog));
    }

    #[test]
    fn foreign_data_is_an_error_saying_so() {
        let e = Shared::decode(b"__NO_DATA__").unwrap_err();
        assert!(e.contains("upstream's gob"), "{e}");
        let e = Shared::decode(br#"{"format":"discovery-dedup/9","deps":[]}"#).unwrap_err();
        assert!(e.contains("discovery-dedup/9"), "{e}");
    }
}
