//! Sprig's hermetic `date.go` functions: `toDate mustToDate unixEpoch mustDateModify
//! must_date_modify duration durationRound ago`, over confd's Go `time.Time`
//! ([`GoTime`]), with Go's `time.ParseDuration` and `Duration.String`.
//!
//! Sprig takes `int64` seconds (`duration`) or nanoseconds (`durationRound`) and ignores a Go
//! `int`; this engine has one integer type, so any integer counts as the `int64`.

use minijinja::Value;

use super::reg;
use crate::confd::GoTime;
use crate::func::{arg_str, arg_value, Arity, FuncError, FuncMap};
use crate::value::{as_go_object, go_object};

const SECOND: i128 = 1_000_000_000;

/// Go's `time.ParseDuration`: signed nanoseconds, or Go's error text.
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", crate::gostr::go_quote(s));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let frac = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                rest = &r[n..];
                &r[..n]
            }
            None => "",
        };
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => 60 * SECOND,
            "h" => 3600 * SECOND,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::gostr::go_quote(s)
                ))
            }
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::gostr::go_quote(u),
                    crate::gostr::go_quote(s)
                ))
            }
        };
        let whole: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction scaled to the unit, truncated as Go does.
        let mut f_scale = scale;
        for d in frac.bytes() {
            f_scale /= 10;
            if f_scale == 0 {
                break;
            }
            part += i128::from(d - b'0') * f_scale;
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) + 1 {
            return Err(invalid());
        }
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `Duration.String()` (`1h2m3.5s`, `1.5ms`, `0s`).
pub(super) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let frac = |v: u64, digits: u32| -> String {
        let p = 10u64.pow(digits);
        let f = format!("{:0width$}", v % p, width = digits as usize);
        let f = f.trim_end_matches('0');
        if f.is_empty() {
            format!("{}", v / p)
        } else {
            format!("{}.{f}", v / p)
        }
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 6))
    } else {
        let secs = frac(u % 60_000_000_000, 9);
        let mins = u / 60_000_000_000;
        match (mins / 60, mins % 60) {
            (0, 0) => format!("{secs}s"),
            (0, m) => format!("{m}m{secs}s"),
            (h, m) => format!("{h}h{m}m{secs}s"),
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// The [`GoTime`] in `v`, if it is a `time.Time`.
fn as_time(v: &Value) -> Option<GoTime> {
    let o = as_go_object(v)?;
    if o.type_name() != "time.Time" {
        return None;
    }
    // Unix nanoseconds and the offset rebuild the value.
    let nanos = o.method("UnixNano", &[])?.ok()?.as_i64()?;
    let off = o.method("Format", &[Value::from("-07:00:00")])?.ok()?;
    let off = off.as_str()?;
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let secs: Vec<i32> = off[1..].split(':').filter_map(|p| p.parse().ok()).collect();
    let off = sign * (secs.first()? * 3600 + secs.get(1)? * 60 + secs.get(2)?);
    let tz = chrono::FixedOffset::east_opt(off)?;
    Some(GoTime::from_datetime(
        chrono::DateTime::from_timestamp_nanos(nanos).with_timezone(&tz),
    ))
}

fn need_time(v: &Value) -> Result<GoTime, FuncError> {
    as_time(v).ok_or_else(|| crate::func::wrong_type("time.Time", v))
}

/// Nanoseconds since `t`, as Go's `time.Since`.
fn since(t: &GoTime) -> i64 {
    let now = chrono::Utc::now();
    (now - t.datetime().with_timezone(&chrono::Utc))
        .num_nanoseconds()
        .unwrap_or(i64::MAX)
}

/// Sprig's `durationRound`: the largest whole unit (`y mo d h m s`) of a duration.
fn duration_round(d: i64) -> String {
    const UNITS: [(u64, &str); 6] = [
        (365 * 24 * 3600, "y"),
        (30 * 24 * 3600, "mo"),
        (24 * 3600, "d"),
        (3600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    let u = d.unsigned_abs();
    UNITS
        .iter()
        .map(|&(secs, name)| (secs * 1_000_000_000, name))
        .find(|&(unit, _)| u > unit)
        .map_or_else(|| "0s".into(), |(unit, name)| format!("{}{name}", u / unit))
}

/// Registers the date functions.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "toDate", Arity::exact(2), |_, a| {
        let t =
            GoTime::parse_local(arg_str(a, 0)?, arg_str(a, 1)?).unwrap_or_else(|_| GoTime::zero());
        Ok(go_object(t))
    });
    reg(f, "mustToDate", Arity::exact(2), |_, a| {
        let t = GoTime::parse_local(arg_str(a, 0)?, arg_str(a, 1)?).map_err(FuncError::new)?;
        Ok(go_object(t))
    });
    reg(f, "unixEpoch", Arity::exact(1), |_, a| {
        Ok(need_time(arg_value(a, 0)?)?.unix().to_string().into())
    });
    for name in ["mustDateModify", "must_date_modify"] {
        reg(f, name, Arity::exact(2), |_, a| {
            let d = parse_duration(arg_str(a, 0)?).map_err(FuncError::new)?;
            let t = need_time(arg_value(a, 1)?)?.datetime();
            let moved = t
                .checked_add_signed(chrono::TimeDelta::nanoseconds(d))
                .ok_or_else(|| FuncError::new("time out of range"))?;
            Ok(go_object(GoTime::from_datetime(moved)))
        });
    }
    reg(f, "duration", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        let secs = match v.as_str() {
            Some(s) => s.parse::<i64>().unwrap_or(0),
            None if v.is_integer() => v.as_i64().unwrap_or(0),
            None => 0,
        };
        Ok(duration_string(secs.wrapping_mul(1_000_000_000)).into())
    });
    reg(f, "durationRound", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        let d = if let Some(s) = v.as_str() {
            parse_duration(s).unwrap_or(0)
        } else if v.is_integer() {
            v.as_i64().unwrap_or(0)
        } else {
            as_time(v).map_or(0, |t| since(&t))
        };
        Ok(duration_round(d).into())
    });
    reg(f, "ago", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        let t = if let Some(t) = as_time(v) {
            Some(t)
        } else if v.is_integer() {
            v.as_i64()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map(|t| GoTime::from_datetime(t.fixed_offset()))
        } else {
            None
        };
        // Rounded to seconds, half away from zero (Go's `Duration.Round(time.Second)`).
        let d = t.map_or(0, |t| since(&t));
        let s = (i128::from(d) + if d < 0 { -SECOND / 2 } else { SECOND / 2 }) / SECOND;
        Ok(duration_string((s * SECOND) as i64).into())
    });
}
