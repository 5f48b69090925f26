//! The confd dialect: memkv store functions plus confd's helpers and the functions the
//! abtreece/confd fork added, and [`ConfdTemplate`]; the
//! confd engine ([`runner::ConfdRunner`]) with its [`options`] and `conf.d` [`resource`]s.

pub mod backend_table;
mod commands;
mod control;
mod datetime;
mod fork_changes;
mod fork_data;
mod fork_funcs;
mod fork_strings;
mod fork_system;
mod helpers;
mod include;
mod memkv;
pub mod options;
pub mod output_format;
mod pathmatch;
mod process;
mod reload;
pub mod resource;
pub mod runner;
pub mod validate;
mod watch;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use discovery_core::{Dependency, Key, KvSnapshot, RenderData, Rendered, Renderer, Result};

pub(crate) use datetime::GoTime;
pub(crate) use helpers::arg_bytes;

use crate::func::FuncMap;
use crate::template::{EnvSource, Template};

/// Per-render state of a confd template: the resource's store and the environment.
#[derive(Debug)]
pub(crate) struct ConfdState {
    pub(crate) store: Arc<memkv::MemKv>,
    pub(crate) env: EnvSource,
    /// The template's function map (an included template is parsed with it).
    pub(crate) funcs: &'static FuncMap,
    /// Where `include` finds templates; `None` disables it.
    pub(crate) include_dir: Option<std::path::PathBuf>,
    /// The files `include` is rendering.
    pub(crate) includes: include::Includes,
}

/// confd's function map (built once).
pub(crate) fn funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut f = FuncMap::new();
        memkv::register(&mut f);
        helpers::register(&mut f);
        fork_funcs::register(&mut f);
        f
    })
}

/// The abtreece/confd fork's function map: [`funcs`] with the fork's changes to confd 0.17's
/// own functions (`seq reverse div mod fileExists`), built once.
pub(crate) fn fork_funcs() -> &'static FuncMap {
    static FUNCS: OnceLock<FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut f = funcs().clone();
        fork_changes::register(&mut f);
        f
    })
}

/// confd's resource prefix: a missing leading `/` is added, nothing else is cleaned.
fn rooted(prefix: &str) -> String {
    if prefix.starts_with('/') {
        prefix.to_owned()
    } else {
        format!("/{prefix}")
    }
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
    /// `path.Join(prefix, key)` for each of `keys`: what confd fetches.
    fetches: Vec<Key>,
}

impl ConfdTemplate {
    /// Binds `template` to a resource's `prefix` (a missing leading `/` is added; empty means
    /// `/`) and `keys`.
    pub fn new(template: Template, prefix: &str, keys: Vec<String>) -> Self {
        let prefix = rooted(prefix);
        let fetches = memkv::fetches(&prefix, &keys);
        ConfdTemplate {
            template,
            prefix,
            keys,
            fetches,
        }
    }

    /// Binds `template` to `prefix` (a missing leading `/` is added) and `fetches`, keys that
    /// are already `path.Join(prefix, key)` for each of the resource's `keys` (as a loaded
    /// resource file holds them). [`keys`](Self::keys) then returns the fetches.
    ///
    /// ```
    /// use discovery_core::Key;
    /// use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
    /// let t = Template::parse("{{getv \"/leader\"}}", TemplateOptions::new(Dialect::Confd))?;
    /// let r = ConfdTemplate::with_fetches(t, "/svc/db", vec![Key::new("/svc/db/leader")?]);
    /// assert_eq!(r.fetches(), &[Key::new("/svc/db/leader")?]);
    /// # Ok::<(), discovery_core::Error>(())
    /// ```
    pub fn with_fetches(template: Template, prefix: &str, fetches: Vec<Key>) -> Self {
        ConfdTemplate {
            template,
            prefix: rooted(prefix),
            keys: fetches.iter().map(|k| k.as_str().to_owned()).collect(),
            fetches,
        }
    }

