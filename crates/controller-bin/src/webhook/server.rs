//! The HTTPS server: TLS, HTTP/1.1, the limits a client meets
//! ([`ServerLimits`]), and the AdmissionReview in and out of each request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};

use super::WebhookError;
use super::review::{self, WebhookState};
use crate::certs::CertResolver;

/// What one client may hold of the webhook server.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// The largest request body (3 MiB: the API server's own request limit).
    pub max_body_bytes: usize,
    /// Time for the TLS handshake (10 s).
    pub handshake_timeout: Duration,
    /// Time for the request headers once the TLS session is up (10 s).
    pub header_timeout: Duration,
    /// Time for a whole connection: handshake, request, answer (30 s, the
    /// API server's longest webhook timeout).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen queue (256).
    pub max_connections: usize,
    /// After a shutdown signal, how long the server keeps answering (so
    /// requests routed before the endpoint is removed still succeed), 5 s.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 3 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            drain: Duration::from_secs(5),
        }
    }
}

/// Binds `addr` and serves the webhooks over TLS with the certificates of
/// `resolver`, within `limits`, until `shutdown` (then `limits.drain`
/// longer). Returns the bound address through `bound`.
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
    let state = Arc::new(state);
    let max = limits.max_connections.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let limits = Arc::new(limits);
    // Go's http.Server backs off the same way on accept errors (EMFILE...).
    let mut backoff = Duration::ZERO;
    let drain = limits.drain;
    let stop = async move {
        shutdown.await;
        tracing::info!(?drain, "webhook server draining");
        tokio::time::sleep(drain).await;
    };
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
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
        let acceptor = acceptor.clone();
        let state = state.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let connection = serve_connection(acceptor, tcp, state, &limits);
            match tokio::time::timeout(limits.request_timeout, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "webhook connection"),
                Err(_) => tracing::debug!(%peer, "webhook connection timed out; closed"),
            }
        });
    }
    // Let the requests in flight finish.
    let in_flight = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.request_timeout, permits.acquire_many(in_flight)).await;
    tracing::info!("webhook server stopped");
    Ok(())
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    state: Arc<WebhookState>,
    limits: &ServerLimits,
) -> Result<(), String> {
    let tls = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let max_body = limits.max_body_bytes;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(req, &state, max_body).await) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
        .await
        .map_err(|e| e.to_string())
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

fn too_large(max: usize) -> Response<Full<Bytes>> {
    respond(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{{\"message\":\"request body over {max} bytes\"}}").into_bytes(),
    )
}

async fn handle(
    req: Request<Incoming>,
    state: &WebhookState,
    max_body: usize,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if req.method() == hyper::Method::GET && (path == "/healthz" || path == "/readyz") {
        return respond(StatusCode::OK, b"{}".to_vec());
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return too_large(max_body);
    }
    let body = match Limited::new(req.into_body(), max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(max_body),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let response = review::answer(&path, &request, state);
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
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string().into_bytes(),
        ),
    }
}
