//! `s7-watchers --engine confd` (a child of `s7`): each watcher is a confd engine
//! ([`ConfdRunner`] in watch mode) with its own etcd connection, rendering the watched keys
//! through a template into its own file, as a host running confd does. The files are watched
//! with inotify; every completed write is compared with that watcher's previous one, and each
//! value that changed is reported as `seen <value> <µs since the epoch>` (the first write of
//! every file makes `ready`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use discovery_core::Result;
use discovery_render::confd::options::{ConfdOptions, Mode};
use discovery_render::confd::resource::load_spec;
use discovery_render::confd::runner::ConfdRunner;
use discovery_render::sync::Fsync;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::fswatch::notify_err;
use super::s7::{connect, key, now_us, PREFIX};
use super::{fail, Opts};

/// The template every watcher renders: one `key value` line per key.
const TEMPLATE: &str = "{{range gets \"/s7/*\"}}{{.Key}} {{.Value}}\n{{end}}";

/// Writes the resource (`keys`: the prefix, or every key for `--model per-key`) and its
/// template under `confdir`; returns the resource file.
fn write_confdir(confdir: &Path, keys: &[String]) -> Result<PathBuf> {
    let io = |e: std::io::Error| fail(format!("{}: {e}", confdir.display()));
    std::fs::create_dir_all(confdir.join("conf.d")).map_err(io)?;
    std::fs::create_dir_all(confdir.join("templates")).map_err(io)?;
    std::fs::write(confdir.join("templates/s7.tmpl"), TEMPLATE).map_err(io)?;
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    let toml = format!(
        "[template]\nsrc = \"s7.tmpl\"\ndest = \"/dev/null\"\nkeys = [{}]\n",
        keys.join(", ")
    );
    let file = confdir.join("conf.d/s7.toml");
    std::fs::write(&file, toml).map_err(io)?;
    Ok(file)
}

/// The `key value` lines of a rendered file.
fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `--fsync before|after|never`: confd's `-fsync`. The default, `before`, is what a host runs;
/// on one machine the N hosts' fsyncs queue on one disk, so `never` isolates the delivery path.
pub(crate) fn fsync_of(value: &str) -> Result<Fsync> {
    match value {
        "before" => Ok(Fsync::BeforeRename),
        "after" => Ok(Fsync::AfterRename),
        "never" => Ok(Fsync::Never),
        other => Err(fail(format!("--fsync {other:?}: before, after or never"))),
    }
}

/// Runs `--watchers` confd engines until the parent kills this process.
pub async fn child(opts: &Opts, endpoints: Vec<String>, dir: &Path) -> Result<()> {
    let n: usize = opts.num("watchers", 1)?;
    let fsync = fsync_of(opts.str("fsync").unwrap_or("before"))?;
    let keys: usize = opts.num("keys", 10)?;
    let watched: Vec<String> = if opts.str("model") == Some("per-key") {
        (0..keys).map(|k| key(k).to_string()).collect()
    } else {
        vec![PREFIX.to_owned()]
    };
    let confdir = dir.join("confd");
    let resource = write_confdir(&confdir, &watched)?;
    let spec = load_spec(&resource, &confdir.join("templates"), None)?;
    let out = dir.join("out");
    std::fs::create_dir_all(&out).map_err(|e| fail(e.to_string()))?;

    // Completed writes of `out/w<i>`: (i, when the event arrived).
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, f64)>();
    let mut inotify = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        let at = now_us();
        let completed = matches!(
            event.kind,
            EventKind::Modify(ModifyKind::Name(RenameMode::To))
                | EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if !completed {
            return;
        }
        for p in &event.paths {
            let name = p.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            if let Some(Ok(i)) = name.strip_prefix('w').map(str::parse::<usize>) {
                let _ = tx.send((i, at));
            }
        }
    })
    .map_err(notify_err)?;
    inotify
        .watch(&out, RecursiveMode::NonRecursive)
        .map_err(notify_err)?;

    let mut engines = Vec::with_capacity(n);
    for w in 0..n {
        let backend = connect(endpoints.clone()).await?;
        let mut spec = spec.clone();
        spec.dest = out.join(format!("w{w}"));
        let mut options = ConfdOptions::new(Mode::Watch, &confdir);
        options.fsync = fsync;
        engines.push(ConfdRunner::with_resources(options, vec![spec], Arc::new(backend)).start());
    }

    let mut last: Vec<Option<BTreeMap<String, String>>> = vec![None; n];
    let mut ready = 0;
    while let Some((i, at)) = rx.recv().await {
        if i >= n {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(out.join(format!("w{i}"))) else {
            continue;
        };
        let view = parse(&text);
        match &last[i] {
            None => {
                ready += 1;
                if ready == n {
                    println!("ready");
                }
            }
            Some(before) => {
                for (k, v) in &view {
                    if before.get(k) != Some(v) {
                        println!("seen {v} {at:.0}");
                    }
                }
            }
        }
        last[i] = Some(view);
    }
    drop(engines);
    Ok(())
}
