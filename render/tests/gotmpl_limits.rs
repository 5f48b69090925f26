//! Execution limits of the Go template interpreter (issue #8, fuzzing): templates of a few
//! hundred bytes whose work grows exponentially, or that build a large string at every level of
//! a recursion, must stop with a located error instead of running for minutes. The templates
//! here are minimised forms of the slow units found by `fuzz/fuzz_targets/gotmpl_parse.rs`.
//!
//! No assertion is on time: each test checks the output or the exact error.

use discovery_render::func::{arg_str, Arity, FuncMap};
use discovery_render::gotmpl::{ExecLimits, GoTemplate, MissingKey, ParseOptions};
use minijinja::Value;

fn parse(src: &str, funcs: &FuncMap) -> GoTemplate {
    GoTemplate::parse("f", src, funcs, &ParseOptions::default()).expect("template parses")
}

fn run(t: &GoTemplate, dot: &Value, funcs: &FuncMap) -> Result<String, String> {
    t.execute(dot, funcs, &(), MissingKey::Default)
        .map_err(|e| e.to_string())
}

/// A template that calls itself twice per character of its string dot: 2^len calls.
const BRANCHING: &str = "{{define \"a\"}}{{if .}}{{template \"a\" (slice . 1)}}\
{{template \"a\" (slice . 1)}}{{else}}x{{end}}{{end}}{{template \"a\" .}}";

#[test]
fn branching_recursion_renders_normally_under_the_default_limits() {
    let funcs = FuncMap::new();
    let t = parse(BRANCHING, &funcs);
    assert_eq!(t.limits(), ExecLimits::default());
    let out = run(&t, &Value::from("abcdefghij"), &funcs).expect("1024 calls fit");
    assert_eq!(out, "x".repeat(1024));
}

#[test]
fn branching_recursion_stops_at_the_step_limit() {
    // 2^26 template calls (the fuzzer's unit had the same shape with a nil dot); Go would run
    // them all. A lowered limit keeps the test quick; the default one is exercised below.
    let funcs = FuncMap::new();
    let limits = ExecLimits {
        max_steps: 100_000,
        ..ExecLimits::default()
    };
    let t = parse(BRANCHING, &funcs).with_limits(limits);
    let e = run(&t, &Value::from("abcdefghijklmnopqrstuvwxyz"), &funcs).unwrap_err();
    assert_eq!(
        e,
        "template: f:1:38: executing \"a\" at <slice . 1>: exceeded maximum execution steps (100000)"
    );
    // the same template with a short dot still renders under the lowered limit
    let out = run(&t, &Value::from("abcd"), &funcs).expect("16 calls fit");
    assert_eq!(out, "x".repeat(16));
}

#[test]
fn recursion_building_a_large_string_per_level_stops_at_the_byte_limit() {
    // The fuzzer's slow unit: nested `js` inside a recursive `define`. Each level escapes 8
    // backslashes 18 times (about 4 MiB of strings) and recurses; 10,000 levels took about
    // two minutes before the byte budget existed.
    let mut chain = "js `\\\\\\\\\\\\\\\\`".to_string();
    for _ in 1..18 {
        chain = format!("js ({chain})");
    }
    let src = format!("{{{{define \"a\"}}}}{{{{len ({chain})}}}}{{{{template \"a\"}}}}{{{{end}}}}{{{{template \"a\"}}}}");
    let funcs = FuncMap::new();
    let limits = ExecLimits {
        max_bytes: 16 << 20,
        ..ExecLimits::default()
    };
    let t = parse(&src, &funcs).with_limits(limits);
    let e = run(&t, &Value::UNDEFINED, &funcs).unwrap_err();
    assert!(
        e.starts_with("template: f:1:") && e.contains("executing \"a\" at <js ("),
        "{e}"
    );
    assert!(
        e.ends_with(": exceeded maximum bytes of output and function results (16777216)"),
        "{e}"
    );
}

#[test]
fn output_is_capped_by_the_default_byte_limit() {
    // Every level writes its 8 MB dot twice: the first write of level 17 (with the 8 MB
    // `printf` result, 17 * 16 MB) passes 256 MiB.
    let src = "{{define \"a\"}}{{.}}\n{{.}}{{template \"a\" .}}{{end}}{{template \"a\" (printf \"%8000000s\" \"\")}}";
    let funcs = FuncMap::new();
    let t = parse(src, &funcs);
    let e = run(&t, &Value::UNDEFINED, &funcs).unwrap_err();
    assert_eq!(
        e,
        format!(
            "template: f:1:16: executing \"a\" at <.>: exceeded maximum bytes of output and function results ({})",
            256 << 20
        )
    );
    // a few levels are fine
    let src = "{{define \"a\"}}{{.}}{{if lt (len .) 40}}{{template \"a\" (print . .)}}{{end}}{{end}}{{template \"a\" \"ab\"}}";
    let t = parse(src, &funcs);
    let out = run(&t, &Value::UNDEFINED, &funcs).unwrap();
    assert_eq!(out.len(), 2 + 4 + 8 + 16 + 32 + 64);
}

