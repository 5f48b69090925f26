//! The string functions abtreece/confd v0.41.0 added (`pkg/template/utility_funcs.go`):
//! `indent nindent quote squote regexMatch regexFind regexReplaceAll trimPrefix repeat nospace
//! snakecase camelcase kebabcase`.
//!
//! Argument orders are the fork's, which differ from consul-template's in places
//! (`trimPrefix s prefix`, `repeat count s`); parameters typed `string`/`int` in Go refuse
//! other types with Go's `wrong type for value` text.

use minijinja::value::Value;

use crate::consul_template::go_regex;
use crate::func::{arg_int, arg_str, Arity, FuncError, FuncMap};
use crate::gostr;

/// Go's `strings.Repeat`, with its panic (which `text/template` reports as the call's error)
/// when the length overflows, and an allocation failure reported instead of aborting.
fn go_repeat(s: &str, count: usize) -> Result<String, FuncError> {
    let overflow = || FuncError::new("strings: Repeat output length overflow");
    let len = s
        .len()
        .checked_mul(count)
        .filter(|n| isize::try_from(*n).is_ok())
        .ok_or_else(overflow)?;
    let mut out = String::new();
    out.try_reserve_exact(len).map_err(|_| overflow())?;
    for _ in 0..count {
        out.push_str(s);
    }
    Ok(out)
}

/// The fork's `indent`: every line of `s` gets `spaces` spaces (negative counts as 0); an empty
/// `s` stays empty (unlike Sprig, which returns the padding).
fn indent(spaces: i64, s: &str) -> Result<String, FuncError> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let pad = go_repeat(" ", usize::try_from(spaces.max(0)).unwrap_or(usize::MAX))?;
    let mut out = pad.clone();
    out.push_str(&s.replace('\n', &format!("\n{pad}")));
    Ok(out)
}

