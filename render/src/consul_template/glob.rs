//! Go's `filepath.Match` patterns (`*`, `?`, `[a-z]`, `[^0-9]`, `\` escapes), as consul-template
//! matches environment variable names against `exec { env { allowlist, denylist } }`.
//! The pattern is translated to an anchored regular expression; a malformed pattern matches
//! nothing (consul-template ignores the error, so the name does not match).

use regex::Regex;

/// Whether `name` matches a `function_denylist` pattern: ryanuber/go-glob's rule, as
/// consul-template uses it, where `*` matches any run of characters (`/` included) and nothing
/// else is special (`sprig_*` denies every Sprig function, `*` every function).
pub(crate) fn star_match(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    last.is_empty() || rest.ends_with(last)
}

/// Whether `name` matches the Go pattern `pattern` (`*` and `?` do not match `/`).
#[cfg_attr(not(feature = "consul"), allow(dead_code))]
pub(crate) fn go_match(pattern: &str, name: &str) -> bool {
    translate(pattern)
        .and_then(|re| Regex::new(&re).ok())
        .is_some_and(|re| re.is_match(name))
}

/// The regular expression of a Go pattern, `None` when the pattern is malformed.
#[cfg_attr(not(feature = "consul"), allow(dead_code))]
fn translate(pattern: &str) -> Option<String> {
    let mut out = String::from("^(?s:");
    let mut it = pattern.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '\\' => out.push_str(&regex::escape(&it.next()?.to_string())),
            '[' => {
                out.push('[');
                if it.peek() == Some(&'^') {
                    it.next();
                    out.push('^');
                }
                let mut ranges = 0;
                loop {
                    let lo = match it.next()? {
                        ']' if ranges > 0 => break,
                        ']' | '-' => return None,
                        '\\' => it.next()?,
                        c => c,
                    };
                    out.push_str(&regex::escape(&lo.to_string()));
                    if it.peek() == Some(&'-') {
                        it.next();
                        let hi = match it.next()? {
                            ']' | '-' => return None,
                            '\\' => it.next()?,
                            c => c,
                        };
                        if hi < lo {
                            return None;
                        }
                        out.push('-');
                        out.push_str(&regex::escape(&hi.to_string()));
                    }
                    ranges += 1;
                }
                out.push(']');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{go_match, star_match};

    #[test]
    fn denylist_globs_are_go_glob_stars() {
        for (p, s, want) in [
            ("plugin", "plugin", true),
            ("plugin", "plugins", false),
            ("*", "anything", true),
            ("sprig_*", "sprig_reverse", true),
            ("sprig_*", "reverse", false),
            ("*Hex", "sha256Hex", true),
            ("s*_*y", "sha256_hex", false),
            ("s*2*Hex", "sha256Hex", true),
            ("a*a", "a", false),
            ("a*/b", "a/x/b", true),
            ("[ab]", "a", false),
        ] {
            assert_eq!(star_match(p, s), want, "Glob({p:?}, {s:?})");
        }
    }

    #[test]
    fn go_filepath_match_cases() {
        for (p, s, want) in [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "ab/c", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abe", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a?b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[x\\-]", "-", true),
            ("[", "a", false),
            ("[^", "a", false),
            ("[]a]", "]", false),
            ("a[", "a", false),
            ("CONSUL_*", "CONSUL_HTTP_ADDR", true),
            ("CONSUL_*", "MY_CONSUL", false),
            ("*.", "a.", true),
        ] {
            assert_eq!(go_match(p, s), want, "Match({p:?}, {s:?})");
        }
    }
}
