//! Sprig's `reflect.go`: `typeOf typeIs typeIsLike kindOf kindIs`, and `deepEqual`
//! (`reflect.DeepEqual`), on the Go types this engine's values stand for.

use minijinja::Value;

use super::conv::{deep_equal, kind_name};
use super::reg;
use crate::func::{arg_str, arg_value, Arity, FuncMap};
use crate::value::go_type_name;

/// `reflect.ValueOf(v).Kind().String()`: nil is `invalid` here (no method call on a nil type).
fn kind_of(v: &Value) -> &'static str {
    kind_name(v).unwrap_or("invalid")
}

/// Registers the reflection functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "typeOf", Arity::exact(1), |_, a| {
        Ok(go_type_name(arg_value(a, 0)?).into())
    });
    reg(f, "typeIs", Arity::exact(2), |_, a| {
        Ok(Value::from(
            arg_str(a, 0)? == go_type_name(arg_value(a, 1)?),
        ))
    });
    reg(f, "typeIsLike", Arity::exact(2), |_, a| {
        let (target, t) = (arg_str(a, 0)?, go_type_name(arg_value(a, 1)?));
        Ok(Value::from(
            t == target || t.strip_prefix('*') == Some(target),
        ))
    });
    reg(f, "kindOf", Arity::exact(1), |_, a| {
        Ok(kind_of(arg_value(a, 0)?).into())
    });
    reg(f, "kindIs", Arity::exact(2), |_, a| {
        Ok(Value::from(arg_str(a, 0)? == kind_of(arg_value(a, 1)?)))
    });
    reg(f, "deepEqual", Arity::exact(2), |_, a| {
        Ok(Value::from(deep_equal(arg_value(a, 0)?, arg_value(a, 1)?)))
    });
}
