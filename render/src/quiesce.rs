//! consul-template's quiescence (`wait`), shared by the confd (`-wait`) and consul-template
//! runners: the first change starts a `min` timer and records a deadline `max` later; each further
//! change restarts the timer, never past the deadline.

use std::time::Duration;

use tokio::time::Instant;

/// A quiescence window: render once no change came for `min`, but at the latest `max` after the
/// first change.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Quiet time required after the last change.
    pub min: Duration,
    /// Longest delay after the first change.
    pub max: Duration,
}

impl Wait {
    /// Parses `min[:max]`; `max` defaults to 4×`min`. Each part is a Go duration (`50ms`) or a
    /// bare number of seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use discovery_render::quiesce::Wait;
    /// let w = Wait::parse("50ms:500ms").unwrap();
    /// assert_eq!((w.min, w.max), (Duration::from_millis(50), Duration::from_millis(500)));
    /// assert_eq!(Wait::parse("2s").unwrap().max, Duration::from_secs(8));
    /// assert!(Wait::parse("2s:1s").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Wait, String> {
        let (min, max) = match s.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let dur = |t: &str| parse_duration(t).ok_or_else(|| format!("invalid wait value {t:?}"));
        let min = dur(min)?;
        let max = match max {
            Some(m) => dur(m)?,
            None => min * 4,
        };
        if max < min {
            return Err(format!(
                "wait: max ({max:?}) must be at least min ({min:?})"
            ));
        }
        Ok(Wait { min, max })
    }
}

/// One template's pending render, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quiescence {
    /// (fire at, hard deadline).
    pending: Option<(Instant, Instant)>,
}

impl Quiescence {
    /// Records a change at `now`; without a `wait` the render is due at once.
    pub fn kick(&mut self, now: Instant, wait: Option<Wait>) {
        self.pending = Some(match (wait, self.pending) {
            (None, _) => (now, now),
            (Some(w), None) => (now + w.min, now + w.max),
            (Some(w), Some((_, deadline))) => ((now + w.min).min(deadline), deadline),
        });
    }

    /// When the render is due, if one is pending.
    pub fn due(&self) -> Option<Instant> {
        self.pending.map(|(at, _)| at)
    }

    /// Clears the pending render if it is due at `now`; returns whether it was.
    pub fn take_due(&mut self, now: Instant) -> bool {
        match self.pending {
            Some((at, _)) if at <= now => {
                self.pending = None;
                true
            }
            _ => false,
        }
    }
}

/// A Go duration (`500ms`, `1m30s`) or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    match s.trim().parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => discovery_core::parse_go_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn changes_extend_the_timer_up_to_the_deadline() {
        let w = Wait {
            min: Duration::from_secs(2),
            max: Duration::from_secs(5),
        };
        let t0 = Instant::now();
        let mut q = Quiescence::default();
        assert_eq!(q.due(), None);
        q.kick(t0, Some(w));
        assert_eq!(q.due(), Some(t0 + Duration::from_secs(2)));
        q.kick(t0 + Duration::from_secs(1), Some(w));
        assert_eq!(q.due(), Some(t0 + Duration::from_secs(3)));
        q.kick(t0 + Duration::from_secs(4), Some(w));
        assert_eq!(q.due(), Some(t0 + Duration::from_secs(5)));
        assert!(!q.take_due(t0 + Duration::from_secs(4)));
        assert!(q.take_due(t0 + Duration::from_secs(5)));
        assert_eq!(q.due(), None);
        q.kick(t0, None);
        assert!(q.take_due(t0));
    }
}
