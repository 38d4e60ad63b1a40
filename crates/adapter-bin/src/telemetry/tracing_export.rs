//! Tracing: one OpenTelemetry span per delivered event, from its read to its last delivery
//! attempt, exported over OTLP (HTTP/protobuf), and a W3C `traceparent` with that span's
//! context on every request to the sink and the dead-letter sink.
//!
//! Configured as Knative configures its own components:
//!
//! - `K_OBSERVABILITY_CONFIG` (Knative ≥ 1.19; `config-observability` as JSON, e.g.
//!   `{"Tracing":{"protocol":"http/protobuf","endpoint":"http://otel-collector.observability:4318/v1/traces","sampling_rate":1}}`).
//!   `protocol` `none` (or absent) leaves tracing off; `http/protobuf` exports to `endpoint`
//!   (used as given; without a scheme `https://` is put in front, as Knative does; without a
//!   path `/v1/traces` is added); `grpc` is refused (this adapter exports over HTTP only: use
//!   the collector's OTLP/HTTP port, 4318); `stdout` is logged and leaves tracing off.
//!   `sampling_rate` is Knative's: absent or 0 samples nothing (requests still carry a
//!   `traceparent`, not sampled), 1 samples every event.
//! - `K_TRACING_CONFIG` (the Go adapters' OpenCensus-era contract, knative.dev/pkg's
//!   `config-tracing` as JSON: `backend`, `zipkin-endpoint`, `sample-rate`, `debug`), read only when `K_OBSERVABILITY_CONFIG` has no tracing section: a
//!   `zipkin` backend cannot be served (Zipkin's API is not OTLP) and is said in one warning at
//!   start-up; tracing stays off.
//!
//! Off (the default), nothing here runs per event: the sink holds no tracer, and delivery takes
//! its untraced branch (no span, no header).
//!
//! The `OTEL_BSP_*` variables of the OpenTelemetry SDK tune the batching of the exports.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use serde_json::Value;
use tracing::{info, warn};

/// A tracing setting was refused: the variable and what is wrong (the settings module makes it
/// a `ConfigError`; telemetry depends on neither settings nor delivery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl ConfigError {
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// How a delivery ended, as its span records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanOutcome {
    /// The sink accepted the event.
    Delivered,
    /// The dead-letter sink took it.
    DeadLettered,
    /// Refused for good and dropped.
    Rejected,
    /// Abandoned at shutdown.
    Cancelled,
}

/// The span attribute with the CloudEvent `id`.
pub const ATTR_EVENT_ID: &str = "cloudevents.event_id";
/// The span attribute with the CloudEvent `type`.
pub const ATTR_EVENT_TYPE: &str = "cloudevents.event_type";
/// The span attribute with the sink URL.
pub const ATTR_SINK: &str = "vmware_sources.sink";
/// The span attribute with the number of requests made to the sink for the event.
pub const ATTR_ATTEMPTS: &str = "vmware_sources.attempts";
/// The span attribute with how the delivery ended: `delivered`, `dead_lettered`, `rejected`
/// or `cancelled`.
pub const ATTR_OUTCOME: &str = "vmware_sources.outcome";
/// The span attribute with the last HTTP status of the sink (0: no answer).
pub const ATTR_STATUS: &str = "http.response.status_code";
/// The span attribute with the number of requests made to the dead-letter sink.
pub const ATTR_DEAD_LETTER_ATTEMPTS: &str = "vmware_sources.dead_letter_attempts";

/// What the tracing settings ask for.
#[derive(Debug, Clone, PartialEq)]
pub enum TracingSettings {
    /// No tracing (the default).
    Off,
    /// Export spans over OTLP HTTP/protobuf.
    Otlp {
        /// Where spans are POSTed (`…/v1/traces`).
        endpoint: url::Url,
        /// The share of events sampled, 0 to 1.
        sampling_rate: f64,
    },
    /// Asked for something this adapter does not export; logged at start-up, tracing off.
    Unsupported {
        /// What was asked, and what to set instead.
        why: String,
    },
}

impl TracingSettings {
    /// The settings from `K_OBSERVABILITY_CONFIG` (wins when it has a tracing section) and
    /// `K_TRACING_CONFIG`; an error names the variable and the key at fault.
    pub fn from_env(
        observability: Option<&str>,
        legacy: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if let Some(settings) = observability
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(from_observability)
            .transpose()?
            .flatten()
        {
            return Ok(settings);
        }
        Ok(legacy
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(from_legacy)
            .unwrap_or(TracingSettings::Off))
    }

