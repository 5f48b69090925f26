//! `-cleanup`: finding and removing the dangling services of this host — registered under an id
//! `<hostname>:<container-name>:<port>[:udp]` (registrator's default id) by an earlier run of the
//! daemon, e.g. one killed before the TTL of its entries ran out, and held by no registration of
//! the running daemon.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{KvStore, Layout, Result, ServiceInstance, ServiceName};

/// `(service name, instance id)` of every registration the daemon holds.
pub type Held = HashSet<(String, String)>;

/// Whether `id` is a default registrator id of `hostname`: `<hostname>:<container-name>:<port>`
/// or `...:<port>:udp`, where a container name is `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (Docker's rule,
/// and the pattern registrator's own cleanup matches).
pub fn is_host_id(hostname: &str, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(hostname).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let rest = rest.strip_suffix(":udp").unwrap_or(rest);
    let Some((name, port)) = rest.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let mut chars = name.chars();
    let name_ok = name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    !hostname.is_empty() && port_ok && name_ok
}

/// The services of a registry's local agent (Consul's agent: `ConsulBackend::agent_instances`
/// and `ConsulBackend::deregister_agent_instance` of `discovery-consul`), for
/// [`Sweeper::Agent`].
#[async_trait]
pub trait AgentServices: Debug + Send + Sync + 'static {
    /// The instances registered through this library on the agent, whoever registered them.
    async fn instances(&self) -> Result<Vec<ServiceInstance>>;

    /// Removes `instance` from the agent; removing one it does not have is not an error.
    async fn deregister(&self, instance: &ServiceInstance) -> Result<()>;
}

/// Lists and removes a registry's dangling services (see the module documentation).
#[derive(Clone, Debug)]
pub enum Sweeper {
    /// A key-value registry (etcd, memory) with instances at `<root>/<service>/<id>`.
    Kv {
        /// The store the registry writes to.
        store: Arc<dyn KvStore>,
        /// Where and how instances are laid out.
        layout: Layout,
    },
    /// A registry whose local agent holds the services (Consul's agent).
    Agent(Arc<dyn AgentServices>),
}

