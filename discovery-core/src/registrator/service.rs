//! registrator's conventions: from a container (image, name, environment, labels, ports) to the
//! service instances it publishes, and the health check (`SERVICE_CHECK_*`) of each.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{
    parse_go_duration, CheckKind, Error, Health, HealthCheck, InstanceId, Result, ServiceInstance,
    ServiceName,
};

/// One port of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    /// The port inside the container (`2379` of `2379/tcp`).
    pub exposed_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The published host port and host IP, if published.
    pub published: Option<(String, u16)>,
}

/// What registrator needs to know about a running container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// Engine id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image reference (`registry/repo/name:tag`).
    pub image: String,
    /// `KEY=value` environment entries.
    pub env: Vec<String>,
    /// Labels (read like the environment; the environment wins).
    pub labels: BTreeMap<String, String>,
    /// Container IP (first network), for `-internal`.
    pub ip: Option<String>,
    /// Ports, sorted by exposed port.
    pub ports: Vec<ContainerPort>,
}

/// How to turn containers into instances (registrator's flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conventions {
    /// This host's name, the first part of every instance id.
    pub hostname: String,
    /// `-ip`: the address to advertise instead of the port's host IP.
    pub ip: Option<String>,
    /// `-internal`: container IP and exposed ports instead of published ones.
    pub internal: bool,
    /// `-explicit`: only containers with `SERVICE_NAME` (or a port-specific name).
    pub explicit: bool,
    /// `-tags`: tags added to every instance.
    pub tags: Vec<String>,
    /// `-useIpFromLabel`: the container label whose value (an IP, or a CIDR such as
    /// `10.0.0.5/24`) is advertised instead of the address above, when the container has it.
    pub ip_from_label: Option<String>,
}

/// One instance to register and the health check its `SERVICE_[<port>_]CHECK_*` attributes ask
/// for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The instance.
    pub instance: ServiceInstance,
    /// The check, if any (run by backends that can, i.e. Consul).
    pub check: Option<HealthCheck>,
}

/// Splits a comma list where `\,` escapes a comma; trims and drops empty items.
pub fn split_tags(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The `SERVICE_*` metadata for `port`: keys lower-cased, port-specific keys win. The second value
/// says whether the name came from a port-specific key.
fn metadata(c: &Container, port: u16) -> (BTreeMap<String, String>, bool) {
    let env = c.env.iter().filter_map(|kv| kv.split_once('='));
    let all: Vec<(&str, &str)> = c
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(env)
        .collect();
    let mut general = BTreeMap::new();
    let mut specific = BTreeMap::new();
    for (k, v) in all {
        let Some(rest) = k.strip_prefix("SERVICE_") else {
            continue;
        };
        match rest.split_once('_') {
            Some((p, key)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                if p.parse::<u16>().ok() == Some(port) {
                    specific.insert(key.to_lowercase(), v.to_owned());
                }
            }
            _ => {
                general.insert(rest.to_lowercase(), v.to_owned());
            }
        }
    }
    let name_from_port = specific.contains_key("name");
    general.extend(specific);
    (general, name_from_port)
}

/// The image's base name without tag or digest: `discovery-etcd` of `reg:5000/x/discovery-etcd:3.4`.
pub fn image_base(image: &str) -> &str {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split('@').next().unwrap_or(base);
    base.split(':').next().unwrap_or(base)
}

/// The check interval when `CHECK_INTERVAL` is not given (registrator's `DefaultInterval`).
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);

fn bad_attr(key: &str, reason: String) -> Error {
    Error::invalid_config(format!("SERVICE_{}", key.to_uppercase()), reason)
}

/// A Go duration attribute (`10s`, `1m30s`), if set and not empty.
fn duration_attr(meta: &BTreeMap<String, String>, key: &str) -> Result<Option<Duration>> {
    match meta.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_go_duration(v)
            .map(Some)
            .ok_or_else(|| bad_attr(key, format!("{v:?} is not a duration such as 10s or 1m"))),
    }
}