#[test]
fn nested_ranges_stop_at_the_default_step_limit() {
    // 300^3 = 27 million range elements
    let src = "{{range .}}{{range $}}\n{{range $}}{{end}}{{end}}{{end}}";
    let funcs = FuncMap::new();
    let t = parse(src, &funcs);
    let dot = Value::from((0..300).collect::<Vec<i64>>());
    let e = run(&t, &dot, &funcs).unwrap_err();
    assert_eq!(
        e,
        "template: f:2:8: executing \"f\" at <$>: exceeded maximum execution steps (10000000)"
    );
}

#[test]
fn large_data_fits_the_default_limits() {
    // 100,000 elements (the size of the confd bad-input test) and a 10 MiB string
    let funcs = FuncMap::new();
    let t = parse(
        "{{range $i, $v := .}}{{if $i}},{{end}}{{$v}}{{end}}",
        &funcs,
    );
    let dot = Value::from((0..100_000).collect::<Vec<i64>>());
    let out = run(&t, &dot, &funcs).unwrap();
    assert_eq!(out.split(',').count(), 100_000);
    assert!(out.ends_with(",99999"));
    let t = parse("{{.}}{{len (print .)}}", &funcs);
    let big = "x".repeat(10 << 20);
    let out = run(&t, &Value::from(big.as_str()), &funcs).unwrap();
    assert_eq!(out, format!("{big}{}", 10 << 20));
}

#[test]
fn executed_templates_share_the_budget() {
    // consul-template's executeTemplate starts a nested execution; it must spend from the
    // caller's budget, or each level would get a fresh one.
    let mut funcs = FuncMap::new();
    funcs.insert("executeTemplate", Arity::range(1, 2), |ctx, args| {
        let name = arg_str(args, 0)?;
        let dot = args.get(1).cloned().unwrap_or(Value::UNDEFINED);
        ctx.execute_template(name, dot).map(Value::from)
    });
    let src = "{{define \"a\"}}{{if .}}{{executeTemplate \"a\" (slice . 1)}}\
{{executeTemplate \"a\" (slice . 1)}}{{else}}x{{end}}{{end}}{{executeTemplate \"a\" .}}";
    let limits = ExecLimits {
        max_steps: 2_000,
        ..ExecLimits::default()
    };
    let t = parse(src, &funcs).with_limits(limits);
    // 2^6 leaves: fits
    let out = run(&t, &Value::from("abcdef"), &funcs).unwrap();
    assert_eq!(out, "x".repeat(64));
    // 2^16 leaves: each nested execution alone is small, together they pass the limit
    let e = match run(&t, &Value::from("abcdefghijklmnop"), &funcs) {
        Ok(out) => panic!("rendered {} bytes past the step limit", out.len()),
        Err(e) => e,
    };
    assert!(
        e.ends_with("exceeded maximum execution steps (2000)"),
        "{e}"
    );
    assert!(e.starts_with("template: f:1:"), "{e}");
}

/// The per-character `JSEscapeString` the interpreter used before escapes copied whole runs.
fn js_reference(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x80 || discovery_render::gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// The per-character `HTMLEscapeString`.
fn html_reference(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn run_copying_escapes_match_the_per_character_ones() {
    // Escaping copies unescaped runs whole (the chains of the slow units are now cheap); the
    // result must not change. Strings mix ASCII, escaped characters, controls, non-printable
    // and multi-byte runes at every position.
    const ALPHABET: &[char] = &[
        'a', 'Z', ' ', '\\', '\'', '"', '<', '>', '&', '=', '\0', '\n', '\u{1f}', '\u{7f}', 'é',
        '\u{ad}', '\u{2028}', '\u{200b}', '€', '😀', '\u{e000}', '\u{fffd}', '%', '+',
    ];
    let funcs = FuncMap::new();
    let js = parse("{{js .}}", &funcs);
    let html = parse("{{html .}}", &funcs);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..300 {
        let s: String = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ALPHABET[(x % ALPHABET.len() as u64) as usize]
            })
            .collect();
        let dot = Value::from(s.as_str());
        assert_eq!(
            run(&js, &dot, &funcs).unwrap(),
            js_reference(&s),
            "js {s:?}"
        );
        assert_eq!(
            run(&html, &dot, &funcs).unwrap(),
            html_reference(&s),
            "html {s:?}"
        );
    }
}

#[test]
fn deep_execute_template_errors_are_elided_not_quadratic() {
    // Each executeTemplate level wraps the error below it; at the depth limit the full text
    // would be about 900 KB, built by copying it at every level.
    let mut funcs = FuncMap::new();
    funcs.insert("executeTemplate", Arity::range(1, 2), |ctx, args| {
        let name = arg_str(args, 0)?;
        ctx.execute_template(name, Value::UNDEFINED)
            .map(Value::from)
    });
    let t = parse(
        "{{define \"a\"}}{{executeTemplate \"a\"}}{{end}}{{executeTemplate \"a\"}}",
        &funcs,
    );
    let e = run(&t, &Value::UNDEFINED, &funcs).unwrap_err();
    assert!(e.len() < 5000, "{} bytes", e.len());
    assert!(
        e.starts_with(
            "template: f:1:46: executing \"f\" at <executeTemplate \"a\">: error calling executeTemplate: \
             template: f:1:16: executing \"a\" at <executeTemplate \"a\">: error calling executeTemplate: "
        ),
        "{e}"
    );
    assert!(e.contains(" bytes elided ...] "), "{e}");
    assert!(
        e.ends_with("error calling executeTemplate: exceeded maximum template depth (10000)"),
        "{e}"
    );
}
