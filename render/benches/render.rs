//! Rendering the nginx upstream template (confd dialect) over 1,000 / 10,000 / 100,000 keys from
//! an in-memory snapshot: `cargo bench -p discovery-render --bench render`. The same workload,
//! with peak memory, is `bench render` in discovery-examples; figures are in BENCHMARKS.md.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput};
use discovery_core::{Key, KvPair, KvSnapshot, RenderData, Renderer, Revision};
use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};

const NGINX: &str =
    "upstream app {\n{{- range getvs \"/app/upstream/*\"}}\n    server {{.}};\n{{- end}}\n}\n";

fn data(n: usize) -> RenderData {
    let mut kv = KvSnapshot::default();
    for i in 0..n {
        let key = Key::new(format!("/app/upstream/s{i:06}")).expect("valid key");
        let value = format!("10.{}.{}.{}:80", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let pair = KvPair {
            key: key.clone(),
            value: value.into(),
            mod_revision: Revision(1),
        };
        kv.pairs.insert(key, pair);
    }
    RenderData::from_kv(Arc::new(kv))
}

fn template() -> ConfdTemplate {
    let t = Template::parse(
        NGINX,
        TemplateOptions::new(Dialect::Confd).name("nginx.tmpl"),
    )
    .expect("the template parses");
    ConfdTemplate::new(t, "/", vec!["/app/upstream".into()])
}

fn render(c: &mut Criterion) {
    let template = template();
    let mut group = c.benchmark_group("nginx_upstream");
    group.sample_size(20);
    for n in [1_000, 10_000, 100_000] {
        let input = data(n);
        let out = template.render(&input).expect("renders").output;
        assert_eq!(out.matches("    server ").count(), n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| template.render(input).expect("renders"))
        });
    }
    group.finish();
}

/// Watch mode's path: one key changes, the resource's kept store is updated for it, and the
/// template renders from the store.
fn render_after_one_change(c: &mut Criterion) {
    let template = template();
    let mut group = c.benchmark_group("nginx_upstream_one_change");
    group.sample_size(20);
    for n in [1_000, 10_000, 100_000] {
        let mut kv = (*data(n).kv).clone();
        let mut store = template.store(&kv);
        let keys: Vec<Key> = kv.pairs.keys().cloned().collect();
        let mut i = 0usize;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                i += 1;
                let key = &keys[(i * 7919) % keys.len()];
                if let Some(pair) = kv.pairs.get_mut(key) {
                    pair.value = format!("10.9.{}.{}:80", (i >> 8) & 255, i & 255).into();
                }
                store.update(&kv, Some(std::slice::from_ref(key)));
                template.render_store(&store).expect("renders")
            })
        });
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    c.bench_function("parse_nginx_upstream", |b| b.iter(template));
}

/// Runs both groups with criterion's command-line handling (what `criterion_group!` and
/// `criterion_main!` expand to, written out so that every item is documented).
fn main() {
    let mut c = Criterion::default().configure_from_args();
    render(&mut c);
    render_after_one_change(&mut c);
    parse(&mut c);
    c.final_summary();
}
