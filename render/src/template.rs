//! The public API: [`Template`] (parsed once, rendered many times) and its [`TemplateOptions`].

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use discovery_core::{Error, Result};
use minijinja::Value;

use crate::func::FuncMap;
use crate::gotmpl::{GoTemplate, MissingKey, ParseOptions, TemplateError};
use crate::jinja::JinjaTemplate;

/// Which tool's function set a template uses. The two clash (`split`, `join`, `contains`,
/// `trimSuffix` and the math functions take their arguments in different orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// confd: `get gets getv getvs ls lsdir exists`, confd 0.17's helpers, and the functions
    /// the abtreece/confd fork added (`default`, `toJson`, `dict`, `include`, ...), which are new
    /// names and so change nothing for a confd 0.17 template.
    #[default]
    Confd,
    /// abtreece/confd (v0.41): [`Dialect::Confd`] with the fork's changes to confd 0.17's own
    /// functions: `seq 5 1` counts down, `reverse` returns a copy, `div`/`mod` by zero fail with
    /// `division by zero`/`modulo by zero`, `fileExists` is false when the file cannot be
    /// stat'ed, and a malformed `gets`/`getvs` pattern is named in the error.
    ConfdFork,
    /// consul-template: `service services key keyOrDefault ls tree ...` and its helpers.
    ConsulTemplate,
}

/// The template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Syntax {
    /// Go `text/template` (what confd and consul-template read).
    #[default]
    Go,
    /// Native Jinja (minijinja), with the same functions.
    Jinja,
}

impl Syntax {
    /// `.j2` and `.jinja` files are Jinja; everything else is Go.
    ///
    /// ```
    /// use discovery_render::Syntax;
    /// assert_eq!(Syntax::from_path("nginx.conf.j2".as_ref()), Syntax::Jinja);
    /// assert_eq!(Syntax::from_path("nginx.conf.tmpl".as_ref()), Syntax::Go);
    /// ```
    pub fn from_path(path: &Path) -> Syntax {
        match path.extension().and_then(|e| e.to_str()) {
            Some("j2" | "jinja") => Syntax::Jinja,
            _ => Syntax::Go,
        }
    }
}

/// How a template is parsed and executed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TemplateOptions {
    /// The name used in error messages (confd uses the file's base name).
    pub name: String,
    /// The function set.
    pub dialect: Dialect,
    /// The template language.
    pub syntax: Syntax,
    /// Left action delimiter (Go syntax; default `{{`).
    pub left_delim: String,
    /// Right action delimiter (Go syntax; default `}}`).
    pub right_delim: String,
    /// consul-template's `error_on_missing_key`: indexing a missing map key fails instead of
    /// giving the zero value.
    pub error_on_missing_key: bool,
    /// The environment `getenv`/`env` read; `None` reads the process environment.
    pub env: Option<BTreeMap<String, String>>,
    /// The directory consul-template's `file` may read under; `None` disables `file`.
    pub file_sandbox: Option<PathBuf>,
    /// The templates directory confd's `include` reads from (confd's `<confdir>/templates`);
    /// `None` makes `include` fail.
    pub include_dir: Option<PathBuf>,
    /// consul-template's `function_denylist`: functions whose name matches one of these
    /// patterns (`*` matches any run of characters) still parse, and fail when called with
    /// "function is disabled".
    pub function_denylist: Vec<String>,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            name: String::new(),
            dialect: Dialect::Confd,
            syntax: Syntax::Go,
            left_delim: "{{".into(),
            right_delim: "}}".into(),
            error_on_missing_key: false,
            env: None,
            file_sandbox: None,
            include_dir: None,
            function_denylist: Vec::new(),
        }
    }
}

impl TemplateOptions {
    /// Options for `dialect` with everything else at its default.
    pub fn new(dialect: Dialect) -> Self {
        TemplateOptions {
            dialect,
            ..Default::default()
        }
    }

    /// Sets the name used in errors.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the syntax.
    pub fn syntax(mut self, syntax: Syntax) -> Self {
        self.syntax = syntax;
        self
    }

    /// Sets the action delimiters (Go syntax).
    pub fn delimiters(mut self, left: impl Into<String>, right: impl Into<String>) -> Self {
        self.left_delim = left.into();
        self.right_delim = right.into();
        self
    }

    /// Sets the environment seen by the template instead of the process environment.
    pub fn env(mut self, env: BTreeMap<String, String>) -> Self {
        self.env = Some(env);
        self
    }

    /// Makes a missing map key an error (consul-template `error_on_missing_key`).
    pub fn error_on_missing_key(mut self, on: bool) -> Self {
        self.error_on_missing_key = on;
        self
    }

    /// Sets the templates directory confd's `include` reads from.
    pub fn include_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.include_dir = Some(dir.into());
        self
    }

    /// Disables the functions matching `patterns` (consul-template's `function_denylist`).
    ///
    /// ```
    /// use discovery_render::{Dialect, Template, TemplateOptions};
    /// let opts = TemplateOptions::new(Dialect::ConsulTemplate).deny_functions(["sprig_*"]);
    /// // Still parses: the call fails when it runs.
    /// let t = Template::parse(r#"{{ "abc" | sprig_reverse }}"#, opts)?;
    /// # let _ = t;
    /// # Ok::<(), discovery_core::Error>(())
    /// ```
    pub fn deny_functions<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.function_denylist = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Enables consul-template's `file` for paths under `dir`.
    pub fn file_sandbox(mut self, dir: impl Into<PathBuf>) -> Self {
        self.file_sandbox = Some(dir.into());
        self
    }
}

/// Where `getenv`/`env` look variables up.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvSource(Option<Arc<BTreeMap<String, String>>>);

