//! What a [`ConfdHandle`](super::runner::ConfdHandle) asks of its runner: reload `conf.d`, or
//! shut down. Requests are state, not messages: they are never lost while the runner is busy,
//! several reload requests made during one render count as one, and a dropped handle reads as a
//! shutdown.

use tokio::sync::watch;

/// Why a run of the render loop ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A shutdown was asked for, or the handle is gone.
    Shutdown,
    /// A reload was asked for: re-read `conf.d` and start again.
    Reload,
    /// A resource waiting for its `[backend]` can run now: start again with it.
    Retry,
}

#[derive(Copy, Clone, Debug, Default)]
struct Requests {
    /// Reloads asked for so far.
    reloads: u64,
    shutdown: bool,
}

/// The handle's side.
#[derive(Debug)]
pub(crate) struct Requester(watch::Sender<Requests>);

impl Requester {
    pub(crate) fn reload(&self) {
        self.0
            .send_modify(|r| r.reloads = r.reloads.wrapping_add(1));
    }

    pub(crate) fn shutdown(&self) {
        self.0.send_modify(|r| r.shutdown = true);
    }
}

/// The runner's side.
#[derive(Debug)]
pub(crate) struct Control {
    rx: watch::Receiver<Requests>,
    reloads_seen: u64,
}

/// A connected pair.
pub(crate) fn channel() -> (Requester, Control) {
    let (tx, rx) = watch::channel(Requests::default());
    (
        Requester(tx),
        Control {
            rx,
            reloads_seen: 0,
        },
    )
}

impl Control {
    /// Whether a shutdown was asked for (or the handle dropped).
    pub(crate) fn stopping(&self) -> bool {
        self.rx.borrow().shutdown || self.rx.has_changed().is_err()
    }

    /// The next request not yet returned: a shutdown wins over a pending reload. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Exit {
        loop {
            let now = *self.rx.borrow_and_update();
            if now.shutdown {
                return Exit::Shutdown;
            }
            if now.reloads != self.reloads_seen {
                self.reloads_seen = now.reloads;
                return Exit::Reload;
            }
            if self.rx.changed().await.is_err() {
                return Exit::Shutdown;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn reloads_coalesce_shutdown_wins_and_a_dropped_handle_is_a_shutdown() {
        let (req, mut control) = channel();
        req.reload();
        req.reload();
        assert_eq!(control.next().await, Exit::Reload);
        assert!(!control.stopping());
        req.reload();
        req.shutdown();
        assert_eq!(control.next().await, Exit::Shutdown);
        assert!(control.stopping());

        let (req, mut control) = channel();
        drop(req);
        assert!(control.stopping());
        assert_eq!(control.next().await, Exit::Shutdown);
    }
}
