//! The operator's endpoints (feature `telemetry`): `/metrics` in Prometheus text, `/health` and
//! `/ready` from a [`HealthRegistry`], served by hyper on one address.
//!
//! [`TelemetryServer::start`] installs the process-wide `metrics` recorder
//! (`metrics-exporter-prometheus`), so every counter, gauge and histogram the crates record
//! through the `metrics` facade is exported; histograms get buckets from 0.5 ms to 10 s.
//!
//! - `GET /metrics`: `text/plain; version=0.0.4`.
//! - `GET /health`: 200 while no component of the registry is failing, else 503; the body is the
//!   [`HealthReport`](crate::health::HealthReport) as JSON, naming what fails and why.
//! - `GET /ready`: 200 once the registry is ready (every resource rendered once, every service
//!   registered), else 503 with the same JSON, whose `pending` names what is missing.
//!
//! Anything else is 404. Nothing listens unless this is started, and only on the address given.
//!
//! ```no_run
//! use discovery_core::health::HealthRegistry;
//! use discovery_core::telemetry::TelemetryServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> discovery_core::Result<()> {
//! let health = HealthRegistry::new();
//! let server = TelemetryServer::start("127.0.0.1:9102".parse().unwrap(), health.clone()).await?;
//! println!("metrics on http://{}/metrics", server.local_addr());
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::health::HealthRegistry;
use crate::{Error, Result};

/// Histogram buckets, in seconds: renders, commands and watch lag from 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The running endpoint server. Dropping it stops serving (the recorder stays installed).
#[derive(Debug)]
pub struct TelemetryServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TelemetryServer {
    /// Installs the Prometheus recorder, binds `addr` and serves on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (key `metrics-addr`) when the address cannot be bound or a
    /// recorder is already installed in this process.
    pub async fn start(addr: SocketAddr, health: HealthRegistry) -> Result<TelemetryServer> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::invalid_config("metrics-addr", format!("cannot listen on {addr}: {e}"))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::invalid_config("metrics-addr", e.to_string()))?;
        let handle = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .and_then(|b| b.install_recorder())
            .map_err(|e| Error::invalid_config("metrics-addr", e.to_string()))?;
        let task = tokio::spawn(serve(listener, handle, health));
        tracing::info!(addr = %local, "serving /metrics, /health and /ready");
        Ok(TelemetryServer { addr: local, task })
    }

    /// The address bound (the port chosen when `addr` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TelemetryServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, handle: PrometheusHandle, health: HealthRegistry) {
    let upkeep = handle.clone();
    // The exporter asks its owner to drain histogram samples now and then.
    let _upkeep = AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    }));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (handle, health) = (handle.clone(), health.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let out = respond(&req, &handle, &health);
                async move { Ok::<_, Infallible>(out) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

fn respond(
    req: &Request<Incoming>,
    handle: &PrometheusHandle,
    health: &HealthRegistry,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", handle.render()),
        "/health" => {
            let r = health.report();
            let code = if r.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(code, "application/json", r.to_json() + "\n")
        }
        "/ready" => {
            let r = health.report();
            let code = if r.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(code, "application/json", r.to_json() + "\n")
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /health or /ready\n".into(),
        ),
    }
}

fn reply(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
