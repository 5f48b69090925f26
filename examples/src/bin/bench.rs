//! The benchmark harness: `cargo run --release -p discovery-examples --bin bench -- <scenario>`.
//! See `BENCHMARKS.md` for the scenarios, the recorded figures and the goals.

#[cfg(feature = "etcd")]
#[tokio::main]
async fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(discovery_examples::bench::main(args).await);
}

#[cfg(not(feature = "etcd"))]
fn main() {
    eprintln!("bench needs the `etcd` feature (the default)");
    std::process::exit(2);
}
