//! The schema-guided streaming decoder: SOAP response bytes to [`Value`]s typed by the catalogue.
//!
//! One pass over a quick-xml [`NsReader`]; no DOM. `xsi:type` is resolved by namespace URI
//! whatever prefix the server chose (`xsi:`, `XMLSchema-instance:`, `_XMLSchema-instance:`), so
//! inheritance and polymorphic slots decode to their concrete type. Types and elements the
//! catalogue does not know (a newer vCenter) are decoded generically and kept. Malformed input is
//! an error naming the byte position; the decoder never panics and bounds nesting depth.
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

use std::borrow::Cow;

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;

use crate::catalogue::{self, Kind, TypeInfo};
use crate::fault::SoapFault;
use crate::model::{DataObject, Event, Field, FieldName, MoRef, TypeRef, Value};
use crate::time::parse_xsd_datetime;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Deeper nesting than this is refused (vCenter objects nest about 10 deep).
const MAX_DEPTH: usize = 128;

/// Why a response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SOAP response at byte {position}: {message}")]
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
    let mut events = Vec::with_capacity(values.len());
    for value in values {
        for item in flatten(value) {
            match item {
                Value::Object(obj) => match Event::from_object(*obj) {
                    Ok(ev) => events.push(ev),
                    Err(obj) => {
                        return Err(DecodeError {
                            position: 0,
                            message: format!("event of type {} has no integer key", obj.type_name),
                        });
                    }
                },
                other => {
                    return Err(DecodeError {
                        position: 0,
                        message: format!("expected an event object, got {other:?}"),
                    });
                }
            }
        }
    }
    Ok(events)
}

fn flatten(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => vec![other],
    }
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

/// Decode one XML element (no SOAP envelope) as a value of kind `expected`; for tests, fixtures
/// and tools. The element name is ignored; an `xsi:type` attribute wins over `expected`.
pub fn decode_element(xml: &str, expected: Option<Kind>) -> Result<Value, DecodeError> {
    let mut dec = Decoder::new(xml);
    loop {
        match dec.next()? {
            XmlEvent::Start(e) => {
                let v = dec.value(&e, false, expected, 0)?;
                return Ok(v.unwrap_or(Value::String(String::new())));
            }
            XmlEvent::Empty(e) => {
                let v = dec.value(&e, true, expected, 0)?;
                return Ok(v.unwrap_or(Value::String(String::new())));
            }
            XmlEvent::Eof => return Err(dec.error("no element found")),
            _ => {}
        }
    }
}

/// The index of a catalogue type named in this crate's code.
pub(crate) fn type_index(name: &str) -> u16 {
    match catalogue::TYPES.binary_search_by(|t| t.name.cmp(name)) {
        Ok(i) => i as u16,
        Err(_) => panic!("vim25 catalogue lacks {name}; regenerate it"),
    }
}

/// What an element's attributes say about its value.
#[derive(Default)]
struct Attrs {
    /// `xsi:type`, resolved.
    xsi_type: Option<XsiType>,
    /// `xsi:nil="true"`.
    nil: bool,
    /// The unqualified `type` attribute (managed object references).
    moref_type: Option<String>,
}

enum XsiType {
    /// A type in the XML Schema namespace (`xsd:int`).
    Xsd(String),
    /// A vim type (`VmPoweredOffEvent`, `ArrayOfString`).
    Vim(String),
}

/// How to decode one element.
enum Plan {
    Prim(Kind),
    MoRef,
    Data(&'static TypeInfo),
    Unknown {
        name: String,
        assumed: Option<&'static TypeInfo>,
    },
    Generic,
}

struct Decoder<'a> {
    reader: NsReader<&'a [u8]>,
}

