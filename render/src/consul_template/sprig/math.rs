//! Sprig's `numeric.go` and the arithmetic of `functions.go`: `add add1 sub mul div mod max
//! biggest min maxf minf floor ceil round int int64 float64 atoi seq until untilStep toDecimal`
//! the decimal `addf add1f subf mulf divf`, and `randInt`. Integer results are Go `int64` (printed as ints);
//! arguments go through spf13/cast, so a non-number counts as 0.

use minijinja::Value;

use super::conv::{parse_int_base, strval, to_float64, to_int64};
use super::reg;
use crate::func::{arg_int, arg_str, arg_value, Arity, FuncError, FuncMap, FuncResult};
use crate::value::{go_list, ListKind};

fn zero_div() -> FuncError {
    FuncError::new("runtime error: integer divide by zero")
}

/// Sprig's `untilStep`: `start` towards `stop` (exclusive) by `step`; empty when the step
/// points away from `stop` or is 0.
fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut i = start;
        while i > stop {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut i = start;
    while i < stop {
        v.push(i);
        i += step;
    }
    v
}

fn int_list(v: Vec<i64>) -> Value {
    go_list(ListKind::Int, v.into_iter().map(Value::from).collect())
}

/// Sprig's `seq`: 1 to N, START to END, or START STEP END, space-separated (bash's `seq`).
fn seq(p: &[i64]) -> String {
    let nums = match *p {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            until_step(1, end + inc, inc)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(start, end + step, step)
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if step > 0 {
                    return String::new();
                }
            }
            until_step(start, end + inc, step)
        }
        _ => return String::new(),
    };
    nums.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sprig's `round x places [roundOn]`: half (or `roundOn`) and above rounds away from floor.
fn round(val: f64, places: f64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let frac = digit - digit.trunc();
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

/// A shopspring `decimal.NewFromFloat`: the shortest decimal that round-trips, as
/// mantissa × 10^exp.
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e')?;
    let e: i32 = e.parse().ok()?;
    let (neg, m) = m.strip_prefix('-').map_or((false, m), |r| (true, r));
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    Some((if neg { -digits } else { digits }, e - frac.len() as i32))
}

fn align(a: (i128, i32), b: (i128, i32)) -> Option<(i128, i128, i32)> {
    let e = a.1.min(b.1);
    let scale = |x: (i128, i32)| -> Option<i128> {
        10i128
            .checked_pow(u32::try_from(x.1 - e).ok()?)?
            .checked_mul(x.0)
    };
    Some((scale(a)?, scale(b)?, e))
}

/// shopspring's `Div`: the quotient rounded half away from zero to 16 decimal places;
/// `None` when the exact form would overflow.
fn decimal_div(a: (i128, i32), b: (i128, i32)) -> Option<(i128, i32)> {
    const PLACES: i32 = 16;
    // a / b * 10^PLACES = a.0 / b.0 * 10^(a.1 - b.1 + PLACES)
    let k = a.1 - b.1 + PLACES;
    let pow = |n: i32| 10i128.checked_pow(u32::try_from(n).ok()?);
    let (num, den) = if k >= 0 {
        (a.0.checked_mul(pow(k)?)?, b.0)
    } else {
        (a.0, b.0.checked_mul(pow(-k)?)?)
    };
    let (q, r) = (num / den, num % den);
    let round = if r.unsigned_abs() * 2 >= den.unsigned_abs() {
        if (num < 0) != (den < 0) {
            -1
        } else {
            1
        }
    } else {
        0
    };
    Some((q + round, -PLACES))
}

/// Exact decimal `+ - * /` of two floats, back to the nearest float (shopspring's `Float64`);
/// plain float arithmetic when the exact form would overflow. Dividing by zero is shopspring's
/// panic.
fn decimal_op(op: char, x: f64, y: f64) -> Result<f64, FuncError> {
    if op == '/' && y == 0.0 {
        return Err(FuncError::new("decimal division by 0"));
    }
    let exact = || -> Option<f64> {
        let (a, b) = (decimal(x)?, decimal(y)?);
        let (m, e) = match op {
            '*' => (a.0.checked_mul(b.0)?, a.1 + b.1),
            '/' => decimal_div(a, b)?,
            _ => {
                let (p, q, e) = align(a, b)?;
                (
                    if op == '+' {
                        p.checked_add(q)?
                    } else {
                        p.checked_sub(q)?
                    },
                    e,
                )
            }
        };
        format!("{m}e{e}").parse().ok()
    };
    Ok(exact().unwrap_or(match op {
        '+' => x + y,
        '-' => x - y,
        '/' => x / y,
        _ => x * y,
    }))
}

fn fold_decimal(op: char, first: f64, rest: &[Value]) -> FuncResult {
    let r = rest
        .iter()
        .try_fold(first, |acc, v| decimal_op(op, acc, to_float64(v)))?;
    Ok(Value::from(r))
}

