//! The parse tree of a Go template, with Go's `String()` rendering of nodes for error contexts.

use std::fmt::{self, Write};

use minijinja::Value;

/// A node of a template body.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Plain text (byte span in the source).
    Text(usize, usize),
    /// `{{pipeline}}`
    Action(Pipe),
    /// `{{if}}`, `{{with}}`, `{{range}}`.
    Branch(Box<Branch>),
    /// `{{template "name" pipeline}}` (also what `{{block}}` leaves behind).
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// Which control structure a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    With,
    Range,
}

/// `{{if|with|range pipe}} list {{else}} else_list {{end}}`
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub kind: BranchKind,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One command of a pipeline: an operand followed by arguments.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A function name.
    Ident(usize, String),
    /// `.`
    Dot(usize),
    /// `nil`
    Nil(usize),
    /// `true`/`false`
    Bool(usize, bool),
    /// A number or char constant: original text and its value.
    Number(usize, String, Value),
    /// A string: original (quoted) text and its value.
    Str(usize, String, Value),
    /// `.a.b`
    Field(usize, Vec<String>),
    /// `$x.a.b` (first element is the variable name, including `$`)
    Variable(usize, Vec<String>),
    /// `(pipeline)` or `term.a.b`
    Chain(usize, Box<Arg>, Vec<String>),
    /// `(pipeline)`
    Pipe(usize, Box<Pipe>),
}

impl Arg {
    /// Byte offset of the operand.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Ident(p, _)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _, _)
            | Arg::Str(p, _, _)
            | Arg::Field(p, _)
            | Arg::Variable(p, _)
            | Arg::Chain(p, _, _)
            | Arg::Pipe(p, _) => *p,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Ident(_, n) => f.write_str(n),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, t, _) | Arg::Str(_, t, _) => f.write_str(t),
            Arg::Field(_, idents) => {
                for i in idents {
                    f.write_char('.')?;
                    f.write_str(i)?;
                }
                Ok(())
            }
            Arg::Variable(_, idents) => f.write_str(&idents.join(".")),
            Arg::Chain(_, node, fields) => {
                if let Arg::Pipe(_, p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    f.write_char('.')?;
                    f.write_str(i)?;
                }
                Ok(())
            }
            Arg::Pipe(_, p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            if let Arg::Pipe(_, p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            // Go prints " := " for assignments too.
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Go's `String()` of a list of nodes (used when a range/if node is the error context).
pub(crate) fn write_list(f: &mut String, src: &str, list: &[Node]) {
    for n in list {
        write_node(f, src, n);
    }
}

/// Go's `String()` of a node.
pub(crate) fn write_node(f: &mut String, src: &str, n: &Node) {
    match n {
        Node::Text(s, e) => f.push_str(&src[*s..*e]),
        Node::Action(p) => {
            let _ = write!(f, "{{{{{p}}}}}");
        }
        Node::Branch(b) => {
            let kw = match b.kind {
                BranchKind::If => "if",
                BranchKind::With => "with",
                BranchKind::Range => "range",
            };
            let _ = write!(f, "{{{{{kw} {}}}}}", b.pipe);
            write_list(f, src, &b.list);
            if let Some(e) = &b.else_list {
                f.push_str("{{else}}");
                write_list(f, src, e);
            }
            f.push_str("{{end}}");
        }
        Node::Template { name, pipe, .. } => {
            let q = crate::gofmt::quote(name);
            match pipe {
                Some(p) => {
                    let _ = write!(f, "{{{{template {q} {p}}}}}");
                }
                None => {
                    let _ = write!(f, "{{{{template {q}}}}}");
                }
            }
        }
        Node::Break => f.push_str("{{break}}"),
        Node::Continue => f.push_str("{{continue}}"),
    }
}
