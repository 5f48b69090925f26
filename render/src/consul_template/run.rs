//! The runner's two loops: once (render when every template has all its data, run the
//! commands, return) and watching (re-render the templates whose data changed, after their
//! quiescence), each until its control channel asks it to stop.

use std::collections::BTreeSet;
use std::time::Duration;

use discovery_consul::ConsulBackend;
use discovery_core::{Backoff, Error, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::child::ChildExit;
use super::dedup::{Change, Dedup};
use super::dedup_data::Shared;
use super::options::CtOptions;
use super::signal::Signal;
use super::store::Store;
use super::supervise::Supervisor;
use super::tmpl::{Outcome, Tmpl};
use crate::sync::run_command_in;

/// What a [`super::CtHandle`] asks of the running loop.
#[derive(Debug)]
pub(crate) enum Control {
    /// Load these options' templates and, if they load, replace the running set.
    Reload(Box<CtOptions>, oneshot::Sender<Result<()>>),
    /// Stop after the render and commands in progress.
    Shutdown,
    /// Pass a signal on to the exec child.
    Signal(Signal),
}

/// Why the watch loop returned.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Shutdown asked (or every handle dropped).
    Shutdown,
    /// A reload asked: the caller loads the new set and answers.
    Reload(Box<CtOptions>, oneshot::Sender<Result<()>>),
    /// The exec child exited.
    ChildExited(ChildExit),
}

/// Whether every template has rendered (had all its data) at least once.
fn all_rendered(templates: &[Tmpl]) -> bool {
    templates.iter().all(|t| t.rendered)
}

/// Runs the commands of the templates that changed, in configuration order; identical
/// commands run once.
async fn run_commands(templates: &[Tmpl], changed: &BTreeSet<usize>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, t) in templates.iter().enumerate() {
        let Some(cmd) = &t.spec.command else { continue };
        if !changed.contains(&i) || !seen.insert(cmd.clone()) {
            continue;
        }
        let started = std::time::Instant::now();
        let env = t
            .spec
            .command_env
            .as_ref()
            .map(|e| e.environment(std::env::vars()));
        let out = run_command_in("command", cmd, t.spec.command_timeout, env.as_deref()).await?;
        tracing::info!(template = %t.spec.name(), command = %cmd,
            elapsed_ms = started.elapsed().as_millis() as u64, output = %out.trim_end(), "command ran");
    }
    Ok(())
}

/// Renders template `i` from where it reads: the data its leader stored when it is a
/// de-duplication follower (no subscription), else the store.
fn evaluate(t: &mut Tmpl, i: usize, store: &mut Store, dedup: &Option<Dedup>) -> Outcome {
    match dedup.as_ref().filter(|d| d.is_follower(i)) {
        Some(d) => {
            let mut shared = d.shared(i).cloned().unwrap_or_default();
            t.watches.clear();
            t.evaluate(&mut shared)
        }
        None => t.evaluate(store),
    }
}

/// As de-duplication leader of template `i`, stores the data it just rendered from.
async fn publish(t: &Tmpl, i: usize, store: &Store, dedup: &mut Option<Dedup>) {
    if let Some(d) = dedup.as_mut().filter(|d| !d.is_follower(i)) {
        d.publish(i, &Shared::capture(store.data(), &t.used)).await;
    }
}

/// The next de-duplication change; never, without de-duplication.
async fn dedup_next(dedup: &mut Option<Dedup>) -> (usize, Change) {
    match dedup {
        Some(d) => d.next().await,
        None => std::future::pending().await,
    }
}

fn refuse_reload(reply: oneshot::Sender<Result<()>>) {
    let _ = reply.send(Err(Error::invalid_config(
        "reload",
        "a once run does not reload its templates",
    )));
}

/// Once: waits until every template has all its data (a `key` that never appears waits
/// forever, as in consul-template), writes them all, then runs their commands; in exec mode
/// then starts the child and waits for it (`Some` of its exit; `None` after a shutdown). A
/// shutdown before every template rendered is an error; a reload is refused.
pub(crate) async fn once(
    templates: &mut [Tmpl],
    store: &mut Store,
    dedup: &mut Option<Dedup>,
    dry: bool,
    ctl: &mut mpsc::UnboundedReceiver<Control>,
    sup: &mut Supervisor,
) -> Result<Option<ChildExit>> {
    loop {
        let mut outputs = Vec::with_capacity(templates.len());
        for (i, t) in templates.iter_mut().enumerate() {
            match evaluate(t, i, store, dedup) {
                Outcome::Ready(out) => {
                    publish(t, i, store, dedup).await;
                    outputs.push(out)
                }
                Outcome::Waiting => {}
                Outcome::Failed(e) => return Err(e),
            }
        }
        if outputs.len() == templates.len() {
            let mut changed = BTreeSet::new();
            for (i, (t, out)) in templates.iter_mut().zip(&outputs).enumerate() {
                if t.commit(out, dry, store.health()).await? {
                    changed.insert(i);
                }
                t.rendered = true;
            }
            if !dry {
                run_commands(templates, &changed).await?;
            }
            sup.after_render(true, false).await?;
            return once_child(ctl, sup).await;
        }
        tokio::select! {
            r = store.next() => { r?; }
            _ = dedup_next(dedup) => {}
            c = ctl.recv() => match c {
                Some(Control::Reload(_, reply)) => refuse_reload(reply),
                Some(Control::Signal(sig)) => sup.forward(sig).await?,
                Some(Control::Shutdown) | None => {
                    tracing::info!("shutdown before every template had its data");
                    return Err(Error::unavailable(
                        "consul-template",
                        "interrupted before every template had its data",
                    ));
                }
            },
        }
    }
}

