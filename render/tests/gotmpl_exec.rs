//! Execution semantics of the Go template engine (Go 1.19 `text/template`).

mod gotmpl_common;

use std::collections::BTreeMap;

use discovery_render::func::{FuncError, FuncMap};
use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
use discovery_render::value::{
    as_go_list, go_list, go_map, go_object, string_list, FormatVerb, GoObject, ListKind, MapKind,
};
use gotmpl_common::{fail, ok, render_with};
use minijinja::Value;

#[derive(Debug)]
struct Pair {
    key: String,
    value: String,
}

impl GoObject for Pair {
    fn type_name(&self) -> &str {
        "memkv.KVPair"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Key" => Some(Value::from(self.key.as_str())),
            "Value" => Some(Value::from(self.value.as_str())),
            _ => None,
        }
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        match name {
            "Join" => Some(match args.first().and_then(|a| a.as_str()) {
                Some(sep) => Ok(Value::from(format!("{}{sep}{}", self.key, self.value))),
                None => Err(FuncError::new("Join needs a separator")),
            }),
            _ => None,
        }
    }
    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::PlusV => format!("{{Key:{} Value:{}}}", self.key, self.value),
            _ => format!("{{{} {}}}", self.key, self.value),
        }
    }
}

fn pair(k: &str, v: &str) -> Value {
    go_object(Pair {
        key: k.to_string(),
        value: v.to_string(),
    })
}