/// Registers the math functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "add", Arity::at_least(0), |_, a| {
        Ok(Value::from(
            a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))),
        ))
    });
    reg(f, "add1", Arity::exact(1), |_, a| {
        Ok(Value::from(to_int64(arg_value(a, 0)?).wrapping_add(1)))
    });
    reg(f, "sub", Arity::exact(2), |_, a| {
        Ok(Value::from(
            to_int64(arg_value(a, 0)?).wrapping_sub(to_int64(arg_value(a, 1)?)),
        ))
    });
    reg(f, "mul", Arity::at_least(1), |_, a| {
        Ok(Value::from(
            a[1..].iter().fold(to_int64(arg_value(a, 0)?), |acc, v| {
                acc.wrapping_mul(to_int64(v))
            }),
        ))
    });
    reg(f, "div", Arity::exact(2), |_, a| {
        let (x, y) = (to_int64(arg_value(a, 0)?), to_int64(arg_value(a, 1)?));
        if y == 0 {
            return Err(zero_div());
        }
        Ok(Value::from(x.wrapping_div(y)))
    });
    reg(f, "mod", Arity::exact(2), |_, a| {
        let (x, y) = (to_int64(arg_value(a, 0)?), to_int64(arg_value(a, 1)?));
        if y == 0 {
            return Err(zero_div());
        }
        Ok(Value::from(x.wrapping_rem(y)))
    });
    for name in ["max", "biggest"] {
        reg(f, name, Arity::at_least(1), |_, a| {
            Ok(Value::from(a.iter().map(to_int64).max().unwrap_or(0)))
        });
    }
    reg(f, "min", Arity::at_least(1), |_, a| {
        Ok(Value::from(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    reg(f, "maxf", Arity::at_least(1), |_, a| {
        let first = to_float64(&a[0]);
        Ok(Value::from(
            a[1..].iter().map(to_float64).fold(first, f64::max),
        ))
    });
    reg(f, "minf", Arity::at_least(1), |_, a| {
        let first = to_float64(&a[0]);
        Ok(Value::from(
            a[1..].iter().map(to_float64).fold(first, f64::min),
        ))
    });
    reg(f, "floor", Arity::exact(1), |_, a| {
        Ok(Value::from(to_float64(arg_value(a, 0)?).floor()))
    });
    reg(f, "ceil", Arity::exact(1), |_, a| {
        Ok(Value::from(to_float64(arg_value(a, 0)?).ceil()))
    });
    reg(f, "round", Arity::range(2, 3), |_, a| {
        let on = match a.get(2) {
            Some(v) => crate::func::arg_f64(std::slice::from_ref(v), 0)?,
            None => 0.5,
        };
        let places = arg_int(a, 1)? as f64;
        Ok(Value::from(round(to_float64(arg_value(a, 0)?), places, on)))
    });
    for name in ["int", "int64"] {
        reg(f, name, Arity::exact(1), |_, a| {
            Ok(Value::from(to_int64(arg_value(a, 0)?)))
        });
    }
    reg(f, "float64", Arity::exact(1), |_, a| {
        Ok(Value::from(to_float64(arg_value(a, 0)?)))
    });
    reg(f, "atoi", Arity::exact(1), |_, a| {
        Ok(Value::from(
            crate::gostr::parse_int(arg_str(a, 0)?, "Atoi").unwrap_or(0),
        ))
    });
    reg(f, "toDecimal", Arity::exact(1), |_, a| {
        Ok(Value::from(
            parse_int_base(&strval(arg_value(a, 0)?), 8).unwrap_or(0),
        ))
    });
    reg(f, "seq", Arity::at_least(0), |_, a| {
        let p = (0..a.len())
            .map(|i| arg_int(a, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::from(seq(&p)))
    });
    reg(f, "until", Arity::exact(1), |_, a| {
        let n = arg_int(a, 0)?;
        Ok(int_list(until_step(0, n, if n < 0 { -1 } else { 1 })))
    });
    reg(f, "untilStep", Arity::exact(3), |_, a| {
        Ok(int_list(until_step(
            arg_int(a, 0)?,
            arg_int(a, 1)?,
            arg_int(a, 2)?,
        )))
    });
    reg(f, "addf", Arity::at_least(0), |_, a| {
        fold_decimal('+', 0.0, a)
    });
    reg(f, "add1f", Arity::exact(1), |_, a| {
        fold_decimal('+', to_float64(arg_value(a, 0)?), &[Value::from(1)])
    });
    reg(f, "subf", Arity::at_least(1), |_, a| {
        fold_decimal('-', to_float64(&a[0]), &a[1..])
    });
    reg(f, "mulf", Arity::at_least(1), |_, a| {
        fold_decimal('*', to_float64(&a[0]), &a[1..])
    });
    reg(f, "divf", Arity::at_least(1), |_, a| {
        fold_decimal('/', to_float64(&a[0]), &a[1..])
    });
    reg(f, "randInt", Arity::exact(2), |_, a| {
        let (min, max) = (arg_int(a, 0)?, arg_int(a, 1)?);
        let span = max.wrapping_sub(min);
        if span <= 0 {
            return Err(FuncError::new("invalid argument to Intn"));
        }
        Ok(Value::from(
            min + rand::Rng::gen_range(&mut rand::thread_rng(), 0..span),
        ))
    });
}
