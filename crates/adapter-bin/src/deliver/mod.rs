//! Delivery: one CloudEvent to the sink, retried until it is accepted or finally refused;
//! refused events go to the dead-letter sink when there is one.
//!
//! Delivery is in order: the adapter hands events over one at a time and moves its checkpoint
//! only past events whose [`Outcome`] is final (delivered, dead-lettered or rejected). A sink
//! that is down is retried forever with backoff (readiness turns false meanwhile), so nothing is
//! lost while it is away.

mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub use retry::{Backoff, Verdict, classify_status, jitter, parse_retry_after};

use crate::telemetry::Metrics;

/// A CloudEvent ready to send: binary-mode headers (`ce-*`, `content-type`) and the body.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The CloudEvent `id`.
    pub id: String,
    /// The CloudEvent `type`.
    pub event_type: String,
    /// HTTP headers.
    pub headers: HeaderMap,
    /// The payload.
    pub body: Bytes,
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The sink accepted the event (2xx).
    Delivered {
        /// Attempts made.
        attempts: u32,
    },
    /// The sink refused the event for good; the dead-letter sink accepted it.
    DeadLettered {
        /// The sink's final status.
        status: u16,
    },
    /// The sink refused the event for good and there is no dead-letter sink (or it refused
    /// too); logged and counted.
    Rejected {
        /// The final status.
        status: u16,
    },
    /// Shutdown came before the event was accepted; it stays undelivered (not checkpointed).
    Cancelled,
}

impl Outcome {
    /// Whether the checkpoint may move past this event.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Outcome::Cancelled)
    }
}

/// Settings for [`Sink`].
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Where events go (`K_SINK`).
    pub url: url::Url,
    /// Where finally refused events go (`K_DEAD_LETTER_SINK`).
    pub dead_letter: Option<url::Url>,
    /// Per-request timeout (`K_SINK_TIMEOUT`, default 30 s).
    pub timeout: Duration,
    /// Extra trusted CAs for https sinks (`K_CA_CERTS`, PEM).
    pub ca_certs: Option<String>,
    /// Waits between attempts.
    pub backoff: Backoff,
}

/// Why a sink client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// `K_CA_CERTS` is not PEM.
    #[error("invalid K_CA_CERTS: {0}")]
    CaCerts(String),
    /// The HTTP client could not be built.
    #[error("cannot build the sink HTTP client: {0}")]
    Client(String),
}

/// A keep-alive HTTP client for the sink and the dead-letter sink.
#[derive(Clone)]
pub struct Sink {
    http: reqwest::Client,
    config: Arc<SinkConfig>,
    metrics: Arc<Metrics>,
}

impl Sink {
    /// Build the client.
    pub fn new(config: SinkConfig, metrics: Arc<Metrics>) -> Result<Self, SinkError> {
        vsphere_client::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "vmware-sources-adapter/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(pem) = &config.ca_certs {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| SinkError::CaCerts(e.to_string()))?;
            if certs.is_empty() {
                return Err(SinkError::CaCerts("no certificate in the PEM".into()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| SinkError::Client(e.to_string()))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            metrics,
        })
    }

    /// The sink URL.
    pub fn url(&self) -> &url::Url {
        &self.config.url
    }

    /// Deliver one event: retry while the sink answers with a retryable status or not at all,
    /// dead-letter or log a final refusal, stop when `cancel` fires.
    pub async fn deliver(&self, event: &Outgoing, cancel: &CancellationToken) -> Outcome {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (verdict, status, retry_after, detail) = self
                .attempt(&self.config.url, &event.headers, &event.body)
                .await;
            match verdict {
                Verdict::Accepted => {
                    self.metrics.sent.inc();
                    self.metrics.observe_delivery(started.elapsed());
                    self.metrics.set_sink_up(true);
                    return Outcome::Delivered { attempts: attempt };
                }
                Verdict::Final => {
                    self.metrics.set_sink_up(true);
                    return self.refused(event, status, detail, cancel).await;
                }
                Verdict::Retry => {
                    self.metrics.retried.inc();
                    if attempt >= 3 {
                        self.metrics.set_sink_up(false);
                    }
                    let wait = self
                        .config
                        .backoff
                        .delay(attempt, retry_after, retry::jitter());
                    warn!(
                        id = %event.id, attempt, status, error = %detail,
                        retry_in_ms = wait.as_millis() as u64,
                        "sink did not accept the event; retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Outcome::Cancelled,
                    }
                }
            }
        }
    }

    async fn refused(
        &self,
        event: &Outgoing,
        status: u16,
        detail: String,
        cancel: &CancellationToken,
    ) -> Outcome {
        let Some(dls) = &self.config.dead_letter else {
            self.metrics.failed.inc();
            warn!(id = %event.id, event_type = %event.event_type, status, error = %detail,
                "sink refused the event and there is no dead-letter sink; dropping it");
            return Outcome::Rejected { status };
        };
        let mut headers = event.headers.clone();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        put("ce-knativeerrordest", self.config.url.to_string());
        put("ce-knativeerrorcode", status.to_string());
        if !detail.is_empty() {
            use base64::Engine as _;
            put(
                "ce-knativeerrordata",
                base64::engine::general_purpose::STANDARD.encode(detail.as_bytes()),
            );
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (verdict, dls_status, retry_after, dls_detail) =
                self.attempt(dls, &headers, &event.body).await;
            match verdict {
                Verdict::Accepted => {
                    self.metrics.dead_lettered.inc();
                    warn!(id = %event.id, status, "sink refused the event; sent to the dead-letter sink");
                    return Outcome::DeadLettered { status };
                }
                Verdict::Final => {
                    self.metrics.failed.inc();
                    warn!(id = %event.id, status, dead_letter_status = dls_status, error = %dls_detail,
                        "sink and dead-letter sink refused the event; dropping it");
                    return Outcome::Rejected { status };
                }
                Verdict::Retry => {
                    self.metrics.retried.inc();
                    let wait = self
                        .config
                        .backoff
                        .delay(attempt, retry_after, retry::jitter());
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Outcome::Cancelled,
                    }
                }
            }
        }
    }

    /// One POST: the verdict, the status (0 for transport errors), `Retry-After`, and a detail
    /// for logs.
    async fn attempt(
        &self,
        url: &url::Url,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> (Verdict, u16, Option<Duration>, String) {
        let req = self.http.post(url.clone()).headers(headers.clone());
        match req.body(body.clone()).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                let verdict = classify_status(status);
                let detail = if verdict == Verdict::Accepted {
                    String::new()
                } else {
                    // Drain a little of the body for the log; keep the connection reusable.
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(200).collect();
                    format!("HTTP {status} {text}")
                };
                debug!(status, "sink answered");
                (verdict, status, retry_after, detail)
            }
            Err(e) => (Verdict::Retry, 0, None, error_chain(&e)),
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        source = s.source();
    }
    out
}