/// Once, after the render: waits for the exec child (if any) to exit, passing signals on.
async fn once_child(
    ctl: &mut mpsc::UnboundedReceiver<Control>,
    sup: &mut Supervisor,
) -> Result<Option<ChildExit>> {
    // Without exec mode there is nothing to wait for: `-once` ends after its render.
    if !sup.has_child() {
        return Ok(None);
    }
    loop {
        tokio::select! {
            exit = sup.wait() => return exit.map(Some),
            c = ctl.recv() => match c {
                Some(Control::Reload(_, reply)) => refuse_reload(reply),
                Some(Control::Signal(sig)) => sup.forward(sig).await?,
                Some(Control::Shutdown) | None => return Ok(None),
            },
        }
    }
}

/// Watch mode until a shutdown or a reload: renders every template as soon as its data is
/// complete, then again after each change to what it reads (after its quiescence).
pub(crate) async fn watch(
    templates: &mut [Tmpl],
    store: &mut Store,
    dedup: &mut Option<Dedup>,
    dry: bool,
    ctl: &mut mpsc::UnboundedReceiver<Control>,
    sup: &mut Supervisor,
) -> Result<Stop> {
    let now = Instant::now();
    for t in templates.iter_mut() {
        t.quiet.kick(now, None);
    }
    loop {
        let fire = templates.iter().filter_map(|t| t.quiet.due()).min();
        tokio::select! {
            r = store.next() => {
                let changed = r?;
                let now = Instant::now();
                for t in templates.iter_mut() {
                    if t.watches.iter().any(|w| changed.contains(w)) {
                        let wait = t.wait;
                        t.quiet.kick(now, wait);
                    }
                }
                // Without a wait the render is due now: do it here rather than through a
                // timer, whose millisecond ticks would add up to 1 ms to every change.
                if templates.iter().any(|t| t.quiet.due().is_some_and(|d| d <= now)) {
                    let changed = render_due(templates, store, dedup, dry).await?;
                    sup.after_render(all_rendered(templates), changed).await?;
                }
            }
            (i, change) = dedup_next(dedup) => {
                let now = Instant::now();
                if let Some(t) = templates.get_mut(i) {
                    // A new role renders at once (from the other source); new shared data
                    // after the template's quiescence, as any change.
                    let wait = match change {
                        Change::Role => None,
                        Change::Data => t.wait,
                    };
                    t.quiet.kick(now, wait);
                }
                if templates.iter().any(|t| t.quiet.due().is_some_and(|d| d <= now)) {
                    let changed = render_due(templates, store, dedup, dry).await?;
                    sup.after_render(all_rendered(templates), changed).await?;
                }
            }
            _ = sleep_until(fire.unwrap_or_else(Instant::now)), if fire.is_some() => {
                let changed = render_due(templates, store, dedup, dry).await?;
                sup.after_render(all_rendered(templates), changed).await?;
            }
            exit = sup.wait() => return Ok(Stop::ChildExited(exit?)),
            c = ctl.recv() => match c {
                Some(Control::Signal(sig)) => sup.forward(sig).await?,
                Some(Control::Reload(options, reply)) => return Ok(Stop::Reload(options, reply)),
                Some(Control::Shutdown) | None => return Ok(Stop::Shutdown),
            },
        }
    }
}

/// Renders the templates that are due, writes the complete ones, then runs their commands;
/// returns whether a destination changed.
async fn render_due(
    templates: &mut [Tmpl],
    store: &mut Store,
    dedup: &mut Option<Dedup>,
    dry: bool,
) -> Result<bool> {
    let now = Instant::now();
    let mut changed = BTreeSet::new();
    for (i, t) in templates.iter_mut().enumerate() {
        if !t.quiet.take_due(now) {
            continue;
        }
        match evaluate(t, i, store, dedup) {
            Outcome::Ready(out) => {
                publish(t, i, store, dedup).await;
                if t.commit(&out, dry, store.health()).await? {
                    changed.insert(i);
                }
                t.rendered = true;
            }
            Outcome::Waiting => {}
            Outcome::Failed(e) => return Err(e),
        }
    }
    if !dry {
        run_commands(templates, &changed).await?;
    }
    Ok(!changed.is_empty())
}

/// Once gives up when the agent cannot be reached after a few attempts (the shared
/// subscriptions retry forever, which suits a daemon but would hang a one-shot run).
pub(crate) async fn preflight(backend: &ConsulBackend) -> Result<()> {
    const ATTEMPTS: u32 = 6;
    let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(4));
    let mut attempt = 0;
    loop {
        match backend.services().await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() && attempt + 1 < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "Consul not reachable yet; retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
