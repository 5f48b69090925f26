//! Sprig's `map[string]interface {}`: a Go map is a reference, so `set`, `unset` and `merge`
//! change it in place and every variable holding it sees the change.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};

use crate::func::{wrong_type, FuncError};
use crate::value::{as_go_map, as_go_object, format_value, map_entries, MapKind};

/// A mutable `map[string]interface {}` (keys kept sorted, as Go prints and ranges them).
#[derive(Debug, Default)]
pub(super) struct Dict {
    entries: RwLock<BTreeMap<String, Value>>,
}

impl Dict {
    /// A copy of the entries.
    pub(super) fn snapshot(&self) -> BTreeMap<String, Value> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` with mutable access to the entries.
    pub(super) fn with_mut<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Value>) -> R) -> R {
        f(&mut self.entries.write().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_str()?)
            .cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect();
        Enumerator::Values(keys)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.read().unwrap_or_else(|e| e.into_inner()).len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_value(&Value::from_dyn_object(self.clone())))
    }
}

/// A new Sprig map value.
pub(super) fn new_dict(entries: BTreeMap<String, Value>) -> Value {
    Value::from_object(Dict {
        entries: RwLock::new(entries),
    })
}

/// A `map[string]interface {}` parameter: the shared [`Dict`] when it is one (so changes reach
/// the caller), else a fresh copy of any other interface map. Nil is an empty map.
pub(super) fn arg_dict(v: &Value) -> Result<Arc<Dict>, FuncError> {
    if let Some(d) = v.downcast_object::<Dict>() {
        return Ok(d);
    }
    if v.is_undefined() || v.is_none() {
        return Ok(Arc::new(Dict::default()));
    }
    let ok = match as_go_map(v) {
        Some(m) => m.kind == MapKind::Interface,
        None => v.kind() == ValueKind::Map && as_go_object(v).is_none(),
    };
    if !ok {
        return Err(wrong_type("map[string]interface {}", v));
    }
    Ok(Arc::new(Dict {
        entries: RwLock::new(map_entries(v).unwrap_or_default().into_iter().collect()),
    }))
}

/// The value of a shared [`Dict`].
pub(super) fn dict_value(d: Arc<Dict>) -> Value {
    Value::from_dyn_object(d)
}
