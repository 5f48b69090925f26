//! Lease expiry on Tokio's clock: one task per lease sleeps until its deadline, and sleeps
//! again when a keepalive moved the deadline.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::{Shared, BACKEND};
use crate::{Error, Result};

/// Grants a lease of `ttl` in `namespace` and starts its expiry task.
pub(super) fn grant(shared: &Arc<Shared>, ttl: Duration, namespace: &str) -> Result<i64> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::backend_error(
            BACKEND,
            "leases need a Tokio runtime (their TTL runs on it)",
        )
    })?;
    let id = shared.lock().grant(ttl, namespace);
    runtime.spawn(expire_when_due(Arc::downgrade(shared), id));
    Ok(id)
}

async fn expire_when_due(shared: Weak<Shared>, id: i64) {
    loop {
        let deadline = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut store = shared.lock();
            let Some(deadline) = store.leases.get(&id).map(|l| l.deadline) else {
                return; // revoked
            };
            if deadline <= Instant::now() {
                store.revoke(id);
                tracing::debug!(backend = BACKEND, lease = id, "lease expired");
                return;
            }
            deadline
        };
        sleep_until(deadline).await;
    }
}
