//! abtreece/confd's `include "name" [data]` (`pkg/template/include.go`): renders another
//! template file of the templates directory with the same functions and returns its output.
//!
//! As in the fork: `name` is joined onto the templates directory and cleaned lexically, and a
//! result outside it (or the directory itself) is refused; the included template gets `data`
//! as its dot, or nil without it (not the caller's dot); included templates may include others
//! up to 10 deep, and including a file that is already being included is an error naming it.
//! The templates directory comes from [`crate::TemplateOptions::include_dir`] (the confd
//! runner sets `<confdir>/templates`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use minijinja::value::Value;

use super::ConfdState;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::{path_base, path_clean, path_join};
use crate::gotmpl::{GoTemplate, MissingKey, ParseOptions};

/// The fork's `maxIncludeDepth`.
const MAX_INCLUDE_DEPTH: usize = 10;

/// One render's includes: the files being included, outermost first (the fork's
/// `IncludeContext`), and the files parsed so far (each is read and parsed once per render, so
/// an `include` inside a `range` does not parse the file for every item).
#[derive(Debug, Default)]
pub(crate) struct Includes {
    stack: Mutex<Vec<String>>,
    parsed: Mutex<HashMap<String, GoTemplate>>,
}

impl Includes {
    /// Enters `path`: refused when it is already being included or the stack is full.
    fn push(&self, path: &str) -> Result<(), FuncError> {
        let mut stack = self.stack.lock().unwrap_or_else(|e| e.into_inner());
        if stack.iter().any(|p| p == path) {
            return Err(FuncError::new(format!(
                "include cycle detected: {path} is already being processed"
            )));
        }
        if stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(FuncError::new(format!(
                "maximum include depth ({MAX_INCLUDE_DEPTH}) exceeded"
            )));
        }
        stack.push(path.to_owned());
        Ok(())
    }

    /// Leaves the innermost include.
    fn pop(&self) {
        self.stack.lock().unwrap_or_else(|e| e.into_inner()).pop();
    }

    /// The template at `path`, read and parsed with `funcs` the first time it is asked for.
    fn template(&self, funcs: &FuncMap, name: &str, path: &str) -> Result<GoTemplate, FuncError> {
        let cached = self
            .parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned();
        if let Some(t) = cached {
            return Ok(t);
        }
        let source = std::fs::read_to_string(path)
            .map_err(|e| FuncError::new(format!("include {name}: {}", read_error(path, &e))))?;
        let t = GoTemplate::parse(&path_base(path), &source, funcs, &ParseOptions::default())
            .map_err(|e| FuncError::new(format!("parse include {name}: {e}")))?;
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), t.clone());
        Ok(t)
    }
}

/// `filepath.Clean(filepath.Join(dir, name))` when it lies strictly inside `dir` (the fork's
/// `isPathWithin`), else `None`. An absolute `name` is joined like any other, as Go's
/// `filepath.Join` does.
fn resolve(dir: &str, name: &str) -> Option<String> {
    let dir = path_clean(dir);
    let path = path_clean(&path_join(&[&dir, name]));
    let rel = if dir == "." {
        Some(path.as_str()).filter(|p| !p.starts_with('/'))
    } else if dir == "/" {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(&dir).and_then(|r| r.strip_prefix('/'))
    };
    match rel {
        Some(r) if !r.is_empty() && r != "." && r != ".." && !r.starts_with("../") => Some(path),
        _ => None,
    }
}

/// Go's `os.ReadFile` error text: `open PATH: no such file or directory`.
fn read_error(path: &str, e: &std::io::Error) -> String {
    if Path::new(path).is_dir() {
        return format!("read {path}: is a directory");
    }
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    let lowered: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("open {path}: {lowered}")
}

/// Executes the included file at `path` (already pushed on the stack) with `dot`.
fn render_file(state: &ConfdState, name: &str, path: &str, dot: &Value) -> FuncResult {
    let template = state.includes.template(state.funcs, name, path)?;
    let out = template
        .execute(dot, state.funcs, state, MissingKey::Default)
        .map_err(|e| FuncError {
            message: format!("execute include {name}: {e}"),
            key: e.key.clone(),
        })?;
    Ok(out.into())
}

fn include(ctx: &CallCtx<'_>, a: &[Value]) -> FuncResult {
    let name = arg_str(a, 0)?;
    let state = ctx
        .state::<ConfdState>()
        .ok_or_else(|| FuncError::new("include: not a confd template render"))?;
    let Some(dir) = &state.include_dir else {
        return Err(FuncError::new(format!(
            "include {name}: no templates directory is set"
        )));
    };
    let path = resolve(&dir.to_string_lossy(), name).ok_or_else(|| {
        FuncError::new(format!(
            "include path {} is outside template directory",
            crate::gofmt::quote(name)
        ))
    })?;
    state.includes.push(&path)?;
    let dot = a.get(1).cloned().unwrap_or(Value::UNDEFINED);
    let result = render_file(state, name, &path, &dot);
    state.includes.pop();
    result
}

