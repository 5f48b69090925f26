//! The parser of Go's `text/template` (Go 1.19 grammar and error texts).

mod pipeline;

use std::collections::HashMap;

use super::ast::{Branch, BranchKind, Node};
use super::lexer::{lex, Item, T};
use super::literal::unquote;
use crate::func::FuncMap;

/// A parse failure: Go reports only the line.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub line: usize,
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

/// The builtin function names of `text/template`.
pub(crate) const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Deepest nesting of control structures and parentheses accepted (Go has no limit; this
/// keeps parsing, execution and dropping the tree within the stack).
pub(crate) const MAX_NESTING: usize = 1000;

/// All trees of one parse: the main template and every `define`/`block`.
pub(crate) type TreeSet = HashMap<String, Vec<Node>>;

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    furthest: usize,
    action_line: usize,
    funcs: &'a FuncMap,
    name: &'a str,
    trees: TreeSet,
}

/// Parses `src` into a tree set; the main tree is stored under `name`.
pub(crate) fn parse(
    name: &str,
    src: &str,
    left: &str,
    right: &str,
    funcs: &FuncMap,
) -> PResult<TreeSet> {
    let items = lex(src, left, right);
    let mut p = Parser {
        src,
        items,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        nesting: 0,
        furthest: 0,
        action_line: 0,
        funcs,
        name,
        trees: HashMap::new(),
    };
    let root = p.parse_root()?;
    p.add_tree(name.to_string(), root)?;
    Ok(p.trees)
}

fn is_empty_tree(list: &[Node], src: &str) -> bool {
    list.iter().all(|n| match n {
        Node::Text(s, e) => src[*s..*e].trim_matches([' ', '\t', '\r', '\n']).is_empty(),
        _ => false,
    })
}

impl<'a> Parser<'a> {
    fn item(&self, i: usize) -> &Item {
        let last = self.items.len() - 1;
        &self.items[i.min(last)]
    }

    fn next(&mut self) -> Item {
        let it = self.item(self.i).clone();
        self.furthest = self.furthest.max(self.i);
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }

    fn peek(&self) -> &Item {
        self.item(self.i)
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.typ != T::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.i -= 1;
        it
    }

