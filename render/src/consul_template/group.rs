//! consul-template's grouping helpers: `byTag`, `byKey`, `byMeta`, `byPort` and `explode`.

use std::collections::BTreeMap;

use minijinja::value::Value;

use super::data::{HEALTH_SERVICE, KEY_PAIR};
use crate::func::{arg_value, wrong_type, Arity, FuncError, FuncMap, FuncResult};
use crate::gostr;
use crate::value::{
    as_go_list, as_go_object, go_list, go_map, go_type_name, map_entries, seq_items, ListKind,
    MapKind,
};

fn pairs_of(v: &Value) -> Result<Vec<(String, Value)>, FuncError> {
    let items = seq_items(v).ok_or_else(|| wrong_type(&format!("[]{KEY_PAIR}"), v))?;
    items
        .into_iter()
        .map(|it| {
            let key = as_go_object(&it)
                .and_then(|o| o.field("Key"))
                .and_then(|k| k.as_str().map(str::to_owned))
                .ok_or_else(|| wrong_type(&format!("[]{KEY_PAIR}"), v))?;
            Ok((key, it))
        })
        .collect()
}

fn by_tag(v: &Value) -> FuncResult {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if !v.is_none() && !v.is_undefined() {
        let items = seq_items(v).ok_or_else(|| {
            FuncError::new(format!("byTag: wrong argument type {}", go_type_name(v)))
        })?;
        for it in items {
            let tags = as_go_object(&it)
                .and_then(|o| o.field("Tags"))
                .and_then(|t| seq_items(&t))
                .ok_or_else(|| {
                    FuncError::new(format!("byTag: wrong argument type {}", go_type_name(v)))
                })?;
            for t in tags {
                if let Some(t) = t.as_str() {
                    groups.entry(t.to_owned()).or_default().push(it.clone());
                }
            }
        }
    }
    let entries = groups
        .into_iter()
        .map(|(k, items)| (k, go_list(ListKind::Interface, items)))
        .collect();
    Ok(go_map(MapKind::Interface, entries))
}

fn by_key(v: &Value) -> FuncResult {
    let mut groups: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (key, pair) in pairs_of(v)? {
        let Some((top, rest)) = key.split_once('/') else {
            continue;
        };
        let o = as_go_object(&pair).ok_or_else(|| wrong_type(KEY_PAIR, &pair))?;
        let kp = super::data::KeyPair {
            path: o.field("Path").map(|p| p.to_string()).unwrap_or_default(),
            key: rest.to_owned(),
            value: o
                .field("Value")
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
            modify_index: o
                .field("ModifyIndex")
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0),
        };
        groups.entry(top.to_owned()).or_default().insert(
            rest.to_owned(),
            crate::value::go_object_arc(std::sync::Arc::new(kp)),
        );
    }
    let entries = groups
        .into_iter()
        .map(|(k, m)| (k, go_map(MapKind::Interface, m)))
        .collect();
    Ok(go_map(MapKind::Interface, entries))
}

/// The items of a `[]*dependency.HealthService` argument; nil is empty, another type is `None`.
fn health_services(v: &Value) -> Option<Vec<Value>> {
    if v.is_none() || v.is_undefined() {
        return Some(Vec::new());
    }
    let l = as_go_list(v)?;
    (l.kind == ListKind::Other(HEALTH_SERVICE.into())).then(|| l.snapshot())
}

