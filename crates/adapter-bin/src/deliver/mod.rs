//! Delivery: one CloudEvent to the sink, retried until it is accepted or finally refused;
//! refused events go to the dead-letter sink when there is one.
//!
//! The [pipeline](crate::pipeline) runs many deliveries at once, each with its own retries, and
//! moves the checkpoint only past events whose [`Outcome`] is final (delivered, dead-lettered or
//! rejected). The [`Gate`] bounds the requests to the sink at once; an event waiting to be retried
//! gives its place up meanwhile (unless strict order is asked for), so one failing event never
//! holds up the others. `spec.delivery` is honoured with Knative's meaning: `timeout` per request,
//! `backoffPolicy`/`backoffDelay` between attempts, and `retry` attempts after the first before
//! the event goes to the dead-letter sink. Without a dead-letter sink an event is never given
//! up on: it is retried until the sink takes it (readiness turns false meanwhile).

mod client;
mod gate;
pub mod identity;
mod retry;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloudevent_encode::binding::ContentMode;
use http::{HeaderMap, HeaderValue};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

pub use gate::{Gate, MIN_PERIOD, Pass, Signal};
pub use retry::{
    MAX_REDIRECTS, Verdict, classify_status, is_identity_refusal, parse_retry_after,
    redirect_target,
};

use crate::backoff::{Backoff, jitter};
use crate::encode::{Outgoing, Payload};
use crate::telemetry::Metrics;
use crate::telemetry::tracing_export::{EventSpan, EventTracer, SpanOutcome};

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The sink accepted the event (2xx).
    Delivered {
        /// Attempts made.
        attempts: u32,
    },
    /// The sink refused the event for good, or did not take it within `retry` attempts; the
    /// dead-letter sink accepted it.
    DeadLettered {
        /// The sink's last status (0: no answer).
        status: u16,
    },
    /// The sink refused the event for good and there is no dead-letter sink (or it refused
    /// too); logged and counted.
    Rejected {
        /// The final status (0: the event could not be encoded).
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
    /// Per-request timeout (`K_DELIVERY_TIMEOUT`, else `K_SINK_TIMEOUT`, default 30 s).
    pub timeout: Duration,
    /// Extra trusted CAs for https sinks (`K_CA_CERTS`, PEM).
    pub ca_certs: Option<String>,
    /// Extra trusted CAs for an https dead-letter sink (`K_DEAD_LETTER_SINK_CA_CERTS`, PEM).
    /// One client sends to both sinks, so both sets are trusted for both (as each set only
    /// adds to the system's roots, this widens nothing beyond what Knative resolved).
    pub dead_letter_ca_certs: Option<String>,
    /// Trust bundles (`K_TRUST_BUNDLES_DIR`): CAs trusted for both sinks, as Knative's
    /// adapters trust theirs. A file without a certificate is skipped (logged).
    pub trust_bundles: Vec<TrustBundle>,
    /// Waits between attempts (`K_DELIVERY_BACKOFF_POLICY`, `K_DELIVERY_BACKOFF_DELAY`).
    pub backoff: Backoff,
    /// Grow each event's waits with its own attempts, as Knative describes `backoffPolicy`
    /// (set when `spec.delivery` sets a policy or delay). Otherwise they grow with the sink's
    /// run of failed requests: an event unlucky with a sink that fails now and then is retried
    /// soon, while a sink that is down gets the full backoff.
    pub backoff_per_event: bool,
    /// Attempts after the first before dead-lettering (`K_DELIVERY_RETRY`); without a
    /// dead-letter sink retries never stop.
    pub retry: Option<u32>,
    /// The OIDC identity sent to the sinks with an audience (`K_OIDC_SERVICE_ACCOUNT`,
    /// `K_AUDIENCE`, `K_DEAD_LETTER_SINK_AUDIENCE`); `None`: no `Authorization` header.
    pub oidc: Option<identity::OidcSettings>,
}

/// One trust-bundle file: its name and its PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBundle {
    /// The file's name in the trust-bundles directory.
    pub file: String,
    /// Its content.
    pub pem: String,
}

