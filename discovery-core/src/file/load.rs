//! Reading and flattening YAML and JSON files into keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{is_data_file, BACKEND};
use crate::{Error, Key, Result};

/// Reads every configured path (files, and data files under directories, recursively).
pub(super) fn load_all(paths: &[PathBuf]) -> Result<BTreeMap<Key, Bytes>> {
    let mut out = BTreeMap::new();
    for path in paths {
        for file in data_files(path)? {
            load_file(&file, &mut out)?;
        }
    }
    Ok(out)
}

/// `path` itself when it is a file, else the data files below it, sorted.
fn data_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let p = entry.map_err(|e| io(&dir, e))?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if is_data_file(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Parses one file (JSON by its `.json` extension, YAML otherwise) and flattens it into `out`.
fn load_file(path: &Path, out: &mut BTreeMap<Key, Bytes>) -> Result<()> {
    let text = std::fs::read(path).map_err(|e| io(path, e))?;
    let bad = |reason: String| Error::invalid_data(BACKEND, path.display().to_string(), reason);
    let is_json = path.extension().and_then(|e| e.to_str()) == Some("json");
    let value: yaml_serde::Value = if is_json {
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        yaml_serde::to_value(json).map_err(|e| bad(e.to_string()))?
    } else {
        yaml_serde::from_slice(&text).map_err(|e| bad(e.to_string()))?
    };
    flatten(&Key::root(), &value, out)
}

/// Adds the scalars of `value` under `prefix`: maps and lists nest, scalars become values.
fn flatten(prefix: &Key, value: &yaml_serde::Value, out: &mut BTreeMap<Key, Bytes>) -> Result<()> {
    use yaml_serde::Value;
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let segment = scalar_text(k).unwrap_or_default();
                flatten(&prefix.join(&segment), v, out)?;
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&prefix.join(&i.to_string()), v, out)?;
            }
        }
        Value::Tagged(tagged) => flatten(prefix, &tagged.value, out)?,
        scalar => {
            // A scalar at the top level of a file has no key to live at.
            if prefix.as_str() != "/" {
                let text = scalar_text(scalar).unwrap_or_default();
                out.insert(prefix.clone(), Bytes::from(text));
            }
        }
    }
    Ok(())
}

/// The text of a scalar (`true`, `8080`, `1.5`, `""` for null); `None` for maps and lists.
fn scalar_text(value: &yaml_serde::Value) -> Option<String> {
    use yaml_serde::Value;
    Some(match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Tagged(t) => return scalar_text(&t.value),
        Value::Sequence(_) | Value::Mapping(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(yaml: &str) -> BTreeMap<String, String> {
        let v: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        let mut out = BTreeMap::new();
        flatten(&Key::root(), &v, &mut out).unwrap();
        out.into_iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn nested_maps_lists_and_scalars() {
        let got = flat("a:\n  b: x\n  on: true\n  n: 8080\n  f: 1.5\n  z: ~\nl: [p, {q: r}]\n");
        let want: BTreeMap<String, String> = [
            ("/a/b", "x"),
            ("/a/on", "true"),
            ("/a/n", "8080"),
            ("/a/f", "1.5"),
            ("/a/z", ""),
            ("/l/0", "p"),
            ("/l/1/q", "r"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn leading_slash_keys_are_not_doubled() {
        let got = flat("/test/a: 1\n");
        assert_eq!(got.get("/test/a").map(String::as_str), Some("1"));
    }
}
