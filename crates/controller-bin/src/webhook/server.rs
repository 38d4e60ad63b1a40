//! The HTTPS server: TLS, HTTP/1.1 with keep-alive, the limits a client
//! meets ([`ServerLimits`]), and the AdmissionReview in and out of each
//! request.
//!
//! What a client can hold is bounded in memory and in time: request bodies
//! are read into a memory budget shared by every connection (a body's
//! first [`ServerLimits::body_allowance_bytes`] come from the connection's
//! own allowance, so a small review never waits on bodies others are
//! sending), each phase of a connection has a deadline, and at the
//! connection cap the connection that has waited longest gives way to the
//! new one (`connections.rs`). Only AdmissionReviews are answered: `POST`
//! of JSON to one of the four webhook paths.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::WebhookError;
use super::connections::{Closed, Deadlines, Phase, Table, Tracked, Tracker};
use super::review::{self, WebhookState};
use crate::certs::CertResolver;

/// What clients may hold of the webhook server, together and each.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// The largest request body (3 MiB: the API server's own request limit).
    pub max_body_bytes: usize,
    /// Request body bytes held at once by every connection together beyond
    /// their allowances (16 MiB): the memory budget. A body waits for room
    /// (within its deadline) rather than grow the process.
    pub max_buffered_bytes: usize,
    /// The first bytes of each body, read from the connection's own
    /// allowance (32 KiB: an AdmissionReview of a Deployment is a few KiB
    /// to a few tens), so a small review never waits on the budget.
    pub body_allowance_bytes: usize,
    /// Time for the TLS handshake (5 s).
    pub handshake_timeout: Duration,
    /// Time for a request's head, from its first byte (5 s).
    pub header_timeout: Duration,
    /// Time for a request's body, from its head (10 s; the API server sends
    /// it at once, and waits at most 30 s for a webhook).
    pub body_timeout: Duration,
    /// How long a connection may stay open between requests (120 s: longer
    /// than the API server's own 90 s, so it is the client that closes an
    /// idle connection and never sends on one the server is closing).
    pub idle_timeout: Duration,
    /// Connections open at once (256). At the cap a new connection is still
    /// accepted, and the one that has waited longest in any phase but being
    /// answered is closed.
    pub max_connections: usize,
    /// After a shutdown signal, how long the server keeps answering (so
    /// requests routed before the endpoint is removed still succeed), 5 s.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 3 * 1024 * 1024,
            max_buffered_bytes: 16 * 1024 * 1024,
            body_allowance_bytes: 32 * 1024,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 256,
            drain: Duration::from_secs(5),
        }
    }
}

impl ServerLimits {
    fn deadlines(&self) -> Deadlines {
        Deadlines {
            handshake: self.handshake_timeout,
            idle: self.idle_timeout,
            head: self.header_timeout,
            body: self.body_timeout,
        }
    }
}

/// What every connection shares.
struct Shared {
    state: WebhookState,
    limits: ServerLimits,
    /// The memory budget, in bytes.
    budget: Arc<Semaphore>,
    table: Arc<Table>,
}

