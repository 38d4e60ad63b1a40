//! The HTTP binding for any `cloudevents::Event`: binary and structured mode, the bytes the Go
//! project sends where the SDK's own writer would differ, and what the SDK reads back.

use chrono::{DateTime, Utc};
use cloudevent_encode::binding::{ContentMode, HttpBinding, JsonFormat, TimeFormat};
use cloudevent_encode::cloudevents::{
    AttributesReader as _, AttributesWriter as _, Data, Event, EventBuilder as _, EventBuilderV10,
};

fn event() -> Event {
    EventBuilderV10::new()
        .id("42")
        .source("https://vc.example.com/sdk")
        .ty("com.vmware.vsphere.VmPoweredOnEvent.v0")
        .time("2026-03-21T09:00:07.250Z")
        .extension("zeta", "last")
        .extension("team", "ops team")
        .extension("eventclass", "event")
        .extension("count", 7i64)
        .extension("flag", true)
        .data("application/json", br#"{"Key":42,"Msg":"<a&b>"}"#.to_vec())
        .build()
        .expect("valid event")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

#[test]
fn time_is_gos_rfc3339_nano_or_milliseconds() {
    let go = HttpBinding::new();
    let ms = HttpBinding::new().with_time_format(TimeFormat::Millis);
    for (time, want_go, want_ms) in [
        (
            "2026-03-21T09:00:07.250Z",
            "2026-03-21T09:00:07.25Z",
            "2026-03-21T09:00:07.250Z",
        ),
        (
            "2026-03-21T09:00:07Z",
            "2026-03-21T09:00:07Z",
            "2026-03-21T09:00:07.000Z",
        ),
        (
            "2026-03-21T10:00:07.123456789+01:00",
            "2026-03-21T09:00:07.123456789Z",
            "2026-03-21T09:00:07.123Z",
        ),
        (
            "1969-12-31T23:59:59.5Z",
            "1969-12-31T23:59:59.5Z",
            "1969-12-31T23:59:59.500Z",
        ),
        (
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00.000Z",
        ),
    ] {
        assert_eq!(go.time_string(&at(time)), want_go, "{time}");
        assert_eq!(ms.time_string(&at(time)), want_ms, "{time}");
    }
    // Beyond RFC 3339's four-digit years, as Go and jiff write them.
    let year_minus_1 = DateTime::from_timestamp(-62_198_755_200, 0).expect("time");
    assert_eq!(go.time_string(&year_minus_1), "-0001-01-01T00:00:00Z");
    assert_eq!(ms.time_string(&year_minus_1), "-001-01-01T00:00:00.000Z");
    let year_10000 = DateTime::from_timestamp(253_402_300_800, 0).expect("time");
    assert_eq!(go.time_string(&year_10000), "10000-01-01T00:00:00Z");
}

#[test]
fn binary_mode_headers_are_percent_encoded_in_a_fixed_order() {
    let binding = HttpBinding::new()
        .with_extensions_first(["team", "missing"])
        .with_namespace("my ns");
    let (headers, body) = binding.binary(event()).expect("binary");
    let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-time",
            "ce-team",
            "ce-count",
            "ce-eventclass",
            "ce-flag",
            "ce-zeta",
            "kn-namespace",
            "content-type",
        ]
    );
    assert_eq!(headers["ce-specversion"], "1.0");
    assert_eq!(headers["ce-time"], "2026-03-21T09:00:07.25Z");
    assert_eq!(headers["ce-team"], "ops%20team");
    assert_eq!(headers["ce-count"], "7");
    assert_eq!(headers["ce-flag"], "true");
    assert_eq!(headers["kn-namespace"], "my%20ns");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, br#"{"Key":42,"Msg":"<a&b>"}"#);
}

#[test]
fn binary_mode_without_data_or_content_type() {
    let e = EventBuilderV10::new()
        .id("1")
        .source("s")
        .ty("t")
        .build()
        .expect("event");
    let (headers, body) = HttpBinding::new().binary(e).expect("binary");
    assert!(headers.get("content-type").is_none());
    assert!(headers.get("ce-time").is_none());
    assert!(body.is_empty());
}

#[test]
fn structured_mode_in_gos_order_and_escaping() {
    let binding = HttpBinding::new().with_extensions_first(["eventclass"]);
    let mut doc = Vec::new();
    binding.structured(&event(), &mut doc);
    assert_eq!(
        String::from_utf8(doc).expect("UTF-8"),
        r#"{"specversion":"1.0","id":"42","source":"https://vc.example.com/sdk","type":"com.vmware.vsphere.VmPoweredOnEvent.v0","datacontenttype":"application/json","time":"2026-03-21T09:00:07.25Z","eventclass":"event","count":7,"flag":true,"team":"ops team","zeta":"last","data":{"Key":42,"Msg":"<a&b>"}}"#
    );
}

