//! Parser and lexer behaviour of the Go template engine, including Go's error texts and positions.

mod gotmpl_common;

use discovery_render::func::FuncMap;
use discovery_render::gotmpl::{GoTemplate, ParseOptions};
use gotmpl_common::{fail, ok};

fn parse_err(src: &str) -> String {
    match GoTemplate::parse(
        "p.tmpl",
        src,
        &gotmpl_common::test_funcs(),
        &ParseOptions::default(),
    ) {
        Ok(_) => panic!("parse of {src:?} should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_error_texts_and_lines() {
    let cases: &[(&str, &str)] = &[
        ("{{range .}}x\n", "template: p.tmpl:2: unexpected EOF"),
        (
            "a\n\n{{nosuchfunc \"x\"}}",
            "template: p.tmpl:3: function \"nosuchfunc\" not defined",
        ),
        (
            "{{ /* c */ }}x",
            "template: p.tmpl:1: unexpected \"/\" in command",
        ),
        ("{{end}}", "template: p.tmpl:1: unexpected {{end}}"),
        ("{{else}}", "template: p.tmpl:1: unexpected {{else}}"),
        ("{{if}}{{end}}", "template: p.tmpl:1: missing value for if"),
        ("{{}}", "template: p.tmpl:1: missing value for command"),
        ("{{)}}", "template: p.tmpl:1: unexpected \")\" in command"),
        ("{{$x}}", "template: p.tmpl:1: undefined variable \"$x\""),
        (
            "{{break}}",
            "template: p.tmpl:1: {{break}} outside {{range}}",
        ),
        (
            "{{continue}}",
            "template: p.tmpl:1: {{continue}} outside {{range}}",
        ),
        (
            "{{\"x\" | 3}}",
            "template: p.tmpl:1: non executable command in pipeline stage 2",
        ),
        (
            "{{\"abc}}",
            "template: p.tmpl:1: unterminated quoted string",
        ),
        (
            "{{`abc}}",
            "template: p.tmpl:1: unterminated raw quoted string",
        ),
        (
            "{{'ab}}",
            "template: p.tmpl:1: unterminated character constant",
        ),
        (
            "{{/* x */y}}",
            "template: p.tmpl:1: comment ends before closing delimiter",
        ),
        ("{{/* x ", "template: p.tmpl:1: unclosed comment"),
        ("{{3x}}", "template: p.tmpl:1: bad number syntax: \"3x\""),
        ("{{(1}}", "template: p.tmpl:1: unclosed left paren"),
        ("{{1)}}", "template: p.tmpl:1: unexpected \")\" in command"),
        ("{{.a#}}", "template: p.tmpl:1: bad character U+0023 '#'"),
        (
            "{{\"x\".y}}",
            "template: p.tmpl:1: unexpected . after term \"\\\"x\\\"\"",
        ),
        (
            "{{range $a, $b, $c := .}}{{end}}",
            "template: p.tmpl:1: too many declarations in range",
        ),
        (
            "{{if .}}{{else}}{{else}}{{end}}",
            "template: p.tmpl:1: expected end; found {{else}}",
        ),
        (
            "x\n{{template}}",
            "template: p.tmpl:2: unexpected \"}}\" in template clause",
        ),
        (
            "{{define \"a\"}}1{{end}}{{define \"a\"}}2{{end}}",
            "template: p.tmpl:1: template: multiple definition of template \"a\"",
        ),
        (
            "{{99999999999999999999}}",
            "template: p.tmpl:1: integer overflow: \"99999999999999999999\"",
        ),
        ("{{\"\\q\"}}", "template: p.tmpl:1: invalid syntax"),
        (
            "line1\n{{if .}}\nline3 {{else if}} {{end}}",
            "template: p.tmpl:3: missing value for if",
        ),
        (
            "{{with .}}{{else if .}}{{end}}",
            "template: p.tmpl:1: unexpected <if> in input",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(&parse_err(src), want, "source {src:?}");
    }
}

#[test]
fn unclosed_action_reports_start_line() {
    let e = parse_err("a\n{{if .\n\n");
    assert!(e.starts_with("template: p.tmpl:"), "{e}");
    assert!(e.contains("unclosed action"), "{e}");
}

#[test]
fn unknown_function_fails_at_parse_even_if_never_run() {
    let e = parse_err("{{if false}}{{nope 1}}{{end}}");
    assert_eq!(e, "template: p.tmpl:1: function \"nope\" not defined");
}

#[test]
fn lexer_edge_cases_go_g5() {
    assert_eq!(ok("a {{-3}} b {{- 3}} c {{3 -}} d"), "a -3 b3 c 3d");
    assert_eq!(ok("x{{/* comment */}}y\n{{- /* trimmed */ -}}\n  z"), "xyz");
    assert_eq!(ok("{{/* multi\nline */}}w"), "w");
    // only space, \t, \r, \n are trimmed; NBSP and \x0b stay
    assert_eq!(ok("a\u{a0} {{- \"b\" -}} \u{b}c"), "a\u{a0}b\u{b}c");
    assert_eq!(ok("a\r\n  {{- \"b\" -}}\r\n  c"), "abc");
}

#[test]
fn literals() {
    assert_eq!(
        ok("{{1e3}} {{1e6}} {{1.5}} {{3.0}} {{0x1F}} {{1_000}} {{0b101}} {{'a'}} {{1e21}} {{-5}} {{0.000001}} {{0o17}} {{017}} {{'\\n'}} {{.5}}"),
        "1000 1e+06 1.5 3 31 1000 5 97 1e+21 -5 1e-06 15 15 10 0.5"
    );
    assert_eq!(
        ok(
            r#"{{"tab\there"}}|{{`raw\n`}}|{{"\u00e9"}}|{{"\x41"}}|{{"q\"q"}}|{{"\101"}}|{{true}} {{false}}"#
        ),
        "tab\there|raw\\n|é|A|q\"q|A|true false"
    );
}

#[test]
fn custom_delimiters() {
    let funcs = FuncMap::new();
    let opts = ParseOptions {
        left_delim: "<%".to_string(),
        right_delim: "%>".to_string(),
    };
    let t = GoTemplate::parse(
        "d",
        "{{x}} <% \"a\" %> <%- 1 -%> <%/* c */%>.",
        &funcs,
        &opts,
    )
    .unwrap();
    let out = t
        .execute(
            &minijinja::Value::UNDEFINED,
            &funcs,
            &(),
            Default::default(),
        )
        .unwrap();
    assert_eq!(out, "{{x}} a1.");
    let e = GoTemplate::parse("d", "<% if %>", &funcs, &opts).unwrap_err();
    assert_eq!(e.to_string(), "template: d:1: missing value for if");
}

#[test]
fn define_template_block_and_forward_references() {
    assert_eq!(
        ok("{{template \"x\" 1}}{{define \"x\"}}[{{.}}]{{end}}"),
        "[1]"
    );
    assert_eq!(
        ok("{{define \"x\"}}[{{.}}]{{end}}{{template \"x\"}}"),
        "[<no value>]"
    );
    assert_eq!(
        ok("{{block \"hdr\" \"T\"}}# {{.}}{{end}}\nbody"),
        "# T\nbody"
    );
    // within one parse, a block and a define of the same name clash (as in Go)
    assert_eq!(
        parse_err("{{block \"b\" 1}}default{{end}}{{define \"b\"}}override{{end}}"),
        "template: p.tmpl:1: template: multiple definition of template \"b\""
    );
    // an empty define does not replace a non-empty one
    assert_eq!(
        ok("{{define \"b\"}}x{{end}}{{define \"b\"}} {{end}}{{template \"b\"}}"),
        "x"
    );
    let e = fail("{{template \"nope\"}}");
    assert_eq!(
        e,
        "template: t.tmpl:1:11: executing \"t.tmpl\" at <{{template \"nope\"}}>: template \"nope\" not defined"
    );
}

#[test]
fn parenthesised_pipelines_and_chains() {
    assert_eq!(ok("{{(print \"a\" | printf \"%s!\")}}"), "a!");
    assert_eq!(ok("{{(strmap \"a\" \"b\").a}}"), "b");
    assert_eq!(ok("{{$m := strmap \"k\" \"v\"}}{{$m.k}} {{($m).k}}"), "v v");
    assert_eq!(
        ok("{{with $x := strmap \"a\" \"1\"}}{{$x.a}}{{.a}}{{end}}"),
        "11"
    );
}
