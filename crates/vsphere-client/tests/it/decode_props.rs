//! Property tests for the decoder.
//!
//! - Random events typed by the catalogue (any `Event` subtype, a random subset of its fields,
//!   nested objects of the declared type or a subtype, arrays, `anyType` values), written with
//!   the crate's request writer ([`Request::object`]) into a `ReadNextEventsResponse`, decode back
//!   to equal objects.
//! - Arbitrary bytes, mutated and truncated fixtures never panic; a page cut before its end is
//!   an error, never a shorter page.
//!
//! The random objects are built from a tape of numbers (proptest shrinks the tape towards
//! fewer, smaller numbers, and a 0 always means "the simplest choice"), so a failure shrinks to a
//! small object.

use std::collections::HashMap;

use jiff::Timestamp;
use proptest::prelude::*;
use vsphere_client::catalogue::{self, Kind, TypeInfo};
use vsphere_client::decode::{decode_body, decode_events};
use vsphere_client::request::Request;
use vsphere_client::{DataObject, Field, FieldName, MoRef, Value};

const VCSIM_PAGE: &str = include_str!("../fixtures/vcsim-read-next-events.xml");
const VCENTER_PAGE: &str = include_str!("../fixtures/vcenter-read-next-events.xml");
const BENCH_PAGE: &str = include_str!("../fixtures/bench-page-100.xml");

/// Nested data objects below this depth are left out.
const MAX_DEPTH: usize = 4;

/// Characters strings are made of: XML-special, whitespace (including CR, which the writer
/// escapes), non-ASCII in 2, 3 and 4 UTF-8 bytes, and plain ASCII.
const CHARS: &[char] = &[
    'a', 'Z', '0', '9', ' ', '\t', '\n', '\r', '&', '<', '>', '"', '\'', ';', '#', ']', '=', ':',
    '/', '\\', '-', '_', '.', 'é', 'ß', 'Ω', '\u{a0}', '日', '本', '✓', '\u{2028}', '🚀', '𝄞',
];

/// A tape of choices; reading past its end gives zeros (the simplest choices).
struct Tape<'a> {
    tape: &'a [u32],
    pos: usize,
    subtypes: HashMap<&'static str, Vec<&'static TypeInfo>>,
}

impl<'a> Tape<'a> {
    fn new(tape: &'a [u32]) -> Self {
        Self {
            tape,
            pos: 0,
            subtypes: HashMap::new(),
        }
    }

    fn next(&mut self) -> u32 {
        let v = self.tape.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        self.next() as usize % n
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.next() % one_in == 1
    }

    fn u64(&mut self) -> u64 {
        (u64::from(self.next()) << 32) | u64::from(self.next())
    }

    /// An integer, often an extreme.
    fn int<T: Copy>(&mut self, min: T, max: T, from: impl Fn(u64) -> T) -> T {
        match self.below(8) {
            1 => min,
            2 => max,
            _ => from(self.u64()),
        }
    }

