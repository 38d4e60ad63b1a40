//! CloudEvent attributes, ceOverrides and the HTTP binding, on events decoded from the fixtures.

use std::path::Path;

use cloudevent_encode::cloudevents::{self, AttributesReader as _};
use cloudevent_encode::{
    CeOverrides, ContentMode, EventEncoder, PayloadEncoding, encode_json, encode_xml,
};
use vsphere_client::decode::decode_events;
use vsphere_client::model::Event;

fn fixture(name: &str) -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let page = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_events(&page).expect("fixture decodes")
}

fn special() -> Vec<Event> {
    fixture("vcenter-special-cases.xml")
}

fn by_key(events: &[Event], key: i64) -> &Event {
    events
        .iter()
        .find(|e| e.key() == key)
        .unwrap_or_else(|| panic!("no event {key}"))
}

fn sink() -> http::Uri {
    "http://sink.default.svc.cluster.local/path"
        .parse()
        .expect("uri")
}

fn header<'a>(req: &'a http::Request<Vec<u8>>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no header {name}"))
        .to_str()
        .expect("ASCII header")
}

#[test]
fn binary_mode_sends_what_the_go_adapter_sends() {
    let events = special();
    let event = by_key(&events, 20008); // VmFailedToPowerOnEvent
    let encoder = EventEncoder::new(
        "https://vcenter.corp.local/sdk",
        "8.0.3.0",
        PayloadEncoding::ApplicationXml,
    )
    .with_namespace("myns");
    let req = encoder
        .request(event, &sink(), Vec::new())
        .expect("request");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri(), &sink());
    assert_eq!(header(&req, "ce-specversion"), "1.0");
    assert_eq!(header(&req, "ce-id"), "20008");
    assert_eq!(header(&req, "ce-source"), "https://vcenter.corp.local/sdk");
    assert_eq!(
        header(&req, "ce-type"),
        "com.vmware.vsphere.VmFailedToPowerOnEvent.v0"
    );
    assert_eq!(header(&req, "ce-time"), "2026-03-21T09:00:07.25Z");
    assert_eq!(header(&req, "ce-eventclass"), "event");
    assert_eq!(header(&req, "ce-vsphereapiversion"), "8.0.3.0");
    assert_eq!(header(&req, "content-type"), "application/xml");
    assert_eq!(header(&req, "kn-namespace"), "myns");
    assert!(req.headers().get("ce-subject").is_none());
    assert!(req.headers().get("ce-datacontenttype").is_none());
    assert!(req.headers().get("ce-dataschema").is_none());
    let mut want = Vec::new();
    encode_xml(event.object(), &mut want);
    assert_eq!(req.body(), &want);
}

#[test]
fn eventex_and_extendedevent_types_use_the_event_type_id() {
    let events = special();
    let encoder = EventEncoder::new("https://vc/sdk", "8.0", PayloadEncoding::ApplicationJson);
    let class = |e: &cloudevents::Event| e.extension("eventclass").map(|v| v.to_string());
    let ex = encoder.event(by_key(&events, 20001));
    assert_eq!(ex.ty(), "com.vmware.vsphere.com.example.args.all.v0");
    assert_eq!(class(&ex).as_deref(), Some("eventex"));
    let ext = encoder.event(by_key(&events, 20003));
    assert_eq!(
        ext.ty(),
        "com.vmware.vsphere.com.vmware.applmgmt.backup.job.failed.event.v0"
    );
    assert_eq!(class(&ext).as_deref(), Some("extendedevent"));
    assert_eq!(ext.datacontenttype(), Some("application/json"));
    // An event type no catalogue knows: the xsi:type name.
    let unknown = encoder.event(by_key(&events, 20033));
    assert_eq!(
        unknown.ty(),
        "com.vmware.vsphere.QuantumEntanglementEvent.v0"
    );
    assert_eq!(class(&unknown).as_deref(), Some("event"));
}