#[test]
fn structured_mode_sorted_with_serde_escaping() {
    let mut e = event();
    e.set_data("text/plain", "<x> & \u{2028}".to_owned());
    let binding = HttpBinding::new()
        .with_json_format(JsonFormat::Sorted)
        .with_time_format(TimeFormat::Millis);
    let mut doc = Vec::new();
    binding.structured(&e, &mut doc);
    assert_eq!(
        String::from_utf8(doc).expect("UTF-8"),
        "{\"count\":7,\"data\":\"<x> & \u{2028}\",\"datacontenttype\":\"text/plain\",\"eventclass\":\"event\",\"flag\":true,\"id\":\"42\",\"source\":\"https://vc.example.com/sdk\",\"specversion\":\"1.0\",\"team\":\"ops team\",\"time\":\"2026-03-21T09:00:07.250Z\",\"type\":\"com.vmware.vsphere.VmPoweredOnEvent.v0\",\"zeta\":\"last\"}"
    );
    // Go's escaping of the same text.
    let mut doc = Vec::new();
    HttpBinding::new().structured(&e, &mut doc);
    let doc = String::from_utf8(doc).expect("UTF-8");
    assert!(
        doc.contains(r#""data":"\u003cx\u003e \u0026 \u2028""#),
        "{doc}"
    );
}

#[test]
fn structured_data_by_kind() {
    let doc = |data: Data, content_type: Option<&str>| {
        let mut e = event();
        e.set_data_unchecked(data);
        e.set_datacontenttype(content_type);
        let mut out = Vec::new();
        HttpBinding::new().structured(&e, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("a JSON document");
        v
    };
    let json = doc(
        Data::Json(serde_json::json!({"a": [1, 2]})),
        Some("application/json"),
    );
    assert_eq!(json["data"], serde_json::json!({"a": [1, 2]}));
    // JSON text given as bytes stays as it is, inline; also without a datacontenttype (JSON
    // by the spec's default).
    let inline = doc(Data::Binary(br#"{"b":1}"#.to_vec()), None);
    assert_eq!(inline["data"], serde_json::json!({"b": 1}));
    let xml = doc(Data::String("<a>é</a>".into()), Some("application/xml"));
    assert_eq!(xml["data"], "<a>é</a>");
    let bytes = doc(
        Data::Binary(vec![0, 159, 255]),
        Some("application/octet-stream"),
    );
    assert_eq!(bytes["data_base64"], "AJ//");
    assert!(bytes.get("data").is_none());
}

#[test]
fn the_sdk_reads_back_what_the_binding_writes() {
    use cloudevent_encode::cloudevents::binding::http::to_event;
    let original = event();
    let binding = HttpBinding::new().with_time_format(TimeFormat::Millis);
    // Structured mode, through the SDK's serde form.
    let mut doc = Vec::new();
    binding.structured(&original, &mut doc);
    let back: Event = serde_json::from_slice(&doc).expect("the SDK reads the document");
    assert_eq!(back.id(), original.id());
    assert_eq!(back.source(), original.source());
    assert_eq!(back.ty(), original.ty());
    assert_eq!(back.time(), original.time());
    assert_eq!(back.datacontenttype(), original.datacontenttype());
    for name in ["team", "eventclass", "zeta", "count", "flag"] {
        assert_eq!(back.extension(name), original.extension(name), "{name}");
    }
    assert_eq!(
        back.data(),
        Some(&Data::Json(serde_json::json!({"Key": 42, "Msg": "<a&b>"})))
    );
    // Binary mode, through the SDK's HTTP binding (values the SDK does not percent-decode).
    let mut plain = original.clone();
    plain.set_extension("team", "ops");
    let (headers, body) = binding.binary(plain).expect("binary");
    let back = to_event(&headers, body).expect("the SDK reads the request");
    assert_eq!(back.id(), "42");
    assert_eq!(back.ty(), original.ty());
    assert_eq!(back.time(), original.time());
    assert_eq!(
        back.extension("team").map(ToString::to_string).as_deref(),
        Some("ops")
    );
    assert_eq!(
        back.data(),
        Some(&Data::Binary(br#"{"Key":42,"Msg":"<a&b>"}"#.to_vec()))
    );
}

#[test]
fn requests_carry_the_mode() {
    let sink: http::Uri = "http://sink.example/".parse().expect("uri");
    let binding = HttpBinding::new().with_namespace("ns");
    let req = binding
        .request(event(), ContentMode::Structured, &sink, Vec::new())
        .expect("request");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.headers()["content-type"],
        "application/cloudevents+json"
    );
    assert_eq!(req.headers()["kn-namespace"], "ns");
    assert!(req.headers().get("ce-id").is_none());
    let req = binding
        .request(event(), ContentMode::Binary, &sink, Vec::new())
        .expect("request");
    assert_eq!(req.headers()["ce-id"], "42");
    assert_eq!(req.uri(), &sink);
}