    /// A short description for `--check-settings`.
    pub fn summary(&self) -> Value {
        match self {
            TracingSettings::Off => Value::Null,
            TracingSettings::Otlp {
                endpoint,
                sampling_rate,
            } => serde_json::json!({
                "protocol": "http/protobuf",
                "endpoint": endpoint.as_str(),
                "samplingRate": sampling_rate,
            }),
            TracingSettings::Unsupported { why } => serde_json::json!({ "unsupported": why }),
        }
    }
}

const OBSERVABILITY: &str = adapter_env::name::K_OBSERVABILITY_CONFIG;

/// `K_OBSERVABILITY_CONFIG`'s tracing section; `None` without one.
fn from_observability(json: &str) -> Result<Option<TracingSettings>, ConfigError> {
    let bad = |reason: String| ConfigError::new(OBSERVABILITY, reason);
    let value: Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("not JSON ({e}); expected {{\"Tracing\":{{...}}}}")))?;
    let Value::Object(top) = value else {
        return Err(bad("not a JSON object; expected {\"Tracing\":{...}}".into()));
    };
    // Go's encoding/json matches keys without regard to case, as the Go adapters read it.
    let Some(tracing) = get_ci(&top, "tracing") else {
        return Ok(None);
    };
    let tracing = match tracing {
        Value::Null => return Ok(None),
        Value::Object(t) => t,
        other => return Err(bad(format!("Tracing is {other}, not an object"))),
    };
    let text = |key: &str| -> Result<String, ConfigError> {
        match get_ci(tracing, key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.trim().to_owned()),
            Some(other) => Err(bad(format!("Tracing.{key} is {other}, not a string"))),
        }
    };
    let protocol = text("protocol")?;
    let endpoint = text("endpoint")?;
    let sampling_rate = match get_ci(tracing, "sampling_rate") {
        None | Some(Value::Null) => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
        Some(other) => {
            return Err(bad(format!(
                "Tracing.sampling_rate is {other}, not a number between 0 and 1"
            )));
        }
    };
    if !(0.0..=1.0).contains(&sampling_rate) {
        return Err(bad(format!(
            "Tracing.sampling_rate {sampling_rate} is not between 0 and 1 \
             (config-observability's tracing-sampling-rate)"
        )));
    }
    match protocol.as_str() {
        "" | "none" => Ok(Some(TracingSettings::Off)),
        "http/protobuf" => Ok(Some(TracingSettings::Otlp {
            endpoint: otlp_endpoint(&endpoint)?,
            sampling_rate,
        })),
        "grpc" => Err(bad(
            "Tracing.protocol \"grpc\" is not supported: this adapter exports OTLP over HTTP \
             only; set config-observability's tracing-protocol to \"http/protobuf\" and \
             tracing-endpoint to the collector's OTLP/HTTP endpoint (port 4318, path /v1/traces)"
                .into(),
        )),
        "stdout" => Ok(Some(TracingSettings::Unsupported {
            why: "K_OBSERVABILITY_CONFIG asks for tracing to stdout, which this adapter does \
                  not do (its stdout is for events without a sink); tracing is off. Use \
                  tracing-protocol \"http/protobuf\" with a collector's endpoint"
                .into(),
        })),
        other => Err(bad(format!(
            "Tracing.protocol {other:?} is not one of \"none\", \"http/protobuf\", \"grpc\", \
             \"stdout\""
        ))),
    }
}

/// The OTLP endpoint as Knative takes it: a URL, or `host:port/path` (https then); the
/// default path `/v1/traces` when there is none.
fn otlp_endpoint(text: &str) -> Result<url::Url, ConfigError> {
    let bad = |reason: String| ConfigError::new(OBSERVABILITY, reason);
    if text.is_empty() {
        return Err(bad(
            "Tracing.endpoint must be set for protocol \"http/protobuf\", e.g. \
             http://otel-collector.observability:4318/v1/traces"
                .into(),
        ));
    }
    let full: Cow<str> = if text.contains("://") {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("https://{text}"))
    };
    let mut url = url::Url::parse(&full)
        .map_err(|e| bad(format!("Tracing.endpoint {text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(format!(
            "Tracing.endpoint {text:?} is not an http(s) URL"
        )));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/v1/traces");
    }
    Ok(url)
}