/// Registers `include`.
pub(super) fn register(funcs: &mut FuncMap) {
    funcs.insert("include", Arity::at_least(1), include);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use discovery_core::{Key, KvPair, KvSnapshot, RenderData, Renderer, Revision};

    use super::resolve;
    use crate::{ConfdTemplate, Dialect, Template, TemplateOptions};

    /// Renders `source` with templates directory `dir` and key `/app/port` = 8080.
    fn render_with(dir: &Path, source: &str) -> String {
        let mut kv = KvSnapshot::default();
        let key = Key::new("/app/port").unwrap();
        let pair = KvPair {
            key: key.clone(),
            value: "8080".into(),
            mod_revision: Revision(1),
        };
        kv.pairs.insert(key, pair);
        let opts = TemplateOptions::new(Dialect::Confd)
            .name("main.tmpl")
            .include_dir(dir);
        let t = Template::parse(source, opts).unwrap();
        match ConfdTemplate::new(t, "/", vec!["/app".into()]).render(&RenderData::from_kv(kv)) {
            Ok(r) => r.output,
            Err(e) => e.to_string(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    // TestIsPathWithin-style cases of the fork's include.go.
    #[test]
    fn paths_stay_in_the_templates_dir() {
        let d = "/etc/confd/templates";
        assert_eq!(
            resolve(d, "a.tmpl").as_deref(),
            Some("/etc/confd/templates/a.tmpl")
        );
        assert_eq!(
            resolve(d, "partials/../b.tmpl").as_deref(),
            Some("/etc/confd/templates/b.tmpl")
        );
        // filepath.Join makes an absolute name relative to the directory.
        assert_eq!(
            resolve(d, "/etc/passwd").as_deref(),
            Some("/etc/confd/templates/etc/passwd")
        );
        for outside in [
            "../secret",
            "a/../../x",
            "..",
            "",
            ".",
            "../templates-other/x",
        ] {
            assert_eq!(resolve(d, outside), None, "{outside:?}");
        }
        assert_eq!(resolve("templates", "x").as_deref(), Some("templates/x"));
        assert_eq!(resolve("templates", "../x"), None);
        assert_eq!(resolve(".", "x").as_deref(), Some("x"));
        assert_eq!(resolve(".", "../x"), None);
    }

    // docs/templates.md "include": header, data context, subdirectories, nesting.
    #[test]
    fn includes_with_data_and_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "header.tmpl", "# port {{getv \"/app/port\"}}\n");
        write(
            d,
            "partials/server.tmpl",
            "listen {{.Port}}; {{include \"partials/name.tmpl\" .}}",
        );
        write(d, "partials/name.tmpl", "name {{.Name}};");
        write(d, "dot.tmpl", "[{{.}}]");
        assert_eq!(
            render_with(d, "{{include \"header.tmpl\"}}{{include \"partials/server.tmpl\" (dict \"Port\" 80 \"Name\" \"web\")}}"),
            "# port 8080\nlisten 80; name web;"
        );
        // Without data the dot is nil, not the caller's.
        assert_eq!(
            render_with(d, "{{with $x := \"outer\"}}{{include \"dot.tmpl\"}}{{end}}"),
            "[<no value>]"
        );
        assert_eq!(render_with(d, "{{include \"dot.tmpl\" \"v\"}}"), "[v]");
        // The same file again and again (parsed once per render).
        assert_eq!(
            render_with(d, "{{range seq 1 3}}{{include \"dot.tmpl\" .}}{{end}}"),
            "[1][2][3]"
        );
    }

    #[test]
    fn errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "a.tmpl", "a{{include \"b.tmpl\"}}");
        write(d, "b.tmpl", "b{{include \"a.tmpl\"}}");
        write(d, "self.tmpl", "{{include \"self.tmpl\"}}");
        write(d, "bad.tmpl", "{{nosuch}}");
        write(d, "fail.tmpl", "{{getv \"/nope\"}}");
        let cycle = render_with(d, "{{include \"a.tmpl\"}}");
        let a = d.join("a.tmpl").display().to_string();
        assert!(
            cycle.contains(&format!(
                "include cycle detected: {a} is already being processed"
            )),
            "{cycle}"
        );
        assert!(render_with(d, "{{include \"self.tmpl\"}}").contains("include cycle detected"));
        let escape = render_with(d, "{{include \"../x.tmpl\"}}");
        assert!(
            escape.contains(
                r#"error calling include: include path "../x.tmpl" is outside template directory"#
            ),
            "{escape}"
        );
        let missing = render_with(d, "{{include \"none.tmpl\"}}");
        let none = d.join("none.tmpl").display().to_string();
        assert!(
            missing.contains(&format!(
                "include none.tmpl: open {none}: no such file or directory"
            )),
            "{missing}"
        );
        assert!(render_with(d, "{{include \"bad.tmpl\"}}").contains(
            r#"parse include bad.tmpl: template: bad.tmpl:1: function "nosuch" not defined"#
        ));
        let failed = render_with(d, "{{include \"fail.tmpl\"}}");
        assert!(
            failed.contains(
                "execute include fail.tmpl: template: fail.tmpl:1:2: executing \"fail.tmpl\""
            ) && failed.contains("key does not exist: /nope"),
            "{failed}"
        );
    }

    #[test]
    fn depth_is_limited_to_ten() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..11 {
            write(
                d,
                &format!("{i}.tmpl"),
                &format!("{i}{{{{include \"{}.tmpl\"}}}}", i + 1),
            );
        }
        write(d, "11.tmpl", "end");
        let out = render_with(d, "{{include \"0.tmpl\"}}");
        assert!(out.contains("maximum include depth (10) exceeded"), "{out}");
        // Ten levels render.
        write(d, "9.tmpl", "9");
        assert_eq!(render_with(d, "{{include \"0.tmpl\"}}"), "0123456789");
    }

    #[test]
    fn without_a_templates_dir_include_fails() {
        let t = Template::parse("{{include \"x\"}}", TemplateOptions::new(Dialect::Confd)).unwrap();
        let err = ConfdTemplate::new(t, "/", vec![])
            .render(&RenderData::default())
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("include x: no templates directory is set"));
    }
}
