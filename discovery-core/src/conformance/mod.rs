//! The conformance suite: one case per sentence of the `# Contract` sections of
//! [`Registry`], [`Watcher`], [`KvView`](crate::KvView) and
//! [`KvStore`], run against every backend (feature `conformance`).
//!
//! Each case is an `async fn` in [`cases`] named exactly like its contract sentence
//! (`register_visible_in_snapshot`, `kv_prefix_boundary`, `namespaces_isolated`, ...). It works in
//! its own namespace, so cases run in parallel against one shared server, and uses only public
//! APIs, TTLs of at least 2 s (etcd's minimum) and generous timeouts that only guard against hangs.
//!
//! # Running the suite on a backend
//!
//! 1. Depend on `discovery-core` with the `conformance` feature (a dev-dependency is enough) and
//!    on `tokio` with the `macros` feature (the generated tests use `#[tokio::test]`).
//! 2. Implement [`Fixture`]: how to get a backend confined to a namespace on the server under test,
//!    and how to force the faults some cases need (lease expiry, compaction).
//! 3. Invoke [`conformance_tests!`](crate::conformance_tests) in an integration test file with an
//!    expression producing the fixture (evaluated inside each async test, so it may `.await`) and
//!    the fixture's capabilities spelled out as a [`Caps`] literal, fields in declaration order:
//!
//! ```
//! use discovery_core::conformance::{Caps, Fixture};
//! use discovery_core::{Layout, MemoryBackend};
//!
//! // Here the backend under test is the in-memory one; a server-backed fixture would start (or
//! // connect to) the server once and hand out clients confined to `ns`.
//! #[derive(Default)]
//! struct MyFixture {
//!     store: MemoryBackend,
//! }
//!
//! #[async_trait::async_trait]
//! impl Fixture for MyFixture {
//!     type Backend = MemoryBackend;
//!     const CAPS: Caps =
//!         Caps { compaction: true, kv_ttl: true, raw_instance_values: true, paused_time: true };
//!     async fn backend(&self, ns: &str) -> MemoryBackend {
//!         self.store.namespaced(ns)
//!     }
//!     async fn expire_leases(&self, backend: &MemoryBackend) {
//!         backend.expire_leases();
//!     }
//!     async fn compact(&self, backend: &MemoryBackend) {
//!         backend.compact();
//!     }
//!     fn layout(&self) -> Layout {
//!         Layout::default()
//!     }
//! }
//!
//! discovery_core::conformance_tests!(
//!     MyFixture::default(),
//!     Caps { compaction: true, kv_ttl: true, raw_instance_values: true, paused_time: true }
//! );
//! # fn main() {}
//! ```
//!
//! The macro expands to one `#[tokio::test]` per case (so each failure is named): multi-threaded,
//! or current-thread with `start_paused = true` when `paused_time` is set. Cases needing a
//! capability the backend lacks are not generated at all (never skipped at run time). Each test
//! first checks that the literal equals `Fixture::CAPS`, then calls
//! `discovery_core::conformance::cases::<name>(&fixture, &ns)` with a fresh random namespace
//! from [`namespace`]. The in-memory backend runs it in `discovery-core/tests/conformance_memory.rs`.
//!
//! The suite is a testing aid, not a stable API: cases may be added in any release.

use async_trait::async_trait;

use crate::{KvStore, Layout, Registry, Watcher};

pub mod cases;
mod util;

/// What a backend under test provides to the suite.
#[async_trait]
pub trait Fixture: Send + Sync + 'static {
    /// The backend under test.
    type Backend: Registry + Watcher + KvStore + Clone;

    /// Which cases apply (unsupported ones are not generated, never skipped at run time).
    const CAPS: Caps;

    /// A backend whose keys and services all live under namespace `ns` (e.g. `"/conf-3f2a..."`)
    /// on the shared server.
    async fn backend(&self, ns: &str) -> Self::Backend;

    /// Makes every lease held by registrations and puts in `backend`'s namespace expire now.
    async fn expire_leases(&self, backend: &Self::Backend);

    /// Compacts `backend`'s history up to its current revision.
    async fn compact(&self, backend: &Self::Backend);

    /// Where instances are stored (to write an undecodable value in
    /// [`cases::watch_bad_value_does_not_break_stream`]).
    fn layout(&self) -> Layout;
}

