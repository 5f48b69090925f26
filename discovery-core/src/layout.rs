//! How instances are laid out in a key-value store: [`Layout`] and [`Codec`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Error, InstanceId, Key, Result, ServiceInstance, ServiceName};

/// How an instance's value is encoded.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Codec {
    /// The whole instance as JSON (`{"address":"10.0.0.1","port":8080,"tags":["prod"],...}`).
    #[default]
    Json,
    /// The seeds' plain layout: the value is `host:port` (`172.17.8.101:8001`), so confd templates
    /// with `getvs "/test/*"` see the instances. Tags and metadata are not stored.
    Plain,
}

/// Where instances live: `<root>/<service>/<id>`, valued with [`Codec`].
///
/// ```
/// use discovery_core::{Codec, Layout, Key};
/// // The seeds' layout: /test/apache-8001 = 172.17.8.101:8001
/// let seeds = Layout::new(Key::root(), Codec::Plain);
/// assert_eq!(seeds.service_prefix(&"test".parse()?).as_str(), "/test");
/// # Ok::<(), discovery_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Layout {
    /// The key under which every service has its directory. Default `/services`.
    pub root: Key,
    /// How values are encoded. Default [`Codec::Json`].
    pub codec: Codec,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            root: Key::new("/services").expect("valid key"),
            codec: Codec::Json,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    tags: std::collections::BTreeSet<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    meta: std::collections::BTreeMap<String, String>,
}

impl Layout {
    /// A layout with the given root and codec.
    pub fn new(root: Key, codec: Codec) -> Self {
        Layout { root, codec }
    }

    /// The directory of `service`: `<root>/<service>`.
    pub fn service_prefix(&self, service: &ServiceName) -> Key {
        self.root.join(service.as_str())
    }

    /// The key of one instance: `<root>/<service>/<id>`.
    pub fn instance_key(&self, instance: &ServiceInstance) -> Key {
        self.service_prefix(&instance.service)
            .join(instance.id.as_str())
    }

    /// Encodes `instance` as the value stored at its key.
    pub fn encode(&self, instance: &ServiceInstance) -> Bytes {
        match self.codec {
            Codec::Plain => Bytes::from(instance.endpoint()),
            Codec::Json => {
                let rec = Record {
                    address: instance.address.clone(),
                    port: instance.port,
                    tags: instance.tags.clone(),
                    meta: instance.meta.clone(),
                };
                Bytes::from(serde_json::to_vec(&rec).expect("a record always serializes"))
            }
        }
    }

    /// The instance id of `key` when it is an instance key of `service` (exactly one level below
    /// the service's directory); `None` for the directory itself or deeper keys.
    pub fn instance_id<'k>(&self, service: &ServiceName, key: &'k Key) -> Option<&'k str> {
        let rest = self.service_prefix(service).relative(key)?;
        (!rest.is_empty() && !rest.contains('/')).then_some(rest)
    }

    /// Decodes the value at `key` into an instance of `service`. Errors name the key.
    pub fn decode(
        &self,
        backend: &'static str,
        service: &ServiceName,
        key: &Key,
        value: &[u8],
    ) -> Result<ServiceInstance> {
        let bad = |reason: String| Error::invalid_data(backend, key.as_str(), reason);
        let id = self
            .instance_id(service, key)
            .ok_or_else(|| bad("not an instance key".into()))?;
        let id = InstanceId::new(id).map_err(|e| bad(e.to_string()))?;
        let text = std::str::from_utf8(value).map_err(|_| bad("value is not UTF-8".into()))?;
        match self.codec {
            Codec::Plain => {
                let (address, port) = split_host_port(text)
                    .ok_or_else(|| bad(format!("expected host:port, found {text:?}")))?;
                Ok(ServiceInstance::new(service.clone(), id, address, port))
            }
            Codec::Json => {
                let rec: Record =
                    serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
                let mut inst = ServiceInstance::new(service.clone(), id, rec.address, rec.port);
                inst.tags = rec.tags;
                inst.meta = rec.meta;
                Ok(inst)
            }
        }
    }
}

/// Splits `host:port`, `[v6]:port` or a bare host.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host.to_owned(), Some(p.parse().ok()?))),
            None if tail.is_empty() => Some((host.to_owned(), None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_owned(), Some(p.parse().ok()?))),
        Some(_) => Some((s.to_owned(), None)), // bare IPv6
        None => Some((s.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ServiceInstance {
        ServiceInstance::new(
            "web".parse().unwrap(),
            "w1".parse().unwrap(),
            "10.0.0.1",
            Some(80),
        )
        .with_tag("prod")
    }

    #[test]
    fn json_round_trip() {
        let l = Layout::default();
        let k = l.instance_key(&web());
        assert_eq!(k.as_str(), "/services/web/w1");
        let back = l
            .decode("memory", &web().service, &k, &l.encode(&web()))
            .unwrap();
        assert_eq!(back, web());
    }

    #[test]
    fn plain_layout_and_errors_name_the_key() {
        let l = Layout::new(Key::root(), Codec::Plain);
        let svc: ServiceName = "test".parse().unwrap();
        let k = Key::new("/test/apache-8001").unwrap();
        let i = l.decode("etcd", &svc, &k, b"172.17.8.101:8001").unwrap();
        assert_eq!(i.endpoint(), "172.17.8.101:8001");
        let e = l.decode("etcd", &svc, &k, b"nonsense:port").unwrap_err();
        assert!(e.to_string().contains("/test/apache-8001"), "{e}");
        assert!(l
            .instance_id(&svc, &Key::new("/test/a/b").unwrap())
            .is_none());
        assert!(l
            .instance_id(&svc, &Key::new("/testing/a").unwrap())
            .is_none());
    }
}
