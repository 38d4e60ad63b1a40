//! The HTTP client that carries events to the sinks: keep-alive HTTP/1.1 connections pooled per
//! origin (hyper-util's client, TLS by rustls), and reqwest for a sink reached through a proxy.
//!
//! A catch-up sends one request per event, thousands a second, so the cost of a request is the
//! adapter's cost of an event. reqwest, on top of the same hyper-util client, parses the URL
//! twice per request (for its redirect layer, which it runs even when told not to follow
//! redirects), clones its client and moves its request futures through a retry and a redirect
//! layer. Sending through hyper-util directly, the image's adapter caught up on 20,000 events
//! with 0.44–0.50 cpu-s instead of 0.57–0.60. Redirects, retries and timeouts are the
//! [deliverer's](super::Sink) own anyway.
//!
//! `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured as reqwest (and Go's
//! `http.ProxyFromEnvironment`) honour them: a request they send to a proxy goes through
//! reqwest, which implements proxying; every other request goes direct.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::sync::OnceCell;
use tracing::{debug, warn};

use super::{SinkConfig, SinkError, error_chain};

/// How long an unused connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("vmware-sources-adapter/", env!("CARGO_PKG_VERSION"));

/// An answer, from whichever client carried the request.
pub(super) enum Answer {
    /// Sent directly.
    Direct(Response<Incoming>),
    /// Sent through a proxy, by reqwest.
    Proxied(Response<reqwest::Body>),
}

/// The client for https URLs.
type TlsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The sinks' client ([module docs](self)).
///
/// Its TLS client and its proxied client are built when first needed (at once when the sink or
/// the dead-letter sink needs them, so that a configuration they refuse stops the start-up):
/// each loads the system's CA certificates, which takes longer than thousands of plain requests
/// and keeps them in memory, and a sink over plain http with no proxy needs neither. Built
/// later, they are built on tokio's blocking threads, not on the runtime's.
pub(super) struct SinkClient {
    /// For http URLs.
    plain: Client<HttpConnector, Full<Bytes>>,
    /// For https URLs.
    tls: OnceCell<TlsClient>,
    /// For URLs the proxy settings send to a proxy.
    proxied: OnceCell<reqwest::Client>,
    proxies: Matcher,
    user_agent: HeaderValue,
    timeout: Duration,
    /// The PEM texts of the CAs trusted beyond the system's.
    extra_pem: Arc<[u8]>,
}

impl SinkClient {
    /// A client trusting the system's CAs and those of `config` (`K_CA_CERTS`,
    /// `K_DEAD_LETTER_SINK_CA_CERTS`, the trust bundles).
    pub(super) fn new(config: &SinkConfig) -> Result<Self, SinkError> {
        // For reqwest here, and the binary's other reqwest clients (which have relied on it).
        vsphere_client::install_crypto_provider();
        let mut extra_pem = Vec::new();
        let trusted = [
            (adapter_env::name::K_CA_CERTS, &config.ca_certs),
            (
                adapter_env::name::K_DEAD_LETTER_SINK_CA_CERTS,
                &config.dead_letter_ca_certs,
            ),
        ];
        for (setting, pem) in trusted {
            let Some(pem) = pem else { continue };
            let certs =
                certificates(pem).map_err(|reason| SinkError::CaCerts { setting, reason })?;
            if certs.is_empty() {
                return Err(SinkError::CaCerts {
                    setting,
                    reason: "no certificate in the PEM".into(),
                });
            }
            vsphere_client::transport::append_pem(&mut extra_pem, pem.as_bytes());
        }
        for bundle in &config.trust_bundles {
            let certs = certificates(&bundle.pem).map_err(|reason| SinkError::TrustBundle {
                file: bundle.file.clone(),
                reason,
            })?;
            if certs.is_empty() {
                warn!(file = %bundle.file, "a trust bundle without a certificate: skipped");
                continue;
            }
            debug!(file = %bundle.file, certificates = certs.len(), "trusting a trust bundle");
            vsphere_client::transport::append_pem(&mut extra_pem, bundle.pem.as_bytes());
        }
        let proxies = Matcher::from_env();
        let (mut tls, mut proxied) = (OnceCell::new(), OnceCell::new());
        for url in std::iter::once(&config.url).chain(&config.dead_letter) {
            let uri: Uri = url
                .as_str()
                .parse()
                .map_err(|e| SinkError::Client(format!("invalid URL {url}: {e}")))?;
            if proxies.intercept(&uri).is_some() {
                if !proxied.initialized() {
                    let client = build_proxied(config.timeout, &extra_pem);
                    proxied = OnceCell::new_with(Some(client.map_err(SinkError::Client)?));
                }
            } else if url.scheme() == "https" && !tls.initialized() {
                let client = build_tls(config.timeout, &extra_pem);
                tls = OnceCell::new_with(Some(client.map_err(SinkError::Client)?));
            }
        }
        Ok(Self {
            plain: pooled(tcp_connector(config.timeout)),
            tls,
            proxied,
            proxies,
            user_agent: HeaderValue::from_static(USER_AGENT),
            timeout: config.timeout,
            extra_pem: extra_pem.into(),
        })
    }

