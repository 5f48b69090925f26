//! The conformance cases, one `async fn` per contract sentence, each named like it.
//!
//! Every case takes the [`Fixture`](super::Fixture) and a fresh namespace, panics on a violation
//! and cleans up the registrations it made. Two cases go beyond the written sentences and pin the
//! segment boundary of watches: [`watch_ignores_other_services`] and [`kv_watch_prefix_boundary`].

mod kv;
mod kv_watch;
mod registry;
mod watcher;

pub use kv::*;
pub use kv_watch::*;
pub use registry::*;
pub use watcher::*;
