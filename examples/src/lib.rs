//! Shared code of the example binaries: Go-style flags, logging, backend selection, and the
//! drop-in `confd` and `consul-template`.

pub mod backend;
pub mod balance;
#[cfg(feature = "etcd")]
pub mod bench;
pub mod confd;
pub mod consul_template;
pub mod discover;
pub mod goflags;
pub mod logging;
pub mod ops;
pub mod register;
pub mod registrator;
pub mod signals;
