//! The interpreter: walks the parse tree with Go 1.19 `text/template` semantics.
//!
//! Like Go's `state.at`, the interpreter remembers the node it is evaluating; an error reports
//! that node's position and its Go `String()`.

use std::any::Any;
use std::cell::Cell;

use minijinja::value::Value;

use super::ast::{write_node, Arg, Branch, BranchKind, Command, Node, Pipe};
use super::{ExecLimits, GoTemplate, MissingKey, TemplateError};
use crate::builtins;
use crate::func::{FuncError, FuncMap, TemplateExecutor};
use crate::value::{as_go_list, as_go_object, format_value, seq_items, write_value};

/// Maximum nesting of `{{template}}` calls (Go allows 100000; we stop earlier to protect the stack).
pub(crate) const MAX_DEPTH: usize = 10_000;

/// Steps charged when a call needs a fresh stack segment (an `mmap`/`munmap` pair costs about
/// as much time as 100 ordinary steps), so recursion that keeps crossing a segment boundary is
/// bounded in time too.
const STACK_SEGMENT_STEPS: u64 = 100;

const RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 1024 * 1024;

/// What one execution (with the templates it runs through `executeTemplate`) has spent so far,
/// against its [`ExecLimits`].
pub(crate) struct Budget {
    limits: ExecLimits,
    steps: Cell<u64>,
    bytes: Cell<u64>,
}

impl Budget {
    pub(crate) fn new(limits: ExecLimits) -> Self {
        Budget {
            limits,
            steps: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    /// Spends `n` steps (checked by [`Exec::check_budget`]).
    pub(crate) fn add_steps(&self, n: u64) {
        self.steps.set(self.steps.get().saturating_add(n));
    }

    /// Spends `n` bytes (checked by [`Exec::check_budget`]).
    pub(crate) fn add_bytes(&self, n: usize) {
        self.bytes.set(self.bytes.get().saturating_add(n as u64));
    }

    /// Whether more than the budget has been spent.
    pub(crate) fn exceeded(&self) -> bool {
        self.steps.get() > self.limits.max_steps || self.bytes.get() > self.limits.max_bytes
    }

    /// Charges for a fresh stack segment if `stacker::maybe_grow` is about to allocate one.
    fn note_stack(&self) {
        if stacker::remaining_stack().is_some_and(|r| r < RED_ZONE) {
            self.add_steps(STACK_SEGMENT_STEPS);
        }
    }
}

/// An execution error before it is located in the source.
pub(crate) struct ExecError {
    pos: usize,
    context: String,
    message: String,
    key: Option<String>,
    tmpl: String,
}

pub(crate) type EResult<T> = Result<T, Box<ExecError>>;

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node being evaluated (Go's `state.node`).
#[derive(Clone, Copy)]
pub(crate) enum At<'a> {
    Start,
    Arg(&'a Arg),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Node(&'a Node, usize),
}

pub(crate) struct Exec<'a> {
    pub(crate) tmpl: &'a GoTemplate,
    pub(crate) src: &'a str,
    pub(crate) funcs: &'a FuncMap,
    pub(crate) state: &'a dyn Any,
    pub(crate) missing: MissingKey,
    /// Variables: name, value, and whether Go would type the value `interface {}`.
    pub(crate) vars: Vec<(&'a str, Value, bool)>,
    /// Whether Go would type dot `interface {}` (an element of a `[]interface {}` or map of them).
    pub(crate) dot_iface: bool,
    pub(crate) depth: usize,
    pub(crate) name: &'a str,
    pub(crate) at: At<'a>,
    pub(crate) budget: &'a Budget,
    out: String,
}

/// Executes template `name` of `tmpl`, spending from `budget`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute(
    tmpl: &GoTemplate,
    name: &str,
    dot: &Value,
    funcs: &FuncMap,
    state: &dyn Any,
    missing: MissingKey,
    depth: usize,
    budget: &Budget,
) -> Result<String, TemplateError> {
    let Some((tname, root)) = tmpl.trees.get_key_value(name) else {
        return Err(TemplateError {
            name: tmpl.name.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "template: no template {} associated with template {}",
                crate::gofmt::quote(name),
                crate::gofmt::quote(&tmpl.name)
            ),
            key: None,
        });
    };
    let mut ex = Exec {
        tmpl,
        src: &tmpl.src,
        funcs,
        state,
        missing,
        vars: vec![("$", dot.clone(), false)],
        dot_iface: false,
        depth,
        name: tname,
        at: At::Start,
        budget,
        out: String::with_capacity(if depth == 0 {
            tmpl.output_capacity()
        } else {
            tmpl.src.len() * 2
        }),
    };
    match ex.walk_list(dot, root) {
        Ok(_) => {
            if depth == 0 {
                tmpl.record_output_len(ex.out.len());
            }
            Ok(ex.out)
        }
        Err(e) => Err(ex.locate(*e)),
    }
}

