//! Tracing, with the adapters as real processes: `K_OBSERVABILITY_CONFIG` turns on a span per
//! event exported over OTLP (HTTP/protobuf) to a real receiver here (it decodes what arrives
//! with the OTLP messages), and every request to the sink and the dead-letter sink carries a
//! `traceparent` with that event's span. Off (the default, or the Go contract's Zipkin backend),
//! no request carries one and nothing is exported. A bad configuration stops start-up naming it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use prost::Message as _;

use crate::common::{self, Adapter, backlog};
use crate::horizon_common;
use crate::sinks::{Reply, ScriptedSink, Seen};

/// One span the receiver got.
#[derive(Debug, Clone)]
struct Exported {
    trace_id: String,
    span_id: String,
    name: String,
    service: String,
    start_ns: u64,
    end_ns: u64,
    attributes: BTreeMap<String, String>,
}

impl Exported {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every span in the OTLP requests the receiver got (each must be protobuf at `/v1/traces`).
fn exported(receiver: &ScriptedSink) -> Vec<Exported> {
    let mut out = Vec::new();
    for request in receiver.seen() {
        assert_eq!(request.path, "/v1/traces", "the OTLP traces path");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf"),
            "OTLP HTTP/protobuf"
        );
        let export = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("an OTLP ExportTraceServiceRequest");
        for rs in export.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .map(text)
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(Exported {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        name: s.name,
                        service: service.clone(),
                        start_ns: s.start_time_unix_nano,
                        end_ns: s.end_time_unix_nano,
                        attributes: s
                            .attributes
                            .iter()
                            .map(|kv| (kv.key.clone(), text(kv)))
                            .collect(),
                    });
                }
            }
        }
    }
    out
}

/// `traceparent`'s trace id and span id (version 00, sampled).
fn traceparent(seen: &Seen) -> Option<(String, String)> {
    let tp = seen.header("traceparent")?;
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {tp}");
    assert_eq!(parts[0], "00", "version in {tp}");
    assert_eq!(parts[3], "01", "sampled in {tp}");
    Some((parts[1].to_owned(), parts[2].to_owned()))
}

/// `K_OBSERVABILITY_CONFIG` exporting every event's span to `receiver`.
fn observability(receiver: &ScriptedSink) -> String {
    format!(
        r#"{{"Tracing":{{"protocol":"http/protobuf","endpoint":"{}v1/traces","sampling_rate":1}},"Metrics":{{"protocol":"prometheus"}}}}"#,
        receiver.url()
    )
}

/// Wait until the receiver has a span for each id of `want`; the spans by event id.
async fn wait_spans(
    receiver: &ScriptedSink,
    want: &BTreeSet<i64>,
    adapter: &Adapter,
) -> BTreeMap<i64, Exported> {
    let got = || -> BTreeMap<i64, Exported> {
        exported(receiver)
            .into_iter()
            .filter_map(|s| Some((s.attr("cloudevents.event_id").parse().ok()?, s)))
            .collect()
    };
    common::eventually(Duration::from_secs(30), || {
        want.iter().all(|id| got().contains_key(id))
    })
    .await;
    let spans = got();
    let missing: Vec<_> = want.iter().filter(|id| !spans.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "no span for events {missing:?}\nlog:\n{}",
        adapter.log().join("\n")
    );
    spans
}

