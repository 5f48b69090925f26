//! What a [`super::CtRunner`] runs: the templates, the mode, `dry` and the global `wait`.

use std::path::PathBuf;

use discovery_core::health::HealthRegistry;

use crate::quiesce::Wait;

use super::dedup_config::DedupOptions;
use super::exec::ExecSpec;
use super::spec::TemplateSpec;

/// How a [`super::CtRunner`] runs its templates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Render every template as soon as its data is complete, then again after each change to
    /// what it reads (after its quiescence), until shut down.
    #[default]
    Watch,
    /// consul-template's `-once`: wait until every template has all its data, write them all,
    /// run their commands, finish.
    Once,
}

/// A [`super::CtRunner`]'s configuration.
///
/// ```
/// use std::time::Duration;
/// use discovery_render::consul_template::{CtOptions, Mode, TemplateSpec};
/// use discovery_render::quiesce::Wait;
/// let options = CtOptions::new(vec![TemplateSpec::new("out.conf").with_contents("{{key \"app/mode\"}}")])
///     .mode(Mode::Once)
///     .wait(Some(Wait { min: Duration::from_secs(1), max: Duration::from_secs(4) }));
/// assert_eq!(options.mode, Mode::Once);
/// assert!(!options.dry);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CtOptions {
    /// The templates, in configuration order (commands run in this order).
    pub templates: Vec<TemplateSpec>,
    /// Watch (default) or once.
    pub mode: Mode,
    /// `-dry`: print to standard output what would be written (a unified diff for an existing
    /// destination) and run no command.
    pub dry: bool,
    /// The global quiescence, for templates without their own `wait`.
    pub wait: Option<Wait>,
    /// Exec mode: the child to supervise (started once every template rendered).
    pub exec: Option<ExecSpec>,
    /// `pid_file`: where the runner writes the process id when it starts (removed at its end).
    pub pid_file: Option<PathBuf>,
    /// De-duplication mode (`-dedup`, `deduplicate {}`): `None`, off.
    pub dedup: Option<DedupOptions>,
    /// Where the runner reports each subscription (`consul <what>`: failing while it cannot
    /// reach Consul) and each template (`template <name>`: ready once rendered). A reload keeps
    /// the registry the runner started with.
    pub health: HealthRegistry,
}

impl CtOptions {
    /// Watch mode over `templates`, writing, without a global wait.
    pub fn new(templates: Vec<TemplateSpec>) -> Self {
        CtOptions {
            templates,
            mode: Mode::Watch,
            dry: false,
            wait: None,
            exec: None,
            pid_file: None,
            dedup: None,
            health: HealthRegistry::new(),
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `dry`.
    pub fn dry(mut self, dry: bool) -> Self {
        self.dry = dry;
        self
    }

    /// Sets exec mode's child (`None`: no exec mode).
    pub fn exec(mut self, exec: Option<ExecSpec>) -> Self {
        self.exec = exec;
        self
    }

    /// Sets `pid_file`.
    pub fn pid_file(mut self, path: Option<PathBuf>) -> Self {
        self.pid_file = path;
        self
    }

    /// Sets de-duplication mode (`None`: off).
    pub fn dedup(mut self, dedup: Option<DedupOptions>) -> Self {
        self.dedup = dedup;
        self
    }

    /// Sets the health registry the runner reports to.
    pub fn health(mut self, health: HealthRegistry) -> Self {
        self.health = health;
        self
    }

    /// Sets the global quiescence.
    pub fn wait(mut self, wait: Option<Wait>) -> Self {
        self.wait = wait;
        self
    }
}
