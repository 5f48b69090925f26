//! consul-template's log destinations: `-log-file`, `-log-rotate-*` (`log_file {}`) and
//! `-syslog*` (`syslog {}`), besides standard error as always. The log file rotates on size and
//! time as consul-template's does ([`super::log_file`]); syslog goes through the C library's `syslog(3)` (`syslog-tracing`).

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
        "bytes after which the log file is rotated (0: no size limit)",
    )
    .define(
        "log-rotate-duration",
        Kind::Value,
        "how often to rotate the log file (default 24h)",
    )
    .define(
        "log-rotate-max-files",
        Kind::Value,
        "rotated log files to keep (0: all; negative: none)",
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
            let log = super::log_file::LogFile::open(
                std::path::Path::new(path),
                file.rotate_duration,
                file.rotate_bytes,
                file.rotate_max_files,
            )
            .map_err(|e| format!("log_file {path}: {e}"))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(log))
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
    use std::time::Duration;

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
}
