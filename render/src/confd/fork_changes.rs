//! Where abtreece/confd changed confd 0.17's own functions (its #546, "correctness and safety
//! fixes"): `seq` counts down when first > last, `reverse` returns a reversed copy, `div` and
//! `mod` return an error for a zero divisor instead of panicking, and `fileExists` is false
//! when the file cannot be stat'ed for any reason. Its store (`pkg/memkv`) also names a
//! malformed `gets`/`getvs` pattern: `invalid pattern "[": syntax error in pattern`.
//!
//! These override confd 0.17's behaviour, which templates may rely on (`range seq 1 (len $l)`
//! is empty for an empty `$l` under 0.17), so they make up their own dialect,
//! [`crate::Dialect::ConfdFork`].

use minijinja::value::Value;

use super::memkv::KVPAIR_TYPE;
use super::pathmatch::BAD_PATTERN;
use crate::func::{arg_int, arg_str, arg_value, Arity, FuncError, FuncMap};
use crate::value::{as_go_list, go_list, ListKind};

/// The fork's `Seq`: `first` to `last` inclusive, counting down when `first > last`.
fn seq(first: i64, last: i64) -> Vec<Value> {
    if first <= last {
        (first..=last).map(Value::from).collect()
    } else {
        (last..=first).rev().map(Value::from).collect()
    }
}

/// An integer operation of `div`/`mod`.
type IntOp = fn(i64, i64) -> i64;

/// Registers the fork's versions of `seq`, `reverse`, `div`, `mod` and `fileExists`.
pub(super) fn register(funcs: &mut FuncMap) {
    funcs.insert("seq", Arity::exact(2), |_, a| {
        Ok(go_list(ListKind::Int, seq(arg_int(a, 0)?, arg_int(a, 1)?)))
    });
    funcs.insert("reverse", Arity::exact(1), |_, a| {
        let v = arg_value(a, 0)?;
        match as_go_list(v) {
            Some(l)
                if l.kind == ListKind::String || l.kind == ListKind::Struct(KVPAIR_TYPE.into()) =>
            {
                let mut items = l.snapshot();
                items.reverse();
                Ok(go_list(l.kind.clone(), items))
            }
            _ => Ok(v.clone()),
        }
    });
    let ops: [(&str, &str, IntOp); 2] = [
        ("div", "division", i64::wrapping_div),
        ("mod", "modulo", i64::wrapping_rem),
    ];
    for (name, what, op) in ops {
        funcs.insert(name, Arity::exact(2), move |_, a| {
            let (x, y) = (arg_int(a, 0)?, arg_int(a, 1)?);
            if y == 0 {
                return Err(FuncError::new(format!("{what} by zero")));
            }
            Ok(Value::from(op(x, y)))
        });
    }
    funcs.insert("fileExists", Arity::exact(1), |_, a| {
        Ok(std::fs::metadata(arg_str(a, 0)?).is_ok().into())
    });
    for name in ["gets", "getvs"] {
        let Some(inner) = funcs.get(name).cloned() else {
            continue;
        };
        funcs.insert(name, inner.arity, move |ctx, a| {
            inner.call(ctx, a).map_err(|e| {
                if e.message != BAD_PATTERN {
                    return e;
                }
                let pattern = a.first().and_then(Value::as_str).unwrap_or_default();
                FuncError::new(format!(
                    "invalid pattern {}: {BAD_PATTERN}",
                    crate::gofmt::quote(pattern)
                ))
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fork_funcs::{render, render_in};
    use crate::{Dialect, Template};

    fn fork(source: &str) -> String {
        render_in(Dialect::ConfdFork, source)
    }

    // TestSeq in abtreece/confd pkg/template/template_funcs_test.go.
    #[test]
    fn seq_counts_down() {
        assert_eq!(fork("{{seq 1 5}}"), "[1 2 3 4 5]");
        assert_eq!(fork("{{seq 3 3}}"), "[3]");
        assert_eq!(fork("{{seq -2 2}}"), "[-2 -1 0 1 2]");
        assert_eq!(fork("{{seq 5 1}}"), "[5 4 3 2 1]");
        // confd 0.17 (the golden case 063-seq): empty.
        assert_eq!(render("[{{seq 3 1}}] {{len (seq 3 1)}}"), "[[]] 0");
    }

    // TestReverse: the input is not mutated (confd 0.17 reverses in place: golden case
    // 057-reverse-in-place).
    #[test]
    fn reverse_copies() {
        let t = r#"{{$l := ls "/r"}}{{$x := reverse $l}}{{$l}} {{$x}}"#;
        assert_eq!(fork(t), "[a b c] [c b a]");
        assert_eq!(render_in(Dialect::Confd, t), "[c b a] [c b a]");
        let kv = r#"{{$l := gets "/r/*" | sortKVByLength}}{{range reverse $l}}{{.Key}} {{end}}{{range $l}}{{.Value}}{{end}}"#;
        assert_eq!(fork(kv), "/r/c /r/b /r/a 123");
        // Other types are returned as they are.
        assert_eq!(
            fork(r#"{{reverse "str"}} {{reverse (seq 1 3)}}"#),
            "str [1 2 3]"
        );
    }

    // The fork's div/mod zero-divisor errors (confd 0.17 panics: golden case 061).
    #[test]
    fn div_and_mod_errors() {
        assert_eq!(
            fork("{{div 7 2}} {{mod 7 2}} {{div -7 2}} {{mod -7 2}}"),
            "3 1 -3 -1"
        );
        assert!(fork("{{div 1 0}}").contains("error calling div: division by zero"));
        assert!(fork("{{mod 1 0}}").contains("error calling mod: modulo by zero"));
        assert!(render("{{div 1 0}}").contains("integer divide by zero"));
    }

    // pkg/memkv/store.go GetAll: `fmt.Errorf("invalid pattern %q: %w", pattern, err)`.
    #[test]
    fn bad_patterns_are_named() {
        for f in ["gets", "getvs"] {
            let t = format!("{{{{{f} \"/r/[\"}}}}");
            assert!(
                fork(&t).contains(r#"invalid pattern "/r/[": syntax error in pattern"#),
                "{f}: {}",
                fork(&t)
            );
            let old = render_in(Dialect::Confd, &t);
            assert!(
                old.contains(&format!("error calling {f}: syntax error in pattern")),
                "{old}"
            );
        }
    }

    #[test]
    fn file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let t = format!(
            "{{{{fileExists {:?}}}}} {{{{fileExists {:?}}}}}",
            f.display().to_string(),
            dir.path().join("nope").display().to_string()
        );
        assert_eq!(fork(&t), "true false");
    }

    /// The fork dialect has every function of the confd dialect.
    #[test]
    fn fork_dialect_has_every_confd_function() {
        let confd = Template::function_names(Dialect::Confd);
        assert_eq!(Template::function_names(Dialect::ConfdFork), confd);
    }
}