const EVENTS: usize = 40;
/// The event the sink refuses for good (400): it goes to the dead-letter sink.
const REFUSED: i64 = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_sent_carries_the_traceparent_of_its_exported_span() {
    // Even ids are refused once (503) and retried; REFUSED is refused for good.
    let refused_once = Mutex::new(HashSet::new());
    let sink = ScriptedSink::start(move |seen: &Seen| match seen.id() {
        Some(REFUSED) => Reply::Status(400),
        Some(id) if id % 2 == 0 && refused_once.lock().expect("lock").insert(id) => {
            Reply::Status(503)
        }
        _ => Reply::Status(202),
    })
    .await;
    let dls = ScriptedSink::start(|_: &Seen| Reply::Status(202)).await;
    let receiver = ScriptedSink::start(|_: &Seen| Reply::Status(200)).await;

    let (sim, dir) = backlog(EVENTS).await;
    let mut env = common::backlog_env(&sim, &sink.url(), &dir.path().join("cp.json"));
    env.extend([
        ("K_DEAD_LETTER_SINK", dls.url()),
        ("K_OBSERVABILITY_CONFIG", observability(&receiver)),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ]);
    let mut adapter = Adapter::start(&env);
    let want: BTreeSet<i64> = (1..=EVENTS as i64).collect();
    let delivered: BTreeSet<i64> = want.iter().copied().filter(|id| *id != REFUSED).collect();
    let accepted = sink.wait_ids(&delivered, Duration::from_secs(60)).await;
    let ids: BTreeSet<i64> = accepted.iter().filter_map(Seen::id).collect();
    assert_eq!(ids, delivered, "log:\n{}", adapter.log().join("\n"));
    assert!(
        common::eventually(Duration::from_secs(20), || dls.accepted().len() == 1).await,
        "the refused event reached the dead-letter sink"
    );
    let spans = wait_spans(&receiver, &want, &adapter).await;

    // Every request to the sink, the refused ones too, carries its event's span.
    let mut traces = HashSet::new();
    for seen in sink.seen() {
        let id = seen.id().expect("ce-id");
        let (trace_id, span_id) = traceparent(&seen)
            .unwrap_or_else(|| panic!("event {id} sent without a traceparent: {seen:?}"));
        let span = &spans[&id];
        assert_eq!(
            (&span.trace_id, &span.span_id),
            (&trace_id, &span_id),
            "event {id}: the traceparent is its span's"
        );
        if seen.status == 202 {
            assert!(traces.insert(trace_id), "one trace per event");
        }
    }
    for (id, span) in &spans {
        assert_eq!(span.name, "deliver");
        assert_eq!(span.service, "vsphere-source-adapter");
        assert!(
            span.start_ns > 0 && span.start_ns <= span.end_ns,
            "{span:?}"
        );
        assert_eq!(span.attr("vmware_sources.sink"), sink.url(), "{span:?}");
        assert!(!span.attr("cloudevents.event_type").is_empty(), "{span:?}");
        let (attempts, outcome, status) = match *id {
            REFUSED => ("1", "dead_lettered", "400"),
            id if id % 2 == 0 => ("2", "delivered", "202"),
            _ => ("1", "delivered", "202"),
        };
        assert_eq!(
            span.attr("vmware_sources.attempts"),
            attempts,
            "event {id}: {span:?}"
        );
        assert_eq!(
            span.attr("vmware_sources.outcome"),
            outcome,
            "event {id}: {span:?}"
        );
        assert_eq!(
            span.attr("http.response.status_code"),
            status,
            "event {id}: {span:?}"
        );
    }
    assert_eq!(
        spans[&REFUSED].attr("vmware_sources.dead_letter_attempts"),
        "1"
    );

    // The dead-letter sink gets the same traceparent as the sink did.
    let dead = &dls.accepted()[0];
    assert_eq!(dead.id(), Some(REFUSED));
    let (trace_id, span_id) = traceparent(dead).expect("a traceparent to the dead-letter sink");
    assert_eq!(
        (trace_id.as_str(), span_id.as_str()),
        (
            spans[&REFUSED].trace_id.as_str(),
            spans[&REFUSED].span_id.as_str()
        )
    );
    assert_eq!(adapter.terminate(Duration::from_secs(30)).await, Some(0));
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_no_traceparent_and_nothing_exported() {
    let receiver = ScriptedSink::start(|_: &Seen| Reply::Status(200)).await;
    let zipkin = r#"{"backend":"zipkin","debug":"false","sample-rate":"1","zipkin-endpoint":"http://zipkin.istio-system:9411/api/v2/spans"}"#;
    for (what, extra) in [
        // The Go contract's Zipkin backend: said once at start-up, tracing stays off.
        (
            "K_TRACING_CONFIG zipkin",
            ("K_TRACING_CONFIG", zipkin.to_owned()),
        ),
        // Protocol none: its endpoint is not used.
        (
            "protocol none",
            (
                "K_OBSERVABILITY_CONFIG",
                format!(
                    r#"{{"Tracing":{{"protocol":"none","endpoint":"{}v1/traces","sampling_rate":1}}}}"#,
                    receiver.url()
                ),
            ),
        ),
    ] {
        let sink = ScriptedSink::start(|_: &Seen| Reply::Status(202)).await;
        let (sim, dir) = backlog(20).await;
        let mut env = common::backlog_env(&sim, &sink.url(), &dir.path().join("cp.json"));
        env.push(extra);
        env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".into()));
        let mut adapter = Adapter::start(&env);
        let want: BTreeSet<i64> = (1..=20).collect();
        let got = sink.wait_ids(&want, Duration::from_secs(60)).await;
        assert_eq!(
            got.iter().filter_map(Seen::id).collect::<BTreeSet<_>>(),
            want,
            "{what}: log:\n{}",
            adapter.log().join("\n")
        );
        assert_eq!(adapter.terminate(Duration::from_secs(30)).await, Some(0));
        for seen in sink.seen() {
            assert_eq!(seen.header("traceparent"), None, "{what}: {seen:?}");
        }
        assert!(receiver.seen().is_empty(), "{what}: nothing exported");
        if what.starts_with("K_TRACING_CONFIG") {
            let said = adapter.log().into_iter().filter(|l| {
                l.contains("\"warn\"")
                    && l.contains("K_TRACING_CONFIG asks for Zipkin")
                    && l.contains("http://zipkin.istio-system:9411/api/v2/spans")
            });
            assert_eq!(
                said.count(),
                1,
                "one warning:\n{}",
                adapter.log().join("\n")
            );
        }
        drop(sim);
    }
}

#[tokio::test]
async fn a_bad_observability_config_stops_start_up_naming_the_key() {
    let secret = common::secret_dir("user", "pw");
    let dir = tempfile::tempdir().expect("dir");
    for (config, needle) in [
        (
            r#"{"Tracing":{"protocol":"grpc","endpoint":"otel:4317"}}"#,
            r#"Tracing.protocol \"grpc\" is not supported"#,
        ),
        (
            r#"{"Tracing":{"protocol":"http/protobuf","endpoint":"http://otel:4318/v1/traces","sampling_rate":5}}"#,
            "Tracing.sampling_rate 5 is not between 0 and 1",
        ),
        (
            r#"{"Tracing":{"protocol":"http/protobuf"}}"#,
            "Tracing.endpoint must be set",
        ),
        ("{not json", "not JSON"),
    ] {
        let env = vec![
            ("VC_URL", "https://127.0.0.1:1/sdk".to_owned()),
            ("VC_SECRET_PATH", secret.path().display().to_string()),
            ("K_SINK", "http://127.0.0.1:1/".into()),
            (
                "VSPHERE_CHECKPOINT_FILE",
                dir.path().join("cp.json").display().to_string(),
            ),
            ("K_OBSERVABILITY_CONFIG", config.to_owned()),
        ];
        let mut adapter = Adapter::start(&env);
        let code = adapter.wait_exit(Duration::from_secs(20)).await;
        let log = adapter.log().join("\n");
        assert_eq!(code, Some(2), "{config}: exit code; log:\n{log}");
        assert!(
            log.contains("invalid setting K_OBSERVABILITY_CONFIG") && log.contains(needle),
            "{config}: {needle:?} not in:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_horizon_adapter_traces_its_deliveries_too() {
    test_support::install_crypto_provider();
    let sink = ScriptedSink::start(|_: &Seen| Reply::Status(202)).await;
    let receiver = ScriptedSink::start(|_: &Seen| Reply::Status(200)).await;
    let sim = horizon_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let secret = horizon_common::secret_dir(&sim);
    let mut env = horizon_common::env(
        &sim,
        secret.path(),
        &sink.url(),
        &dir.path().join("cp.json"),
    );
    env.push(("K_OBSERVABILITY_CONFIG", observability(&receiver)));
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".into()));
    let mut adapter = horizon_common::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let want: BTreeSet<i64> = sim.add_events_now(30, 3).into_iter().collect();
    let got = sink.wait_ids(&want, Duration::from_secs(60)).await;
    assert_eq!(
        got.iter().filter_map(Seen::id).collect::<BTreeSet<_>>(),
        want,
        "log:\n{}",
        adapter.log().join("\n")
    );
    let spans = wait_spans(&receiver, &want, &adapter).await;
    for seen in &got {
        let id = seen.id().expect("ce-id");
        let tp = traceparent(seen).unwrap_or_else(|| panic!("{id} without traceparent"));
        let span = &spans[&id];
        assert_eq!(
            (&span.trace_id, &span.span_id),
            (&tp.0, &tp.1),
            "event {id}"
        );
        assert_eq!(span.service, "horizon-source-adapter");
        assert_eq!(span.attr("vmware_sources.attempts"), "1");
        assert_eq!(span.attr("vmware_sources.outcome"), "delivered");
    }
    assert_eq!(adapter.terminate(Duration::from_secs(30)).await, Some(0));
}
