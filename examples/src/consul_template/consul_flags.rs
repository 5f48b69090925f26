//! consul-template's `-consul-*` flags (and the global `-retry`), read into the same
//! [`ConsulFile`] as the config files' `consul {}` (the command line is merged last), and the
//! [`ConsulConfig`] built from the merged result with consul-template's defaults and
//! environment variables.

use std::time::Duration;

use discovery_consul::{BasicAuth, ConsulConfig, RetryConfig, TlsConfig};
use discovery_core::{Error, Result};
use discovery_render::consul_template::ConsulFile;

use crate::goflags::{FlagError, FlagSet, Kind};

/// consul-template's `max_stale` default: reads may be 2 s stale (answered by any server).
pub(super) const DEFAULT_MAX_STALE: Duration = Duration::from_secs(2);

/// Defines the flags on `f`.
pub(super) fn define(f: &mut FlagSet) {
    f.define(
        "consul-auth",
        Kind::Value,
        "user[:password] for HTTP basic auth to Consul",
    )
    .define(
        "consul-retry",
        Kind::Bool,
        "retry failed Consul requests (default true)",
    )
    .define(
        "consul-retry-attempts",
        Kind::Value,
        "retries before giving up and exiting (default 12; 0: forever)",
    )
    .define(
        "consul-retry-backoff",
        Kind::Value,
        "first retry delay, doubling (default 250ms)",
    )
    .define(
        "consul-retry-max-backoff",
        Kind::Value,
        "largest retry delay (default 1m)",
    )
    .define("retry", Kind::Value, "the same as -consul-retry-backoff")
    .define("consul-ssl", Kind::Bool, "talk HTTPS to Consul")
    .define(
        "consul-ssl-verify",
        Kind::Bool,
        "verify Consul's certificate (default true)",
    )
    .define("consul-ssl-ca-cert", Kind::Value, "CA certificate file")
    .define(
        "consul-ssl-ca-path",
        Kind::Value,
        "directory of CA certificates",
    )
    .define("consul-ssl-cert", Kind::Value, "client certificate file")
    .define("consul-ssl-key", Kind::Value, "client key file")
    .define(
        "consul-ssl-server-name",
        Kind::Value,
        "name to verify Consul's certificate against",
    )
    .define(
        "consul-token-file",
        Kind::Value,
        "file holding the Consul ACL token",
    )
    .define(
        "consul-transport-dial-keep-alive",
        Kind::Value,
        "TCP keep-alive period (accepted, no effect)",
    )
    .define(
        "consul-transport-dial-timeout",
        Kind::Value,
        "how long connecting to Consul may take",
    )
    .define(
        "consul-transport-disable-keep-alives",
        Kind::Bool,
        "one connection per request",
    )
    .define(
        "consul-transport-max-idle-conns-per-host",
        Kind::Value,
        "most idle connections kept",
    )
    .define(
        "consul-transport-tls-handshake-timeout",
        Kind::Value,
        "TLS handshake timeout (accepted; the dial timeout covers it)",
    );
}

