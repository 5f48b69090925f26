//! Logging for the CLIs: `tracing-subscriber` on stderr, level from `-log-level`
//! (confd's and consul-template's level names are accepted).

/// Initialises logging at `level` (`panic`, `fatal`, `error`, `warn`, `info`, `debug`, `trace`,
/// case-insensitive). `RUST_LOG`, when set, overrides it.
pub fn init(level: &str) {
    let level = match level.to_ascii_lowercase().as_str() {
        "panic" | "fatal" | "err" | "error" => "error",
        "warn" | "warning" => "warn",
        "debug" => "debug",
        "trace" => "trace",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
