//! consul-template's debug functions over github.com/davecgh/go-spew (its default `Config`:
//! one-space indent, methods on, pointer addresses on): `spew_sdump` and `spew_dump` (Dump's
//! layout), `spew_sprintf` and `spew_printf` (Printf with spew's `%v`/`%+v`/`%#v`/`%#+v`).
//!
//! Two things cannot match Go byte for byte: the pointer addresses of structs (ours are the
//! addresses of our own objects), and map order (spew leaves it to Go's random map iteration;
//! here maps are in sorted key order, which Go would print only with `SortKeys`).

use std::io::Write;
use std::sync::Arc;

use minijinja::value::{Value, ValueKind};

use super::data::{CATALOG_SNIPPET, HEALTH_SERVICE, KEY_PAIR};
use crate::func::{arg_str, Arity, FuncMap};
use crate::gofmt::{format_float, quote, sprintf};
use crate::value::{
    as_go_list, as_go_map, as_go_object, format_value, map_entries_keyed, seq_items, GoObject,
    ListKind,
};

/// A template value seen with its Go type, as spew walks it with reflection.
#[derive(Debug)]
enum Node {
    /// A nil `interface {}`.
    Nil,
    Str(String),
    /// An integer of Go type `.0` (`int`, `uint64`).
    Int(&'static str, i64),
    Float(f64),
    Bool(bool),
    List {
        ty: String,
        /// The elements are `interface {}` (spew then shows their dynamic types).
        iface: bool,
        items: Vec<Node>,
        nil: bool,
    },
    Map {
        ty: String,
        iface: bool,
        entries: Vec<(Node, Node)>,
        nil: bool,
    },
    Struct {
        ty: String,
        fields: Vec<(&'static str, Node)>,
    },
    /// A pointer to a struct.
    Ptr {
        addr: usize,
        to: Box<Node>,
    },
    /// Anything else: its Go type and `%v`.
    Other {
        ty: String,
        text: String,
    },
}

fn string_list(ty: &str, v: Option<Value>) -> Node {
    let items = v.as_ref().and_then(seq_items).unwrap_or_default();
    Node::List {
        ty: ty.to_owned(),
        iface: false,
        items: items.iter().map(to_node).collect(),
        nil: false,
    }
}

fn string_map(v: Option<Value>) -> Node {
    let entries = v.as_ref().and_then(map_entries_keyed).unwrap_or_default();
    Node::Map {
        ty: "map[string]string".to_owned(),
        iface: false,
        entries: entries
            .iter()
            .map(|(k, v)| (to_node(k), to_node(v)))
            .collect(),
        nil: false,
    }
}

fn str_field(o: &dyn GoObject, name: &str) -> Node {
    Node::Str(o.field(name).map(|v| format_value(&v)).unwrap_or_default())
}

fn int_field(o: &dyn GoObject, name: &str, ty: &'static str) -> Node {
    Node::Int(ty, o.field(name).and_then(|v| v.as_i64()).unwrap_or(0))
}

/// The fields of upstream's `dependency` structs, in declaration order (0.42.1).
fn struct_fields(o: &dyn GoObject) -> Option<Vec<(&'static str, Node)>> {
    Some(match o.type_name() {
        HEALTH_SERVICE => vec![
            ("Node", str_field(o, "Node")),
            ("NodeID", str_field(o, "NodeID")),
            ("NodeAddress", str_field(o, "NodeAddress")),
            (
                "NodeTaggedAddresses",
                string_map(o.field("NodeTaggedAddresses")),
            ),
            ("NodeMeta", string_map(o.field("NodeMeta"))),
            ("ServiceMeta", string_map(o.field("ServiceMeta"))),
            ("Address", str_field(o, "Address")),
            (
                "ServiceTaggedAddresses",
                Node::Map {
                    ty: "map[string]api.ServiceAddress".to_owned(),
                    iface: false,
                    entries: Vec::new(),
                    nil: true,
                },
            ),
            ("ID", str_field(o, "ID")),
            ("Name", str_field(o, "Name")),
            (
                "Tags",
                string_list("dependency.ServiceTags", o.field("Tags")),
            ),
            ("Checks", string_list("api.HealthChecks", None)),
            ("Status", str_field(o, "Status")),
            ("Port", int_field(o, "Port", "int")),
            (
                "Weights",
                Node::Struct {
                    ty: "api.AgentWeights".to_owned(),
                    fields: vec![
                        ("Passing", Node::Int("int", 1)),
                        ("Warning", Node::Int("int", 1)),
                    ],
                },
            ),
        ],
        KEY_PAIR => vec![
            ("Path", str_field(o, "Path")),
            ("Key", str_field(o, "Key")),
            ("Value", str_field(o, "Value")),
            ("CreateIndex", int_field(o, "CreateIndex", "uint64")),
            ("ModifyIndex", int_field(o, "ModifyIndex", "uint64")),
            ("LockIndex", int_field(o, "LockIndex", "uint64")),
            ("Flags", int_field(o, "Flags", "uint64")),
            ("Session", str_field(o, "Session")),
        ],
        CATALOG_SNIPPET => vec![
            ("Name", str_field(o, "Name")),
            (
                "Tags",
                string_list("dependency.ServiceTags", o.field("Tags")),
            ),
        ],
        _ => return None,
    })
}

fn to_node(v: &Value) -> Node {
    if let Some(s) = v.as_str() {
        return Node::Str(s.to_owned());
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => return Node::Nil,
        ValueKind::Bool => return Node::Bool(v.is_true()),
        ValueKind::Number if v.is_integer() => return Node::Int("int", v.as_i64().unwrap_or(0)),
        ValueKind::Number => return Node::Float(crate::value::as_f64(v).unwrap_or(0.0)),
        ValueKind::Bytes => {
            return Node::Str(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into())
        }
        _ => {}
    }
    if let Some(o) = as_go_object(v) {
        let addr = Arc::as_ptr(&o) as *const () as usize;
        return match struct_fields(o.as_ref()) {
            Some(fields) => Node::Ptr {
                addr,
                to: Box::new(Node::Struct {
                    ty: o.type_name().trim_start_matches('*').to_owned(),
                    fields,
                }),
            },
            None => Node::Other {
                ty: o.type_name().to_owned(),
                text: format_value(v),
            },
        };
    }
    if let Some(l) = as_go_list(v) {
        return Node::List {
            ty: l.kind.go_type(),
            iface: l.kind == ListKind::Interface,
            items: l.snapshot().iter().map(to_node).collect(),
            nil: false,
        };
    }
    if let Some(m) = as_go_map(v) {
        return Node::Map {
            ty: m.kind.go_type().to_owned(),
            iface: m.kind == crate::value::MapKind::Interface,
            entries: m
                .entries
                .iter()
                .map(|(k, v)| (Node::Str(k.clone()), to_node(v)))
                .collect(),
            nil: false,
        };
    }
    if let Some(entries) = map_entries_keyed(v) {
        // A plain map: `map[string]interface {}`, or `map[int][]interface {}` (`byPort`).
        let int_keys = entries.first().is_some_and(|(k, _)| k.is_integer());
        return Node::Map {
            ty: if int_keys {
                "map[int][]interface {}"
            } else {
                "map[string]interface {}"
            }
            .to_owned(),
            iface: !int_keys,
            entries: entries
                .iter()
                .map(|(k, v)| (to_node(k), to_node(v)))
                .collect(),
            nil: false,
        };
    }
    if let Some(items) = seq_items(v) {
        return Node::List {
            ty: "[]interface {}".to_owned(),
            iface: true,
            items: items.iter().map(to_node).collect(),
            nil: false,
        };
    }
    Node::Other {
        ty: crate::value::go_type_name(v),
        text: format_value(v),
    }
}

impl Node {
    fn go_type(&self) -> String {
        match self {
            Node::Nil => "interface {}".to_owned(),
            Node::Str(_) => "string".to_owned(),
            Node::Int(t, _) => (*t).to_owned(),
            Node::Float(_) => "float64".to_owned(),
            Node::Bool(_) => "bool".to_owned(),
            Node::List { ty, .. } | Node::Map { ty, .. } | Node::Struct { ty, .. } => ty.clone(),
            Node::Ptr { to, .. } => format!("*{}", to.go_type()),
            Node::Other { ty, .. } => ty.clone(),
        }
    }
}

/// go-spew's `dumpState`.
struct Dumper {
    out: String,
    depth: usize,
    ignore_next_type: bool,
    ignore_next_indent: bool,
}

impl Dumper {
    fn indent(&mut self) {
        if self.ignore_next_indent {
            self.ignore_next_indent = false;
            return;
        }
        self.out.push_str(&" ".repeat(self.depth));
    }

    fn dump(&mut self, n: &Node) {
        if let Node::Ptr { addr, to } = n {
            self.indent();
            self.out
                .push_str(&format!("(*{})({addr:#x})(", to.go_type()));
            self.ignore_next_type = true;
            self.dump(to);
            self.out.push(')');
            return;
        }
        if !self.ignore_next_type {
            self.indent();
            self.out.push_str(&format!("({}) ", n.go_type()));
        }
        self.ignore_next_type = false;
        let (len, cap) = match n {
            Node::List { items, .. } => (items.len(), items.len()),
            Node::Map { entries, .. } => (entries.len(), 0),
            Node::Str(s) => (s.len(), 0),
            _ => (0, 0),
        };
        match (len, cap) {
            (0, 0) => {}
            (l, 0) => self.out.push_str(&format!("(len={l}) ")),
            (l, c) => self.out.push_str(&format!("(len={l} cap={c}) ")),
        }
        match n {
            Node::Nil => self.out.push_str("<nil>"),
            Node::Str(s) => self.out.push_str(&quote(s)),
            Node::Int(_, i) => self.out.push_str(&i.to_string()),
            Node::Float(f) => self.out.push_str(&format_float(*f, 'g', None, false)),
            Node::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Node::List { nil: true, .. } | Node::Map { nil: true, .. } => {
                self.out.push_str("<nil>")
            }
            Node::List { items, .. } => {
                self.out.push_str("{\n");
                self.depth += 1;
                for (i, it) in items.iter().enumerate() {
                    self.dump(it);
                    self.out
                        .push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                self.depth -= 1;
                self.indent();
                self.out.push('}');
            }
            Node::Map { entries, .. } => {
                self.out.push_str("{\n");
                self.depth += 1;
                for (i, (k, v)) in entries.iter().enumerate() {
                    self.dump(k);
                    self.out.push_str(": ");
                    self.ignore_next_indent = true;
                    self.dump(v);
                    self.out
                        .push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                }
                self.depth -= 1;
                self.indent();
                self.out.push('}');
            }
            Node::Struct { fields, .. } => {
                self.out.push_str("{\n");
                self.depth += 1;
                for (i, (name, v)) in fields.iter().enumerate() {
                    self.indent();
                    self.out.push_str(name);
                    self.out.push_str(": ");
                    self.ignore_next_indent = true;
                    self.dump(v);
                    self.out
                        .push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                self.depth -= 1;
                self.indent();
                self.out.push('}');
            }
            Node::Other { text, .. } => self.out.push_str(text),
            Node::Ptr { .. } => {}
        }
    }
}

/// `spew.Sdump(args...)`: each argument dumped, followed by a newline.
fn sdump(args: &[Value]) -> String {
    let mut out = String::new();
    for a in args {
        let n = to_node(a);
        if let Node::Nil = n {
            out.push_str("(interface {}) <nil>\n");
            continue;
        }
        let mut d = Dumper {
            out: String::new(),
            depth: 0,
            ignore_next_type: false,
            ignore_next_indent: false,
        };
        d.dump(&n);
        out.push_str(&d.out);
        out.push('\n');
    }
    out
}

/// go-spew's `formatState` for `%v` with the `+` (addresses, field names) and `#` (types) flags.
struct Formatter {
    out: String,
    plus: bool,
    sharp: bool,
    ignore_next_type: bool,
}

impl Formatter {
    /// `unpackValue`: an `interface {}` element shows its dynamic type again.
    fn unpacked(&mut self, n: &Node, iface: bool) {
        if iface {
            self.ignore_next_type = false;
        }
        self.format(n);
    }

    fn format(&mut self, n: &Node) {
        if let Node::Ptr { addr, to } = n {
            if self.sharp && !self.ignore_next_type {
                self.out.push_str(&format!("(*{})", to.go_type()));
            } else {
                self.out.push_str("<*>");
            }
            if self.plus {
                self.out.push_str(&format!("({addr:#x})"));
            }
            self.ignore_next_type = true;
            self.format(to);
            return;
        }
        if !self.ignore_next_type && self.sharp {
            self.out.push_str(&format!("({})", n.go_type()));
        }
        self.ignore_next_type = false;
        match n {
            Node::Nil => self.out.push_str("<nil>"),
            Node::Str(s) => self.out.push_str(s),
            Node::Int(_, i) => self.out.push_str(&i.to_string()),
            Node::Float(f) => self.out.push_str(&format_float(*f, 'g', None, false)),
            Node::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Node::List { nil: true, .. } | Node::Map { nil: true, .. } => {
                self.out.push_str("<nil>")
            }
            Node::List { items, iface, .. } => {
                self.out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.ignore_next_type = true;
                    self.unpacked(it, *iface);
                }
                self.out.push(']');
            }
            Node::Map { entries, iface, .. } => {
                self.out.push_str("map[");
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.ignore_next_type = true;
                    self.format(k);
                    self.out.push(':');
                    self.ignore_next_type = true;
                    self.unpacked(v, *iface);
                }
                self.out.push(']');
            }
            Node::Struct { fields, .. } => {
                self.out.push('{');
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    if self.plus || self.sharp {
                        self.out.push_str(name);
                        self.out.push(':');
                    }
                    self.format(v);
                }
                self.out.push('}');
            }
            Node::Other { text, .. } => self.out.push_str(text),
            Node::Ptr { .. } => {}
        }
    }
}

/// spew's `%v` family of one argument.
fn spew_v(v: &Value, plus: bool, sharp: bool) -> String {
    let n = to_node(v);
    if let Node::Nil = n {
        return if sharp {
            "(interface {})<nil>"
        } else {
            "<nil>"
        }
        .to_owned();
    }
    let mut f = Formatter {
        out: String::new(),
        plus,
        sharp,
        ignore_next_type: false,
    };
    f.format(&n);
    f.out
}

/// `spew.Sprintf`: Go's `fmt.Sprintf` with every argument wrapped in a spew formatter, which
/// answers `%v` itself (ignoring width and precision) and passes other verbs to fmt.
fn spew_sprintf(format: &str, args: &[Value]) -> String {
    let b = format.as_bytes();
    if b.windows(2)
        .any(|w| w[0] == b'%' && matches!(w[1], b'[' | b'*'))
    {
        // Argument indexes and `*` widths: plain fmt (spew's `%v` not applied).
        return sprintf(format, args);
    }
    let mut out = String::with_capacity(format.len());
    let mut next = 0;
    let mut i = 0;
    while i < b.len() {
        let Some(off) = format[i..].find('%') else {
            out.push_str(&format[i..]);
            break;
        };
        out.push_str(&format[i..i + off]);
        let start = i + off;
        let mut j = start + 1;
        while j < b.len() && matches!(b[j], b'+' | b'-' | b'#' | b' ' | b'0') {
            j += 1;
        }
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        let Some(verb) = format[j..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        let directive = &format[start..j + verb.len_utf8()];
        i = j + verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let flags = &format[start + 1..j];
        match verb {
            'v' => out.push_str(&spew_v(arg, flags.contains('+'), flags.contains('#'))),
            'T' => out.push_str("*spew.formatState"),
            _ => out.push_str(&sprintf(directive, std::slice::from_ref(arg))),
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[next..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            out.push_str("*spew.formatState=");
            out.push_str(&spew_v(a, false, false));
        }
        out.push(')');
    }
    out
}

fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Registers the spew functions; `spew_dump` and `spew_printf` print to standard output and
/// return `""`, as upstream does.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("spew_sdump", Arity::at_least(0), |_, a| Ok(sdump(a).into()));
    funcs.insert("spew_dump", Arity::at_least(0), |_, a| {
        print_stdout(&sdump(a));
        Ok(Value::from(""))
    });
    funcs.insert("spew_sprintf", Arity::at_least(1), |_, a| {
        Ok(spew_sprintf(arg_str(a, 0)?, &a[1..]).into())
    });
    funcs.insert("spew_printf", Arity::at_least(1), |_, a| {
        print_stdout(&spew_sprintf(arg_str(a, 0)?, &a[1..]));
        Ok(Value::from(""))
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::render;

    #[test]
    fn sdump_matches_upstream() {
        // template/template_test.go spew_sdump_simple_output (a fixed string for the
        // timestamp) and spew_sdump_helper_split.
        assert_eq!(
            render(r#"{{ "1970-01-01" | spew_sdump }}"#).unwrap(),
            "(string) (len=10) \"1970-01-01\"\n"
        );
        assert_eq!(
            render(r#"{{ "a,b,c" | split "," | spew_sdump }}"#).unwrap(),
            "([]string) (len=3 cap=3) {\n (string) (len=1) \"a\",\n (string) (len=1) \"b\",\n (string) (len=1) \"c\"\n}\n"
        );
    }

    #[test]
    fn sdump_of_nested_values_follows_go_spew() {
        // go-spew's dump layout: types, len/cap, one-space indent per level, empty strings
        // and maps, nil interfaces; JSON numbers are float64 as in Go.
        assert_eq!(
            render(r#"{{ spew_sdump (parseJSON "{\"a\":[1,\"x\",null],\"b\":{},\"c\":1.5,\"d\":true,\"e\":\"\"}") 3 }}"#)
                .unwrap(),
            "(map[string]interface {}) (len=5) {\n \
             (string) (len=1) \"a\": ([]interface {}) (len=3 cap=3) {\n  \
             (float64) 1,\n  (string) (len=1) \"x\",\n  (interface {}) <nil>\n },\n \
             (string) (len=1) \"b\": (map[string]interface {}) {\n },\n \
             (string) (len=1) \"c\": (float64) 1.5,\n \
             (string) (len=1) \"d\": (bool) true,\n \
             (string) (len=1) \"e\": (string) \"\"\n}\n(int) 3\n"
        );
        assert_eq!(
            render("{{ spew_sdump .Nothing }}").unwrap(),
            "(interface {}) <nil>\n"
        );
    }

    #[test]
    fn structs_are_dumped_through_their_pointer() {
        let t = crate::Template::parse(
            r#"{{ range ls "app" }}{{ spew_sdump . }}{{ spew_sprintf "%+v" . }}{{ end }}"#,
            crate::TemplateOptions::new(crate::Dialect::ConsulTemplate),
        )
        .unwrap();
        let mut kv = discovery_core::KvSnapshot::default();
        let key = discovery_core::Key::new("/app/k").unwrap();
        kv.pairs.insert(
            key.clone(),
            discovery_core::KvPair {
                key,
                value: "v".into(),
                mod_revision: discovery_core::Revision(7),
            },
        );
        let out = discovery_core::Renderer::render(
            &crate::consul_template::ConsulTemplate::new(t),
            &discovery_core::RenderData::from_kv(kv),
        )
        .unwrap()
        .output;
        let addr = regex::Regex::new("0x[0-9a-f]+").unwrap();
        assert_eq!(
            addr.replace_all(&out, "0xADDR"),
            "(*dependency.KeyPair)(0xADDR)({\n \
             Path: (string) (len=5) \"app/k\",\n \
             Key: (string) (len=1) \"k\",\n \
             Value: (string) (len=1) \"v\",\n \
             CreateIndex: (uint64) 0,\n \
             ModifyIndex: (uint64) 7,\n \
             LockIndex: (uint64) 0,\n \
             Flags: (uint64) 0,\n \
             Session: (string) \"\"\n})\n\
             <*>(0xADDR){Path:app/k Key:k Value:v CreateIndex:0 ModifyIndex:7 LockIndex:0 Flags:0 Session:}"
        );
    }

    #[test]
    fn sprintf_uses_spew_for_v_and_fmt_for_other_verbs() {
        assert_eq!(
            render(r#"{{ spew_sprintf "%v|%#v|%5.1f|%q|%T|%d" (split "," "a,b") (parseJSON "{\"k\":[1]}") 2.25 "x" 1 }}"#)
                .unwrap(),
            r#"[a b]|(map[string]interface {})map[k:([]interface {})[(float64)1]]|  2.2|"x"|*spew.formatState|%!d(MISSING)"#
        );
        assert_eq!(
            render(r#"{{ spew_sprintf "%v%%" 1 2 }}"#).unwrap(),
            "1%%!(EXTRA *spew.formatState=2)"
        );
    }
}