/// `K_TRACING_CONFIG`: only `none` is served; anything else is said at start-up.
fn from_legacy(json: &str) -> TracingSettings {
    const LEGACY: &str = adapter_env::name::K_TRACING_CONFIG;
    let value: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        // The Go adapters log an unreadable K_TRACING_CONFIG and trace nothing: so do we.
        Err(e) => {
            return TracingSettings::Unsupported {
                why: format!("{LEGACY} is not JSON ({e}); tracing is off"),
            };
        }
    };
    let field = |key: &str| {
        value
            .as_object()
            .and_then(|o| get_ci(o, key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // knative.dev/pkg's JSON of config-tracing: its keys, every value a string.
    let backend = match field("backend").as_str() {
        "" if field("enable").eq_ignore_ascii_case("true") => "zipkin".to_owned(),
        other => other.to_owned(),
    };
    match backend.as_str() {
        "" | "none" => TracingSettings::Off,
        "zipkin" => TracingSettings::Unsupported {
            why: format!(
                "{LEGACY} asks for Zipkin ({}); this adapter exports OpenTelemetry (OTLP) only, \
                 so tracing is off. Set config-observability's tracing-protocol to \
                 \"http/protobuf\" and tracing-endpoint to an OTLP/HTTP collector \
                 (K_OBSERVABILITY_CONFIG)",
                field("zipkin-endpoint")
            ),
        },
        other => TracingSettings::Unsupported {
            why: format!("{LEGACY} backend {other:?} is not supported; tracing is off"),
        },
    }
}

fn get_ci<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start tracing (K_OBSERVABILITY_CONFIG): {0}")]
pub struct TracingError(String);

/// The running exporter: the tracer delivery uses, and the provider flushed at shutdown.
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: Arc<EventTracer>,
}

impl Tracing {
    /// Start exporting as `settings` say; `None` when tracing is off (said in a warning when
    /// it was asked for something unsupported). `component` is the service name (the logger
    /// name, e.g. `vsphere-source-adapter`). Needs a Tokio runtime.
    pub fn start(
        settings: &TracingSettings,
        component: &'static str,
        namespace: Option<&str>,
    ) -> Result<Option<Self>, TracingError> {
        let (endpoint, sampling_rate) = match settings {
            TracingSettings::Off => return Ok(None),
            TracingSettings::Unsupported { why } => {
                warn!("{why}");
                return Ok(None);
            }
            TracingSettings::Otlp {
                endpoint,
                sampling_rate,
            } => (endpoint, *sampling_rate),
        };
        vsphere_client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!(
                "vmware-sources-adapter/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| TracingError(format!("the HTTP client: {e}")))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint.as_str())
            .with_timeout(Duration::from_secs(10))
            .with_http_client(http)
            .build()
            .map_err(|e| TracingError(e.to_string()))?;
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        let sampler = if sampling_rate >= 1.0 {
            Sampler::AlwaysOn
        } else if sampling_rate <= 0.0 {
            Sampler::AlwaysOff
        } else {
            Sampler::TraceIdRatioBased(sampling_rate)
        };
        let mut resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(component)
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        if let Some(ns) = namespace {
            resource = resource.with_attribute(KeyValue::new("k8s.namespace.name", ns.to_owned()));
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .with_resource(resource.build())
            .build();
        let tracer = {
            use opentelemetry::trace::TracerProvider as _;
            provider.tracer("vmware-sources-adapter")
        };
        info!(endpoint = %endpoint, sampling_rate, "tracing: exporting a span per event over OTLP (HTTP/protobuf)");
        Ok(Some(Self {
            provider,
            tracer: Arc::new(EventTracer {
                tracer,
                propagator: TraceContextPropagator::new(),
            }),
        }))
    }

    /// The tracer delivery uses.
    pub fn tracer(&self) -> Arc<EventTracer> {
        self.tracer.clone()
    }

    /// Export the spans still queued and stop (bounded by `budget`).
    pub async fn shutdown(self, budget: Duration) {
        let provider = self.provider;
        // The SDK's shutdown waits for the export task, which runs on this runtime: wait for
        // it from a blocking thread.
        let done = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(budget));
        match tokio::time::timeout(budget + Duration::from_secs(1), done).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "tracing: the last spans were not exported"),
            Ok(Err(e)) => warn!(error = %e, "tracing: the exporter did not stop"),
            Err(_) => warn!("tracing: the exporter did not stop in time"),
        }
    }
}

/// Starts one span per event; shared by the deliveries.
pub struct EventTracer {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl std::fmt::Debug for EventTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventTracer")
    }
}

