//! The flags of features this consul-template does not have: every `-vault-*` flag (Vault
//! cannot run here). They are defined, so the error names the feature instead of Go's "flag
//! provided but not defined".

use crate::goflags::{FlagError, FlagSet, Kind};

/// consul-template's Vault flags and their kinds.
const VAULT: [(&str, Kind); 24] = [
    ("vault-addr", Kind::Value),
    ("vault-agent-token-file", Kind::Value),
    ("vault-client-user-agent", Kind::Value),
    ("vault-default-lease-duration", Kind::Value),
    ("vault-renew-token", Kind::Bool),
    ("vault-retry", Kind::Bool),
    ("vault-retry-attempts", Kind::Value),
    ("vault-retry-backoff", Kind::Value),
    ("vault-retry-max-backoff", Kind::Value),
    ("vault-ssl", Kind::Bool),
    ("vault-ssl-ca-cert", Kind::Value),
    ("vault-ssl-ca-path", Kind::Value),
    ("vault-ssl-cert", Kind::Value),
    ("vault-ssl-key", Kind::Value),
    ("vault-ssl-server-name", Kind::Value),
    ("vault-ssl-verify", Kind::Bool),
    ("vault-token", Kind::Value),
    ("vault-transport-dial-keep-alive", Kind::Value),
    ("vault-transport-dial-timeout", Kind::Value),
    ("vault-transport-disable-keep-alives", Kind::Bool),
    ("vault-transport-max-conns-per-host", Kind::Value),
    ("vault-transport-max-idle-conns-per-host", Kind::Value),
    ("vault-transport-tls-handshake-timeout", Kind::Value),
    ("vault-unwrap-token", Kind::Bool),
];

/// Defines the flags on `f`.
pub(super) fn define(f: &mut FlagSet) {
    for (name, kind) in VAULT {
        f.define(name, kind, "Vault is not supported by this consul-template");
    }
}

/// An error naming the first of these flags given.
pub(super) fn check(f: &FlagSet) -> Result<(), FlagError> {
    if let Some((name, _)) = VAULT.iter().find(|(n, _)| f.is_set(n)) {
        return Err(FlagError::Bad(format!(
            "-{name}: Vault is not supported by this consul-template"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<(), FlagError> {
        let mut f = FlagSet::new("consul-template");
        define(&mut f);
        f.parse(args.iter().map(|s| s.to_string()))?;
        check(&f)
    }

    #[test]
    fn vault_flags_name_the_feature() {
        for (name, kind) in VAULT {
            let arg = match kind {
                Kind::Bool => format!("-{name}"),
                _ => format!("-{name}=x"),
            };
            let e = run(&[&arg]).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("-{name}: Vault is not supported by this consul-template")
            );
        }
    }
}
