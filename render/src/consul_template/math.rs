//! consul-template's math (`add subtract multiply divide modulo minimum maximum`): arguments
//! `(b, a)` so a pipe reads naturally (`10 | subtract 3` is 7); ints stay ints, mixing in a
//! float gives float64, except in `minimum`/`maximum`, which return the winner with its own type.

use minijinja::Value;

use crate::func::{Arity, FuncError, FuncMap};
use crate::value::{as_f64, format_value, go_type_name, is_float};

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

fn num(op: &str, v: &Value) -> Result<Num, FuncError> {
    if v.is_integer() {
        if let Some(i) = v.as_i64() {
            return Ok(Num::I(i));
        }
    }
    if is_float(v) {
        if let Some(f) = as_f64(v) {
            return Ok(Num::F(f));
        }
    }
    let shown = match v.as_str() {
        Some(s) => crate::gostr::go_quote(s),
        None => format_value(v),
    };
    Err(FuncError::new(format!(
        "{op}: unknown type for {shown} ({})",
        go_type_name(v)
    )))
}

fn zero_div() -> FuncError {
    FuncError::new("runtime error: integer divide by zero")
}

fn apply(op: &str, a: Num, b: Num) -> Result<Value, FuncError> {
    use Num::{F, I};
    let float = |x: f64, y: f64| -> Result<Value, FuncError> {
        Ok(Value::from(match op {
            "add" => x + y,
            "subtract" => x - y,
            "multiply" => x * y,
            "divide" => x / y,
            _ => {
                return Err(FuncError::new(format!(
                    "{op}: unknown type for {y} (float64)"
                )))
            }
        }))
    };
    match (a, b) {
        (I(x), I(y)) => Ok(Value::from(match op {
            "add" => x.wrapping_add(y),
            "subtract" => x.wrapping_sub(y),
            "multiply" => x.wrapping_mul(y),
            "divide" if y == 0 => return Err(zero_div()),
            "divide" => x.wrapping_div(y),
            _ if y == 0 => return Err(zero_div()),
            _ => x.wrapping_rem(y),
        })),
        (I(x), F(y)) => float(x as f64, y),
        (F(x), I(y)) => float(x, y as f64),
        (F(x), F(y)) => float(x, y),
    }
}

/// Upstream's `minimum`/`maximum`: `a` when it is strictly smaller (larger) than `b`, else `b`,
/// each keeping its type (`3 | minimum 2.5` is the float 2.5, `3 | maximum 2.5` the int 3).
fn pick(op: &str, a: Num, b: Num) -> Value {
    use Num::{F, I};
    let (x, y) = match (a, b) {
        (I(x), I(y)) => {
            let a_wins = if op == "minimum" { x < y } else { x > y };
            return Value::from(if a_wins { x } else { y });
        }
        (I(x), F(y)) => (x as f64, y),
        (F(x), I(y)) => (x, y as f64),
        (F(x), F(y)) => (x, y),
    };
    let a_wins = if op == "minimum" { x < y } else { x > y };
    let winner = if a_wins { a } else { b };
    match winner {
        I(i) => Value::from(i),
        F(f) => Value::from(f),
    }
}

/// Registers the math functions.
pub(crate) fn register(funcs: &mut FuncMap) {
    for op in ["add", "subtract", "multiply", "divide", "modulo"] {
        funcs.insert(op, Arity::exact(2), move |_, args| {
            // Go checks `a` (the second argument) first.
            let a = num(op, &args[1])?;
            let b = num(op, &args[0])?;
            apply(op, a, b)
        });
    }
    for op in ["minimum", "maximum"] {
        funcs.insert(op, Arity::exact(2), move |_, args| {
            let a = num(op, &args[1])?;
            let b = num(op, &args[0])?;
            Ok(pick(op, a, b))
        });
    }
}
