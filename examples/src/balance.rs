//! Client-side load balancing from discovery: the instances of a service, watched through any
//! [`discovery_core::Watcher`], drive a `tower::balance` power-of-two-choices balancer.
//!
//! Each instance becomes an [`HttpGet`] service (a minimal HTTP/1.0 `GET` over TCP); the watch
//! stream becomes `tower::discover::Change`s through [`discovery_core::tower::discover`], so
//! instances join and leave the balancer as they register, deregister or expire.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use discovery_core::{ServiceName, Watcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::balance::p2c::Balance;
use tower::load::Constant;
use tower::{BoxError, Service, ServiceExt};

/// `GET <path>` on one instance; the response is the body.
#[derive(Clone, Debug)]
pub struct HttpGet {
    addr: String,
    path: String,
}

impl HttpGet {
    /// A client of `addr` (`host:port`) asking for `path`.
    pub fn new(addr: impl Into<String>, path: impl Into<String>) -> Self {
        HttpGet {
            addr: addr.into(),
            path: path.into(),
        }
    }
}

impl Service<()> for HttpGet {
    type Response = String;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: ()) -> Self::Future {
        let addr = self.addr.clone();
        let path = self.path.clone();
        Box::pin(async move {
            let fut = async {
                let mut s = tokio::net::TcpStream::connect(&addr).await?;
                s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
                    .await?;
                let mut out = String::new();
                s.read_to_string(&mut out).await?;
                let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
                Ok::<_, BoxError>(body.to_owned())
            };
            tokio::time::timeout(Duration::from_secs(5), fut)
                .await
                .map_err(|_| BoxError::from(format!("{addr}: request timed out")))?
        })
    }
}

/// A balancer over the instances of `service`, following `watcher`.
///
/// ```no_run
/// # async fn demo(watcher: &dyn discovery_core::Watcher) -> Result<(), tower::BoxError> {
/// use tower::{Service, ServiceExt};
/// let mut lb = discovery_examples::balance::balancer(watcher, &"web".parse()?, "/").await?;
/// let body = lb.ready().await?.call(()).await?;
/// # Ok(()) }
/// ```
pub async fn balancer(
    watcher: &dyn Watcher,
    service: &ServiceName,
    path: &str,
) -> discovery_core::Result<impl Service<(), Response = String, Error = BoxError> + Send> {
    let path = path.to_owned();
    let watch = watcher.watch(service, None).await?;
    let changes = discovery_core::tower::discover(watch, move |i| {
        Constant::new(HttpGet::new(i.endpoint(), path.clone()), 1)
    });
    Ok(Balance::new(changes))
}

/// Sends one request through `lb`, waiting for an instance to be available.
pub async fn request<S>(lb: &mut S) -> Result<String, BoxError>
where
    S: Service<(), Response = String, Error = BoxError>,
{
    lb.ready().await?.call(()).await
}
