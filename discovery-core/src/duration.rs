//! Go-style durations (`1h2m3s`, `1.5s`, `250ms`, `0`), as the peers' flags and config files write them.

use std::time::Duration;

/// Parses a Go duration string: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`,
/// `s`, `m`, `h` (`"1m30s"`, `"0.5s"`), or `"0"`. `None` when it is not one.
///
/// ```
/// use std::time::Duration;
/// use discovery_core::parse_go_duration;
/// assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
/// assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_go_duration("10"), None); // Go needs a unit
/// ```
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if t == "0" {
        return Some(Duration::ZERO);
    }
    if t.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}
