//! A real HTTP (or HTTPS) sink whose answers a test decides per request, as an ingress, a
//! broker with `authentication-oidc` on, or an EventPolicy being applied would answer: a status,
//! or a redirect with a `Location`. It records every request with its path, headers and the
//! time it came, and serves TLS with a certificate of the test's PKI when asked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rustls_pki_types::pem::PemObject as _;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request path (with the query, if any).
    pub path: String,
    /// Lower-case header names and their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Time since the sink started.
    pub at: Duration,
    /// The status it was answered with.
    pub status: u16,
    /// Requests in progress at the sink when it came, itself included.
    pub in_progress: usize,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `ce-id` as a number.
    pub fn id(&self) -> Option<i64> {
        self.header("ce-id").and_then(|v| v.parse().ok())
    }
}

/// How the sink answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This status, no body.
    Status(u16),
    /// This status (a 3xx) with `Location: <location>`.
    Redirect(u16, String),
    /// This status after holding the request this long (a sink that takes its time).
    After(Duration, u16),
}

type Rule = dyn Fn(&Seen) -> Reply + Send + Sync;

struct Shared {
    started: Instant,
    rule: Box<Rule>,
    seen: Mutex<Vec<Seen>>,
    in_progress: std::sync::atomic::AtomicUsize,
}

/// Counts a request in progress while alive.
struct InProgress<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A sink on a free loopback port; stops when dropped.
pub struct ScriptedSink {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedSink {
    /// An http sink answering each request with `rule(request)` (its `status` not yet set).
    pub async fn start(rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve(rule, None).await
    }

    /// An https sink (certificate and key in PEM, e.g. of `test_support::TestPki`).
    pub async fn start_tls(
        cert_pem: &str,
        key_pem: &str,
        rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        test_support::install_crypto_provider();
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::serve(
            rule,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn serve(
        rule: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("sink address");
        let shared = Arc::new(Shared {
            started: Instant::now(),
            rule: Box::new(rule),
            seen: Mutex::new(Vec::new()),
            in_progress: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let tls = tls.clone();
                connections.spawn(async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            // A client that does not trust the certificate ends here.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            scheme,
            shared,
            task,
        }
    }

    /// The sink's URL (path `/`), by IP address.
    pub fn url(&self) -> String {
        format!("{}://{}/", self.scheme, self.addr)
    }

    /// The sink's URL with a host name instead of the address (for a certificate's name).
    pub fn url_for_host(&self, host: &str) -> String {
        format!("{}://{host}:{}/", self.scheme, self.addr.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| (200..300).contains(&s.status))
            .collect()
    }

    /// Wait until the accepted requests carry every id of `want` (or `timeout` passes);
    /// returns the accepted requests.
    pub async fn wait_ids(
        &self,
        want: &std::collections::BTreeSet<i64>,
        timeout: Duration,
    ) -> Vec<Seen> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.accepted();
            let ids: std::collections::BTreeSet<i64> = got.iter().filter_map(Seen::id).collect();
            if want.is_subset(&ids) || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ScriptedSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let in_progress = shared
        .in_progress
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    let _counted = InProgress(&shared.in_progress);
    let mut seen = Seen {
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: shared.started.elapsed(),
        status: 0,
        in_progress,
    };
    let reply = (shared.rule)(&seen);
    let response = match &reply {
        Reply::Status(s) | Reply::After(_, s) => {
            if let Reply::After(hold, _) = &reply {
                tokio::time::sleep(*hold).await;
            }
            seen.status = *s;
            StatusCode::from_u16(*s)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Reply::Redirect(s, location) => {
            seen.status = *s;
            let mut r = StatusCode::from_u16(*s)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(axum::http::header::LOCATION, v);
            }
            r
        }
    };
    if let Ok(mut s) = shared.seen.lock() {
        s.push(seen);
    }
    response
}

/// A rule answering `status` to every request during `span` from the first one, then 202.
pub fn refuse_for(status: u16, span: Duration) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let first = std::sync::OnceLock::new();
    move |seen: &Seen| {
        let first = *first.get_or_init(|| seen.at);
        if seen.at.saturating_sub(first) < span {
            Reply::Status(status)
        } else {
            Reply::Status(202)
        }
    }
}
