//! Go-typed values on top of [`minijinja::Value`].
//!
//! Plain minijinja values are Go's scalars (string, `int` = `i64`, `float64` = `f64`, bool, nil = `()`,
//! missing = [`Value::UNDEFINED`]). Go's typed containers and structs are minijinja objects:
//! [`GoList`] (a slice with an element type and interior mutability), [`GoMap`] (a map with sorted keys)
//! and any [`GoObject`] (a struct or value with fields and methods).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};

use crate::func::FuncError;

/// The element type of a Go slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// `[]interface {}`
    Interface,
    /// `[]string`
    String,
    /// `[]int`
    Int,
    /// `[]float64`
    Float,
    /// A slice of structs, e.g. `Struct("memkv.KVPair")` is `[]memkv.KVPair`.
    Struct(String),
    /// Any other element type, spelled as Go spells it (e.g. `*dependency.HealthService`).
    Other(String),
}

impl ListKind {
    /// Go's name of the slice type, e.g. `[]string`.
    pub fn go_type(&self) -> String {
        match self {
            ListKind::Interface => "[]interface {}".to_string(),
            ListKind::String => "[]string".to_string(),
            ListKind::Int => "[]int".to_string(),
            ListKind::Float => "[]float64".to_string(),
            ListKind::Struct(n) | ListKind::Other(n) => format!("[]{n}"),
        }
    }
}

/// A Go slice: element type plus items behind a lock, so functions can mutate it in place
/// (confd's `reverse`) and the caller's variable sees the change. The items are shared copy on
/// write: a `range` holds them without copying, and a mutation during it copies them first.
#[derive(Debug)]
pub struct GoList {
    /// The element type.
    pub kind: ListKind,
    /// The items.
    pub items: RwLock<Arc<Vec<Value>>>,
}

impl GoList {
    /// A copy of the items (values are reference counted).
    pub fn snapshot(&self) -> Vec<Value> {
        self.shared().as_ref().clone()
    }

    /// The items as they are now, without copying them.
    pub fn shared(&self) -> Arc<Vec<Value>> {
        self.items.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when the slice has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item at `i`, if any.
    pub fn get(&self, i: usize) -> Option<Value> {
        self.items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(i)
            .cloned()
    }

    /// Runs `f` with mutable access to the items.
    pub fn with_items_mut<R>(&self, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
        let mut g = self.items.write().unwrap_or_else(|e| e.into_inner());
        f(Arc::make_mut(&mut g))
    }
}

impl Object for GoList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_i64()?;
        let len = self.len() as i64;
        let i = if i < 0 { len + i } else { i };
        usize::try_from(i).ok().and_then(|i| self.get(i))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.snapshot())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_value(&Value::from_dyn_object(self.clone())))
    }
}

/// Builds a Go slice value.
pub fn go_list(kind: ListKind, items: Vec<Value>) -> Value {
    Value::from_object(GoList {
        kind,
        items: RwLock::new(Arc::new(items)),
    })
}

/// Builds a `[]string` value.
pub fn string_list(items: Vec<String>) -> Value {
    go_list(
        ListKind::String,
        items.into_iter().map(Value::from).collect(),
    )
}

/// The [`GoList`] inside `v`, if it is one (a plain minijinja sequence is not).
pub fn as_go_list(v: &Value) -> Option<Arc<GoList>> {
    v.downcast_object::<GoList>()
}

/// The value type of a Go map (keys are always strings here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapKind {
    /// `map[string]interface {}`: a missing key is always `<no value>`.
    Interface,
    /// `map[string]string`: a missing key is `""` under `missingkey=zero`.
    String,
}

impl MapKind {
    /// Go's name of the map type.
    pub fn go_type(&self) -> &'static str {
        match self {
            MapKind::Interface => "map[string]interface {}",
            MapKind::String => "map[string]string",
        }
    }
}

/// A Go map with string keys, kept in sorted key order (Go prints and ranges maps sorted).
#[derive(Debug)]
pub struct GoMap {
    /// The value type.
    pub kind: MapKind,
    /// The entries, sorted by key.
    pub entries: BTreeMap<String, Value>,
}