    fn string(&mut self) -> String {
        let len = self.below(12);
        (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }

    /// A type-name-like word (MoRef kinds are type names in practice, but any text must do).
    fn moref(&mut self) -> MoRef {
        let kinds = ["VirtualMachine", "HostSystem", "Folder", "Datastore"];
        let kind = if self.chance(4) {
            self.string()
        } else {
            kinds[self.below(kinds.len())].to_owned()
        };
        MoRef::new(kind, self.string())
    }

    fn datetime(&mut self) -> Timestamp {
        // 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z, with 0 to 9 fractional digits.
        let (min, max) = (-62_135_596_800_i64, 253_402_300_799_i64);
        let secs = min + (self.u64() % (max - min + 1) as u64) as i64;
        let digits = self.below(10) as u32;
        let nanos = (self.next() % 10u32.pow(digits)) * 10u32.pow(9 - digits);
        Timestamp::new(secs, nanos as i32).expect("in range")
    }

    fn float(&mut self) -> f64 {
        match self.below(6) {
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 0.1,
            _ => {
                let v = f64::from_bits(self.u64());
                if v.is_nan() { -1.5e-300 } else { v }
            }
        }
    }

    /// A value of a primitive kind.
    fn primitive(&mut self, kind: Kind) -> Value {
        match kind {
            Kind::Bool => Value::Bool(self.chance(2)),
            Kind::Byte => Value::Byte(self.int(i8::MIN, i8::MAX, |v| v as i8)),
            Kind::Short => Value::Short(self.int(i16::MIN, i16::MAX, |v| v as i16)),
            Kind::Int => Value::Int(self.int(i32::MIN, i32::MAX, |v| v as i32)),
            Kind::Long => Value::Long(self.int(i64::MIN, i64::MAX, |v| v as i64)),
            Kind::Float => Value::Float(self.float() as f32),
            Kind::Double => Value::Double(self.float()),
            Kind::DateTime => Value::DateTime(self.datetime()),
            Kind::Binary => {
                let len = self.below(10);
                Value::Binary((0..len).map(|_| self.next() as u8).collect())
            }
            Kind::MoRef => Value::MoRef(self.moref()),
            Kind::Enum(i) => {
                let values: Vec<&str> = catalogue::enum_at(i).values().collect();
                if values.is_empty() {
                    Value::String(self.string())
                } else {
                    Value::String(values[self.below(values.len())].to_owned())
                }
            }
            Kind::String | Kind::Uri | Kind::TypeName | Kind::MethodName | Kind::PropertyPath => {
                Value::String(self.string())
            }
            Kind::Any | Kind::Data(_) => unreachable!("not primitive: {kind:?}"),
        }
    }

    /// An `xsd:anyType` value: a primitive that keeps its XML Schema type, a MoRef or an
    /// `ArrayOfString`.
    fn any(&mut self) -> Value {
        const KINDS: &[Kind] = &[
            Kind::String,
            Kind::Int,
            Kind::Long,
            Kind::Short,
            Kind::Byte,
            Kind::Bool,
            Kind::Float,
            Kind::Double,
            Kind::DateTime,
            Kind::Binary,
            Kind::MoRef,
        ];
        let choice = self.below(KINDS.len() + 1);
        match KINDS.get(choice) {
            Some(&kind) => self.primitive(kind),
            None => {
                let ty = catalogue::lookup("ArrayOfString").expect("ArrayOfString");
                let n = 1 + self.below(3);
                let items = (0..n).map(|_| Value::String(self.string())).collect();
                Value::Object(Box::new(
                    DataObject::new(ty).with("string", Value::Array(items)),
                ))
            }
        }
    }

    /// The declared type or one of its subtypes.
    fn subtype(&mut self, declared: &'static TypeInfo) -> &'static TypeInfo {
        if !self.chance(2) {
            return declared;
        }
        let subs = self.subtypes.entry(declared.name()).or_insert_with(|| {
            catalogue::TYPES
                .iter()
                .filter(|t| t.is_a(declared.name()))
                .collect()
        });
        let i = (self.tape.get(self.pos).copied().unwrap_or(0) as usize) % subs.len();
        self.pos += 1;
        subs[i]
    }

    /// A data object of type `ty` with a random subset of its fields, in catalogue order.
    fn object(&mut self, ty: &'static TypeInfo, depth: usize) -> DataObject {
        let mut obj = DataObject::new(ty);
        let all: Vec<_> = ty.all_fields().collect();
        for info in &all {
            // A name declared twice in the chain would be written twice; leave such fields out.
            if all
                .iter()
                .filter(|f| f.xml_name() == info.xml_name())
                .count()
                > 1
            {
                continue;
            }
            let wanted = info.xml_name() == "key" && ty.is_a("Event") || self.chance(3);
            if !wanted {
                continue;
            }
            let value = if info.is_array() {
                let n = 1 + self.below(3);
                let items: Vec<Value> = (0..n)
                    .filter_map(|_| self.value(info.kind, depth))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                Value::Array(items)
            } else {
                match self.value(info.kind, depth) {
                    Some(v) => v,
                    None => continue,
                }
            };
            obj.fields.push(Field {
                name: FieldName::Known(info),
                value,
            });
        }
        obj
    }

    fn value(&mut self, kind: Kind, depth: usize) -> Option<Value> {
        Some(match kind {
            Kind::Any => self.any(),
            Kind::Data(i) => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let ty = self.subtype(catalogue::type_at(i));
                Value::Object(Box::new(self.object(ty, depth + 1)))
            }
            k => self.primitive(k),
        })
    }
}

fn event_types() -> &'static [&'static TypeInfo] {
    static EVENTS: std::sync::OnceLock<Vec<&'static TypeInfo>> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| {
        catalogue::TYPES
            .iter()
            .filter(|t| t.is_a("Event"))
            .collect()
    })
}