fn render_dot(src: &str, dot: &Value) -> String {
    render_with(src, dot, &[], MissingKey::Default).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn variables_scope_and_assignment_g9() {
    assert_eq!(
        ok("{{$x := \"outer\"}}{{if true}}{{$x := \"inner\"}}{{$x}} {{end}}{{$x}} {{range split \"1,2\" \",\"}}{{$x := .}}{{$x}}{{end}} {{$x}}"),
        "inner outer 12 outer"
    );
    assert_eq!(
        ok("{{$n := 0}}{{range split \"a,b,c\" \",\"}}{{$n = incr $n}}{{end}}{{$n}}"),
        "3"
    );
    assert_eq!(ok("{{$x := 1}}{{with $x := 2}}{{$x}}{{end}}{{$x}}"), "21");
    // `$` is the dot of the template invocation
    assert_eq!(
        render_dot("{{range .}}{{$}}{{end}}", &Value::from(vec![1, 2])),
        "[1 2][1 2]"
    );
}

#[test]
fn range_forms() {
    let m = go_map(
        MapKind::Interface,
        BTreeMap::from([
            ("zeta".to_string(), Value::from(1)),
            ("alpha".to_string(), Value::from(2)),
            ("Mid".to_string(), Value::from(3)),
            ("_u".to_string(), Value::from(4)),
            ("10".to_string(), Value::from(5)),
            ("9".to_string(), Value::from(6)),
        ]),
    );
    assert_eq!(
        render_dot(
            "{{range $k, $v := .}}{{$k}}={{$v}} {{end}}|{{range .}}{{.}}{{end}}|{{.}}",
            &m
        ),
        "10=5 9=6 Mid=3 _u=4 alpha=2 zeta=1 |563421|map[10:5 9:6 Mid:3 _u:4 alpha:2 zeta:1]"
    );
    assert_eq!(
        ok("{{range $i, $v := split \"a,b\" \",\"}}{{$i}}:{{$v}} {{end}}"),
        "0:a 1:b "
    );
    assert_eq!(ok("{{range $v := split \"a,b\" \",\"}}{{$v}}{{end}}"), "ab");
    assert_eq!(ok("{{range .}}x{{else}}empty{{end}}"), "empty");
    assert_eq!(
        ok("{{range split \"1,2,3,4,5,6\" \",\"}}{{if eq . \"3\"}}{{continue}}{{end}}{{if eq . \"5\"}}{{break}}{{end}}{{.}} {{end}}"),
        "1 2 4 "
    );
    assert_eq!(
        fail("{{range 3}}x{{end}}"),
        "template: t.tmpl:1:8: executing \"t.tmpl\" at <3>: range can't iterate over 3"
    );
    assert!(fail("{{range \"abc\"}}{{end}}").ends_with("range can't iterate over abc"));
}

#[test]
fn range_over_go_list_iterates_a_snapshot() {
    let l = string_list(vec!["a".into(), "b".into()]);
    let mut funcs = FuncMap::new();
    let shared = l.clone();
    funcs.insert(
        "grow",
        discovery_render::func::Arity::exact(0),
        move |_, _| {
            if let Some(gl) = as_go_list(&shared) {
                gl.with_items_mut(|v| v.push(Value::from("z")));
            }
            Ok(Value::from(""))
        },
    );
    let t = GoTemplate::parse(
        "t",
        "{{range .}}{{grow}}{{.}}{{end}}|{{len .}}",
        &funcs,
        &ParseOptions::default(),
    )
    .unwrap();
    let out = t.execute(&l, &funcs, &(), MissingKey::Default).unwrap();
    assert_eq!(out, "ab|4");
}

#[test]
fn and_or_not_comparisons() {
    assert_eq!(
        ok("{{and \"a\" \"b\"}}|{{and \"\" \"b\"}}|{{or \"\" \"x\"}}|{{or \"a\" \"x\"}}|{{or 0 \"\"}}|{{and 1 0 2}}"),
        "b||x|a||0"
    );
    // short-circuit: getv of a missing key is never called
    assert_eq!(
        ok("{{or \"ok\" (getv \"/missing\")}}|{{and \"\" (getv \"/missing\")}}|"),
        "ok||"
    );
    assert_eq!(ok("{{\"x\" | or \"\"}} {{\"y\" | and 1}}"), "x y");
    assert_eq!(
        ok("{{not true}} {{not \"\"}} {{not 0}} {{not (split \"a\" \",\")}}"),
        "false true true false"
    );
    assert_eq!(ok("{{eq \"b\" \"a\" \"b\"}} {{eq 2 1 3}} {{ne 1 2}} {{lt \"B\" \"a\"}} {{le 2 2}} {{gt 1.5 1.25}} {{ge 1 2}}"), "true false true true true true false");
    assert_eq!(ok("{{eq .Missing \"x\"}} {{eq nil nil}}"), "false true");
    assert!(fail("{{eq 1 \"1\"}}").ends_with("error calling eq: incompatible types for comparison"));
    assert!(fail("{{lt 1 1.5}}").ends_with("error calling lt: incompatible types for comparison"));
    assert!(fail("{{lt true false}}").ends_with("error calling lt: invalid type for comparison"));
    assert!(fail("{{eq (split \"a\" \",\") 1}}")
        .ends_with("error calling eq: incompatible types for comparison"));
    assert!(fail("{{eq (split \"a\" \",\") (split \"a\" \",\")}}")
        .ends_with("error calling eq: non-comparable type [a]: []string"));
    assert_eq!(
        ok("{{eq (split \"a\" \",\") nil}} {{printf \"%+v %+d\" 3 3}}"),
        "false 3 +3"
    );
    assert!(fail("{{eq 1}}").ends_with("error calling eq: missing argument for comparison"));
    assert_eq!(
        fail("{{not}}"),
        "template: t.tmpl:1:2: executing \"t.tmpl\" at <not>: wrong number of args for not: want 1 got 0"
    );
}

#[test]
fn len_index_slice_g6_g7() {
    assert_eq!(
        ok("{{len \"héllo\"}} {{len (split \"a,b\" \",\")}} {{len (strmap \"a\" \"b\")}}"),
        "6 2 1"
    );
    assert!(fail("{{len 3}}").ends_with("error calling len: len of type int"));
    assert_eq!(ok("{{index (split \"a,b,c\" \",\") 2}} {{index \"abc\" 1}} {{index (strmap \"k\" \"v\") \"k\"}}[{{index (strmap) \"x\"}}]"), "c 98 v[]");
    assert_eq!(
        fail("{{index (split \"a,b\" \",\") 5}}"),
        "template: t.tmpl:1:2: executing \"t.tmpl\" at <index (split \"a,b\" \",\") 5>: error calling index: index out of range: 5"
    );
    assert!(fail("{{index (split \"a,b\" \",\") 2}}")
        .ends_with("error calling index: reflect: slice index out of range"));
    assert!(fail("{{index 3 1}}").ends_with("error calling index: can't index item of type int"));
    assert!(fail("{{index (split \"a\" \",\") \"x\"}}")
        .ends_with("cannot index slice/array with type string"));
    assert_eq!(
        ok("{{slice \"abcdef\" 1 3}} {{slice (split \"a,b,c,d\" \",\") 1}} {{slice (split \"a,b,c,d\" \",\") 1 3}} {{slice \"abc\"}}"),
        "bc [b c d] [b c] abc"
    );
    assert!(fail("{{slice \"abc\" 2 1}}").ends_with("invalid slice index: 2 > 1"));
}

#[test]
fn printing_g3_g7_q10_q11() {
    assert_eq!(ok("{{print \"a\" \"b\" 1 2 \"c\" 3}}|{{println \"x\" 1}}|{{print}}|{{print 1.5 true nil}}|"), "ab1 2c3|x 1\n||1.5 true <nil>|");
    assert_eq!(
        ok("{{printf \"%s|%d|%v|%q|%5d|%-5s|%x|%t|%%\" \"str\" 42 \"v\" \"q\\\"t\" 7 \"ab\" \"hi\" true}}"),
        "str|42|v|\"q\\\"t\"|    7|ab   |6869|true|%"
    );
    assert_eq!(
        ok("{{printf \"%x %X %o %b %e %.2f %8.3f %05d %+d %6.1f|\" 255 255 8 5 1234.5 3.14159 2.5 42 3 -2.25}}"),
        "ff FF 10 101 1.234500e+03 3.14    2.500 00042 +3   -2.2|"
    );
    assert_eq!(
        ok("{{printf \"%v %q\" (split \"a,b\" \",\") (split \"a,b\" \",\")}} {{printf \"%s %s\" \"one\"}} {{printf \"%d\" \"x\"}} {{printf \"%d\" 1 2}}"),
        "[a b] [\"a\" \"b\"] one %!s(MISSING) %!d(string=x) 1%!(EXTRA int=2)"
    );
    assert_eq!(ok("{{printf \"%c%c %U %#U %08.3f %-6d| %x % x %#x\" 72 105 65 9731 -3.14159 42 \"hi\" \"hi\" 255}}"), "Hi U+0041 U+2603 '☃' -003.142 42    | 6869 68 69 0xff");
    assert_eq!(
        ok("{{printf \"%g %g %v %v %.3g %T %T\" 1e6 0.0001 100000.0 1e-5 3.14159 1.5 \"s\"}}"),
        "1e+06 0.0001 100000 1e-05 3.14 float64 string"
    );
    assert_eq!(
        ok("{{printf \"%v\" nil}} {{printf \"%d\" nil}} {{printf \"%s\" .X}}"),
        "<nil> %!d(<nil>) %!s(<nil>)"
    );
    assert_eq!(
        ok("{{printf \"%5.1q|%-4t|%+q\" \"héllo\" true \"é\"}}"),
        "  \"h\"|true|\"\\u00e9\""
    );
    let list = go_list(
        ListKind::Interface,
        vec![
            Value::from("b"),
            Value::from(()),
            Value::from(3.0),
            Value::from(true),
        ],
    );
    assert_eq!(
        render_dot("{{.}} {{index . 1}} {{printf \"%v\" (index . 1)}}", &list),
        "[b <nil> 3 true] <no value> <nil>"
    );
}

#[test]
fn escaping_functions_g8() {
    assert_eq!(
        ok("{{html \"<a href='x'>Tom & \\\"Jerry\\\"</a>\"}}\n{{js \"it's \\\"q\\\" <b> & = \\\\ \\n é\"}}\n{{urlquery \"a b&c=d/é?\"}}\n{{html 1 \"a\" .X}}"),
        "&lt;a href=&#39;x&#39;&gt;Tom &amp; &#34;Jerry&#34;&lt;/a&gt;\nit\\'s \\\"q\\\" \\u003Cb\\u003E \\u0026 \\u003D \\\\ \\u000A é\na+b%26c%3Dd%2F%C3%A9%3F\n1a&lt;no value&gt;"
    );
}

#[test]
fn nil_dot_and_missing_keys_g1_t11() {
    assert_eq!(
        ok("[{{.}}] [{{$}}] [{{.Anything}}] [{{.A.B}}] {{if .}}t{{else}}f{{end}}"),
        "[<no value>] [<no value>] [<no value>] [<no value>] f"
    );
    let m = go_map(
        MapKind::String,
        BTreeMap::from([("a".to_string(), Value::from("1"))]),
    );
    let im = go_map(
        MapKind::Interface,
        BTreeMap::from([("n".to_string(), Value::from(()))]),
    );
    let dot = go_map(
        MapKind::Interface,
        BTreeMap::from([("s".to_string(), m), ("i".to_string(), im)]),
    );
    let src = "[{{.s.a}}][{{.s.nope}}][{{.i.nope}}][{{.i.n}}][{{index .s \"nope\"}}]";
    assert_eq!(
        render_with(src, &dot, &[], MissingKey::Default).unwrap(),
        "[1][<no value>][<no value>][<no value>][]"
    );
    assert_eq!(
        render_with(src, &dot, &[], MissingKey::Zero).unwrap(),
        "[1][][<no value>][<no value>][]"
    );
    let e = render_with("{{.s.nope}}", &dot, &[], MissingKey::Error).unwrap_err();
    assert_eq!(e.to_string(), "template: t.tmpl:1:4: executing \"t.tmpl\" at <.s.nope>: map has no entry for key \"nope\"");
    let e = render_with("{{.i.n.x}}", &dot, &[], MissingKey::Default).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("nil pointer evaluating interface {}.x"),
        "{e}"
    );
}

