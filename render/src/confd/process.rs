//! Processing template resources: render from a snapshot, sync the file, collect reloads.

use std::path::Path;
use std::sync::Arc;

use discovery_core::{Error, KvView, Result};

use super::backend_table::Opened;
use super::commands::{effective_timeout, Reload};
use super::options::ConfdOptions;
use super::resource::ResourceSpec;
use super::{ConfdStore, ConfdTemplate};
use crate::sync::{expand_paths, sync_file_staged, FileTarget, Fsync, SyncMode, SyncOutcome};
use crate::{Dialect, Syntax, Template, TemplateOptions};

/// A resource with its parsed template.
#[derive(Debug)]
pub struct Resource {
    /// What the TOML file says.
    pub spec: ResourceSpec,
    /// The template, parsed once and bound to the resource's prefix and keys.
    pub template: ConfdTemplate,
    /// The backend of its `[backend]` table once the runner opened it (`None`: the global one).
    pub(crate) backend: Option<Opened>,
}

impl Resource {
    /// Loads the template of `spec` as `cfg` says: `include` reads `cfg`'s templates
    /// directory, and [`ConfdOptions::fork_functions`] picks [`Dialect::ConfdFork`]. A missing
    /// template gives confd's `Missing template: <src>`.
    pub fn load_in(spec: ResourceSpec, cfg: &ConfdOptions) -> Result<Resource> {
        let dialect = if cfg.fork_functions {
            Dialect::ConfdFork
        } else {
            Dialect::Confd
        };
        if !spec.src.exists() {
            return Err(Error::invalid_config(
                spec.file.display().to_string(),
                format!("Missing template: {}", spec.src.display()),
            ));
        }
        let name = spec
            .src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let opts = TemplateOptions::new(dialect)
            .name(name)
            .syntax(Syntax::from_path(&spec.src))
            .include_dir(cfg.template_dir());
        // `spec.keys` are already `path.Join(prefix, key)`: the very keys `list` reads.
        let template = ConfdTemplate::with_fetches(
            Template::load(&spec.src, opts)?,
            &spec.prefix,
            spec.keys.clone(),
        );
        Ok(Resource {
            spec,
            template,
            backend: None,
        })
    }

    /// The backend this resource reads: its own, or `global`.
    pub(crate) fn kv<'a>(&'a self, global: &'a Arc<dyn KvView>) -> &'a Arc<dyn KvView> {
        self.backend.as_ref().map_or(global, |b| &b.kv)
    }

    /// Which backend it reads: 0 for the global one, else one id per distinct `[backend]`.
    pub(crate) fn backend_id(&self) -> usize {
        self.backend.as_ref().map_or(0, |b| b.id)
    }

    /// A short name for logs: the TOML file's name.
    pub fn name(&self) -> String {
        self.spec
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn target(&self, cfg: &ConfdOptions, fsync: Fsync) -> FileTarget {
        let mut t = FileTarget::new(&self.spec.dest);
        t.mode = self.spec.mode;
        t.uid = self.spec.uid;
        t.gid = self.spec.gid;
        t.check_cmd = self.spec.check_cmd.clone();
        t.keep_stage_file = cfg.keep_stage_file;
        t.command_timeout = effective_timeout(
            self.spec.check_cmd_timeout,
            effective_timeout(cfg.check_cmd_timeout, cfg.command_timeout),
        );
        t.fsync = fsync;
        t.diff = cfg.diff;
        t
    }

    /// The reload due after this resource's destination was written from `staged`.
    fn reload(&self, cfg: &ConfdOptions, staged: Option<&Path>) -> Option<Reload> {
        let cmd = self.spec.reload_cmd.as_deref().filter(|_| !cfg.sync_only)?;
        let staged = staged.unwrap_or(&self.spec.dest);
        Some(Reload {
            resource: self.spec.file.clone(),
            command: expand_paths(cmd, staged, &self.spec.dest),
            timeout: effective_timeout(
                self.spec.reload_cmd_timeout,
                effective_timeout(cfg.reload_cmd_timeout, cfg.command_timeout),
            ),
            min_interval: self.spec.min_reload_interval,
        })
    }
}

/// What processing one resource did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Output identical to the destination.
    Unchanged,
    /// `-noop`: it would change (the diff was printed).
    WouldChange,
    /// The destination was replaced; its reload command (if any, and not `-sync-only`) is due.
    Written {
        /// The reload to run.
        reload: Option<Reload>,
    },
}

/// Renders `resource` from `store` (its view of the keys) and syncs its destination, in confd's order, making a written
/// file durable as `fsync` says (watch mode passes [`Fsync::Never`] and has its reload worker
/// fsync instead of `-fsync after`). A failing check leaves the destination untouched and
/// returns the error (the next change retries).
#[tracing::instrument(level = "debug", skip_all, fields(resource = %resource.name(), dest = %resource.spec.dest.display()))]
pub async fn process(
    resource: &Resource,
    store: &ConfdStore,
    cfg: &ConfdOptions,
    fsync: Fsync,
) -> Result<Processed> {
    let result = render_and_sync(resource, store, cfg, fsync).await;
    crate::report::processed(
        &cfg.health,
        "resource",
        &resource.name(),
        &resource.spec.dest,
        result.is_ok(),
    );
    result
}

