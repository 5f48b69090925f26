//! Sprig v3.3.0's hermetic text functions, as consul-template 0.42.1 exposes them: every name of
//! `sprig.HermeticTxtFuncMap()` prefixed `sprig_` (upstream `template/template.go`).
//!
//! The hermetic map leaves out Sprig's `nonhermeticFunctions` (`date`, `dateInZone`,
//! `dateModify`, `htmlDate`, `htmlDateInZone`, `now`, the `rand*` family, `uuidv4`, `env`,
//! `expandenv`, `getHostByName`), so those names are undefined here as there. Files follow
//! Sprig's own grouping; `golden.jsonl` holds the Go oracle's output for `cases.txt`
//! (`fuzz/differential/sprig/`), replayed by `golden_test.rs`.

mod certs;
#[cfg(test)]
mod certs_test;
mod conv;
mod crypto;
mod dates;
mod defaults;
mod dict_value;
mod dicts;
mod encoding;
mod go_url;
#[cfg(test)]
mod golden_test;
mod keys;
#[cfg(test)]
mod keys_test;
mod lists;
mod math;
#[cfg(test)]
mod names_test;
mod reflect;
mod regex;
mod semver;
mod strcase;
mod strings;
mod url;

use minijinja::Value;

use crate::func::{Arity, CallCtx, FuncMap, FuncResult};

/// Registers `f` as `sprig_NAME`.
pub(super) fn reg(
    funcs: &mut FuncMap,
    name: &str,
    arity: Arity,
    f: impl Fn(&CallCtx<'_>, &[Value]) -> FuncResult + Send + Sync + 'static,
) {
    funcs.insert(&format!("sprig_{name}"), arity, f);
}

/// Hermetic names not implemented yet (see COMPATIBILITY.md): registered so that a template
/// naming them parses (`-parse-only`), and failing by name when called, never "not defined".
pub(super) const NOT_IMPLEMENTED: &[&str] = &[];

/// Registers every Sprig function under its `sprig_` name ([`NOT_IMPLEMENTED`] as failing ones).
pub(crate) fn register(funcs: &mut FuncMap) {
    for &name in NOT_IMPLEMENTED {
        reg(funcs, name, Arity::at_least(0), move |_, _| {
            Err(crate::func::FuncError::new(format!(
                "sprig_{name}: not implemented by this consul-template"
            )))
        });
    }
    strings::register(funcs);
    encoding::register(funcs);
    defaults::register(funcs);
    lists::register(funcs);
    dicts::register(funcs);
    math::register(funcs);
    regex::register(funcs);
    strcase::register(funcs);
    reflect::register(funcs);
    dates::register(funcs);
    semver::register(funcs);
    crypto::register(funcs);
    url::register(funcs);
    keys::register(funcs);
    certs::register(funcs);
}
