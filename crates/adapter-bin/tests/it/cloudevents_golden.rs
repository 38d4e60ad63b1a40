//! The CloudEvents the adapters send, byte for byte: binary mode (every header, and the
//! body) and structured mode (the stdout line), for vCenter events (the special-cases fixture of
//! `cloudevent-encode`, XML and JSON payloads) and Horizon audit events (special characters,
//! missing fields), with and without `K_CE_OVERRIDES` and `NAMESPACE`.
//!
//! `tests/golden/cloudevents.jsonl` was written from the encoders before the CloudEvent binding
//! moved onto the CloudEvents SDK's `Event`; it pins what a sink (or stdout) receives. After an
//! intended change, rewrite it with `BLESS_GOLDEN=1 cargo test -p adapter-bin --test it
//! cloudevents_golden` and review the diff.

use std::path::{Path, PathBuf};

use adapter::encode::{Encode, outgoing};
use cloudevent_encode::binding::ContentMode;
use cloudevent_encode::{CeOverrides, EventEncoder, PayloadEncoding};
use horizon_client::AuditEvent;
use serde_json::{Value, json};

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cloudevents.jsonl")
}

/// One record per event and mode. Binary mode's headers are listed by name: HTTP gives their
/// order no meaning (Go's `net/http` sends them sorted, ours differed between the adapters),
/// their names and values are pinned byte for byte.
fn record<E>(case: &str, encoder: &impl Encode<E>, event: &E, out: &mut Vec<Value>) {
    let binary = outgoing(encoder, event, ContentMode::Binary).expect("encodes");
    let mut headers: Vec<(String, String)> = binary
        .headers
        .iter()
        .map(|(k, v)| {
            let value = v.to_str().expect("ASCII header");
            (k.as_str().to_owned(), value.to_owned())
        })
        .collect();
    headers.sort();
    out.push(json!({
        "case": case,
        "mode": "binary",
        "headers": headers,
        "body": std::str::from_utf8(&binary.body).expect("UTF-8 body"),
    }));
    let line = outgoing(encoder, event, ContentMode::Structured)
        .expect("encodes")
        .body;
    out.push(json!({
        "case": case,
        "mode": "structured",
        "line": std::str::from_utf8(&line).expect("UTF-8 line"),
    }));
}

fn overrides() -> CeOverrides {
    CeOverrides::from_json(
        r#"{"extensions":{"team":"ops team","eventclass":"custom","zz9":"ü \"q\" 100%","aa":"<&>"}}"#,
    )
    .expect("overrides")
}

fn vsphere_records(out: &mut Vec<Value>) {
    let page = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cloudevent-encode/tests/golden/vcenter-special-cases.xml");
    let events = vsphere_client::decode::decode_events(&std::fs::read(&page).expect("fixture"))
        .expect("fixture decodes");
    assert!(events.len() > 30);
    let variants: [(&str, PayloadEncoding, bool); 4] = [
        ("xml", PayloadEncoding::ApplicationXml, false),
        ("json+ns+overrides", PayloadEncoding::ApplicationJson, true),
        ("text-xml+ns+overrides", PayloadEncoding::TextXml, true),
        ("unset", PayloadEncoding::Unset, false),
    ];
    for (name, encoding, extras) in variants {
        let mut encoder = EventEncoder::new(
            "https://vcenter.corp.local/sdk",
            "8.0.3.0 \"beta\"",
            encoding,
        );
        if extras {
            encoder = encoder.with_overrides(overrides()).with_namespace("my ns");
        }
        let encoder = adapter::encode::vsphere::VsphereEncoder::new(encoder);
        for event in &events {
            // Every fixture event has a createdTime (an event without one is sent with the
            // time of sending, which no golden can hold).
            assert!(event.created_time().is_some());
            record(
                &format!("vsphere/{name}/{}", event.key()),
                &encoder,
                event,
                out,
            );
        }
    }
}

fn horizon_events() -> Vec<AuditEvent> {
    [
        r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#,
        r#"{"id":7,"application_pool_name":"calc","desktop_pool_name":"pool <1> & \"two\"","machine_id":"m-1","message":"é ü 日本 😀 \u2028 tab\there\nnewline","module":"Broker","severity":"WARNING","time":1627369939000,"type":"BROKER_USER_AUTHFAILED_BAD_USER_PASSWORD","user_id":"S-1"}"#,
        r#"{"id":8,"time":1}"#,
        r#"{"id":9,"type":"Mixed_Case-Type","time":-1000}"#,
        r#"{"id":10,"type":"","time":253402300799999,"severity":"INFO"}"#,
        // Beyond year 9999, and before year 1.
        r#"{"id":11,"type":"A&B <c>","time":253402300800000}"#,
        r#"{"id":12,"time":-62198755200000}"#,
    ]
    .iter()
    .map(|j| serde_json::from_str(j).expect("audit event"))
    .collect()
}

fn horizon_records(out: &mut Vec<Value>) {
    for (name, extras) in [("plain", false), ("ns+overrides", true)] {
        let overrides = if extras {
            overrides()
        } else {
            CeOverrides::none()
        };
        let encoder = adapter::encode::horizon::HorizonEncoder::new(
            "https://horizon.corp.local",
            &overrides,
            extras.then_some("my ns"),
        );
        for event in horizon_events() {
            record(
                &format!("horizon/{name}/{}", event.id),
                &encoder,
                &event,
                out,
            );
        }
    }
}

#[test]
fn cloudevents_are_byte_identical_to_the_golden() {
    let mut records = Vec::new();
    vsphere_records(&mut records);
    horizon_records(&mut records);
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let path = golden_path();
    if std::env::var_os("BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (write it with BLESS_GOLDEN=1)", path.display()));
    let (got_lines, want_lines): (Vec<&str>, Vec<&str>) =
        (text.lines().collect(), want.lines().collect());
    for (i, (got, want)) in got_lines.iter().zip(&want_lines).enumerate() {
        assert_eq!(got, want, "line {} of {} differs", i + 1, path.display());
    }
    assert_eq!(
        got_lines.len(),
        want_lines.len(),
        "{} records, the golden has {}",
        got_lines.len(),
        want_lines.len()
    );
}
