//! The one public error type of the crate family.

use std::time::Duration;

use crate::Revision;

/// A boxed error from a backend's client library. Never exposed as a concrete type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error of the discovery crates.
///
/// Variants name the backend (`"memory"`, `"etcd"`, `"consul"`, `"file"`, `"env"`) and, where there is
/// one, the key or instance involved. Backend client errors are carried as opaque sources only.
/// [`Error::is_retryable`] tells whether trying again later can succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service name, instance id or key failed validation.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// What was being validated (`"service name"`, `"instance id"`, `"key"`).
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A configuration value is wrong.
    #[error("invalid configuration {key}: {reason}")]
    InvalidConfig {
        /// The configuration key or flag.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value could not be decoded (bad JSON, not `host:port`, not UTF-8).
    #[error("{backend}: cannot decode the value of key {key}: {reason}")]
    InvalidData {
        /// The backend that holds the value.
        backend: &'static str,
        /// The key whose value is bad.
        key: String,
        /// Why it could not be decoded.
        reason: String,
    },
    /// A key or instance does not exist.
    #[error("{backend}: {key} not found")]
    NotFound {
        /// The backend.
        backend: &'static str,
        /// The missing key or instance.
        key: String,
    },
    /// A lease (or Consul TTL check) expired or was revoked.
    #[error("{backend}: the lease of {instance} expired")]
    LeaseExpired {
        /// The backend.
        backend: &'static str,
        /// The instance (`service/id`) or lease that expired.
        instance: String,
    },
    /// A watch asked to resume from a revision the backend no longer keeps.
    #[error("{backend}: revision {requested} has been compacted (oldest available: {oldest})")]
    Compacted {
        /// The backend.
        backend: &'static str,
        /// The revision the caller asked for.
        requested: Revision,
        /// The oldest revision the backend still has.
        oldest: Revision,
    },
    /// The backend cannot be reached, or answered with a transient failure.
    #[error("{backend} unavailable: {source}")]
    Unavailable {
        /// The backend.
        backend: &'static str,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// An operation did not finish in time.
    #[error("{backend}: {operation} timed out after {after:?}")]
    Timeout {
        /// The backend.
        backend: &'static str,
        /// The operation that timed out.
        operation: &'static str,
        /// How long it was given.
        after: Duration,
    },
    /// Credentials were missing or wrong.
    #[error("{backend}: authentication failed: {reason}")]
    Unauthenticated {
        /// The backend.
        backend: &'static str,
        /// What the server said (never the secret itself).
        reason: String,
    },
    /// The credentials are valid but do not grant this operation (on `key`, when known).
    #[error("{backend}: permission denied{}: {reason}", key.as_deref().map(|k| format!(" on {k}")).unwrap_or_default())]
    PermissionDenied {
        /// The backend.
        backend: &'static str,
        /// The key or prefix refused, when known.
        key: Option<String>,
        /// What the server said.
        reason: String,
    },
    /// The backend does not support this operation (e.g. writes to the env backend).
    #[error("{backend} does not support {operation}")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// A template failed to parse or render.
    #[error("{}", render_message(file, *line, *column, key.as_deref(), message))]
    Template {
        /// The template file (or name) as given by the user.
        file: String,
        /// 1-based line in the original template source (0 when unknown).
        line: usize,
        /// Column in the original template source as Go's `text/template` reports it: the byte
        /// offset within the line, counted from 0 (so the error text matches confd's and
        /// consul-template's). 0 is also used when unknown.
        column: usize,
        /// The key involved, when a key lookup failed.
        key: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// A local I/O operation failed (reading templates, writing destination files).
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A check or reload command failed, or was killed after its timeout.
    #[error("{what} `{command}` {reason}")]
    Command {
        /// Which command (`"check_cmd"`, `"reload_cmd"`, `"command"`).
        what: &'static str,
        /// The command line.
        command: String,
        /// What happened (`exited with status 1: <output>`, `timed out after 10s`).
        reason: String,
    },
    /// The watch or registration was closed (its backend was dropped or shut down).
    #[error("{backend}: {what} closed")]
    Closed {
        /// The backend.
        backend: &'static str,
        /// What closed (`"watch"`, `"registration"`).
        what: &'static str,
    },
    /// Any other backend failure that is not transient.
    #[error("{backend}: {source}")]
    Backend {
        /// The backend.
        backend: &'static str,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
}

fn render_message(
    file: &str,
    line: usize,
    column: usize,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut s = String::from(file);
    if line > 0 {
        s.push_str(&format!(":{line}"));
        if column > 0 {
            s.push_str(&format!(":{column}"));
        }
    }
    s.push_str(": ");
    s.push_str(message);
    if let Some(k) = key {
        if !message.contains(k) {
            s.push_str(&format!(" (key {k})"));
        }
    }
    s
}

impl Error {
    /// Whether the same operation may succeed if tried again later (network trouble, timeouts,
    /// expired leases, compaction). Configuration, permission and data errors are not retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. }
                | Error::Timeout { .. }
                | Error::LeaseExpired { .. }
                | Error::Compacted { .. }
        )
    }

    /// The backend named by this error, if any.
    pub fn backend(&self) -> Option<&'static str> {
        match self {
            Error::InvalidData { backend, .. }
            | Error::NotFound { backend, .. }
            | Error::LeaseExpired { backend, .. }
            | Error::Compacted { backend, .. }
            | Error::Unavailable { backend, .. }
            | Error::Timeout { backend, .. }
            | Error::Unauthenticated { backend, .. }
            | Error::PermissionDenied { backend, .. }
            | Error::Unsupported { backend, .. }
            | Error::Closed { backend, .. }
            | Error::Backend { backend, .. } => Some(backend),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Unavailable`].
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            backend,
            source: source.into(),
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend_error(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            backend,
            source: source.into(),
        }
    }

    /// Shorthand for [`Error::InvalidData`].
    pub fn invalid_data(
        backend: &'static str,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidData {
            backend,
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid_config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_error_names_file_line_and_key() {
        let e = Error::Template {
            file: "nginx.tmpl".into(),
            line: 3,
            column: 7,
            key: Some("/test/x".into()),
            message: "error calling getv: key does not exist".into(),
        };
        assert_eq!(
            e.to_string(),
            "nginx.tmpl:3:7: error calling getv: key does not exist (key /test/x)"
        );
    }

    #[test]
    fn retryable_classification() {
        assert!(Error::unavailable("etcd", "connection refused").is_retryable());
        assert!(!Error::invalid_config("endpoints", "empty").is_retryable());
    }
}
