//! Evaluation of commands, operands, fields and function calls (Go's `evalCommand` & co).

use minijinja::value::{Value, ValueKind};

use super::ast::{Arg, Command};
use super::exec::{At, EResult, Exec, SubExec};
use super::MissingKey;
use crate::builtins;
use crate::func::{CallCtx, FuncError};
use crate::value::{as_go_map, as_go_object, go_type_name, MapKind};

/// Largest string a FuncMap function may return (a guard against exponential growth; Go has none).
pub(crate) const MAX_STRING: usize = 64 << 20;

/// Largest string a builtin (`printf`, `js`, `html`, ...) may return.
pub(crate) const MAX_BUILTIN_STRING: usize = 16 << 20;

/// Go's `wrong number of args` check; `nargs` includes a piped final value, `explicit` does not.
fn arity_error(
    name: &str,
    min: usize,
    max: Option<usize>,
    nargs: usize,
    explicit: usize,
) -> Option<String> {
    match max {
        None if nargs < min => Some(format!(
            "wrong number of args for {name}: want at least {min} got {explicit}"
        )),
        Some(max) if min == max && nargs != max => Some(format!(
            "wrong number of args for {name}: want {max} got {nargs}"
        )),
        Some(_) if nargs < min => Some(format!(
            "wrong number of args for {name}: want at least {min} got {nargs}"
        )),
        Some(max) if nargs > max => Some(format!(
            "wrong number of args for {name}: want at most {max} got {nargs}"
        )),
        _ => None,
    }
}

