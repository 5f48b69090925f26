//! Robustness: arbitrary and truncated inputs must parse or fail cleanly, never panic or hang,
//! and deep nesting must be reported as an error rather than overflow the stack.

mod gotmpl_common;

use std::path::Path;

use discovery_render::func::FuncMap;
use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
use minijinja::Value;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    ".",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "\"",
    "`",
    "'",
    "/*",
    "*/",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "nil",
    "true",
    "1",
    "-3",
    "0x1F",
    "1e6",
    "'a'",
    "\"s\"",
    "printf",
    "\"%v %d\"",
    "len",
    "index",
    "slice",
    "eq",
    "and",
    "or",
    "not",
    "print",
    "html",
    "js",
    "urlquery",
    "call",
    ".a.b",
    "x",
    ",",
    "\\",
    "é",
    "\u{a0}",
    "\r",
];

fn run(src: &str, funcs: &FuncMap) {
    if let Ok(t) = GoTemplate::parse("f", src, funcs, &ParseOptions::default()) {
        let _ = t.execute(&Value::UNDEFINED, funcs, &(), MissingKey::Default);
        let _ = t.execute(&Value::from(vec![1, 2, 3]), funcs, &(), MissingKey::Zero);
    }
}

#[test]
fn random_token_soup_never_panics() {
    let funcs = FuncMap::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..10_000 {
        let n = 1 + rng.below(24);
        let src: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        if GoTemplate::parse("f", &src, &funcs, &ParseOptions::default()).is_ok() {
            parsed += 1;
        }
        run(&src, &funcs);
    }
    // the generator must exercise the executor too, not only parse errors
    assert!(parsed > 500, "only {parsed} random templates parsed");
}

#[test]
fn random_bytes_never_panic() {
    let funcs = FuncMap::new();
    let mut rng = Rng(12345);
    for _ in 0..10_000 {
        let n = rng.below(64);
        let bytes: Vec<u8> = (0..n)
            .map(|_| b"{}-/*$.()|\"'`\n x1:=e"[rng.below(20)])
            .collect();
        run(&String::from_utf8_lossy(&bytes), &funcs);
    }
}

#[test]
fn truncated_compat_templates_never_panic() {
    let funcs = gotmpl_common::test_funcs();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let mut seen = 0;
    for tool in ["confd", "consul-template"] {
        for entry in std::fs::read_dir(root.join(tool)).expect("compat folder") {
            let path = entry.expect("entry").path().join("template.tmpl");
            let src = std::fs::read_to_string(&path).expect("template");
            seen += 1;
            for (i, _) in src.char_indices() {
                run(&src[..i], &funcs);
            }
        }
    }
    assert!(seen > 150, "only {seen} compat templates found");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let funcs = FuncMap::new();
    let deep_parens = format!("{{{{{}1{}}}}}", "(".repeat(5000), ")".repeat(5000));
    let e = GoTemplate::parse("f", &deep_parens, &funcs, &ParseOptions::default()).unwrap_err();
    assert!(e.message.contains("nesting too deep"), "{e}");
    let deep_ifs = format!("{}x{}", "{{if 1}}".repeat(5000), "{{end}}".repeat(5000));
    let e = GoTemplate::parse("f", &deep_ifs, &funcs, &ParseOptions::default()).unwrap_err();
    assert!(e.message.contains("nesting too deep"), "{e}");
    // just under the limit works
    let ok_ifs = format!("{}x{}", "{{if 1}}".repeat(900), "{{end}}".repeat(900));
    let t = GoTemplate::parse("f", &ok_ifs, &funcs, &ParseOptions::default()).unwrap();
    assert_eq!(
        t.execute(&Value::UNDEFINED, &funcs, &(), MissingKey::Default)
            .unwrap(),
        "x"
    );
    let ok_parens = format!("{{{{{}1{}}}}}", "(".repeat(900), ")".repeat(900));
    let t = GoTemplate::parse("f", &ok_parens, &funcs, &ParseOptions::default()).unwrap();
    assert_eq!(
        t.execute(&Value::UNDEFINED, &funcs, &(), MissingKey::Default)
            .unwrap(),
        "1"
    );
}

#[test]
fn huge_printf_widths_and_precisions_follow_go() {
    use gotmpl_common::ok;
    // Go's parsenum gives up past 10^6 and the rest of the format is swallowed
    assert_eq!(
        ok("{{printf \"%.25555555555555555f|\" 1.5}}"),
        "%!(NOVERB)%!(EXTRA float64=1.5)"
    );
    let f = ok("{{printf \"%.2000f|\" 1.5}}");
    assert_eq!(f.len(), 2003);
    assert!(f.starts_with("1.5000") && f.ends_with("000|"));
    let u = ok("{{printf \"%.70000U\" 65}}");
    assert_eq!(u.len(), 70002);
    assert!(u.ends_with("0041"));
    let e = ok("{{printf \"%.900e|%.900g\" 1.5 0.1}}");
    assert!(e.starts_with("1.5000") && e.contains("e+00|0.1000000000000000055511151231257827"));
}

#[test]
fn exponential_string_growth_is_stopped() {
    // each pass doubles $x: 2 bytes * 2^27 would be 256 MiB
    let e = gotmpl_common::fail(
        "{{$x := \"ab\"}}{{range split \"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27\" \",\"}}{{$x = printf \"%s%s\" $x $x}}{{end}}",
    );
    assert!(
        e.contains("error calling printf: result is too large"),
        "{e}"
    );
    let e = gotmpl_common::fail(
        "{{$x := \"<\"}}{{range split \"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27\" \",\"}}{{$x = print $x $x | html}}{{end}}",
    );
    assert!(e.contains("result is too large"), "{e}");
}
