//! The Docker engine through `bollard`: running containers and their start/stop events, as
//! [`Container`] values.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{EventsOptions, InspectContainerOptions, ListContainersOptions};
use bollard::Docker;
use discovery_core::{Error, Result};
use futures::{Stream, StreamExt};

use super::service::{Container, ContainerPort};

/// A container event registrator acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The container started.
    Start(String),
    /// The container died, stopped or was killed.
    Stop(String),
}

/// A connection to the Docker engine.
#[derive(Clone, Debug)]
pub struct Engine {
    docker: Docker,
}

fn docker_error(e: bollard::errors::Error) -> Error {
    Error::unavailable("docker", e.to_string())
}

impl Engine {
    /// Connects as the `docker` CLI does (`DOCKER_HOST`, else the local socket).
    pub fn connect() -> Result<Engine> {
        let docker = Docker::connect_with_defaults().map_err(docker_error)?;
        Ok(Engine { docker })
    }

    /// The ids of the running containers.
    pub async fn running(&self) -> Result<Vec<String>> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions::default()))
            .await
            .map_err(docker_error)?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// The container `id`, or `None` when it is gone or not running.
    pub async fn inspect(&self, id: &str) -> Result<Option<Container>> {
        let c = match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(docker_error(e)),
        };
        if !c.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
            return Ok(None);
        }
        let config = c.config.unwrap_or_default();
        let net = c.network_settings.unwrap_or_default();
        let ip = net.networks.as_ref().and_then(|n| {
            n.values()
                .filter_map(|e| e.ip_address.clone())
                .find(|ip| !ip.is_empty())
        });
        let mut ports = Vec::new();
        let mut exposed: Vec<String> = config.exposed_ports.clone().unwrap_or_default();
        let bindings: HashMap<String, Option<Vec<bollard::models::PortBinding>>> =
            net.ports.unwrap_or_default();
        exposed.extend(bindings.keys().cloned());
        exposed.sort();
        exposed.dedup();
        for spec in exposed {
            let (port, proto) = spec.split_once('/').unwrap_or((spec.as_str(), "tcp"));
            let Ok(exposed_port) = port.parse::<u16>() else {
                continue;
            };
            let published = bindings
                .get(&spec)
                .and_then(|b| b.as_ref())
                .and_then(|b| b.iter().find_map(binding));
            ports.push(ContainerPort {
                exposed_port,
                protocol: proto.to_owned(),
                published,
            });
        }
        ports.sort_by_key(|p| (p.exposed_port, p.protocol.clone()));
        Ok(Some(Container {
            id: c.id.unwrap_or_else(|| id.to_owned()),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            labels: config
                .labels
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            ip,
            ports,
        }))
    }

    /// The engine's container start/stop events, from now on. The stream ends on an engine error.
    pub fn events(&self) -> impl Stream<Item = Result<Event>> + Send + 'static {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "event".to_owned(),
                ["start", "die", "stop", "kill"].map(str::to_owned).to_vec(),
            ),
        ]);
        let opts = EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        self.docker.events(Some(opts)).filter_map(|e| async move {
            let e = match e {
                Ok(e) => e,
                Err(e) => return Some(Err(docker_error(e))),
            };
            let id = e.actor.and_then(|a| a.id)?;
            match e.action.as_deref()? {
                "start" => Some(Ok(Event::Start(id))),
                "die" | "stop" | "kill" => Some(Ok(Event::Stop(id))),
                _ => None,
            }
        })
    }
}

/// `(host ip, host port)` of a binding with a valid port.
fn binding(b: &bollard::models::PortBinding) -> Option<(String, u16)> {
    let port = b.host_port.as_deref()?.parse::<u16>().ok()?;
    Some((b.host_ip.clone().unwrap_or_default(), port))
}