impl<'a> Exec<'a> {
    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || final_.is_some() {
            return self.fail(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    pub(crate) fn eval_command(
        &mut self,
        dot: &Value,
        c: &'a Command,
        final_: Option<Value>,
    ) -> EResult<Value> {
        let first = c.first();
        match first {
            Arg::Field(_, idents) => {
                self.at = At::Arg(first);
                let iface = self.dot_iface;
                return self.eval_field_chain(
                    dot,
                    dot.clone(),
                    iface,
                    first,
                    idents,
                    &c.args,
                    final_,
                );
            }
            Arg::Chain(..) => return self.eval_chain(dot, first, &c.args, final_),
            Arg::Ident(_, name) => {
                return self.eval_function(dot, name, first, &c.args[1..], At::Cmd(c), final_)
            }
            Arg::Pipe(_, p) => {
                self.not_a_function(&c.args, &final_)?;
                return self.eval_nested_pipeline(dot, p);
            }
            Arg::Variable(_, idents) => {
                return self.eval_variable(dot, first, idents, &c.args, final_)
            }
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&c.args, &final_)?;
        match first {
            Arg::Bool(_, b) => Ok(Value::from(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.fail("nil is not a command".to_string()),
            Arg::Number(_, _, v) | Arg::Str(_, _, v) => Ok(v.clone()),
            _ => Ok(Value::UNDEFINED),
        }
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        a: &'a Arg,
        idents: &'a [String],
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = At::Arg(a);
        let name = idents[0].as_str();
        let found = self.vars.iter().rposition(|(n, _, _)| *n == name);
        self.charge_lookup(found);
        let (v, iface) = match found.map(|i| &self.vars[i]) {
            Some((_, v, iface)) => (v.clone(), *iface),
            None => return self.fail(format!("undefined variable: {name}")),
        };
        if idents.len() == 1 {
            self.not_a_function(args, &final_)?;
            return Ok(v);
        }
        self.eval_field_chain(dot, v, iface, a, &idents[1..], args, final_)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        a: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = At::Arg(a);
        let Arg::Chain(_, node, fields) = a else {
            return Ok(Value::UNDEFINED);
        };
        if let Arg::Nil(_) = node.as_ref() {
            return self.fail(format!("indirection through explicit nil in {a}"));
        }
        let recv = self.eval_arg(dot, node)?;
        self.eval_field_chain(dot, recv, false, a, fields, args, final_)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        recv_iface: bool,
        node: &'a Arg,
        idents: &'a [String],
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let n = idents.len();
        // Go types a value looked up in a map[string]interface{} as `interface {}`.
        let mut iface = recv_iface;
        for id in &idents[..n - 1] {
            let next_iface = Self::yields_interface(&recv);
            recv = self.eval_field(dot, id, node, &[], None, recv, iface)?;
            iface = next_iface;
        }
        self.eval_field(dot, &idents[n - 1], node, args, final_, recv, iface)
    }

    fn yields_interface(recv: &Value) -> bool {
        match as_go_map(recv) {
            Some(m) => m.kind == MapKind::Interface,
            None => recv.kind() == ValueKind::Map && as_go_object(recv).is_none(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value>,
        recv: Value,
        iface: bool,
    ) -> EResult<Value> {
        if recv.is_undefined() {
            if self.missing == MissingKey::Error {
                return self.fail(format!(
                    "nil data; no entry for key {}",
                    crate::gofmt::quote(name)
                ));
            }
            return Ok(Value::UNDEFINED);
        }
        if recv.is_none() {
            return self.fail(format!("nil pointer evaluating interface {{}}.{name}"));
        }
        let typ = if iface {
            "interface {}".to_string()
        } else {
            go_type_name(&recv)
        };
        let has_args = args.len() > 1 || final_.is_some();
        if let Some(obj) = as_go_object(&recv) {
            if !has_args {
                if let Some(v) = obj.field(name) {
                    return Ok(v);
                }
            }
            let mut argv = Vec::with_capacity(args.len());
            for a in args.iter().skip(1) {
                argv.push(self.eval_arg(dot, a)?);
            }
            if let Some(f) = final_ {
                argv.push(f);
            }
            return match obj.method(name, &argv) {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => {
                    self.at = At::Arg(node);
                    Err(self.call_error(name, e))
                }
                None if obj.field(name).is_some() => self.fail(format!(
                    "{name} has arguments but cannot be invoked as function"
                )),
                None => self.fail(format!("can't evaluate field {name} in type {typ}")),
            };
        }
        let map = as_go_map(&recv);
        if map.is_none() && recv.kind() != ValueKind::Map {
            return self.fail(format!("can't evaluate field {name} in type {typ}"));
        }
        if has_args {
            return self.fail(format!("{name} is not a method but has arguments"));
        }
        let (found, kind) = match map {
            Some(m) => (m.entries.get(name).cloned(), m.kind.clone()),
            None => (
                recv.get_attr(name).ok().filter(|v| !v.is_undefined()),
                MapKind::Interface,
            ),
        };
        match found {
            Some(v) => Ok(v),
            None => match self.missing {
                MissingKey::Default => Ok(Value::UNDEFINED),
                MissingKey::Zero => Ok(match kind {
                    MapKind::String => Value::from(""),
                    MapKind::Interface => Value::from(()),
                }),
                MissingKey::Error => self.fail(format!(
                    "map has no entry for key {}",
                    crate::gofmt::quote(name)
                )),
            },
        }
    }

    /// Evaluates an argument (Go's `evalArg`).
    fn eval_arg(&mut self, dot: &Value, a: &'a Arg) -> EResult<Value> {
        self.at = At::Arg(a);
        match a {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::from(())),
            Arg::Field(_, idents) => {
                let iface = self.dot_iface;
                self.eval_field_chain(
                    dot,
                    dot.clone(),
                    iface,
                    a,
                    idents,
                    std::slice::from_ref(a),
                    None,
                )
            }
            Arg::Variable(_, idents) => self.eval_variable(dot, a, idents, &[], None),
            Arg::Pipe(_, p) => self.eval_nested_pipeline(dot, p),
            Arg::Ident(_, name) => self.eval_function(dot, name, a, &[], At::Arg(a), None),
            Arg::Chain(..) => self.eval_chain(dot, a, &[], None),
            Arg::Bool(_, b) => Ok(Value::from(*b)),
            Arg::Number(_, _, v) | Arg::Str(_, _, v) => Ok(v.clone()),
        }
    }

    pub(crate) fn eval_function(
        &mut self,
        dot: &Value,
        name: &'a str,
        ident: &'a Arg,
        args: &'a [Arg],
        node: At<'a>,
        final_: Option<Value>,
    ) -> EResult<Value> {
        self.at = At::Arg(ident);
        self.charge_steps(1)?;
        let nargs = args.len() + usize::from(final_.is_some());
        // As in Go, a FuncMap entry takes precedence over a builtin of the same name.
        let def = self.funcs.get(name);
        let is_builtin = def.is_none() && super::parser::BUILTINS.contains(&name);
        if !is_builtin && def.is_none() {
            return self.fail(format!(
                "{} is not a defined function",
                crate::gofmt::quote(name)
            ));
        }
        let (min, max) = match def {
            Some(d) => (d.arity.min, d.arity.max),
            None => builtins::arity(name),
        };
        if let Some(msg) = arity_error(name, min, max, nargs, args.len()) {
            return self.fail(msg);
        }
        if is_builtin && (name == "and" || name == "or") {
            let want = name == "or";
            let mut v = Value::UNDEFINED;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if builtins::truth(&v) == want {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(nargs);
        for a in args {
            let v = self.eval_arg(dot, a)?;
            // A literal nil reaches Go's builtins as an invalid reflect.Value.
            let literal_nil = is_builtin && matches!(a, Arg::Nil(_));
            argv.push(if literal_nil { Value::UNDEFINED } else { v });
        }
        if let Some(f) = final_ {
            argv.push(f);
        }
        if is_builtin && matches!(name, "eq" | "ne" | "lt" | "le" | "gt" | "ge") {
            // Comparing strings costs their length (at most the shorter one's).
            let first = argv[0].as_str().map_or(0, str::len);
            let compared: usize = argv[1..]
                .iter()
                .map(|v| v.as_str().map_or(0, |s| s.len().min(first)))
                .sum();
            self.budget.add_bytes(compared);
        }
        let result = match def {
            None => builtins::call(name, &argv).map_err(FuncError::new),
            Some(d) => {
                let sub = SubExec {
                    tmpl: self.tmpl,
                    funcs: self.funcs,
                    state: self.state,
                    missing: self.missing,
                    depth: self.depth + 1,
                    budget: self.budget,
                };
                let ctx = CallCtx::with_executor(self.state, &sub);
                (d.func)(&ctx, &argv)
            }
        };
        // Chained escapes (`js`, `html`) or doubling `printf "%s%s"` grow exponentially;
        // Go would run out of memory, we stop with an error.
        let limit = if is_builtin {
            MAX_BUILTIN_STRING
        } else {
            MAX_STRING
        };
        let result = result.and_then(|v| match v.as_str() {
            Some(s) if s.len() > limit => Err(FuncError::new(format!(
                "result is too large ({} bytes, limit {limit})",
                s.len()
            ))),
            _ => Ok(v),
        });
        let v = result.map_err(|e| {
            self.at = node;
            self.call_error(name, e)
        })?;
        // What the call produced counts against the budget: string bytes, or collection length.
        match v.as_str() {
            Some(s) => self.budget.add_bytes(s.len()),
            None if matches!(v.kind(), ValueKind::Seq | ValueKind::Map) => {
                self.budget.add_steps(v.len().unwrap_or(0) as u64)
            }
            None => {}
        }
        if self.budget.exceeded() {
            self.at = node;
            self.check_budget()?;
        }
        Ok(v)
    }
}