/// `host:port`, with brackets around an IPv6 host.
fn host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The health check that the (lower-cased, port-specific-first) attributes `meta` ask for, on an
/// instance advertised at `ip:port`, as registrator's Consul adapter builds it: the first of
/// `check_http` (`http://ip:port<path>`, `check_http_method`), `check_https` (`https://...`,
/// `check_https_method`, `check_tls_skip_verify`), `check_cmd` (`check-cmd <container id[:12]>
/// <exposed port> <cmd>`, a helper the agent's host must provide, as with registrator),
/// `check_script` (run by `/bin/sh -c` after replacing `$SERVICE_IP` and `$SERVICE_PORT`),
/// `check_ttl`, `check_tcp` (`ip:port`) and `check_grpc` (`ip:port`, `check_grpc_use_tls`,
/// `check_tls_skip_verify`) that is set and not empty. Every kind but TTL is probed every
/// `check_interval` (default 10 s); `check_timeout` applies to HTTP(S), TCP and gRPC checks;
/// `check_initial_status` (`passing`, `warning`, `critical`) and `check_deregister_after` apply
/// to all. A duration or status that does not parse is an error naming the attribute.
pub fn health_check(
    meta: &BTreeMap<String, String>,
    ip: &str,
    port: u16,
    container_id: &str,
    exposed_port: u16,
) -> Result<Option<HealthCheck>> {
    let attr = |k: &str| meta.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let addr = host_port(ip, port);
    let (kind, timed) = if let Some(path) = attr("check_http") {
        let kind = CheckKind::Http {
            url: format!("http://{addr}{path}"),
            method: attr("check_http_method").map(str::to_owned),
            tls_skip_verify: false,
        };
        (kind, true)
    } else if let Some(path) = attr("check_https") {
        let kind = CheckKind::Http {
            url: format!("https://{addr}{path}"),
            method: attr("check_https_method").map(str::to_owned),
            tls_skip_verify: attr("check_tls_skip_verify").is_some(),
        };
        (kind, true)
    } else if let Some(cmd) = attr("check_cmd") {
        let short = container_id.get(..12).unwrap_or(container_id);
        let args = ["check-cmd", short, &exposed_port.to_string(), cmd];
        let kind = CheckKind::Script {
            args: args.map(str::to_owned).to_vec(),
        };
        (kind, false)
    } else if let Some(script) = attr("check_script") {
        let script = script
            .replace("$SERVICE_IP", ip)
            .replace("$SERVICE_PORT", &port.to_string());
        let kind = CheckKind::Script {
            args: vec!["/bin/sh".into(), "-c".into(), script],
        };
        (kind, false)
    } else if attr("check_ttl").is_some() {
        let ttl = duration_attr(meta, "check_ttl")?.unwrap_or_default();
        (CheckKind::Ttl { ttl }, false)
    } else if attr("check_tcp").is_some() {
        (CheckKind::Tcp { address: addr }, true)
    } else if attr("check_grpc").is_some() {
        let use_tls = attr("check_grpc_use_tls").is_some();
        let kind = CheckKind::Grpc {
            target: addr,
            use_tls,
            tls_skip_verify: use_tls && attr("check_tls_skip_verify").is_some(),
        };
        (kind, true)
    } else {
        return Ok(None);
    };
    let interval = duration_attr(meta, "check_interval")?.unwrap_or(DEFAULT_CHECK_INTERVAL);
    let mut check = HealthCheck::new(kind).interval(interval);
    if timed {
        if let Some(t) = duration_attr(meta, "check_timeout")? {
            check = check.timeout(t);
        }
    }
    if let Some(status) = attr("check_initial_status") {
        let status = match status {
            "passing" => Health::Passing,
            "warning" => Health::Warning,
            "critical" => Health::Critical,
            other => {
                return Err(bad_attr(
                    "check_initial_status",
                    format!("{other:?} is not passing, warning or critical"),
                ))
            }
        };
        check = check.initial_status(status);
    }
    if let Some(after) = duration_attr(meta, "check_deregister_after")? {
        check = check.deregister_critical_after(after);
    }
    Ok(Some(check))
}

/// The instances `c` publishes under `conv`. Ports that are ignored, unpublished (without
/// `-internal`) or unnamed (with `-explicit`) give none; a name or id that is not valid is an error.
pub fn instances(c: &Container, conv: &Conventions) -> Result<Vec<ServiceInstance>> {
    Ok(plan(c, conv)?.into_iter().map(|p| p.instance).collect())
}

/// The value of label `label` of `c` as an address: without a `/<prefix length>` suffix.
fn ip_from_label<'a>(c: &'a Container, label: &str) -> Option<&'a str> {
    let v = c.labels.get(label).map(String::as_str)?.trim();
    let ip = v.rsplit_once('/').map_or(v, |(ip, _)| ip);
    (!ip.is_empty()).then_some(ip)
}