impl EnvSource {
    /// The variable's value, if set.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        match &self.0 {
            Some(m) => m.get(key).cloned(),
            None => std::env::var(key).ok(),
        }
    }
}

enum Engine {
    Go(GoTemplate),
    Jinja(Box<JinjaTemplate>),
}

struct Inner {
    opts: TemplateOptions,
    env: EnvSource,
    engine: Engine,
    /// The dialect's functions with the denied ones replaced; `None`: the dialect's own.
    denied: Option<FuncMap>,
}

/// A parsed template: cheap to clone, `Send + Sync`, rendered many times.
///
/// Render it through [`crate::ConfdTemplate`] or [`crate::ConsulTemplate`], which implement
/// [`discovery_core::Renderer`].
#[derive(Clone)]
pub struct Template {
    inner: Arc<Inner>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.inner.opts.name)
            .field("dialect", &self.inner.opts.dialect)
            .field("syntax", &self.inner.opts.syntax)
            .finish()
    }
}

pub(crate) fn template_error(file: &str, e: TemplateError) -> Error {
    Error::Template {
        file: file.to_owned(),
        line: e.line,
        column: e.column,
        key: e.key,
        message: e.message,
    }
}

impl Template {
    /// Parses `source`. Syntax errors and unknown functions fail here, naming the line and column.
    pub fn parse(source: &str, opts: TemplateOptions) -> Result<Template> {
        let denied = deny(Self::funcs_for(opts.dialect), &opts.function_denylist);
        let funcs = denied
            .as_ref()
            .unwrap_or_else(|| Self::funcs_for(opts.dialect));
        let engine = match opts.syntax {
            Syntax::Go => {
                let popts = ParseOptions {
                    left_delim: opts.left_delim.clone(),
                    right_delim: opts.right_delim.clone(),
                };
                let t = GoTemplate::parse(&opts.name, source, funcs, &popts)
                    .map_err(|e| template_error(&opts.name, e))?;
                Engine::Go(t)
            }
            Syntax::Jinja => {
                Engine::Jinja(Box::new(JinjaTemplate::new(&opts.name, source, funcs)?))
            }
        };
        let env = EnvSource(opts.env.clone().map(Arc::new));
        Ok(Template {
            inner: Arc::new(Inner {
                opts,
                env,
                engine,
                denied,
            }),
        })
    }

    /// Reads and parses the file at `path`. An empty `opts.name` becomes the file's base name,
    /// and `Syntax::Go` is switched to Jinja for `.j2`/`.jinja` files.
    pub fn load(path: &Path, mut opts: TemplateOptions) -> Result<Template> {
        let source = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        if opts.name.is_empty() {
            opts.name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        if opts.syntax == Syntax::Go {
            opts.syntax = Syntax::from_path(path);
        }
        Self::parse(&source, opts)
    }

    /// The options the template was parsed with.
    pub fn options(&self) -> &TemplateOptions {
        &self.inner.opts
    }

    /// The function names available to templates of `dialect` (besides Go's builtins).
    pub fn function_names(dialect: Dialect) -> Vec<String> {
        let mut names: Vec<String> = Self::funcs_for(dialect)
            .names()
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    fn funcs_for(dialect: Dialect) -> &'static FuncMap {
        match dialect {
            Dialect::Confd => crate::confd::funcs(),
            Dialect::ConfdFork => crate::confd::fork_funcs(),
            Dialect::ConsulTemplate => crate::consul_template::funcs(),
        }
    }

    /// The function map of the template's dialect (confd's, which has no denylist).
    pub(crate) fn dialect_funcs(&self) -> &'static FuncMap {
        Self::funcs_for(self.inner.opts.dialect)
    }

    /// The functions the template calls: its dialect's, less the denied ones.
    pub(crate) fn funcs(&self) -> &FuncMap {
        self.inner
            .denied
            .as_ref()
            .unwrap_or_else(|| Self::funcs_for(self.inner.opts.dialect))
    }

    pub(crate) fn env_source(&self) -> EnvSource {
        self.inner.env.clone()
    }

    /// Executes with the dialect's per-render `state` and a nil dot.
    pub(crate) fn execute<S: Any + Send + Sync>(&self, state: Arc<S>) -> Result<String> {
        let opts = &self.inner.opts;
        let funcs = self.funcs();
        match &self.inner.engine {
            Engine::Go(t) => {
                let missing = match (opts.dialect, opts.error_on_missing_key) {
                    (_, true) => MissingKey::Error,
                    (Dialect::Confd | Dialect::ConfdFork, false) => MissingKey::Default,
                    (Dialect::ConsulTemplate, false) => MissingKey::Zero,
                };
                t.execute(&Value::UNDEFINED, funcs, state.as_ref(), missing)
                    .map_err(|e| template_error(&opts.name, e))
            }
            Engine::Jinja(t) => t.render(&opts.name, state),
        }
    }
}

/// `funcs` with every name matching a `denylist` pattern replaced by a function that fails with
/// "function is disabled" (consul-template's `denied`); `None` when nothing is denied.
fn deny(funcs: &FuncMap, denylist: &[String]) -> Option<FuncMap> {
    if denylist.is_empty() {
        return None;
    }
    let mut out = funcs.clone();
    let names: Vec<String> = funcs
        .names()
        .filter(|n| {
            denylist
                .iter()
                .any(|p| crate::consul_template::glob::star_match(p, n))
        })
        .map(str::to_owned)
        .collect();
    for name in names {
        out.insert(&name, crate::func::Arity::at_least(0), |_, _| {
            Err(crate::func::FuncError::new("function is disabled"))
        });
    }
    Some(out)
}
