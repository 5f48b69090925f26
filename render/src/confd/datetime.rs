//! confd's `datetime` (a Go `time.Time` with its methods) and Go's layout-based time formatting,
//! shared with consul-template's `timestamp`.

use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Datelike, FixedOffset, Local, TimeZone, Timelike, Utc};
use minijinja::Value;

use crate::func::{arg_str, FuncError};
use crate::value::{go_object, FormatVerb, GoObject};

mod parse;

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A Go `time.Time`: an instant with a fixed offset and Go's zone abbreviation.
#[derive(Debug, Clone)]
pub(crate) struct GoTime {
    t: DateTime<FixedOffset>,
    /// Seconds since process start (Go's monotonic reading), when the value came from `time.Now`.
    mono: Option<f64>,
    /// A zone without a name (Go's `FixedZone("", off)` from parsing an offset): printed `+0200`.
    unnamed_zone: bool,
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl GoTime {
    /// `time.Now()` in the local zone.
    pub(crate) fn now_local() -> Self {
        let start = process_start();
        let t = Local::now().fixed_offset();
        GoTime {
            t,
            mono: Some(start.elapsed().as_secs_f64()),
            unnamed_zone: false,
        }
    }

    /// `time.Now().UTC()`.
    pub(crate) fn now_utc() -> Self {
        GoTime {
            t: Utc::now().fixed_offset(),
            mono: None,
            unnamed_zone: false,
        }
    }

    fn zone_name(&self) -> String {
        let off = self.t.offset().local_minus_utc();
        if off == 0 && !self.unnamed_zone {
            return "UTC".into();
        }
        // Go prints a numeric zone when it has no abbreviation.
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.abs();
        if off % 3600 == 0 && !self.unnamed_zone {
            format!("{sign}{:02}", off / 3600)
        } else {
            format!("{sign}{:02}{:02}", off / 3600, off % 3600 / 60)
        }
    }

    /// A time without a monotonic reading, in a zone named as the local one would be.
    pub(crate) fn from_datetime(t: DateTime<FixedOffset>) -> Self {
        GoTime {
            t,
            mono: None,
            unnamed_zone: false,
        }
    }

    /// A time at a parsed offset: Go names its zone only when it is UTC or the local offset.
    fn at_parsed_offset(t: DateTime<FixedOffset>, parsed: bool) -> Self {
        let off = t.offset().local_minus_utc();
        let local = Local
            .from_utc_datetime(&t.naive_utc())
            .offset()
            .local_minus_utc();
        GoTime {
            t,
            mono: None,
            unnamed_zone: parsed && off != 0 && off != local,
        }
    }

    /// Go's zero `time.Time` (January 1, year 1, 00:00:00 UTC).
    pub(crate) fn zero() -> Self {
        let t = chrono::NaiveDate::from_ymd_opt(1, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| n.and_utc().fixed_offset())
            .unwrap_or_default();
        GoTime::from_datetime(t)
    }

    /// The instant with its offset.
    pub(crate) fn datetime(&self) -> DateTime<FixedOffset> {
        self.t
    }

    /// Go's `time.ParseInLocation(layout, value, time.Local)`, with Go's error text.
    pub(crate) fn parse_local(layout: &str, value: &str) -> Result<Self, String> {
        parse::parse_in_local(layout, value).map(|(t, parsed)| GoTime::at_parsed_offset(t, parsed))
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn unix(&self) -> i64 {
        self.t.timestamp()
    }

    /// Go's `Time.Format(layout)`.
    pub(crate) fn format(&self, layout: &str) -> String {
        format_layout(self, layout)
    }

    fn string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            s.push_str(&format!(" m=+{m:.9}"));
        }
        s
    }
}

fn push_num(out: &mut String, n: i64, width: usize, pad: char) {
    let digits = n.unsigned_abs().to_string();
    if n < 0 {
        out.push('-');
    }
    for _ in digits.len()..width {
        out.push(pad);
    }
    out.push_str(&digits);
}

fn push_offset(out: &mut String, off: i32, colon: bool, seconds: bool, hours_only: bool, z: bool) {
    if z && off == 0 {
        out.push('Z');
        return;
    }
    out.push(if off < 0 { '-' } else { '+' });
    let a = off.abs();
    push_num(out, i64::from(a / 3600), 2, '0');
    if hours_only {
        return;
    }
    if colon {
        out.push(':');
    }
    push_num(out, i64::from(a % 3600 / 60), 2, '0');
    if seconds {
        if colon {
            out.push(':');
        }
        push_num(out, i64::from(a % 60), 2, '0');
    }
}