    /// The https client, built on first use.
    async fn tls(&self) -> Result<&TlsClient, String> {
        self.tls
            .get_or_try_init(|| self.build_off_runtime(build_tls))
            .await
    }

    /// The client for requests through a proxy, built on first use.
    async fn proxied(&self) -> Result<&reqwest::Client, String> {
        self.proxied
            .get_or_try_init(|| self.build_off_runtime(build_proxied))
            .await
    }

    /// `build` on a blocking thread: it reads the system's CA certificates.
    async fn build_off_runtime<T: Send + 'static>(
        &self,
        build: fn(Duration, &[u8]) -> Result<T, String>,
    ) -> Result<T, String> {
        let (timeout, extra_pem) = (self.timeout, self.extra_pem.clone());
        tokio::task::spawn_blocking(move || build(timeout, &extra_pem))
            .await
            .map_err(|e| format!("cannot build the sink client: {e}"))?
    }

    /// POST `body` with `headers` to `url`: the answer's head (its body is read by the caller),
    /// or why there is none. No timeout here: the caller bounds the whole exchange.
    pub(super) async fn post(
        &self,
        url: &url::Url,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Answer, String> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| format!("invalid sink URL {url}: {e}"))?;
        if self.proxies.intercept(&uri).is_some() {
            let sent = self
                .proxied()
                .await?
                .post(url.clone())
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            return match sent {
                Ok(resp) => Ok(Answer::Proxied(resp.into())),
                Err(e) => Err(error_chain(&e)),
            };
        }
        let https = url.scheme() == "https";
        let mut request = Request::post(uri)
            .body(Full::new(body.clone()))
            .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
        let request_headers = request.headers_mut();
        *request_headers = headers.clone();
        request_headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        let sent = if https {
            self.tls().await?.request(request).await
        } else {
            self.plain.request(request).await
        };
        match sent {
            Ok(resp) => Ok(Answer::Direct(resp)),
            Err(e) => Err(format!(
                "error sending request for url ({url}): {}",
                error_chain(&e)
            )),
        }
    }
}

/// The https client, trusting the system's CAs and those of `extra_pem` (PEM texts).
fn build_tls(timeout: Duration, extra_pem: &[u8]) -> Result<TlsClient, String> {
    let extra = (!extra_pem.is_empty()).then_some(extra_pem);
    let mut tls = vsphere_client::transport::tls_config(false, extra)
        .map_err(|e| format!("cannot set up TLS for the sink: {e}"))?;
    // HTTP/1.1 only (the connector sets ALPN to match): one request per connection at a time,
    // as many connections as the delivery concurrency asks for.
    tls.alpn_protocols.clear();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp_connector(timeout));
    Ok(pooled(connector))
}

/// reqwest, for requests through a proxy, trusting the system's CAs and those of `extra_pem`.
fn build_proxied(timeout: Duration, extra_pem: &[u8]) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout(timeout))
        .pool_idle_timeout(IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT);
    if !extra_pem.is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(extra_pem)
            .map_err(|e| format!("cannot trust the sink CA certificates: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the sink client for the proxy: {e}"))
}

/// A client pooling `connector`'s connections, idle ones for [`IDLE_TIMEOUT`].
fn pooled<C>(connector: C) -> Client<C, Full<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// The TCP connector of both direct clients.
fn tcp_connector(timeout: Duration) -> HttpConnector {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect_timeout(timeout)));
    tcp
}

/// The connection timeout: the request timeout, at most 10 s.
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(10))
}

/// The certificates of a PEM bundle (none when it holds none).
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
