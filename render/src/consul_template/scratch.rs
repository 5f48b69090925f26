//! consul-template's `scratch`: per-render key/value scratch space with Go methods
//! `Key Get Set SetX MapSet MapSetX MapValues`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::Value;

use crate::func::{arg_str, arg_value, FuncError};
use crate::value::{as_go_map, go_list, go_map, FormatVerb, GoObject, ListKind, MapKind};

/// The scratch space of one render.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    values: Mutex<BTreeMap<String, Value>>,
}

/// The `*template.Scratch` handle templates call methods on.
#[derive(Debug)]
pub(crate) struct ScratchHandle(pub(crate) Arc<Scratch>);

impl Scratch {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Value>) -> R) -> R {
        let mut g = self.values.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    fn map_set(&self, args: &[Value], overwrite: bool) -> Result<Value, FuncError> {
        let (k, mk, v) = (
            arg_str(args, 0)?,
            arg_str(args, 1)?,
            arg_value(args, 2)?.clone(),
        );
        self.with(|m| {
            let mut entries = match m.get(k) {
                None => BTreeMap::new(),
                Some(existing) => match as_go_map(existing) {
                    Some(map) => map.entries.clone(),
                    None => {
                        return Err(FuncError::new(format!(
                            "scratch.map: {} is not a map",
                            crate::gostr::go_quote(k)
                        )))
                    }
                },
            };
            if overwrite || !entries.contains_key(mk) {
                entries.insert(mk.to_owned(), v);
            }
            m.insert(k.to_owned(), go_map(MapKind::Interface, entries));
            Ok(Value::from(""))
        })
    }
}

impl GoObject for ScratchHandle {
    fn type_name(&self) -> &str {
        "*template.Scratch"
    }

    fn field(&self, _: &str) -> Option<Value> {
        None
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        let s = &self.0;
        let arity = |n: usize| {
            if args.len() != n {
                Err(FuncError::new(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                )))
            } else {
                Ok(())
            }
        };
        let r = match name {
            "Key" => arity(1).and_then(|_| {
                let k = arg_str(args, 0)?;
                Ok(Value::from(s.with(|m| m.contains_key(k))))
            }),
            "Get" => arity(1).and_then(|_| {
                let k = arg_str(args, 0)?;
                Ok(s.with(|m| m.get(k).cloned()).unwrap_or(Value::from(())))
            }),
            "Set" | "SetX" => arity(2).and_then(|_| {
                let (k, v) = (arg_str(args, 0)?, arg_value(args, 1)?.clone());
                s.with(|m| {
                    if name == "Set" || !m.contains_key(k) {
                        m.insert(k.to_owned(), v);
                    }
                });
                Ok(Value::from(""))
            }),
            "MapSet" => arity(3).and_then(|_| s.map_set(args, true)),
            "MapSetX" => arity(3).and_then(|_| s.map_set(args, false)),
            "MapValues" => arity(1).and_then(|_| {
                let k = arg_str(args, 0)?;
                let values = s.with(|m| m.get(k).cloned());
                match values {
                    None => Ok(go_list(ListKind::Interface, Vec::new())),
                    Some(v) => match as_go_map(&v) {
                        Some(map) => Ok(go_list(
                            ListKind::Interface,
                            map.entries.values().cloned().collect(),
                        )),
                        None => Err(FuncError::new(format!(
                            "scratch.map: {} is not a map",
                            crate::gostr::go_quote(k)
                        ))),
                    },
                }
            }),
            _ => return None,
        };
        Some(r)
    }

    fn format(&self, _verb: FormatVerb) -> String {
        "&{}".to_owned()
    }
}
