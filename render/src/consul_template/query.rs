//! consul-template's query strings: `tag.name?query@dc~near|filter` for services (v0.20.1's
//! grammar plus newer versions' `?ns=...` query, which is accepted and ignored),
//! `/?key@dc` for keys and `/?prefix@dc` for listings.

use std::sync::OnceLock;

use regex::Regex;

/// A parsed `service` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceQuery {
    pub(crate) tag: Option<String>,
    pub(crate) name: String,
    /// Sorted health filters; `["passing"]` by default.
    pub(crate) filters: Vec<String>,
    /// `@dc`.
    pub(crate) dc: Option<String>,
    /// `~near`.
    pub(crate) near: Option<String>,
}

impl ServiceQuery {
    /// Whether an instance with aggregated `status` passes the filters.
    pub(crate) fn accepts(&self, status: &str) -> bool {
        self.filters.iter().any(|f| f == status || f == "any")
    }
}

fn service_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"\A(?:(?P<tag>[0-9A-Za-z_=:.\-]+)\.)?",
            r"(?P<name>[0-9A-Za-z_\-]+)",
            r"(?:\?(?P<query>[0-9A-Za-z_=&\-]*))?",
            r"(?:@(?P<dc>[0-9A-Za-z_.\-]+))?",
            r"(?:~(?P<near>[0-9A-Za-z_.\-]+))?",
            r"(?:\|(?P<filter>[0-9A-Za-z_,]+))?\z"
        ))
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

/// Parses a `service` query (the arguments joined with `|`).
pub(crate) fn parse_service(s: &str) -> Result<ServiceQuery, String> {
    let caps = service_re().captures(s).ok_or_else(|| {
        format!(
            "health.service: invalid format: {}",
            crate::gostr::go_quote(s)
        )
    })?;
    let mut filters = Vec::new();
    match caps.name("filter").map(|m| m.as_str()) {
        Some(f) if !f.is_empty() => {
            for part in f.split(',') {
                let part = part.trim();
                match part {
                    "any" | "passing" | "warning" | "critical" | "maintenance" => {
                        filters.push(part.to_owned())
                    }
                    "" => {}
                    other => {
                        return Err(format!(
                            "health.service: invalid filter: {} in {}",
                            crate::gostr::go_quote(other),
                            crate::gostr::go_quote(s)
                        ))
                    }
                }
            }
            filters.sort();
        }
        _ => filters.push("passing".to_owned()),
    }
    Ok(ServiceQuery {
        tag: caps.name("tag").map(|m| m.as_str().to_owned()),
        name: caps["name"].to_owned(),
        filters,
        dc: caps.name("dc").map(|m| m.as_str().to_owned()),
        near: caps.name("near").map(|m| m.as_str().to_owned()),
    })
}

/// Parses a `key` query: the key without a leading `/` and without `@dc`.
pub(crate) fn parse_key(s: &str) -> Result<String, String> {
    let body = s.strip_prefix('/').unwrap_or(s);
    let key = body.split('@').next().unwrap_or("");
    if key.is_empty() {
        return Err(format!(
            "kv.get: invalid format: {}",
            crate::gostr::go_quote(s)
        ));
    }
    Ok(key.to_owned())
}

/// Parses an `ls`/`tree` query: the raw prefix without a leading `/` and without `@dc`.
pub(crate) fn parse_prefix(s: &str) -> String {
    let body = s.strip_prefix('/').unwrap_or(s);
    body.split('@').next().unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_everything_before_the_last_dot() {
        let q = parse_service("v1.2.web").unwrap();
        assert_eq!(q.tag.as_deref(), Some("v1.2"));
        assert_eq!(q.name, "web");
        assert_eq!(q.filters, ["passing"]);
        let q = parse_service("web|warning,critical").unwrap();
        assert_eq!(q.filters, ["critical", "warning"]);
        let q = parse_service("db?ns=default@dc1~agent|any").unwrap();
        assert_eq!(
            (q.name.as_str(), q.filters.as_slice()),
            ("db", ["any".to_owned()].as_slice())
        );
        assert!(parse_service("bad name")
            .unwrap_err()
            .contains("invalid format"));
        assert!(parse_service("web|healthy")
            .unwrap_err()
            .contains("invalid filter"));
    }
}