/// Why a sink client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// `K_CA_CERTS` or `K_DEAD_LETTER_SINK_CA_CERTS` is not PEM.
    #[error("invalid {setting}: {reason}")]
    CaCerts {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// A trust-bundle file holds a certificate that does not parse.
    #[error(
        "invalid trust bundle {file:?} in {}: {reason} (fix or remove the ConfigMap labelled \
         networking.knative.dev/trust-bundle it comes from)",
        adapter_env::name::K_TRUST_BUNDLES_DIR
    )]
    TrustBundle {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the sink HTTP client: {0}")]
    Client(String),
}

impl SinkError {
    /// The setting to fix.
    pub fn setting(&self) -> &'static str {
        match self {
            SinkError::CaCerts { setting, .. } => setting,
            SinkError::TrustBundle { .. } => adapter_env::name::K_TRUST_BUNDLES_DIR,
            SinkError::Client(_) => adapter_env::name::K_SINK,
        }
    }
}

/// Where the pipeline delivers: a sink over HTTP, or stdout (JSON lines) for local runs.
#[derive(Clone)]
pub enum Target {
    /// A CloudEvents sink: binary mode, as the Go adapter sends.
    Http(Sink),
    /// Structured CloudEvents, one JSON object per line.
    Stdout,
}

impl Target {
    /// Whether deliveries are traced (each event's read time is then kept for its span).
    pub fn traced(&self) -> bool {
        matches!(self, Target::Http(sink) if sink.tracer.is_some())
    }

    /// How events are encoded for this target.
    pub fn mode(&self) -> ContentMode {
        match self {
            Target::Http(_) => ContentMode::Binary,
            Target::Stdout => ContentMode::Structured,
        }
    }

    /// Deliver one encoded event through `pass`; `cancel` abandons it (shutdown grace over).
    pub async fn deliver(
        &self,
        payload: Payload,
        pass: Pass,
        metrics: &Metrics,
        cancel: &CancellationToken,
    ) -> Outcome {
        let outgoing = match payload {
            Ok(outgoing) => outgoing,
            Err(why) => {
                error!(error = %why, "cannot encode the event; skipping it");
                metrics.failed.inc();
                return Outcome::Rejected { status: 0 };
            }
        };
        match self {
            Target::Http(sink) => sink.deliver(&outgoing, pass, cancel).await,
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                match out.write_all(&outgoing.body).and_then(|_| out.flush()) {
                    Ok(()) => {
                        metrics.sent.inc();
                        Outcome::Delivered { attempts: 1 }
                    }
                    Err(e) => {
                        error!(error = %e, "cannot write to stdout");
                        Outcome::Cancelled
                    }
                }
            }
        }
    }
}

/// A keep-alive HTTP client for the sink and the dead-letter sink.
#[derive(Clone)]
pub struct Sink {
    http: Arc<client::SinkClient>,
    config: Arc<SinkConfig>,
    metrics: Arc<Metrics>,
    /// Requests in a row the sink did not take (any event); reset by an answer it means.
    failing_run: Arc<std::sync::atomic::AtomicU32>,
    /// Where the sink moved permanently (a 308 from it): later events go there directly.
    moved_to: Arc<std::sync::RwLock<Option<url::Url>>>,
    /// Redirect locations already logged (one line per new location).
    logged_locations: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// OIDC tokens for the sinks' audiences ([`Sink::with_tokens`]).
    tokens: Option<Arc<identity::Tokens>>,
    /// With tracing on: a span per event and a `traceparent` on its requests.
    tracer: Option<Arc<EventTracer>>,
}

/// Which of the two sinks a request goes to (for its OIDC audience).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Sink,
    DeadLetterSink,
}

/// One attempt's result.
struct Attempt {
    verdict: Verdict,
    /// 0 for transport errors.
    status: u16,
    retry_after: Option<Duration>,
    detail: String,
}

impl Attempt {
    /// What this answer, `rtt` after the request, says about the sink's load: 429, 503 and no
    /// answer (a timeout, no connection) push back; anything else is a round trip.
    fn signal(&self, rtt: Duration) -> Signal {
        match self.status {
            0 | 429 | 503 => Signal::PushBack {
                retry_after: self.retry_after,
            },
            _ => Signal::Answered { rtt },
        }
    }
}