impl EventTracer {
    /// The span of one event's delivery to `sink`, begun when the event was read (`read_at`,
    /// else now).
    pub fn start(
        &self,
        id: &str,
        event_type: &str,
        sink: &url::Url,
        read_at: Option<SystemTime>,
    ) -> EventSpan {
        let mut builder = self
            .tracer
            .span_builder("deliver")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new(ATTR_EVENT_ID, id.to_owned()),
                KeyValue::new(ATTR_EVENT_TYPE, event_type.to_owned()),
                KeyValue::new(ATTR_SINK, sink.to_string()),
            ]);
        if let Some(at) = read_at {
            builder = builder.with_start_time(at);
        }
        let span = self.tracer.build_with_context(builder, &Context::new());
        EventSpan {
            cx: Context::new().with_span(span),
            attempts: 0,
            dead_letter_attempts: 0,
            status: 0,
        }
    }

    /// `headers` with this span's `traceparent` (W3C Trace Context).
    pub fn headers(&self, span: &EventSpan, headers: &HeaderMap) -> HeaderMap {
        let mut out = headers.clone();
        self.propagator
            .inject_context(&span.cx, &mut HeaderInjector(&mut out));
        out
    }
}

/// One event's span; ended by [`EventSpan::end`] (or when dropped).
pub struct EventSpan {
    cx: Context,
    attempts: u32,
    dead_letter_attempts: u32,
    status: u16,
}

impl EventSpan {
    /// A request to the sink ended with `status` (0: no answer).
    pub fn attempt(&mut self, status: u16) {
        self.attempts += 1;
        self.status = status;
        self.cx.span().add_event(
            "attempt",
            vec![
                KeyValue::new("attempt", i64::from(self.attempts)),
                KeyValue::new(ATTR_STATUS, i64::from(status)),
            ],
        );
    }

    /// A request to the dead-letter sink ended with `status` (0: no answer).
    pub fn dead_letter_attempt(&mut self, status: u16) {
        self.dead_letter_attempts += 1;
        self.cx.span().add_event(
            "dead-letter attempt",
            vec![KeyValue::new(ATTR_STATUS, i64::from(status))],
        );
    }