impl<'a> Exec<'a> {
    fn locate(&self, e: ExecError) -> TemplateError {
        let before = &self.src[..e.pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(i) => e.pos - (i + 1),
            None => e.pos,
        };
        TemplateError {
            name: self.tmpl.name.to_string(),
            line,
            column: col,
            message: format!(
                "executing {} at <{}>: {}",
                crate::gofmt::quote(&e.tmpl),
                e.context,
                e.message
            ),
            key: e.key,
        }
    }

    /// An error at the current node once the execution has spent more than its budget.
    pub(crate) fn check_budget(&self) -> EResult<()> {
        let limits = &self.budget.limits;
        if self.budget.steps.get() > limits.max_steps {
            return self.fail(format!(
                "exceeded maximum execution steps ({})",
                limits.max_steps
            ));
        }
        if self.budget.bytes.get() > limits.max_bytes {
            return self.fail(format!(
                "exceeded maximum bytes of output and function results ({})",
                limits.max_bytes
            ));
        }
        Ok(())
    }

    /// Spends `n` execution steps and checks the budget.
    pub(crate) fn charge_steps(&self, n: u64) -> EResult<()> {
        self.budget.add_steps(n);
        self.check_budget()
    }

    /// An error at the current node.
    pub(crate) fn fail<T>(&self, message: String) -> EResult<T> {
        Err(self.error_at(message, None))
    }

    /// A function's error at the current node: `error calling NAME: MSG`.
    pub(crate) fn call_error(&self, name: &str, e: FuncError) -> Box<ExecError> {
        self.error_at(format!("error calling {name}: {}", e.message), e.key)
    }