impl Sink {
    /// Build the client.
    pub fn new(config: SinkConfig, metrics: Arc<Metrics>) -> Result<Self, SinkError> {
        let http = Arc::new(client::SinkClient::new(&config)?);
        Ok(Self {
            http,
            config: Arc::new(config),
            metrics,
            failing_run: Arc::default(),
            moved_to: Arc::default(),
            logged_locations: Arc::default(),
            tokens: None,
            tracer: None,
        })
    }

    /// Send `Authorization: Bearer <token>` to each sink that has an audience in
    /// [`SinkConfig::oidc`], with tokens from `tokens`.
    pub fn with_tokens(mut self, tokens: Arc<identity::Tokens>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The OIDC audience of requests to `to`, when tokens are sent to it.
    fn audience(&self, to: To) -> Option<&str> {
        self.tokens.as_ref()?;
        let oidc = self.config.oidc.as_ref()?;
        match to {
            To::Sink => oidc.audience.as_deref(),
            To::DeadLetterSink => oidc.dead_letter_audience.as_deref(),
        }
    }

    /// Trace every delivery with `tracer` ([`crate::telemetry::tracing_export`]).
    pub fn with_tracer(mut self, tracer: Arc<EventTracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// The sink URL.
    pub fn url(&self) -> &url::Url {
        &self.config.url
    }

    /// Where events go now: the sink URL, or where a 308 from it moved it.
    fn current_url(&self) -> url::Url {
        self.moved_to
            .read()
            .ok()
            .and_then(|moved| moved.clone())
            .unwrap_or_else(|| self.config.url.clone())
    }

    /// Deliver one event: retry while the sink answers with a retryable status or not at all,
    /// dead-letter a final refusal (or an event still refused after `retry` retries), stop when
    /// `cancel` fires (also in the middle of a request).
    pub async fn deliver(
        &self,
        event: &Outgoing,
        pass: Pass,
        cancel: &CancellationToken,
    ) -> Outcome {
        let Some(tracer) = &self.tracer else {
            return self
                .deliver_with(event, &event.headers, pass, cancel, None)
                .await;
        };
        let mut span = tracer.start(&event.id, &event.event_type, self.url(), event.read_at);
        let headers = tracer.headers(&span, &event.headers);
        let outcome = self
            .deliver_with(event, &headers, pass, cancel, Some(&mut span))
            .await;
        span.end(match outcome {
            Outcome::Delivered { .. } => SpanOutcome::Delivered,
            Outcome::DeadLettered { .. } => SpanOutcome::DeadLettered,
            Outcome::Rejected { .. } => SpanOutcome::Rejected,
            Outcome::Cancelled => SpanOutcome::Cancelled,
        });
        outcome
    }

    /// [`Sink::deliver`] with these headers (the event's, with a `traceparent` when traced),
    /// each attempt recorded in `span`.
    async fn deliver_with(
        &self,
        event: &Outgoing,
        headers: &HeaderMap,
        mut pass: Pass,
        cancel: &CancellationToken,
        mut span: Option<&mut EventSpan>,
    ) -> Outcome {
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut said_no_dead_letter = false;
        loop {
            attempt += 1;
            let url = self.current_url();
            let sent = Instant::now();
            let Some(a) = self
                .attempt(To::Sink, &url, headers, &event.body, cancel)
                .await
            else {
                return Outcome::Cancelled;
            };
            pass.gate().observe(a.signal(sent.elapsed()));
            if let Some(span) = span.as_deref_mut() {
                span.attempt(a.status);
            }
            if is_identity_refusal(a.status) {
                if self.metrics.identity_refusal(a.status) {
                    warn!(id = %event.id, status = a.status, sink = %url, error = %a.detail,
                        "the sink refuses the adapter's identity; retrying (a broker with authentication-oidc before the source has a token, or an EventPolicy not yet applied)");
                }
            } else if a.verdict == Verdict::Accepted && self.metrics.identity_accepted() {
                tracing::info!(sink = %url, "the sink accepts the adapter's identity again");
            }
            match a.verdict {
                Verdict::Accepted => {
                    self.metrics.sent.inc();
                    self.metrics.go.settled(&event.event_type, a.status);
                    self.metrics.observe_delivery(started.elapsed());
                    self.metrics.set_sink_up(true);
                    return Outcome::Delivered { attempts: attempt };
                }
                Verdict::Final | Verdict::Redirect => {
                    self.metrics.set_sink_up(true);
                    return self
                        .refused(event, headers, a.status, a.detail, pass, cancel, span)
                        .await;
                }
                Verdict::Retry => {
                    self.metrics.retried.inc();
                    self.metrics.go.retried(&event.event_type, a.status);
                    if attempt >= 3 {
                        self.metrics.set_sink_up(false);
                    }
                    if let Some(retry) = self.config.retry
                        && attempt > retry
                    {
                        if self.config.dead_letter.is_some() {
                            warn!(id = %event.id, attempts = attempt, status = a.status, error = %a.detail,
                                "the sink did not accept the event within the retries allowed");
                            return self
                                .refused(event, headers, a.status, a.detail, pass, cancel, span)
                                .await;
                        }
                        if !said_no_dead_letter {
                            said_no_dead_letter = true;
                            warn!(id = %event.id, attempts = attempt,
                                "retries exhausted but there is no dead-letter sink; retrying until the sink accepts the event");
                        }
                    }
                    let wait = self.retry_wait(attempt, a.retry_after);
                    warn!(
                        id = %event.id, attempt, status = a.status, error = %a.detail,
                        retry_in_ms = wait.as_millis() as u64,
                        "sink did not accept the event; retrying"
                    );
                    if !pass.wait_to_retry(wait, cancel).await {
                        return Outcome::Cancelled;
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // why: the event's delivery state, passed on as is
    async fn refused(
        &self,
        event: &Outgoing,
        headers: &HeaderMap,
        status: u16,
        detail: String,
        mut pass: Pass,
        cancel: &CancellationToken,
        mut span: Option<&mut EventSpan>,
    ) -> Outcome {
        self.metrics.go.settled(&event.event_type, status);
        let Some(dls) = &self.config.dead_letter else {
            self.metrics.failed.inc();
            warn!(id = %event.id, event_type = %event.event_type, status, error = %detail,
                "sink refused the event and there is no dead-letter sink; dropping it");
            return Outcome::Rejected { status };
        };
        let mut headers = headers.clone();
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
            let Some(a) = self
                .attempt(To::DeadLetterSink, dls, &headers, &event.body, cancel)
                .await
            else {
                return Outcome::Cancelled;
            };
            if let Some(span) = span.as_deref_mut() {
                span.dead_letter_attempt(a.status);
            }
            match a.verdict {
                Verdict::Accepted => {
                    self.metrics.dead_lettered.inc();
                    warn!(id = %event.id, status, "sink refused the event; sent to the dead-letter sink");
                    return Outcome::DeadLettered { status };
                }
                Verdict::Final | Verdict::Redirect => {
                    self.metrics.failed.inc();
                    warn!(id = %event.id, status, dead_letter_status = a.status, error = %a.detail,
                        "sink and dead-letter sink refused the event; dropping it");
                    return Outcome::Rejected { status };
                }
                Verdict::Retry => {
                    self.metrics.retried.inc();
                    let wait = self.retry_wait(attempt, a.retry_after);
                    if !pass.wait_to_retry(wait, cancel).await {
                        return Outcome::Cancelled;
                    }
                }
            }
        }
    }

    /// The wait before the next attempt of an event that failed `attempt` times.
    fn retry_wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        use std::sync::atomic::Ordering;
        let n = if self.config.backoff_per_event {
            attempt
        } else {
            attempt.min(self.failing_run.load(Ordering::Relaxed).max(1))
        };
        self.config.backoff.delay(n, retry_after, jitter())
    }

    /// One POST, abandoned when `cancel` fires (`None`).
    async fn attempt(
        &self,
        to: To,
        url: &url::Url,
        headers: &HeaderMap,
        body: &Bytes,
        cancel: &CancellationToken,
    ) -> Option<Attempt> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            a = self.post_with_identity(to, url, headers, body) => {
                use std::sync::atomic::Ordering;
                if a.verdict == Verdict::Retry {
                    self.failing_run.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.failing_run.store(0, Ordering::Relaxed);
                }
                Some(a)
            }
        }
    }

    /// One POST to `url` with a token for `to`'s audience, when it has one. A 401 to a request
    /// with a token makes that token stale (the next request gets a new one); a token that
    /// cannot be had is an attempt that failed and is retried.
    async fn post_with_identity(
        &self,
        to: To,
        url: &url::Url,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Attempt {
        let (Some(audience), Some(tokens)) = (self.audience(to), self.tokens.as_ref()) else {
            return self.post(url, headers, body).await;
        };
        let token = match tokens.get(audience).await {
            Ok(t) => t,
            Err(e) => {
                return Attempt {
                    verdict: Verdict::Retry,
                    status: 0,
                    retry_after: None,
                    detail: error_chain(&e),
                };
            }
        };
        let value = match token.authorization() {
            Ok(v) => v,
            Err(e) => {
                return Attempt {
                    verdict: Verdict::Retry,
                    status: 0,
                    retry_after: None,
                    detail: e.to_string(),
                };
            }
        };
        let mut headers = headers.clone();
        headers.insert(http::header::AUTHORIZATION, value);
        let a = self.post(url, &headers, body).await;
        if a.status == 401 {
            tokens.refused(audience, &token).await;
        }
        a
    }

    /// One POST to `url`, following 307 and 308 ([`redirect_target`]) up to
    /// [`MAX_REDIRECTS`] hops with the same headers and body. A 308 from the sink itself moves
    /// it for later events; each new location is logged once.
    async fn post(&self, url: &url::Url, headers: &HeaderMap, body: &Bytes) -> Attempt {
        let mut url = url.clone();
        let mut headers = std::borrow::Cow::Borrowed(headers);
        let mut hops = 0;
        loop {
            let (a, location) = self.post_once(&url, &headers, body).await;
            if a.verdict != Verdict::Redirect {
                return a;
            }
            if hops == MAX_REDIRECTS {
                return Attempt {
                    verdict: Verdict::Final,
                    detail: format!(
                        "the sink redirected {} times; not followed further (last to {url})",
                        hops + 1
                    ),
                    ..a
                };
            }
            let next = match redirect_target(&url, location.as_deref()) {
                Ok(next) => next,
                Err(why) => {
                    return Attempt {
                        verdict: Verdict::Final,
                        detail: why,
                        ..a
                    };
                }
            };
            let new_location = self
                .logged_locations
                .lock()
                .is_ok_and(|mut seen| seen.len() < 64 && seen.insert(next.to_string()));
            if new_location {
                warn!(from = %url, to = %next, status = a.status,
                    "the sink redirects; following (same request){}",
                    if a.status == 308 { ", and sending later events there" } else { "" });
            }
            if a.status == 308
                && hops == 0
                && url == self.current_url()
                && let Ok(mut moved) = self.moved_to.write()
            {
                *moved = Some(next.clone());
            }
            if next.origin() != url.origin() && headers.contains_key(http::header::AUTHORIZATION) {
                // A token for the sink's audience is for the sink only.
                headers.to_mut().remove(http::header::AUTHORIZATION);
            }
            url = next;
            hops += 1;
        }
    }

    /// One POST to `url`, and the `Location` of a redirect.
    async fn post_once(
        &self,
        url: &url::Url,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> (Attempt, Option<String>) {
        let timeout = self.config.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let no_answer = |detail| {
            let attempt = Attempt {
                verdict: Verdict::Retry,
                status: 0,
                retry_after: None,
                detail,
            };
            (attempt, None)
        };
        match tokio::time::timeout_at(deadline, self.http.post(url, headers, body)).await {
            Ok(Ok(client::Answer::Direct(resp))) => read_answer(resp, deadline).await,
            Ok(Ok(client::Answer::Proxied(resp))) => read_answer(resp, deadline).await,
            Ok(Err(detail)) => no_answer(detail),
            Err(_) => no_answer(format!(
                "error sending request for url ({url}): operation timed out (no answer within {timeout:?})"
            )),
        }
    }
}

/// What an answer says: the attempt's verdict, and the `Location` of a redirect. The start of
/// a refusal's body is read for the log, until `deadline` at the latest.
async fn read_answer<B>(
    resp: http::Response<B>,
    deadline: tokio::time::Instant,
) -> (Attempt, Option<String>)
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
    let verdict = classify_status(status);
    let location = if verdict == Verdict::Redirect {
        resp.headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    } else {
        None
    };
    let detail = if verdict == Verdict::Accepted {
        String::new()
    } else {
        // The start of the answer for the log; never the whole of it: a sink's error page
        // can be large, or never end.
        let start =
            tokio::time::timeout_at(deadline, body_start(resp.into_body(), ERROR_BODY_BYTES))
                .await
                .unwrap_or_default();
        let text: String = String::from_utf8_lossy(&start).chars().take(200).collect();
        format!("HTTP {status} {text}")
    };
    debug!(status, "sink answered");
    let attempt = Attempt {
        verdict,
        status,
        retry_after,
        detail,
    };
    (attempt, location)
}

/// How much of a refusal's body is read for the log.
const ERROR_BODY_BYTES: usize = 1024;

/// The first `cap` bytes of `body` (fewer if it ends or fails first). A body that ends within
/// them leaves the connection reusable; a longer one is cut off with its connection.
async fn body_start<B>(mut body: B, cap: usize) -> Vec<u8>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    use http_body_util::BodyExt as _;
    let mut out = Vec::new();
    while out.len() < cap {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(chunk) = frame.into_data() {
                    let take = chunk.len().min(cap - out.len());
                    out.extend_from_slice(&chunk[..take]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    out
}

/// `e` and its causes, each once: `outer: inner: innermost`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn sink(per_event: bool) -> Sink {
        Sink::new(
            SinkConfig {
                url: "http://sink.invalid/".parse().expect("url"),
                dead_letter: None,
                timeout: Duration::from_secs(1),
                ca_certs: None,
                dead_letter_ca_certs: None,
                trust_bundles: Vec::new(),
                backoff: Backoff::default(),
                backoff_per_event: per_event,
                retry: None,
                oidc: None,
            },
            Arc::new(Metrics::new("test")),
        )
        .expect("sink")
    }

    /// A sink that refuses with an error page that never ends: the attempt reads its start
    /// for the log and moves on, instead of reading (and holding) it until the request timeout.
    #[tokio::test]
    async fn a_refusal_with_an_endless_body_is_read_only_at_its_start() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 4096];
            let _ = conn.read(&mut request).await.expect("read");
            conn.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 1000000000\r\n\r\n",
            )
            .await
            .expect("write head");
            conn.write_all(&[b'x'; 8192]).await.expect("write body");
            // The rest never comes.
            std::future::pending::<()>().await;
        });
        let mut s = sink(false);
        let mut config = (*s.config).clone();
        config.url = format!("http://{addr}/").parse().expect("url");
        config.timeout = Duration::from_secs(600);
        s = Sink::new(config, Arc::new(Metrics::new("test"))).expect("sink");

