//! Registrations: agent services with a TTL check (plus, when asked, one [`HealthCheck`] the
//! agent runs), driven by the core keepalive state machine; and the agent's view of them
//! ([`ConsulBackend::agent_instances`], [`ConsulBackend::deregister_agent_instance`]).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use discovery_core::{
    CheckKind, Error, HealthCheck, InstanceId, KeepAlive, LeaseDriver, RegisterOptions,
    Registration, Registry, Result, ServiceInstance, ServiceName,
};
use reqwest::Method;
use serde_json::{json, Value};

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
    /// A check the agent runs, registered next to the TTL heartbeat check.
    check: Option<HealthCheck>,
}

/// Go duration text in whole milliseconds (at least 1 s, Consul's TTL granularity).
fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1000))
}

/// Go duration text in whole milliseconds (at least 1 ms).
fn go_millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// What the agent answers when it refuses script checks (`enable_script_checks` off).
fn scripts_refused(text: &str) -> bool {
    text.contains("Scripts are disabled")
}

/// The agent's definition (an item of `Checks`) of `check`, with id `check_id`.
fn check_definition(
    check: &HealthCheck,
    check_id: &str,
    instance: &ServiceInstance,
) -> Result<Value> {
    let mut def = serde_json::Map::new();
    def.insert("CheckID".into(), json!(check_id));
    def.insert(
        "Name".into(),
        json!(format!("{} check of {}", check.kind.name(), instance.id)),
    );
    match &check.kind {
        CheckKind::Http {
            url,
            method,
            tls_skip_verify,
        } => {
            def.insert("HTTP".into(), json!(url));
            if let Some(m) = method {
                def.insert("Method".into(), json!(m));
            }
            if *tls_skip_verify {
                def.insert("TLSSkipVerify".into(), json!(true));
            }
        }
        CheckKind::Tcp { address } => {
            def.insert("TCP".into(), json!(address));
        }
        CheckKind::Grpc {
            target,
            use_tls,
            tls_skip_verify,
        } => {
            def.insert("GRPC".into(), json!(target));
            def.insert("GRPCUseTLS".into(), json!(use_tls));
            if *tls_skip_verify {
                def.insert("TLSSkipVerify".into(), json!(true));
            }
        }
        CheckKind::Script { args } => {
            def.insert("Args".into(), json!(args));
        }
        CheckKind::Ttl { ttl } => {
            def.insert("TTL".into(), json!(go_duration(*ttl)));
        }
        _ => {
            return Err(Error::Unsupported {
                backend: BACKEND,
                operation: "this kind of health check",
            })
        }
    }
    if !matches!(check.kind, CheckKind::Ttl { .. }) {
        def.insert("Interval".into(), json!(go_millis(check.interval)));
        if let Some(t) = check.timeout {
            def.insert("Timeout".into(), json!(go_millis(t)));
        }
    }
    if let Some(status) = check.initial_status {
        def.insert("Status".into(), json!(status.as_str()));
    }
    if let Some(after) = check.deregister_critical_after {
        def.insert(
            "DeregisterCriticalServiceAfter".into(),
            json!(go_duration(after)),
        );
    }
    Ok(Value::Object(def))
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

    fn runs_checks(&self) -> bool {
        true
    }

    async fn grant(&self, instance: &ServiceInstance, ttl: Duration) -> Result<AgentService> {
        let service_id = self.consul.service_id(instance);
        let check_id = format!("service:{service_id}");
        let cfg = self.consul.config();
        let mut body = json!({
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
        if let Some(check) = &self.check {
            // `Check` (the TTL heartbeat, unchanged) and `Checks` add up on the agent.
            let def = check_definition(
                check,
                &format!("{check_id}:{}", check.kind.name()),
                instance,
            )?;
            body["Checks"] = json!([def]);
        }
        let resp = self
            .consul
            .http()
            .send(
                Method::PUT,
                "agent/service/register",
                // Checks of an earlier registration of this id (another check kind) do not linger.
                &[("replace-existing-checks", "true".to_owned())],
                Some(Bytes::from(body.to_string())),
                None,
            )
            .await?;
        if !(200..300).contains(&resp.status) && scripts_refused(&resp.text()) {
            return Err(Error::Unsupported {
                backend: BACKEND,
                operation: "script checks on this agent (enable_script_checks is off)",
            });
        }
        resp.ok(&format!("service {service_id}"))?;
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
    /// Registers `instance` as the agent service [`ConsulBackend::service_id`] with a TTL check
    /// `service:<service id>` that the registration keeps passing. A
    /// [`RegisterOptions::check`] is registered with it as a second check, with id
    /// `service:<service id>:<kind>` (`http`, `tcp`, `grpc`, `script` or `ttl`: an instance
    /// updates its own TTL check through `/v1/agent/check/pass/<that id>`). An agent that
    /// refuses script checks makes this fail with [`Error::Unsupported`].
    async fn register(
        &self,
        instance: ServiceInstance,
        opts: RegisterOptions,
    ) -> Result<Registration> {
        let driver = AgentDriver {
            consul: self.clone(),
            check: opts.check.clone(),
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
                    check: None,
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

    /// The instances registered through this crate ([`Registry::register`]) on the agent this
    /// backend talks to, in this backend's namespace (without a namespace: under their full
    /// Consul names), whoever registered them and whatever their health: Consul service
    /// `<service>:<instance id>` is instance `<instance id>` of `<service>`. Services registered
    /// by other tools, or whose names are not valid here, are left out. Address, port, tags and
    /// metadata are the agent's.
    pub async fn agent_instances(&self) -> Result<Vec<ServiceInstance>> {
        let resp = self
            .http()
            .send(Method::GET, "agent/services", &[], None, None)
            .await?
            .ok("agent services")?;
        let services: std::collections::BTreeMap<String, Value> = resp.json("agent services")?;
        let prefix = self.config().namespace.as_ref().map(|ns| format!("{ns}."));
        let mut out = Vec::new();
        for (consul_id, svc) in services {
            let name = svc.get("Service").and_then(Value::as_str).unwrap_or("");
            let Some(id) = consul_id.strip_prefix(&format!("{name}:")) else {
                continue;
            };
            let short = match &prefix {
                Some(p) => match name.strip_prefix(p.as_str()) {
                    Some(n) => n,
                    None => continue,
                },
                None => name,
            };
            let (Ok(service), Ok(id)) = (ServiceName::new(short), InstanceId::new(id)) else {
                continue;
            };
            let address = svc.get("Address").and_then(Value::as_str).unwrap_or("");
            let port = svc
                .get("Port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let mut inst = ServiceInstance::new(service, id, address, port);
            for t in svc
                .get("Tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = t.as_str() {
                    inst = inst.with_tag(t);
                }
            }
            for (k, v) in svc
                .get("Meta")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(v) = v.as_str() {
                    inst = inst.with_meta(k.clone(), v);
                }
            }
            out.push(inst);
        }
        Ok(out)
    }

    /// Deregisters `instance` (its Consul service [`service_id`](Self::service_id), with its
    /// checks) from the agent this backend talks to, whoever registered it: for cleaning up
    /// after a crashed registrant. A [`Registration`] of it still alive puts it back at its next
    /// keepalive. Deregistering a service the agent does not have is not an error.
    pub async fn deregister_agent_instance(&self, instance: &ServiceInstance) -> Result<()> {
        let service_id = self.service_id(instance);
        let path = format!("agent/service/deregister/{}", encode(&service_id, false));
        let resp = self
            .http()
            .send(Method::PUT, &path, &[], None, None)
            .await?;
        let text = resp.text();
        if resp.status == 404 || (resp.status == 500 && text.contains("Unknown service")) {
            return Ok(());
        }
        resp.ok(&format!("service {service_id}")).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use discovery_core::Health;

    use super::*;

    fn web() -> ServiceInstance {
        ServiceInstance::new(
            "web".parse().unwrap(),
            "h1:web:80".parse().unwrap(),
            "10.0.0.1",
            Some(8080),
        )
    }

    #[test]
    fn check_definitions_as_the_agent_reads_them() {
        let tcp = HealthCheck::new(CheckKind::Tcp {
            address: "10.0.0.1:8080".into(),
        })
        .interval(Duration::from_millis(1500))
        .timeout(Duration::from_secs(1))
        .initial_status(Health::Warning)
        .deregister_critical_after(Duration::from_secs(600));
        let d = check_definition(&tcp, "service:web:h1:web:80:tcp", &web()).unwrap();
        assert_eq!(d["CheckID"], "service:web:h1:web:80:tcp");
        assert_eq!(d["TCP"], "10.0.0.1:8080");
        assert_eq!(d["Interval"], "1500ms");
        assert_eq!(d["Timeout"], "1000ms");
        assert_eq!(d["Status"], "warning");
        assert_eq!(d["DeregisterCriticalServiceAfter"], "600000ms");
        let http = HealthCheck::new(CheckKind::Http {
            url: "https://10.0.0.1:8080/h".into(),
            method: Some("HEAD".into()),
            tls_skip_verify: true,
        });
        let d = check_definition(&http, "c", &web()).unwrap();
        assert_eq!(
            (
                &d["HTTP"],
                &d["Method"],
                &d["TLSSkipVerify"],
                &d["Interval"]
            ),
            (
                &json!("https://10.0.0.1:8080/h"),
                &json!("HEAD"),
                &json!(true),
                &json!("10000ms")
            )
        );
        assert!(
            d.get("Status").is_none(),
            "the agent's default initial status"
        );
        let ttl = HealthCheck::new(CheckKind::Ttl {
            ttl: Duration::from_secs(30),
        });
        let d = check_definition(&ttl, "c", &web()).unwrap();
        assert_eq!(d["TTL"], "30000ms");
        assert!(d.get("Interval").is_none(), "a TTL check has no interval");
        let script = HealthCheck::new(CheckKind::Script {
            args: vec!["/bin/true".into()],
        });
        assert_eq!(
            check_definition(&script, "c", &web()).unwrap()["Args"],
            json!(["/bin/true"])
        );
        let grpc = HealthCheck::new(CheckKind::Grpc {
            target: "10.0.0.1:8080".into(),
            use_tls: true,
            tls_skip_verify: false,
        });
        let d = check_definition(&grpc, "c", &web()).unwrap();
        assert_eq!(
            (&d["GRPC"], &d["GRPCUseTLS"]),
            (&json!("10.0.0.1:8080"), &json!(true))
        );
        assert!(d.get("TLSSkipVerify").is_none());
    }

    #[test]
    fn refused_scripts_are_recognised() {
        assert!(scripts_refused(
            "Scripts are disabled on this agent from remote calls; to enable, configure \
             'enable_script_checks' to true"
        ));
        assert!(!scripts_refused("Invalid check: TTL must be > 0"));
    }
}