    fn error_at(&self, message: String, key: Option<String>) -> Box<ExecError> {
        let (pos, context) = match self.at {
            At::Start => (0, String::new()),
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Node(n, pos) => {
                let mut s = String::new();
                write_node(&mut s, self.src, n);
                (pos, s)
            }
        };
        Box::new(ExecError {
            pos,
            context,
            message,
            key,
            tmpl: self.name.to_string(),
        })
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Node]) -> EResult<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, n: &'a Node) -> EResult<Flow> {
        match n {
            Node::Text(s, e) => {
                // Text is bounded by the source; the next step checks the budget.
                self.budget.add_bytes(e - s);
                self.out.push_str(&self.src[*s..*e]);
            }
            Node::Action(p) if p.decl.is_empty() && p.is_plain_dot() => {
                // fast path for `{{.}}`: nothing to evaluate, only the budget can fail
                self.at = At::Pipe(p);
                self.charge_steps(1)?;
                self.write(dot)?;
            }
            Node::Action(p) => {
                let v = self.eval_pipeline(dot, p)?;
                if p.decl.is_empty() {
                    self.at = At::Pipe(p);
                    self.write(&v)?;
                }
            }
            Node::Branch(b) => {
                let mark = self.vars.len();
                self.budget.note_stack();
                let r = stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || {
                    if b.kind == BranchKind::Range {
                        self.walk_range(dot, n, b)
                    } else {
                        self.walk_if_with(dot, b)
                    }
                });
                self.vars.truncate(mark);
                return r;
            }
            Node::Template { pos, name, pipe } => self.walk_template(dot, n, *pos, name, pipe)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// Appends `v` to the output and charges its length.
    fn write(&mut self, v: &Value) -> EResult<()> {
        let before = self.out.len();
        write_value(&mut self.out, v);
        self.budget.add_bytes(self.out.len() - before);
        self.check_budget()
    }

    fn walk_if_with(&mut self, dot: &Value, b: &'a Branch) -> EResult<Flow> {
        let v = self.eval_pipeline(dot, &b.pipe)?;
        if builtins::truth(&v) {
            if b.kind == BranchKind::With {
                let saved = std::mem::replace(&mut self.dot_iface, false);
                let r = self.walk_list(&v, &b.list);
                self.dot_iface = saved;
                r
            } else {
                self.walk_list(dot, &b.list)
            }
        } else if let Some(el) = &b.else_list {
            self.walk_list(dot, el)
        } else {
            Ok(Flow::Normal)
        }
    }

    fn walk_range(&mut self, dot: &Value, n: &'a Node, b: &'a Branch) -> EResult<Flow> {
        self.at = At::Node(n, b.pipe.pos);
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let ndecl = b.pipe.decl.len();
        let iface = crate::value::holds_interfaces(&v);
        let mut ran = false;
        if v.is_undefined() || v.is_none() {
            // nil: like an empty collection
        } else if let Some(items) = range_items(&v) {
            ran = !items.is_empty();
            self.charge_steps(items.len() as u64)?;
            for (i, elem) in items.iter().enumerate() {
                if self.one_iteration(ndecl, Value::from(i as i64), elem, iface, &b.list)? {
                    break;
                }
            }
        } else if let Some(entries) = builtins::range_map(&v) {
            ran = !entries.is_empty();
            self.charge_steps(entries.len() as u64)?;
            for (k, elem) in entries.iter() {
                if self.one_iteration(ndecl, k.clone(), elem, iface, &b.list)? {
                    break;
                }
            }
        } else {
            return self.fail(format!("range can't iterate over {}", format_value(&v)));
        }
        if !ran {
            if let Some(el) = &b.else_list {
                return self.walk_list(dot, el);
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs one range iteration; returns true on `{{break}}`.
    fn one_iteration(
        &mut self,
        ndecl: usize,
        index: Value,
        elem: &Value,
        iface: bool,
        list: &'a [Node],
    ) -> EResult<bool> {
        let top = self.vars.len();
        if ndecl > 0 {
            self.vars[top - 1].1 = elem.clone();
            self.vars[top - 1].2 = iface;
        }
        if ndecl > 1 {
            self.vars[top - 2].1 = index;
            self.vars[top - 2].2 = false;
        }
        let saved = std::mem::replace(&mut self.dot_iface, iface);
        let r = self.walk_list(elem, list);
        self.dot_iface = saved;
        self.vars.truncate(top);
        Ok(matches!(r?, Flow::Break))
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        n: &'a Node,
        pos: usize,
        name: &'a str,
        pipe: &'a Option<Pipe>,
    ) -> EResult<()> {
        self.at = At::Node(n, pos);
        let Some((tname, root)) = self.tmpl.trees.get_key_value(name) else {
            return self.fail(format!(
                "template {} not defined",
                crate::gofmt::quote(name)
            ));
        };
        if self.depth >= MAX_DEPTH {
            return self.fail(format!("exceeded maximum template depth ({MAX_DEPTH})"));
        }
        self.charge_steps(1)?;
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::UNDEFINED,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone(), false)]);
        let saved_iface = std::mem::replace(&mut self.dot_iface, false);
        let saved_name = std::mem::replace(&mut self.name, tname.as_str());
        self.depth += 1;
        self.budget.note_stack();
        let r = stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.walk_list(&new_dot, root));
        self.depth -= 1;
        self.name = saved_name;
        self.vars = saved_vars;
        self.dot_iface = saved_iface;
        r.map(|_| ())
    }

    pub(crate) fn eval_pipeline(&mut self, dot: &Value, p: &'a Pipe) -> EResult<Value> {
        self.at = At::Pipe(p);
        self.charge_steps(1)?;
        let mut value: Option<Value> = None;
        for c in &p.cmds {
            let v = self.eval_command(dot, c, value.take())?;
            // A nil interface{} result becomes "no value", as in Go.
            value = Some(if v.is_none() { Value::UNDEFINED } else { v });
        }
        let value = value.unwrap_or(Value::UNDEFINED);
        for name in &p.decl {
            if p.is_assign {
                let found = self.vars.iter().rposition(|(n, _, _)| *n == name.as_str());
                self.charge_lookup(found);
                match found.map(|i| &mut self.vars[i]) {
                    Some(slot) => {
                        slot.1 = value.clone();
                        slot.2 = false;
                    }
                    None => return self.fail(format!("undefined variable: {name}")),
                }
            } else {
                self.vars.push((name.as_str(), value.clone(), false));
            }
        }
        Ok(value)
    }

    /// Charges a variable lookup that scanned the stack down to `found`: one step per 16
    /// variables passed, so long scans (hundreds of variables in scope) are paid for.
    pub(crate) fn charge_lookup(&self, found: Option<usize>) {
        let scanned = self.vars.len() - found.unwrap_or(0);
        self.budget.add_steps((scanned / 16) as u64);
    }

    /// Evaluates a parenthesised pipeline on a growable stack.
    pub(crate) fn eval_nested_pipeline(&mut self, dot: &Value, p: &'a Pipe) -> EResult<Value> {
        self.budget.note_stack();
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.eval_pipeline(dot, p))
    }
}

