//! confd- and consul-template-compatible template rendering, from a data snapshot, with no
//! daemon.
//!
//! Existing confd and consul-template templates (Go `text/template` syntax with each tool's
//! functions) render byte for byte as the Go tools render them; native Jinja templates
//! (`.j2`/`.jinja`) get the same functions. Rendering reads only a
//! [`discovery_core::RenderData`] snapshot, so an application can embed it.
//!
//! # A confd template
//!
//! A confd template resource has a `prefix` and `keys`; the template sees the fetched keys
//! relative to the prefix. [`ConfdTemplate`] implements [`discovery_core::Renderer`]:
//!
//! ```
//! use discovery_core::{Key, KvPair, KvSnapshot, RenderData, Renderer, Revision};
//! use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
//!
//! let mut kv = KvSnapshot::default();
//! for (k, v) in [("/prod/app/upstream/a", "10.0.0.1:80"), ("/prod/app/upstream/b", "10.0.0.2:80")] {
//!     let key = Key::new(k)?;
//!     kv.pairs.insert(key.clone(), KvPair { key, value: v.into(), mod_revision: Revision(1) });
//! }
//! let source = "upstream app {\n{{- range getvs \"/app/upstream/*\"}}\n  server {{.}};\n{{- end}}\n}\n";
//! let template = Template::parse(source, TemplateOptions::new(Dialect::Confd).name("nginx.tmpl"))?;
//! let resource = ConfdTemplate::new(template, "/prod", vec!["/app".into()]);
//! let rendered = resource.render(&RenderData::from_kv(kv))?;
//! assert_eq!(rendered.output, "upstream app {\n  server 10.0.0.1:80;\n  server 10.0.0.2:80;\n}\n");
//! # Ok::<(), discovery_core::Error>(())
//! ```
//!
//! # Errors name the file, line, column and key
//!
//! ```
//! use discovery_core::{Error, RenderData, Renderer};
//! use discovery_render::{ConfdTemplate, Dialect, Template, TemplateOptions};
//!
//! // An unknown function fails when the template is parsed, not when it renders.
//! let err = Template::parse("{{nosuch 1}}", TemplateOptions::new(Dialect::Confd).name("t.tmpl"))
//!     .unwrap_err();
//! assert!(err.to_string().contains(r#"function "nosuch" not defined"#));
//!
//! let t = Template::parse("ok\n{{getv \"/nope\"}}", TemplateOptions::new(Dialect::Confd).name("t.tmpl"))?;
//! let err = ConfdTemplate::new(t, "/", vec!["/".into()]).render(&RenderData::default()).unwrap_err();
//! match err {
//!     Error::Template { file, line, key, message, .. } => {
//!         assert_eq!((file.as_str(), line, key.as_deref()), ("t.tmpl", 2, Some("/nope")));
//!         assert!(message.contains("key does not exist: /nope"));
//!     }
//!     other => panic!("unexpected error {other}"),
//! }
//! # Ok::<(), discovery_core::Error>(())
//! ```
//!
//! # A consul-template template
//!
//! [`ConsulTemplate`] reads services, the catalog and Consul KV (key `a/b` is `/a/b` in
//! [`discovery_core::KvSnapshot`]). What the template needed but the data lacked is reported in
//! `missing`; such an output must not be written (consul-template would keep waiting).
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use discovery_core::{Dependency, Key, RenderData, Renderer, ServiceInstance, Snapshot};
//! use discovery_render::{ConsulTemplate, Dialect, Template, TemplateOptions};
//!
//! let web = |id: &str, addr: &str| -> discovery_core::Result<ServiceInstance> {
//!     Ok(ServiceInstance::new("web".parse()?, id.parse()?, addr, Some(8080)).with_node("node1", "10.1.0.1"))
//! };
//! let mut snapshot = Snapshot::default();
//! for i in [web("web-2", "10.0.0.2")?, web("web-1", "10.0.0.1")?] {
//!     snapshot.instances.insert(i.id.clone(), i);
//! }
//! let mut data = RenderData::default();
//! data.services.insert("web".parse()?, Arc::new(snapshot));
//!
//! let source = "{{range service \"web\"}}server {{.Address}}:{{.Port}};\n{{end}}{{key \"app/mode\"}}";
//! let t = ConsulTemplate::new(Template::parse(source, TemplateOptions::new(Dialect::ConsulTemplate))?);
//! let rendered = t.render(&data)?;
//! assert_eq!(rendered.output, "server 10.0.0.1:8080;\nserver 10.0.0.2:8080;\n");
//! // `app/mode` is not in the data: the render is incomplete.
//! assert!(rendered.missing.contains(&Dependency::Key(Key::new("/app/mode")?)));
//! # Ok::<(), discovery_core::Error>(())
//! ```
//!
//! # Native Jinja
//!
//! The same functions, in Jinja syntax ([`Syntax::from_path`] picks it for `.j2`/`.jinja`):
//!
//! ```
//! use discovery_core::{RenderData, Renderer};
//! use discovery_render::{ConfdTemplate, Dialect, Syntax, Template, TemplateOptions};
//!
//! let opts = TemplateOptions::new(Dialect::Confd).syntax(Syntax::Jinja);
//! let t = Template::parse("{% for v in split(\"a,b\", \",\") %}[{{ v | upper }}]{% endfor %}\n", opts)?;
//! let out = ConfdTemplate::new(t, "/", vec![]).render(&RenderData::default())?.output;
//! assert_eq!(out, "[A][B]\n");
//! # Ok::<(), discovery_core::Error>(())
//! ```
//!
//! # Modules
//!
//! The Go engine ([`gotmpl`]), the shared function registry ([`func`]) and value model
//! ([`value`]) are public for applications that register their own functions. [`confd`] holds
//! the confd engine, to keep files in sync with a backend in-process
//! ([`confd::runner::ConfdRunner`]); [`sync`] writes, checks and reloads one file.

mod builtins;
pub mod func;
pub mod gofmt;
pub mod gotmpl;
pub mod quiesce;
mod report;
pub mod sync;
pub mod value;

pub mod confd;
pub mod consul_template;
mod gojson;
mod gostr;
mod jinja;
mod template;

pub use confd::{ConfdStore, ConfdTemplate};
pub use consul_template::{ConsulTemplate, RenderAttempt};
pub use template::{Dialect, Syntax, Template, TemplateOptions};
