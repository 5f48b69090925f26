//! Command lines in Go's `flag` syntax, which confd and consul-template use and which their users'
//! scripts contain: `-flag`, `--flag`, `-flag=value`, `-flag value`; boolean flags take a value
//! only as `-flag=false`; repeatable flags collect every occurrence; parsing stops at `--` or at
//! the first argument that is not a flag.

use std::collections::BTreeMap;
use std::fmt;

/// The kind of a flag.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `-name` or `-name=true|false`.
    Bool,
    /// `-name value` or `-name=value`; the last occurrence wins.
    Value,
    /// Like `Value`, but every occurrence is kept.
    Repeated,
}

/// One flag definition.
#[derive(Clone, Debug)]
pub struct Flag {
    /// Name without dashes.
    pub name: &'static str,
    /// Kind.
    pub kind: Kind,
    /// Help text.
    pub help: &'static str,
}

/// A flag set: definitions, then parsed values.
#[derive(Clone, Debug, Default)]
pub struct FlagSet {
    program: &'static str,
    flags: Vec<Flag>,
    values: BTreeMap<&'static str, Vec<String>>,
    /// Arguments after the flags.
    pub rest: Vec<String>,
}

/// A command-line error, printed with the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `-h` / `-help` was given.
    Help(String),
    /// A bad command line; the message reads as a sentence.
    Bad(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Help(u) => f.write_str(u),
            FlagError::Bad(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FlagError {}

impl FlagSet {
    /// An empty set for `program`.
    pub fn new(program: &'static str) -> Self {
        FlagSet {
            program,
            ..Default::default()
        }
    }

    /// Defines a flag.
    pub fn define(&mut self, name: &'static str, kind: Kind, help: &'static str) -> &mut Self {
        self.flags.push(Flag { name, kind, help });
        self
    }

    /// The kind of the flag `name`, if defined.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        self.flags.iter().find(|f| f.name == name).map(|f| f.kind)
    }

    /// The usage text.
    pub fn usage(&self) -> String {
        let mut s = format!("Usage of {}:\n", self.program);
        for f in &self.flags {
            let arg = match f.kind {
                Kind::Bool => "",
                _ => " value",
            };
            s.push_str(&format!("  -{}{}\n    \t{}\n", f.name, arg, f.help));
        }
        s
    }

    /// Parses `args` (without the program name).
    pub fn parse<I: IntoIterator<Item = String>>(&mut self, args: I) -> Result<(), FlagError> {
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                self.rest.extend(it);
                return Ok(());
            }
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                self.rest.push(arg);
                self.rest.extend(it);
                return Ok(());
            };
            if body.is_empty() {
                self.rest.push(arg);
                self.rest.extend(it);
                return Ok(());
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            if name == "h" || name == "help" {
                return Err(FlagError::Help(self.usage()));
            }
            let Some(flag) = self.flags.iter().find(|f| f.name == name).cloned() else {
                return Err(FlagError::Bad(format!(
                    "flag provided but not defined: -{name}\n{}",
                    self.usage()
                )));
            };
            let value = match (flag.kind, inline) {
                (Kind::Bool, None) => "true".to_owned(),
                (Kind::Bool, Some(v)) => match v.as_str() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".to_owned(),
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".to_owned(),
                    _ => {
                        return Err(FlagError::Bad(format!(
                            "invalid boolean value {v:?} for -{name}: parse error"
                        )))
                    }
                },
                (_, Some(v)) => v,
                (_, None) => it.next().ok_or_else(|| {
                    FlagError::Bad(format!("flag needs an argument: -{name}\n{}", self.usage()))
                })?,
            };
            let slot = self.values.entry(flag.name).or_default();
            if flag.kind != Kind::Repeated {
                slot.clear();
            }
            slot.push(value);
        }
        Ok(())
    }

    /// Fills every flag not given on the command line from the environment variable
    /// `PREFIX_NAME` (upper case, `-` as `_`: `-log-level` reads `CONFD_LOG_LEVEL`), read
    /// through `lookup`; a repeatable flag's variable is split on commas. Flags in `skip` are
    /// left alone. Call it after [`parse`](Self::parse): the command line wins. Returns the
    /// variables used.
    pub fn fill_from_env(
        &mut self,
        prefix: &str,
        skip: &[&str],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, FlagError> {
        let mut used = Vec::new();
        for flag in &self.flags {
            if skip.contains(&flag.name) || self.values.contains_key(flag.name) {
                continue;
            }
            let var = format!(
                "{prefix}_{}",
                flag.name.to_ascii_uppercase().replace('-', "_")
            );
            let Some(raw) = lookup(&var).filter(|v| !v.is_empty()) else {
                continue;
            };
            let values: Vec<String> = match flag.kind {
                Kind::Bool => vec![match raw.as_str() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".to_owned(),
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".to_owned(),
                    _ => {
                        return Err(FlagError::Bad(format!(
                            "invalid boolean value {raw:?} for ${var} (flag -{}): parse error",
                            flag.name
                        )))
                    }
                }],
                Kind::Value => vec![raw],
                Kind::Repeated => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            self.values.insert(flag.name, values);
            used.push(var);
        }
        Ok(used)
    }

    /// Whether the flag was given on the command line.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The last value of a flag, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeated flag.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A boolean flag's value, if given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.value(name).map(|v| v == "true")
    }

    /// A duration flag's value in Go's syntax (`5s`, `1m30s`; `0` alone needs no unit), if
    /// given; an error reads like Go's.
    pub fn duration(&self, name: &str) -> Result<Option<std::time::Duration>, FlagError> {
        self.value(name)
            .map(|s| {
                discovery_core::parse_go_duration(s).ok_or_else(|| {
                    FlagError::Bad(format!(
                        "invalid value {s:?} for flag -{name}: time: invalid duration {s:?}"
                    ))
                })
            })
            .transpose()
    }

    /// An integer flag's value (decimal, or `0x`/`0o`/`0b` prefixed as Go's `flag` takes it),
    /// if given; an error reads like Go's.
    pub fn int<T: TryFrom<i64>>(&self, name: &str) -> Result<Option<T>, FlagError> {
        self.value(name)
            .map(|s| {
                let (neg, digits) = match s.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, s.strip_prefix('+').unwrap_or(s)),
                };
                let lower = digits.to_ascii_lowercase();
                let parsed = if let Some(h) = lower.strip_prefix("0x") {
                    i64::from_str_radix(h, 16)
                } else if let Some(o) = lower.strip_prefix("0o") {
                    i64::from_str_radix(o, 8)
                } else if let Some(b) = lower.strip_prefix("0b") {
                    i64::from_str_radix(b, 2)
                } else if lower.len() > 1 && lower.starts_with('0') {
                    i64::from_str_radix(&lower[1..], 8)
                } else {
                    lower.parse::<i64>()
                };
                parsed
                    .ok()
                    .map(|n| if neg { -n } else { n })
                    .and_then(|n| T::try_from(n).ok())
                    .ok_or_else(|| {
                        FlagError::Bad(format!("invalid value {s:?} for flag -{name}: parse error"))
                    })
            })
            .transpose()
    }
}

