//! The signals consul-template listens to: its kill and reload signals, SIGINT and SIGTERM and,
//! in exec mode, every catchable one (passed on to the child).

use std::task::Poll;

use discovery_core::{Error, Result};
use discovery_render::consul_template::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// The installed handlers.
pub(super) struct Listener {
    handlers: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Listener {
    /// Listens to `kill`, `reload`, SIGINT, SIGTERM and, with `exec`, every catchable signal.
    pub(super) fn new(kill: Signal, reload: Signal, exec: bool) -> Result<Self> {
        let mut wanted = vec![kill, reload, Signal::SIGINT, Signal::SIGTERM];
        if exec {
            wanted.extend(Signal::catchable());
        }
        let mut handlers: Vec<(Signal, tokio::signal::unix::Signal)> = Vec::new();
        for sig in wanted {
            if sig.number() == 0 || handlers.iter().any(|(s, _)| *s == sig) {
                continue;
            }
            let h = signal(SignalKind::from_raw(sig.number())).map_err(|e| Error::Io {
                path: format!("signal handler for {sig}"),
                source: e,
            })?;
            handlers.push((sig, h));
        }
        Ok(Listener { handlers })
    }

    /// The next signal received.
    pub(super) async fn next(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            for (sig, h) in &mut self.handlers {
                if let Poll::Ready(Some(())) = h.poll_recv(cx) {
                    return Poll::Ready(*sig);
                }
            }
            Poll::Pending
        })
        .await
    }
}
