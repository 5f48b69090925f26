//! The Rust side of the differential test against Go's `text/template`
//! (`fuzz/differential/run.sh`): reads cases (`{"src": ..., "missing": ""|"zero"|"error"}`, one JSON
//! object a line) on stdin, renders each with a nil dot and the same functions as the Go oracle,
//! and writes `{"out": ..., "err": ...}` lines to stdout.

#[path = "../tests/gotmpl_common/mod.rs"]
mod common;

use std::io::{BufRead, Write};

use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
use minijinja::Value;

#[derive(serde::Deserialize)]
struct Case {
    src: String,
    #[serde(default)]
    missing: String,
}

#[derive(serde::Serialize)]
struct Res {
    out: String,
    err: String,
}

fn run(c: &Case) -> Res {
    let funcs = common::test_funcs();
    let missing = match c.missing.as_str() {
        "zero" => MissingKey::Zero,
        "error" => MissingKey::Error,
        _ => MissingKey::Default,
    };
    let done = GoTemplate::parse("t", &c.src, &funcs, &ParseOptions::default()).and_then(|t| {
        t.execute(
            &Value::UNDEFINED,
            &funcs,
            &common::Store(Default::default()),
            missing,
        )
    });
    match done {
        Ok(out) => Res {
            out,
            err: String::new(),
        },
        Err(e) => Res {
            out: String::new(),
            err: e.to_string(),
        },
    }
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let line = line?;
        let case: Case = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        serde_json::to_writer(&mut out, &run(&case)).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