/// The items `range` walks over a sequence (`None`: not a sequence): a Go slice's shared items
/// as they are when the range starts, without copying them.
fn range_items(v: &Value) -> Option<std::sync::Arc<Vec<Value>>> {
    if let Some(l) = as_go_list(v) {
        return Some(l.shared());
    }
    if as_go_object(v).is_some() {
        return None;
    }
    seq_items(v).map(std::sync::Arc::new)
}

/// Lets functions execute other templates of the same set (`executeTemplate`).
pub(crate) struct SubExec<'a> {
    pub(crate) tmpl: &'a GoTemplate,
    pub(crate) funcs: &'a FuncMap,
    pub(crate) state: &'a dyn Any,
    pub(crate) missing: MissingKey,
    pub(crate) depth: usize,
    pub(crate) budget: &'a Budget,
}

impl TemplateExecutor for SubExec<'_> {
    fn execute_template(&self, name: &str, dot: Value) -> Result<String, FuncError> {
        if self.depth >= MAX_DEPTH {
            return Err(FuncError::new(format!(
                "exceeded maximum template depth ({MAX_DEPTH})"
            )));
        }
        self.budget.note_stack();
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || {
            execute(
                self.tmpl,
                name,
                &dot,
                self.funcs,
                self.state,
                self.missing,
                self.depth,
                self.budget,
            )
        })
        .map_err(|e| FuncError {
            message: elide(e.to_string()),
            key: e.key,
        })
    }
}

/// Longest error text passed up from a nested `executeTemplate` before its middle is elided.
const MAX_NESTED_ERROR: usize = 4096;

/// Shortens a nested execution's error to its first and last 2 KiB. Each `executeTemplate`
/// level wraps the error of the one below, so 10,000 levels of recursion would otherwise build
/// a 900 KB message through 4.5 GB of copying (quadratic in the depth).
fn elide(message: String) -> String {
    if message.len() <= MAX_NESTED_ERROR {
        return message;
    }
    let half = MAX_NESTED_ERROR / 2;
    let mut head = half;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - half;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} [... {} bytes elided ...] {}",
        &message[..head],
        tail - head,
        &message[tail..]
    )
}

impl Pipe {
    /// True for the pipeline `.` alone.
    fn is_plain_dot(&self) -> bool {
        matches!(self.cmds.as_slice(), [c] if matches!(c.args.as_slice(), [Arg::Dot(_)]))
    }
}

impl Command {
    /// The first operand (the parser guarantees there is one).
    pub(crate) fn first(&self) -> &Arg {
        &self.args[0]
    }
}