impl<'a> Decoder<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = NsReader::from_str(text);
        reader.config_mut().check_end_names = true;
        Self { reader }
    }

    fn error(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            position: self.reader.buffer_position(),
            message: message.into(),
        }
    }

    /// The next event that matters (no comments, declarations, processing instructions).
    fn next(&mut self) -> Result<XmlEvent<'a>, DecodeError> {
        loop {
            match self.reader.read_event() {
                Ok(XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_))
                | Ok(XmlEvent::DocType(_)) => continue,
                Ok(ev) => return Ok(ev),
                Err(e) => {
                    return Err(DecodeError {
                        position: self.reader.error_position(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    fn is_soap(&self, e: &BytesStart<'_>, local: &str) -> bool {
        let (ns, name) = self.reader.resolver().resolve_element(e.name());
        name.as_ref() == local
            && match ns {
                ResolveResult::Bound(ns) => ns.as_ref() == SOAP_ENV,
                _ => true,
            }
    }

    fn body(&mut self, expected: Option<Kind>) -> Result<Body, DecodeError> {
        // Envelope
        loop {
            match self.next()? {
                XmlEvent::Start(e) if self.is_soap(&e, "Envelope") => break,
                XmlEvent::Start(e) | XmlEvent::Empty(e) => {
                    return Err(self.error(format!(
                        "expected a SOAP Envelope, found <{}>",
                        e.name().as_ref()
                    )));
                }
                XmlEvent::Text(t) if t.as_ref().trim().is_empty() => {}
                XmlEvent::Text(_) | XmlEvent::CData(_) | XmlEvent::GeneralRef(_) => {
                    return Err(self.error("expected a SOAP Envelope, found text"));
                }
                XmlEvent::Eof => return Err(self.error("empty document, expected a SOAP Envelope")),
                XmlEvent::End(_) => return Err(self.error("unexpected end tag")),
                _ => {}
            }
        }
        // Header (skipped) and Body
        loop {
            match self.next()? {
                XmlEvent::Start(e) if self.is_soap(&e, "Body") => break,
                XmlEvent::Start(e) => self.skip(&e)?,
                XmlEvent::Empty(e) if self.is_soap(&e, "Body") => {
                    return Ok(Body::Return(Vec::new()));
                }
                XmlEvent::End(_) | XmlEvent::Eof => {
                    return Err(self.error("SOAP Envelope without Body"));
                }
                _ => {}
            }
        }
        // The response element or a fault
        loop {
            match self.next()? {
                XmlEvent::Start(e) if self.is_soap(&e, "Fault") => {
                    return self.fault().map(Body::Fault);
                }
                XmlEvent::Start(_) => return self.returnvals(expected).map(Body::Return),
                XmlEvent::Empty(_) | XmlEvent::End(_) => return Ok(Body::Return(Vec::new())),
                XmlEvent::Eof => return Err(self.error("unexpected end of document in SOAP Body")),
                _ => {}
            }
        }
    }

    /// The children of a `<MethodResponse>` element.
    fn returnvals(&mut self, expected: Option<Kind>) -> Result<Vec<Value>, DecodeError> {
        let mut out = Vec::new();
        loop {
            match self.next()? {
                XmlEvent::Start(e) => {
                    if let Some(v) = self.value(&e, false, expected, 1)? {
                        out.push(v);
                    }
                }
                XmlEvent::Empty(e) => {
                    if let Some(v) = self.value(&e, true, expected, 1)? {
                        out.push(v);
                    }
                }
                XmlEvent::End(_) => return Ok(out),
                XmlEvent::Eof => return Err(self.error("unexpected end of document in response")),
                _ => {}
            }
        }
    }

    fn fault(&mut self) -> Result<SoapFault, DecodeError> {
        let mut fault = SoapFault::default();
        loop {
            match self.next()? {
                XmlEvent::Start(e) => {
                    let local = e.local_name().as_ref().to_owned();
                    match local.as_str() {
                        "faultcode" => fault.code = self.text(false)?,
                        "faultstring" => fault.message = self.text(false)?,
                        "detail" => self.fault_detail(&mut fault)?,
                        _ => self.skip(&e)?,
                    }
                }
                XmlEvent::End(_) => return Ok(fault),
                XmlEvent::Eof => return Err(self.error("unexpected end of document in Fault")),
                _ => {}
            }
        }
    }

    fn fault_detail(&mut self, fault: &mut SoapFault) -> Result<(), DecodeError> {
        let expected = Some(Kind::Data(type_index("MethodFault")));
        loop {
            let (e, empty) = match self.next()? {
                XmlEvent::Start(e) => (e, false),
                XmlEvent::Empty(e) => (e, true),
                XmlEvent::End(_) => return Ok(()),
                XmlEvent::Eof => {
                    return Err(self.error("unexpected end of document in fault detail"));
                }
                _ => continue,
            };
            if fault.detail.is_some() {
                if !empty {
                    self.skip(&e)?;
                }
                continue;
            }
            // `<NotAuthenticatedFault xsi:type="NotAuthenticated">`; without xsi:type, the type is
            // the element name less its `Fault` suffix.
            let attrs = self.attrs(&e)?;
            let plan = match attrs.xsi_type {
                Some(_) => None,
                None => {
                    let local = e.local_name();
                    let name = local.as_ref();
                    let name = name.strip_suffix("Fault").unwrap_or(name);
                    catalogue::lookup(name).map(Plan::Data)
                }
            };
            let value = match plan {
                Some(plan) => self.value_with(plan, empty, 2)?,
                None => self.value(&e, empty, expected, 2)?,
            };
            if let Some(Value::Object(obj)) = value {
                fault.fault_type = Some(obj.type_name.clone());
                fault.detail = Some(*obj);
            }
        }
    }

    fn attrs(&self, e: &BytesStart<'_>) -> Result<Attrs, DecodeError> {
        let mut out = Attrs::default();
        for attr in e.attributes().with_checks(false) {
            let attr = attr.map_err(|err| self.error(format!("bad attribute: {err}")))?;
            let key = attr.key;
            let (ns, local) = self.reader.resolver().resolve_attribute(key);
            let in_xsi = matches!(ns, ResolveResult::Bound(ref n) if n.as_ref() == XSI);
            match (in_xsi, local.as_ref()) {
                (true, "type") => {
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| self.error(format!("bad xsi:type: {err}")))?;
                    out.xsi_type = Some(self.resolve_type_name(value));
                }
                (true, "nil") => {
                    out.nil = matches!(attr.value.as_ref(), "true" | "1");
                }
                (false, "type") if key.prefix().is_none() => {
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| self.error(format!("bad type attribute: {err}")))?;
                    out.moref_type = Some(value.into_owned());
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// `xsd:int` → Xsd("int"); `VmPoweredOffEvent` or `vim25:VmPoweredOffEvent` → Vim(..).
    fn resolve_type_name(&self, value: Cow<'_, str>) -> XsiType {
        let qname = QName(value.as_ref());
        let (local, prefix) = qname.decompose();
        let ns = self.reader.resolver().resolve_prefix(prefix, true);
        let local = local.as_ref().to_owned();
        match ns {
            ResolveResult::Bound(ns) if ns.as_ref() == XSD => XsiType::Xsd(local),
            // vCenter types live in urn:vim25 (or a default/unknown namespace on simulators).
            _ => XsiType::Vim(local),
        }
    }

    fn plan(&self, attrs: &Attrs, expected: Option<Kind>) -> Plan {
        match &attrs.xsi_type {
            Some(XsiType::Xsd(name)) => match xsd_kind(name) {
                Some(Kind::Any) | None => Plan::Generic,
                Some(k) => Plan::Prim(k),
            },
            Some(XsiType::Vim(name)) => {
                if name == "ManagedObjectReference" {
                    return Plan::MoRef;
                }
                if let Some(prim) = vmodl_prim(name) {
                    return Plan::Prim(prim);
                }
                match catalogue::lookup(name) {
                    Some(t) => Plan::Data(t),
                    None if catalogue::lookup_enum(name).is_some() => Plan::Prim(Kind::String),
                    None => Plan::Unknown {
                        name: name.to_string(),
                        assumed: match expected {
                            Some(Kind::Data(i)) => Some(catalogue::type_at(i)),
                            _ => None,
                        },
                    },
                }
            }
            None => match expected {
                None | Some(Kind::Any) => {
                    if attrs.moref_type.is_some() {
                        Plan::MoRef
                    } else {
                        Plan::Generic
                    }
                }
                Some(Kind::MoRef) => Plan::MoRef,
                Some(Kind::Data(i)) => Plan::Data(catalogue::type_at(i)),
                Some(Kind::Enum(_)) => Plan::Prim(Kind::String),
                Some(k) => Plan::Prim(k),
            },
        }
    }

    /// Decode the element whose start tag is `e`. `None` for `xsi:nil`.
    fn value(
        &mut self,
        e: &BytesStart<'a>,
        empty: bool,
        expected: Option<Kind>,
        depth: usize,
    ) -> Result<Option<Value>, DecodeError> {
        let attrs = self.attrs(e)?;
        if attrs.nil {
            if !empty {
                self.skip(e)?;
            }
            return Ok(None);
        }
        let plan = self.plan(&attrs, expected);
        if let Plan::MoRef = plan {
            let kind = attrs.moref_type.unwrap_or_default();
            let value = self.text(empty)?;
            return Ok(Some(Value::MoRef(MoRef { kind, value })));
        }
        self.value_with(plan, empty, depth)
    }

    fn value_with(
        &mut self,
        plan: Plan,
        empty: bool,
        depth: usize,
    ) -> Result<Option<Value>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let value = match plan {
            Plan::Prim(kind) => {
                let text = self.text(empty)?;
                self.primitive(kind, text)?
            }
            Plan::MoRef => Value::MoRef(MoRef {
                kind: String::new(),
                value: self.text(empty)?,
            }),
            Plan::Data(ty) => {
                let mut obj = DataObject::new(ty);
                if !empty {
                    self.fields(&mut obj, Some(ty), depth)?;
                }
                Value::Object(Box::new(obj))
            }
            Plan::Unknown { name, assumed } => {
                let mut obj = DataObject {
                    ty: TypeRef::Unknown { assumed },
                    type_name: name,
                    fields: Vec::new(),
                };
                if !empty {
                    self.fields(&mut obj, assumed, depth)?;
                }
                Value::Object(Box::new(obj))
            }
            Plan::Generic => {
                if empty {
                    Value::String(String::new())
                } else {
                    self.generic(depth)?
                }
            }
        };
        Ok(Some(value))
    }

    /// Decode child elements into `obj` as fields of `ty` (unknown names generically).
    fn fields(
        &mut self,
        obj: &mut DataObject,
        ty: Option<&'static TypeInfo>,
        depth: usize,
    ) -> Result<(), DecodeError> {
        loop {
            let (e, empty) = match self.next()? {
                XmlEvent::Start(e) => (e, false),
                XmlEvent::Empty(e) => (e, true),
                XmlEvent::End(_) => return Ok(()),
                XmlEvent::Eof => {
                    return Err(self.error(format!(
                        "unexpected end of document inside {}",
                        obj.type_name
                    )));
                }
                _ => continue, // whitespace or stray text between fields
            };
            let local = e.local_name();
            let info = ty.and_then(|t| t.field(local.as_ref()));
            match info {
                Some(info) => {
                    let Some(value) = self.value(&e, empty, Some(info.kind), depth + 1)? else {
                        continue;
                    };
                    if info.is_array() {
                        push_array(obj, FieldName::Known(info), value);
                    } else {
                        obj.fields.push(Field {
                            name: FieldName::Known(info),
                            value,
                        });
                    }
                }
                None => {
                    let name = local.as_ref().to_owned();
                    let Some(value) = self.value(&e, empty, None, depth + 1)? else {
                        continue;
                    };
                    push_unknown(obj, name, value);
                }
            }
        }
    }

    /// An element without type information: text, or an object of unknown type when it has
    /// child elements.
    fn generic(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let mut text = String::new();
        let mut obj: Option<DataObject> = None;
        loop {
            match self.next()? {
                XmlEvent::Text(t) => {
                    if obj.is_none() {
                        text.push_str(&t.xml10_content());
                    }
                }
                XmlEvent::CData(t) => {
                    if obj.is_none() {
                        text.push_str(&t.xml10_content());
                    }
                }
                XmlEvent::GeneralRef(r) => {
                    let c = self.resolve_ref(&r)?;
                    if obj.is_none() {
                        text.push_str(&c);
                    }
                }
                XmlEvent::Start(e) => self.generic_child(&mut obj, &e, false, depth)?,
                XmlEvent::Empty(e) => self.generic_child(&mut obj, &e, true, depth)?,
                XmlEvent::End(_) => {
                    return Ok(match obj {
                        Some(o) => Value::Object(Box::new(o)),
                        None => Value::String(text),
                    });
                }
                XmlEvent::Eof => return Err(self.error("unexpected end of document")),
                _ => {}
            }
        }
    }

    fn generic_child(
        &mut self,
        obj: &mut Option<DataObject>,
        e: &BytesStart<'a>,
        empty: bool,
        depth: usize,
    ) -> Result<(), DecodeError> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.error(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let name = e.local_name().as_ref().to_owned();
        let value = self.value(e, empty, None, depth + 1)?;
        let o = obj.get_or_insert_with(|| DataObject {
            ty: TypeRef::Unknown { assumed: None },
            type_name: String::new(),
            fields: Vec::new(),
        });
        if let Some(v) = value {
            push_unknown(o, name, v);
        }
        Ok(())
    }

    /// The text content of the current element (after its start tag) up to its end tag.
    fn text(&mut self, empty: bool) -> Result<String, DecodeError> {
        let mut out = String::new();
        if empty {
            return Ok(out);
        }
        loop {
            match self.next()? {
                XmlEvent::Text(t) => out.push_str(&t.xml10_content()),
                XmlEvent::CData(t) => out.push_str(&t.xml10_content()),
                XmlEvent::GeneralRef(r) => out.push_str(&self.resolve_ref(&r)?),
                XmlEvent::End(_) => return Ok(out),
                XmlEvent::Start(e) | XmlEvent::Empty(e) => {
                    return Err(self.error(format!(
                        "unexpected element <{}> inside a text value",
                        e.name().as_ref()
                    )));
                }
                XmlEvent::Eof => return Err(self.error("unexpected end of document in text")),
                _ => {}
            }
        }
    }

    fn resolve_ref(
        &self,
        r: &quick_xml::events::BytesRef<'_>,
    ) -> Result<Cow<'static, str>, DecodeError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(Cow::Owned(c.to_string())),
                _ => Err(self.error(format!("bad character reference &{};", r.as_ref()))),
            };
        }
        Ok(Cow::Borrowed(match r.as_ref() {
            "lt" => "<",
            "gt" => ">",
            "amp" => "&",
            "quot" => "\"",
            "apos" => "'",
            other => return Err(self.error(format!("unknown entity &{other};"))),
        }))
    }

    /// Skip the rest of the element whose start tag was just read.
    fn skip(&mut self, e: &BytesStart<'a>) -> Result<(), DecodeError> {
        let end = e.to_end().into_owned();
        self.reader
            .read_to_end(end.name())
            .map(|_| ())
            .map_err(|err| DecodeError {
                position: self.reader.error_position(),
                message: err.to_string(),
            })
    }

    fn primitive(&self, kind: Kind, text: String) -> Result<Value, DecodeError> {
        let bad = |what: &str, text: &str| {
            self.error(format!(
                "invalid {what} value {:?}",
                text.chars().take(64).collect::<String>()
            ))
        };
        let t = text.trim();
        Ok(match kind {
            Kind::Bool => match t {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(bad("xsd:boolean", t)),
            },
            Kind::Byte => Value::Byte(t.parse().map_err(|_| bad("xsd:byte", t))?),
            Kind::Short => Value::Short(t.parse().map_err(|_| bad("xsd:short", t))?),
            Kind::Int => Value::Int(t.parse().map_err(|_| bad("xsd:int", t))?),
            Kind::Long => Value::Long(t.parse().map_err(|_| bad("xsd:long", t))?),
            Kind::Float => Value::Float(parse_float(t).ok_or_else(|| bad("xsd:float", t))? as f32),
            Kind::Double => Value::Double(parse_float(t).ok_or_else(|| bad("xsd:double", t))?),
            Kind::DateTime => {
                Value::DateTime(parse_xsd_datetime(t).map_err(|e| self.error(e.to_string()))?)
            }
            Kind::Binary => {
                let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                Value::Binary(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map_err(|_| bad("xsd:base64Binary", t))?,
                )
            }
            Kind::String | Kind::Uri | Kind::TypeName | Kind::MethodName | Kind::PropertyPath => {
                Value::String(text)
            }
            Kind::Enum(_) | Kind::Any | Kind::MoRef | Kind::Data(_) => Value::String(text),
        })
    }
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        "INF" => Some(f64::INFINITY),
        "-INF" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => t.parse().ok(),
    }
}

fn push_array(obj: &mut DataObject, name: FieldName, value: Value) {
    let existing = obj.fields.iter_mut().rev().find(|f| f.name == name);
    match existing {
        Some(Field {
            value: Value::Array(items),
            ..
        }) => items.push(value),
        _ => obj.fields.push(Field {
            name,
            value: Value::Array(vec![value]),
        }),
    }
}

/// Unknown elements: a repeated name becomes an array, so nothing is lost and JSON keys stay
/// unique.
fn push_unknown(obj: &mut DataObject, name: String, value: Value) {
    let existing = obj
        .fields
        .iter_mut()
        .find(|f| matches!(&f.name, FieldName::Unknown(n) if *n == name));
    match existing {
        Some(field) => match &mut field.value {
            Value::Array(items) => items.push(value),
            other => {
                let first = std::mem::replace(other, Value::Array(Vec::new()));
                *other = Value::Array(vec![first, value]);
            }
        },
        None => obj.fields.push(Field {
            name: FieldName::Unknown(name),
            value,
        }),
    }
}

/// XML Schema primitive names.
fn xsd_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "boolean" => Kind::Bool,
        "byte" => Kind::Byte,
        "short" => Kind::Short,
        "int" => Kind::Int,
        "long" => Kind::Long,
        "float" => Kind::Float,
        "double" => Kind::Double,
        "string" => Kind::String,
        "dateTime" => Kind::DateTime,
        "base64Binary" => Kind::Binary,
        "anyURI" => Kind::Uri,
        "anyType" => Kind::Any,
        _ => return None,
    })
}

/// vmodl primitive types that travel as `xsi:type` in the vim25 namespace.
fn vmodl_prim(name: &str) -> Option<Kind> {
    Some(match name {
        "TypeName" => Kind::TypeName,
        "MethodName" => Kind::MethodName,
        "PropertyPath" => Kind::PropertyPath,
        _ => return None,
    })
}
