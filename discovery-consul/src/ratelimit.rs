//! A token bucket: bursts of `capacity` requests, then `rate` per second. Blocking loops take a
//! token before each query, so they are fast in the happy path and degrade to polling under churn.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket (not shared between tasks: each blocking loop owns one).
#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Burst 3, then 50 requests per second (one every 20 ms) per blocking loop.
    ///
    /// During churn every query returns at once, so the loop runs at this rate, and the last
    /// change of a burst waits for the next token: up to one spacing, half of it on average.
    /// consul-template 0.20.1 re-queries without a limit, as fast as it renders (about one
    /// query every 17 ms in S5 here). At 10/s our last change landed 83 ms after a burst of 300
    /// registrations, against its 66 ms; at 50/s it lands after 16.2 ms against its 28.4 ms in
    /// the same run, with 29 renders to its 46 (BENCHMARKS.md §16). An idle loop is never
    /// throttled: it blocks in Consul.
    pub(crate) fn for_blocking_queries() -> Self {
        Self::new(3.0, 50.0)
    }

    pub(crate) fn new(capacity: f64, per_sec: f64) -> Self {
        TokenBucket {
            capacity,
            per_sec,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// How long to wait before a token is available (zero when one is); takes it.
    pub(crate) fn take(&mut self) -> Duration {
        self.refill();
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let mut b = TokenBucket::new(2.0, 10.0);
        assert_eq!(b.take(), Duration::ZERO);
        assert_eq!(b.take(), Duration::ZERO);
        let wait = b.take();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.take(), Duration::ZERO);
        assert_eq!(b.take(), Duration::ZERO);
        assert!(b.take() > Duration::ZERO);
    }
}
