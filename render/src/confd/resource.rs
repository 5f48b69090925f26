//! confd template resources: `<confdir>/conf.d/**/*toml`, each a `[template]` table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use discovery_core::{parse_go_duration, Error, Key, Result};

use super::backend_table::{self, BackendConfig};
use super::output_format::OutputFormat;

/// One template resource as written in `conf.d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    /// The TOML file it came from (named in every error).
    pub file: PathBuf,
    /// The template file: `src` joined onto `<confdir>/templates`.
    pub src: PathBuf,
    /// The destination file.
    pub dest: PathBuf,
    /// Key prefixes, already joined onto the prefix (`path.Join(prefix, key)`).
    pub keys: Vec<Key>,
    /// The effective prefix (the global `-prefix` replaces the resource's, as in confd).
    pub prefix: String,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// File mode (`"0644"` is octal, `"420"` decimal, as Go's `ParseUint(s, 0, 32)`).
    pub mode: Option<u32>,
    /// Check command; `{{.src}}` is the staged file, `{{.dest}}` the destination.
    pub check_cmd: Option<String>,
    /// Reload command; `{{.src}}` is the staged file, `{{.dest}}` the destination.
    pub reload_cmd: Option<String>,
    /// The fork's `check_cmd_timeout` (a Go duration): beats the global `-command-timeout`;
    /// zero means no timeout, as in the fork.
    pub check_cmd_timeout: Option<Duration>,
    /// The fork's `reload_cmd_timeout`, as `check_cmd_timeout` for the reload command.
    pub reload_cmd_timeout: Option<Duration>,
    /// The fork's `min_reload_interval`: the reload command runs at most once per interval; a
    /// reload asked for sooner runs at the interval's end (the fork drops it).
    pub min_reload_interval: Option<Duration>,
    /// The fork's `output_format`: the rendered output must parse as it before it is written.
    pub output_format: Option<OutputFormat>,
    /// The fork's `[backend]` table: this resource reads from that backend instead of the
    /// global one (`None`: no table, or one naming no backend).
    pub backend: Option<BackendConfig>,
}

fn bad(file: &Path, key: &str, why: impl Into<String>) -> Error {
    Error::invalid_config(format!("{}: {key}", file.display()), why)
}

