//! `deduplicate {}` and `-dedup`: de-duplication mode's settings, merged across files (the
//! right-most wins) and finished with consul-template's defaults.

use std::time::Duration;

use serde_json::{Map, Value};

use super::config_file::{bool_field, check_keys, duration_field, str_field};

/// Where the locks and shared data live unless `prefix` says otherwise (as consul-template).
pub const DEFAULT_DEDUP_PREFIX: &str = "consul-template/dedup/";
/// The session TTL unless `ttl` says otherwise (as consul-template).
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(15);
/// How stale a follower's read of the shared data may be unless `max_stale` says otherwise
/// (consul-template's default `max_stale`).
pub const DEFAULT_DEDUP_MAX_STALE: Duration = Duration::from_secs(2);
/// How long a follower's blocking query on the shared data waits unless `block_query_wait` says
/// otherwise (as consul-template).
pub const DEFAULT_DEDUP_BLOCK_QUERY_WAIT: Duration = Duration::from_secs(60);

/// What `deduplicate {}` stanzas (and `-dedup`) set, before defaults.
///
/// ```
/// use discovery_render::consul_template::DedupConfig;
/// let mut cfg = DedupConfig::default();
/// assert_eq!(cfg.finish(), None);
/// cfg.prefix = Some("ct/".into()); // setting any key enables the mode, as upstream
/// let on = cfg.finish().unwrap();
/// assert_eq!((on.prefix.as_str(), on.ttl.as_secs()), ("ct/", 15));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupConfig {
    /// `enabled` / `-dedup`.
    pub enabled: Option<bool>,
    /// `prefix`.
    pub prefix: Option<String>,
    /// `max_stale`.
    pub max_stale: Option<Duration>,
    /// `ttl` (`TTL`: keys are matched without regard to case, as upstream's decoder does).
    pub ttl: Option<Duration>,
    /// `block_query_wait`.
    pub block_query_wait: Option<Duration>,
}

/// De-duplication mode's settings, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupOptions {
    /// The KV prefix of every template's lock and data (`<prefix><template id>/...`).
    pub prefix: String,
    /// The TTL of this process's session (Consul's minimum, 10 s, applies).
    pub ttl: Duration,
    /// How stale a follower's read of the shared data may be (0: consistent reads).
    pub max_stale: Duration,
    /// How long each blocking query on a lock or the shared data waits.
    pub block_query_wait: Duration,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            prefix: DEFAULT_DEDUP_PREFIX.to_owned(),
            ttl: DEFAULT_DEDUP_TTL,
            max_stale: DEFAULT_DEDUP_MAX_STALE,
            block_query_wait: DEFAULT_DEDUP_BLOCK_QUERY_WAIT,
        }
    }
}

const KEYS: [&str; 5] = ["enabled", "prefix", "max_stale", "ttl", "block_query_wait"];

impl DedupConfig {
    /// One `deduplicate {}` stanza; an unknown key or a bad value is an error naming it.
    pub(crate) fn from_stanza(o: &Map<String, Value>) -> Result<Self, String> {
        // Go's decoder matches keys without regard to case (`TTL` is `ttl`).
        let o: Map<String, Value> = o
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        check_keys(&o, "deduplicate", &KEYS)?;
        // Field errors start with the key: `deduplicate.ttl: invalid duration "soon"`.
        let err = |e: String| format!("deduplicate.{e}");
        Ok(DedupConfig {
            enabled: bool_field(&o, "enabled").map_err(err)?,
            prefix: str_field(&o, "prefix").map_err(err)?,
            max_stale: duration_field(&o, "max_stale").map_err(err)?,
            ttl: duration_field(&o, "ttl").map_err(err)?,
            block_query_wait: duration_field(&o, "block_query_wait").map_err(err)?,
        })
    }

