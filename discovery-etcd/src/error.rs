//! Maps etcd-client errors to [`discovery_core::Error`] (the client's types never leak).

use std::future::Future;
use std::time::Duration;

use discovery_core::{Backoff, Error, Revision};
use tonic::Code;

pub(crate) const BACKEND: &str = "etcd";

/// An etcd failure with its message only (the client's error type stays private).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct EtcdFailure(pub(crate) String);

fn failure(msg: impl Into<String>) -> Box<EtcdFailure> {
    Box::new(EtcdFailure(msg.into()))
}

/// Maps a client error.
pub(crate) fn map(err: etcd_client::Error) -> Error {
    use etcd_client::Error as E;
    match err {
        E::GRpcStatus(status) => map_status(status.code(), status.message()),
        E::TransportError(e) => Error::unavailable(BACKEND, failure(transport_message(&e))),
        E::IoError(e) => Error::unavailable(BACKEND, failure(e.to_string())),
        E::InvalidArgs(m) => Error::invalid_config("etcd", m),
        E::InvalidUri(e) => Error::invalid_config("endpoints", e.to_string()),
        E::EndpointError(m) => Error::invalid_config("endpoints", m),
        E::WatchError(m) | E::LeaseKeepAliveError(m) => Error::unavailable(BACKEND, failure(m)),
        other => Error::backend_error(BACKEND, failure(other.to_string())),
    }
}

/// A transport error with its causes (tonic's top-level message is just "transport error").
fn transport_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        cur = s.source();
    }
    msg
}

fn map_status(code: Code, message: &str) -> Error {
    let lower = message.to_ascii_lowercase();
    if lower.contains("authentication failed")
        || lower.contains("invalid auth token")
        || lower.contains("user name is empty")
        || lower.contains("user name not found")
        || code == Code::Unauthenticated
    {
        return Error::Unauthenticated {
            backend: BACKEND,
            reason: message.to_owned(),
        };
    }
    if code == Code::PermissionDenied || lower.contains("permission denied") {
        return Error::PermissionDenied {
            backend: BACKEND,
            key: None,
            reason: message.to_owned(),
        };
    }
    if lower.contains("required revision has been compacted") {
        return Error::Compacted {
            backend: BACKEND,
            requested: Revision::ZERO,
            oldest: Revision::ZERO,
        };
    }
    match code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Cancelled
        | Code::Unknown => Error::unavailable(BACKEND, failure(format!("{code:?}: {message}"))),
        Code::NotFound => Error::NotFound {
            backend: BACKEND,
            key: message.to_owned(),
        },
        _ => Error::backend_error(BACKEND, failure(format!("{code:?}: {message}"))),
    }
}

/// Runs `fut` with a deadline; the timeout is a retryable [`Error::Timeout`].
pub(crate) async fn timed<T>(
    operation: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> discovery_core::Result<T> {
    match tokio::time::timeout(after, fut).await {
        Ok(r) => r.map_err(map),
        Err(_) => Err(Error::Timeout {
            backend: BACKEND,
            operation,
            after,
        }),
    }
}

/// Retry schedule of a unary request refused by one member (no leader, connection refused).
const REFUSED: Backoff = Backoff {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(500),
};

/// Whether the request certainly never reached raft, so that sending it again (possibly to
/// another member) cannot apply it twice.
fn refused(e: &Error) -> bool {
    let Error::Unavailable { source, .. } = e else {
        return false;
    };
    let msg = source.to_string().to_ascii_lowercase();
    [
        "no leader",
        "connect error",
        "connection refused",
        "leader changed",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// Runs the unary request `make()` within `after`, sending it again while a member refuses it
/// (a partitioned member answers "no leader"; another endpoint may have one).
pub(crate) async fn call<T, F, Fut>(
    operation: &'static str,
    after: Duration,
    mut make: F,
) -> discovery_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + after;
    let mut attempt = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = match tokio::time::timeout(left, make()).await {
            Ok(r) => r.map_err(map),
            Err(_) => {
                return Err(Error::Timeout {
                    backend: BACKEND,
                    operation,
                    after,
                })
            }
        };
        match result {
            Err(e) if refused(&e) => {
                let delay = REFUSED.delay(attempt);
                if tokio::time::Instant::now() + delay >= deadline {
                    return Err(e);
                }
                tracing::debug!(operation, error = %e, attempt, "request refused; retrying");
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        assert!(matches!(
            map_status(
                Code::InvalidArgument,
                "etcdserver: authentication failed, invalid user ID or password"
            ),
            Error::Unauthenticated { .. }
        ));
        assert!(map_status(Code::Unavailable, "etcdserver: no leader").is_retryable());
        assert!(matches!(
            map_status(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted"
            ),
            Error::Compacted { .. }
        ));
        assert!(matches!(
            map_status(Code::PermissionDenied, "etcdserver: permission denied"),
            Error::PermissionDenied { .. }
        ));
    }
}
