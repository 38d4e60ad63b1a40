//! HTTP for SOAP: TLS settings, proxies, timeouts, the session cookie and a cap on response size.
//!
//! The `vmware_soap_session` cookie is kept here rather than in a cookie jar: jars refuse to send
//! `Secure` cookies over plain http (simulators, TLS-terminating sidecars), and vCenter may quote
//! the value. The cookie is a credential: it is never logged.

use std::sync::RwLock;
use std::time::Duration;

use crate::endpoint::{Endpoint, Secret};
use crate::error::{Error, ResponseHead};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vmware_soap_session";

/// TLS, timeout and size settings for the HTTP connection.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Skip certificate verification (`VC_INSECURE`). Off by default.
    pub insecure: bool,
    /// Extra trusted CA certificates (PEM, one or more) for vCenters with private CAs.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one request and its response.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            insecure: false,
            ca_bundle_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_response_bytes: 64 << 20,
        }
    }
}

pub use crate::tls::ca_certificates;

/// The rustls configuration this crate's clients use (ring, the platform verifier plus the
/// certificates of `ca_bundle_pem`, or no verification when `insecure`), for reqwest's
/// `tls_backend_preconfigured`. binding-env's REST client shares it.
pub fn tls_config(
    insecure: bool,
    ca_bundle_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, Error> {
    let extra_roots = match ca_bundle_pem {
        Some(pem) => ca_certificates(pem)?,
        None => Vec::new(),
    };
    crate::tls::client_config(insecure, extra_roots)
}

/// Append the PEM text `pem` to a CA bundle, starting on a line of its own.
pub fn append_pem(bundle: &mut Vec<u8>, pem: &[u8]) {
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(pem);
}

/// Install ring as the process-wide rustls provider unless one is installed already. For
/// binaries that build their own rustls or reqwest clients, at start-up; this crate's clients
/// never call it (they choose ring per client).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing a provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A raw SOAP exchange result: status and body bytes.
pub(crate) struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
}

/// The HTTP side of a SOAP client.
pub(crate) struct Transport {
    http: reqwest::Client,
    endpoint: Endpoint,
    config: TransportConfig,
    cookie: RwLock<Option<Secret>>,
}

impl Transport {
    pub fn new(endpoint: Endpoint, config: TransportConfig) -> Result<Self, Error> {
        let tls = tls_config(config.insecure, config.ca_bundle_pem.as_deref())?;
        let builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vmware-sources/", env!("CARGO_PKG_VERSION")));
        let http = builder.build().map_err(|e| Error::Config {
            reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
        })?;
        Ok(Self {
            http,
            endpoint,
            config,
            cookie: RwLock::new(None),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn has_cookie(&self) -> bool {
        self.cookie.read().map(|c| c.is_some()).unwrap_or(false)
    }

    pub fn clear_cookie(&self) {
        if let Ok(mut c) = self.cookie.write() {
            *c = None;
        }
    }

    pub fn cookie(&self) -> Option<Secret> {
        self.cookie.read().ok().and_then(|c| c.clone())
    }

    /// POST a SOAP envelope; `timeout` overrides the request timeout (long polls).
    pub async fn post(
        &self,
        soap_action: &str,
        body: String,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error> {
        let mut req = self
            .http
            .post(self.endpoint.url().clone())
            .header("Content-Type", r#"text/xml; charset="utf-8""#)
            .header("SOAPAction", soap_action)
            .body(body);
        if let Some(cookie) = self.cookie() {
            req = req.header("Cookie", format!("{SESSION_COOKIE}={}", cookie.expose()));
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let mut resp = req.send().await.map_err(|e| self.send_error(e, timeout))?;
        self.take_cookie(resp.headers());
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let limit = self.config.max_response_bytes;
        // Announced too large: only its head is read (for the error), never the rest.
        let announced_too_large = resp.content_length().is_some_and(|len| len > limit as u64);
        let mut body = Vec::with_capacity(
            resp.content_length()
                .unwrap_or(8192)
                .min(1 << 20)
                .min(limit as u64) as usize,
        );
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.send_error(e, timeout))?
        {
            let over = if announced_too_large {
                body.len() + chunk.len() >= ResponseHead::LIMIT
            } else {
                body.len() + chunk.len() > limit
            };
            if over {
                let room = ResponseHead::LIMIT.saturating_sub(body.len().min(ResponseHead::LIMIT));
                body.truncate(ResponseHead::LIMIT);
                body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                return Err(Error::ResponseTooLarge {
                    endpoint: self.endpoint.to_string(),
                    limit,
                    head: ResponseHead(body),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if announced_too_large {
            // Announced too large, and short enough to fit in the head.
            return Err(Error::ResponseTooLarge {
                endpoint: self.endpoint.to_string(),
                limit,
                head: ResponseHead(body),
            });
        }
        Ok(RawResponse {
            status,
            body,
            content_type,
        })
    }

    fn send_error(&self, e: reqwest::Error, timeout: Option<Duration>) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                endpoint: self.endpoint.to_string(),
                after: timeout.unwrap_or(self.config.request_timeout),
            }
        } else {
            Error::Connect {
                endpoint: self.endpoint.to_string(),
                detail: error_chain(&e),
            }
        }
    }

    /// Keep the session cookie from `Set-Cookie`, quoted or not.
    fn take_cookie(&self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            if let Some(v) = parse_session_cookie(value)
                && let Ok(mut c) = self.cookie.write()
            {
                *c = Some(Secret::new(v));
            }
        }
    }
}

/// The value of `vmware_soap_session` in a `Set-Cookie` header, as it must be sent back (quotes
/// kept, since vCenter issued it that way).
pub(crate) fn parse_session_cookie(set_cookie: &str) -> Option<String> {
    let first = set_cookie.split(';').next()?;
    let (name, value) = first.split_once('=')?;
    if name.trim() != SESSION_COOKIE {
        return None;
    }
    let value = value.trim();
    let bare = value.trim_matches('"');
    if bare.is_empty() {
        return None;
    }
    Some(value.to_owned())
}

/// An error and its causes, joined: reqwest's own message hides the TLS or DNS reason.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_plain_and_quoted() {
        assert_eq!(
            parse_session_cookie("vmware_soap_session=0e83710d; HttpOnly").as_deref(),
            Some("0e83710d")
        );
        assert_eq!(
            parse_session_cookie(r#"vmware_soap_session="52a1-x"; Path=/; HttpOnly; Secure"#)
                .as_deref(),
            Some(r#""52a1-x""#)
        );
        assert_eq!(parse_session_cookie("other=1; Path=/"), None);
        assert_eq!(
            parse_session_cookie("vmware_soap_session=; Max-Age=0"),
            None
        );
    }
}
