//! abtreece/confd's `-check-config` and `-validate`: check `conf.d` and the templates without a
//! backend and without touching any destination.

use std::path::{Path, PathBuf};

use discovery_core::{Error, KvView, Result};

use super::options::ConfdOptions;
use super::process::{dest_dir_exists, Resource};
use super::resource::{load_spec, resource_files};

/// The resource files to check: `only` (relative to `conf.d`, as the fork's `-resource`) or
/// every `*toml` under `conf.d`.
fn files(cfg: &ConfdOptions, only: Option<&Path>) -> Result<Vec<PathBuf>> {
    match only {
        Some(f) => {
            let path = if f.is_absolute() {
                f.to_owned()
            } else {
                cfg.resource_dir().join(f)
            };
            if path.is_file() {
                Ok(vec![path])
            } else {
                Err(Error::invalid_config(
                    "resource",
                    format!("resource file not found: {}", path.display()),
                ))
            }
        }
        None => resource_files(&cfg.resource_dir()),
    }
}

/// Loads the resources of `files`: each TOML file and its template (parsed as the runner
/// parses it); the errors of those that fail.
fn load(cfg: &ConfdOptions, files: Vec<PathBuf>) -> (Vec<Resource>, Vec<Error>) {
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for file in files {
        match load_spec(&file, &cfg.template_dir(), cfg.prefix.as_deref())
            .and_then(|spec| Resource::load_in(spec, cfg))
        {
            Ok(r) => ok.push(r),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// `-check-config`: every resource file (or `only`) parses, names a template that exists and
/// parses, has keys, and a destination whose directory exists (the fork's checks). Every
/// problem found, none when all is well.
pub fn check_config(cfg: &ConfdOptions, only: Option<&Path>) -> Vec<Error> {
    let files = match files(cfg, only) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let (resources, mut errors) = load(cfg, files);
    for r in &resources {
        let file = r.spec.file.display();
        if r.spec.keys.is_empty() {
            errors.push(Error::invalid_config(
                format!("{file}: keys"),
                "required field is missing or empty",
            ));
        }
        if !dest_dir_exists(&r.spec.dest) {
            errors.push(Error::invalid_config(
                format!("{file}: dest"),
                format!(
                    "destination directory does not exist: {}",
                    r.spec
                        .dest
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
            ));
        }
    }
    errors
}

/// `-validate`: every resource (or `only`) loads; with `mock` (the `-mock-data` keys), each is
/// also rendered from it and its output checked against its `output_format`. Nothing is
/// written and no command runs. Every problem found, none when all is well.
pub async fn validate(
    cfg: &ConfdOptions,
    only: Option<&Path>,
    mock: Option<&dyn KvView>,
) -> Vec<Error> {
    let files = match files(cfg, only) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let (resources, mut errors) = load(cfg, files);
    let Some(kv) = mock else {
        return errors;
    };
    for r in &resources {
        let rendered = match kv.list(&r.spec.keys).await {
            Ok(snap) => r.template.render_store(&r.template.store(&snap)),
            Err(e) => Err(e),
        };
        match rendered {
            Ok(out) => {
                if let Some(format) = r.spec.output_format {
                    if let Err(e) = format.validate(&r.spec.file.display().to_string(), &out.output)
                    {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// abtreece/confd's `-preflight`: loads every resource and reads its keys from `kv` once;
/// nothing is rendered or written. The first resource that does not load, or whose keys cannot
/// be read, is the error. Returns how many resources were checked.
pub async fn preflight(cfg: &ConfdOptions, kv: &dyn KvView) -> Result<usize> {
    let (resources, errors) = super::process::load_resources(cfg);
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    for r in &resources {
        kv.list(r.template.fetches()).await?;
        tracing::info!(resource = %r.name(), "preflight: keys readable");
    }
    Ok(resources.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use discovery_core::{Key, KvStore, MemoryBackend};

    use super::*;
    use crate::confd::options::Mode;

    fn confdir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("conf.d")).unwrap();
        std::fs::create_dir_all(d.path().join("templates")).unwrap();
        d
    }

    fn resource(d: &Path, name: &str, extra: &str, template: &str) -> PathBuf {
        let dest = d.join(format!("{name}.out"));
        std::fs::write(
            d.join(format!("conf.d/{name}.toml")),
            format!(
                "[template]\nsrc = \"{name}.tmpl\"\ndest = \"{}\"\nkeys = [\"/app\"]\n{extra}",
                dest.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join(format!("templates/{name}.tmpl")), template).unwrap();
        dest
    }

    fn texts(errors: Vec<Error>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn check_config_names_the_file_and_position_of_each_problem() {
        let d = confdir();
        let cfg = ConfdOptions::new(Mode::Onetime, d.path());
        resource(d.path(), "good", "", "{{getv \"/app/x\"}}\n");
        assert!(check_config(&cfg, None).is_empty());
        resource(d.path(), "bad", "", "line one\n{{getv \"/app/x\"\n");
        std::fs::write(d.path().join("conf.d/toml.toml"), "[template]\nsrc = \"a\n").unwrap();
        std::fs::write(
            d.path().join("conf.d/nodir.toml"),
            "[template]\nsrc = \"good.tmpl\"\ndest = \"/nonexistent-dir/x\"\n",
        )
        .unwrap();
        let errs = texts(check_config(&cfg, None));
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("bad.tmpl:3: unclosed action")),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.contains("toml.toml:2:9")), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.contains("nodir.toml: keys")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("nodir.toml: dest") && e.contains("/nonexistent-dir")),
            "{errs:?}"
        );
        // `-resource` checks one file only.
        assert!(check_config(&cfg, Some(Path::new("good.toml"))).is_empty());
        let e = texts(check_config(&cfg, Some(Path::new("none.toml"))));
        assert!(e[0].contains("resource file not found"), "{e:?}");
    }

    #[tokio::test]
    async fn validate_renders_from_mock_keys_and_writes_nothing() {
        let d = confdir();
        let cfg = ConfdOptions::new(Mode::Onetime, d.path());
        let dest = resource(
            d.path(),
            "app",
            "output_format = \"json\"\nreload_cmd = \"touch reloaded\"\n",
            "{\"port\": {{getv \"/app/port\"}}}\n",
        );
        let kv = MemoryBackend::new();
        assert!(validate(&cfg, None, None).await.is_empty(), "parse only");
        let errs = texts(validate(&cfg, None, Some(&kv as &dyn KvView)).await);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("app.tmpl:1:") && errs[0].contains("/app/port"),
            "{errs:?}"
        );
        kv.put(&Key::new("/app/port").unwrap(), "80,".into(), None)
            .await
            .unwrap();
        let errs = texts(validate(&cfg, None, Some(&kv as &dyn KvView)).await);
        assert!(
            errs.len() == 1 && errs[0].contains("app.toml:1:") && errs[0].contains("(json)"),
            "{errs:?}"
        );
        kv.put(&Key::new("/app/port").unwrap(), "80".into(), None)
            .await
            .unwrap();
        let kv: Arc<dyn KvView> = Arc::new(kv);
        assert!(validate(&cfg, None, Some(kv.as_ref())).await.is_empty());
        assert!(!dest.exists(), "nothing written");
    }
}