/// Parses the process's arguments into `flags`; prints the usage and exits with status 0 on
/// `-h`, or the error and status 2 on a bad command line (as Go's `flag` package does).
pub fn parse_or_exit(flags: &mut FlagSet) {
    if let Err(e) = flags.parse(std::env::args().skip(1)) {
        let code = if matches!(e, FlagError::Help(_)) {
            0
        } else {
            2
        };
        eprintln!("{e}");
        std::process::exit(code);
    }
}

/// Parses a Go-style duration (`500ms`, `10s`, `1m30s`, `2h`) or a bare number of seconds (as
/// confd's `-interval` takes it).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    match s.trim().parse::<u64>() {
        Ok(secs) => Some(std::time::Duration::from_secs(secs)),
        Err(_) => discovery_core::parse_go_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_fills_what_the_command_line_leaves_out() {
        let mut f = set();
        f.parse(["-backend".to_owned(), "consul".to_owned()])
            .unwrap();
        let env = |v: &str| match v {
            "CONFD_BACKEND" => Some("etcdv3".to_owned()),
            "CONFD_NODE" => Some("a:1, b:2".to_owned()),
            "CONFD_ONETIME" => Some("true".to_owned()),
            _ => None,
        };
        let used = f.fill_from_env("CONFD", &[], env).unwrap();
        assert_eq!(used, ["CONFD_ONETIME", "CONFD_NODE"]);
        assert_eq!(f.value("backend"), Some("consul"), "the command line wins");
        assert_eq!(f.values("node"), ["a:1", "b:2"]);
        assert_eq!(f.bool("onetime"), Some(true));
        let mut f = set();
        f.parse(Vec::<String>::new()).unwrap();
        let bad = f
            .fill_from_env("CONFD", &["node"], |v| {
                (v == "CONFD_ONETIME").then(|| "yes".to_owned())
            })
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("$CONFD_ONETIME") && bad.contains("-onetime"),
            "{bad}"
        );
    }

    fn set() -> FlagSet {
        let mut f = FlagSet::new("confd");
        f.define("onetime", Kind::Bool, "run once")
            .define("node", Kind::Repeated, "backend node")
            .define("backend", Kind::Value, "backend");
        f
    }

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_syntax() {
        let mut f = set();
        f.parse(args(&[
            "-onetime",
            "--backend=etcdv3",
            "-node",
            "http://a:2379",
            "-node=b:2379",
            "x",
        ]))
        .unwrap();
        assert_eq!(f.bool("onetime"), Some(true));
        assert_eq!(f.value("backend"), Some("etcdv3"));
        assert_eq!(f.values("node"), ["http://a:2379", "b:2379"]);
        assert_eq!(f.rest, ["x"]);
    }

    #[test]
    fn errors_read_like_go() {
        let mut f = set();
        let e = f.parse(args(&["-nope"])).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("flag provided but not defined: -nope"));
        let mut f = set();
        assert!(f
            .parse(args(&["-backend"]))
            .unwrap_err()
            .to_string()
            .contains("needs an argument"));
        let mut f = set();
        assert!(f.parse(args(&["-onetime=maybe"])).is_err());
    }

    #[test]
    fn ints_and_durations_read_like_go() {
        let mut f = FlagSet::new("t");
        f.define("n", Kind::Value, "").define("d", Kind::Value, "");
        f.parse(args(&["-n=0x10", "-d", "1m30s"])).unwrap();
        assert_eq!(f.int::<u32>("n"), Ok(Some(16)));
        assert_eq!(
            f.duration("d"),
            Ok(Some(std::time::Duration::from_secs(90)))
        );
        let mut f = FlagSet::new("t");
        f.define("n", Kind::Value, "").define("d", Kind::Value, "");
        f.parse(args(&["-n=-1", "-d", "5"])).unwrap();
        assert_eq!(
            f.int::<u32>("n").unwrap_err().to_string(),
            "invalid value \"-1\" for flag -n: parse error"
        );
        assert!(f.duration("d").unwrap_err().to_string().contains("-d"));
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("600"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("50ms"), Some(Duration::from_millis(50)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("x"), None);
    }
}
