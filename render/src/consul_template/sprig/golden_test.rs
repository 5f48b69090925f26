//! Replays the Go oracle's goldens (`golden.jsonl`, written by `fuzz/differential/sprig/golden.sh`
//! from `cases.txt` with text/template and Sprig v3.3.0): every case's output must match byte
//! for byte, and every Go error must be an error here with Go's message.

use super::super::tests::render;

#[derive(serde::Deserialize)]
struct Golden {
    src: String,
    out: String,
    err: String,
}

/// Cases where this implementation knowingly differs, with the reason (see COMPATIBILITY.md).
const KNOWN: &[(&str, &str)] = &[
    (
        r##"{{sprig_duration "95"}}|{{sprig_duration 95}}|{{sprig_duration (sprig_int64 95)}}|{{sprig_duration "x"}}|{{sprig_duration "3600"}}|{{sprig_duration "90061"}}"##,
        "one integer type: Sprig's duration ignores a Go int (0s), this engine takes every integer as the int64",
    ),
    (
        r##"{{sprig_float64 "1.5"}}|{{sprig_float64 3}}|{{sprig_float64 "x"}}|{{sprig_float64 true}}|{{sprig_float64 "1e3"}}|{{sprig_float64 0.1}}|{{sprig_float64 nil}}|{{sprig_float64 "Inf"}}|{{sprig_float64 "0x1p4"}}"##,
        "strconv.ParseFloat hex floats are not parsed (0 here)",
    ),
    (
        r##"{{sprig_add 1 2 | printf "%T"}}|{{sprig_int 1 | printf "%T"}}|{{sprig_float64 1 | printf "%T"}}"##,
        "one integer type: Sprig's int64 results print their type as int",
    ),
    (
        r##"{{sprig_upper 1}}"##,
        "argument conversion errors: Go reports a constant argument's node (`expected string; found 1`), this engine the call",
    ),
    (
        r##"{{sprig_get "x" "y"}}"##,
        "argument conversion errors: Go reports a constant argument's node (`can't handle \"x\" for arg of type ...`), this engine the call",
    ),
    (
        r##"{{sprig_urlParse nil}}"##,
        "argument conversion errors: Go reports a constant nil argument's node (`cannot assign nil to string`), this engine the call (`invalid value; expected string`)",
    ),
];

/// The part of Go's error text that names the failure, without the template position.
fn go_message(err: &str) -> &str {
    if let Some(i) = err.find("error calling ") {
        let rest = &err[i..];
        return rest.find(": ").map_or(rest, |j| &rest[j + 2..]);
    }
    err.rsplit_once(": ").map_or(err, |(_, m)| m)
}

#[test]
fn sprig_goldens_match_go() {
    let mut bad = Vec::new();
    let mut n = 0;
    for line in include_str!("golden.jsonl").lines() {
        let g: Golden = serde_json::from_str(line).expect("golden line is JSON");
        n += 1;
        if KNOWN.iter().any(|(src, _)| *src == g.src) {
            continue;
        }
        let got = render(&g.src);
        let ok = match (&got, g.err.is_empty()) {
            (Ok(out), true) => *out == g.out,
            (Err(e), false) => e.to_string().contains(go_message(&g.err)),
            _ => false,
        };
        if !ok {
            bad.push(format!(
                "{}\n   go:   {:?} {:?}\n   rust: {:?}",
                g.src,
                g.out,
                g.err,
                got.map_err(|e| e.to_string())
            ));
        }
    }
    assert!(n >= 100, "only {n} goldens");
    assert!(
        bad.is_empty(),
        "{} of {n} differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