    fn val(&self, it: &Item) -> &'a str {
        &self.src[it.pos..it.end]
    }

    /// A parse error; like Go, it reports the line of the furthest token read so far.
    fn err<X>(&self, message: String) -> PResult<X> {
        let line = self.item(self.furthest).line;
        Err(ParseError { line, message })
    }

    /// Go's `item.String()`.
    fn describe(&self, it: &Item) -> String {
        match it.typ {
            T::Eof => "EOF".to_string(),
            T::Error => it.err.clone().unwrap_or_default(),
            T::Block
            | T::Break
            | T::Continue
            | T::Dot
            | T::Define
            | T::Else
            | T::End
            | T::If
            | T::Range
            | T::Nil
            | T::Template
            | T::With => format!("<{}>", self.val(it)),
            _ => {
                let v = self.val(it);
                if v.chars().count() > 10 {
                    let short: String = v.chars().take(10).collect();
                    format!("{}...", crate::gofmt::quote(&short))
                } else {
                    crate::gofmt::quote(v)
                }
            }
        }
    }

    fn unexpected<X>(&self, it: &Item, context: &str) -> PResult<X> {
        if it.typ == T::Error {
            let msg = it.err.clone().unwrap_or_default();
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != it.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if msg.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.err(format!("{msg}{extra}"));
        }
        self.err(format!("unexpected {} in {context}", self.describe(it)))
    }

    fn expect(&mut self, t: T, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.typ != t {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn add_tree(&mut self, name: String, list: Vec<Node>) -> PResult<()> {
        match self.trees.get(&name) {
            Some(old) if !is_empty_tree(old, self.src) => {
                if !is_empty_tree(&list, self.src) {
                    return self.err(format!(
                        "template: multiple definition of template {name:?}"
                    ));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(name, list);
                Ok(())
            }
        }
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != T::Eof {
            if self.peek().typ == T::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().typ == T::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::End => return self.err("unexpected {{end}}".to_string()),
                Parsed::Else | Parsed::ElseIf => {
                    return self.err("unexpected {{else}}".to_string())
                }
                Parsed::Node(Some(n)) => root.push(n),
                Parsed::Node(None) => {}
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CTX: &str = "define clause";
        let it = self.next_non_space();
        let name = match it.typ {
            T::String | T::RawString => self.unquote_item(&it)?,
            _ => return self.unexpected(&it, CTX),
        };
        self.expect(T::RightDelim, CTX)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let Parsed::Else = end {
            return self.err(format!("unexpected {{{{else}}}} in {CTX}"));
        }
        self.add_tree(name, list)
    }

    fn unquote_item(&self, it: &Item) -> PResult<String> {
        match unquote(self.val(it)) {
            Some(s) => Ok(s),
            None => self.err("invalid syntax".to_string()),
        }
    }

    /// Parses nodes until `{{end}}` or `{{else}}`; returns the list and which one ended it.
    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        loop {
            let it = self.peek_non_space();
            if it.typ == T::Eof {
                return self.err("unexpected EOF".to_string());
            }
            match self.text_or_action()? {
                Parsed::Node(Some(n)) => list.push(n),
                Parsed::Node(None) => {}
                end => return Ok((list, end)),
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.typ {
            T::Text => Ok(Parsed::Node(Some(Node::Text(it.pos, it.end)))),
            T::LeftDelim => {
                // Go clears the action line when any action ends, even inside an open one.
                self.action_line = it.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            T::Comment => Ok(Parsed::Node(None)),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.typ {
            T::Block => return self.block_control().map(|n| Parsed::Node(Some(n))),
            T::Break | T::Continue => {
                let what = if it.typ == T::Break {
                    "break"
                } else {
                    "continue"
                };
                let tok = self.next_non_space();
                if tok.typ != T::RightDelim {
                    return self.unexpected(&tok, &format!("{{{{{what}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.err(format!("{{{{{what}}}}} outside {{{{range}}}}"));
                }
                let n = if it.typ == T::Break {
                    Node::Break
                } else {
                    Node::Continue
                };
                return Ok(Parsed::Node(Some(n)));
            }
            T::Else => {
                let peek = self.peek_non_space();
                if peek.typ == T::If {
                    return Ok(Parsed::ElseIf);
                }
                self.expect(T::RightDelim, "else")?;
                return Ok(Parsed::Else);
            }
            T::End => {
                self.expect(T::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            T::If => return self.control(BranchKind::If).map(|n| Parsed::Node(Some(n))),
            T::Range => {
                return self
                    .control(BranchKind::Range)
                    .map(|n| Parsed::Node(Some(n)))
            }
            T::With => {
                return self
                    .control(BranchKind::With)
                    .map(|n| Parsed::Node(Some(n)))
            }
            T::Template => return self.template_control().map(|n| Parsed::Node(Some(n))),
            _ => {}
        }
        self.i -= 1;
        let pipe = self.pipeline("command", T::RightDelim)?;
        Ok(Parsed::Node(Some(Node::Action(pipe))))
    }

    /// Runs a nested parse step with a nesting limit and a growable stack.
    fn nested<X>(&mut self, f: impl FnOnce(&mut Self) -> PResult<X>) -> PResult<X> {
        if self.nesting >= MAX_NESTING {
            return self.err(format!("template nesting too deep (over {MAX_NESTING})"));
        }
        self.nesting += 1;
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || f(self));
        self.nesting -= 1;
        r
    }

    fn control(&mut self, kind: BranchKind) -> PResult<Node> {
        self.nested(|p| p.control_inner(kind))
    }

    fn control_inner(&mut self, kind: BranchKind) -> PResult<Node> {
        let ctx = match kind {
            BranchKind::If => "if",
            BranchKind::With => "with",
            BranchKind::Range => "range",
        };
        let nvars = self.vars.len();
        let pipe = self.pipeline(ctx, T::RightDelim)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let else_list = match next {
            Parsed::End => None,
            Parsed::ElseIf if kind == BranchKind::If => {
                // {{else if x}} is {{else}}{{if x}}...{{end}}{{end}} with a single {{end}}.
                self.next_non_space(); // consume "if"
                let inner = self.control(BranchKind::If)?;
                Some(vec![inner])
            }
            Parsed::ElseIf | Parsed::Else => {
                let (el, end) = self.item_list()?;
                match end {
                    Parsed::End => {}
                    Parsed::Else | Parsed::ElseIf => {
                        return self.err("expected end; found {{else}}".to_string())
                    }
                    Parsed::Node(_) => {}
                }
                Some(el)
            }
            Parsed::Node(_) => None,
        };
        self.vars.truncate(nvars);
        Ok(Node::Branch(Box::new(Branch {
            kind,
            pipe,
            list,
            else_list,
        })))
    }

    fn template_name(&mut self, it: &Item, ctx: &str) -> PResult<String> {
        match it.typ {
            T::String | T::RawString => self.unquote_item(it),
            _ => self.unexpected(it, ctx),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CTX: &str = "template clause";
        let it = self.next_non_space();
        let name = self.template_name(&it, CTX)?;
        let pipe = if self.next_non_space().typ != T::RightDelim {
            self.i -= 1;
            Some(self.pipeline(CTX, T::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template {
            pos: it.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        self.nested(Self::block_control_inner)
    }

    fn block_control_inner(&mut self) -> PResult<Node> {
        const CTX: &str = "block clause";
        let it = self.next_non_space();
        let name = self.template_name(&it, CTX)?;
        let pipe = self.pipeline(CTX, T::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        // Go parses the block body as a separate tree: no enclosing action line, and the
        // enclosing tree's last token (for error lines) stays the block clause's `}}`.
        let furthest = self.furthest;
        self.action_line = 0;
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let (list, end) = r?;
        if let Parsed::Else | Parsed::ElseIf = end {
            self.furthest = furthest;
            return self.err(format!("unexpected {{{{else}}}} in {CTX}"));
        }
        self.add_tree(name.clone(), list)?;
        Ok(Node::Template {
            pos: it.pos,
            name,
            pipe: Some(pipe),
        })
    }
}

/// What `text_or_action` produced.
enum Parsed {
    Node(Option<Node>),
    End,
    Else,
    ElseIf,
}