/// The fork's `squote`: single quotes, an inner `'` doubled (SQL style; Sprig does not escape).
fn squote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The fork's `splitWords`: words end at `_`, `-` and space, and before an upper-case letter
/// that follows a lower-case one or that starts a capitalised word (`HTTPServer` is `HTTP`,
/// `Server`).
fn split_words(s: &str) -> Vec<String> {
    let runes: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &r) in runes.iter().enumerate() {
        if matches!(r, '_' | '-' | ' ') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if r.is_uppercase() && !current.is_empty() {
            let next_lower = runes.get(i + 1).is_some_and(|c| c.is_lowercase());
            let prev_upper = i > 0 && runes[i - 1].is_uppercase();
            if next_lower || !prev_upper {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(r);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The words of `s` lower-cased (Go's `strings.ToLower`) and joined with `sep`.
fn join_lower(s: &str, sep: &str) -> String {
    let words: Vec<String> = split_words(s).iter().map(|w| gostr::to_lower(w)).collect();
    words.join(sep)
}

/// The fork's `camelcase`: the first word lower-cased, the others lower-cased with their first
/// letter upper-cased.
fn camelcase(s: &str) -> String {
    let mut out = String::new();
    for (i, w) in split_words(s).iter().enumerate() {
        let lower = gostr::to_lower(w);
        let mut chars = lower.chars();
        match chars.next() {
            Some(first) if i > 0 => {
                out.push(gostr::upper_rune(first));
                out.push_str(chars.as_str());
            }
            _ => out.push_str(&lower),
        }
    }
    out
}

/// Registers the fork's string functions.
pub(super) fn register(funcs: &mut FuncMap) {
    funcs.insert("indent", Arity::exact(2), |_, a| {
        Ok(indent(arg_int(a, 0)?, arg_str(a, 1)?)?.into())
    });
    funcs.insert("nindent", Arity::exact(2), |_, a| {
        Ok(format!("\n{}", indent(arg_int(a, 0)?, arg_str(a, 1)?)?).into())
    });
    funcs.insert("quote", Arity::exact(1), |_, a| {
        Ok(crate::gofmt::quote(arg_str(a, 0)?).into())
    });
    funcs.insert("squote", Arity::exact(1), |_, a| {
        Ok(squote(arg_str(a, 0)?).into())
    });
    funcs.insert("regexMatch", Arity::exact(2), |_, a| {
        Ok(go_regex(arg_str(a, 0)?)?.is_match(arg_str(a, 1)?).into())
    });
    funcs.insert("regexFind", Arity::exact(2), |_, a| {
        let re = go_regex(arg_str(a, 0)?)?;
        Ok(re.find(arg_str(a, 1)?).map_or("", |m| m.as_str()).into())
    });
    funcs.insert("regexReplaceAll", Arity::exact(3), |_, a| {
        let re = go_regex(arg_str(a, 0)?)?;
        let (s, repl) = (arg_str(a, 1)?, arg_str(a, 2)?);
        Ok(re.replace_all(s, repl).into_owned().into())
    });
    funcs.insert("trimPrefix", Arity::exact(2), |_, a| {
        let (s, prefix) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(s.strip_prefix(prefix).unwrap_or(s).into())
    });
    funcs.insert("repeat", Arity::exact(2), |_, a| {
        let (count, s) = (arg_int(a, 0)?, arg_str(a, 1)?);
        match usize::try_from(count) {
            Ok(n) if n > 0 => Ok(go_repeat(s, n)?.into()),
            _ => Ok(Value::from("")),
        }
    });
    funcs.insert("nospace", Arity::exact(1), |_, a| {
        let s: String = arg_str(a, 0)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        Ok(s.into())
    });
    funcs.insert("snakecase", Arity::exact(1), |_, a| {
        Ok(join_lower(arg_str(a, 0)?, "_").into())
    });
    funcs.insert("kebabcase", Arity::exact(1), |_, a| {
        Ok(join_lower(arg_str(a, 0)?, "-").into())
    });
    funcs.insert("camelcase", Arity::exact(1), |_, a| {
        Ok(camelcase(arg_str(a, 0)?).into())
    });
}

#[cfg(test)]
mod tests {
    use super::super::fork_funcs::render;
    use super::split_words;

    // Expected bytes: TestIndent / TestNindent in abtreece/confd pkg/template/utility_funcs_test.go.
    #[test]
    fn indent_and_nindent() {
        assert_eq!(render(r#"[{{indent 4 "hello"}}]"#), "[    hello]");
        assert_eq!(
            render(r#"[{{indent 2 "line1\nline2\nline3"}}]"#),
            "[  line1\n  line2\n  line3]"
        );
        assert_eq!(render(r#"[{{indent 4 ""}}]"#), "[]");
        assert_eq!(render(r#"[{{indent 0 "hello"}}]"#), "[hello]");
        assert_eq!(render(r#"[{{indent -1 "hello"}}]"#), "[hello]");
        assert_eq!(render(r#"[{{nindent 4 "hello"}}]"#), "[\n    hello]");
        assert_eq!(render(r#"[{{nindent 2 "a\nb"}}]"#), "[\n  a\n  b]");
        assert_eq!(render(r#"[{{nindent 4 ""}}]"#), "[\n]");
        // Go's parameter types: the count is an int.
        assert!(render(r#"{{indent "4" "x"}}"#).contains(r#"expected integer; found "4""#));
    }

    // TestQuote / TestSquote.
    #[test]
    fn quote_and_squote() {
        assert_eq!(render(r#"{{quote "hello"}}"#), r#""hello""#);
        assert_eq!(render(r#"{{quote ""}}"#), r#""""#);
        assert_eq!(render(r#"{{quote "line1\nline2"}}"#), r#""line1\nline2""#);
        assert_eq!(render(r#"{{quote "a\"b"}}"#), r#""a\"b""#);
        assert_eq!(render(r#"{{squote "hello world"}}"#), "'hello world'");
        assert_eq!(render(r#"{{squote ""}}"#), "''");
        assert_eq!(render(r#"{{squote "it's"}}"#), "'it''s'");
        assert_eq!(render(r#"{{squote "a'b'c"}}"#), "'a''b''c'");
        // quote takes a Go string (Sprig's takes anything).
        assert!(render("{{quote 5}}").contains("wrong type for value; expected string; got int"));
    }

    // TestRegexMatch / TestRegexFind / TestRegexReplaceAll.
    #[test]
    fn regex_functions() {
        assert_eq!(render(r#"{{regexMatch "^hello" "hello world"}}"#), "true");
        assert_eq!(render(r#"{{regexMatch "^world" "hello world"}}"#), "false");
        assert_eq!(render(r#"{{regexMatch `^\d+$` "12345"}}"#), "true");
        assert_eq!(render(r#"{{regexMatch "" "anything"}}"#), "true");
        assert_eq!(render(r#"{{regexFind `\d+` "abc123def456"}}"#), "123");
        assert_eq!(render(r#"[{{regexFind `\d+` "abcdef"}}]"#), "[]");
        assert_eq!(render(r#"{{regexFind `\w+` "hello world"}}"#), "hello");
        assert_eq!(render(r#"[{{regexFind "" "anything"}}]"#), "[]");
        assert_eq!(
            render(r#"{{regexReplaceAll `\d+` "abc123def456" "NUM"}}"#),
            "abcNUMdefNUM"
        );
        assert_eq!(
            render(r#"{{regexReplaceAll `\s+` "hello  world" " "}}"#),
            "hello world"
        );
        assert_eq!(render(r#"{{regexReplaceAll `\d+` "abc123" ""}}"#), "abc");
        // Go's Regexp.ReplaceAllString expands $1 and ${name}.
        assert_eq!(
            render(r#"{{regexReplaceAll `(\w+)@(\w+)` "me@host" "${2}_$1"}}"#),
            "host_me"
        );
        for t in [
            r#"{{regexMatch "[invalid" ""}}"#,
            r#"{{regexFind "[invalid" ""}}"#,
            r#"{{regexReplaceAll "[invalid" "input" "repl"}}"#,
        ] {
            assert!(
                render(t).contains("error parsing regexp: missing closing ]: `[invalid`"),
                "{t}"
            );
        }
    }

    // TestRepeat / TestNospace and the trimPrefix line of TestUtilityFuncsInTemplate.
    #[test]
    fn trim_prefix_repeat_nospace() {
        assert_eq!(
            render(r#"{{trimPrefix "Hello, World" "Hello, "}}"#),
            "World"
        );
        assert_eq!(render(r#"{{trimPrefix "Hello" "x"}}"#), "Hello");
        assert_eq!(render(r#"{{repeat 3 "ab"}}"#), "ababab");
        assert_eq!(render(r#"[{{repeat 0 "ab"}}]"#), "[]");
        assert_eq!(render(r#"[{{repeat -1 "ab"}}]"#), "[]");
        assert_eq!(render(r#"[{{repeat 5 ""}}]"#), "[]");
        assert!(render(r#"{{repeat 9223372036854775807 "ab"}}"#)
            .contains("error calling repeat: strings: Repeat output length overflow"));
        assert_eq!(render(r#"{{nospace " hello \t world \n "}}"#), "helloworld");
        assert_eq!(render(r#"[{{nospace "   "}}]"#), "[]");
        // unicode.IsSpace includes NEL and NBSP.
        assert_eq!(render("{{nospace \"a\u{85}b\u{a0}c\"}}"), "abc");
    }

    // TestSplitWords.
    #[test]
    fn words() {
        let cases: [(&str, &[&str]); 8] = [
            ("helloWorld", &["hello", "World"]),
            ("HelloWorld", &["Hello", "World"]),
            ("hello_world", &["hello", "world"]),
            ("hello-world", &["hello", "world"]),
            ("HTTPServer", &["HTTP", "Server"]),
            ("hello", &["hello"]),
            ("", &[]),
            ("hello world", &["hello", "world"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_words(input), want, "{input}");
        }
    }

    // TestSnakecase / TestCamelcase / TestKebabcase.
    #[test]
    fn case_conversions() {
        let cases = [
            ("HelloWorld", "hello_world", "helloWorld", "hello-world"),
            ("helloWorld", "hello_world", "helloWorld", "hello-world"),
            ("hello_world", "hello_world", "helloWorld", "hello-world"),
            ("hello-world", "hello_world", "helloWorld", "hello-world"),
            ("HTTPServer", "http_server", "httpServer", "http-server"),
            ("hello", "hello", "hello", "hello"),
            ("", "", "", ""),
        ];
        for (input, snake, camel, kebab) in cases {
            assert_eq!(render(&format!("{{{{snakecase {input:?}}}}}")), snake);
            assert_eq!(render(&format!("{{{{camelcase {input:?}}}}}")), camel);
            assert_eq!(render(&format!("{{{{kebabcase {input:?}}}}}")), kebab);
        }
    }
}
