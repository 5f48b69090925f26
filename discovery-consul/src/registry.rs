//! Registrations: agent services with a TTL check, driven by the core keepalive state machine.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use discovery_core::{
    KeepAlive, LeaseDriver, RegisterOptions, Registration, Registry, Result, ServiceInstance,
};
use reqwest::Method;
use serde_json::json;

use crate::http::{encode, BACKEND};
use crate::ConsulBackend;

/// One registration as the agent knows it.
#[derive(Debug)]
pub(crate) struct AgentService {
    service_id: String,
    check_id: String,
}

/// [`LeaseDriver`] over the agent's service and check endpoints.
pub(crate) struct AgentDriver {
    consul: ConsulBackend,
}

/// Go duration text in whole milliseconds (at least 1 s, Consul's TTL granularity).
fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1000))
}

/// Whether a check-update answer means the agent no longer has the check.
fn check_is_gone(status: u16, text: &str) -> bool {
    status == 404
        || (status == 500
            && (text.contains("does not have associated TTL") || text.contains("Unknown check")))
}

#[async_trait]
impl LeaseDriver for AgentDriver {
    type Lease = AgentService;

    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn grant(&self, instance: &ServiceInstance, ttl: Duration) -> Result<AgentService> {
        let service_id = self.consul.service_id(instance);
        let check_id = format!("service:{service_id}");
        let cfg = self.consul.config();
        let body = json!({
            "ID": service_id,
            "Name": self.consul.consul_name(&instance.service),
            "Address": instance.address,
            "Port": instance.port.unwrap_or(0),
            "Tags": instance.tags,
            "Meta": instance.meta,
            "Check": {
                "CheckID": check_id,
                "Name": format!("TTL heartbeat of {}", instance.id),
                "TTL": go_duration(ttl),
                "Status": "passing",
                "DeregisterCriticalServiceAfter": go_duration(cfg.deregister_critical_after),
            },
        });
        self.consul
            .http()
            .send(
                Method::PUT,
                "agent/service/register",
                &[],
                Some(Bytes::from(body.to_string())),
                None,
            )
            .await?
            .ok(&format!("service {service_id}"))?;
        let mut lease = AgentService {
            service_id,
            check_id,
        };
        if self.keep_alive(&mut lease).await? == KeepAlive::Expired {
            return Err(discovery_core::Error::LeaseExpired {
                backend: BACKEND,
                instance: format!("{}/{}", instance.service, instance.id),
            });
        }
        Ok(lease)
    }

    async fn keep_alive(&self, lease: &mut AgentService) -> Result<KeepAlive> {
        let path = format!("agent/check/pass/{}", encode(&lease.check_id, false));
        let resp = self
            .consul
            .http()
            .send(Method::PUT, &path, &[], None, None)
            .await?;
        if check_is_gone(resp.status, &resp.text()) {
            return Ok(KeepAlive::Expired);
        }
        resp.ok(&format!("check {}", lease.check_id))?;
        Ok(KeepAlive::Alive)
    }

    async fn revoke(&self, lease: AgentService) -> Result<()> {
        let path = format!(
            "agent/service/deregister/{}",
            encode(&lease.service_id, false)
        );
        let resp = self
            .consul
            .http()
            .send(Method::PUT, &path, &[], None, None)
            .await?;
        let text = resp.text();
        if resp.status == 404 || (resp.status == 500 && text.contains("Unknown service")) {
            return Ok(());
        }
        resp.ok(&format!("service {}", lease.service_id)).map(drop)
    }
}

#[async_trait]
impl Registry for ConsulBackend {
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        let driver = AgentDriver {
            consul: self.clone(),
        };
        Registration::start(driver, instance, opts).await
    }
}

impl ConsulBackend {
    /// Deregisters, on the agent this backend talks to, every service registered through this
    /// crate in this backend's namespace (without a namespace: in every namespace), as if the
    /// agent had forgotten them: the next heartbeat of each registration finds its check gone
    /// and registers again. Returns how many services were removed. Meant for fault tests and
    /// for cleaning up after crashed registrants.
    pub async fn forget_registrations(&self) -> Result<usize> {
        let resp = self
            .http()
            .send(Method::GET, "agent/services", &[], None, None)
            .await?
            .ok("agent services")?;
        let services: std::collections::BTreeMap<String, serde_json::Value> =
            resp.json("agent services")?;
        let prefix = self.config().namespace.as_ref().map(|ns| format!("{ns}."));
        let mut removed = 0;
        for (id, svc) in services {
            let name = svc.get("Service").and_then(|v| v.as_str()).unwrap_or("");
            let ours = id.starts_with(&format!("{name}:"));
            let in_ns = prefix.as_deref().is_none_or(|p| name.starts_with(p));
            if ours && in_ns {
                let driver = AgentDriver {
                    consul: self.clone(),
                };
                driver
                    .revoke(AgentService {
                        check_id: format!("service:{id}"),
                        service_id: id,
                    })
                    .await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
