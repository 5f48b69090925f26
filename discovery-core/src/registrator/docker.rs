//! The Docker engine through `bollard`: running containers, their state and their lifecycle
//! events, as [`Container`] values.

use std::collections::{BTreeMap, HashMap};

use crate::{Error, Result};
use bollard::query_parameters::{EventsOptions, InspectContainerOptions, ListContainersOptions};
use bollard::Docker;
use futures::{Stream, StreamExt};

use super::service::{Container, ContainerPort};

/// A container event registrator acts on (each carries the container id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The container started.
    Start(String),
    /// A signal was sent to the container (`docker kill`, or the first step of `docker stop`);
    /// it may still run.
    Kill {
        /// Container id.
        id: String,
        /// The signal number, when the engine says.
        signal: Option<i32>,
    },
    /// The container's main process exited.
    Die {
        /// Container id.
        id: String,
        /// The exit code, when the engine says (`exitCode` attribute).
        exit_code: Option<i64>,
    },
    /// `docker stop` finished.
    Stop(String),
    /// The container was removed.
    Destroy(String),
}

impl Event {
    /// Whether a kill with this signal is meant to end the container: `TERM`, `KILL`, `INT`,
    /// `QUIT`, or an unknown signal. `HUP`, `USR1`... usually ask a running server to reload.
    pub fn kill_terminates(signal: Option<i32>) -> bool {
        matches!(signal, None | Some(2 | 3 | 9 | 15))
    }
}

/// The state of a container.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// It does not exist (removed).
    Gone,
    /// It runs (or is paused or restarting).
    Running,
    /// It exited with this code.
    Exited(i64),
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

    /// The ids of every container, running or not.
    pub async fn all(&self) -> Result<Vec<String>> {
        let opts = ListContainersOptions {
            all: true,
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(docker_error)?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// The state of container `id`.
    pub async fn state(&self, id: &str) -> Result<State> {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                if s.running.unwrap_or(false) || s.restarting.unwrap_or(false) {
                    Ok(State::Running)
                } else {
                    Ok(State::Exited(s.exit_code.unwrap_or(0)))
                }
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(State::Gone),
            Err(e) => Err(docker_error(e)),
        }
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

    /// The engine's container lifecycle events, from now on. The stream ends on an engine error.
    pub fn events(&self) -> impl Stream<Item = Result<Event>> + Send + 'static {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "event".to_owned(),
                ["start", "die", "stop", "kill", "destroy"]
                    .map(str::to_owned)
                    .to_vec(),
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
            let actor = e.actor?;
            let id = actor.id?;
            let attr = |k: &str| actor.attributes.as_ref().and_then(|a| a.get(k));
            match e.action.as_deref()? {
                "start" => Some(Ok(Event::Start(id))),
                "kill" => {
                    let signal = attr("signal").and_then(|s| s.parse().ok());
                    Some(Ok(Event::Kill { id, signal }))
                }
                "die" => {
                    let exit_code = attr("exitCode").and_then(|s| s.parse().ok());
                    Some(Ok(Event::Die { id, exit_code }))
                }
                "stop" => Some(Ok(Event::Stop(id))),
                "destroy" => Some(Ok(Event::Destroy(id))),
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