/// Binds `addr` and serves the webhooks over TLS with the certificates of
/// `resolver`, within `limits`, until `shutdown` (then `limits.drain`
/// longer, then the requests in flight). Returns the bound address through
/// `bound`.
pub async fn serve(
    addr: SocketAddr,
    limits: ServerLimits,
    resolver: Arc<CertResolver>,
    state: WebhookState,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebhookError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| WebhookError::Bind { addr, source })?;
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    tracing::info!(%local, "webhook server listening");
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let shared = Arc::new(Shared {
        budget: Arc::new(Semaphore::new(limits.max_buffered_bytes)),
        table: Arc::default(),
        state,
        limits,
    });
    // Connections close gracefully (the request in flight answered) once
    // this turns true.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    // Go's http.Server backs off the same way on accept errors (EMFILE...).
    let mut backoff = Duration::ZERO;
    let drain = shared.limits.drain;
    let stop = async move {
        shutdown.await;
        tracing::info!(?drain, "webhook server draining");
        tokio::time::sleep(drain).await;
    };
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::ZERO;
                    a
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!(error = %e, retry_in = ?backoff, "accepting a webhook connection");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let entry = shared.table.admit(shared.limits.max_connections);
        let (acceptor, shared, closing) = (acceptor.clone(), shared.clone(), closing.clone());
        connections.spawn(async move {
            let tracker = entry.tracker.clone();
            let deadlines = shared.limits.deadlines();
            tokio::select! {
                res = serve_connection(acceptor, tcp, &tracker, shared, closing) => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, error = %e, "webhook connection");
                    }
                }
                closed = tracker.closed(deadlines) => match closed {
                    Closed::Evicted => tracing::debug!(%peer, "webhook connection closed: \
                        the oldest waiting at the connection cap"),
                    Closed::TimedOut(phase) => tracing::debug!(%peer, ?phase, "webhook \
                        connection closed: the phase outlived its deadline"),
                },
            }
            drop(entry);
        });
        // Reap what has finished.
        while connections.try_join_next().is_some() {}
    }
    // Answer what is in flight, close the idle connections.
    closing_tx.send_replace(true);
    let wait = shared.limits.body_timeout + Duration::from_secs(5);
    let _ = tokio::time::timeout(wait, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    tracing::info!(
        evicted = shared.table.evicted(),
        unfinished = shared.table.len(),
        "webhook server stopped"
    );
    connections.abort_all();
    Ok(())
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    tracker: &Arc<Tracker>,
    shared: Arc<Shared>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    tracker.set(Phase::Idle);
    let io = hyper_util::rt::TokioIo::new(Tracked::new(tls, tracker.clone()));
    let service = {
        let tracker = tracker.clone();
        hyper::service::service_fn(move |req| {
            let (shared, tracker) = (shared.clone(), tracker.clone());
            async move {
                tracker.set(Phase::Body);
                let response = handle(req, &shared, &tracker).await;
                tracker.set(Phase::Idle);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // A request head must fit (the API server's are well under 1 KiB);
        // the body is read through it in pieces of at most this size.
        .max_buf_size(16 * 1024)
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        res = connection.as_mut() => return res.map_err(|e| e.to_string()),
        _ = closing.wait_for(|c| *c) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await.map_err(|e| e.to_string())
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A refusal before or while the body is read: the connection closes after
/// it (what is left of the body is never read).
fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut r = respond(
        status,
        serde_json::json!({"message": message})
            .to_string()
            .into_bytes(),
    );
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

/// The webhook paths ([`review::answer`] routes them).
const PATHS: &[&str] = &[
    "/defaulting",
    "/resource-validation",
    "/config-validation",
    "/vspherebindings",
];

/// A request body, read within the limits: the chunks as they came (never
/// copied into one growing buffer, whose spare capacity would be memory
/// the budget does not count), and the part of the memory budget it holds
/// (released when dropped).
struct Body {
    chunks: std::collections::VecDeque<Bytes>,
    _held: Option<OwnedSemaphorePermit>,
}

impl std::io::Read for Body {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use hyper::body::Buf;
        while let Some(front) = self.chunks.front_mut() {
            if front.is_empty() {
                self.chunks.pop_front();
                continue;
            }
            let n = out.len().min(front.len());
            out[..n].copy_from_slice(&front[..n]);
            front.advance(n);
            return Ok(n);
        }
        Ok(0)
    }
}

/// Reads `body` up to `max` bytes: the first `allowance` bytes freely, the
/// rest only as the shared `budget` has room. `Err` is the refusal.
async fn read_body(
    mut body: Incoming,
    max: usize,
    allowance: usize,
    budget: &Arc<Semaphore>,
) -> Result<Body, Response<Full<Bytes>>> {
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {max} bytes"),
        )
    };
    let mut chunks = std::collections::VecDeque::new();
    let mut len = 0;
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| refuse(StatusCode::BAD_REQUEST, &e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = len + data.len();
        if total > max {
            return Err(too_large());
        }
        // Bytes beyond the allowance come from the budget.
        let beyond = total.saturating_sub(allowance) - len.saturating_sub(allowance);
        if beyond > 0 {
            let n = u32::try_from(beyond).map_err(|_| too_large())?;
            let permit = budget
                .clone()
                .acquire_many_owned(n)
                .await
                .map_err(|_| refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
            match held.as_mut() {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
        }
        len = total;
        chunks.push_back(data);
    }
    Ok(Body {
        chunks,
        _held: held,
    })
}

async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
    tracker: &Tracker,
) -> Response<Full<Bytes>> {
    let limits = &shared.limits;
    let path = req.uri().path().to_owned();
    if !PATHS.contains(&path.as_str()) {
        return refuse(StatusCode::NOT_FOUND, "not a webhook path");
    }
    if req.method() != hyper::Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "only POST of an AdmissionReview",
        );
    }
    let json = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an AdmissionReview is application/json",
        );
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {} bytes", limits.max_body_bytes),
        );
    }
    let body = match read_body(
        req.into_body(),
        limits.max_body_bytes,
        limits.body_allowance_bytes,
        &shared.budget,
    )
    .await
    {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    tracker.set(Phase::Answering);
    let review: AdmissionReview<DynamicObject> = match serde_json::from_reader(body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let response = review::answer(&path, &request, &shared.state);
    tracing::debug!(
        path,
        kind = request.kind.kind,
        namespace = request.namespace,
        name = request.name,
        allowed = response.allowed,
        "admission"
    );
    match serde_json::to_vec(&response.into_review()) {
        Ok(b) => respond(StatusCode::OK, b),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