    /// Merges `other` over `self`: what `other` sets wins.
    pub fn merge(&mut self, other: DedupConfig) {
        self.enabled = other.enabled.or(self.enabled);
        self.prefix = other.prefix.or(self.prefix.take());
        self.max_stale = other.max_stale.or(self.max_stale);
        self.ttl = other.ttl.or(self.ttl);
        self.block_query_wait = other.block_query_wait.or(self.block_query_wait);
    }

    /// The settings when the mode is on: `enabled` when set, else on as soon as any other key
    /// is set (as upstream); unset keys take consul-template's defaults.
    pub fn finish(&self) -> Option<DedupOptions> {
        let enabled = self.enabled.unwrap_or(
            self.prefix.as_deref().is_some_and(|p| !p.is_empty())
                || [self.max_stale, self.ttl, self.block_query_wait]
                    .iter()
                    .any(|d| d.is_some_and(|d| !d.is_zero())),
        );
        if !enabled {
            return None;
        }
        let d = DedupOptions::default();
        Some(DedupOptions {
            prefix: self.prefix.clone().unwrap_or(d.prefix),
            ttl: self.ttl.unwrap_or(d.ttl),
            max_stale: self.max_stale.unwrap_or(d.max_stale),
            block_query_wait: self.block_query_wait.unwrap_or(d.block_query_wait),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(hcl: &str) -> Result<DedupConfig, String> {
        let v: Value = hcl::from_str(hcl).map_err(|e| e.to_string())?;
        DedupConfig::from_stanza(v["deduplicate"].as_object().expect("a block"))
    }

    #[test]
    fn keys_parse_with_upstream_defaults_and_case_insensitive_ttl() {
        let c = stanza("deduplicate {\n  enabled = true\n}").unwrap();
        assert_eq!(c.finish(), Some(DedupOptions::default()));
        let d = DedupOptions::default();
        assert_eq!(d.prefix, "consul-template/dedup/");
        assert_eq!(d.ttl, Duration::from_secs(15));
        assert_eq!(d.max_stale, Duration::from_secs(2));
        assert_eq!(d.block_query_wait, Duration::from_secs(60));
        let c = stanza(
            "deduplicate {\n  prefix = \"ct/x/\"\n  TTL = \"20s\"\n  max_stale = \"0s\"\n  \
             block_query_wait = \"5s\"\n}",
        )
        .unwrap();
        let o = c.finish().expect("setting keys enables the mode");
        assert_eq!(o.prefix, "ct/x/");
        assert_eq!(o.ttl, Duration::from_secs(20));
        assert_eq!(o.max_stale, Duration::ZERO);
        assert_eq!(o.block_query_wait, Duration::from_secs(5));
        let c = stanza("deduplicate {\n  enabled = false\n  prefix = \"p/\"\n}").unwrap();
        assert_eq!(c.finish(), None, "enabled = false wins over other keys");
        assert_eq!(stanza("deduplicate {}").unwrap().finish(), None);
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let e = stanza("deduplicate {\n  prefx = \"p\"\n}").unwrap_err();
        assert_eq!(e, "deduplicate: invalid key \"prefx\"");
        let e = stanza("deduplicate {\n  ttl = \"soon\"\n}").unwrap_err();
        assert!(e.starts_with("deduplicate.ttl: "), "{e}");
        let e = stanza("deduplicate {\n  enabled = 3\n}").unwrap_err();
        assert!(e.starts_with("deduplicate.enabled: "), "{e}");
    }

    #[test]
    fn later_settings_win() {
        let mut a = stanza("deduplicate {\n  prefix = \"a/\"\n  ttl = \"30s\"\n}").unwrap();
        a.merge(stanza("deduplicate {\n  prefix = \"b/\"\n}").unwrap());
        a.merge(DedupConfig {
            enabled: Some(true),
            ..DedupConfig::default()
        });
        let o = a.finish().unwrap();
        assert_eq!((o.prefix.as_str(), o.ttl), ("b/", Duration::from_secs(30)));
    }
}
