//! One configured template: parsing, a render judged against what data has arrived, and the
//! write (or `-dry` print) of its output.

use discovery_core::health::HealthRegistry;
use std::collections::BTreeSet;
use std::path::Path;

use discovery_core::{Dependency, Error, Result};

use super::spec::TemplateSpec;
use super::store::{describe, Source, Watch};
use super::ConsulTemplate;
use crate::quiesce::{Quiescence, Wait};
use crate::sync::{sync_file, FileTarget, SyncMode, SyncOutcome};
use crate::{Dialect, Syntax, Template, TemplateOptions};

/// A loaded template and its watch state.
#[derive(Debug)]
pub struct Tmpl {
    /// Its configuration.
    pub spec: TemplateSpec,
    renderer: ConsulTemplate,
    /// Its quiescence (the template's own `wait`, else the global one).
    pub wait: Option<Wait>,
    /// Pending render.
    pub quiet: Quiescence,
    /// The subscriptions its last render read.
    pub watches: BTreeSet<Watch>,
    /// The dependencies its last render read.
    pub used: BTreeSet<Dependency>,
    /// Upstream's template id: the hex SHA-256 of source path, contents and destination (each
    /// followed by a NUL but the last), which keys its de-duplication lock.
    pub id: String,
    /// What it waited for last time (logged when it changes).
    waiting_for: BTreeSet<Dependency>,
    /// Whether it rendered (had all its data, written or already up to date) at least once.
    pub rendered: bool,
    /// The destination's owner and group (`user`, `group`), resolved when loaded.
    owner: (Option<u32>, Option<u32>),
}

/// What a render of a template came to.
#[derive(Debug)]
pub enum Outcome {
    /// Every dependency has data: this is the output.
    Ready(String),
    /// Data is still missing (not fetched yet, a `key` that does not exist, an empty `safeLs`).
    Waiting,
    /// The render failed although all the data it read was there.
    Failed(Error),
}

/// Reads and parses `spec`'s template (and resolves its `user` and `group`) without rendering
/// it: consul-template's `-parse-only`.
pub fn check_template(spec: &TemplateSpec) -> Result<()> {
    Tmpl::load(spec.clone(), None).map(|_| ())
}

