//! Every compat case whose template uses only Go builtins, run through the engine alone
//! (nil dot, empty FuncMap) and compared byte for byte with the real tool's output.

use std::path::{Path, PathBuf};

use discovery_render::func::FuncMap;
use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
use minijinja::Value;

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

/// Cases whose templates call no confd/consul-template function.
const BUILTIN_ONLY: &[&str] = &[
    "confd/072-dot-is-nil",
    "confd/076-and-or-values",
    "confd/080-compare-ints",
    "confd/082-eq-incompatible-error",
    "confd/084-len-error",
    "confd/088-printf-verbs",
    "confd/090-print-println",
    "confd/094-trim-markers",
    "confd/095-trim-marker-needs-space",
    "confd/097-comments",
    "confd/098-comment-needs-adjacency",
    "confd/100-template-no-arg",
    "confd/103-range-int-error",
    "confd/105-number-literals",
    "confd/106-string-literal-escapes",
    "confd/110-literal-braces-in-template",
    "confd/113-empty-output",
    "confd/116-unknown-function-error",
    "consul-template/064-printf-print",
    "consul-template/065-dot-is-nil",
    "consul-template/076-unknown-function-error",
    "consul-template/077-unclosed-action-error",
];

fn run_case(rel: &str) -> Result<(), String> {
    let dir = compat_dir().join(rel);
    let src = std::fs::read_to_string(dir.join("template.tmpl"))
        .map_err(|e| format!("{rel}: cannot read template: {e}"))?;
    let confd = rel.starts_with("confd/");
    let (name, missing) = if confd {
        ("template.tmpl", MissingKey::Default)
    } else {
        ("", MissingKey::Zero)
    };
    let funcs = FuncMap::new();
    let result = GoTemplate::parse(name, &src, &funcs, &ParseOptions::default())
        .and_then(|t| t.execute(&Value::UNDEFINED, &funcs, &(), missing));
    if let Ok(want) = std::fs::read(dir.join("expected.out")) {
        let got = result.map_err(|e| format!("{rel}: unexpected error {e}"))?;
        if got.as_bytes() != want.as_slice() {
            return Err(format!(
                "{rel}: output differs\n got: {got:?}\nwant: {:?}",
                String::from_utf8_lossy(&want)
            ));
        }
        return Ok(());
    }
    let err = std::fs::read_to_string(dir.join("expected.err"))
        .map_err(|e| format!("{rel}: no expected.out nor expected.err: {e}"))?;
    let needle = err.lines().nth(1).unwrap_or_default();
    match result {
        Ok(out) => Err(format!(
            "{rel}: expected error {needle:?}, got output {out:?}"
        )),
        Err(e) if e.to_string().contains(needle) => Ok(()),
        Err(e) => Err(format!("{rel}: error {e} does not contain {needle:?}")),
    }
}

#[test]
fn builtin_only_compat_cases_match_the_go_tools() {
    let dir = compat_dir();
    assert!(dir.is_dir(), "compat folder missing: {}", dir.display());
    let failures: Vec<String> = BUILTIN_ONLY
        .iter()
        .filter_map(|c| run_case(c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Keeps the list honest: every other case calls a dialect function, so parsing it without
/// functions fails with Go's `function "X" not defined`.
#[test]
fn builtin_only_list_is_complete() {
    let mut missing_from_list = Vec::new();
    let mut wrongly_listed = Vec::new();
    for tool in ["confd", "consul-template"] {
        let mut entries: Vec<_> = std::fs::read_dir(compat_dir().join(tool))
            .expect("compat folder")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        entries.sort();
        for case in entries {
            let rel = format!("{tool}/{case}");
            let src = std::fs::read_to_string(compat_dir().join(&rel).join("template.tmpl"))
                .expect("template.tmpl");
            let parsed = GoTemplate::parse("t", &src, &FuncMap::new(), &ParseOptions::default());
            let listed = BUILTIN_ONLY.contains(&rel.as_str());
            match parsed {
                Err(e)
                    if e.message.ends_with("not defined") && e.message.starts_with("function ") =>
                {
                    let is_unknown_fn_case = rel.ends_with("unknown-function-error");
                    if listed && !is_unknown_fn_case {
                        wrongly_listed.push(rel);
                    }
                }
                _ => {
                    if !listed {
                        missing_from_list.push(rel);
                    }
                }
            }
        }
    }
    assert!(
        missing_from_list.is_empty(),
        "builtin-only cases not listed: {missing_from_list:?}"
    );
    assert!(
        wrongly_listed.is_empty(),
        "listed cases that call dialect functions: {wrongly_listed:?}"
    );
}
