//! consul-template's Connect CA functions: `caRoots` (`/v1/agent/connect/ca/roots`, returning
//! `[]*api.CARoot`) and `caLeaf "svc"` (`/v1/agent/connect/ca/leaf/<svc>`, returning
//! `*api.LeafCert`), as `dependency/connect_ca.go` and `connect_leaf.go` fetch them. The structs
//! are those of Consul's Go API (`api/connect_ca.go`).

use std::sync::Arc;

use discovery_core::ApiRead;
use minijinja::Value;

use super::api_reads::{json_int, json_str, segment};
use super::data::state;
use crate::func::{arg_str, Arity, CallCtx, FuncError, FuncMap, FuncResult};
use crate::value::{go_list, go_object_arc, FormatVerb, GoObject, ListKind};

pub(crate) const CA_ROOT: &str = "*api.CARoot";
pub(crate) const LEAF_CERT: &str = "*api.LeafCert";

/// An `api.CARoot`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaRoot {
    id: String,
    name: String,
    root_cert_pem: String,
    active: bool,
    create_index: i64,
    modify_index: i64,
}

impl CaRoot {
    fn from_json(v: &serde_json::Value) -> Self {
        CaRoot {
            id: json_str(v, "ID"),
            name: json_str(v, "Name"),
            // `RootCertPEM string `json:"RootCert"``.
            root_cert_pem: json_str(v, "RootCert"),
            active: v.get("Active").and_then(|b| b.as_bool()).unwrap_or(false),
            create_index: json_int(v, "CreateIndex"),
            modify_index: json_int(v, "ModifyIndex"),
        }
    }
}

impl GoObject for CaRoot {
    fn type_name(&self) -> &str {
        CA_ROOT
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "ID" => Value::from(self.id.as_str()),
            "Name" => Value::from(self.name.as_str()),
            "RootCertPEM" => Value::from(self.root_cert_pem.as_str()),
            "Active" => Value::from(self.active),
            "CreateIndex" => Value::from(self.create_index),
            "ModifyIndex" => Value::from(self.modify_index),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::PlusV => format!(
                "&{{ID:{} Name:{} RootCertPEM:{} Active:{} CreateIndex:{} ModifyIndex:{}}}",
                self.id,
                self.name,
                self.root_cert_pem,
                self.active,
                self.create_index,
                self.modify_index
            ),
            _ => format!(
                "&{{{} {} {} {} {} {}}}",
                self.id,
                self.name,
                self.root_cert_pem,
                self.active,
                self.create_index,
                self.modify_index
            ),
        }
    }
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp as Consul sends it
/// (`2026-12-07T13:12:09Z` → `2026-12-07 13:12:09 +0000 UTC`); other text is kept as it is.
pub(crate) fn go_time(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return rfc3339.to_owned();
    };
    let (clock, zone) = if let Some(c) = rest.strip_suffix('Z') {
        (c, "+0000 UTC".to_owned())
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let off = rest[i..].replace(':', "");
        (&rest[..i], format!("{off} {off}"))
    } else {
        return rfc3339.to_owned();
    };
    // Go prints the fraction without trailing zeros (`.999999999`).
    let clock = match clock.split_once('.') {
        Some((hms, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                hms.to_owned()
            } else {
                format!("{hms}.{frac}")
            }
        }
        None => clock.to_owned(),
    };
    format!("{date} {clock} {zone}")
}

/// An `api.LeafCert`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeafCert {
    serial_number: String,
    cert_pem: String,
    private_key_pem: String,
    service: String,
    service_uri: String,
    valid_after: String,
    valid_before: String,
    create_index: i64,
    modify_index: i64,
}

impl LeafCert {
    fn from_json(v: &serde_json::Value) -> Self {
        LeafCert {
            serial_number: json_str(v, "SerialNumber"),
            cert_pem: json_str(v, "CertPEM"),
            private_key_pem: json_str(v, "PrivateKeyPEM"),
            service: json_str(v, "Service"),
            service_uri: json_str(v, "ServiceURI"),
            valid_after: go_time(&json_str(v, "ValidAfter")),
            valid_before: go_time(&json_str(v, "ValidBefore")),
            create_index: json_int(v, "CreateIndex"),
            modify_index: json_int(v, "ModifyIndex"),
        }
    }
}

impl GoObject for LeafCert {
    fn type_name(&self) -> &str {
        LEAF_CERT
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "SerialNumber" => Value::from(self.serial_number.as_str()),
            "CertPEM" => Value::from(self.cert_pem.as_str()),
            "PrivateKeyPEM" => Value::from(self.private_key_pem.as_str()),
            "Service" => Value::from(self.service.as_str()),
            "ServiceURI" => Value::from(self.service_uri.as_str()),
            "ValidAfter" => Value::from(self.valid_after.as_str()),
            "ValidBefore" => Value::from(self.valid_before.as_str()),
            "CreateIndex" => Value::from(self.create_index),
            "ModifyIndex" => Value::from(self.modify_index),
            _ => return None,
        })
    }

    fn method(&self, _: &str, _: &[Value]) -> Option<Result<Value, FuncError>> {
        None
    }

    fn format(&self, verb: FormatVerb) -> String {
        let l = self;
        match verb {
            FormatVerb::PlusV => format!(
                "&{{SerialNumber:{} CertPEM:{} PrivateKeyPEM:{} Service:{} ServiceURI:{} \
                 ValidAfter:{} ValidBefore:{} CreateIndex:{} ModifyIndex:{}}}",
                l.serial_number,
                l.cert_pem,
                l.private_key_pem,
                l.service,
                l.service_uri,
                l.valid_after,
                l.valid_before,
                l.create_index,
                l.modify_index
            ),
            _ => format!(
                "&{{{} {} {} {} {} {} {} {} {}}}",
                l.serial_number,
                l.cert_pem,
                l.private_key_pem,
                l.service,
                l.service_uri,
                l.valid_after,
                l.valid_before,
                l.create_index,
                l.modify_index
            ),
        }
    }
}

