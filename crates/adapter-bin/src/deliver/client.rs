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

/// The sinks' client ([module docs](self)).
#[derive(Clone)]
pub(super) struct SinkClient {
    direct: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    proxied: reqwest::Client,
    proxies: Arc<Matcher>,
    user_agent: HeaderValue,
}

impl SinkClient {
    /// A client trusting the system's CAs and those of `config` (`K_CA_CERTS`,
    /// `K_DEAD_LETTER_SINK_CA_CERTS`, the trust bundles).
    pub(super) fn new(config: &SinkConfig) -> Result<Self, SinkError> {
        // The PEM texts of every extra CA, for the direct client's rustls configuration.
        let mut extra_pem = Vec::new();
        let mut proxied = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(connect_timeout(config))
            .pool_idle_timeout(IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
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
            proxied = trust(proxied, &certs, |reason| SinkError::CaCerts {
                setting,
                reason,
            })?;
            vsphere_client::transport::append_pem(&mut extra_pem, pem.as_bytes());
        }
        for bundle in &config.trust_bundles {
            let file = || bundle.file.clone();
            let certs = certificates(&bundle.pem).map_err(|reason| SinkError::TrustBundle {
                file: file(),
                reason,
            })?;
            if certs.is_empty() {
                warn!(file = %bundle.file, "a trust bundle without a certificate: skipped");
            }
            debug!(file = %bundle.file, certificates = certs.len(), "trusting a trust bundle");
            if !certs.is_empty() {
                proxied = trust(proxied, &certs, |reason| SinkError::TrustBundle {
                    file: file(),
                    reason,
                })?;
                vsphere_client::transport::append_pem(&mut extra_pem, bundle.pem.as_bytes());
            }
        }
        vsphere_client::install_crypto_provider();
        let proxied = proxied
            .build()
            .map_err(|e| SinkError::Client(e.to_string()))?;

        let extra_pem = (!extra_pem.is_empty()).then_some(extra_pem.as_slice());
        let mut tls = vsphere_client::transport::tls_config(false, extra_pem)
            .map_err(|e| SinkError::Client(e.to_string()))?;
        // HTTP/1.1 only (the connector sets ALPN to match): one request per connection at a
        // time, as many connections as the delivery concurrency asks for.
        tls.alpn_protocols.clear();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout(config)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let direct = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            direct,
            proxied,
            proxies: Arc::new(Matcher::from_env()),
            user_agent: HeaderValue::from_static(USER_AGENT),
        })
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
                .proxied
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
        let mut request = Request::post(uri)
            .body(Full::new(body.clone()))
            .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
        let request_headers = request.headers_mut();
        *request_headers = headers.clone();
        request_headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        match self.direct.request(request).await {
            Ok(resp) => Ok(Answer::Direct(resp)),
            Err(e) => Err(format!(
                "error sending request for url ({url}): {}",
                error_chain(&e)
            )),
        }
    }
}

/// The connection timeout: the request timeout, at most 10 s.
fn connect_timeout(config: &SinkConfig) -> Duration {
    config.timeout.min(Duration::from_secs(10))
}

/// The certificates of a PEM bundle (none when it holds none).
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// `builder` trusting `certs` too.
fn trust(
    mut builder: reqwest::ClientBuilder,
    certs: &[CertificateDer<'static>],
    error: impl Fn(String) -> SinkError,
) -> Result<reqwest::ClientBuilder, SinkError> {
    for cert in certs {
        let cert = reqwest::Certificate::from_der(cert).map_err(|e| error(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}
