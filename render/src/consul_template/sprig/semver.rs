//! Sprig's `semver` and `semverCompare` over Masterminds/semver v3.3.0's rules: its lenient
//! version syntax (`v` prefix, missing minor/patch), its constraint syntax (`^ ~ ~> = != > < >=
//! <= =< =>`, `x`/`X`/`*` wildcards, `A - B` ranges, `,` or space for AND, `||` for OR) and its
//! prerelease rule (a prerelease version only satisfies a constraint that has a prerelease).

use std::cmp::Ordering;
use std::sync::OnceLock;

use ::regex::Regex;
use minijinja::Value;

use super::reg;
use crate::func::{arg_str, Arity, FuncError, FuncMap};
use crate::value::{as_go_object, go_object, FormatVerb, GoObject};

const INVALID: &str = "Invalid Semantic Version";
const VERSION: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

/// The regexes of the version and constraint grammars.
struct Grammar {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn grammar() -> &'static Grammar {
    static G: OnceLock<Grammar> = OnceLock::new();
    G.get_or_init(|| {
        let re = |s: String| Regex::new(&s).expect("static semver regex");
        let (cv, ops) = (CONSTRAINT_VERSION, OPS);
        Grammar {
            version: re(format!("^{VERSION}$")),
            constraint: re(format!(r"^\s*({ops})\s*({cv})\s*$")),
            range: re(format!(r"\s*({cv})\s+-\s+({cv})\s*")),
            find: re(format!(r"({ops})\s*({cv})")),
            valid: re(format!(
                r"^(\s*({ops})\s*({cv})\s*)((?:\s+|,\s*)({ops})\s*({cv})\s*)*$"
            )),
        }
    })
}

/// A Masterminds `*semver.Version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
    /// A `semver.Version` value (what `IncPatch` and friends return), not a pointer: it has
    /// no pointer-receiver methods (`Original`, `Compare`, `LessThan`, ...).
    by_value: bool,
}

fn only(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(allowed)
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The prerelease's error, if any: numeric parts may not start with 0.
fn check_prerelease(p: &str) -> Result<(), FuncError> {
    for part in p.split('.') {
        if only(part, |b| b.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(FuncError::new("Version segment starts with 0"));
            }
        } else if !only(part, ident_byte) {
            return Err(FuncError::new("Invalid Prerelease string"));
        }
    }
    Ok(())
}