impl Object for GoMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries.get(key.as_str()?).cloned()
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.entries.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self
            .entries
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect();
        Enumerator::Values(keys)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_value(&Value::from_dyn_object(self.clone())))
    }
}

/// Builds a Go map value.
pub fn go_map(kind: MapKind, entries: BTreeMap<String, Value>) -> Value {
    Value::from_object(GoMap { kind, entries })
}

/// The [`GoMap`] inside `v`, if it is one.
pub fn as_go_map(v: &Value) -> Option<Arc<GoMap>> {
    v.downcast_object::<GoMap>()
}

/// How a struct is being formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVerb {
    /// `%v`: `{a b}`
    V,
    /// `%+v`: `{Key:a Value:b}`
    PlusV,
    /// `%s`
    S,
    /// `%q`
    Q,
}

/// A Go struct or other value with fields and methods (`memkv.KVPair`, `time.Time`, ...).
pub trait GoObject: fmt::Debug + Send + Sync + 'static {
    /// Go's type name, e.g. `memkv.KVPair`.
    fn type_name(&self) -> &str;
    /// A field; `None` makes the template fail with `can't evaluate field NAME in type TYPE`.
    fn field(&self, name: &str) -> Option<Value>;
    /// Calls a method; `None` when there is no such method.
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>>;
    /// Formats the value as Go's fmt would for `verb`.
    fn format(&self, verb: FormatVerb) -> String;
    /// Truthiness (Go structs are always true).
    fn is_true(&self) -> bool {
        true
    }
}

/// The minijinja object wrapping a [`GoObject`].
#[derive(Debug, Clone)]
pub struct GoStruct(pub Arc<dyn GoObject>);

impl Object for GoStruct {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.field(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.0.field(key)
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.0.is_true()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        match self.0.method(method, args) {
            None => Err(minijinja::Error::from(minijinja::ErrorKind::UnknownMethod)),
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                e.message,
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.format(FormatVerb::V))
    }
}

/// Wraps a [`GoObject`] into a value.
pub fn go_object(o: impl GoObject) -> Value {
    Value::from_object(GoStruct(Arc::new(o)))
}

/// Wraps an already shared [`GoObject`] into a value.
pub fn go_object_arc(o: Arc<dyn GoObject>) -> Value {
    Value::from_object(GoStruct(o))
}

/// The [`GoObject`] inside `v`, if it is one.
pub fn as_go_object(v: &Value) -> Option<Arc<dyn GoObject>> {
    v.downcast_object_ref::<GoStruct>().map(|s| s.0.clone())
}

/// True for a Go float64 (a minijinja float).
pub fn is_float(v: &Value) -> bool {
    v.kind() == ValueKind::Number && !v.is_integer()
}

/// A Go string's bytes as a value: a string, or bytes when they are not valid UTF-8.
pub(crate) fn go_string(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::from(s),
        Err(e) => Value::from_bytes(e.into_bytes()),
    }
}

/// The bytes of a Go string value (a string, or bytes that are not UTF-8).
pub(crate) fn go_string_bytes(v: &Value) -> Option<&[u8]> {
    match v.as_str() {
        Some(s) => Some(s.as_bytes()),
        None if v.kind() == ValueKind::Bytes => v.as_bytes(),
        None => None,
    }
}

/// The float inside `v` (ints are converted).
pub fn as_f64(v: &Value) -> Option<f64> {
    if v.kind() != ValueKind::Number {
        return None;
    }
    f64::try_from(v.clone()).ok()
}

/// Go's name of the dynamic type of `v` (`string`, `int`, `float64`, `[]string`, `memkv.KVPair`, ...).
/// Nil and missing values are `<nil>`.
pub fn go_type_name(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "<nil>".to_string(),
        ValueKind::Bool => "bool".to_string(),
        ValueKind::String => "string".to_string(),
        ValueKind::Number => if v.is_integer() { "int" } else { "float64" }.to_string(),
        // bytes are a Go string that is not valid UTF-8
        ValueKind::Bytes => "string".to_string(),
        _ => {
            if let Some(l) = as_go_list(v) {
                l.kind.go_type()
            } else if let Some(m) = as_go_map(v) {
                m.kind.go_type().to_string()
            } else if let Some(o) = as_go_object(v) {
                o.type_name().to_string()
            } else if v.kind() == ValueKind::Map {
                "map[string]interface {}".to_string()
            } else if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
                "[]interface {}".to_string()
            } else {
                "func".to_string()
            }
        }
    }
}