/// `byMeta "k1,k2|int" services`: services grouped by the values of the meta keys joined with
/// `_`. A missing or empty value is `_no_KEY_` (`0` for a `|int` key); `|int` values are
/// zero-padded to five digits; characters outside `[a-zA-Z0-9_-]` become `_`.
fn by_meta(meta: &str, v: &Value) -> FuncResult {
    let services =
        health_services(v).ok_or_else(|| wrong_type(&format!("[]{HEALTH_SERVICE}"), v))?;
    let normalize = |x: &str| -> String {
        x.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let metas: Vec<&str> = meta.split(',').collect();
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in services {
        let sm: BTreeMap<String, Value> = as_go_object(&s)
            .and_then(|o| o.field("ServiceMeta"))
            .and_then(|m| map_entries(&m))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut parts = Vec::with_capacity(metas.len());
        for m in &metas {
            let real = m.strip_suffix("|int").unwrap_or(m);
            let is_int = real.len() != m.len();
            let value = match sm
                .get(real)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
            {
                Some(v) => v.to_owned(),
                None if is_int => "0".to_owned(),
                None => format!("_no_{real}_"),
            };
            let value = if is_int {
                let i = gostr::parse_int(&value, "Atoi")
                    .map_err(|e| FuncError::new(format!("cannot parse {value} as number : {e}")))?;
                format!("{i:05}")
            } else {
                value
            };
            parts.push(normalize(&value));
        }
        groups.entry(parts.join("_")).or_default().push(s);
    }
    let entries = groups
        .into_iter()
        .map(|(k, items)| (k, go_list(ListKind::Other(HEALTH_SERVICE.into()), items)))
        .collect();
    Ok(go_map(MapKind::Interface, entries))
}

/// `byPort services`: a `map[int][]interface {}` from each service's `Port` to the services.
fn by_port(v: &Value) -> FuncResult {
    let services = health_services(v).ok_or_else(|| {
        FuncError::new(format!("byPort: wrong argument type {}", go_type_name(v)))
    })?;
    let mut groups: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for s in services {
        let port = as_go_object(&s)
            .and_then(|o| o.field("Port"))
            .and_then(|p| p.as_i64())
            .unwrap_or(0);
        groups.entry(port).or_default().push(s);
    }
    let map: BTreeMap<Value, Value> = groups
        .into_iter()
        .map(|(port, items)| (Value::from(port), go_list(ListKind::Interface, items)))
        .collect();
    Ok(Value::from_object(map))
}

enum Tree {
    Leaf(Value),
    Node(BTreeMap<String, Tree>),
}

fn explode(v: &Value) -> FuncResult {
    let mut root: BTreeMap<String, Tree> = BTreeMap::new();
    for (key, pair) in pairs_of(v)? {
        let value = as_go_object(&pair)
            .and_then(|o| o.field("Value"))
            .unwrap_or_else(|| Value::from(""));
        let mut node = &mut root;
        let mut parts: Vec<&str> = key.split('/').collect();
        let last = parts.pop().unwrap_or("");
        for p in parts {
            let entry = node
                .entry(p.to_owned())
                .or_insert_with(|| Tree::Node(BTreeMap::new()));
            match entry {
                Tree::Node(m) => node = m,
                Tree::Leaf(old) => {
                    return Err(FuncError::new(format!(
                        "explode: not a map: {}: {} already has value {}",
                        gostr::go_quote(&key),
                        gostr::go_quote(p),
                        gostr::go_quote(&old.to_string())
                    )))
                }
            }
        }
        if !last.is_empty() {
            node.insert(last.to_owned(), Tree::Leaf(value));
        }
    }
    fn to_value(m: BTreeMap<String, Tree>) -> Value {
        let entries = m
            .into_iter()
            .map(|(k, t)| match t {
                Tree::Leaf(v) => (k, v),
                Tree::Node(n) => (k, to_value(n)),
            })
            .collect();
        go_map(MapKind::Interface, entries)
    }
    Ok(to_value(root))
}

/// Registers the grouping helpers.
pub(crate) fn register(funcs: &mut FuncMap) {
    funcs.insert("byTag", Arity::exact(1), |_, a| by_tag(arg_value(a, 0)?));
    funcs.insert("byKey", Arity::exact(1), |_, a| by_key(arg_value(a, 0)?));
    funcs.insert("explode", Arity::exact(1), |_, a| explode(arg_value(a, 0)?));
    funcs.insert("byMeta", Arity::exact(2), |_, a| {
        by_meta(crate::func::arg_str(a, 0)?, arg_value(a, 1)?)
    });
    funcs.insert("byPort", Arity::exact(1), |_, a| by_port(arg_value(a, 0)?));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use discovery_core::{RenderData, Renderer, ServiceInstance, Snapshot};

    use crate::consul_template::ConsulTemplate;
    use crate::{Dialect, Template, TemplateOptions};

    type Inst<'a> = (&'a str, u16, &'a [(&'a str, &'a str)]);

    /// Renders `src` over service `web` with instances `(id, port, meta)`.
    fn render_web(src: &str, instances: &[Inst<'_>]) -> Result<String, String> {
        let mut snap = Snapshot::default();
        for (id, port, meta) in instances {
            let mut i = ServiceInstance::new(
                "web".parse().unwrap(),
                id.parse().unwrap(),
                "10.0.0.1",
                Some(*port),
            );
            for (k, v) in *meta {
                i = i.with_meta(*k, *v);
            }
            snap.instances.insert(i.id.clone(), i);
        }
        let mut data = RenderData::default();
        data.services.insert("web".parse().unwrap(), Arc::new(snap));
        let t = Template::parse(src, TemplateOptions::new(Dialect::ConsulTemplate))
            .map_err(|e| e.to_string())?;
        ConsulTemplate::new(t)
            .render(&data)
            .map(|r| r.output)
            .map_err(|e| e.to_string())
    }

    /// The services of upstream's `Test_byMeta` (template/funcs_test.go).
    const SVCS: &[Inst<'static>] = &[
        (
            "svcA",
            8080,
            &[
                ("version", "v2"),
                ("version_num", "2"),
                ("bad_version_num", "1zz"),
                ("env", "dev"),
            ],
        ),
        (
            "svcB",
            8080,
            &[
                ("version", "v11"),
                ("version_num", "11"),
                ("bad_version_num", "1zz"),
                ("env", "prod"),
            ],
        ),
        (
            "svcC",
            9090,
            &[
                ("version", "v11"),
                ("version_num", "11"),
                ("bad_version_num", "1zz"),
                ("env", "prod"),
            ],
        ),
    ];

    const GROUPS: &str =
        "{{ range $k, $v := . }}{{ $k }}=[{{ range $v }}{{ .ID }} {{ end }}] {{ end }}";

    #[test]
    fn by_meta_groups_like_upstream() {
        let by = |meta: &str| {
            render_web(
                &format!(r#"{{{{ with service "web" | byMeta "{meta}" }}}}{GROUPS}{{{{ end }}}}"#),
                SVCS,
            )
        };
        // Test_byMeta: "version string", "version number", "multiple meta".
        assert_eq!(by("version").unwrap(), "v11=[svcB svcC ] v2=[svcA ] ");
        assert_eq!(
            by("version_num|int").unwrap(),
            "00002=[svcA ] 00011=[svcB svcC ] "
        );
        assert_eq!(
            by("env,version_num|int,version").unwrap(),
            "dev_00002_v2=[svcA ] prod_00011_v11=[svcB svcC ] "
        );
        // "bad version number" fails, with Go's wrapped strconv error.
        let err = by("bad_version_num|int").unwrap_err();
        assert!(
            err.contains(
                r#"cannot parse 1zz as number : strconv.Atoi: parsing "1zz": invalid syntax"#
            ),
            "{err}"
        );
        // A missing key: `_no_KEY_` (normalized), or 0 for `|int`.
        assert_eq!(by("a.b").unwrap(), "_no_a_b_=[svcA svcB svcC ] ");
        assert_eq!(by("nope|int").unwrap(), "00000=[svcA svcB svcC ] ");
    }

    #[test]
    fn by_port_groups_by_int_port() {
        // Test_byPort "HealthService" (template/funcs_test.go), plus Go's numeric key order.
        let out = render_web(
            &format!(r#"{{{{ with service "web" | byPort }}}}{GROUPS}|{{{{ range index . 8080 }}}}{{{{ .ID }}}}{{{{ end }}}}{{{{ end }}}}"#),
            &[("svcA", 8080, &[]), ("svcB", 8080, &[]), ("svcC", 9090, &[]), ("svcD", 443, &[])],
        )
        .unwrap();
        assert_eq!(out, "443=[svcD ] 8080=[svcA svcB ] 9090=[svcC ] |svcAsvcB");
        // Test_byPort "unsupported type".
        let err = render_web("{{ services | byPort }}", &[]).unwrap_err();
        assert!(
            err.contains("byPort: wrong argument type []*dependency.CatalogSnippet"),
            "{err}"
        );
        let err = render_web(r#"{{ split "," "a" | byMeta "x" }}"#, &[]).unwrap_err();
        assert!(
            err.contains("expected []*dependency.HealthService; got []string"),
            "{err}"
        );
    }
}