    /// The keys read from the backend: `path.Join(prefix, key)` for each of the resource's keys.
    pub fn fetches(&self) -> &[Key] {
        &self.fetches
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

impl ConfdTemplate {
    /// The store this resource's template sees, read from `kv` once. Keep it up to date with
    /// [`ConfdStore::update`] as `kv` changes and render with [`ConfdTemplate::render_store`]:
    /// a change then costs a lookup per changed key instead of a copy of every key.
    pub fn store(&self, kv: &KvSnapshot) -> ConfdStore {
        let (store, used) = memkv::build_store(kv, &self.prefix, &self.fetches);
        ConfdStore {
            store: Arc::new(store),
            used,
            prefix: self.prefix.clone(),
            fetches: self.fetches.clone(),
        }
    }

    /// Renders from `store` (made by [`ConfdTemplate::store`] of this template).
    pub fn render_store(&self, store: &ConfdStore) -> Result<Rendered> {
        let state = Arc::new(ConfdState {
            store: store.store.clone(),
            env: self.template.env_source(),
            funcs: self.template.dialect_funcs(),
            include_dir: self.template.options().include_dir.clone(),
            includes: include::Includes::default(),
        });
        let output = self.template.execute(state)?;
        let mut rendered = Rendered::default();
        rendered.output = output;
        rendered.used = store.used.clone();
        rendered.missing = BTreeSet::new();
        Ok(rendered)
    }
}

impl Renderer for ConfdTemplate {
    fn render(&self, data: &RenderData) -> Result<Rendered> {
        self.render_store(&self.store(&data.kv))
    }
}

/// The keys a [`ConfdTemplate`] sees (its prefix stripped, sorted), kept apart from the
/// snapshot so that watch mode can update it per changed key instead of rebuilding it for every
/// render.
///
/// ```
/// use discovery_core::{Key, KvChange, KvEvent, KvPair, KvSnapshot, Revision};
/// use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
/// # fn main() -> discovery_core::Result<()> {
/// let t = Template::parse(
///     "{{range getvs \"/upstream/*\"}}server {{.}};\n{{end}}",
///     TemplateOptions::new(Dialect::Confd),
/// )?;
/// let resource = ConfdTemplate::new(t, "/app", vec!["/upstream".into()]);
/// let mut kv = KvSnapshot::default();
/// let mut store = resource.store(&kv);
/// assert_eq!(resource.render_store(&store)?.output, "");
///
/// // A watch event: apply it to the snapshot, then tell the store which keys changed.
/// let key = Key::new("/app/upstream/a")?;
/// let pair = KvPair { key: key.clone(), value: "10.0.0.1:80".into(), mod_revision: Revision(2) };
/// kv.apply(KvEvent::Changed { revision: Revision(2), changes: vec![KvChange::Put(pair)] });
/// store.update(&kv, Some(&[key]));
/// assert_eq!(resource.render_store(&store)?.output, "server 10.0.0.1:80;\n");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConfdStore {
    store: Arc<memkv::MemKv>,
    used: BTreeSet<Dependency>,
    prefix: String,
    fetches: Vec<Key>,
}

impl ConfdStore {
    /// Brings the store up to date with `kv`, which changed at `changed` keys since the last
    /// update (puts and deletes alike: the key's presence in `kv` says which). `None` (a reset,
    /// or changes not known key by key) reads everything again.
    pub fn update(&mut self, kv: &KvSnapshot, changed: Option<&[Key]>) {
        let applied = changed.is_some_and(|keys| {
            Arc::make_mut(&mut self.store).update(kv, &self.prefix, &self.fetches, keys)
        });
        if !applied {
            let (store, used) = memkv::build_store(kv, &self.prefix, &self.fetches);
            self.store = Arc::new(store);
            self.used = used;
        }
    }

    /// The number of keys the template sees.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the template sees no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