/// Go's `path.Join` for key paths: cleans `.`/`..`/`//`, keeps a leading `/`.
pub fn path_join(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("/");
    if joined.is_empty() {
        return String::new();
    }
    let rooted = joined.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Parses a mode as Go's `strconv.ParseUint(s, 0, 32)`: `0644`/`0o644` octal, `0x1a4` hex, else decimal.
pub fn parse_mode(s: &str) -> Option<u32> {
    let s = s.trim();
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (b, 2)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let digits = digits.replace('_', "");
    u32::from_str_radix(&digits, radix)
        .ok()
        .filter(|m| *m <= 0o7777)
}

/// The largest char boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Reads one resource file. `global_prefix` is confd's `-prefix`.
pub fn load_spec(
    file: &Path,
    template_dir: &Path,
    global_prefix: Option<&str>,
) -> Result<ResourceSpec> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
        path: file.display().to_string(),
        source: e,
    })?;
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = match e.span() {
            Some(s) => {
                let before = &text[..floor_char_boundary(&text, s.start)];
                let line = before.matches('\n').count() + 1;
                let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                    .chars()
                    .count()
                    + 1;
                format!(":{line}:{col}")
            }
            None => String::new(),
        };
        Error::invalid_config(
            format!("{}{at}", file.display()),
            e.message().trim_end().replace('\n', "; "),
        )
    })?;
    let table = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("template"))
        .and_then(|(_, v)| v.as_table())
        .ok_or_else(|| bad(file, "template", "missing [template] table"))?;
    let backend = match doc.iter().find(|(k, _)| k.eq_ignore_ascii_case("backend")) {
        None => None,
        Some((_, toml::Value::Table(t))) => backend_table::parse(file, t)?,
        Some((k, _)) => return Err(bad(file, k, "expected a [backend] table")),
    };
    let mut src = None;
    let mut dest = None;
    let mut keys = Vec::new();
    let mut prefix = String::new();
    let mut spec_uid = None;
    let mut spec_gid = None;
    let mut mode = None;
    let mut check_cmd = None;
    let mut reload_cmd = None;
    let mut check_cmd_timeout = None;
    let mut reload_cmd_timeout = None;
    let mut min_reload_interval = None;
    let mut output_format = None;
    let string = |k: &str, v: &toml::Value| -> Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(file, k, "expected a string"))
    };
    let id = |k: &str, v: &toml::Value| -> Result<u32> {
        v.as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| bad(file, k, "expected a non-negative integer"))
    };
    // The fork's duration keys: Go's `time.ParseDuration`; an empty string is "not set".
    let duration = |k: &str, v: &toml::Value| -> Result<Option<Duration>> {
        let text = string(k, v)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_go_duration(&text).map(Some).ok_or_else(|| {
            bad(
                file,
                k,
                format!(
                    "invalid duration: {text:?} (use Go duration format, e.g., \"30s\", \"1m\")"
                ),
            )
        })
    };
    for (k, v) in table {
        match k.to_ascii_lowercase().as_str() {
            "src" => src = Some(string(k, v)?),
            "dest" => dest = Some(string(k, v)?),
            "keys" => {
                keys = v
                    .as_array()
                    .ok_or_else(|| bad(file, k, "expected a list of strings"))?
                    .iter()
                    .map(|x| string(k, x))
                    .collect::<Result<_>>()?
            }
            "prefix" => prefix = string(k, v)?,
            "uid" => spec_uid = Some(id(k, v)?),
            "gid" => spec_gid = Some(id(k, v)?),
            "mode" => {
                let m = string(k, v)?;
                mode = Some(parse_mode(&m).ok_or_else(|| {
                    bad(
                        file,
                        k,
                        format!("invalid mode {m:?} (expected e.g. \"0644\")"),
                    )
                })?);
            }
            "check_cmd" => check_cmd = Some(string(k, v)?).filter(|s| !s.is_empty()),
            "reload_cmd" => reload_cmd = Some(string(k, v)?).filter(|s| !s.is_empty()),
            "check_cmd_timeout" => check_cmd_timeout = duration(k, v)?,
            "reload_cmd_timeout" => reload_cmd_timeout = duration(k, v)?,
            "min_reload_interval" => min_reload_interval = duration(k, v)?,
            "output_format" => {
                let name = string(k, v)?;
                if !name.is_empty() {
                    output_format =
                        Some(OutputFormat::parse(&name).map_err(|why| bad(file, k, why))?);
                }
            }
            other => tracing::warn!(file = %file.display(), key = other,
                "unknown key in template resource; ignored (confd ignores it too)"),
        }
    }
    let src = src
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(file, "src", "empty src template"))?;
    let dest = dest
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(file, "dest", "empty dest"))?;
    let prefix = match global_prefix {
        Some(g) if !g.is_empty() => g.to_owned(),
        _ => prefix,
    };
    // confd: `if !strings.HasPrefix(prefix, "/") { prefix = "/" + prefix }`; not cleaned, as
    // the memkv names are `path.Join("/", strings.TrimPrefix(key, prefix))` with this prefix.
    let prefix = if prefix.starts_with('/') {
        prefix
    } else {
        format!("/{prefix}")
    };
    let keys = keys
        .iter()
        .map(|k| Key::new(path_join(&[&prefix, k])).map_err(|e| bad(file, "keys", e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    // `filepath.Join(templateDir, src)`: an absolute src is still joined.
    let src_rel = src.trim_start_matches('/');
    Ok(ResourceSpec {
        file: file.to_owned(),
        src: template_dir.join(src_rel),
        dest: PathBuf::from(dest),
        keys,
        prefix,
        uid: spec_uid,
        gid: spec_gid,
        mode,
        check_cmd,
        reload_cmd,
        check_cmd_timeout,
        reload_cmd_timeout,
        min_reload_interval: min_reload_interval.filter(|d| !d.is_zero()),
        output_format,
        backend,
    })
}

/// Every `*toml` file under `dir`, recursively, sorted (confd walks the tree the same way).
pub fn resource_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::Io {
            path: d.display().to_string(),
            source: e,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("toml"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_join() {
        assert_eq!(path_join(&["/", "app"]), "/app");
        assert_eq!(path_join(&["/app", "/upstream/"]), "/app/upstream");
        assert_eq!(path_join(&["/", ""]), "/");
        assert_eq!(path_join(&["/a", "../b"]), "/b");
    }

    #[test]
    fn modes_parse_like_go() {
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("420"), Some(0o644));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode("rw-r--r--"), None);
        assert_eq!(parse_mode("99999"), None);
    }

    #[test]
    fn resource_fields_and_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("nginx.toml");
        std::fs::write(&f, "[template]\nsrc = \"nginx.tmpl\"\ndest = \"/tmp/nginx.conf\"\nkeys = [\"/upstream\"]\nprefix = \"app\"\nmode = \"0640\"\ncheck_cmd = \"nginx -t -c {{.src}}\"\nowner = \"x\"\n").unwrap();
        let spec = load_spec(&f, Path::new("/etc/confd/templates"), None).unwrap();
        assert_eq!(spec.src, Path::new("/etc/confd/templates/nginx.tmpl"));
        assert_eq!(spec.keys, [Key::new("/app/upstream").unwrap()]);
        assert_eq!(spec.mode, Some(0o640));
        let global = load_spec(&f, Path::new("/t"), Some("/other")).unwrap();
        assert_eq!(global.keys, [Key::new("/other/upstream").unwrap()]);

        std::fs::write(&f, "[template]\ndest = \"/tmp/x\"\n").unwrap();
        let e = load_spec(&f, Path::new("/t"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nginx.toml") && e.contains("src"), "{e}");
        std::fs::write(
            &f,
            "[template]\nsrc = \"a\"\ndest = \"/tmp/x\"\nmode = \"rw\"\n",
        )
        .unwrap();
        let e = load_spec(&f, Path::new("/t"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nginx.toml") && e.contains("mode"), "{e}");
        std::fs::write(&f, "[template]\nsrc = \"a\n").unwrap();
        let e = load_spec(&f, Path::new("/t"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nginx.toml:2:9"), "{e}");
    }

    /// The fork's keys (docs/template-resources.md): Go durations and `output_format`.
    #[test]
    fn fork_keys_parse_and_bad_values_name_the_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("app.toml");
        let base = "[template]\nsrc = \"a\"\ndest = \"/tmp/x\"\n";
        std::fs::write(
            &f,
            format!("{base}check_cmd_timeout = \"1m30s\"\nreload_cmd_timeout = \"500ms\"\nmin_reload_interval = \"30s\"\noutput_format = \"yml\"\n"),
        )
        .unwrap();
        let spec = load_spec(&f, Path::new("/t"), None).unwrap();
        assert_eq!(spec.check_cmd_timeout, Some(Duration::from_secs(90)));
        assert_eq!(spec.reload_cmd_timeout, Some(Duration::from_millis(500)));
        assert_eq!(spec.min_reload_interval, Some(Duration::from_secs(30)));
        assert_eq!(spec.output_format, Some(OutputFormat::Yaml));

        std::fs::write(&f, format!("{base}output_format = \"ini\"\n")).unwrap();
        let e = load_spec(&f, Path::new("/t"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("app.toml: output_format") && e.contains("unknown output format: \"ini\""),
            "{e}"
        );
        std::fs::write(&f, format!("{base}check_cmd_timeout = \"30\"\n")).unwrap();
        let e = load_spec(&f, Path::new("/t"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("app.toml: check_cmd_timeout") && e.contains("invalid duration: \"30\""),
            "{e}"
        );
    }
}