#[test]
fn fields_and_methods_on_objects() {
    let p = pair("/k", "v");
    assert_eq!(
        render_dot(
            "{{.Key}}={{.Value}} {{.}} {{printf \"%+v\" .}} {{.Join \":\"}} {{\"-\" | .Join}}",
            &p
        ),
        "/k=v {/k v} {Key:/k Value:v} /k:v /k-v"
    );
    let e = render_with("{{.Nope}}", &p, &[], MissingKey::Default).unwrap_err();
    assert_eq!(e.to_string(), "template: t.tmpl:1:2: executing \"t.tmpl\" at <.Nope>: can't evaluate field Nope in type memkv.KVPair");
    let e = render_with("{{.Join 1}}", &p, &[], MissingKey::Default).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("error calling Join: Join needs a separator"),
        "{e}"
    );
    assert!(fail("{{$s := \"x\"}}{{$s.b}}").ends_with("can't evaluate field b in type string"));
    let list = go_list(
        ListKind::Struct("memkv.KVPair".into()),
        vec![pair("a", "1"), pair("b", "2")],
    );
    assert_eq!(
        render_dot(
            "{{range .}}{{.Key}}{{end}} {{(index . 1).Value}} {{.}}",
            &list
        ),
        "ab 2 [{a 1} {b 2}]"
    );
}

