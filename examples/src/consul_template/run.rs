//! The two modes: `-once` (render when every template has all its data, run the commands,
//! exit) and watching (re-render the templates whose data changed, after their quiescence).

use std::collections::BTreeSet;

use discovery_core::{Error, Result};
use discovery_render::sync::run_command;
use tokio::time::{sleep_until, Instant};

use super::store::Store;
use super::tmpl::{Outcome, Tmpl};
use crate::signals::{Exit, Signals};

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
        let out = run_command("command", cmd, t.spec.command_timeout).await?;
        tracing::info!(template = %t.spec.name(), command = %cmd,
            elapsed_ms = started.elapsed().as_millis() as u64, output = %out.trim_end(), "command ran");
    }
    Ok(())
}

/// `-once`: waits until every template has all its data (a `key` that never appears waits
/// forever, as in consul-template), writes them all, then runs their commands.
pub async fn once(templates: &mut [Tmpl], store: &mut Store, dry: bool) -> Result<()> {
    let mut signals = Signals::new()?;
    loop {
        let mut outputs = Vec::with_capacity(templates.len());
        for t in templates.iter_mut() {
            match t.evaluate(store) {
                Outcome::Ready(out) => outputs.push(out),
                Outcome::Waiting => {}
                Outcome::Failed(e) => return Err(e),
            }
        }
        if outputs.len() == templates.len() {
            let mut changed = BTreeSet::new();
            for (i, (t, out)) in templates.iter().zip(&outputs).enumerate() {
                if t.commit(out, dry).await? {
                    changed.insert(i);
                }
            }
            if !dry {
                run_commands(templates, &changed).await?;
            }
            return Ok(());
        }
        tokio::select! {
            r = store.next() => { r?; }
            sig = signals.next() => {
                tracing::info!(?sig, "signal before every template had its data; exiting");
                return Err(Error::unavailable(
                    "consul-template",
                    "interrupted before every template had its data",
                ));
            }
        }
    }
}

/// Watch mode until a signal: renders every template as soon as its data is complete, then
/// again after each change to what it reads (after its quiescence).
pub async fn watch(templates: &mut [Tmpl], store: &mut Store, dry: bool) -> Result<Exit> {
    let mut signals = Signals::new()?;
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
                    render_due(templates, store, dry).await?;
                }
            }
            _ = sleep_until(fire.unwrap_or_else(Instant::now)), if fire.is_some() => {
                render_due(templates, store, dry).await?;
            }
            sig = signals.next() => return Ok(sig),
        }
    }
}

/// Renders the templates that are due, writes the complete ones, then runs their commands.
async fn render_due(templates: &mut [Tmpl], store: &mut Store, dry: bool) -> Result<()> {
    let now = Instant::now();
    let mut changed = BTreeSet::new();
    for (i, t) in templates.iter_mut().enumerate() {
        if !t.quiet.take_due(now) {
            continue;
        }
        match t.evaluate(store) {
            Outcome::Ready(out) => {
                if t.commit(&out, dry).await? {
                    changed.insert(i);
                }
            }
            Outcome::Waiting => {}
            Outcome::Failed(e) => return Err(e),
        }
    }
    if !dry {
        run_commands(templates, &changed).await?;
    }
    Ok(())
}
