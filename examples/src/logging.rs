//! Logging for the CLIs: `tracing-subscriber` on stderr, level from `-log-level`
//! (confd's and consul-template's level names are accepted).

/// Initialises logging at `level` (`panic`, `fatal`, `error`, `warn`, `info`, `debug`, `trace`,
/// case-insensitive). `RUST_LOG`, when set, overrides it.
pub fn init(level: &str) {
    init_as(level, false);
}

/// [`init`], with one JSON object per line when `json` (abtreece/confd's `-log-format json`).
pub fn init_as(level: &str, json: bool) {
    let level = match level.to_ascii_lowercase().as_str() {
        "panic" | "fatal" | "err" | "error" => "error",
        "warn" | "warning" => "warn",
        "debug" => "debug",
        "trace" => "trace",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}
