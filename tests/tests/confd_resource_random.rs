//! Randomized robustness test of confd's `conf.d` TOML loader (`load_spec`), the stable-toolchain
//! stand-in for the `fuzz/fuzz_targets/confd_resource.rs` cargo-fuzz target: ≥ 100,000 generated
//! inputs (random bytes, mutations of a valid resource, and grammar-generated resources with
//! odd values). Every input must load or fail with an error naming the file; none may panic.
//!
//! `DISCOVERY_FUZZ_CASES` sets the number of inputs (default 100,000), `DISCOVERY_FUZZ_SEED`
//! the seed (default: random, printed).

use std::path::Path;

use discovery_render::confd::resource::load_spec;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VALID: &str = "[template]\nsrc = \"nginx.tmpl\"\ndest = \"/etc/nginx/nginx.conf\"\nkeys = [\"/upstream\", \"/app/db\"]\nprefix = \"/prod\"\nowner = \"nginx\"\nmode = \"0644\"\nuid = 0\ngid = 0\ncheck_cmd = \"nginx -t -c {{.src}}\"\nreload_cmd = \"kill -HUP 1\"\n";

const FIELDS: &[&str] = &[
    "src",
    "dest",
    "keys",
    "prefix",
    "mode",
    "uid",
    "gid",
    "check_cmd",
    "reload_cmd",
    "owner",
    "SRC",
    "Keys",
    "\"quoted key\"",
    "a.b",
    "template",
];

const STRINGS: &[&str] = &[
    "",
    "/",
    "..",
    "../../etc/passwd",
    "/a/../../b",
    "//x//",
    "0644",
    "0o600",
    "0x1a4",
    "0b1",
    "420",
    "99999999999",
    "-1",
    "rw-r--r--",
    "ünïcödé ключ",
    "with space",
    "{{.src}}",
    "\\u0000",
    "a\\nb",
    "\\\"",
    "*",
    "[",
    "/app/[a-",
    "0_6_4_4",
    "0",
];

fn toml_string(rng: &mut StdRng) -> String {
    let s = STRINGS[rng.gen_range(0..STRINGS.len())];
    match rng.gen_range(0..4) {
        0 => format!("'{}'", s.replace('\'', "")),
        1 => format!("\"\"\"{s}\"\"\""),
        _ => format!("\"{s}\""),
    }
}

fn toml_value(rng: &mut StdRng, depth: u32) -> String {
    match rng.gen_range(0..if depth > 2 { 6 } else { 9 }) {
        0..=2 => toml_string(rng),
        3 => rng.gen::<i64>().to_string(),
        4 => [
            "true",
            "false",
            "1.5",
            "nan",
            "-inf",
            "1979-05-27T07:32:00Z",
        ][rng.gen_range(0..6)]
        .into(),
        5 => rng.gen_range(-2i64..70000).to_string(),
        6..=7 => {
            let n = rng.gen_range(0..5);
            let items: Vec<String> = (0..n).map(|_| toml_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let n = rng.gen_range(0..3);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{} = {}",
                        FIELDS[rng.gen_range(0..FIELDS.len())],
                        toml_value(rng, depth + 1)
                    )
                })
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A resource built from the grammar: a `[template]`-ish header and random fields.
fn generated(rng: &mut StdRng) -> Vec<u8> {
    let mut s = String::new();
    match rng.gen_range(0..10) {
        0 => {}
        1 => s.push_str("[TEMPLATE]\n"),
        2 => s.push_str("[[template]]\n"),
        3 => s.push_str("template = 5\n"),
        _ => s.push_str("[template]\n"),
    }
    for _ in 0..rng.gen_range(0..10) {
        let field = FIELDS[rng.gen_range(0..FIELDS.len())];
        s.push_str(&format!("{field} = {}\n", toml_value(rng, 0)));
    }
    s.into_bytes()
}

/// The valid resource with random byte edits.
fn mutated(rng: &mut StdRng) -> Vec<u8> {
    let mut b = VALID.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..8) {
        let i = rng.gen_range(0..=b.len());
        match rng.gen_range(0..4) {
            0 if i < b.len() => b[i] = rng.gen(),
            1 if i < b.len() => {
                b.remove(i);
            }
            2 => {
                let specials = b"\"[]{}=.\n\\'#\xff\x00";
                b.insert(i, specials[rng.gen_range(0..specials.len())]);
            }
            _ => {
                // Duplicate up to 64 bytes from a random place.
                let lo = rng.gen_range(0..=b.len());
                let hi = (lo + rng.gen_range(0..64)).min(b.len());
                let chunk = b[lo..hi].to_vec();
                b.splice(i..i, chunk);
            }
        }
    }
    b
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.gen_range(0..200);
    (0..n).map(|_| rng.gen()).collect()
}

#[test]
fn conf_d_loader_never_panics_on_generated_input() {
    let cases: u64 = std::env::var("DISCOVERY_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("DISCOVERY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("random.toml");
    let templates = Path::new("/etc/confd/templates");
    let started = std::time::Instant::now();
    let (mut loaded, mut refused) = (0u64, 0u64);
    for n in 0..cases {
        let input = match n % 3 {
            0 => generated(&mut rng),
            1 => mutated(&mut rng),
            _ => random_bytes(&mut rng),
        };
        std::fs::write(&file, &input).unwrap();
        for prefix in [None, Some("/global")] {
            let result = std::panic::catch_unwind(|| load_spec(&file, templates, prefix));
            match result {
                Err(_) => panic!(
                    "load_spec panicked (seed {seed}, case {n}, prefix {prefix:?}) on {:?}",
                    String::from_utf8_lossy(&input)
                ),
                Ok(Ok(spec)) => {
                    loaded += 1;
                    assert!(
                        spec.src.starts_with(templates),
                        "src outside the template dir: {spec:?}"
                    );
                    assert!(
                        !spec.dest.as_os_str().is_empty(),
                        "empty dest accepted: {spec:?}"
                    );
                }
                Ok(Err(e)) => {
                    refused += 1;
                    let text = e.to_string();
                    assert!(
                        text.contains("random.toml"),
                        "error does not name the file (seed {seed}, case {n}): {text}"
                    );
                }
            }
        }
    }
    println!(
        "conf.d loader: {cases} generated inputs (seed {seed}) × 2 prefixes in {:?}: {loaded} loaded, {refused} refused, no panic",
        started.elapsed()
    );
    assert!(
        loaded > 0 && refused > 0,
        "the generator only produced one kind of input"
    );
}
