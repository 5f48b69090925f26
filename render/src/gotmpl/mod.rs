//! A tree-walking interpreter for Go's `text/template` (Go 1.19 semantics) over [`minijinja::Value`].
//!
//! ```
//! use discovery_render::func::FuncMap;
//! use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions};
//! let t = GoTemplate::parse("t", "{{range $i, $v := .}}{{$i}}={{$v}} {{end}}", &FuncMap::new(), &ParseOptions::default()).unwrap();
//! let out = t.execute(&minijinja::Value::from(vec!["a", "b"]), &FuncMap::new(), &(), MissingKey::Default).unwrap();
//! assert_eq!(out, "0=a 1=b ");
//! ```

mod ast;
mod eval;
mod exec;
mod lexer;
mod literal;
mod parser;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use minijinja::Value;

use crate::func::FuncMap;

/// Delimiters of a Go template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Left delimiter (default `{{`).
    pub left_delim: String,
    /// Right delimiter (default `}}`).
    pub right_delim: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            left_delim: "{{".to_string(),
            right_delim: "}}".to_string(),
        }
    }
}

/// What a missing map key evaluates to (Go's `missingkey` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `<no value>` (confd).
    #[default]
    Default,
    /// The zero value of the map's element type (consul-template).
    Zero,
    /// An execution error.
    Error,
}

/// Limits on the work of one execution; Go's `text/template` has none besides its template
/// depth, so a few hundred bytes of template can run for hours (recursive `{{template}}` calls
/// that branch on their data, or that build a large string at every level).
///
/// Every pipeline, function call, `{{template}}` call and range element is one step (a function
/// returning a list or map also costs its length; a variable lookup passing many variables, and
/// a call that needs a fresh stack segment, cost extra steps); the output, every string a
/// function returns and the strings `eq`/`lt`/... compare count as bytes. The budget is shared with templates run
/// through `executeTemplate`. Past a limit, execution stops with a [`TemplateError`] at the
/// template, line and column being evaluated: `exceeded maximum execution steps (N)` or
/// `exceeded maximum bytes of output and function results (N)`.
///
/// ```
/// use discovery_render::func::FuncMap;
/// use discovery_render::gotmpl::{ExecLimits, GoTemplate, MissingKey, ParseOptions};
/// let src = "{{range .}}{{.}}{{end}}";
/// let t = GoTemplate::parse("t", src, &FuncMap::new(), &ParseOptions::default())
///     .unwrap()
///     .with_limits(ExecLimits { max_steps: 100, ..ExecLimits::default() });
/// let many = minijinja::Value::from((0..1000).collect::<Vec<i64>>());
/// let e = t.execute(&many, &FuncMap::new(), &(), MissingKey::Default).unwrap_err();
/// assert!(e.to_string().contains("exceeded maximum execution steps (100)"), "{e}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// Most steps (default [`ExecLimits::DEFAULT_MAX_STEPS`]).
    pub max_steps: u64,
    /// Most bytes (default [`ExecLimits::DEFAULT_MAX_BYTES`]).
    pub max_bytes: u64,
}

impl ExecLimits {
    /// Default step limit: ten million (about a second of interpretation).
    pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;
    /// Default byte limit: 256 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            max_steps: Self::DEFAULT_MAX_STEPS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// A parse or execution error, formatted as Go formats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template (file) name.
    pub name: String,
    /// 1-based line.
    pub line: usize,
    /// 0-based byte column in the line as Go reports it (execution errors); parse errors have
    /// no column in Go's text and carry 0 here.
    pub column: usize,
    /// Go's text after `template: NAME:LINE:COL: `.
    pub message: String,
    /// The store key involved, when a function reported a missing key.
    pub key: Option<String>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Execution errors (`executing "NAME" at <NODE>: ...`) have a line and column; parse
        // errors only a line; an error with no position (unknown template name) is printed as is.
        if self.line == 0 {
            f.write_str(&self.message)
        } else if self.message.starts_with("executing \"") {
            write!(
                f,
                "template: {}:{}:{}: {}",
                self.name, self.line, self.column, self.message
            )
        } else {
            write!(f, "template: {}:{}: {}", self.name, self.line, self.message)
        }
    }
}

impl std::error::Error for TemplateError {}

/// A parsed Go template (with all its `define`d templates); parse once, execute many times.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    name: Arc<str>,
    src: Arc<str>,
    trees: Arc<HashMap<String, Vec<ast::Node>>>,
    limits: ExecLimits,
    /// Length of the last top-level output: the next one starts with room for it, so a large
    /// render does not grow its buffer through a chain of copies.
    last_len: Arc<AtomicUsize>,
}

impl GoTemplate {
    /// Parses `source`. Unknown functions (not builtins, not in `funcs`) fail here, as in Go.
    pub fn parse(
        name: &str,
        source: &str,
        funcs: &FuncMap,
        opts: &ParseOptions,
    ) -> Result<GoTemplate, TemplateError> {
        let trees = parser::parse(name, source, &opts.left_delim, &opts.right_delim, funcs)
            .map_err(|e| TemplateError {
                name: name.to_string(),
                line: e.line,
                column: 0,
                message: e.message,
                key: None,
            })?;
        Ok(GoTemplate {
            name: Arc::from(name),
            src: Arc::from(source),
            trees: Arc::new(trees),
            limits: ExecLimits::default(),
            last_len: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The same template with other execution limits.
    pub fn with_limits(mut self, limits: ExecLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The execution limits (see [`ExecLimits`]).
    pub fn limits(&self) -> ExecLimits {
        self.limits
    }

    /// The capacity to start a top-level output with: the last output's length and 1/16 more.
    pub(crate) fn output_capacity(&self) -> usize {
        let last = self.last_len.load(Ordering::Relaxed);
        (last + last / 16).max(self.src.len() * 2)
    }

    /// Remembers a top-level output's length for [`GoTemplate::output_capacity`].
    pub(crate) fn record_output_len(&self, len: usize) {
        self.last_len.store(len, Ordering::Relaxed);
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names of all templates in this set (the main one and every `define`/`block`), sorted.
    pub fn template_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Executes the main template with `dot` as data.
    pub fn execute(
        &self,
        dot: &Value,
        funcs: &FuncMap,
        state: &dyn Any,
        missing: MissingKey,
    ) -> Result<String, TemplateError> {
        self.execute_named(&self.name, dot, funcs, state, missing)
    }

    /// Executes the template `name` (a `define`d one or the main one).
    pub fn execute_named(
        &self,
        name: &str,
        dot: &Value,
        funcs: &FuncMap,
        state: &dyn Any,
        missing: MissingKey,
    ) -> Result<String, TemplateError> {
        let budget = exec::Budget::new(self.limits);
        exec::execute(self, name, dot, funcs, state, missing, 0, &budget)
    }
}