/// Optional capabilities of a backend; each gates the cases that need it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// [`Fixture::compact`] works: the `*_reset_after_compaction` cases.
    pub compaction: bool,
    /// Puts with a TTL: `kv_put_with_ttl_expires`.
    pub kv_ttl: bool,
    /// Instances are KV values the suite can overwrite with garbage:
    /// `watch_bad_value_does_not_break_stream`.
    pub raw_instance_values: bool,
    /// The backend runs on Tokio's clock, so tests use paused time (`start_paused = true`).
    pub paused_time: bool,
}

impl Caps {
    /// Every capability.
    pub const ALL: Caps = Caps {
        compaction: true,
        kv_ttl: true,
        raw_instance_values: true,
        paused_time: true,
    };
}

/// A fresh random namespace such as `/conf-3f2a09c1d2e4b5a6`.
pub fn namespace() -> String {
    format!("/conf-{:016x}", rand::random::<u64>())
}

/// Panics unless the capabilities given to [`conformance_tests!`](crate::conformance_tests) are
/// the fixture's own: the generated test set must match what the fixture claims.
#[track_caller]
pub fn check_caps<F: Fixture>(_fixture: &F, declared: Caps) {
    assert_eq!(
        declared,
        F::CAPS,
        "the Caps given to conformance_tests! differ from the fixture's Fixture::CAPS"
    );
}

/// Generates one `#[tokio::test]` per conformance case; see the [module docs](crate::conformance).
///
/// `conformance_tests!(fixture_expr, Caps { compaction: _, kv_ttl: _, raw_instance_values: _,
/// paused_time: _ })` with `true`/`false` literals, fields in this order.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr, Caps {
        compaction: $c:tt,
        kv_ttl: $t:tt,
        raw_instance_values: $r:tt,
        paused_time: $p:tt $(,)?
    } $(,)?) => {
        $crate::__conformance_cases!(
            ($fixture) ($c, $t, $r, $p)
            true register_visible_in_snapshot
            true deregister_removes
            true drop_guard_deregisters
            true lease_expiry_removes
            true reregister_after_expiry
            true two_registrations_have_independent_leases
            true register_refuses_short_ttl
            true watch_starts_with_reset
            true watch_changes_strictly_increase
            true watch_fold_equals_snapshot
            true watch_resume_no_loss_no_dup
            $c watch_reset_after_compaction
            true watch_reports_last_instance_removed
            $r watch_bad_value_does_not_break_stream
            true watch_ignores_other_services
            true kv_get_missing_is_none
            true kv_prefix_boundary
            true kv_list_one_revision
            true kv_watch_starts_with_reset
            true kv_watch_fold_equals_list
            true kv_watch_resume_no_loss_no_dup
            $c kv_watch_reset_after_compaction
            true kv_non_utf8_round_trips
            true namespaces_isolated
            true kv_put_then_get
            true kv_delete_reports_existence
            $t kv_put_with_ttl_expires
            true kv_watch_prefix_boundary
        );
    };
    ($fixture:expr, $caps:expr $(,)?) => {
        compile_error!(
            "conformance_tests! needs the capabilities spelled out, in order: \
             Caps { compaction: bool, kv_ttl: bool, raw_instance_values: bool, paused_time: bool } \
             (a macro cannot read the value of a constant)"
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    (($fixture:expr) $caps:tt $($gate:tt $name:ident)*) => {
        $( $crate::__conformance_case!($gate, $caps, ($fixture), $name); )*
    };
}

/// Implementation detail of [`conformance_tests!`]: one case, if its gate is `true`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case {
    (false, $caps:tt, ($fixture:expr), $name:ident) => {};
    (true, ($c:tt, $t:tt, $r:tt, true), ($fixture:expr), $name:ident) => {
        #[tokio::test(start_paused = true)]
        async fn $name() {
            $crate::__conformance_body!(($c, $t, $r, true), ($fixture), $name);
        }
    };
    (true, ($c:tt, $t:tt, $r:tt, false), ($fixture:expr), $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::__conformance_body!(($c, $t, $r, false), ($fixture), $name);
        }
    };
}

/// Implementation detail of [`conformance_tests!`]: the body of one generated test.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_body {
    (($c:tt, $t:tt, $r:tt, $p:tt), ($fixture:expr), $name:ident) => {
        let fixture = $fixture;
        $crate::conformance::check_caps(
            &fixture,
            $crate::conformance::Caps {
                compaction: $c,
                kv_ttl: $t,
                raw_instance_values: $r,
                paused_time: $p,
            },
        );
        let ns = $crate::conformance::namespace();
        $crate::conformance::cases::$name(&fixture, &ns).await;
    };
}
