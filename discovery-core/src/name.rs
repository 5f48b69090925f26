//! Validated names: [`ServiceName`], [`InstanceId`] and [`Key`].

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn invalid(what: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidName {
        what,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The name of a service, such as `web` or `apache`.
///
/// A service name is not empty, contains no `/` (it is one path segment in key layouts)
/// and no whitespace or control characters.
///
/// ```
/// use discovery_core::ServiceName;
/// assert!(ServiceName::new("web").is_ok());
/// let err = ServiceName::new("a/b").unwrap_err();
/// assert!(err.to_string().contains("a/b"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        validate_segment("service name", &name)?;
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The identifier of one instance of a service, unique within that service (e.g. `apache-8001`).
///
/// Same rules as [`ServiceName`]: not empty, no `/`, no whitespace or control characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceId(String);

impl InstanceId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        validate_segment("instance id", &id)?;
        Ok(Self(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_segment(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(invalid(what, s, "must not be empty"));
    }
    if s.contains('/') {
        return Err(invalid(what, s, "must not contain '/'"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            what,
            s,
            "must not contain whitespace or control characters",
        ));
    }
    if s == "." || s == ".." {
        return Err(invalid(what, s, "must not be '.' or '..'"));
    }
    Ok(())
}

/// A key in a key-value store, always starting with `/` (`/test/apache-8001`).
///
/// Keys are compared and ordered as byte strings. A key used as a *prefix* matches by
/// whole segments: `/test` contains `/test` and `/test/a`, but not `/testing`; `/` contains
/// every key; a prefix ending in `/` (`/test/`) contains the keys that start with it.
///
/// ```
/// use discovery_core::Key;
/// let p = Key::new("/test").unwrap();
/// assert!(p.contains(&Key::new("/test/a").unwrap()));
/// assert!(!p.contains(&Key::new("/testing").unwrap()));
/// assert_eq!(Key::new("test").unwrap().as_str(), "/test");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
// Shared, not owned: snapshots hold every key twice (map key and pair) and watch paths clone
// keys per event; with `Arc<str>` those are reference counts, not copies.
pub struct Key(Arc<str>);

impl Key {
    /// Builds a key; a missing leading `/` is added (as confd does for prefixes).
    ///
    /// Fails on keys containing NUL.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let mut key = key.into();
        if key.contains('\0') {
            return Err(invalid("key", &key, "must not contain NUL"));
        }
        if !key.starts_with('/') {
            key.insert(0, '/');
        }
        Ok(Self(Arc::from(key)))
    }

    /// The root key `/`, which contains every key.
    pub fn root() -> Self {
        Self(Arc::from("/"))
    }

    /// The key as a string slice (with its leading `/`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this key, taken as a prefix, contains `other` (segment-based, see the type docs).
    pub fn contains(&self, other: &Key) -> bool {
        prefix_contains(&self.0, &other.0)
    }

    /// `self` joined with one more path segment: `/a` + `b` = `/a/b`, `/` + `b` = `/b`.
    pub fn join(&self, segment: &str) -> Key {
        let seg = segment.trim_start_matches('/');
        if self.0.ends_with('/') {
            Key(Arc::from(format!("{}{}", self.0, seg)))
        } else {
            Key(Arc::from(format!("{}/{}", self.0, seg)))
        }
    }

    /// The part of `other` below this prefix, without a leading `/` (`/a` in `/a/b/c` gives `b/c`).
    /// `None` when `other` is not contained in `self`; `Some("")` when they are equal.
    pub fn relative<'k>(&self, other: &'k Key) -> Option<&'k str> {
        if !self.contains(other) {
            return None;
        }
        let rest = &other.0[self.0.len().min(other.0.len())..];
        Some(rest.trim_start_matches('/'))
    }
}

/// Segment-based prefix test on raw strings; see [`Key`].
pub fn prefix_contains(prefix: &str, key: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    if prefix.ends_with('/') {
        return key.starts_with(prefix);
    }
    key == prefix || (key.starts_with(prefix) && key.as_bytes().get(prefix.len()) == Some(&b'/'))
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                <$t>::new(s)
            }
        }
        impl TryFrom<&str> for $t {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                <$t>::new(s)
            }
        }
        impl std::str::FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                <$t>::new(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0.to_string()
            }
        }
    };
}
string_newtype_impls!(ServiceName);
string_newtype_impls!(InstanceId);
string_newtype_impls!(Key);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_rules() {
        assert!(ServiceName::new("").is_err());
        assert!(ServiceName::new("a b").is_err());
        assert!(ServiceName::new("..").is_err());
        assert!(ServiceName::new("web-1.prod").is_ok());
    }

    #[test]
    fn key_prefix_is_segment_based() {
        let k = |s: &str| Key::new(s).unwrap();
        assert!(k("/").contains(&k("/x")));
        assert!(k("/test").contains(&k("/test")));
        assert!(!k("/test").contains(&k("/testing")));
        assert!(k("/test/").contains(&k("/test/a")));
        assert!(!k("/test/").contains(&k("/test")));
        assert_eq!(k("/a").relative(&k("/a/b/c")), Some("b/c"));
        assert_eq!(k("/").relative(&k("/a")), Some("a"));
        assert_eq!(k("/a").relative(&k("/ab")), None);
        assert_eq!(k("/a").join("b").as_str(), "/a/b");
        assert_eq!(k("/").join("b").as_str(), "/b");
    }
}
