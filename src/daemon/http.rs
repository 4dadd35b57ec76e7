//! The daemon's HTTP endpoint (loopback by default): `/metrics` (Prometheus text format),
//! `/healthz` (the engine is looping) and `/readyz` (started, and not shutting down). Read-only;
//! it serves nothing else and accepts only GET and HEAD.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::engine::Heartbeat;
use crate::log;
use crate::metrics::Metrics;

/// The engine is unhealthy when it has not looped for this long (it loops at least every
/// 200 ms; a batch takes milliseconds).
const STALE: Duration = Duration::from_secs(30);

/// What the endpoint reports.
pub struct Status {
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
    /// Set once every source is bound and the engine runs; cleared at shutdown.
    pub ready: AtomicBool,
}

/// Serves until `cancel`.
pub async fn serve(listener: TcpListener, status: Arc<Status>, cancel: CancellationToken) {
    loop {
        let (conn, _peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    log::warning!("HTTP endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let status = Arc::clone(&status);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let status = Arc::clone(&status);
                async move { Ok::<_, Infallible>(respond(&req, &status)) }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(conn), service);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

/// A `--listen` address (`HOST:PORT`; port 0 picks a free one); the error names it.
pub fn address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("--listen {text}: not an address:port ({e})"))
}

/// An optional `--listen` address ([`address`]).
pub fn optional_address(text: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    text.map(address).transpose().map_err(anyhow::Error::msg)
}

/// Binds the endpoint and logs where it serves (the port chosen for port 0); the error names
/// the address. The returned future serves `status` until `cancel`: the caller spawns it.
pub async fn listen(
    addr: SocketAddr,
    status: &Arc<Status>,
    cancel: &CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--listen {addr}: cannot listen there: {e}"))?;
    log::info!(
        "serving /metrics, /healthz and /readyz on http://{}",
        listener.local_addr().map_or(addr, |a| a)
    );
    Ok(serve(listener, Arc::clone(status), cancel.clone()))
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

fn respond<B>(req: &Request<B>, status: &Status) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n".into(), PLAIN);
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            status.metrics.encode(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/healthz" => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let last = status.heartbeat.last_loop_ms.load(Ordering::Relaxed);
            let age = Duration::from_millis(now.saturating_sub(last));
            if last > 0 && age < STALE {
                text(StatusCode::OK, "ok\n".into(), PLAIN)
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the main loop (detection, or shipping) has not run for {:.0} s\n",
                        age.as_secs_f64()
                    ),
                    PLAIN,
                )
            }
        }
        "/readyz" => {
            if status.ready.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ready\n".into(), PLAIN)
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready (starting or stopping)\n".into(),
                    PLAIN,
                )
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
            PLAIN,
        ),
    }
}
