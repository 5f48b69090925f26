//! abtreece/confd's command line, read by our `confd`: the backend as a subcommand
//! (`confd etcd --node http://10.0.0.1:2379 --watch`), `-n` for `--node`, kong's `--no-<flag>`,
//! and the fork's global flags. Each of those flags either works here, maps onto ours, or is
//! refused by name when given a value this confd cannot honour; none is silently dropped.

use std::time::Duration;

use crate::goflags::{FlagError, FlagSet, Kind};

/// The fork's backend subcommands and our `-backend` for each (its `etcd` is etcd v3). The
/// backends we do not ship keep their names, so `-backend` refuses them by name.
const SUBCOMMANDS: [(&str, &str); 12] = [
    ("consul", "consul"),
    ("etcd", "etcdv3"),
    ("env", "env"),
    ("file", "file"),
    ("vault", "vault"),
    ("redis", "redis"),
    ("zookeeper", "zookeeper"),
    ("dynamodb", "dynamodb"),
    ("ssm", "ssm"),
    ("acm", "acm"),
    ("secretsmanager", "secretsmanager"),
    ("imds", "imds"),
];

/// Rewrites the fork's spellings into ours; anything else is passed on as it is.
///
/// - the first argument that is not a flag or a flag's value, when it names one of the fork's
///   backends, becomes `-backend NAME` (flags may come before or after it, as with kong);
/// - `-n X` / `-n=X` becomes `-node X`;
/// - `--no-NAME` of a boolean flag becomes `-NAME=false`.
pub(super) fn rewrite(args: Vec<String>, flags: &FlagSet) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut it = args.into_iter();
    let mut subcommand_seen = false;
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(it);
            break;
        }
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            match SUBCOMMANDS.iter().find(|(name, _)| *name == arg) {
                Some((_, backend)) if !subcommand_seen => {
                    subcommand_seen = true;
                    out.push("-backend".into());
                    out.push((*backend).into());
                }
                _ => out.push(arg),
            }
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let name = if name == "n" { "node" } else { name };
        if let Some(negated) = name.strip_prefix("no-") {
            if inline.is_none() && flags.kind_of(negated) == Some(Kind::Bool) {
                out.push(format!("-{negated}=false"));
                continue;
            }
        }
        let takes_value = matches!(flags.kind_of(name), Some(Kind::Value | Kind::Repeated));
        match inline {
            Some(v) => out.push(format!("-{name}={v}")),
            None => out.push(format!("-{name}")),
        }
        if takes_value && inline.is_none() {
            out.extend(it.next());
        }
    }
    out
}

/// Defines the fork's global flags that confd 0.17 does not have (the ones both have, and
/// `-check-config`, `-validate`, `-diff*`, `-*-cmd-timeout`, are defined with confd's).
pub(super) fn define(f: &mut FlagSet) {
    let v = Kind::Value;
    let b = Kind::Bool;
    f.define("log-format", v, "log format: text (default) or json")
        .define(
            "failure-mode",
            v,
            "best-effort (default: every resource is processed, failures reported) or fail-fast (refused)",
        )
        .define(
            "preflight",
            b,
            "connect to the backend, read every resource's keys once, and exit",
        )
        .define("preflight-timeout", v, "timeout of -preflight (default 10s)")
        .define(
            "debounce",
            v,
            "watch mode: render once the keys have been quiet this long (as -wait D)",
        )
        .define(
            "batch-interval",
            v,
            "watch mode: render at most once per interval, the first change starting it (as -wait D:D)",
        )
        .define(
            "template-cache",
            b,
            "accepted: templates are always parsed once per load of conf.d",
        )
        .define(
            "stat-cache-ttl",
            v,
            "accepted: templates are read when conf.d is loaded (start, SIGHUP), not re-stat'ed",
        )
        .define(
            "backend-timeout",
            v,
            "timeout of one backend request (etcd, Consul)",
        )
        .define(
            "dial-timeout",
            v,
            "timeout of a connection to the backend (etcd, Consul)",
        )
        .define("read-timeout", v, "accepted: the fork's Redis read timeout")
        .define("write-timeout", v, "accepted: the fork's Redis write timeout")
        .define(
            "retry-max-attempts",
            v,
            "accepted: the first connection is retried until it succeeds or confd is stopped",
        )
        .define(
            "retry-base-delay",
            v,
            "first delay between attempts at the first connection (default 250ms, doubling)",
        )
        .define(
            "retry-max-delay",
            v,
            "longest delay between attempts at the first connection (default 10s)",
        )
        .define(
            "watch-error-backoff",
            v,
            "accepted: a broken watch is retried at once, then with backoff from 100ms to 10s",
        )
        .define(
            "shutdown-timeout",
            v,
            "accepted: on SIGTERM, pending reloads run to their own timeouts",
        )
        .define(
            "watchdog-interval",
            v,
            "systemd watchdog ping interval (0: from WATCHDOG_USEC, as systemd sets it)",
        );
}