#[test]
fn function_errors_name_template_line_column_and_key() {
    let e = render_with(
        "ok\n  {{getv \"/nope\"}}",
        &Value::UNDEFINED,
        &[],
        MissingKey::Default,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "template: t.tmpl:2:4: executing \"t.tmpl\" at <getv \"/nope\">: error calling getv: key does not exist: /nope");
    assert_eq!((e.line, e.column, e.key.as_deref()), (2, 4, Some("/nope")));
    assert_eq!(
        fail("{{define \"x\"}}\n{{getv \"/a\"}}{{end}}{{template \"x\"}}"),
        "template: t.tmpl:2:2: executing \"x\" at <getv \"/a\">: error calling getv: key does not exist: /a"
    );
    assert_eq!(
        fail("{{incr \"1\"}}"),
        "template: t.tmpl:1:2: executing \"t.tmpl\" at <incr \"1\">: error calling incr: expected integer; found \"1\""
    );
    assert!(fail("{{getv}}")
        .ends_with("at <getv>: wrong number of args for getv: want at least 1 got 0"));
    assert!(
        fail("{{incr 1 2}}").ends_with("at <incr>: wrong number of args for incr: want 1 got 2")
    );
    assert!(fail("{{1 2}}").ends_with("can't give argument to non-function 1"));
    assert!(fail("{{nil}}").ends_with("nil is not a command"));
}

