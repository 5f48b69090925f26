//! The function registry shared by the Go template engine and native Jinja templates.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Value, ValueKind};

use crate::value::{as_f64, go_type_name, is_float};

/// A function failure; `message` is Go's text (e.g. `key does not exist: /nope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncError {
    /// Go's error text.
    pub message: String,
    /// The store key involved, when a key was missing.
    pub key: Option<String>,
}

impl FuncError {
    /// An error with a message and no key.
    pub fn new(message: impl Into<String>) -> Self {
        FuncError {
            message: message.into(),
            key: None,
        }
    }

    /// An error about a missing key.
    pub fn with_key(message: impl Into<String>, key: impl Into<String>) -> Self {
        FuncError {
            message: message.into(),
            key: Some(key.into()),
        }
    }
}

impl fmt::Display for FuncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FuncError {}

/// What a function returns.
pub type FuncResult = Result<Value, FuncError>;

/// Lets a function run another template of the current render (consul-template's `executeTemplate`).
pub trait TemplateExecutor {
    /// Executes the named template with `dot` and returns its output.
    fn execute_template(&self, name: &str, dot: Value) -> Result<String, FuncError>;
}

/// Per-call context: the dialect's per-render state and access to the engine.
pub struct CallCtx<'a> {
    state: &'a dyn Any,
    executor: Option<&'a dyn TemplateExecutor>,
}

impl fmt::Debug for CallCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallCtx")
            .field("has_executor", &self.executor.is_some())
            .finish()
    }
}

impl<'a> CallCtx<'a> {
    /// A context with per-render state and no template executor.
    pub fn new(state: &'a dyn Any) -> Self {
        CallCtx {
            state,
            executor: None,
        }
    }

    /// A context with per-render state and a template executor.
    pub fn with_executor(state: &'a dyn Any, executor: &'a dyn TemplateExecutor) -> Self {
        CallCtx {
            state,
            executor: Some(executor),
        }
    }

    /// The dialect's per-render state, if it has type `T`.
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.state.downcast_ref::<T>()
    }

    /// Executes a named template of the current render.
    pub fn execute_template(&self, name: &str, dot: Value) -> Result<String, FuncError> {
        match self.executor {
            Some(e) => e.execute_template(name, dot),
            None => Err(FuncError::new(format!(
                "template: no template {name:?} associated with template"
            ))),
        }
    }
}

/// A registered function.
pub type FuncPtr = Arc<dyn Fn(&CallCtx<'_>, &[Value]) -> FuncResult + Send + Sync>;

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    /// Minimum number of arguments.
    pub min: usize,
    /// Maximum number of arguments (`None` = variadic).
    pub max: Option<usize>,
}

impl Arity {
    /// Exactly `n` arguments.
    pub const fn exact(n: usize) -> Self {
        Arity {
            min: n,
            max: Some(n),
        }
    }

    /// At least `n` arguments (Go variadic).
    pub const fn at_least(n: usize) -> Self {
        Arity { min: n, max: None }
    }

    /// Between `min` and `max` arguments.
    pub const fn range(min: usize, max: usize) -> Self {
        Arity {
            min,
            max: Some(max),
        }
    }

    /// Go's error text when `got` arguments do not fit, or `None` when they do.
    pub fn check(&self, name: &str, got: usize) -> Option<String> {
        match self.max {
            Some(max) if self.min == max && got != max => Some(format!(
                "wrong number of args for {name}: want {max} got {got}"
            )),
            Some(max) if got > max => Some(format!(
                "wrong number of args for {name}: want at most {max} got {got}"
            )),
            _ if got < self.min => Some(format!(
                "wrong number of args for {name}: want at least {} got {got}",
                self.min
            )),
            _ => None,
        }
    }
}

/// A function definition in a [`FuncMap`].
#[derive(Clone)]
pub struct FuncDef {
    /// The function's name.
    pub name: Arc<str>,
    /// Its arity.
    pub arity: Arity,
    /// The implementation.
    pub func: FuncPtr,
}

impl fmt::Debug for FuncDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuncDef")
            .field("name", &self.name)
            .field("arity", &self.arity)
            .finish()
    }
}