/// What the fork's flags ask for, once read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForkFlags {
    /// `-log-format json`.
    pub json_logs: bool,
    /// `-preflight`.
    pub preflight: bool,
    /// `-preflight-timeout` (default 10 s).
    pub preflight_timeout: Option<Duration>,
    /// `-debounce D` (as `-wait D`).
    pub debounce: Option<Duration>,
    /// `-batch-interval D` (as `-wait D:D`).
    pub batch_interval: Option<Duration>,
    /// `-backend-timeout`.
    pub request_timeout: Option<Duration>,
    /// `-dial-timeout`.
    pub dial_timeout: Option<Duration>,
    /// `-watchdog-interval` (non-zero).
    pub watchdog_interval: Option<Duration>,
    /// `-retry-base-delay`.
    pub retry_base_delay: Option<Duration>,
    /// `-retry-max-delay`.
    pub retry_max_delay: Option<Duration>,
}

/// Reads the fork's flags; values this confd cannot honour are errors naming the flag.
pub(super) fn read(f: &FlagSet) -> Result<ForkFlags, FlagError> {
    let mut out = ForkFlags::default();
    match f
        .value("log-format")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("" | "text") => {}
        Some("json") => out.json_logs = true,
        Some(other) => {
            return Err(FlagError::Bad(format!(
                "invalid value {other:?} for flag -log-format: text or json"
            )))
        }
    }
    match f.value("failure-mode") {
        None | Some("best-effort") => {}
        Some("fail-fast") => {
            return Err(FlagError::Bad(
                "-failure-mode fail-fast: not implemented by this confd (it is best-effort: every \
                 resource is processed, failures are reported and -onetime exits non-zero)"
                    .into(),
            ))
        }
        Some(other) => {
            return Err(FlagError::Bad(format!(
                "invalid value {other:?} for flag -failure-mode: best-effort or fail-fast"
            )))
        }
    }
    out.preflight = f.bool("preflight").unwrap_or(false);
    out.preflight_timeout = f.duration("preflight-timeout")?;
    out.debounce = f.duration("debounce")?.filter(|d| !d.is_zero());
    out.batch_interval = f.duration("batch-interval")?.filter(|d| !d.is_zero());
    out.request_timeout = f.duration("backend-timeout")?.filter(|d| !d.is_zero());
    out.dial_timeout = f.duration("dial-timeout")?.filter(|d| !d.is_zero());
    out.watchdog_interval = f.duration("watchdog-interval")?.filter(|d| !d.is_zero());
    out.retry_base_delay = f.duration("retry-base-delay")?.filter(|d| !d.is_zero());
    out.retry_max_delay = f.duration("retry-max-delay")?.filter(|d| !d.is_zero());
    // Accepted with no effect here; still checked, so a typo is an error as in the fork.
    for name in [
        "stat-cache-ttl",
        "read-timeout",
        "write-timeout",
        "watch-error-backoff",
        "shutdown-timeout",
    ] {
        f.duration(name)?;
    }
    f.int::<i64>("retry-max-attempts")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn set() -> FlagSet {
        let mut f = FlagSet::new("confd");
        f.define("node", Kind::Repeated, "")
            .define("backend", Kind::Value, "")
            .define("confdir", Kind::Value, "")
            .define("watch", Kind::Bool, "");
        define(&mut f);
        f
    }

    #[test]
    fn the_subcommand_short_node_and_negation_are_ours() {
        let f = set();
        assert_eq!(
            rewrite(
                args(&[
                    "--confdir",
                    "etcd",
                    "etcd",
                    "-n",
                    "http://a:2379",
                    "--node=http://b:2379",
                    "--watch"
                ]),
                &f
            ),
            args(&[
                "-confdir",
                "etcd",
                "-backend",
                "etcdv3",
                "-node",
                "http://a:2379",
                "-node=http://b:2379",
                "-watch"
            ])
        );
        assert_eq!(
            rewrite(args(&["env", "--onetime", "--no-template-cache"]), &f),
            args(&["-backend", "env", "-onetime", "-template-cache=false"])
        );
        // confd 0.17's own spelling is untouched; a second positional stays an extra argument.
        assert_eq!(
            rewrite(
                args(&["-backend", "consul", "-node", "127.0.0.1:8500", "x"]),
                &f
            ),
            args(&["-backend", "consul", "-node", "127.0.0.1:8500", "x"])
        );
        assert_eq!(
            rewrite(args(&["redis", "file"]), &f),
            args(&["-backend", "redis", "file"])
        );
    }

    #[test]
    fn fork_flags_are_read_or_refused_by_name() {
        let read_args = |a: &[&str]| {
            let mut f = set();
            f.parse(args(a)).unwrap();
            read(&f)
        };
        let r = read_args(&[
            "-log-format=json",
            "-debounce=2s",
            "-backend-timeout=3s",
            "-dial-timeout=1s",
            "-failure-mode=best-effort",
            "-retry-max-attempts=5",
        ])
        .unwrap();
        assert!(r.json_logs);
        assert_eq!(r.debounce, Some(Duration::from_secs(2)));
        assert_eq!(r.request_timeout, Some(Duration::from_secs(3)));
        assert_eq!(r.dial_timeout, Some(Duration::from_secs(1)));
        for (a, want) in [
            (
                "-failure-mode=fail-fast",
                "-failure-mode fail-fast: not implemented",
            ),
            ("-failure-mode=sometimes", "-failure-mode"),
            ("-log-format=xml", "-log-format"),
            ("-stat-cache-ttl=soon", "-stat-cache-ttl"),
        ] {
            let e = read_args(&[a]).unwrap_err().to_string();
            assert!(e.contains(want), "{a}: {e}");
        }
    }
}
