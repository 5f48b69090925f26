//! The `registrator` binary's registry side: opening the backend of a registry URI
//! ([`connect()`]) as registrator's adapters do. The engine it drives (Docker events, the
//! `SERVICE_*` conventions, `-deregister`, `-cleanup`) is [`discovery_core::registrator`].

pub mod connect;

pub use connect::{connect, ConsulAgent, Retry};
