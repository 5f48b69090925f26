//! consul-template's `peerings`, `partitions`, `exportedServices` and `importedServices`: they
//! read endpoints that Consul 1.8.7 does not have (`/v1/peerings` came with Consul 1.13,
//! partitions are Consul Enterprise). Templates naming them parse; a render using them asks the
//! agent, and the agent's 404 ends the run with an error naming the function and what it needs
//! (see [`super::api_reads::missing_endpoint`]). No data is made up: an agent that does answer
//! is refused too, since these answers are not modelled here.

use std::sync::OnceLock;

use discovery_core::ApiRead;
use regex::Regex;

use super::api_reads::NEWER_ENDPOINTS;
use super::data::state;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::gostr::go_quote;
use crate::value::{go_list, ListKind};

/// `?query` only (`dependency/consul_peering.go`'s `ListPeeringQueryRe`).
fn peering_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\A(?:\?(?P<query>[0-9A-Za-z_=&\-]+))?\z")
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

/// Records the read of `path` and returns the empty list upstream returns while it waits; an
/// answer (from an agent that has the endpoint) is refused.
fn read_newer(ctx: &CallCtx<'_>, func: &str, path: &str, item: &str) -> FuncResult {
    let st = state(ctx)?;
    match st.api(ApiRead::new(path)) {
        None => Ok(go_list(ListKind::Other(item.into()), Vec::new())),
        Some(_) => Err(FuncError::new(format!(
            "{func}: this consul-template does not read /v1/{path} answers"
        ))),
    }
}

fn path_of(func: &str) -> &'static str {
    NEWER_ENDPOINTS
        .iter()
        .find(|(_, f, _)| *f == func)
        .map_or("", |(p, _, _)| *p)
}

/// Registers the four functions with upstream's argument checks (`template/funcs.go`).
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("peerings", Arity::at_least(0), |ctx, args| {
        let s: String = (0..args.len())
            .map(|i| arg_str(args, i))
            .collect::<Result<_, _>>()?;
        if !peering_re().is_match(&s) {
            return Err(FuncError::new(format!(
                "list.peering: invalid format: {}",
                go_quote(&s)
            )));
        }
        read_newer(ctx, "peerings", path_of("peerings"), "*dependency.Peering")
    });
    funcs.insert("partitions", Arity::exact(0), |ctx, _| {
        read_newer(
            ctx,
            "partitions",
            path_of("partitions"),
            "*dependency.Partition",
        )
    });
    funcs.insert("exportedServices", Arity::at_least(0), |ctx, args| {
        if args.len() > 1 {
            return Err(FuncError::new(
                "exportedServices: wrong number of arguments, expected 0 or 1",
            ));
        }
        let func = "exportedServices";
        read_newer(ctx, func, path_of(func), "dependency.ExportedService")
    });
    funcs.insert("importedServices", Arity::exact(1), |ctx, args| {
        if arg_str(args, 0)?.is_empty() {
            return Err(FuncError::new(
                "importedServices: partition name is required",
            ));
        }
        let func = "importedServices";
        read_newer(ctx, func, path_of(func), "dependency.ImportedService")
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};
    use discovery_core::{Dependency, RenderData, Renderer};

    fn render(src: &str, data: &RenderData) -> Result<discovery_core::Rendered, String> {
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate))
            .map_err(|e| e.to_string())?;
        ConsulTemplate::new(t)
            .render(data)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn they_wait_on_their_endpoint_and_never_make_data_up() {
        let out = render(
            r#"{{ peerings }}{{ partitions }}{{ exportedServices "default" }}{{ importedServices "p" }}"#,
            &RenderData::default(),
        )
        .unwrap();
        assert_eq!(out.output, "[][][][]");
        let paths: Vec<String> = out
            .missing
            .iter()
            .filter_map(|d| match d {
                Dependency::Api(r) => Some(r.path.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            [
                "exported-services",
                "imported-services",
                "partitions",
                "peerings"
            ]
        );
        let mut data = RenderData::default();
        data.api
            .insert(ApiRead::new("peerings"), Arc::new(serde_json::json!([])));
        let err = render("{{ peerings }}", &data).unwrap_err();
        assert!(
            err.contains("peerings: this consul-template does not read /v1/peerings answers"),
            "{err}"
        );
    }

    #[test]
    fn arguments_are_checked_as_upstream() {
        let d = RenderData::default();
        let err = render(r#"{{ importedServices "" }}"#, &d).unwrap_err();
        assert!(
            err.contains("importedServices: partition name is required"),
            "{err}"
        );
        let err = render(r#"{{ exportedServices "a" "b" }}"#, &d).unwrap_err();
        assert!(
            err.contains("exportedServices: wrong number of arguments, expected 0 or 1"),
            "{err}"
        );
        let err = render(r#"{{ peerings "x" }}"#, &d).unwrap_err();
        assert!(
            err.contains(r#"list.peering: invalid format: "x""#),
            "{err}"
        );
    }
}
