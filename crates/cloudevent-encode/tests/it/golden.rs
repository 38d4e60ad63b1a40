//! Byte-for-byte comparison with the Go adapter's payloads.
//!
//! `tests/golden/*.golden.jsonl` are written by `tools/golden-go` (govmomi at the Go project's
//! pinned version decoding the SOAP fixture `tests/golden/NAME.xml`, then `encoding/xml` and
//! `encoding/json` of every event); `tests/golden/regenerate.sh` rewrites them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cloudevent_encode::cloudevents::AttributesReader as _;
use cloudevent_encode::{EventEncoder, PayloadEncoding};
use vsphere_client::decode::decode_events;
use vsphere_client::model::{DataObject, FieldName, Value};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn goldens() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".golden.jsonl"))
        .collect();
    out.sort();
    out
}

/// Where two byte strings first differ, with some context.
fn first_difference(ours: &[u8], go: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(go)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(go.len()));
    let from = at.saturating_sub(120);
    format!(
        "first difference at byte {at} (ours {} bytes, go {} bytes)\n  ours: …{}…\n  go:   …{}…",
        ours.len(),
        go.len(),
        String::from_utf8_lossy(&ours[from..(at + 120).min(ours.len())]),
        String::from_utf8_lossy(&go[from..(at + 120).min(go.len())]),
    )
}

/// Whether the object holds anything govmomi 0.24 does not know (at any depth).
fn has_extras(obj: &DataObject) -> bool {
    if !obj.type_info().is_some_and(|t| t.in_go) {
        return true;
    }
    obj.fields.iter().any(|f| {
        let field_extra = match &f.name {
            FieldName::Known(info) => !info.in_go(),
            FieldName::Unknown(_) => true,
        };
        field_extra || value_has_extras(&f.value)
    })
}

fn value_has_extras(v: &Value) -> bool {
    match v {
        Value::Object(o) => has_extras(o),
        Value::Array(items) => items.iter().any(value_has_extras),
        _ => false,
    }
}

struct Outcome {
    with_extras: usize,
    compared: usize,
    skipped_unknown: usize,
    types: BTreeSet<String>,
    failures: Vec<String>,
}

fn check(golden: &Path) -> Outcome {
    let name = golden
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".golden.jsonl"))
        .expect("golden name");
    let fixture = golden_dir().join(format!("{name}.xml"));
    let page = std::fs::read(&fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    let events = decode_events(&page).unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = std::fs::read_to_string(golden).expect("golden");
    let mut out = Outcome {
        with_extras: 0,
        compared: 0,
        skipped_unknown: 0,
        types: BTreeSet::new(),
        failures: Vec::new(),
    };
    let mut buf = Vec::with_capacity(1 << 16);
    for line in text.lines() {
        let g: serde_json::Value = serde_json::from_str(line).expect("golden line is JSON");
        let index = g["index"].as_u64().expect("index") as usize;
        let Some(event) = events.get(index) else {
            out.failures.push(format!(
                "{name}[{index}]: we decoded only {} events",
                events.len()
            ));
            continue;
        };
        if g.get("unknown").is_some() {
            // The Go adapter panics on these; we encode them (see cloudevent.rs, unknown_event_types_are_encoded_…).
            out.skipped_unknown += 1;
            continue;
        }
        let ct = g["datacontenttype"].as_str().expect("datacontenttype");
        let encoding = PayloadEncoding::parse(ct).expect("encoding");
        let encoder = EventEncoder::new("https://vc/sdk", "8.0", encoding);
        let ce = encoder.event(event);
        let what = format!("{name}[{index}] {} {ct}", event.type_name());
        if ce.id() != g["id"].as_str().unwrap_or_default() {
            out.failures
                .push(format!("{what}: id {} != go {}", ce.id(), g["id"]));
        }
        if ce.ty() != g["type"].as_str().unwrap_or_default() {
            out.failures
                .push(format!("{what}: type {} != go {}", ce.ty(), g["type"]));
        }
        let class = ce.extension("eventclass").map(|c| c.to_string());
        if class.as_deref() != g["eventclass"].as_str() {
            out.failures.push(format!(
                "{what}: eventclass {class:?} != go {}",
                g["eventclass"]
            ));
        }
        let go = g["data"].as_str().expect("data").as_bytes();
        // Go-only mode: exactly the Go adapter's bytes, always.
        buf.clear();
        let strict = EventEncoder::new("https://vc/sdk", "8.0", encoding).with_go_fields_only(true);
        strict.encode_data(event, &mut buf);
        if buf != go {
            out.failures
                .push(format!("{what} (go-only): {}", first_difference(&buf, go)));
        }
        // Default mode: the same bytes unless vCenter sent what govmomi does not know, which
        // is then written as well.
        buf.clear();
        encoder.encode_data(event, &mut buf);
        if buf != go {
            if has_extras(event.object()) {
                out.with_extras += 1;
            } else {
                out.failures
                    .push(format!("{what}: {}", first_difference(&buf, go)));
            }
        }
        out.compared += 1;
        out.types.insert(event.type_name().to_owned());
    }
    out
}

#[test]
fn payloads_are_byte_identical_to_go() {
    let mut total = 0;
    let mut types = BTreeSet::new();
    let mut failures = Vec::new();
    for golden in goldens() {
        let o = check(&golden);
        eprintln!(
            "{}: {} payloads compared ({} with fields govmomi lacks, identical in go-only mode), {} unknown-type events skipped, {} failures",
            golden.file_name().unwrap_or_default().to_string_lossy(),
            o.compared,
            o.with_extras,
            o.skipped_unknown,
            o.failures.len()
        );
        total += o.compared;
        types.extend(o.types);
        failures.extend(o.failures);
    }
    eprintln!(
        "{total} payloads of {} event types compared with Go",
        types.len()
    );
    assert!(
        types.len() >= 40,
        "only {} event types covered",
        types.len()
    );
    for named in [
        "VmBeingCreatedEvent",
        "VmReconfiguredEvent",
        "EventEx",
        "ExtendedEvent",
        "VmFailedToPowerOnEvent",
        "TaskEvent",
    ] {
        assert!(types.contains(named), "no golden for {named}");
    }
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(12).collect();
        panic!(
            "{} payloads differ from Go:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
