//! The schema-guided streaming decoder: SOAP response bytes to [`Value`]s typed by the catalogue.
//!
//! One pass over the document with a small pull tokenizer (`Xml`) made for what SOAP uses:
//! elements, attributes, namespaces, character data, CDATA and the predefined and character
//! references; comments, processing instructions and a DOCTYPE are skipped, and no entity is
//! ever expanded from a DTD. No DOM. `xsi:type` is resolved by namespace URI whatever prefix
//! the server chose (`xsi:`, `XMLSchema-instance:`, `_XMLSchema-instance:`), so inheritance and
//! polymorphic slots decode to their concrete type. Types and elements the catalogue does not
//! know (a newer vCenter) are decoded generically and kept. Malformed input is an error naming
//! the byte position; the decoder never panics and bounds nesting depth.
//!
//! ```
//! use vsphere_client::decode::decode_events;
//! let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
//!   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
//!   <ReadNextEventsResponse xmlns="urn:vim25"><returnval xsi:type="VmPoweredOffEvent">
//!   <key>28</key><chainId>28</chainId><createdTime>2026-11-27T02:47:56.344661454Z</createdTime>
//!   <userName>user</userName><vm><name>VM0</name><vm type="VirtualMachine">vm-57</vm></vm>
//!   <fullFormattedMessage>VM0 is powered off</fullFormattedMessage><template>false</template>
//!   </returnval></ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;
//! let events = decode_events(xml.as_bytes()).unwrap();
//! assert_eq!(events[0].key(), 28);
//! assert_eq!(events[0].type_name(), "VmPoweredOffEvent");
//! assert_eq!(events[0].entity("vm").unwrap().1.unwrap().value, "vm-57");
//! ```

mod schema;
mod xml;

use crate::catalogue::{self, Kind};
use crate::fault::SoapFault;
use crate::model::{Event, Value};
use schema::Decoder;
use xml::Tok;

/// Why a response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SOAP response at byte {position}: {message}")]
#[non_exhaustive]
pub struct DecodeError {
    /// Byte offset in the response where the problem was found.
    pub position: u64,
    /// What is wrong.
    pub message: String,
}

/// The content of a SOAP body: the `returnval`s of a response, or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// The method's `returnval` elements, decoded (empty for methods that return nothing).
    Return(Vec<Value>),
    /// A SOAP fault.
    Fault(SoapFault),
}

/// Decode a `ReadNextEvents`/`ReadPreviousEvents` response into events.
///
/// A SOAP fault in the body is returned as [`DecodeError`]; use [`decode_body`] to tell faults
/// apart.
pub fn decode_events(xml: &[u8]) -> Result<Vec<Event>, DecodeError> {
    match decode_body(xml, Some(Kind::Data(type_index("Event"))))? {
        Body::Return(values) => values_to_events(values),
        Body::Fault(f) => Err(DecodeError {
            position: 0,
            message: format!("expected events, got a fault: {f}"),
        }),
    }
}

/// Turn decoded `returnval`s of declared type `Event` into events.
pub fn values_to_events(values: Vec<Value>) -> Result<Vec<Event>, DecodeError> {
    fn push(events: &mut Vec<Event>, item: Value) -> Result<(), DecodeError> {
        match item {
            Value::Object(obj) => match Event::from_object(*obj) {
                Ok(ev) => {
                    events.push(ev);
                    Ok(())
                }
                Err(obj) => Err(DecodeError {
                    position: 0,
                    message: format!("event of type {} has no integer key", obj.type_name),
                }),
            },
            other => Err(DecodeError {
                position: 0,
                message: format!("expected an event object, got {other:?}"),
            }),
        }
    }
    let mut events = Vec::with_capacity(values.len());
    for value in values {
        match value {
            Value::Array(items) => {
                for item in items {
                    push(&mut events, item)?;
                }
            }
            single => push(&mut events, single)?,
        }
    }
    Ok(events)
}

/// Decode a SOAP envelope. `returnval` elements are decoded as `expected` (the method's declared
/// return type) unless they carry an `xsi:type`.
pub fn decode_body(xml: &[u8], expected: Option<Kind>) -> Result<Body, DecodeError> {
    let text = std::str::from_utf8(xml).map_err(|e| DecodeError {
        position: e.valid_up_to() as u64,
        message: "response is not UTF-8".into(),
    })?;
    let mut dec = Decoder::new(text);
    dec.body(expected)
}

/// Decode a `ReadNextEvents`/`ReadPreviousEvents` response whose strict decoding failed,
/// keeping what is readable: a primitive value that does not parse (an `xsd:int` that is not a
/// number, a malformed `xsd:dateTime`) is kept as its text, as fields of unknown types are.
/// Fails only when the XML itself is not well-formed or an event has no integer `key`.
pub fn decode_events_lenient(xml: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let text = std::str::from_utf8(xml).map_err(|e| DecodeError {
        position: e.valid_up_to() as u64,
        message: "response is not UTF-8".into(),
    })?;
    let mut dec = Decoder::new(text);
    dec.lenient = true;
    match dec.body(Some(Kind::Data(type_index("Event"))))? {
        Body::Return(values) => values_to_events(values),
        Body::Fault(f) => Err(DecodeError {
            position: 0,
            message: format!("expected events, got a fault: {f}"),
        }),
    }
}

/// Decode one XML element (no SOAP envelope) as a value of kind `expected`; for tests, fixtures
/// and tools. The element name is ignored; an `xsi:type` attribute wins over `expected`.
pub fn decode_element(xml: &str, expected: Option<Kind>) -> Result<Value, DecodeError> {
    let mut dec = Decoder::new(xml);
    loop {
        match dec.xml.next()? {
            Tok::Start(e) => {
                let v = dec.value(&e, false, expected, 0)?;
                return Ok(v.unwrap_or(Value::String(String::new())));
            }
            Tok::Empty(e) => {
                let v = dec.value(&e, true, expected, 0)?;
                return Ok(v.unwrap_or(Value::String(String::new())));
            }
            Tok::Eof => return Err(dec.error("no element found")),
            _ => {}
        }
    }
}

/// The index of a catalogue type named in this crate's code.
pub(crate) fn type_index(name: &str) -> u16 {
    match catalogue::TYPES.binary_search_by(|t| t.name().cmp(name)) {
        Ok(i) => i as u16,
        Err(_) => panic!("vim25 catalogue lacks {name}; regenerate it"),
    }
}
