//! consul-template's Connect function `connect` (`/v1/health/connect/<name>`: the health of a
//! service's Connect-capable instances, native or through their proxies), returning the same
//! `[]*dependency.HealthService` as `service` (`dependency/health_service.go`).

use std::sync::Arc;

use discovery_core::ApiRead;
use minijinja::Value;

use super::api_reads::{json_int, json_str, json_string_map, json_strings, segment, with_dc_near};
use super::data::{state, HealthService, HEALTH_SERVICE};
use super::query::parse_service;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::value::{go_list, go_object_arc, GoObject, ListKind};

/// Consul's aggregated status of an entry's checks (`api.HealthChecks.AggregatedStatus`):
/// maintenance over critical over warning over passing; an unknown status is `""`.
fn aggregated_status(checks: &[serde_json::Value]) -> String {
    let (mut maint, mut critical, mut warning) = (false, false, false);
    for c in checks {
        let id = json_str(c, "CheckID");
        if id == "_node_maintenance" || id.starts_with("_service_maintenance:") {
            maint = true;
            continue;
        }
        match json_str(c, "Status").as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return String::new(),
        }
    }
    match (maint, critical, warning) {
        (true, _, _) => "maintenance",
        (_, true, _) => "critical",
        (_, _, true) => "warning",
        _ => "passing",
    }
    .to_owned()
}

/// One `/v1/health/<kind>/<name>` entry as a `HealthService` (the service's address, else its
/// node's; tags sorted).
fn health_service(entry: &serde_json::Value) -> HealthService {
    let null = serde_json::Value::Null;
    let node = entry.get("Node").unwrap_or(&null);
    let svc = entry.get("Service").unwrap_or(&null);
    let checks = entry
        .get("Checks")
        .and_then(|c| c.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let node_address = json_str(node, "Address");
    let address = Some(json_str(svc, "Address"))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| node_address.clone());
    let mut tags = json_strings(svc, "Tags");
    tags.sort();
    HealthService {
        node: json_str(node, "Node"),
        node_address,
        address,
        id: json_str(svc, "ID"),
        name: json_str(svc, "Service"),
        tags,
        meta: json_string_map(svc, "Meta"),
        status: aggregated_status(checks),
        port: json_int(svc, "Port"),
    }
}

/// `connect "tag.name@dc~near|filter"`: as `service`, over the Connect-capable instances.
fn connect(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let parts = (0..args.len())
        .map(|i| arg_str(args, i))
        .collect::<Result<Vec<_>, _>>()?;
    let empty = || go_list(ListKind::Other(HEALTH_SERVICE.into()), Vec::new());
    if parts.first().is_none_or(|p| p.is_empty()) {
        return Ok(empty());
    }
    let q = parse_service(&parts.join("|")).map_err(FuncError::new)?;
    let read = with_dc_near(
        ApiRead::new(format!("health/connect/{}", segment(&q.name))),
        q.dc.as_deref(),
        q.near.as_deref(),
    );
    let Some(answer) = st.api(read) else {
        return Ok(empty());
    };
    let mut list: Vec<HealthService> = answer
        .as_array()
        .map(|a| a.iter().map(health_service).collect())
        .unwrap_or_default();
    list.retain(|h| {
        q.tag.as_ref().is_none_or(|t| h.tags.contains(t)) && q.accepts(h.status.as_str())
    });
    if q.near.is_none() {
        list.sort_by(|a, b| a.node.cmp(&b.node).then_with(|| a.id.cmp(&b.id)));
    }
    let items = list
        .into_iter()
        .map(|h| go_object_arc(Arc::new(h) as Arc<dyn GoObject>))
        .collect();
    Ok(go_list(ListKind::Other(HEALTH_SERVICE.into()), items))
}

/// Registers `connect`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("connect", Arity::at_least(0), connect);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};
    use discovery_core::{Dependency, RenderData, Renderer};

    fn entry(
        node: &str,
        id: &str,
        tags: &[&str],
        status: &str,
        check_id: &str,
    ) -> serde_json::Value {
        serde_json::json!({
            "Node": {"ID": "x", "Node": node, "Address": "10.0.0.1", "TaggedAddresses": null, "Meta": null},
            "Service": {"ID": id, "Service": "web", "Tags": tags, "Address": "", "Meta": {"v": "2"}, "Port": 21000},
            "Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": check_id, "Status": status}]
        })
    }

    fn render(src: &str, data: &RenderData) -> discovery_core::Rendered {
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate)).unwrap();
        ConsulTemplate::new(t).render(data).unwrap()
    }

    #[test]
    fn connect_filters_and_sorts_like_service() {
        let body = serde_json::json!([
            entry("n2", "web-b", &["v1"], "passing", "c"),
            entry("n1", "web-a", &["v2", "v1"], "passing", "c"),
            entry("n1", "web-c", &["v1"], "warning", "c"),
            entry(
                "n3",
                "web-d",
                &["v1"],
                "passing",
                "_service_maintenance:web-d"
            ),
        ]);
        let mut data = RenderData::default();
        data.api
            .insert(ApiRead::new("health/connect/web"), Arc::new(body));
        // docs/templating-language.md `connect`: `server {{ .Name }} {{ .Address }}:{{ .Port }}`.
        let out = render(
            r#"{{ range connect "web" }}server {{ .Name }} {{ .Address }}:{{ .Port }} {{ .ID }}
{{ end }}{{ range connect "v2.web" "any" }}{{ .ID }} {{ .Tags }} {{ .Status }}{{ end }}|{{ range connect "web|warning,maintenance" }}{{ .ID }}={{ .Status }} {{ end }}"#,
            &data,
        );
        assert_eq!(
            out.output,
            "server web 10.0.0.1:21000 web-a\nserver web 10.0.0.1:21000 web-b\n\
             web-a [v1 v2] passing|web-c=warning web-d=maintenance "
        );
        assert!(out.missing.is_empty());
    }

    #[test]
    fn connect_waits_for_its_endpoint_with_dc_and_near() {
        let out = render(
            r#"{{ connect "web@dc2~_agent" }}{{ connect "" }}"#,
            &RenderData::default(),
        );
        assert_eq!(out.output, "[][]");
        let read = with_dc_near(
            ApiRead::new("health/connect/web"),
            Some("dc2"),
            Some("_agent"),
        );
        assert_eq!(
            out.missing.into_iter().collect::<Vec<_>>(),
            [Dependency::Api(read)]
        );
    }
}