/// [`instances`] with the health check of each (see [`health_check`]). An attribute of a check
/// that does not parse is an error, as an invalid name is.
pub fn plan(c: &Container, conv: &Conventions) -> Result<Vec<Planned>> {
    let ports: Vec<&ContainerPort> = c
        .ports
        .iter()
        .filter(|p| conv.internal || p.published.is_some())
        .collect();
    let several = ports.len() > 1;
    let mut out = Vec::new();
    for p in ports {
        let (mut meta, name_from_port) = metadata(c, p.exposed_port);
        if meta.remove("ignore").is_some_and(|v| !v.is_empty()) {
            continue;
        }
        let explicit_name = meta.remove("name");
        if conv.explicit && explicit_name.is_none() {
            continue;
        }
        let mut name = explicit_name.unwrap_or_else(|| image_base(&c.image).to_owned());
        if several && !name_from_port {
            name = format!("{name}-{}", p.exposed_port);
        }
        let udp = if p.protocol == "udp" { ":udp" } else { "" };
        let id = match meta.remove("id") {
            Some(id) => id,
            None => format!("{}:{}:{}{udp}", conv.hostname, c.name, p.exposed_port),
        };
        let (mut address, port) = match (&p.published, conv.internal) {
            (Some((host_ip, host_port)), false) => {
                let ip = match (&conv.ip, host_ip.as_str()) {
                    (Some(ip), _) => ip.clone(),
                    (None, "" | "0.0.0.0" | "::") => "127.0.0.1".to_owned(),
                    (None, ip) => ip.to_owned(),
                };
                (ip, *host_port)
            }
            _ => (
                c.ip.clone().unwrap_or_else(|| "127.0.0.1".to_owned()),
                p.exposed_port,
            ),
        };
        if let Some(label) = &conv.ip_from_label {
            match ip_from_label(c, label) {
                Some(ip) => address = ip.to_owned(),
                None => {
                    tracing::debug!(container = %c.name, %label, "label not found; advertising {address}")
                }
            }
        }
        let check = health_check(&meta, &address, port, &c.id, p.exposed_port)?;
        let mut inst = ServiceInstance::new(
            ServiceName::new(name)?,
            InstanceId::new(id)?,
            address,
            Some(port),
        );
        let tags = meta
            .remove("tags")
            .map(|t| split_tags(&t))
            .unwrap_or_default();
        for t in tags.into_iter().chain(conv.tags.iter().cloned()) {
            inst = inst.with_tag(t);
        }
        for (k, v) in meta {
            inst = inst.with_meta(k, v);
        }
        out.push(Planned {
            instance: inst,
            check,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(exposed port, protocol, published (host ip, host port))`.
    type PortSpec<'a> = (u16, &'a str, Option<(&'a str, u16)>);

    fn container(env: &[&str], ports: &[PortSpec<'_>]) -> Container {
        Container {
            id: "abc".into(),
            name: "web1".into(),
            image: "reg:5000/team/nginx:1.25".into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            ip: Some("172.17.0.5".into()),
            ports: ports
                .iter()
                .map(|(p, proto, publ)| ContainerPort {
                    exposed_port: *p,
                    protocol: proto.to_string(),
                    published: publ.map(|(ip, hp)| (ip.to_owned(), hp)),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn conv() -> Conventions {
        Conventions {
            hostname: "host1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn single_port_defaults_to_image_base_name_and_host_binding() {
        let c = container(&[], &[(80, "tcp", Some(("10.0.0.2", 32768)))]);
        let i = instances(&c, &conv()).unwrap();
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].service.as_str(), "nginx");
        assert_eq!(i[0].id.as_str(), "host1:web1:80");
        assert_eq!(
            (i[0].address.as_str(), i[0].port),
            ("10.0.0.2", Some(32768))
        );
    }

    #[test]
    fn several_ports_get_port_suffix_except_port_specific_names() {
        let c = container(
            &[
                "SERVICE_NAME=web",
                "SERVICE_443_NAME=tls",
                "SERVICE_TAGS=a,b\\,c",
                "SERVICE_REGION=eu",
            ],
            &[
                (80, "tcp", Some(("0.0.0.0", 8080))),
                (443, "tcp", Some(("0.0.0.0", 8443))),
                (53, "udp", Some(("0.0.0.0", 5353))),
            ],
        );
        let mut cv = conv();
        cv.tags = vec!["forced".into()];
        let i = instances(&c, &cv).unwrap();
        let names: Vec<_> = i.iter().map(|x| x.service.as_str()).collect();
        assert_eq!(names, ["web-80", "tls", "web-53"]);
        assert_eq!(i[0].address, "127.0.0.1");
        assert_eq!(i[2].id.as_str(), "host1:web1:53:udp");
        let tags: Vec<_> = i[0].tags.iter().map(String::as_str).collect();
        assert_eq!(tags, ["a", "b,c", "forced"]);
        assert_eq!(i[1].meta.get("region").map(String::as_str), Some("eu"));
    }

    #[test]
    fn ignore_explicit_internal_and_ip_flags() {
        let c = container(
            &["SERVICE_80_IGNORE=1"],
            &[(80, "tcp", Some(("0.0.0.0", 8080))), (81, "tcp", None)],
        );
        assert!(instances(&c, &conv()).unwrap().is_empty());
        let mut cv = conv();
        cv.internal = true;
        let i = instances(&c, &cv).unwrap();
        assert_eq!(i.len(), 1);
        assert_eq!((i[0].address.as_str(), i[0].port), ("172.17.0.5", Some(81)));
        let c = container(&[], &[(80, "tcp", Some(("0.0.0.0", 8080)))]);
        let mut cv = conv();
        cv.explicit = true;
        assert!(instances(&c, &cv).unwrap().is_empty());
        cv.explicit = false;
        cv.ip = Some("192.0.2.1".into());
        assert_eq!(instances(&c, &cv).unwrap()[0].address, "192.0.2.1");
    }

    #[test]
    fn image_base_drops_registry_repository_tag_and_digest() {
        assert_eq!(image_base("reg:5000/team/nginx:1.25"), "nginx");
        assert_eq!(image_base("redis@sha256:abc"), "redis");
        assert_eq!(image_base("busybox"), "busybox");
    }

    #[test]
    fn invalid_name_is_an_error() {
        let c = container(
            &["SERVICE_NAME=a/b"],
            &[(80, "tcp", Some(("0.0.0.0", 8080)))],
        );
        assert!(instances(&c, &conv()).is_err());
    }

    fn check_of(env: &[&str]) -> Result<Option<HealthCheck>> {
        let c = container(env, &[(80, "tcp", Some(("0.0.0.0", 8080)))]);
        let mut cv = conv();
        cv.ip = Some("10.0.0.9".into());
        let mut p = plan(&c, &cv)?;
        assert_eq!(p.len(), 1);
        Ok(p.remove(0).check)
    }

    #[test]
    fn no_check_attribute_no_check() {
        assert_eq!(check_of(&["SERVICE_CHECK_INTERVAL=5s"]).unwrap(), None);
        assert_eq!(check_of(&["SERVICE_CHECK_HTTP="]).unwrap(), None);
    }

    #[test]
    fn http_check_with_method_timeout_status_and_deregister_after() {
        let c = check_of(&[
            "SERVICE_CHECK_HTTP=/health",
            "SERVICE_CHECK_HTTP_METHOD=HEAD",
            "SERVICE_CHECK_TIMEOUT=2s",
            "SERVICE_CHECK_INITIAL_STATUS=passing",
            "SERVICE_CHECK_DEREGISTER_AFTER=10m",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Http {
                url: "http://10.0.0.9:8080/health".into(),
                method: Some("HEAD".into()),
                tls_skip_verify: false,
            }
        );
        assert_eq!(c.interval, DEFAULT_CHECK_INTERVAL);
        assert_eq!(c.timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.initial_status, Some(Health::Passing));
        assert_eq!(c.deregister_critical_after, Some(Duration::from_secs(600)));
    }

    #[test]
    fn https_tcp_grpc_ttl_and_intervals() {
        let c = check_of(&[
            "SERVICE_CHECK_HTTPS=/h",
            "SERVICE_CHECK_TLS_SKIP_VERIFY=true",
            "SERVICE_CHECK_INTERVAL=1m30s",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Http {
                url: "https://10.0.0.9:8080/h".into(),
                method: None,
                tls_skip_verify: true,
            }
        );
        assert_eq!(c.interval, Duration::from_secs(90));
        let c = check_of(&["SERVICE_CHECK_TCP=true", "SERVICE_CHECK_TIMEOUT=500ms"])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Tcp {
                address: "10.0.0.9:8080".into()
            }
        );
        assert_eq!(c.timeout, Some(Duration::from_millis(500)));
        let c = check_of(&["SERVICE_CHECK_GRPC=true", "SERVICE_CHECK_GRPC_USE_TLS=1"])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Grpc {
                target: "10.0.0.9:8080".into(),
                use_tls: true,
                tls_skip_verify: false,
            }
        );
        let c = check_of(&["SERVICE_CHECK_TTL=30s", "SERVICE_CHECK_TIMEOUT=1s"])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Ttl {
                ttl: Duration::from_secs(30)
            }
        );
        assert_eq!(c.timeout, None, "registrator sets no timeout on TTL checks");
    }

    #[test]
    fn script_and_cmd_checks() {
        let c = check_of(&["SERVICE_CHECK_SCRIPT=nc $SERVICE_IP $SERVICE_PORT | grep OK"])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Script {
                args: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "nc 10.0.0.9 8080 | grep OK".into()
                ]
            }
        );
        let mut ct = container(
            &["SERVICE_CHECK_CMD=/bin/true"],
            &[(80, "tcp", Some(("0.0.0.0", 8080)))],
        );
        ct.id = "0123456789abcdef0123".into();
        let c = plan(&ct, &conv()).unwrap().remove(0).check.unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Script {
                args: ["check-cmd", "0123456789ab", "80", "/bin/true"]
                    .map(String::from)
                    .to_vec()
            }
        );
    }

    #[test]
    fn first_check_wins_in_registrators_order_and_port_specific_wins() {
        // http > https > cmd > script > ttl > tcp > grpc (registrator's buildCheck).
        let c = check_of(&["SERVICE_CHECK_TCP=true", "SERVICE_CHECK_TTL=5s"])
            .unwrap()
            .unwrap();
        assert_eq!(c.kind.name(), "ttl");
        let c = check_of(&["SERVICE_CHECK_GRPC=true", "SERVICE_CHECK_HTTP=/x"])
            .unwrap()
            .unwrap();
        assert_eq!(c.kind.name(), "http");
        let c = check_of(&[
            "SERVICE_CHECK_INTERVAL=5s",
            "SERVICE_80_CHECK_INTERVAL=7s",
            "SERVICE_81_CHECK_TCP=true",
            "SERVICE_80_CHECK_TCP=true",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.interval, Duration::from_secs(7));
    }

    #[test]
    fn bad_check_attributes_are_errors_naming_them() {
        let e = check_of(&["SERVICE_CHECK_TCP=true", "SERVICE_CHECK_INTERVAL=10"]).unwrap_err();
        assert!(e.to_string().contains("SERVICE_CHECK_INTERVAL"), "{e}");
        let e = check_of(&[
            "SERVICE_CHECK_HTTP=/",
            "SERVICE_CHECK_INITIAL_STATUS=maintenance",
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("SERVICE_CHECK_INITIAL_STATUS"),
            "{e}"
        );
        let e = check_of(&["SERVICE_CHECK_TTL=soon"]).unwrap_err();
        assert!(e.to_string().contains("SERVICE_CHECK_TTL"), "{e}");
    }

    #[test]
    fn ip_from_label_overrides_the_address_and_drops_a_prefix_length() {
        let mut c = container(&[], &[(80, "tcp", Some(("0.0.0.0", 8080)))]);
        c.labels.insert("overlay.ip".into(), "10.20.0.7/24".into());
        let mut cv = conv();
        cv.ip = Some("192.0.2.1".into());
        cv.ip_from_label = Some("overlay.ip".into());
        let i = instances(&c, &cv).unwrap();
        assert_eq!(i[0].endpoint(), "10.20.0.7:8080");
        cv.ip_from_label = Some("missing".into());
        assert_eq!(instances(&c, &cv).unwrap()[0].address, "192.0.2.1");
        // With -internal too, and the check probes the advertised address.
        cv.internal = true;
        cv.ip_from_label = Some("overlay.ip".into());
        c.env = vec!["SERVICE_CHECK_TCP=1".into()];
        let p = plan(&c, &cv).unwrap().remove(0);
        assert_eq!(p.instance.endpoint(), "10.20.0.7:80");
        assert_eq!(
            p.check.unwrap().kind,
            CheckKind::Tcp {
                address: "10.20.0.7:80".into()
            }
        );
    }
}
