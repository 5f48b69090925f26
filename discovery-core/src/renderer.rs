//! The [`Renderer`] trait: a compiled template rendered from a data snapshot.
//!
//! Rendering itself lives in the `discovery-render` crate; this is the contract it implements.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use crate::{Key, KvSnapshot, Result, ServiceName, Snapshot};

/// Everything a template can read, taken at one moment: no I/O happens while rendering.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RenderData {
    /// Key-value pairs (full keys).
    pub kv: Arc<KvSnapshot>,
    /// Instances of the services fetched so far (all health states; templates filter).
    pub services: BTreeMap<ServiceName, Arc<Snapshot>>,
    /// The catalog's service names with the union of their tags, once fetched.
    pub catalog: Option<Arc<BTreeMap<ServiceName, BTreeSet<String>>>>,
    /// The datacenters, once fetched: all of them (`false`), or only those whose catalog
    /// answers (`true`); sorted.
    pub datacenters: BTreeMap<bool, Arc<Vec<String>>>,
    /// The JSON answers of the [`ApiRead`]s fetched so far.
    pub api: BTreeMap<ApiRead, Arc<serde_json::Value>>,
}

/// A read of one endpoint of a backend's HTTP API that this crate has no typed model for
/// (Consul's `catalog/nodes`, `agent/connect/ca/roots`, ...): a template function turns the
/// endpoint's JSON answer into what it returns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiRead {
    /// The path after the API's root (`catalog/node/web-1`), already percent-encoded.
    pub path: String,
    /// The query parameters (`dc`, `near`, ...), in the order they are sent.
    pub query: Vec<(String, String)>,
    /// Whether the endpoint answers blocking queries; one that does not is polled.
    pub blocking: bool,
}

impl ApiRead {
    /// A read of `path` with no query, answered by blocking queries.
    pub fn new(path: impl Into<String>) -> Self {
        ApiRead {
            path: path.into(),
            query: Vec::new(),
            blocking: true,
        }
    }

    /// Adds the query parameter `key=value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// Marks the endpoint as one that ignores blocking queries (it is polled instead).
    pub fn polled(mut self) -> Self {
        self.blocking = false;
        self
    }
}

impl RenderData {
    /// Data holding only key-value pairs.
    pub fn from_kv(kv: impl Into<Arc<KvSnapshot>>) -> Self {
        RenderData {
            kv: kv.into(),
            ..Default::default()
        }
    }
}

/// A piece of data a template reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Dependency {
    /// Exactly one key.
    Key(Key),
    /// Every key under a prefix.
    Prefix(Key),
    /// The instances of one service.
    Service(ServiceName),
    /// The list of services.
    Catalog,
    /// The datacenters; with `ignore_failing`, only those whose catalog answers.
    Datacenters {
        /// Leave out the datacenters that cannot be reached.
        ignore_failing: bool,
    },
    /// One endpoint of the backend's API, answered as JSON.
    Api(ApiRead),
}

/// The result of a render.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendered {
    /// The output text.
    pub output: String,
    /// The data the template read.
    pub used: BTreeSet<Dependency>,
    /// Data the template needs that was not in the [`RenderData`] (consul-template semantics:
    /// the output must not be written until this is empty).
    pub missing: BTreeSet<Dependency>,
}

/// A compiled template that renders from a data snapshot.
///
/// # Contract
///
/// - Rendering is synchronous and reads only `data` (and, for some functions, the environment
///   and the clock): the same data renders the same bytes.
/// - `used` lists every dependency the render read; `missing` those it needed but `data` lacked.
///   An output with a non-empty `missing` is incomplete and is not to be written.
/// - Errors are [`crate::Error::Template`], naming the template file, the line and column in its
///   original source, and the key when a key lookup failed.
pub trait Renderer: Debug + Send + Sync {
    /// Renders from `data`.
    fn render(&self, data: &RenderData) -> Result<Rendered>;
}