/// True when Go would type the elements of `v` as `interface {}` (a `[]interface {}` or a
/// `map[string]interface {}`, including plain minijinja sequences and maps).
pub fn holds_interfaces(v: &Value) -> bool {
    if let Some(l) = as_go_list(v) {
        return l.kind == ListKind::Interface;
    }
    if let Some(m) = as_go_map(v) {
        return m.kind == MapKind::Interface;
    }
    as_go_object(v).is_none()
        && matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Map
        )
}

/// The items of any sequence-like value (a [`GoList`] snapshot or a plain minijinja sequence).
pub fn seq_items(v: &Value) -> Option<Vec<Value>> {
    if let Some(l) = as_go_list(v) {
        return Some(l.snapshot());
    }
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => v.try_iter().ok().map(|it| it.collect()),
        _ => None,
    }
}

/// The entries of any map-like value in Go's sorted key order (a [`GoMap`] or a plain minijinja map).
pub fn map_entries(v: &Value) -> Option<Vec<(String, Value)>> {
    if let Some(m) = as_go_map(v) {
        return Some(
            m.entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
    }
    let entries = map_entries_keyed(v)?;
    Some(
        entries
            .into_iter()
            .map(|(k, val)| {
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => format_value(&k),
                };
                (key, val)
            })
            .collect(),
    )
}

/// Like [`map_entries`], with the keys as values: a plain minijinja map may have integer keys
/// (Go's `map[int]...`, e.g. consul-template's `byPort`), which Go sorts numerically.
pub fn map_entries_keyed(v: &Value) -> Option<Vec<(Value, Value)>> {
    if let Some(m) = as_go_map(v) {
        return Some(
            m.entries
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
                .collect(),
        );
    }
    if v.kind() != ValueKind::Map || as_go_object(v).is_some() {
        return None;
    }
    let mut out: Vec<(Value, Value)> = v
        .try_iter()
        .ok()?
        .map(|k| {
            let val = v.get_item(&k).unwrap_or(Value::UNDEFINED);
            (k, val)
        })
        .collect();
    out.sort_by(|a, b| match (a.0.as_i64(), b.0.as_i64()) {
        (Some(x), Some(y)) if a.0.is_integer() && b.0.is_integer() => x.cmp(&y),
        _ => format_key(&a.0).cmp(&format_key(&b.0)),
    });
    Some(out)
}

fn format_key(k: &Value) -> String {
    match k.as_str() {
        Some(s) => s.to_string(),
        None => format_value(k),
    }
}

/// Go's `%v` of a value as printed by a template action: `<no value>` for nil/missing at top level.
pub fn format_value(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

/// Appends Go's `%v` of `v` as a template action prints it (`<no value>` for nil/missing).
pub fn write_value(out: &mut String, v: &Value) {
    if let Some(s) = v.as_str() {
        out.push_str(s);
        return;
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("<no value>"),
        _ => write_inner(out, v, FormatVerb::V),
    }
}

/// Appends Go's `%v` (or `%+v`) of `v` as fmt prints it (nil is `<nil>`).
pub fn write_inner(out: &mut String, v: &Value, verb: FormatVerb) {
    use std::fmt::Write;
    if let Some(s) = v.as_str() {
        out.push_str(s);
        return;
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("<nil>"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                let _ = write!(out, "{v}");
            } else if let Some(f) = as_f64(v) {
                out.push_str(&crate::gofmt::format_float(f, 'g', None, false));
            }
        }
        _ => {
            if let Some(o) = as_go_object(v) {
                out.push_str(&o.format(verb));
            } else if let Some(items) = seq_items(v) {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write_inner(out, it, verb);
                }
                out.push(']');
            } else if let Some(entries) = map_entries(v) {
                out.push_str("map[");
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_inner(out, val, verb);
                }
                out.push(']');
            } else if let Some(b) = v.as_bytes() {
                out.push_str(&String::from_utf8_lossy(b));
            } else {
                let _ = write!(out, "{v}");
            }
        }
    }
}
