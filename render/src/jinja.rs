//! Native Jinja templates: a minijinja environment (no auto-escaping, trailing newline kept)
//! with every function of the dialect registered, printing values as Go's `%v` does.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use discovery_core::{Error, Result};
use minijinja::value::{Object, Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, State};

use crate::func::{CallCtx, FuncMap};

/// The context variable holding the per-render state.
const STATE_VAR: &str = "__discovery_render_state";
const MAIN: &str = "main";

/// The per-render state as a minijinja object, so functions reach it through the context.
struct StateHolder(Arc<dyn Any + Send + Sync>);

impl fmt::Debug for StateHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateHolder")
    }
}

impl Object for StateHolder {}

/// A parsed Jinja template.
pub(crate) struct JinjaTemplate {
    env: Environment<'static>,
}

fn jinja_error(file: &str, e: &minijinja::Error) -> Error {
    let message = match e.detail() {
        Some(d) => d.to_owned(),
        None => e.kind().to_string(),
    };
    Error::Template {
        file: file.to_owned(),
        line: e.line().unwrap_or(0),
        column: 0,
        key: None,
        message,
    }
}

impl JinjaTemplate {
    /// Builds the environment and compiles `source`.
    pub(crate) fn new(name: &str, source: &str, funcs: &FuncMap) -> Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| jinja_error(name, &e))?;
        env.set_syntax(syntax);
        env.set_formatter(|out, _state, value| {
            if let Some(s) = value.as_str() {
                return out.write_str(s).map_err(minijinja::Error::from);
            }
            if value.kind() == ValueKind::Undefined {
                return Ok(());
            }
            out.write_str(&crate::value::format_value(value))
                .map_err(minijinja::Error::from)
        });
        // minijinja's own global functions (`range dict debug namespace`) stay: Jinja code
        // relies on `dict(a=1)`, and the dialect has the same under another name (`map`).
        let builtins: Vec<String> = env.globals().map(|(n, _)| n.to_owned()).collect();
        for name in funcs.names() {
            if builtins.iter().any(|b| b == name) {
                continue;
            }
            let Some(def) = funcs.get(name) else { continue };
            let def = def.clone();
            env.add_function(
                name.to_owned(),
                move |state: &State<'_, '_>,
                      args: Rest<Value>|
                      -> std::result::Result<Value, minijinja::Error> {
                    let holder = state.lookup(STATE_VAR);
                    let holder = holder
                        .as_ref()
                        .and_then(|h| h.downcast_object_ref::<StateHolder>())
                        .ok_or_else(|| {
                            minijinja::Error::new(ErrorKind::InvalidOperation, "no render state")
                        })?;
                    let ctx = CallCtx::new(holder.0.as_ref() as &dyn Any);
                    def.call(&ctx, &args).map_err(|e| {
                        minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("error calling {}: {}", def.name, e.message),
                        )
                    })
                },
            );
        }
        env.add_template_owned(MAIN, source.to_owned())
            .map_err(|e| jinja_error(name, &e))?;
        Ok(JinjaTemplate { env })
    }

    /// Renders with `state` reachable by the functions.
    pub(crate) fn render<S: Any + Send + Sync>(&self, name: &str, state: Arc<S>) -> Result<String> {
        let tmpl = self
            .env
            .get_template(MAIN)
            .map_err(|e| jinja_error(name, &e))?;
        let holder = Value::from_object(StateHolder(state));
        let ctx = minijinja::context! { __discovery_render_state => holder };
        tmpl.render(ctx).map_err(|e| jinja_error(name, &e))
    }
}
