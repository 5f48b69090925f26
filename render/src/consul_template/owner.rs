//! A template's `user` and `group`: names or numbers, resolved to ids through `/etc/passwd` and
//! `/etc/group` when the template loads (so a name that does not exist fails early).
// `uid`/`gid` serve the consul-template runner (feature `consul`); `writeToFile` the rest.
#![cfg_attr(not(feature = "consul"), allow(dead_code))]

use discovery_core::{Error, Result};

/// The id of `name` (a number, or a name in `db`, `/etc/passwd` or `/etc/group`).
fn lookup(name: &str, db: &str, key: &str) -> Result<u32> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let text = std::fs::read_to_string(db).map_err(|source| Error::Io {
        path: db.into(),
        source,
    })?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(id)
        })
        .next()
        .ok_or_else(|| Error::invalid_config(key, format!("{name:?}: no such {key} in {db}")))
}

/// The id of the entry named `name` in `db` (`/etc/passwd` or `/etc/group`), if any; names only
/// (Go's `user.Lookup`/`user.LookupGroup` without cgo).
pub(crate) fn id_of_name(name: &str, db: &str) -> Option<u32> {
    let text = std::fs::read_to_string(db).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(id)
        })
        .next()
}

/// The uid of a template's `user`.
pub(crate) fn uid(user: Option<&str>) -> Result<Option<u32>> {
    user.map(|u| lookup(u, "/etc/passwd", "user")).transpose()
}

/// The gid of a template's `group`.
pub(crate) fn gid(group: Option<&str>) -> Result<Option<u32>> {
    group.map(|g| lookup(g, "/etc/group", "group")).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(uid(Some("0")).unwrap(), Some(0));
        assert_eq!(uid(Some("root")).unwrap(), Some(0));
        assert_eq!(gid(Some("root")).unwrap(), Some(0));
        assert_eq!(uid(None).unwrap(), None);
        let e = uid(Some("no-such-user-here")).unwrap_err().to_string();
        assert!(e.contains("no-such-user-here"), "{e}");
    }
}
