//! Go's `time.ParseInLocation` for the layouts `format_layout` writes: the same chunks, read
//! back, with Go's error texts (`parsing time "V" as "L": cannot parse "R" as "C"`).

use chrono::{DateTime, FixedOffset, Local, NaiveDate, TimeZone};

use super::{frac_chunk, zone_chunk, DAYS, MONTHS};

/// The layout chunks that read a value (longest first where they share a prefix).
const CHUNKS: [&str; 23] = [
    "January", "Jan", "Monday", "Mon", "MST", "2006", "002", "__2", "_2", "01", "02", "03", "04",
    "05", "06", "15", "1", "2", "3", "4", "5", "PM", "pm",
];

/// The next chunk of `layout`: its length and text; zone and fraction chunks whole.
fn chunk_at(layout: &str) -> Option<(usize, &str)> {
    if let Some((n, ..)) = zone_chunk(layout) {
        return Some((n, &layout[..n]));
    }
    if let Some((n, ..)) = frac_chunk(layout) {
        return Some((n, &layout[..n]));
    }
    if layout.starts_with("_2006") {
        return None;
    }
    CHUNKS
        .iter()
        .find(|c| layout.starts_with(*c))
        .map(|c| (c.len(), *c))
}

/// Up to `max` leading digits (exactly `max` when `fixed`).
fn digits(v: &str, min: usize, max: usize) -> Option<(i64, usize)> {
    let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((v[..n].parse().ok()?, n))
}

/// A name from `names` (or its 3-letter form), case-insensitively, as its index.
fn lookup(v: &str, names: &[&str], short: bool) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(i, n)| {
        let n = if short { &n[..3] } else { n };
        let head = v.get(..n.len())?;
        head.eq_ignore_ascii_case(n).then_some((i, n.len()))
    })
}

#[derive(Default)]
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: i64,
    pm: Option<bool>,
    offset: Option<i32>,
}

/// Reads a zone offset chunk `c` (`Z07:00`, `-0700`, ...) from `v`.
fn offset(c: &str, v: &str) -> Option<(i32, usize)> {
    if c.starts_with('Z') && v.starts_with('Z') {
        return Some((0, 1));
    }
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &c[1..];
    let mut at = 1;
    let mut part = |colon: bool| -> Option<i32> {
        if colon {
            (v.as_bytes().get(at) == Some(&b':')).then_some(())?;
            at += 1;
        }
        let (n, len) = digits(&v[at..], 2, 2)?;
        at += len;
        i32::try_from(n).ok()
    };
    let colon = body.contains(':');
    let h = part(false)?;
    let m = if body.len() > 2 { part(colon)? } else { 0 };
    let s = if body.len() > 5 { part(colon)? } else { 0 };
    Some((sign * (h * 3600 + m * 60 + s), at))
}

/// Reads a fractional second (`.123`, up to 9 digits) from `v`: nanoseconds and length.
fn fraction(v: &str, exact: Option<usize>) -> Option<(i64, usize)> {
    let b = v.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || exact.is_some_and(|e| e != n) {
        return None;
    }
    let mut frac = v[1..1 + n].to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    Some((frac.parse().ok()?, 1 + n))
}

