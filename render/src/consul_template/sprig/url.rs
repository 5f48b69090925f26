//! Sprig's `url.go`: `urlParse` splits a URL into a map of its parts as Go's `net/url` parses
//! it, and `urlJoin` builds a URL back from such a map (see [`super::go_url`]).
//!
//! `urlParse` gives `scheme host hostname path query opaque fragment userinfo`: `path` and
//! `fragment` decoded, `query` and `opaque` as written, `userinfo` re-escaped. `urlJoin` reads the
//! same keys except `hostname` (absent ones are empty, any other key is ignored), so a path's
//! original escaping is not kept: it is escaped again.

use std::collections::BTreeMap;

use minijinja::Value;

use super::conv::kind_name;
use super::dict_value::{arg_dict, new_dict};
use super::go_url::GoUrl;
use super::reg;
use crate::func::{arg_str, arg_value, Arity, FuncError, FuncMap, FuncResult};
use crate::value::{go_string, go_string_bytes};

/// The parts of `raw` under Sprig's keys; Go's parse error otherwise.
fn url_parse(raw: &str) -> FuncResult {
    let url = GoUrl::parse(raw.as_bytes())
        .map_err(|e| FuncError::new(format!("unable to parse url: {e}")))?;
    let userinfo = url.user.as_ref().map(|u| u.encoded()).unwrap_or_default();
    let parts = [
        ("scheme", url.scheme.clone()),
        ("host", url.host.clone()),
        ("hostname", url.hostname().to_vec()),
        ("path", url.path.clone()),
        ("query", url.raw_query.clone()),
        ("opaque", url.opaque.clone()),
        ("fragment", url.fragment.clone()),
        ("userinfo", userinfo),
    ];
    Ok(new_dict(
        parts
            .into_iter()
            .map(|(k, v)| (k.to_string(), go_string(v)))
            .collect(),
    ))
}

/// Sprig's `dictGetOrEmpty`: the string under `key`, empty when absent, an error naming the
/// kind of any other value (nil fails as Go's `reflect.TypeOf(nil).Kind()` does).
fn string_key(d: &BTreeMap<String, Value>, key: &str) -> Result<Vec<u8>, FuncError> {
    let Some(v) = d.get(key) else {
        return Ok(Vec::new());
    };
    match go_string_bytes(v) {
        Some(b) => Ok(b.to_vec()),
        None => Err(FuncError::new(format!(
            "unable to parse {key} key, must be of type string, but {} found",
            kind_name(v)?
        ))),
    }
}

/// The URL the map's parts spell; `userinfo` is parsed as the userinfo of `proto://USERINFO@host`.
fn url_join(d: &BTreeMap<String, Value>) -> FuncResult {
    let mut url = GoUrl {
        scheme: string_key(d, "scheme")?,
        host: string_key(d, "host")?,
        path: string_key(d, "path")?,
        raw_query: string_key(d, "query")?,
        opaque: string_key(d, "opaque")?,
        fragment: string_key(d, "fragment")?,
        ..GoUrl::default()
    };
    let userinfo = string_key(d, "userinfo")?;
    if !userinfo.is_empty() {
        let raw = [&b"proto://"[..], &userinfo, b"@host"].concat();
        let parsed = GoUrl::parse(&raw)
            .map_err(|e| FuncError::new(format!("unable to parse userinfo in dict: {e}")))?;
        url.user = parsed.user;
    }
    Ok(go_string(url.to_bytes()))
}

/// Registers `urlParse` and `urlJoin`.
pub(super) fn register(f: &mut FuncMap) {
    reg(f, "urlParse", Arity::exact(1), |_, a| {
        url_parse(arg_str(a, 0)?)
    });
    reg(f, "urlJoin", Arity::exact(1), |_, a| {
        url_join(&arg_dict(arg_value(a, 0)?)?.snapshot())
    });
}
