//! The binaries' signals: SIGINT/SIGTERM stop, SIGHUP reloads.

use discovery_core::{Error, Result};

/// What a signal asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// SIGINT or SIGTERM.
    Signal,
    /// SIGHUP: the caller reloads its configuration and starts again.
    Reload,
}

/// SIGINT/SIGTERM/SIGHUP.
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn new() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let io = |e| Error::Io {
            path: "signal handler".into(),
            source: e,
        };
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(io)?,
            term: signal(SignalKind::terminate()).map_err(io)?,
            hup: signal(SignalKind::hangup()).map_err(io)?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Exit {
        tokio::select! {
            _ = self.int.recv() => Exit::Signal,
            _ = self.term.recv() => Exit::Signal,
            _ = self.hup.recv() => Exit::Reload,
        }
    }
}
