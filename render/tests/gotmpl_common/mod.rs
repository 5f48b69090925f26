//! Helpers shared by the gotmpl tests: a tiny FuncMap and one-call render helpers.

#![allow(dead_code)]

use std::collections::BTreeMap;

use discovery_render::func::{arg_str, Arity, FuncError, FuncMap};
use discovery_render::gotmpl::{GoTemplate, MissingKey, ParseOptions, TemplateError};
use discovery_render::value::{go_list, go_map, string_list, ListKind, MapKind};
use minijinja::Value;

/// Per-render state of the test dialect: a key/value map.
pub struct Store(pub BTreeMap<String, String>);

/// A FuncMap with `getv` (reads the store; errors like confd), `split`, `strmap` (a
/// `map[string]string`), `imap` (a `map[string]interface {}` with a nil, a list and a map),
/// `ilist` (a `[]interface {}`) and `incr`.
pub fn test_funcs() -> FuncMap {
    let mut f = FuncMap::new();
    f.insert("getv", Arity::range(1, 2), |ctx, args| {
        let key = arg_str(args, 0)?;
        let store = ctx
            .state::<Store>()
            .ok_or_else(|| FuncError::new("no store"))?;
        match store.0.get(key) {
            Some(v) => Ok(Value::from(v.as_str())),
            None if args.len() == 2 => Ok(args[1].clone()),
            None => Err(FuncError::with_key(
                format!("key does not exist: {key}"),
                key,
            )),
        }
    });
    f.insert("split", Arity::exact(2), |_, args| {
        let s = arg_str(args, 0)?;
        let sep = arg_str(args, 1)?;
        // Go's strings.Split: an empty separator splits into characters
        let parts: Vec<String> = if sep.is_empty() {
            s.chars().map(String::from).collect()
        } else {
            s.split(sep).map(str::to_string).collect()
        };
        Ok(string_list(parts))
    });
    f.insert("strmap", Arity::at_least(0), |_, args| {
        let mut m = BTreeMap::new();
        for pair in args.chunks(2) {
            let k = arg_str(pair, 0)?.to_string();
            m.insert(k, pair.get(1).cloned().unwrap_or_default());
        }
        Ok(go_map(MapKind::String, m))
    });
    f.insert("imap", Arity::exact(0), |_, _| {
        let l = go_list(
            ListKind::Interface,
            vec![
                Value::from(1.0),
                Value::from("x"),
                Value::from(()),
                Value::from(true),
            ],
        );
        let m = go_map(
            MapKind::Interface,
            BTreeMap::from([("k".to_string(), Value::from("v"))]),
        );
        Ok(go_map(
            MapKind::Interface,
            BTreeMap::from([
                ("a".to_string(), Value::from(1.5)),
                ("n".to_string(), Value::from(())),
                ("s".to_string(), Value::from("str")),
                ("l".to_string(), l),
                ("m".to_string(), m),
            ]),
        ))
    });
    f.insert("ilist", Arity::exact(0), |_, _| {
        Ok(go_list(
            ListKind::Interface,
            vec![
                Value::from(1.0),
                Value::from("x"),
                Value::from(()),
                Value::from(true),
                Value::from(1e6),
                Value::from(0.00001),
            ],
        ))
    });
    f.insert("incr", Arity::exact(1), |_, args| {
        Ok(Value::from(discovery_render::func::arg_int(args, 0)? + 1))
    });
    f
}

/// Parses and executes `src` with the test FuncMap and a store built from `kv`.
pub fn render_with(
    src: &str,
    dot: &Value,
    kv: &[(&str, &str)],
    missing: MissingKey,
) -> Result<String, TemplateError> {
    let funcs = test_funcs();
    let t = GoTemplate::parse("t.tmpl", src, &funcs, &ParseOptions::default())?;
    let store = Store(
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    t.execute(dot, &funcs, &store, missing)
}

/// Renders with a nil dot and an empty store.
pub fn render(src: &str) -> Result<String, TemplateError> {
    render_with(src, &Value::UNDEFINED, &[], MissingKey::Default)
}

/// Renders and unwraps.
pub fn ok(src: &str) -> String {
    match render(src) {
        Ok(s) => s,
        Err(e) => panic!("render of {src:?} failed: {e}"),
    }
}

/// Renders, expects an error and returns its full text.
pub fn fail(src: &str) -> String {
    match render(src) {
        Ok(s) => panic!("render of {src:?} should fail, got {s:?}"),
        Err(e) => e.to_string(),
    }
}