impl Sweeper {
    /// Checks that the registry answers (registrator's `Ping`): a point read of the layout's
    /// root, or the agent's service list.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Sweeper::Kv { store, layout } => store.get(&layout.root).await.map(drop),
            Sweeper::Agent(agent) => agent.instances().await.map(drop),
        }
    }

    /// Removes every instance whose id [`is_host_id`] of `hostname` and that is not in `held`;
    /// returns the removed instances. On a key-value registry only keys exactly at
    /// `<root>/<service>/<id>` whose value decodes as an instance are considered; on an agent
    /// (Consul) only the agent's services registered through this library.
    pub async fn sweep(&self, hostname: &str, held: &Held) -> Result<Vec<ServiceInstance>> {
        let dangling = |service: &str, id: &str| {
            is_host_id(hostname, id) && !held.contains(&(service.to_owned(), id.to_owned()))
        };
        let mut removed = Vec::new();
        match self {
            Sweeper::Kv { store, layout } => {
                let snap = store.list(std::slice::from_ref(&layout.root)).await?;
                for pair in snap.pairs.values() {
                    let Some((service, id)) = layout
                        .root
                        .relative(&pair.key)
                        .and_then(|rel| rel.split_once('/'))
                    else {
                        continue;
                    };
                    if id.contains('/') || !dangling(service, id) {
                        continue;
                    }
                    let Ok(name) = ServiceName::new(service) else {
                        continue;
                    };
                    let Ok(inst) = layout.decode(store.backend(), &name, &pair.key, &pair.value)
                    else {
                        continue;
                    };
                    if store.delete(&pair.key).await? {
                        removed.push(inst);
                    }
                }
            }
            Sweeper::Agent(agent) => {
                for inst in agent.instances().await? {
                    if dangling(inst.service.as_str(), inst.id.as_str()) {
                        agent.deregister(&inst).await?;
                        removed.push(inst);
                    }
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Codec, Key, KvView, MemoryBackend};

    use super::*;

    #[test]
    fn host_ids_follow_registrators_pattern() {
        assert!(is_host_id("h1", "h1:web:80"));
        assert!(is_host_id("h1", "h1:web_1.a-b:5353:udp"));
        assert!(!is_host_id("h1", "h2:web:80"), "another host");
        assert!(
            !is_host_id("h1", "h10:web:80"),
            "a host whose name starts alike"
        );
        assert!(!is_host_id("h1", "h1:web"), "no port");
        assert!(!is_host_id("h1", "h1:web:http"), "port not numeric");
        assert!(
            !is_host_id("h1", "h1:w:80"),
            "container names have 2+ characters"
        );
        assert!(!is_host_id("h1", "h1:-web:80"));
        assert!(
            !is_host_id("h1", "custom-id"),
            "SERVICE_ID values are not ours"
        );
        assert!(!is_host_id("", ":web:80"));
    }

    #[tokio::test]
    async fn kv_sweep_removes_only_this_hosts_unheld_instances() {
        let layout = Layout::new(Key::new("/reg").unwrap(), Codec::Plain);
        let kv = MemoryBackend::new();
        let put = |k: &'static str, v: &'static str, ttl: Option<Duration>| {
            let kv = kv.clone();
            async move { kv.put(&Key::new(k).unwrap(), v.into(), ttl).await.unwrap() }
        };
        put(
            "/reg/web/h1:gone:80",
            "10.0.0.1:80",
            Some(Duration::from_secs(600)),
        )
        .await;
        put("/reg/web/h1:alive:80", "10.0.0.1:81", None).await;
        put("/reg/web/h2:other:80", "10.0.0.2:80", None).await;
        put("/reg/web/h1:bad:80", "not an endpoint:x", None).await;
        put("/reg/web/h1:deep:80/x", "10.0.0.1:80", None).await;
        put("/other/web/h1:gone:80", "10.0.0.1:80", None).await;
        let sweeper = Sweeper::Kv {
            store: Arc::new(kv.clone()),
            layout,
        };
        sweeper.ping().await.unwrap();
        let held: Held = [("web".to_owned(), "h1:alive:80".to_owned())].into();
        let removed = sweeper.sweep("h1", &held).await.unwrap();
        let ids: Vec<&str> = removed.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["h1:gone:80"]);
        let left = kv.list(&[Key::root()]).await.unwrap();
        let keys: Vec<&str> = left.pairs.keys().map(Key::as_str).collect();
        assert_eq!(
            keys,
            [
                "/other/web/h1:gone:80",
                "/reg/web/h1:alive:80",
                "/reg/web/h1:bad:80",
                "/reg/web/h1:deep:80/x",
                "/reg/web/h2:other:80",
            ]
        );
    }

    /// An agent's service list in memory.
    #[derive(Debug, Default)]
    struct Agent(std::sync::Mutex<Vec<ServiceInstance>>);

    #[async_trait]
    impl AgentServices for Agent {
        async fn instances(&self) -> Result<Vec<ServiceInstance>> {
            Ok(self.0.lock().unwrap().clone())
        }

        async fn deregister(&self, instance: &ServiceInstance) -> Result<()> {
            let same = |i: &ServiceInstance| i.service == instance.service && i.id == instance.id;
            self.0.lock().unwrap().retain(|i| !same(i));
            Ok(())
        }
    }

    #[tokio::test]
    async fn agent_sweep_removes_only_this_hosts_unheld_instances() {
        let inst = |service: &str, id: &str| {
            ServiceInstance::new(
                ServiceName::new(service).unwrap(),
                crate::InstanceId::new(id).unwrap(),
                "10.0.0.1",
                Some(80),
            )
        };
        let agent = Arc::new(Agent::default());
        *agent.0.lock().unwrap() = vec![
            inst("web", "h1:gone:80"),
            inst("web", "h1:alive:80"),
            inst("api", "h1:alive:80"),
            inst("web", "h2:other:80"),
            inst("web", "custom-id"),
        ];
        let sweeper = Sweeper::Agent(agent.clone());
        sweeper.ping().await.unwrap();
        // Held as web's instance only: api's instance with the same id is dangling.
        let held: Held = [("web".to_owned(), "h1:alive:80".to_owned())].into();
        let removed = sweeper.sweep("h1", &held).await.unwrap();
        let pairs = |l: &[ServiceInstance]| -> Vec<String> {
            l.iter()
                .map(|i| format!("{}/{}", i.service, i.id))
                .collect()
        };
        assert_eq!(pairs(&removed), ["web/h1:gone:80", "api/h1:alive:80"]);
        assert_eq!(
            pairs(&agent.0.lock().unwrap()),
            ["web/h1:alive:80", "web/h2:other:80", "web/custom-id"]
        );
    }
}