/// What the flags set (over the files' `consul {}`).
pub(super) fn read(f: &FlagSet) -> std::result::Result<ConsulFile, FlagError> {
    let mut c = ConsulFile::default();
    c.address = f.value("consul-addr").map(str::to_owned);
    c.token = f.value("consul-token").map(str::to_owned);
    c.token_file = f.value("consul-token-file").map(str::to_owned);
    if let Some(a) = f.value("consul-auth") {
        if a.is_empty() {
            return Err(FlagError::Bad(
                "invalid value \"\" for flag -consul-auth: cannot specify empty auth".into(),
            ));
        }
        let auth = BasicAuth::parse(a);
        c.auth.enabled = Some(true);
        c.auth.username = Some(auth.username);
        c.auth.password = Some(auth.password);
    }
    c.retry.enabled = f.bool("consul-retry");
    c.retry.attempts = f.int("consul-retry-attempts")?;
    // `-retry` and `-consul-retry-backoff` set the same thing; the later flag wins in
    // consul-template, here `-consul-retry-backoff`.
    c.retry.backoff = f.duration("consul-retry-backoff")?.or(f.duration("retry")?);
    c.retry.max_backoff = f.duration("consul-retry-max-backoff")?;
    c.ssl.enabled = f.bool("consul-ssl");
    c.ssl.verify = f.bool("consul-ssl-verify");
    c.ssl.ca_cert = f.value("consul-ssl-ca-cert").map(str::to_owned);
    c.ssl.ca_path = f.value("consul-ssl-ca-path").map(str::to_owned);
    c.ssl.cert = f.value("consul-ssl-cert").map(str::to_owned);
    c.ssl.key = f.value("consul-ssl-key").map(str::to_owned);
    c.ssl.server_name = f.value("consul-ssl-server-name").map(str::to_owned);
    let t = &mut c.transport;
    t.dial_keep_alive = f.duration("consul-transport-dial-keep-alive")?;
    t.dial_timeout = f.duration("consul-transport-dial-timeout")?;
    t.disable_keep_alives = f.bool("consul-transport-disable-keep-alives");
    t.max_idle_conns_per_host = f.int("consul-transport-max-idle-conns-per-host")?;
    t.tls_handshake_timeout = f.duration("consul-transport-tls-handshake-timeout")?;
    Ok(c)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The Consul connection: `c`'s settings over `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN`,
/// `CONSUL_HTTP_TOKEN_FILE` and `CONSUL_CACERT`, with consul-template's retry defaults (12
/// retries, 250 ms to 1 min). A token file wins over a token, as in Consul's client.
pub(super) fn consul_config(c: &ConsulFile, max_stale: Option<Duration>) -> Result<ConsulConfig> {
    let mut consul = ConsulConfig::from_env()?;
    if let Some(addr) = non_empty(&c.address) {
        let url = if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("consul://{addr}")
        };
        consul.address = ConsulConfig::from_url(&url)?.address;
    }
    if let Some(t) = non_empty(&c.token) {
        consul.token = Some(t.to_owned());
    }
    let token_file = c
        .token_file
        .clone()
        .or_else(|| std::env::var("CONSUL_HTTP_TOKEN_FILE").ok())
        .filter(|p| !p.is_empty());
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if !token.is_empty() {
            consul.token = Some(token.to_owned());
        }
    }
    if c.auth.enabled != Some(false) {
        if let Some(user) = non_empty(&c.auth.username) {
            let pass = c.auth.password.clone().unwrap_or_default();
            consul.auth = Some(BasicAuth::new(user, pass));
        }
    }
    let s = &c.ssl;
    let any_ssl = [&s.ca_cert, &s.ca_path, &s.cert, &s.key, &s.server_name]
        .iter()
        .any(|x| non_empty(x).is_some())
        || s.verify.is_some();
    if s.enabled.unwrap_or(any_ssl) {
        if let Some(rest) = consul.address.strip_prefix("http://") {
            consul.address = format!("https://{rest}");
        }
        let mut tls = consul.tls.take().unwrap_or_default();
        if let Some(ca) = non_empty(&s.ca_cert) {
            tls = tls.with_ca(ca);
        }
        tls.ca_path = non_empty(&s.ca_path).map(Into::into);
        match (non_empty(&s.cert), non_empty(&s.key)) {
            (Some(cert), Some(key)) => tls = tls.with_client_cert(cert, key),
            // consul-template's single file holding both.
            (Some(both), None) | (None, Some(both)) => tls = tls.with_client_cert(both, both),
            (None, None) => {}
        }
        tls.server_name = non_empty(&s.server_name).map(str::to_owned);
        tls.insecure_skip_verify = s.verify == Some(false);
        if tls != TlsConfig::default() {
            consul.tls = Some(tls);
        }
    }
    let r = &c.retry;
    let mut retry = RetryConfig::default();
    retry.enabled = r.enabled.unwrap_or(true);
    retry.attempts = r.attempts.unwrap_or(12);
    retry.backoff = r.backoff.unwrap_or(Duration::from_millis(250));
    retry.max_backoff = r.max_backoff.unwrap_or(Duration::from_secs(60));
    consul.retry = retry;
    let t = &c.transport;
    if let Some(d) = t.dial_timeout.filter(|d| !d.is_zero()) {
        consul.transport.dial_timeout = Some(d);
    }
    if let Some(d) = t.idle_conn_timeout.filter(|d| !d.is_zero()) {
        consul.transport.idle_timeout = d;
    }
    consul.transport.disable_keep_alives = t.disable_keep_alives.unwrap_or(false);
    // Go's 0 means "its default" for both; there is one host.
    if let Some(n) = t
        .max_idle_conns_per_host
        .filter(|n| *n > 0)
        .or(t.max_idle_conns.filter(|n| *n > 0))
    {
        consul.transport.max_idle_conns = Some(n as usize);
    }
    consul.max_stale = max_stale
        .or(Some(DEFAULT_MAX_STALE))
        .filter(|d| !d.is_zero());
    Ok(consul)
}