impl Tmpl {
    /// Reads and parses the template. Errors read like Go's (`template: :1:2: ...`): the
    /// template's name is empty, as in consul-template.
    pub fn load(spec: TemplateSpec, global_wait: Option<Wait>) -> Result<Tmpl> {
        let (source, syntax) = match (&spec.contents, &spec.source) {
            (Some(c), _) => (c.clone(), Syntax::Go),
            (None, Some(path)) => (
                std::fs::read_to_string(path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?,
                Syntax::from_path(path),
            ),
            (None, None) => {
                return Err(Error::invalid_config(
                    "template",
                    "needs source or contents",
                ))
            }
        };
        let mut opts = TemplateOptions::new(Dialect::ConsulTemplate)
            .syntax(syntax)
            .error_on_missing_key(spec.error_on_missing_key)
            .deny_functions(spec.function_denylist.iter().cloned());
        if spec.left_delimiter.is_some() || spec.right_delimiter.is_some() {
            opts = opts.delimiters(
                spec.left_delimiter.as_deref().unwrap_or("{{"),
                spec.right_delimiter.as_deref().unwrap_or("}}"),
            );
        }
        if let Some(dir) = &spec.sandbox_path {
            opts = opts.file_sandbox(dir);
        }
        let owner = (
            super::owner::uid(spec.user.as_deref())?,
            super::owner::gid(spec.group.as_deref())?,
        );
        let template = Template::parse(&source, opts)?;
        let id = template_id(&spec, &source);
        Ok(Tmpl {
            id,
            used: BTreeSet::new(),
            wait: spec.wait.or(global_wait),
            spec,
            renderer: ConsulTemplate::new(template),
            quiet: Quiescence::default(),
            watches: BTreeSet::new(),
            waiting_for: BTreeSet::new(),
            rendered: false,
            owner,
        })
    }

    /// Renders from `store`'s data, subscribing to whatever the render read. An error is
    /// final only when every dependency it read had data (consul-template's first pass over
    /// empty data is not a result anyone relies on).
    pub(crate) fn evaluate(&mut self, store: &mut dyn Source) -> Outcome {
        let attempt = self.renderer.attempt(store.data());
        store.ensure(&attempt.used);
        store.ensure(&attempt.missing);
        self.watches = attempt
            .used
            .iter()
            .chain(&attempt.missing)
            .filter_map(|d| store.watch_of(d))
            .collect();
        let mut waiting: BTreeSet<Dependency> = attempt
            .used
            .iter()
            .filter(|d| !store.arrived(d))
            .cloned()
            .collect();
        waiting.extend(attempt.missing.iter().cloned());
        self.used = attempt.used;
        if waiting.is_empty() {
            self.waiting_for.clear();
            return match attempt.output {
                Ok(out) => Outcome::Ready(out),
                Err(e) if self.spec.error_fatal == Some(false) => {
                    // `error_fatal = false`: logged, the template skipped until its data changes.
                    tracing::error!(template = %self.spec.name(), error = %e, "render failed");
                    Outcome::Waiting
                }
                Err(e) => Outcome::Failed(e),
            };
        }
        if waiting != self.waiting_for {
            let deps: Vec<String> = waiting.iter().map(describe).collect();
            tracing::info!(template = %self.spec.name(), "waiting for data: {}", deps.join(", "));
            self.waiting_for = waiting;
        }
        Outcome::Waiting
    }

    /// Writes `output` (or prints it in `dry` mode); returns whether the file changed.
    /// An empty output over a missing destination writes nothing (consul-template compares the
    /// render with the file's content, and a missing file reads as empty).
    pub async fn commit(&self, output: &str, dry: bool, health: &HealthRegistry) -> Result<bool> {
        let result = self.write(output, dry).await;
        crate::report::processed(
            health,
            "template",
            &self.spec.name(),
            &self.spec.destination,
            result.is_ok(),
        );
        result
    }

    async fn write(&self, output: &str, dry: bool) -> Result<bool> {
        let dest = &self.spec.destination;
        if output.is_empty() && !dest.exists() {
            return Ok(false);
        }
        let mut target = FileTarget::new(dest.clone());
        target.mode = self.spec.perms;
        target.backup = self.spec.backup;
        target.create_dest_dirs = self.spec.create_dest_dirs;
        target.command_timeout = self.spec.command_timeout;
        (target.uid, target.gid) = self.owner;
        let mode = if dry { SyncMode::Noop } else { SyncMode::Write };
        match sync_file(&target, output.as_bytes(), mode).await? {
            SyncOutcome::Unchanged => Ok(false),
            SyncOutcome::WouldChange { diff } => {
                print_dry(dest, output, &diff);
                Ok(true)
            }
            SyncOutcome::Written => {
                tracing::info!(template = %self.spec.name(), "rendered");
                Ok(true)
            }
        }
    }
}

/// consul-template's template id: hex SHA-256 of `source\0contents\0destination` (`source`
/// empty for inline contents).
fn template_id(spec: &TemplateSpec, contents: &str) -> String {
    use sha2::{Digest, Sha256};
    let source = match (&spec.contents, &spec.source) {
        (None, Some(p)) => p.display().to_string(),
        _ => String::new(),
    };
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(contents.as_bytes());
    h.update([0]);
    h.update(spec.destination.display().to_string().as_bytes());
    hex::encode(h.finalize())
}

/// `-dry`: `> dest` then the content, or a unified diff when the destination exists.
fn print_dry(dest: &Path, output: &str, diff: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let body = if dest.exists() && !diff.is_empty() {
        diff
    } else {
        output
    };
    let _ = writeln!(out, "> {}", dest.display());
    let _ = out.write_all(body.as_bytes());
    let _ = out.flush();
}
