//! What the runners tell the operator about each resource: per-resource metrics and readiness in
//! a [`HealthRegistry`].
//!
//! Metrics (labels `resource`, the resource's name, and `dest`, its destination path):
//! `discovery_renders_total{ok}`, `discovery_last_render_success_timestamp_seconds` and
//! `discovery_last_render_error_timestamp_seconds` (Unix seconds).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use discovery_core::health::HealthRegistry;

/// Records the outcome of one render-and-sync of a resource of `kind` (`resource` for confd,
/// `template` for consul-template). A success (written, unchanged, or a `-noop`/`-dry`
/// comparison) makes the resource ready in `health`.
pub(crate) fn processed(
    health: &HealthRegistry,
    kind: &str,
    resource: &str,
    dest: &Path,
    ok: bool,
) {
    let dest = dest.display().to_string();
    let ok_label = if ok { "true" } else { "false" };
    let counted = [
        ("resource", resource.to_owned()),
        ("dest", dest.clone()),
        ("ok", ok_label.to_owned()),
    ];
    metrics::counter!("discovery_renders_total", &counted).increment(1);
    let labels = [("resource", resource.to_owned()), ("dest", dest)];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    if ok {
        metrics::gauge!("discovery_last_render_success_timestamp_seconds", &labels).set(now);
        health.mark_ready(kind, resource);
    } else {
        metrics::gauge!("discovery_last_render_error_timestamp_seconds", &labels).set(now);
    }
}