        let attempt = tokio::time::timeout(
            Duration::from_secs(60),
            s.post(
                &s.config.url.clone(),
                &HeaderMap::new(),
                &Bytes::from_static(b"{}"),
            ),
        )
        .await
        .expect("the attempt waited for the endless body");
        assert_eq!(attempt.status, 503);
        assert_eq!(attempt.verdict, Verdict::Retry);
        assert_eq!(attempt.detail, format!("HTTP 503 {}", "x".repeat(200)));
        server.abort();
    }

    #[test]
    fn waits_grow_with_the_sinks_failures_unless_knative_backoff_is_asked_for() {
        // A sink that fails now and then: an unlucky event's 8th retry still comes soon.
        let s = sink(false);
        s.failing_run.store(1, Ordering::Relaxed);
        assert!(s.retry_wait(8, None) <= Duration::from_millis(100));
        // A sink that is down: the full exponential backoff.
        s.failing_run.store(50, Ordering::Relaxed);
        assert!(s.retry_wait(8, None) >= Duration::from_millis(6400));
        // spec.delivery's backoff: each event by its own attempts, as Knative says.
        let k = sink(true);
        k.failing_run.store(1, Ordering::Relaxed);
        assert!(k.retry_wait(8, None) >= Duration::from_millis(6400));
        // Retry-After wins either way.
        assert_eq!(
            s.retry_wait(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
