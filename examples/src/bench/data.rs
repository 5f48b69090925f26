//! The workload every scenario shares: the nginx upstream template, generated upstream keys,
//! loading them into etcd, and a `conf.d` directory for our `confd` with a counting reload command.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use discovery_core::{Key, KvPair, KvSnapshot, RenderData, Renderer, Result, Revision};
use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
use etcd_client::{Client, PutOptions, Txn, TxnOp};
use futures::StreamExt;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::fail;

/// confd's nginx upstream example: one `server` line per key under `/app/upstream`.
pub const NGINX_TEMPLATE: &str =
    "upstream app {\n{{- range getvs \"/app/upstream/*\"}}\n    server {{.}};\n{{- end}}\n}\n";

/// The prefix the template reads.
pub const PREFIX: &str = "/app/upstream";

/// The key of upstream `i`.
pub fn key(i: usize) -> String {
    format!("{PREFIX}/s{i:06}")
}

/// The initial value of upstream `i` (a distinct `ip:port`).
pub fn value(i: usize) -> String {
    format!("10.{}.{}.{}:80", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// The in-memory snapshot of `n` upstream keys.
pub fn snapshot(n: usize) -> Result<KvSnapshot> {
    let mut kv = KvSnapshot::default();
    for i in 0..n {
        let k = Key::new(key(i))?;
        let pair = KvPair {
            key: k.clone(),
            value: value(i).into(),
            mod_revision: Revision(1),
        };
        kv.pairs.insert(k, pair);
    }
    Ok(kv)
}

/// The template as our `confd` builds it for the bench resource.
pub fn template() -> Result<ConfdTemplate> {
    let t = Template::parse(
        NGINX_TEMPLATE,
        TemplateOptions::new(Dialect::Confd).name("nginx.tmpl"),
    )?;
    Ok(ConfdTemplate::new(t, "/", vec![PREFIX.into()]))
}

/// What the destination must hold for `kv`.
pub fn expected(kv: KvSnapshot) -> Result<String> {
    Ok(template()?.render(&RenderData::from_kv(kv))?.output)
}

fn etcd_err(e: etcd_client::Error) -> discovery_core::Error {
    fail(format!("etcd: {e}"))
}

/// Writes upstream keys `0..n` with their initial values (transactions of 128 puts, 8 at a time).
pub async fn load_etcd(client: &Client, n: usize) -> Result<()> {
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(128)
        .map(<[usize]>::to_vec)
        .collect();
    let results: Vec<Result<()>> = futures::stream::iter(batches)
        .map(|batch| {
            let mut kv = client.kv_client();
            async move {
                let ops: Vec<TxnOp> = batch
                    .iter()
                    .map(|&i| TxnOp::put(key(i), value(i), None::<PutOptions>))
                    .collect();
                kv.txn(Txn::new().and_then(ops)).await.map_err(etcd_err)?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// One put through etcd-client; returns when the response arrived.
pub async fn put(client: &Client, k: String, v: String) -> Result<()> {
    client.kv_client().put(k, v, None).await.map_err(etcd_err)?;
    Ok(())
}

/// A confdir with one resource over [`PREFIX`] writing `out/nginx.conf`, whose reload command
/// appends a line to `reloads` (the reload counter).
#[derive(Debug)]
pub struct ConfdDir {
    /// The temporary directory holding everything.
    pub dir: TempDir,
    /// The destination file.
    pub dest: PathBuf,
    /// The reload counter file.
    pub reloads: PathBuf,
}

impl ConfdDir {
    /// Writes `conf.d/bench.toml` and `templates/nginx.tmpl`.
    pub fn new() -> Result<ConfdDir> {
        let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let root = dir.path();
        for d in ["conf.d", "templates", "out"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| fail(e.to_string()))?;
        }
        let dest = root.join("out/nginx.conf");
        let reloads = root.join("reloads");
        let resource = format!(
            "[template]\nsrc = \"nginx.tmpl\"\ndest = \"{}\"\nkeys = [\"{PREFIX}\"]\nreload_cmd = \"echo r >> {}\"\n",
            dest.display(),
            reloads.display()
        );
        let write = |p: PathBuf, s: &str| std::fs::write(p, s).map_err(|e| fail(e.to_string()));
        write(root.join("conf.d/bench.toml"), &resource)?;
        write(root.join("templates/nginx.tmpl"), NGINX_TEMPLATE)?;
        Ok(ConfdDir { dir, dest, reloads })
    }

    /// Reload commands run so far.
    pub fn reload_count(&self) -> u64 {
        std::fs::read_to_string(&self.reloads)
            .map(|s| s.lines().count() as u64)
            .unwrap_or(0)
    }

    /// The arguments of our confd against `endpoint` (plus `extra`).
    pub fn confd_args(&self, endpoint: &str, extra: &[&str]) -> Vec<String> {
        let root = self.dir.path();
        let mut args: Vec<String> = [
            "-backend",
            "etcdv3",
            "-node",
            &format!("http://{endpoint}"),
            "-confdir",
            &root.display().to_string(),
            "-config-file",
            &root.join("confd.toml").display().to_string(),
            "-log-level",
            "error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }
}

/// A binary built next to this one (`target/release/<name>`); `BENCH_<NAME>` overrides it.
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let var = format!("BENCH_{}", name.to_ascii_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(fail(format!(
            "{} not found: build it first (cargo build --release -p discovery-examples --bin {name}) or set {var}",
            path.display()
        )))
    }
}

/// Spawns `binary args` with its output in `log`; killed when dropped.
pub fn spawn_logged(binary: &Path, args: &[String], log: &Path) -> Result<Child> {
    spawn_logged_in(binary, args, log, None)
}

/// [`spawn_logged`], in directory `cwd` when given.
pub fn spawn_logged_in(
    binary: &Path,
    args: &[String],
    log: &Path,
    cwd: Option<&Path>,
) -> Result<Child> {
    let out = std::fs::File::create(log).map_err(|e| fail(e.to_string()))?;
    let err = out.try_clone().map_err(|e| fail(e.to_string()))?;
    let mut cmd = Command::new(binary);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("{}: {e}", binary.display())))
}