async fn render_and_sync(
    resource: &Resource,
    store: &ConfdStore,
    cfg: &ConfdOptions,
    fsync: Fsync,
) -> Result<Processed> {
    let started = std::time::Instant::now();
    let rendered = resource.template.render_store(store);
    metrics::histogram!("discovery_render_seconds").record(started.elapsed().as_secs_f64());
    let rendered = rendered?;
    if let Some(format) = resource.spec.output_format {
        // The fork validates the staged file before any compare: a bad render never lands.
        format
            .validate(&resource.spec.file.display().to_string(), &rendered.output)
            .inspect_err(|e| {
                tracing::error!(resource = %resource.name(), format = %format, error = %e,
                    "rendered output is not valid {format}; keeping the old file")
            })?;
    }
    let mode = if cfg.noop {
        SyncMode::Noop
    } else if cfg.sync_only {
        SyncMode::SyncOnly
    } else {
        SyncMode::Write
    };
    let target = resource.target(cfg, fsync);
    let (outcome, staged) = sync_file_staged(&target, rendered.output.as_bytes(), mode)
        .await
        .inspect_err(|e| {
            if let Error::Command {
                what: "check_cmd",
                command,
                reason,
            } = e
            {
                tracing::error!(resource = %resource.name(), command = %command, reason = %reason,
                    timeout_ms = target.command_timeout.as_millis() as u64,
                    "check_cmd failed; keeping the old file");
            }
        })?;
    let elapsed_us = started.elapsed().as_micros() as u64;
    Ok(match outcome {
        SyncOutcome::Unchanged => {
            tracing::debug!(resource = %resource.name(), elapsed_us, "target config in sync");
            Processed::Unchanged
        }
        SyncOutcome::WouldChange { diff } => {
            tracing::warn!(resource = %resource.name(), dest = %resource.spec.dest.display(),
                "noop mode: target config out of sync");
            print!("{diff}");
            Processed::WouldChange
        }
        SyncOutcome::Written => {
            tracing::info!(resource = %resource.name(), dest = %resource.spec.dest.display(),
                elapsed_us, "target config updated");
            Processed::Written {
                reload: resource.reload(cfg, staged.as_deref()),
            }
        }
    })
}

/// Loads every resource under `conf.d`; resources that fail to load are returned as errors and
/// the others still run.
pub fn load_resources(cfg: &ConfdOptions) -> (Vec<Resource>, Vec<Error>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let files = match super::resource::resource_files(&cfg.resource_dir()) {
        Ok(f) => f,
        Err(e) => return (ok, vec![e]),
    };
    for file in files {
        match super::resource::load_spec(&file, &cfg.template_dir(), cfg.prefix.as_deref())
            .and_then(|spec| Resource::load_in(spec, cfg))
        {
            Ok(r) => ok.push(r),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Whether `path` is inside a directory that exists (for clearer startup messages).
pub fn dest_dir_exists(path: &Path) -> bool {
    path.parent()
        .is_none_or(|p| p.as_os_str().is_empty() || p.is_dir())
}

#[cfg(test)]
mod tests {
    use discovery_core::{RenderData, Renderer};

    use super::load_resources;
    use crate::confd::options::{ConfdOptions, Mode};

    /// A resource loaded from a confdir can `include` from `<confdir>/templates`, and
    /// `fork_functions` switches to the fork's `seq`.
    #[test]
    fn resources_include_from_the_templates_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        std::fs::create_dir_all(d.join("templates/partials")).unwrap();
        let toml = format!(
            "[template]\nsrc = \"app.tmpl\"\ndest = \"{}\"\nkeys = [\"/app\"]\n",
            d.join("app.out").display()
        );
        std::fs::write(d.join("conf.d/app.toml"), toml).unwrap();
        std::fs::write(
            d.join("templates/app.tmpl"),
            "{{include \"partials/p.tmpl\" (seq 2 1)}}",
        )
        .unwrap();
        std::fs::write(d.join("templates/partials/p.tmpl"), "p={{.}}").unwrap();
        let mut cfg = ConfdOptions::new(Mode::Onetime, d);
        let render = |cfg: &ConfdOptions| {
            let (resources, errors) = load_resources(cfg);
            assert!(errors.is_empty(), "{errors:?}");
            resources[0]
                .template
                .render(&RenderData::default())
                .unwrap()
                .output
        };
        assert_eq!(render(&cfg), "p=[]");
        cfg.fork_functions = true;
        assert_eq!(render(&cfg), "p=[2 1]");
    }
}