/// Reads one chunk's value into `f`; the bytes consumed, `None` when it does not match.
/// `frac_next`: the layout has a fraction chunk next, so the seconds leave theirs to it.
fn read(c: &str, v: &str, f: &mut Fields, frac_next: bool) -> Option<usize> {
    let num = |min, max| digits(v, min, max);
    Some(match c {
        "2006" => {
            let (n, l) = num(4, 4)?;
            f.year = n;
            l
        }
        "06" => {
            let (n, l) = num(2, 2)?;
            f.year = if n >= 69 { 1900 + n } else { 2000 + n };
            l
        }
        "January" | "Jan" => {
            let (i, l) = lookup(v, &MONTHS, c == "Jan")?;
            f.month = i as i64 + 1;
            l
        }
        "Monday" | "Mon" => lookup(v, &DAYS, c == "Mon")?.1,
        "01" | "1" => {
            let (n, l) = num(if c == "01" { 2 } else { 1 }, 2)?;
            f.month = n;
            l
        }
        "02" | "2" | "_2" => {
            let skip = usize::from(c == "_2" && v.starts_with(' '));
            let (n, l) = digits(&v[skip..], if c == "02" { 2 } else { 1 }, 2)?;
            f.day = n;
            l + skip
        }
        "002" | "__2" => {
            let skip = v.len() - v.trim_start_matches(' ').len();
            let (n, l) = digits(&v[skip..], if c == "002" { 3 } else { 1 }, 3)?;
            f.yday = n;
            l + skip
        }
        "15" | "03" | "3" => {
            let (n, l) = num(if c == "03" { 2 } else { 1 }, 2)?;
            f.hour = n;
            l
        }
        "04" | "4" | "05" | "5" => {
            let (n, l) = num(if c.len() == 2 { 2 } else { 1 }, 2)?;
            if c.ends_with('4') {
                f.min = n;
                l
            } else {
                f.sec = n;
                // Go reads a fraction after the seconds even when the layout has none.
                match fraction(&v[l..], None) {
                    Some((ns, fl)) if !frac_next => {
                        f.nanos = ns;
                        l + fl
                    }
                    _ => l,
                }
            }
        }
        "PM" | "pm" => {
            let head = v.get(..2)?;
            f.pm = Some(match head {
                "PM" | "pm" => true,
                "AM" | "am" => false,
                _ => return None,
            });
            2
        }
        "MST" => {
            if v.starts_with("UTC") {
                f.offset.get_or_insert(0);
                3
            } else {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                (n >= 3).then_some(n)?
            }
        }
        _ if c.starts_with(['.', ',']) => {
            let exact = c.as_bytes()[1] == b'0';
            let (ns, l) = fraction(v, exact.then_some(c.len() - 1))?;
            f.nanos = ns;
            l
        }
        _ => {
            let (off, l) = offset(c, v)?;
            f.offset = Some(off);
            l
        }
    })
}

/// Go's `time.ParseInLocation(layout, value, time.Local)`.
/// Also tells whether the offset came from the value.
pub(super) fn parse_in_local(
    layout: &str,
    value: &str,
) -> Result<(DateTime<FixedOffset>, bool), String> {
    let quote = crate::gostr::go_quote;
    let cannot = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(value),
            quote(layout),
            quote(rest),
            quote(elem)
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", quote(value));
    let mut f = Fields {
        year: 0,
        month: -1,
        day: -1,
        yday: -1,
        ..Fields::default()
    };
    let (mut l, mut v) = (layout, value);
    while !l.is_empty() {
        // The literal text up to the next chunk must match as is.
        let lit = (0..=l.len())
            .filter(|&i| l.is_char_boundary(i))
            .find(|&i| i == l.len() || chunk_at(&l[i..]).is_some())
            .unwrap_or(l.len());
        let (prefix, rest) = l.split_at(lit);
        if !v.starts_with(prefix) {
            return Err(cannot(v, prefix));
        }
        v = &v[prefix.len()..];
        l = rest;
        let Some((n, c)) = chunk_at(l) else {
            continue;
        };
        let frac_next = frac_chunk(&l[n..]).is_some();
        let used = read(c, v, &mut f, frac_next).ok_or_else(|| cannot(v, c))?;
        v = &v[used..];
        l = &l[n..];
    }
    if !v.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            quote(value),
            quote(v)
        ));
    }
    if let Some(pm) = f.pm {
        if f.hour > 12 {
            return Err(range("hour"));
        }
        if pm && f.hour < 12 {
            f.hour += 12;
        } else if !pm && f.hour == 12 {
            f.hour = 0;
        }
    }
    if f.hour > 23 {
        return Err(range("hour"));
    }
    if f.min > 59 {
        return Err(range("minute"));
    }
    if f.sec > 59 {
        return Err(range("second"));
    }
    let year = i32::try_from(f.year).map_err(|_| range("year"))?;
    let date = if f.yday >= 0 && f.month < 0 {
        NaiveDate::from_yo_opt(year, u32::try_from(f.yday).unwrap_or(0))
            .ok_or_else(|| range("day-of-year"))?
    } else {
        let month = if f.month < 0 { 1 } else { f.month };
        if !(1..=12).contains(&month) {
            return Err(range("month"));
        }
        let day = if f.day < 0 { 1 } else { f.day };
        NaiveDate::from_ymd_opt(year, month as u32, day as u32).ok_or_else(|| range("day"))?
    };
    let naive = date
        .and_hms_nano_opt(f.hour as u32, f.min as u32, f.sec as u32, f.nanos as u32)
        .ok_or_else(|| range("hour"))?;
    let t = match f.offset {
        Some(off) => FixedOffset::east_opt(off)
            .and_then(|z| z.from_local_datetime(&naive).single())
            .ok_or_else(|| range("zone offset")),
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.fixed_offset())
            .ok_or_else(|| range("local time")),
    }?;
    Ok((t, f.offset.is_some()))
}