/// A `ReadNextEventsResponse` with `events` as `returnval`s, written by the request writer (a
/// "method" named like the response, less its `_this`); with `vcsim_prefix`, the XML Schema
/// instance namespace is bound to vcsim's `XMLSchema-instance` prefix instead of `xsi`.
fn page(events: &[DataObject], vcsim_prefix: bool) -> String {
    let this = MoRef::new("EventHistoryCollector", "session[0]0");
    let mut req = Request::new("ReadNextEventsResponse", &this);
    for e in events {
        req.object("returnval", e);
    }
    let xml = req.finish();
    let xml = xml.replacen(
        r#"<_this type="EventHistoryCollector">session[0]0</_this>"#,
        "",
        1,
    );
    if vcsim_prefix {
        xml.replace("xmlns:xsi=", "xmlns:XMLSchema-instance=")
            .replace(" xsi:type=\"", " XMLSchema-instance:type=\"")
    } else {
        xml
    }
}

/// 256 cases (a few seconds in a debug build); `PROPTEST_CASES` asks for more.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn catalogue_typed_events_round_trip(
        tape in prop::collection::vec(any::<u32>(), 0..1500),
        count in 1usize..=3,
        vcsim_prefix in any::<bool>(),
    ) {
        let mut t = Tape::new(&tape);
        let events: Vec<DataObject> = (0..count)
            .map(|_| {
                let ty = event_types()[t.below(event_types().len())];
                t.object(ty, 0)
            })
            .collect();
        let xml = page(&events, vcsim_prefix);
        let decoded = decode_events(xml.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(decoded.len(), events.len());
        for (got, want) in decoded.iter().zip(&events) {
            prop_assert_eq!(got.object(), want, "{}", xml);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_events(&bytes);
        let _ = decode_body(&bytes, None);
    }

    #[test]
    fn xml_shaped_noise_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "<", ">", "</", "/>", "=", "\"", "'", "&", ";", "&amp;", "&#", "&#x", "x", "1",
                " ", "\n", "<?xml version=\"1.0\"?>", "<!--", "-->", "<![CDATA[", "]]>",
                "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">",
                "<soapenv:Body>", "</soapenv:Body>", "<soapenv:Fault>", "<detail>",
                "<returnval>", "</returnval>", " xsi:type=\"", "xsi:nil=\"true\"",
                " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"", " type=\"",
                "VmPoweredOffEvent", "EventEx", "xsd:int", "ArrayOfString", "<key>", "</key>",
                "<arguments>", "<value", "<fault", "<configSpec>", "<deviceChange>", "é", "🚀",
            ]),
            0..80,
        ),
    ) {
        let doc = parts.concat();
        let _ = decode_events(doc.as_bytes());
        let _ = decode_body(doc.as_bytes(), None);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut doc = [VCENTER_PAGE, VCSIM_PAGE, BENCH_PAGE][which].as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(doc.len());
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                _ => doc.insert(i, byte),
            }
        }
        let _ = decode_events(&doc);
        let _ = decode_body(&doc, None);
    }

    #[test]
    fn truncated_pages_are_errors_not_shorter_pages(which in 0usize..3, cut in any::<prop::sample::Index>()) {
        let doc = [VCENTER_PAGE, VCSIM_PAGE, BENCH_PAGE][which];
        let end = doc.find("</ReadNextEventsResponse>").expect("response end");
        let cut = cut.index(end);
        let result = decode_events(&doc.as_bytes()[..cut]);
        prop_assert!(result.is_err(), "a page cut at byte {} of {} decoded: {:?}", cut, doc.len(), result.map(|e| e.len()));
    }
}

/// Every prefix of a small page with every construct: never a panic, an error before the end.
#[test]
fn every_prefix_of_a_small_page_is_an_error() {
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><ReadNextEventsResponse xmlns="urn:vim25"><!-- c --><returnval xsi:type="EventEx"><key>1</key><chainId>1</chainId><createdTime>2026-03-21T08:40:39.553822Z</createdTime><userName>a&amp;b &#10;é</userName><vm><name>v</name><vm type="VirtualMachine">vm-1</vm></vm><changeTag xsi:nil="true"/><eventTypeId>x</eventTypeId><arguments><key>k</key><value xsi:type="xsd:int">5</value></arguments><arguments><key>a</key><value xsi:type="ArrayOfString"><string>s</string></value></arguments><fault><fault xsi:type="InvalidState"/></fault><future><a><![CDATA[<x>]]></a></future></returnval><returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="FutureEvent"><key>2</key></returnval></ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;
    let full = decode_events(doc.as_bytes()).expect("the whole page decodes");
    assert_eq!(full.len(), 2);
    let end = doc.find("</ReadNextEventsResponse>").unwrap();
    for cut in 0..doc.len() {
        let result = decode_events(&doc.as_bytes()[..cut]);
        if cut < end {
            assert!(result.is_err(), "cut at {cut} decoded: {result:?}");
        }
        let _ = decode_body(&doc.as_bytes()[..cut], None);
    }
}