#[test]
fn output_bytes_are_exact() {
    assert_eq!(
        render_with(
            "a\r\n{{getv \"/a\"}}\r\n  {{- getv \"/b\"}}\r\nend\r\n",
            &Value::UNDEFINED,
            &[("/a", "A"), ("/b", "B")],
            MissingKey::Default
        )
        .unwrap(),
        "a\r\nAB\r\nend\r\n"
    );
    assert_eq!(ok("x\n\n\n"), "x\n\n\n");
    assert_eq!(ok("{{\"<&>\"}}"), "<&>");
    assert_eq!(ok(""), "");
}

#[test]
fn deep_template_recursion_is_an_error_not_a_crash() {
    let e = fail("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\"}}");
    assert!(e.contains("exceeded maximum template depth"), "{e}");
    // bounded recursion works
    let src = "{{define \"c\"}}{{if .}}{{len .}}{{template \"c\" (slice . 1)}}{{end}}{{end}}{{template \"c\" (split \"a,b,c\" \",\")}}";
    assert_eq!(ok(src), "321");
}

#[test]
fn large_list_renders_every_line() {
    let items: Vec<String> = (0..100_000)
        .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
        .collect();
    let dot = string_list(items.clone());
    let funcs = FuncMap::new();
    let t = GoTemplate::parse(
        "n",
        "upstream {\n{{range .}}server {{.}};\n{{end}}}\n",
        &funcs,
        &ParseOptions::default(),
    )
    .unwrap();
    let mut best = std::time::Duration::MAX;
    let mut out = String::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        out = t.execute(&dot, &funcs, &(), MissingKey::Default).unwrap();
        best = best.min(start.elapsed());
    }
    eprintln!("100000 lines rendered in {best:?} (best of 5)");
    assert_eq!(out.lines().count(), 100_002);
    assert!(out.contains("server 10.0.0.0:80;\nserver 10.0.0.1:80;\n"));
    assert!(out.ends_with("server 10.0.390.159:80;\n}\n"));
}

#[test]
fn execute_named_runs_a_defined_template() {
    let funcs = FuncMap::new();
    let t = GoTemplate::parse(
        "main",
        "{{define \"a\"}}A{{.}}{{end}}main",
        &funcs,
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(t.template_names(), vec!["a", "main"]);
    let dot = Value::from(1);
    assert_eq!(
        t.execute_named("a", &dot, &funcs, &(), MissingKey::Default)
            .unwrap(),
        "A1"
    );
    assert_eq!(
        t.execute(&dot, &funcs, &(), MissingKey::Default).unwrap(),
        "main"
    );
    let e = t
        .execute_named("zz", &dot, &funcs, &(), MissingKey::Default)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: no template \"zz\" associated with template \"main\""
    );
}

#[test]
fn assignment_in_error_context_prints_like_go() {
    let e = fail("{{$x := 1}}{{$x = getv \"/k\"}}");
    assert_eq!(
        e,
        "template: t.tmpl:1:18: executing \"t.tmpl\" at <getv \"/k\">: error calling getv: key does not exist: /k"
    );
}

#[test]
fn index_with_nil_map_key() {
    assert!(
        fail("{{index (strmap \"a\" \"b\") nil}}")
            .ends_with("error calling index: value is nil; should be of type string"),
        "{}",
        fail("{{index (strmap \"a\" \"b\") nil}}")
    );
    assert!(fail("{{.X | index (strmap)}}").ends_with("value is nil; should be of type string"));
}