impl FuncDef {
    /// Checks the arity and calls the function.
    pub fn call(&self, ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
        if let Some(msg) = self.arity.check(&self.name, args.len()) {
            return Err(FuncError::new(msg));
        }
        (self.func)(ctx, args)
    }
}

/// A set of named functions.
#[derive(Clone, Default)]
pub struct FuncMap {
    funcs: HashMap<String, FuncDef>,
}

impl fmt::Debug for FuncMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("FuncMap").field("names", &names).finish()
    }
}

impl FuncMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a function.
    pub fn insert(
        &mut self,
        name: &str,
        arity: Arity,
        f: impl Fn(&CallCtx<'_>, &[Value]) -> FuncResult + Send + Sync + 'static,
    ) {
        self.funcs.insert(
            name.to_string(),
            FuncDef {
                name: Arc::from(name),
                arity,
                func: Arc::new(f),
            },
        );
    }

    /// Looks a function up.
    pub fn get(&self, name: &str) -> Option<&FuncDef> {
        self.funcs.get(name)
    }

    /// True when `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }

    /// The registered names (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    /// True when no function is registered.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }
}

fn arg(args: &[Value], i: usize) -> Result<&Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::new(format!("missing argument {i}")))
}

/// Go's text for a value of the wrong type: `wrong type for value; expected T; got U`.
pub fn wrong_type(expected: &str, got: &Value) -> FuncError {
    FuncError::new(format!(
        "wrong type for value; expected {expected}; got {}",
        go_type_name(got)
    ))
}

/// Argument `i` as a string (Go `string` parameter).
pub fn arg_str(args: &[Value], i: usize) -> Result<&str, FuncError> {
    let v = arg(args, i)?;
    match v.as_str() {
        Some(s) => Ok(s),
        None if v.is_undefined() || v.is_none() => {
            Err(FuncError::new("invalid value; expected string".to_string()))
        }
        None => Err(wrong_type("string", v)),
    }
}

/// Argument `i` as a Go `int` (`expected integer; found "1"` for a string).
pub fn arg_int(args: &[Value], i: usize) -> Result<i64, FuncError> {
    let v = arg(args, i)?;
    if v.kind() == ValueKind::Number && v.is_integer() {
        if let Some(n) = v.as_i64() {
            return Ok(n);
        }
    }
    Err(match v.as_str() {
        Some(s) => FuncError::new(format!(
            "expected integer; found {}",
            crate::gofmt::quote(s)
        )),
        None if is_float(v) => FuncError::new(format!(
            "expected integer; found {}",
            crate::value::format_value(v)
        )),
        None => wrong_type("int", v),
    })
}

/// Argument `i` as a Go `float64` (ints are converted).
pub fn arg_f64(args: &[Value], i: usize) -> Result<f64, FuncError> {
    let v = arg(args, i)?;
    as_f64(v).ok_or_else(|| match v.as_str() {
        Some(s) => FuncError::new(format!("expected float; found {}", crate::gofmt::quote(s))),
        None => wrong_type("float64", v),
    })
}

/// Argument `i` as a Go `bool`.
pub fn arg_bool(args: &[Value], i: usize) -> Result<bool, FuncError> {
    let v = arg(args, i)?;
    if v.kind() == ValueKind::Bool {
        Ok(v.is_true())
    } else {
        Err(wrong_type("bool", v))
    }
}

/// Argument `i` as any value (`interface{}` parameter).
pub fn arg_value(args: &[Value], i: usize) -> Result<&Value, FuncError> {
    arg(args, i)
}

/// Argument `i` as a list of strings (Go `[]string` parameter); accepts `[]string` and
/// `[]interface {}` whose items are all strings.
pub fn arg_str_list(args: &[Value], i: usize) -> Result<Vec<String>, FuncError> {
    let v = arg(args, i)?;
    let items = crate::value::seq_items(v).ok_or_else(|| wrong_type("[]string", v))?;
    items
        .iter()
        .map(|it| {
            it.as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong_type("[]string", v))
        })
        .collect()
}
