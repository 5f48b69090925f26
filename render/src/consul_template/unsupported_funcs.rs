//! consul-template's Vault and Nomad functions (`secret`, `secrets`, `pkiCert`, `nomadService`,
//! `nomadServices`, `nomadVar`, `nomadVarExists`, `nomadVarList`, `nomadVarListSafe`).
//!
//! This consul-template reads only Consul, so these are registered with upstream's arities
//! (a template using them parses, and `-parse-only` accepts it) and fail when they run.

use crate::func::{Arity, FuncError, FuncMap};

/// The Vault functions and their arities (upstream `template/funcs.go`).
const VAULT: [(&str, Arity); 3] = [
    ("secret", Arity::at_least(0)),
    ("secrets", Arity::exact(1)),
    ("pkiCert", Arity::at_least(0)),
];

/// The Nomad functions and their arities (upstream `template/nomad_funcs.go`).
const NOMAD: [(&str, Arity); 6] = [
    ("nomadService", Arity::at_least(0)),
    ("nomadServices", Arity::at_least(0)),
    ("nomadVar", Arity::exact(1)),
    ("nomadVarExists", Arity::exact(1)),
    ("nomadVarList", Arity::at_least(0)),
    ("nomadVarListSafe", Arity::at_least(0)),
];

/// Registers the Vault and Nomad functions as ones that fail by name.
pub(crate) fn register(funcs: &mut FuncMap) {
    for (names, what) in [(&VAULT[..], "Vault"), (&NOMAD[..], "Nomad")] {
        for &(name, arity) in names {
            funcs.insert(name, arity, move |_, _| {
                Err(FuncError::new(format!(
                    "{name}: {what} is not supported by this consul-template"
                )))
            });
        }
    }
}