    /// End the span with the delivery's outcome.
    pub fn end(self, outcome: SpanOutcome) {
        let span = self.cx.span();
        let (name, ok) = match outcome {
            SpanOutcome::Delivered => ("delivered", true),
            SpanOutcome::DeadLettered => ("dead_lettered", false),
            SpanOutcome::Rejected => ("rejected", false),
            SpanOutcome::Cancelled => ("cancelled", false),
        };
        span.set_attributes([
            KeyValue::new(ATTR_ATTEMPTS, i64::from(self.attempts)),
            KeyValue::new(ATTR_OUTCOME, name),
            KeyValue::new(ATTR_STATUS, i64::from(self.status)),
        ]);
        if self.dead_letter_attempts > 0 {
            span.set_attribute(KeyValue::new(
                ATTR_DEAD_LETTER_ATTEMPTS,
                i64::from(self.dead_letter_attempts),
            ));
        }
        if !ok {
            span.set_status(Status::error(name));
        }
        span.end();
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(json: &str) -> Result<TracingSettings, ConfigError> {
        TracingSettings::from_env(Some(json), None)
    }

    #[test]
    fn knatives_observability_config() {
        assert_eq!(obs("{}").expect("empty"), TracingSettings::Off);
        assert_eq!(
            obs(r#"{"Tracing":{"protocol":"none"},"Metrics":{"protocol":"prometheus"}}"#)
                .expect("none"),
            TracingSettings::Off
        );
        assert_eq!(
            obs(r#"{"Tracing":{"protocol":"http/protobuf","endpoint":"http://c:4318/v1/traces","sampling_rate":0.5}}"#)
                .expect("otlp"),
            TracingSettings::Otlp {
                endpoint: "http://c:4318/v1/traces".parse().expect("url"),
                sampling_rate: 0.5
            }
        );
        // As Knative: no scheme is https; Go's JSON keys are matched without case.
        let TracingSettings::Otlp {
            endpoint,
            sampling_rate,
        } = obs(r#"{"tracing":{"Protocol":"http/protobuf","Endpoint":"c.obs.svc:4318"}}"#)
            .expect("bare")
        else {
            panic!("not otlp");
        };
        assert_eq!(endpoint.as_str(), "https://c.obs.svc:4318/v1/traces");
        assert_eq!(sampling_rate, 0.0);
        assert!(matches!(
            obs(r#"{"Tracing":{"protocol":"stdout"}}"#),
            Ok(TracingSettings::Unsupported { .. })
        ));
    }

    #[test]
    fn bad_observability_config_names_the_variable_and_the_key() {
        for (json, key) in [
            ("{", "not JSON"),
            ("[]", "not a JSON object"),
            (
                r#"{"Tracing":{"protocol":"grpc","endpoint":"c:4317"}}"#,
                "Tracing.protocol \"grpc\"",
            ),
            (
                r#"{"Tracing":{"protocol":"zipkin"}}"#,
                "Tracing.protocol \"zipkin\"",
            ),
            (
                r#"{"Tracing":{"protocol":"http/protobuf"}}"#,
                "Tracing.endpoint",
            ),
            (
                r#"{"Tracing":{"protocol":"http/protobuf","endpoint":"ftp://x/"}}"#,
                "Tracing.endpoint",
            ),
            (
                r#"{"Tracing":{"protocol":"http/protobuf","endpoint":"http://c","sampling_rate":2}}"#,
                "Tracing.sampling_rate",
            ),
            (
                r#"{"Tracing":{"protocol":"http/protobuf","endpoint":"http://c","sampling_rate":"1"}}"#,
                "Tracing.sampling_rate",
            ),
            (r#"{"Tracing":"on"}"#, "Tracing is"),
        ] {
            let e = obs(json).expect_err(json).to_string();
            assert!(e.contains("K_OBSERVABILITY_CONFIG"), "{json}: {e}");
            assert!(e.contains(key), "{json}: {e}");
        }
    }

    #[test]
    fn the_go_contracts_tracing_config() {
        let legacy = |json: &str| TracingSettings::from_env(None, Some(json)).expect(json);
        assert_eq!(legacy(r#"{"backend":"none"}"#), TracingSettings::Off);
        let TracingSettings::Unsupported { why } = legacy(
            r#"{"backend":"zipkin","debug":"false","sample-rate":"0.1","zipkin-endpoint":"http://zipkin:9411/api/v2/spans"}"#,
        ) else {
            panic!("zipkin");
        };
        assert!(
            why.contains("K_TRACING_CONFIG") && why.contains("http://zipkin:9411"),
            "{why}"
        );
        assert!(matches!(
            legacy("nonsense"),
            TracingSettings::Unsupported { .. }
        ));
        // K_OBSERVABILITY_CONFIG's tracing section wins.
        assert_eq!(
            TracingSettings::from_env(
                Some(r#"{"Tracing":{"protocol":"none"}}"#),
                Some(r#"{"backend":"zipkin"}"#)
            )
            .expect("both"),
            TracingSettings::Off
        );
        assert!(matches!(
            TracingSettings::from_env(Some("{}"), Some(r#"{"backend":"zipkin"}"#)),
            Ok(TracingSettings::Unsupported { .. })
        ));
    }

    #[tokio::test]
    async fn the_traceparent_carries_the_events_span() {
        let settings = TracingSettings::Otlp {
            endpoint: "http://127.0.0.1:9/v1/traces".parse().expect("url"),
            sampling_rate: 1.0,
        };
        let tracing = Tracing::start(&settings, "test", None)
            .expect("start")
            .expect("on");
        let tracer = tracing.tracer();
        let span = tracer.start("7", "t", &"http://sink/".parse().expect("url"), None);
        let headers = tracer.headers(&span, &HeaderMap::new());
        let tp = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .expect("traceparent");
        let sc = span.cx.span().span_context().clone();
        assert_eq!(
            tp,
            format!("00-{}-{}-01", sc.trace_id(), sc.span_id()),
            "the sampled span's context"
        );
        span.end(SpanOutcome::Delivered);
        tracing.shutdown(Duration::from_secs(1)).await;
    }

    /// Knative's sampling rate 0 samples nothing, and the sink still gets a `traceparent`
    /// (marked not sampled), as Knative's Go SDK sends.
    #[tokio::test]
    async fn sampling_rate_zero_sends_an_unsampled_traceparent() {
        let settings = TracingSettings::Otlp {
            endpoint: "http://127.0.0.1:9/v1/traces".parse().expect("url"),
            sampling_rate: 0.0,
        };
        let tracing = Tracing::start(&settings, "test", None)
            .expect("start")
            .expect("on");
        let tracer = tracing.tracer();
        let span = tracer.start("7", "t", &"http://sink/".parse().expect("url"), None);
        let headers = tracer.headers(&span, &HeaderMap::new());
        let tp = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .expect("traceparent");
        assert!(tp.starts_with("00-") && tp.ends_with("-00"), "{tp}");
        assert!(!span.cx.span().is_recording());
        span.end(SpanOutcome::Delivered);
        tracing.shutdown(Duration::from_secs(1)).await;
    }
}
