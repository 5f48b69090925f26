//! CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::time::Duration;

use discovery_core::{Error, Result};

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time of the process itself (not its children).
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kb: u64,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub hwm_kb: u64,
}

impl ProcSample {
    /// `VmRSS` in MiB.
    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    /// `VmHWM` in MiB.
    pub fn hwm_mb(&self) -> f64 {
        self.hwm_kb as f64 / 1024.0
    }
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: e,
    })
}

/// Reads the counters of process `pid` (`"self"` works too, as `sample_self`).
pub fn sample(pid: u32) -> Result<ProcSample> {
    sample_at(&pid.to_string())
}

/// Reads the counters of this process.
pub fn sample_self() -> Result<ProcSample> {
    sample_at("self")
}

fn sample_at(pid: &str) -> Result<ProcSample> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    let status = read(&format!("/proc/{pid}/status"))?;
    Ok(ProcSample {
        cpu: parse_cpu(&stat).unwrap_or_default(),
        rss_kb: status_kb(&status, "VmRSS:").unwrap_or(0),
        hwm_kb: status_kb(&status, "VmHWM:").unwrap_or(0),
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn parse_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / CLK_TCK))
}

fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_fields_after_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_cpu(stat), Some(Duration::from_secs(3)));
    }

    #[test]
    fn reads_own_memory() {
        let s = sample_self().unwrap();
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
    }
}
