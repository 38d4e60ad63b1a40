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

use std::sync::OnceLock;
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
/// and keeps them in memory, and a sink over plain http with no proxy needs neither.
pub(super) struct SinkClient {
    /// For http URLs.
    plain: Client<HttpConnector, Full<Bytes>>,
    /// For https URLs.
    tls: OnceLock<Result<TlsClient, String>>,
    /// For URLs the proxy settings send to a proxy.
    proxied: OnceLock<Result<reqwest::Client, String>>,
    proxies: Matcher,
    user_agent: HeaderValue,
    timeout: Duration,
    /// The certificates trusted beyond the system's, and their PEM texts.
    extra_certs: Vec<CertificateDer<'static>>,
    extra_pem: Vec<u8>,
}

impl SinkClient {
    /// A client trusting the system's CAs and those of `config` (`K_CA_CERTS`,
    /// `K_DEAD_LETTER_SINK_CA_CERTS`, the trust bundles).
    pub(super) fn new(config: &SinkConfig) -> Result<Self, SinkError> {
        // For reqwest here, and the binary's other reqwest clients (which have relied on it).
        vsphere_client::install_crypto_provider();
        let mut extra_certs = Vec::new();
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
            extra_certs.extend(certs);
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
            extra_certs.extend(certs);
            vsphere_client::transport::append_pem(&mut extra_pem, bundle.pem.as_bytes());
        }
        let client = Self {
            plain: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_timer(TokioTimer::new())
                .build(tcp_connector(config.timeout)),
            tls: OnceLock::new(),
            proxied: OnceLock::new(),
            proxies: Matcher::from_env(),
            user_agent: HeaderValue::from_static(USER_AGENT),
            timeout: config.timeout,
            extra_certs,
            extra_pem,
        };
        for url in std::iter::once(&config.url).chain(&config.dead_letter) {
            let uri: Uri = url
                .as_str()
                .parse()
                .map_err(|e| SinkError::Client(format!("invalid URL {url}: {e}")))?;
            if client.proxies.intercept(&uri).is_some() {
                client.proxied().map_err(SinkError::Client)?;
            } else if url.scheme() == "https" {
                client.tls().map_err(SinkError::Client)?;
            }
        }
        Ok(client)
    }

    /// The https client, built on first use.
    fn tls(&self) -> Result<&TlsClient, String> {
        let built = self.tls.get_or_init(|| {
            let extra = (!self.extra_pem.is_empty()).then_some(self.extra_pem.as_slice());
            let mut tls = vsphere_client::transport::tls_config(false, extra)
                .map_err(|e| format!("cannot set up TLS for the sink: {e}"))?;
            // HTTP/1.1 only (the connector sets ALPN to match): one request per connection at
            // a time, as many connections as the delivery concurrency asks for.
            tls.alpn_protocols.clear();
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp_connector(self.timeout));
            Ok(Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_timer(TokioTimer::new())
                .build(connector))
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// The client for requests through a proxy, built on first use.
    fn proxied(&self) -> Result<&reqwest::Client, String> {
        let built = self.proxied.get_or_init(|| {
            let mut builder = reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(connect_timeout(self.timeout))
                .pool_idle_timeout(IDLE_TIMEOUT)
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(USER_AGENT);
            for cert in &self.extra_certs {
                let cert = reqwest::Certificate::from_der(cert)
                    .map_err(|e| format!("cannot trust a sink CA certificate: {e}"))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build()
                .map_err(|e| format!("cannot build the sink client for the proxy: {e}"))
        });
        built.as_ref().map_err(Clone::clone)
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
                .proxied()?
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
            self.tls()?.request(request).await
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