#[cfg(test)]
mod tests {
    use super::*;
    use discovery_render::consul_template::FileConfig;

    fn flags(args: &[&str]) -> std::result::Result<ConsulFile, FlagError> {
        let mut f = FlagSet::new("consul-template");
        f.define("consul-addr", Kind::Value, "")
            .define("consul-token", Kind::Value, "");
        define(&mut f);
        f.parse(args.iter().map(|s| s.to_string()))?;
        read(&f)
    }

    #[test]
    fn every_flag_is_read_and_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "from-file\n").unwrap();
        let file = dir.path().join("ct.hcl");
        std::fs::write(
            &file,
            r#"consul {
  address = "10.0.0.1:8500"
  auth {
    username = "file-user"
    password = "file-pass"
  }
  retry {
    attempts = 3
    backoff = "1s"
  }
  transport {
    dial_timeout = "9s"
  }
}"#,
        )
        .unwrap();
        let mut cfg = FileConfig::default();
        cfg.merge_path(&file).unwrap();
        let mut merged = cfg.consul.clone();
        merged.merge(
            flags(&[
                "-consul-auth=u:p:w",
                "-consul-retry-attempts=0",
                "-retry=3s",
                "-consul-retry-max-backoff=7s",
                "-consul-ssl-verify=false",
                "-consul-ssl-ca-cert=/ca.pem",
                "-consul-ssl-server-name=consul.local",
                &format!("-consul-token-file={}", token.display()),
                "-consul-transport-dial-timeout=2s",
                "-consul-transport-disable-keep-alives",
                "-consul-transport-max-idle-conns-per-host=5",
                "-consul-transport-dial-keep-alive=1s",
                "-consul-transport-tls-handshake-timeout=1s",
            ])
            .unwrap(),
        );
        let consul = consul_config(&merged, None).unwrap();
        assert_eq!(
            consul.address, "https://10.0.0.1:8500",
            "ssl settings: https"
        );
        let auth = consul.auth.clone().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("u", "p:w")
        );
        assert!(!format!("{consul:?}").contains("p:w"));
        assert_eq!(consul.token.as_deref(), Some("from-file"));
        assert_eq!(consul.retry.attempts, 0);
        assert_eq!(consul.retry.backoff, Duration::from_secs(3));
        assert_eq!(consul.retry.max_backoff, Duration::from_secs(7));
        let tls = consul.tls.clone().unwrap();
        assert!(tls.insecure_skip_verify);
        assert_eq!(tls.server_name.as_deref(), Some("consul.local"));
        assert_eq!(consul.transport.dial_timeout, Some(Duration::from_secs(2)));
        assert!(consul.transport.disable_keep_alives);
        assert_eq!(consul.transport.max_idle_conns, Some(5));
        assert_eq!(consul.max_stale, Some(DEFAULT_MAX_STALE));
        // The file alone: its values, and consul-template's defaults elsewhere.
        let consul = consul_config(&cfg.consul, Some(Duration::ZERO)).unwrap();
        assert_eq!(consul.address, "http://10.0.0.1:8500");
        assert_eq!(consul.auth.unwrap().username, "file-user");
        assert_eq!(consul.retry.attempts, 3);
        assert_eq!(consul.retry.max_backoff, Duration::from_secs(60));
        assert_eq!(consul.transport.dial_timeout, Some(Duration::from_secs(9)));
        assert_eq!(consul.max_stale, None, "max_stale 0: consistent reads");
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (
                &["-consul-retry-attempts=many"][..],
                "-consul-retry-attempts",
            ),
            (&["-consul-retry-backoff=5"], "-consul-retry-backoff"),
            (&["-retry=x"], "-retry"),
            (&["-consul-auth="], "-consul-auth"),
            (&["-consul-ssl=maybe"], "-consul-ssl"),
            (
                &["-consul-transport-max-idle-conns-per-host=-1"],
                "-consul-transport-max-idle-conns-per-host",
            ),
        ] {
            let e = flags(args).unwrap_err().to_string();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        let mut c = ConsulFile::default();
        c.token_file = Some("/nonexistent/token".into());
        let e = consul_config(&c, None).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/token"), "{e}");
    }
}
