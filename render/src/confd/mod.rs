//! The confd dialect: memkv store functions plus confd's helpers, and [`ConfdTemplate`].

mod datetime;
mod helpers;
mod memkv;
mod pathmatch;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use discovery_core::{RenderData, Rendered, Renderer, Result};

pub(crate) use datetime::GoTime;
pub(crate) use helpers::arg_bytes;

use crate::func::FuncMap;
use crate::template::{EnvSource, Template};

/// Per-render state of a confd template: the resource's store and the environment.
#[derive(Debug)]
pub(crate) struct ConfdState {
    pub(crate) store: memkv::MemKv,
    pub(crate) env: EnvSource,
}

/// confd's function map (built once).
pub(crate) fn funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut f = FuncMap::new();
        memkv::register(&mut f);
        helpers::register(&mut f);
        f
    })
}

/// A confd template resource: a [`Template`] (confd dialect) bound to the resource's `prefix`
/// and `keys`. It implements [`Renderer`].
///
/// The template sees the keys of `data.kv` that equal `path.Join(prefix, key)` for one of
/// `keys` or lie under it (segment based), renamed relative to the prefix as confd does.
/// `used` holds one [`discovery_core::Dependency::Prefix`] per entry of `keys`.
#[derive(Debug, Clone)]
pub struct ConfdTemplate {
    template: Template,
    prefix: String,
    keys: Vec<String>,
}

impl ConfdTemplate {
    /// Binds `template` to a resource's `prefix` (a missing leading `/` is added; empty means
    /// `/`) and `keys`.
    pub fn new(template: Template, prefix: &str, keys: Vec<String>) -> Self {
        let prefix = if prefix.starts_with('/') {
            prefix.to_owned()
        } else {
            format!("/{prefix}")
        };
        ConfdTemplate {
            template,
            prefix,
            keys,
        }
    }

    /// The normalised prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The resource's keys.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The template.
    pub fn template(&self) -> &Template {
        &self.template
    }
}

impl Renderer for ConfdTemplate {
    fn render(&self, data: &RenderData) -> Result<Rendered> {
        let (store, used) = memkv::build_store(&data.kv, &self.prefix, &self.keys);
        let state = Arc::new(ConfdState {
            store,
            env: self.template.env_source(),
        });
        let output = self.template.execute(state)?;
        let mut rendered = Rendered::default();
        rendered.output = output;
        rendered.used = used;
        rendered.missing = BTreeSet::new();
        Ok(rendered)
    }
}
