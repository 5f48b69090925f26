//! Jittered exponential backoff: the one retry schedule every loop in the crate family uses
//! (re-registration, keepalive retries, watch reconnects, blocking-query errors).

use std::time::Duration;

/// An exponential backoff schedule with full jitter in `[delay/2, delay]`.
///
/// ```
/// use std::time::Duration;
/// use discovery_core::Backoff;
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// let d = b.delay(3); // between 400 and 800 ms
/// assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry (attempt 0).
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// A schedule from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The delay before retry number `attempt` (0-based): `initial × 2^attempt`, capped at `max`,
    /// then jittered down by up to half.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let half = base / 2;
        let jitter_ns = if half.is_zero() {
            0
        } else {
            pseudo_random() % (half.as_nanos() as u64 + 1)
        };
        half + Duration::from_nanos(jitter_ns)
    }
}

/// A cheap, non-cryptographic random number for jitter (no extra dependency).
fn pseudo_random() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        for attempt in 0..30 {
            let d = b.delay(attempt);
            let cap = (Duration::from_millis(10) * 2u32.pow(attempt.min(20))).min(b.max);
            assert!(d <= cap && d >= cap / 2, "attempt {attempt}: {d:?}");
        }
    }
}
