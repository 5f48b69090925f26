//! Drop-in `confd`: the same command line, `confd.toml` and `conf.d` resources as confd.
//!
//! Run with: `cargo run -p discovery-examples --bin confd -- -onetime -backend etcdv3 -node 127.0.0.1:2379 -confdir ./confd`

// One thread: a change travels from the watch stream to the file without crossing threads,
// and an idle confd holds one thread's memory. Rendering and file writes are short and local.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(discovery_examples::confd::main(args).await);
}
