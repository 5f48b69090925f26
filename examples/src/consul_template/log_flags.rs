//! consul-template's log destinations: `-log-file`, `-log-rotate-*` (`log_file {}`) and
//! `-syslog*` (`syslog {}`), besides standard error as always. The log file rotates on time
//! with `tracing-appender` (the period rounded down to a minute, an hour, a day or a week);
//! syslog goes through the C library's `syslog(3)` (`syslog-tracing`).

use std::time::Duration;

use discovery_render::consul_template::{LogFileConfig, SyslogConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::goflags::{FlagError, FlagSet, Kind};

/// Defines the flags on `f`.
pub(super) fn define(f: &mut FlagSet) {
    f.define(
        "log-file",
        Kind::Value,
        "file (or directory) to write logs to as well",
    )
    .define(
        "log-rotate-bytes",
        Kind::Value,
        "size to rotate the log file at (accepted; rotation is by time)",
    )
    .define(
        "log-rotate-duration",
        Kind::Value,
        "how often to rotate the log file (default 24h)",
    )
    .define(
        "log-rotate-max-files",
        Kind::Value,
        "rotated log files to keep (0: all)",
    )
    .define("syslog", Kind::Bool, "send logs to syslog as well")
    .define(
        "syslog-facility",
        Kind::Value,
        "syslog facility (default LOCAL0)",
    )
    .define(
        "syslog-name",
        Kind::Value,
        "syslog program name (default consul-template)",
    );
}

/// What the flags set (over the files' `log_file {}` and `syslog {}`).
pub(super) fn read(f: &FlagSet) -> Result<(LogFileConfig, SyslogConfig), FlagError> {
    let mut file = LogFileConfig::default();
    file.path = f.value("log-file").map(str::to_owned);
    file.rotate_bytes = f.int("log-rotate-bytes")?;
    file.rotate_duration = f.duration("log-rotate-duration")?;
    file.rotate_max_files = f.int("log-rotate-max-files")?;
    let mut syslog = SyslogConfig::default();
    syslog.enabled = f.bool("syslog");
    syslog.facility = f.value("syslog-facility").map(str::to_owned);
    syslog.name = f.value("syslog-name").map(str::to_owned);
    if let Some(fac) = &syslog.facility {
        facility(fac).map_err(|e| {
            FlagError::Bad(format!(
                "invalid value {fac:?} for flag -syslog-facility: {e}"
            ))
        })?;
    }
    Ok((file, syslog))
}

/// `b`'s settings over `a`'s.
pub(super) fn merge(
    a: (LogFileConfig, SyslogConfig),
    b: (LogFileConfig, SyslogConfig),
) -> (LogFileConfig, SyslogConfig) {
    let (mut file, mut syslog) = a;
    let (f, s) = b;
    file.path = f.path.or(file.path);
    file.rotate_bytes = f.rotate_bytes.or(file.rotate_bytes);
    file.rotate_duration = f.rotate_duration.or(file.rotate_duration);
    file.rotate_max_files = f.rotate_max_files.or(file.rotate_max_files);
    syslog.enabled = s.enabled.or(syslog.enabled);
    syslog.facility = s.facility.or(syslog.facility);
    syslog.name = s.name.or(syslog.name);
    (file, syslog)
}

/// The syslog facility named `s` (`LOCAL0`…`LOCAL7`, `USER`, `DAEMON`, …, any case).
fn facility(s: &str) -> Result<syslog_tracing::Facility, String> {
    use syslog_tracing::Facility as F;
    Ok(match s.to_ascii_uppercase().as_str() {
        "USER" => F::User,
        "MAIL" => F::Mail,
        "DAEMON" => F::Daemon,
        "AUTH" => F::Auth,
        "AUTHPRIV" => F::AuthPriv,
        "LPR" => F::Lpr,
        "NEWS" => F::News,
        "UUCP" => F::Uucp,
        "CRON" => F::Cron,
        "FTP" => F::Ftp,
        "LOCAL0" => F::Local0,
        "LOCAL1" => F::Local1,
        "LOCAL2" => F::Local2,
        "LOCAL3" => F::Local3,
        "LOCAL4" => F::Local4,
        "LOCAL5" => F::Local5,
        "LOCAL6" => F::Local6,
        "LOCAL7" => F::Local7,
        _ => return Err("unknown syslog facility".into()),
    })
}

/// The rotation period: `d` rounded down to a week, a day, an hour or a minute.
fn rotation(d: Option<Duration>) -> tracing_appender::rolling::Rotation {
    use tracing_appender::rolling::Rotation;
    let d = d.unwrap_or(Duration::from_secs(24 * 3600));
    match d.as_secs() {
        0 => Rotation::NEVER,
        s if s >= 7 * 24 * 3600 => Rotation::WEEKLY,
        s if s >= 24 * 3600 => Rotation::DAILY,
        s if s >= 3600 => Rotation::HOURLY,
        _ => Rotation::MINUTELY,
    }
}

/// Sets up logging at `level` to standard error, and to the log file and syslog when
/// configured. `RUST_LOG`, when set, overrides the level.
pub(super) fn init(level: &str, file: &LogFileConfig, syslog: &SyslogConfig) -> Result<(), String> {
    let filter = |level: &str| {
        let level = match level.to_ascii_lowercase().as_str() {
            "panic" | "fatal" | "err" | "error" => "error",
            "warn" | "warning" => "warn",
            "debug" => "debug",
            "trace" => "trace",
            _ => "info",
        };
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let file_layer = match file.path.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(path) => {
            let path = std::path::Path::new(path);
            let (dir, name) = if path.is_dir() || path.to_string_lossy().ends_with('/') {
                (path.to_owned(), "consul-template.log".to_owned())
            } else {
                (
                    path.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map(|p| p.to_owned())
                        .unwrap_or_else(|| ".".into()),
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "consul-template.log".into()),
                )
            };
            let (prefix, suffix) = match name.rsplit_once('.') {
                Some((p, s)) if !p.is_empty() => (p.to_owned(), Some(s.to_owned())),
                _ => (name.clone(), None),
            };
            let mut b = tracing_appender::rolling::Builder::new()
                .rotation(rotation(file.rotate_duration))
                .filename_prefix(prefix);
            if let Some(s) = suffix {
                b = b.filename_suffix(s);
            }
            if let Some(n) = file.rotate_max_files.filter(|n| *n > 0) {
                b = b.max_log_files(n as usize);
            }
            let appender = b
                .build(&dir)
                .map_err(|e| format!("log_file {}: {e}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(appender)
                    .with_ansi(false)
                    .with_target(false),
            )
        }
    };
    let syslog_layer = if syslog.enabled == Some(true) {
        let fac = facility(syslog.facility.as_deref().unwrap_or("LOCAL0"))
            .map_err(|e| format!("syslog facility: {e}"))?;
        let name = syslog
            .name
            .clone()
            .unwrap_or_else(|| "consul-template".into());
        let ident = std::ffi::CString::new(name)
            .map_err(|_| "syslog name: contains a NUL byte".to_owned())?;
        let writer = syslog_tracing::Syslog::new(ident, syslog_tracing::Options::LOG_PID, fac)
            .ok_or("syslog: already initialised")?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false)
                .without_time()
                .with_level(true),
        )
    } else {
        None
    };
    let _ = tracing_subscriber::registry()
        .with(stderr.with_filter(filter(level)))
        .with(file_layer.map(|l| l.with_filter(filter(level))))
        .with(syslog_layer.map(|l| l.with_filter(filter(level))))
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Result<(LogFileConfig, SyslogConfig), FlagError> {
        let mut f = FlagSet::new("consul-template");
        define(&mut f);
        f.parse(args.iter().map(|s| s.to_string()))?;
        read(&f)
    }

    #[test]
    fn flags_are_read_and_beat_the_file() {
        let cli = flags(&[
            "-log-file=/var/log/ct.log",
            "-log-rotate-bytes=1024",
            "-log-rotate-duration=1h",
            "-log-rotate-max-files=3",
            "-syslog",
            "-syslog-facility=local3",
            "-syslog-name=ct",
        ])
        .unwrap();
        let mut file = (LogFileConfig::default(), SyslogConfig::default());
        file.0.path = Some("/other".into());
        file.0.rotate_max_files = Some(9);
        file.1.enabled = Some(false);
        let (f, s) = merge(file, cli);
        assert_eq!(f.path.as_deref(), Some("/var/log/ct.log"));
        assert_eq!(f.rotate_bytes, Some(1024));
        assert_eq!(f.rotate_duration, Some(Duration::from_secs(3600)));
        assert_eq!(f.rotate_max_files, Some(3));
        assert_eq!(s.enabled, Some(true));
        assert_eq!(s.name.as_deref(), Some("ct"));
        for (args, flag) in [
            (&["-log-rotate-bytes=big"][..], "-log-rotate-bytes"),
            (&["-log-rotate-duration=1"], "-log-rotate-duration"),
            (&["-syslog-facility=LOCAL9"], "-syslog-facility"),
        ] {
            let e = flags(args).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }

    #[test]
    fn rotation_rounds_down() {
        use tracing_appender::rolling::Rotation;
        assert_eq!(rotation(None), Rotation::DAILY);
        assert_eq!(rotation(Some(Duration::from_secs(7200))), Rotation::HOURLY);
        assert_eq!(rotation(Some(Duration::from_secs(90))), Rotation::MINUTELY);
        assert_eq!(rotation(Some(Duration::ZERO)), Rotation::NEVER);
    }
}
