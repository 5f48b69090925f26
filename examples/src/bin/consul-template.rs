//! Drop-in `consul-template`: the same command line and `-config` files as consul-template.
//!
//! Run with: `cargo run -p discovery-examples --bin consul-template -- -consul-addr 127.0.0.1:8500 -template "in.tmpl:out.conf" -once`

fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(discovery_examples::consul_template::main(args));
}