impl Version {
    /// Masterminds' `NewVersion`.
    pub(super) fn parse(s: &str) -> Result<Self, FuncError> {
        let m = grammar()
            .version
            .captures(s)
            .ok_or_else(|| FuncError::new(INVALID))?;
        let seg = |i: usize| -> Result<u64, FuncError> {
            match m.get(i) {
                None => Ok(0),
                Some(g) => {
                    let digits = g.as_str().trim_start_matches('.');
                    digits.parse().map_err(|_| {
                        FuncError::new(format!(
                            "Error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
                            crate::gostr::go_quote(digits)
                        ))
                    })
                }
            }
        };
        let text = |i: usize| m.get(i).map_or("", |g| g.as_str()).to_string();
        let v = Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre: text(5),
            metadata: text(8),
            original: s.to_string(),
            by_value: false,
        };
        if !v.pre.is_empty() {
            check_prerelease(&v.pre)?;
        }
        Ok(v)
    }

    fn string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s = format!("{s}-{}", self.pre);
        }
        if !self.metadata.is_empty() {
            s = format!("{s}+{}", self.metadata);
        }
        s
    }

    /// A derived version whose `Original` is its string, keeping a leading `v`.
    fn derived(mut self, from: &Version) -> Self {
        let v = if from.original.starts_with('v') {
            "v"
        } else {
            ""
        };
        self.original = format!("{v}{}", self.string());
        self.by_value = true;
        self
    }

    fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (x, y): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    (0..x.len().max(y.len()))
        .map(|i| {
            compare_part(
                x.get(i).copied().unwrap_or(""),
                y.get(i).copied().unwrap_or(""),
            )
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// One dot-separated prerelease part: numbers below words, numbers numerically, words bytewise;
/// a missing part sorts first.
fn compare_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => s.cmp(o),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// The version inside a template value (a `*semver.Version` or its string).
fn version_arg(args: &[Value], i: usize) -> Result<Version, FuncError> {
    let v = crate::func::arg_value(args, i)?;
    let o = as_go_object(v)
        .filter(|o| o.type_name() == "*semver.Version")
        .ok_or_else(|| crate::func::wrong_type("*semver.Version", v))?;
    let orig = o.method("Original", &[]).and_then(Result::ok);
    Version::parse(orig.as_ref().and_then(Value::as_str).unwrap_or(""))
}

impl GoObject for Version {
    fn type_name(&self) -> &str {
        if self.by_value {
            "semver.Version"
        } else {
            "*semver.Version"
        }
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, FuncError>> {
        let cmp = |f: fn(Ordering) -> bool| {
            Some(version_arg(args, 0).map(|o| f(self.compare(&o)).into()))
        };
        let next = |v: Version| Some(Ok(go_object(v.derived(self))));
        let bare = Version {
            pre: String::new(),
            metadata: String::new(),
            ..self.clone()
        };
        let pointer_only = matches!(
            name,
            "Original"
                | "Compare"
                | "LessThan"
                | "LessThanEqual"
                | "GreaterThan"
                | "GreaterThanEqual"
                | "Equal"
        );
        if self.by_value && pointer_only {
            return None;
        }
        Some(Ok(match name {
            "String" => self.string().into(),
            "Original" => self.original.clone().into(),
            "Major" => self.major.into(),
            "Minor" => self.minor.into(),
            "Patch" => self.patch.into(),
            "Prerelease" => self.pre.clone().into(),
            "Metadata" => self.metadata.clone().into(),
            "Compare" => {
                return Some(version_arg(args, 0).map(|o| (self.compare(&o) as i8).into()))
            }
            "LessThan" => return cmp(Ordering::is_lt),
            "LessThanEqual" => return cmp(Ordering::is_le),
            "GreaterThan" => return cmp(Ordering::is_gt),
            "GreaterThanEqual" => return cmp(Ordering::is_ge),
            "Equal" => return cmp(Ordering::is_eq),
            "IncPatch" if self.pre.is_empty() => {
                return next(Version {
                    patch: self.patch + 1,
                    ..bare
                })
            }
            "IncPatch" => return next(bare),
            "IncMinor" => {
                return next(Version {
                    minor: self.minor + 1,
                    patch: 0,
                    ..bare
                })
            }
            "IncMajor" => {
                return next(Version {
                    major: self.major + 1,
                    minor: 0,
                    patch: 0,
                    ..bare
                })
            }
            _ => return None,
        }))
    }

    fn format(&self, verb: FormatVerb) -> String {
        match verb {
            FormatVerb::Q => crate::gostr::go_quote(&self.string()),
            _ => self.string(),
        }
    }
}

/// One parsed constraint: operator, version, and which parts were wildcards or missing.
#[derive(Debug)]
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(c: &str) -> Result<Self, FuncError> {
        if c.is_empty() {
            return Ok(Constraint {
                op: String::new(),
                con: Version::parse("0.0.0")?,
                dirty: true,
                minor_dirty: false,
                patch_dirty: false,
            });
        }
        let m = grammar()
            .constraint
            .captures(c)
            .ok_or_else(|| FuncError::new(format!("improper constraint: {c}")))?;
        let g = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let ver = if is_x(major) || major.is_empty() {
            dirty = true;
            format!("0.0.0{pre}")
        } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
            (dirty, minor_dirty) = (true, true);
            format!("{major}.0.0{pre}")
        } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
            (dirty, patch_dirty) = (true, true);
            format!("{major}{minor}.0{pre}")
        } else {
            g(2).to_string()
        };
        let con = Version::parse(&ver).map_err(|_| FuncError::new("constraint Parser Error"))?;
        Ok(Constraint {
            op: g(1).to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// Whether `v` satisfies this constraint.
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        // A prerelease only meets a constraint with one (`!=` checks this when dirty only).
        if !v.pre.is_empty() && c.pre.is_empty() && (self.op != "!=" || self.dirty) {
            return false;
        }
        let ord = v.compare(c);
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => ord.is_eq(),
            "!=" => self.not_equal(v),
            ">" if !self.dirty => ord.is_gt(),
            ">" => {
                v.major > c.major
                    || v.major == c.major
                        && !self.minor_dirty
                        && if self.patch_dirty {
                            v.minor > c.minor
                        } else {
                            ord.is_gt()
                        }
            }
            "<" => ord.is_lt(),
            ">=" | "=>" => ord.is_ge(),
            "<=" | "=<" if !self.dirty => ord.is_le(),
            "<=" | "=<" => {
                !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => self.tilde(v),
            _ => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c).is_lt() {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c).is_lt() {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty())
                    && compare_prerelease(&v.pre, &c.pre).is_ne();
            }
        }
        v.compare(c).is_ne()
    }
}

/// Masterminds' `NewConstraint`: OR groups of AND-ed constraints.
fn parse_constraints(s: &str) -> Result<Vec<Vec<Constraint>>, FuncError> {
    let g = grammar();
    // `A - B` becomes `>= A, <= B`, one occurrence at a time as Masterminds does.
    let mut text = s.to_string();
    for m in g.range.captures_iter(s) {
        let (whole, a, b) = (&m[0], &m[1], &m[11]);
        text = text.replacen(whole, &format!(">= {a}, <= {b} "), 1);
    }
    text.split("||")
        .map(|or| {
            if !g.valid.is_match(or) {
                return Err(FuncError::new(format!("improper constraint: {or}")));
            }
            let found: Vec<&str> = g.find.find_iter(or).map(|m| m.as_str()).collect();
            let found = if found.is_empty() { vec![or] } else { found };
            found.into_iter().map(Constraint::parse).collect()
        })
        .collect()
}

/// Registers `semver` and `semverCompare`.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "semver", Arity::exact(1), |_, a| {
        Ok(go_object(Version::parse(arg_str(a, 0)?)?))
    });
    reg(f, "semverCompare", Arity::exact(2), |_, a| {
        let cs = parse_constraints(arg_str(a, 0)?)?;
        let v = Version::parse(arg_str(a, 1)?)?;
        Ok(Value::from(
            cs.iter().any(|and| and.iter().all(|c| c.check(&v))),
        ))
    });
}