fn format_layout(gt: &GoTime, layout: &str) -> String {
    let t = &gt.t;
    let b = layout.as_bytes();
    let mut out = String::with_capacity(layout.len() + 10);
    let mut i = 0;
    let hour12 = |h: u32| if h % 12 == 0 { 12 } else { h % 12 };
    let rest = |i: usize| &layout[i..];
    while i < b.len() {
        let r = rest(i);
        let off = t.offset().local_minus_utc();
        let (adv, done) = if r.starts_with("January") {
            out.push_str(MONTHS[t.month0() as usize]);
            (7, true)
        } else if r.starts_with("Jan") {
            out.push_str(&MONTHS[t.month0() as usize][..3]);
            (3, true)
        } else if r.starts_with("Monday") {
            out.push_str(DAYS[t.weekday().num_days_from_sunday() as usize]);
            (6, true)
        } else if r.starts_with("Mon") {
            out.push_str(&DAYS[t.weekday().num_days_from_sunday() as usize][..3]);
            (3, true)
        } else if r.starts_with("MST") {
            out.push_str(&gt.zone_name());
            (3, true)
        } else if r.starts_with("2006") {
            push_num(&mut out, i64::from(t.year()), 4, '0');
            (4, true)
        } else if r.starts_with("002") {
            push_num(&mut out, i64::from(t.ordinal()), 3, '0');
            (3, true)
        } else if r.starts_with("01") {
            push_num(&mut out, i64::from(t.month()), 2, '0');
            (2, true)
        } else if r.starts_with("02") {
            push_num(&mut out, i64::from(t.day()), 2, '0');
            (2, true)
        } else if r.starts_with("03") {
            push_num(&mut out, i64::from(hour12(t.hour())), 2, '0');
            (2, true)
        } else if r.starts_with("04") {
            push_num(&mut out, i64::from(t.minute()), 2, '0');
            (2, true)
        } else if r.starts_with("05") {
            push_num(&mut out, i64::from(t.second()), 2, '0');
            (2, true)
        } else if r.starts_with("06") {
            push_num(&mut out, i64::from(t.year().rem_euclid(100)), 2, '0');
            (2, true)
        } else if r.starts_with("15") {
            push_num(&mut out, i64::from(t.hour()), 2, '0');
            (2, true)
        } else if r.starts_with("__2") {
            push_num(&mut out, i64::from(t.ordinal()), 3, ' ');
            (3, true)
        } else if r.starts_with("_2") && !r.starts_with("_2006") {
            push_num(&mut out, i64::from(t.day()), 2, ' ');
            (2, true)
        } else if r.starts_with('1') {
            push_num(&mut out, i64::from(t.month()), 1, '0');
            (1, true)
        } else if r.starts_with('2') {
            push_num(&mut out, i64::from(t.day()), 1, '0');
            (1, true)
        } else if r.starts_with('3') {
            push_num(&mut out, i64::from(hour12(t.hour())), 1, '0');
            (1, true)
        } else if r.starts_with('4') {
            push_num(&mut out, i64::from(t.minute()), 1, '0');
            (1, true)
        } else if r.starts_with('5') {
            push_num(&mut out, i64::from(t.second()), 1, '0');
            (1, true)
        } else if r.starts_with("PM") {
            out.push_str(if t.hour() >= 12 { "PM" } else { "AM" });
            (2, true)
        } else if r.starts_with("pm") {
            out.push_str(if t.hour() >= 12 { "pm" } else { "am" });
            (2, true)
        } else if let Some((n, colon, secs, hours, z)) = zone_chunk(r) {
            push_offset(&mut out, off, colon, secs, hours, z);
            (n, true)
        } else if let Some((n, digits, trim)) = frac_chunk(r) {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut frac = nanos[..digits.min(9)].to_owned();
            if trim {
                frac = frac.trim_end_matches('0').to_owned();
            }
            if !frac.is_empty() || !trim {
                out.push(r.as_bytes()[0] as char);
                out.push_str(&frac);
            }
            (n, true)
        } else {
            (0, false)
        };
        if done {
            i += adv;
        } else {
            let c = r.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Zone chunks: (length, colon, seconds, hours only, Z form).
pub(super) fn zone_chunk(r: &str) -> Option<(usize, bool, bool, bool, bool)> {
    const FORMS: [(&str, bool, bool, bool); 5] = [
        ("070000", false, true, false),
        ("07:00:00", true, true, false),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, false, true),
    ];
    let (z, body) = match r.as_bytes().first() {
        Some(b'Z') => (true, &r[1..]),
        Some(b'-') => (false, &r[1..]),
        _ => return None,
    };
    FORMS
        .iter()
        .find(|(f, ..)| body.starts_with(f))
        .map(|(f, c, s, h)| (f.len() + 1, *c, *s, *h, z))
}

/// Fractional-second chunks `.000`/`.999` (or with `,`): (length, digits, trim zeros).
pub(super) fn frac_chunk(r: &str) -> Option<(usize, usize, bool)> {
    let b = r.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let d = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == d {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    Some((j, j - 1, d == b'9'))
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, FuncError> {
    crate::func::arg_int(args, i)
}

impl GoObject for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        let t = &self.t;
        let v = match name {
            "Format" => return Some(arg_str(args, 0).map(|l| Value::from(self.format(l)))),
            "String" => Value::from(self.string()),
            "Unix" => Value::from(t.timestamp()),
            "UnixMilli" => Value::from(t.timestamp_millis()),
            "UnixNano" => Value::from(t.timestamp_nanos_opt().unwrap_or(0)),
            "Year" => Value::from(t.year()),
            "Month" => Value::from(MONTHS[t.month0() as usize]),
            "Day" => Value::from(t.day()),
            "Hour" => Value::from(t.hour()),
            "Minute" => Value::from(t.minute()),
            "Second" => Value::from(t.second()),
            "Nanosecond" => Value::from(t.nanosecond() % 1_000_000_000),
            "YearDay" => Value::from(t.ordinal()),
            "Weekday" => Value::from(DAYS[t.weekday().num_days_from_sunday() as usize]),
            "IsZero" => Value::from(false),
            "UTC" => go_object(GoTime {
                t: t.with_timezone(&Utc).fixed_offset(),
                mono: self.mono,
                unnamed_zone: false,
            }),
            "Local" => go_object(GoTime {
                t: t.with_timezone(&Local).fixed_offset(),
                mono: self.mono,
                unnamed_zone: false,
            }),
            "AddDate" => {
                let r = (|| -> Result<Value, FuncError> {
                    let (y, m, d) = (int_arg(args, 0)?, int_arg(args, 1)?, int_arg(args, 2)?);
                    let months = chrono::Months::new((y * 12 + m).unsigned_abs() as u32);
                    let shifted = if y * 12 + m >= 0 {
                        t.checked_add_months(months)
                    } else {
                        t.checked_sub_months(months)
                    };
                    let shifted = shifted
                        .and_then(|s| s.checked_add_signed(chrono::TimeDelta::days(d)))
                        .ok_or_else(|| FuncError::new("time out of range"))?;
                    Ok(go_object(GoTime {
                        t: shifted,
                        mono: None,
                        unnamed_zone: self.unnamed_zone,
                    }))
                })();
                return Some(r);
            }
            _ => return None,
        };
        Some(Ok(v))
    }

    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::Q => crate::gostr::go_quote(&self.string()),
            _ => self.string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_layouts() {
        let t = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2009, 11, 10, 23, 4, 5)
            .unwrap();
        let gt = GoTime::from_datetime(t);
        let early = GoTime::from_datetime(t - chrono::TimeDelta::hours(20));
        assert_eq!(early.format("15:04"), "03:04");
        assert_eq!(
            gt.format("2006-01-02T15:04:05Z07:00"),
            "2009-11-10T23:04:05Z"
        );
        assert_eq!(gt.format("Mon Jan _2 3:04PM MST"), "Tue Nov 10 11:04PM UTC");
        assert_eq!(gt.format("January 2, 06 .000"), "November 10, 09 .000");
        assert_eq!(gt.format("literal"), "literal");
        assert_eq!(gt.string(), "2009-11-10 23:04:05 +0000 UTC");
    }
}
