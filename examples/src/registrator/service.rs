//! registrator's conventions: from a container (image, name, environment, ports) to the service
//! instances it publishes.

use std::collections::BTreeMap;

use discovery_core::{InstanceId, Result, ServiceInstance, ServiceName};

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

/// The instances `c` publishes under `conv`. Ports that are ignored, unpublished (without
/// `-internal`) or unnamed (with `-explicit`) give none; a name or id that is not valid is an error.
pub fn instances(c: &Container, conv: &Conventions) -> Result<Vec<ServiceInstance>> {
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
        let (address, port) = match (&p.published, conv.internal) {
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
        out.push(inst);
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
}