/// `caRoots`: the trusted roots (upstream ignores any arguments); empty until they arrive.
fn ca_roots(ctx: &CallCtx<'_>, _args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let roots: Vec<Value> = st
        .api(ApiRead::new("agent/connect/ca/roots"))
        .and_then(|list| {
            list.get("Roots").and_then(|r| r.as_array()).map(|r| {
                r.iter()
                    .map(|root| {
                        go_object_arc(Arc::new(CaRoot::from_json(root)) as Arc<dyn GoObject>)
                    })
                    .collect()
            })
        })
        .unwrap_or_default();
    Ok(go_list(ListKind::Other(CA_ROOT.into()), roots))
}

/// `caLeaf "svc"`: the service's leaf certificate (the agent signs one on first request);
/// nil until it arrives, and for an empty name.
fn ca_leaf(ctx: &CallCtx<'_>, args: &[Value]) -> FuncResult {
    let st = state(ctx)?;
    let service = match args.first() {
        Some(_) => arg_str(args, 0)?,
        None => "",
    };
    if service.is_empty() {
        return Ok(Value::from(()));
    }
    let read = ApiRead::new(format!("agent/connect/ca/leaf/{}", segment(service)));
    Ok(match st.api(read) {
        Some(leaf) => go_object_arc(Arc::new(LeafCert::from_json(&leaf)) as Arc<dyn GoObject>),
        None => Value::from(()),
    })
}

/// Registers `caRoots` and `caLeaf`.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("caRoots", Arity::at_least(0), ca_roots);
    funcs.insert("caLeaf", Arity::at_least(0), ca_leaf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};
    use discovery_core::{Dependency, RenderData, Renderer};

    fn render(src: &str, data: &RenderData) -> discovery_core::Rendered {
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate)).unwrap();
        ConsulTemplate::new(t).render(data).unwrap()
    }

    #[test]
    fn go_time_prints_like_time_string() {
        assert_eq!(
            go_time("2026-12-07T13:12:09Z"),
            "2026-12-07 13:12:09 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-07T13:12:09.250000Z"),
            "2026-12-07 13:12:09.25 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-07T15:12:09+02:00"),
            "2026-12-07 15:12:09 +0200 +0200"
        );
    }

    #[test]
    fn roots_and_leaf_print_their_go_structs() {
        let mut data = RenderData::default();
        data.api.insert(
            ApiRead::new("agent/connect/ca/roots"),
            Arc::new(serde_json::json!({
                "ActiveRootID": "aa:bb", "TrustDomain": "t.consul",
                "Roots": [{"ID": "aa:bb", "Name": "Consul CA Root Cert", "SerialNumber": 7,
                           "RootCert": "PEM\n", "IntermediateCerts": null, "Active": true,
                           "CreateIndex": 9, "ModifyIndex": 10}]
            })),
        );
        data.api.insert(
            ApiRead::new("agent/connect/ca/leaf/web"),
            Arc::new(serde_json::json!({
                "SerialNumber": "08", "CertPEM": "C", "PrivateKeyPEM": "K", "Service": "web",
                "ServiceURI": "spiffe://t.consul/ns/default/dc/dc1/svc/web",
                "ValidAfter": "2026-12-07T13:12:09Z", "ValidBefore": "2026-12-10T13:12:09Z",
                "CreateIndex": 27, "ModifyIndex": 27
            })),
        );
        // docs/templating-language.md: `{{ range caRoots }}{{ .RootCertPEM }}{{ end }}` and
        // `{{ with caLeaf "proxy" }}{{ .CertPEM }}{{ end }}`.
        let out = render(
            r#"{{ range caRoots }}{{ .RootCertPEM }}{{ . }}{{ end }}|{{ with caLeaf "web" }}{{ .CertPEM }} {{ .ValidBefore }}
{{ . }}{{ end }}|{{ caLeaf "" }}"#,
            &data,
        );
        assert_eq!(
            out.output,
            "PEM\n&{aa:bb Consul CA Root Cert PEM\n true 9 10}|C 2026-12-10 13:12:09 +0000 UTC\n\
             &{08 C K web spiffe://t.consul/ns/default/dc/dc1/svc/web 2026-12-07 13:12:09 +0000 UTC \
             2026-12-10 13:12:09 +0000 UTC 27 27}|<no value>"
        );
        assert!(out.missing.is_empty());
    }

    #[test]
    fn they_wait_for_their_endpoints() {
        let out = render(r#"{{ caRoots }}{{ caLeaf "db" }}"#, &RenderData::default());
        assert_eq!(out.output, "[]<no value>");
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
            ["agent/connect/ca/leaf/db", "agent/connect/ca/roots"]
        );
    }
}