#[test]
fn overrides_are_applied_to_every_event_and_replace_extensions() {
    let overrides = CeOverrides::from_json(
        r#"{"extensions":{"team":"ops team","eventclass":"custom","averyveryverylongname123":"x"}}"#,
    )
    .expect("valid overrides");
    let encoder = EventEncoder::new("https://vc/sdk", "8.0", PayloadEncoding::ApplicationJson)
        .with_overrides(overrides);
    for event in &special() {
        let req = encoder
            .request(event, &sink(), Vec::new())
            .expect("request");
        assert_eq!(header(&req, "ce-team"), "ops%20team");
        assert_eq!(header(&req, "ce-eventclass"), "custom");
        assert_eq!(header(&req, "ce-averyveryverylongname123"), "x");
        assert_eq!(header(&req, "content-type"), "application/json");
    }
}

#[test]
fn invalid_overrides_are_rejected_naming_the_key() {
    for (input, key) in [
        (r#"{"extensions":{"Upper":"x"}}"#, "Upper"),
        (r#"{"extensions":{"type":"x"}}"#, "type"),
        (r#"{"extensions":{"specversion":"x"}}"#, "specversion"),
        (
            r#"{"extensions":{"with_underscore":"x"}}"#,
            "with_underscore",
        ),
    ] {
        let err = CeOverrides::from_json(input).expect_err(input).to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn header_values_are_percent_encoded() {
    let encoder = EventEncoder::new(
        "https://vc.example.com/sdk",
        "8.0 \"beta\" 100%",
        PayloadEncoding::ApplicationXml,
    );
    let events = special();
    let req = encoder
        .request(&events[0], &sink(), Vec::new())
        .expect("request");
    assert_eq!(
        header(&req, "ce-vsphereapiversion"),
        "8.0%20%22beta%22%20100%25"
    );
}

#[test]
fn structured_mode_is_one_cloudevents_json_document() {
    let events = special();
    let event = by_key(&events, 20004);
    for encoding in [
        PayloadEncoding::ApplicationJson,
        PayloadEncoding::ApplicationXml,
    ] {
        let encoder = EventEncoder::new("https://vc/sdk", "8.0", encoding)
            .with_mode(ContentMode::Structured)
            .with_namespace("ns");
        let req = encoder
            .request(event, &sink(), Vec::new())
            .expect("request");
        assert_eq!(header(&req, "content-type"), "application/cloudevents+json");
        assert_eq!(header(&req, "kn-namespace"), "ns");
        assert!(req.headers().get("ce-id").is_none());
        let doc: serde_json::Value = serde_json::from_slice(req.body()).expect("JSON body");
        assert_eq!(doc["specversion"], "1.0");
        assert_eq!(doc["id"], "20004");
        assert_eq!(doc["source"], "https://vc/sdk");
        assert_eq!(doc["type"], "com.vmware.vsphere.GeneralUserEvent.v0");
        assert_eq!(doc["time"], "2026-03-21T09:00:03Z");
        assert_eq!(doc["eventclass"], "event");
        assert_eq!(doc["vsphereapiversion"], "8.0");
        assert_eq!(
            doc["datacontenttype"],
            encoding.content_type().unwrap_or_default()
        );
        let mut payload = Vec::new();
        if encoding.is_xml() {
            encode_xml(event.object(), &mut payload);
            assert_eq!(doc["data"].as_str().map(str::as_bytes), Some(&payload[..]));
        } else {
            encode_json(event.object(), &mut payload);
            let inline: serde_json::Value = serde_json::from_slice(&payload).expect("payload");
            assert_eq!(doc["data"], inline);
        }
    }
}

#[test]
fn unknown_event_types_are_encoded_with_names_as_received() {
    let events = special();
    let event = by_key(&events, 20033);
    assert!(!event.is_known_type());
    let mut xml = Vec::new();
    encode_xml(event.object(), &mut xml);
    let xml = String::from_utf8(xml).expect("UTF-8");
    assert!(
        xml.starts_with("<QuantumEntanglementEvent><key>20033</key>"),
        "{xml}"
    );
    assert!(
        xml.ends_with(
            "<partner type=\"VirtualMachine\">vm-91</partner><fidelity>0.998</fidelity><axis>x</axis><axis>z</axis></QuantumEntanglementEvent>"
        ),
        "{xml}"
    );
    let mut json = Vec::new();
    encode_json(event.object(), &mut json);
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(doc["Key"], 20033);
    assert_eq!(doc["Vm"]["Vm"]["Value"], "vm-57");
    assert_eq!(doc["Partner"]["Value"], "vm-91");
    assert_eq!(doc["Fidelity"], "0.998");
    assert_eq!(doc["Axis"], serde_json::json!(["x", "z"]));
    // The Event base fields Go would write are all there.
    for key in [
        "ChainId",
        "CreatedTime",
        "UserName",
        "Datacenter",
        "Ds",
        "ChangeTag",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing: {doc}");
    }
}

#[test]
fn newer_api_fields_are_kept_after_the_known_fields_of_their_struct() {
    let events = special();
    let event = by_key(&events, 20006); // UserLogoutSessionEvent with Event.auditId
    let mut json = Vec::new();
    encode_json(event.object(), &mut json);
    let json = String::from_utf8(json).expect("UTF-8");
    assert!(
        json.contains(r#""ChangeTag":"","AuditId":"3c1f7c2e-aa01-4b0e-9f6e-2d1b7d1b7e01","IpAddress":"10.0.0.7""#),
        "{json}"
    );
    let strict = EventEncoder::new("https://vc/sdk", "8.0", PayloadEncoding::ApplicationJson)
        .with_go_fields_only(true);
    let mut go = Vec::new();
    strict.encode_data(event, &mut go);
    assert!(!String::from_utf8_lossy(&go).contains("AuditId"));
}

#[test]
fn the_body_buffer_is_reused() {
    let events = special();
    let encoder = EventEncoder::new("https://vc/sdk", "8.0", PayloadEncoding::ApplicationJson);
    let mut buf = Vec::with_capacity(1 << 16);
    let cap = buf.capacity();
    for event in &events {
        let req = encoder.request(event, &sink(), buf).expect("request");
        buf = req.into_body();
        assert!(buf.capacity() >= cap);
    }
}

#[test]
fn encode_line_is_the_encode_file_format() {
    let events = special();
    let encoder = EventEncoder::new("", "", PayloadEncoding::ApplicationXml);
    let (mut payload, mut line) = (Vec::new(), Vec::new());
    cloudevent_encode::encode_line(&encoder, by_key(&events, 20005), &mut payload, &mut line);
    let doc: serde_json::Value = serde_json::from_slice(&line).expect("JSON line");
    assert_eq!(doc["id"], "20005");
    assert_eq!(doc["type"], "com.vmware.vsphere.SessionTerminatedEvent.v0");
    assert_eq!(doc["datacontenttype"], "application/xml");
    assert!(
        doc["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("<SessionTerminatedEvent><key>20005</key>"))
    );
    assert_eq!(line.last(), Some(&b'\n'));
}

#[test]
fn source_is_the_normalised_endpoint_without_user_info() {
    let (endpoint, creds) =
        vsphere_client::Endpoint::parse("user:secret@vcenter.corp.local").expect("url");
    assert!(creds.is_some());
    let encoder = EventEncoder::for_endpoint(&endpoint, "8.0", PayloadEncoding::ApplicationXml);
    let events = special();
    let event = encoder.event(&events[0]);
    assert_eq!(event.source(), "https://vcenter.corp.local/sdk");
}

#[test]
fn requests_convert_to_reqwest() {
    let events = special();
    let encoder = EventEncoder::new("https://vc/sdk", "8.0", PayloadEncoding::ApplicationJson)
        .with_namespace("ns");
    let req = encoder
        .request(&events[0], &sink(), Vec::new())
        .expect("request");
    let len = req.body().len();
    let req = reqwest::Request::try_from(req).expect("reqwest 0.13 accepts http::Request<Vec<u8>>");
    assert_eq!(req.method(), reqwest::Method::POST);
    assert_eq!(
        req.url().as_str(),
        "http://sink.default.svc.cluster.local/path"
    );
    assert_eq!(req.headers()["ce-id"], "20001");
    assert_eq!(req.headers()["kn-namespace"], "ns");
    assert_eq!(
        req.body().and_then(|b| b.as_bytes()).map(<[u8]>::len),
        Some(len)
    );
}
