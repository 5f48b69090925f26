//! [`Revision`]: the position of a change in a backend's history.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A backend's monotonically increasing change counter: etcd's revision, Consul's
/// `X-Consul-Index`, the in-memory backend's counter. `Revision(0)` means "nothing yet".
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Revision(pub u64);

impl Revision {
    /// The revision before any change.
    pub const ZERO: Revision = Revision(0);

    /// The raw counter value.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The next revision.
    pub fn next(self) -> Revision {
        Revision(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Revision {
    fn from(v: u64) -> Self {
        Revision(v)
    }
}
