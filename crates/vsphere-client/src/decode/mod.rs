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

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;

use crate::catalogue::{self, FieldInfo, Kind, TypeInfo};
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

/// What an element's attributes say about its value (borrowing from the start tag).
#[derive(Default)]
struct Attrs<'e> {
    /// `xsi:type`, resolved.
    xsi_type: Option<XsiType<'e>>,
    /// `xsi:nil="true"`.
    nil: bool,
    /// The unqualified `type` attribute (managed object references).
    moref_type: Option<Cow<'static, str>>,
}

enum XsiType<'e> {
    /// A type in the XML Schema namespace (`xsd:int`).
    Xsd(Cow<'e, str>),
    /// A vim type (`VmPoweredOffEvent`, `ArrayOfString`).
    Vim(Cow<'e, str>),
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
    xml: Xml<'a>,
    /// The fields of the objects being decoded, innermost object last: each object collects its
    /// fields here and takes them in one exactly sized allocation at its end tag.
    fields: Vec<Field>,
    /// Types named by `xsi:type` so far (a page names the same few types over and over).
    types: TypeCache,
    /// Keep a primitive value that does not parse as its text instead of failing.
    lenient: bool,
}

impl<'a> Decoder<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            xml: Xml::new(text),
            fields: Vec::new(),
            types: TypeCache::default(),
            lenient: false,
        }
    }

    /// An error at the current position (just after what was read last).
    fn error(&self, message: impl Into<String>) -> DecodeError {
        self.xml.error_at(self.xml.pos, message)
    }

    fn is_soap(&self, e: &Tag<'_>, local: &str) -> bool {
        let (prefix, name) = split_qname(e.name);
        name == local
            && match self.xml.namespace(prefix, true) {
                Some(ns) => ns == SOAP_ENV,
                None => true,
            }
    }

    fn body(&mut self, expected: Option<Kind>) -> Result<Body, DecodeError> {
        // Envelope
        loop {
            match self.xml.next()? {
                Tok::Start(e) if self.is_soap(&e, "Envelope") => break,
                Tok::Start(e) | Tok::Empty(e) => {
                    return Err(self.error(format!("expected a SOAP Envelope, found <{}>", e.name)));
                }
                Tok::Text { raw, .. } if raw.trim().is_empty() => {}
                Tok::Text { .. } | Tok::CData(_) => {
                    return Err(self.error("expected a SOAP Envelope, found text"));
                }
                Tok::Eof => return Err(self.error("empty document, expected a SOAP Envelope")),
                Tok::End => return Err(self.error("unexpected end tag")),
            }
        }
        // Header (skipped) and Body
        loop {
            match self.xml.next()? {
                Tok::Start(e) if self.is_soap(&e, "Body") => break,
                Tok::Start(_) => self.skip()?,
                Tok::Empty(e) if self.is_soap(&e, "Body") => {
                    return Ok(Body::Return(Vec::new()));
                }
                Tok::End | Tok::Eof => {
                    return Err(self.error("SOAP Envelope without Body"));
                }
                _ => {}
            }
        }
        // The response element or a fault
        loop {
            match self.xml.next()? {
                Tok::Start(e) if self.is_soap(&e, "Fault") => {
                    return self.fault().map(Body::Fault);
                }
                Tok::Start(_) => return self.returnvals(expected).map(Body::Return),
                Tok::Empty(_) | Tok::End => return Ok(Body::Return(Vec::new())),
                Tok::Eof => return Err(self.error("unexpected end of document in SOAP Body")),
                _ => {}
            }
        }
    }

    /// The children of a `<MethodResponse>` element.
    fn returnvals(&mut self, expected: Option<Kind>) -> Result<Vec<Value>, DecodeError> {
        let mut out = Vec::new();
        loop {
            match self.xml.next()? {
                Tok::Start(e) => {
                    if let Some(v) = self.value(&e, false, expected, 1)? {
                        out.push(v);
                    }
                }
                Tok::Empty(e) => {
                    if let Some(v) = self.value(&e, true, expected, 1)? {
                        out.push(v);
                    }
                }
                Tok::End => return Ok(out),
                Tok::Eof => return Err(self.error("unexpected end of document in response")),
                _ => {}
            }
        }
    }

    fn fault(&mut self) -> Result<SoapFault, DecodeError> {
        let mut fault = SoapFault::default();
        loop {
            match self.xml.next()? {
                Tok::Start(e) => match e.local_name() {
                    "faultcode" => fault.code = self.text(false)?,
                    "faultstring" => fault.message = self.text(false)?,
                    "detail" => self.fault_detail(&mut fault)?,
                    _ => self.skip()?,
                },
                Tok::End => return Ok(fault),
                Tok::Eof => return Err(self.error("unexpected end of document in Fault")),
                _ => {}
            }
        }
    }

    fn fault_detail(&mut self, fault: &mut SoapFault) -> Result<(), DecodeError> {
        let expected = Some(Kind::Data(type_index("MethodFault")));
        loop {
            let (e, empty) = match self.xml.next()? {
                Tok::Start(e) => (e, false),
                Tok::Empty(e) => (e, true),
                Tok::End => return Ok(()),
                Tok::Eof => {
                    return Err(self.error("unexpected end of document in fault detail"));
                }
                _ => continue,
            };
            if fault.detail.is_some() {
                if !empty {
                    self.skip()?;
                }
                continue;
            }
            // `<NotAuthenticatedFault xsi:type="NotAuthenticated">`; without xsi:type, the type is
            // the element name less its `Fault` suffix.
            let attrs = self.attrs(&e)?;
            let plan = match attrs.xsi_type {
                Some(_) => None,
                None => {
                    let name = e.local_name();
                    let name = name.strip_suffix("Fault").unwrap_or(name);
                    catalogue::lookup(name).map(Plan::Data)
                }
            };
            let value = match plan {
                Some(plan) => self.value_with(plan, empty, 2)?,
                None => self.value(&e, empty, expected, 2)?,
            };
            if let Some(Value::Object(obj)) = value {
                fault.fault_type = Some(obj.type_name.to_string());
                fault.detail = Some(*obj);
            }
        }
    }

    fn attrs(&self, e: &Tag<'a>) -> Result<Attrs<'a>, DecodeError> {
        let mut out = Attrs::default();
        // Most elements have no attributes.
        if !e.has_attrs() {
            return Ok(out);
        }
        for attr in self.xml.attributes(e) {
            let (name, raw, at) = attr?;
            // Only `type` and `nil` matter; namespace declarations and the rest are skipped
            // before their prefix is resolved.
            let (prefix, local) = split_qname(name);
            if !matches!(local, "type" | "nil") {
                continue;
            }
            let in_xsi = prefix.is_some() && self.xml.namespace(prefix, false) == Some(XSI);
            match (in_xsi, local) {
                (true, "type") => {
                    let value = self.xml.attribute_value(raw, at)?;
                    out.xsi_type = Some(self.resolve_type_name(value));
                }
                (true, "nil") => out.nil = matches!(raw, "true" | "1"),
                (false, "type") if prefix.is_none() => {
                    out.moref_type = Some(MoRef::kind_name(&self.xml.attribute_value(raw, at)?));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// `xsd:int` → Xsd("int"); `VmPoweredOffEvent` or `vim25:VmPoweredOffEvent` → Vim(..).
    fn resolve_type_name<'e>(&self, value: Cow<'e, str>) -> XsiType<'e> {
        let (prefix, local) = split_qname(&value);
        let in_xsd = self.xml.namespace(prefix, true) == Some(XSD);
        let start = value.len() - local.len();
        let local = match value {
            Cow::Borrowed(v) => Cow::Borrowed(&v[start..]),
            Cow::Owned(mut v) => {
                v.drain(..start);
                Cow::Owned(v)
            }
        };
        if in_xsd {
            XsiType::Xsd(local)
        } else {
            // vCenter types live in urn:vim25 (or a default/unknown namespace on simulators).
            XsiType::Vim(local)
        }
    }

    fn plan(&mut self, attrs: &Attrs, expected: Option<Kind>) -> Plan {
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
                match self.types.lookup(name) {
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
        e: &Tag<'a>,
        empty: bool,
        expected: Option<Kind>,
        depth: usize,
    ) -> Result<Option<Value>, DecodeError> {
        // The common shape first: `<key>28</key>`, a primitive without attributes.
        if !empty
            && !e.has_attrs()
            && let Some(kind) =
                expected.filter(|k| !matches!(k, Kind::Any | Kind::MoRef | Kind::Data(_)))
            && let Some(text) = self.xml.leaf_text()
        {
            return self.primitive(kind, Cow::Borrowed(text)).map(Some);
        }
        let attrs = self.attrs(e)?;
        if attrs.nil {
            if !empty {
                self.skip()?;
            }
            return Ok(None);
        }
        let plan = self.plan(&attrs, expected);
        if let Plan::MoRef = plan {
            let kind = attrs.moref_type.unwrap_or_default();
            let leaf = if empty { None } else { self.xml.leaf_text() };
            let value = match leaf {
                Some(text) => text.to_owned(),
                None => self.text(empty)?,
            };
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
                let text = self.text_cow(empty)?;
                self.primitive(kind, text)?
            }
            Plan::MoRef => Value::MoRef(MoRef {
                kind: Cow::Borrowed(""),
                value: self.text(empty)?,
            }),
            Plan::Data(ty) => {
                let mut obj = DataObject::new(ty);
                if !empty {
                    self.fields(&mut obj, Some(ty), depth, None)?;
                }
                Value::Object(Box::new(obj))
            }
            Plan::Unknown { name, assumed } => {
                let mut obj = DataObject {
                    ty: TypeRef::Unknown { assumed },
                    type_name: Cow::Owned(name),
                    fields: Vec::new(),
                };
                let mut text = String::new();
                if !empty {
                    self.fields(&mut obj, assumed, depth, Some(&mut text))?;
                }
                // A type the catalogue does not know with simple content (an enum or primitive
                // type of a newer API in an `anyType` slot): keep the text.
                if obj.fields.is_empty() && !text.trim().is_empty() {
                    Value::String(text)
                } else {
                    Value::Object(Box::new(obj))
                }
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

    /// Decode child elements into `obj` as fields of `ty` (unknown names generically). With
    /// `text`, character data between the fields is collected there (else it is skipped).
    fn fields(
        &mut self,
        obj: &mut DataObject,
        ty: Option<&'static TypeInfo>,
        depth: usize,
        mut text: Option<&mut String>,
    ) -> Result<(), DecodeError> {
        let table = ty.map(FieldTable::of);
        let base = self.fields.len();
        let mut cursor = 0;
        let mut merge = Merge::default();
        loop {
            let (e, empty) = match self.xml.next()? {
                Tok::Start(e) => (e, false),
                Tok::Empty(e) => (e, true),
                Tok::End => {
                    obj.fields = self.fields.drain(base..).collect();
                    return Ok(());
                }
                Tok::Eof => {
                    return Err(self.error(format!(
                        "unexpected end of document inside {}",
                        obj.type_name
                    )));
                }
                Tok::Text { raw, at } => {
                    if let Some(text) = text.as_deref_mut() {
                        text.push_str(&self.xml.text_value(raw, at)?);
                    }
                    continue;
                }
                Tok::CData(raw) => {
                    if let Some(text) = text.as_deref_mut() {
                        text.push_str(&normalize_eols(raw));
                    }
                    continue;
                }
            };
            let local = e.local_name();
            match table.and_then(|t| t.find(&mut cursor, local)) {
                Some(info) => {
                    let Some(value) = self.value(&e, empty, Some(info.kind), depth + 1)? else {
                        continue;
                    };
                    let mut fields = Fields::new(&mut self.fields, base);
                    if info.is_array() {
                        fields.push_array(&mut merge, info, value);
                    } else {
                        fields.push(&mut merge, FieldName::Known(info), value);
                    }
                }
                None => {
                    let Some(value) = self.value(&e, empty, None, depth + 1)? else {
                        continue;
                    };
                    Fields::new(&mut self.fields, base).push_unknown(&mut merge, local, value);
                }
            }
        }
    }

    /// An element without type information: text, or an object of unknown type when it has
    /// child elements.
    fn generic(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let mut text = String::new();
        let mut obj: Option<Vec<Field>> = None;
        let mut merge = Merge::default();
        loop {
            match self.xml.next()? {
                Tok::Text { raw, at } => {
                    if obj.is_none() {
                        text.push_str(&self.xml.text_value(raw, at)?);
                    }
                }
                Tok::CData(raw) => {
                    if obj.is_none() {
                        text.push_str(&normalize_eols(raw));
                    }
                }
                Tok::Start(e) => self.generic_child(&mut obj, &mut merge, &e, false, depth)?,
                Tok::Empty(e) => self.generic_child(&mut obj, &mut merge, &e, true, depth)?,
                Tok::End => {
                    return Ok(match obj {
                        Some(fields) => Value::Object(Box::new(DataObject {
                            ty: TypeRef::Unknown { assumed: None },
                            type_name: Cow::Borrowed(""),
                            fields,
                        })),
                        None => Value::String(text),
                    });
                }
                Tok::Eof => return Err(self.error("unexpected end of document")),
            }
        }
    }

    fn generic_child(
        &mut self,
        obj: &mut Option<Vec<Field>>,
        merge: &mut Merge,
        e: &Tag<'a>,
        empty: bool,
        depth: usize,
    ) -> Result<(), DecodeError> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.error(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let name = e.local_name();
        let value = self.value(e, empty, None, depth + 1)?;
        let fields = obj.get_or_insert_with(Vec::new);
        if let Some(v) = value {
            Fields::new(fields, 0).push_unknown(merge, name, v);
        }
        Ok(())
    }

    /// The text content of the current element (after its start tag) up to its end tag.
    fn text(&mut self, empty: bool) -> Result<String, DecodeError> {
        self.text_cow(empty).map(Cow::into_owned)
    }

    /// [`Decoder::text`], borrowed from the input when it is one run of plain text.
    fn text_cow(&mut self, empty: bool) -> Result<Cow<'a, str>, DecodeError> {
        let mut out = Cow::Borrowed("");
        if empty {
            return Ok(out);
        }
        let append = |out: &mut Cow<'a, str>, s: Cow<'a, str>| {
            if out.is_empty() {
                *out = s;
            } else {
                out.to_mut().push_str(&s);
            }
        };
        loop {
            match self.xml.next()? {
                Tok::Text { raw, at } => append(&mut out, self.xml.text_value(raw, at)?),
                Tok::CData(raw) => append(&mut out, normalize_eols(raw)),
                Tok::End => return Ok(out),
                Tok::Start(e) | Tok::Empty(e) => {
                    return Err(self.error(format!(
                        "unexpected element <{}> inside a text value",
                        e.name
                    )));
                }
                Tok::Eof => return Err(self.error("unexpected end of document in text")),
            }
        }
    }

    /// Skip the rest of the element whose start tag was just read.
    fn skip(&mut self) -> Result<(), DecodeError> {
        let mut depth = 0usize;
        loop {
            match self.xml.next()? {
                Tok::Start(_) => depth += 1,
                Tok::End if depth == 0 => return Ok(()),
                Tok::End => depth -= 1,
                Tok::Eof => return Err(self.error("unexpected end of document")),
                _ => {}
            }
        }
    }

    fn primitive(&self, kind: Kind, text: Cow<'_, str>) -> Result<Value, DecodeError> {
        if self.lenient {
            let raw = text.clone().into_owned();
            return Ok(self
                .primitive_strict(kind, text)
                .unwrap_or(Value::String(raw)));
        }
        self.primitive_strict(kind, text)
    }

    fn primitive_strict(&self, kind: Kind, text: Cow<'_, str>) -> Result<Value, DecodeError> {
        let bad = |what: &str, text: &str| {
            self.error(format!(
                "invalid {what} value {:?}",
                text.chars().take(64).collect::<String>()
            ))
        };
        let t = trim_xml(&text);
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
            // An xsd:dateTime is ASCII; anything else is refused before the parser sees it.
            Kind::DateTime if !t.is_ascii() => return Err(bad("xsd:dateTime", t)),
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
                Value::String(text.into_owned())
            }
            Kind::Enum(_) | Kind::Any | Kind::MoRef | Kind::Data(_) => {
                Value::String(text.into_owned())
            }
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

/// Where the fields of an object being decoded are, by name, for merging repeated elements
/// into arrays: a plain search while the object is small, a map once it has many fields, so an
/// object with many thousands of distinct elements still decodes in linear time.
#[derive(Default)]
struct Merge {
    map: Option<HashMap<String, usize>>,
}

impl Merge {
    const MAP_FROM: usize = 32;

    /// The last field named `name`.
    fn position(&mut self, fields: &[Field], name: &str) -> Option<usize> {
        if self.map.is_none() {
            if fields.len() < Self::MAP_FROM {
                return fields.iter().rposition(|f| f.name.xml_name() == name);
            }
            let map = fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.xml_name().to_owned(), i))
                .collect();
            self.map = Some(map);
        }
        self.map.as_ref()?.get(name).copied()
    }

    /// Record the field just pushed.
    fn pushed(&mut self, fields: &[Field]) {
        if let (Some(map), Some(last)) = (self.map.as_mut(), fields.last()) {
            map.insert(last.name.xml_name().to_owned(), fields.len() - 1);
        }
    }
}

/// The fields of the object being decoded: `stack[base..]`.
struct Fields<'s> {
    stack: &'s mut Vec<Field>,
    base: usize,
}

impl<'s> Fields<'s> {
    fn new(stack: &'s mut Vec<Field>, base: usize) -> Self {
        Self { stack, base }
    }

    fn push(&mut self, merge: &mut Merge, name: FieldName, value: Value) {
        self.stack.push(Field { name, value });
        merge.pushed(&self.stack[self.base..]);
    }

    /// An element of an array field: appended to the field's array (created at its first
    /// element).
    fn push_array(&mut self, merge: &mut Merge, info: &'static FieldInfo, value: Value) {
        let base = self.base;
        let existing = merge
            .position(&self.stack[base..], info.xml_name())
            .map(|i| &mut self.stack[base + i])
            .filter(|f| matches!(f.name, FieldName::Known(k) if std::ptr::eq(k, info)));
        match existing {
            Some(Field {
                value: Value::Array(items),
                ..
            }) => items.push(value),
            _ => self.push(merge, FieldName::Known(info), Value::Array(vec![value])),
        }
    }

    /// Unknown elements: a repeated name becomes an array, so nothing is lost and JSON keys
    /// stay unique.
    fn push_unknown(&mut self, merge: &mut Merge, name: &str, value: Value) {
        let base = self.base;
        let existing = merge
            .position(&self.stack[base..], name)
            .map(|i| &mut self.stack[base + i])
            .filter(|f| matches!(f.name, FieldName::Unknown(_)));
        match existing {
            Some(field) => match &mut field.value {
                Value::Array(items) => items.push(value),
                other => {
                    let first = std::mem::replace(other, Value::Array(Vec::new()));
                    *other = Value::Array(vec![first, value]);
                }
            },
            None => self.push(merge, FieldName::Unknown(name.to_owned()), value),
        }
    }
}

/// The fields of a catalogue type as the decoder looks them up: its
/// [effective fields](TypeInfo::effective_fields), base fields first. That is the order servers
/// send them in, so a lookup starts where the previous one matched and usually succeeds at once.
#[derive(Clone, Copy)]
struct FieldTable {
    fields: catalogue::FieldList,
}

impl FieldTable {
    fn of(ty: &'static TypeInfo) -> Self {
        Self {
            fields: ty.effective_fields(),
        }
    }

    /// The field named `name`, searching from `cursor` on (wrapping around); moves the cursor to
    /// the match.
    fn find(&self, cursor: &mut usize, name: &str) -> Option<&'static FieldInfo> {
        let found = self.fields.position_from(*cursor, name)?;
        *cursor = found;
        self.fields.get(found)
    }
}

/// A small direct-mapped cache in front of [`catalogue::lookup`].
struct TypeCache {
    slots: [Option<&'static TypeInfo>; 64],
}

impl Default for TypeCache {
    fn default() -> Self {
        Self { slots: [None; 64] }
    }
}

impl TypeCache {
    fn lookup(&mut self, name: &str) -> Option<&'static TypeInfo> {
        let b = name.as_bytes();
        let slot = match b {
            [] => 0,
            [.., last] => {
                (b.len() * 31 + usize::from(*last) * 7 + usize::from(b[b.len() / 2]))
                    % self.slots.len()
            }
        };
        if let Some(t) = self.slots[slot]
            && same(t.name(), name)
        {
            return Some(t);
        }
        let t = catalogue::lookup(name)?;
        self.slots[slot] = Some(t);
        Some(t)
    }
}

/// String equality for the short names of markup, without a call to `memcmp`.
#[inline]
fn same(a: &str, b: &str) -> bool {
    catalogue::same_bytes(a.as_bytes(), b.as_bytes())
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

// -------------------------------------------------------------------------------------------
// The tokenizer

/// A start or empty-element tag.
#[derive(Clone, Copy, Debug)]
struct Tag<'a> {
    /// The qualified name, e.g. `soapenv:Body`.
    name: &'a str,
    /// The raw attribute text after the name (whitespace and all).
    attrs: &'a str,
    /// The byte offset of `attrs` in the document.
    attrs_at: usize,
}

impl<'a> Tag<'a> {
    /// The name without its prefix.
    fn local_name(&self) -> &'a str {
        split_qname(self.name).1
    }

    fn has_attrs(&self) -> bool {
        !self.attrs.bytes().all(is_xml_space)
    }
}

/// One token of the document. Comments, processing instructions (and the XML declaration) and a
/// DOCTYPE are skipped.
#[derive(Debug)]
enum Tok<'a> {
    /// `<name ...>`
    Start(Tag<'a>),
    /// `<name .../>`
    Empty(Tag<'a>),
    /// `</name>`, checked against the open element.
    End,
    /// Character data as written (references unresolved, see [`Xml::text_value`]); `at` is its
    /// byte offset.
    Text { raw: &'a str, at: usize },
    /// The content of a CDATA section.
    CData(&'a str),
    /// The end of the document (open elements are the caller's to complain about).
    Eof,
}

/// A pull tokenizer over a whole document in memory: the subset of XML 1.0 and Namespaces in
/// XML that SOAP uses. Tokens borrow from the document; namespace bindings are tracked per
/// element so prefixes in names, attributes and `xsi:type` values resolve as the document
/// declares them.
struct Xml<'a> {
    src: &'a str,
    /// Where the next token starts.
    pos: usize,
    /// Open elements: their name and the number of namespace bindings outside them.
    open: Vec<(&'a str, usize)>,
    /// Namespace bindings in scope, innermost last: prefix (`""` for the default namespace) and
    /// namespace name (`""` undeclares).
    ns: Vec<(&'a str, Cow<'a, str>)>,
    /// After an empty-element tag: the bindings to drop before the next token.
    pop_to: Option<usize>,
}

impl<'a> Xml<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            // A byte order mark is no content.
            pos: if src.starts_with('\u{feff}') { 3 } else { 0 },
            open: Vec::new(),
            ns: Vec::new(),
            pop_to: None,
        }
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> DecodeError {
        DecodeError {
            position: position as u64,
            message: message.into(),
        }
    }

    /// The next token.
    fn next(&mut self) -> Result<Tok<'a>, DecodeError> {
        if let Some(n) = self.pop_to.take() {
            self.ns.truncate(n);
        }
        let src = self.src;
        let bytes = src.as_bytes();
        loop {
            let start = self.pos;
            let Some(&first) = bytes.get(start) else {
                return Ok(Tok::Eof);
            };
            if first != b'<' {
                let end = find_byte(bytes, start, b'<').unwrap_or(src.len());
                self.pos = end;
                return Ok(Tok::Text {
                    raw: &src[start..end],
                    at: start,
                });
            }
            match bytes.get(start + 1) {
                Some(b'/') => return self.end_tag(start),
                Some(b'?' | b'!') => {
                    if let Some(cdata) = self.markup(start)? {
                        return Ok(Tok::CData(cdata));
                    }
                }
                _ => return self.start_tag(start),
            }
        }
    }

    /// Right after a start tag: when the element holds only plain text (no markup, no
    /// references, no carriage return) and then its end tag, consume both and return the text.
    /// Otherwise consume nothing. A shortcut past [`Xml::next`] for the most common elements.
    fn leaf_text(&mut self) -> Option<&'a str> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let lt = find_byte(bytes, start, b'<')?;
        if bytes.get(lt + 1) != Some(&b'/') {
            return None;
        }
        let text = self.src.get(start..lt)?;
        if find_either(text.as_bytes(), b'&', b'\r').is_some() {
            return None;
        }
        let &(open, outer) = self.open.last()?;
        let name_end = lt + 2 + open.len();
        if bytes.get(lt + 2..name_end) != Some(open.as_bytes()) {
            return None;
        }
        let mut gt = name_end;
        while bytes.get(gt).copied().is_some_and(is_xml_space) {
            gt += 1;
        }
        if bytes.get(gt) != Some(&b'>') {
            return None;
        }
        self.open.pop();
        self.ns.truncate(outer);
        self.pos = gt + 1;
        Some(text)
    }

    /// `<?...?>`, `<!--...-->`, `<![CDATA[...]]>` or `<!DOCTYPE ...>` at `start`: skipped, except
    /// a CDATA section, whose content is returned. Rare in SOAP, so kept out of [`Xml::next`].
    #[cold]
    #[inline(never)]
    fn markup(&mut self, start: usize) -> Result<Option<&'a str>, DecodeError> {
        let rest = &self.src[start..];
        if rest.starts_with("<?") {
            let end = find_after(rest, 2, "?>")
                .ok_or_else(|| self.error_at(start, "unclosed processing instruction"))?;
            self.pos = start + end;
        } else if rest.starts_with("<!--") {
            let end = find_after(rest, 4, "-->")
                .ok_or_else(|| self.error_at(start, "unclosed comment"))?;
            self.pos = start + end;
        } else if rest.starts_with("<![CDATA[") {
            let end = find_after(rest, 9, "]]>")
                .ok_or_else(|| self.error_at(start, "unclosed CDATA section"))?;
            self.pos = start + end;
            return Ok(Some(&rest[9..end - 3]));
        } else if rest.starts_with("<!DOCTYPE") {
            // Skipped with its internal subset; its declarations are not used.
            let mut depth = 0usize;
            let end = rest.bytes().enumerate().skip(9).find_map(|(i, b)| {
                match b {
                    b'[' => depth += 1,
                    b']' => depth = depth.saturating_sub(1),
                    b'>' if depth == 0 => return Some(i + 1),
                    _ => {}
                }
                None
            });
            self.pos = start + end.ok_or_else(|| self.error_at(start, "unclosed DOCTYPE"))?;
        } else {
            return Err(self.error_at(start, "unknown markup after `<!`"));
        }
        Ok(None)
    }

    fn start_tag(&mut self, start: usize) -> Result<Tok<'a>, DecodeError> {
        let src = self.src;
        let bytes = src.as_bytes();
        let unclosed = || self.error_at(start, "unclosed tag");
        // The name runs to whitespace, `/` or `>`.
        let name_end = bytes
            .get(start + 1..)
            .and_then(|rest| rest.iter().position(|&b| NAME_END[usize::from(b)]))
            .map_or(bytes.len(), |i| start + 1 + i);
        if bytes.get(name_end) == Some(&b'<') {
            return Err(self.error_at(start, "`<` inside a tag"));
        }
        let name = &src[start + 1..name_end];
        if name.is_empty() {
            return Err(self.error_at(start, "element without a name"));
        }
        // Most tags end right after the name; otherwise the closing `>` is the first one
        // outside quoted attribute values.
        let (end, empty) = match (bytes.get(name_end), bytes.get(name_end + 1)) {
            (Some(b'>'), _) => (name_end, false),
            (Some(b'/'), Some(b'>')) => (name_end + 1, true),
            (None, _) => return Err(unclosed()),
            _ => {
                let mut quote = 0u8;
                let mut found = None;
                for (i, &b) in bytes.iter().enumerate().skip(name_end) {
                    if quote != 0 {
                        if b == quote {
                            quote = 0;
                        }
                    } else if b == b'"' || b == b'\'' {
                        quote = b;
                    } else if b == b'>' {
                        found = Some(i);
                        break;
                    } else if b == b'<' {
                        return Err(self.error_at(start, "`<` inside a tag"));
                    }
                }
                let end = found.ok_or_else(unclosed)?;
                (end, bytes[end - 1] == b'/')
            }
        };
        let attrs_end = if empty { end - 1 } else { end };
        let tag = Tag {
            name,
            attrs: src.get(name_end..attrs_end).unwrap_or_default(),
            attrs_at: name_end,
        };
        self.pos = end + 1;
        let outer = self.ns.len();
        // Namespace declarations are `xmlns` and `xmlns:p` attributes.
        if declares_namespaces(tag.attrs.as_bytes()) {
            self.declare_namespaces(&tag)?;
        }
        if empty {
            self.pop_to = Some(outer);
            Ok(Tok::Empty(tag))
        } else {
            self.open.push((name, outer));
            Ok(Tok::Start(tag))
        }
    }

    fn end_tag(&mut self, start: usize) -> Result<Tok<'a>, DecodeError> {
        let rest = &self.src[start..];
        let end = find_byte(rest.as_bytes(), 2, b'>')
            .ok_or_else(|| self.error_at(start, "unclosed end tag"))?;
        let mut name = &rest[2..end];
        while let Some(n) = name.strip_suffix([' ', '\t', '\n', '\r']) {
            name = n;
        }
        match self.open.pop() {
            Some((open, outer)) if same(open, name) => {
                self.ns.truncate(outer);
                self.pos = start + end + 1;
                Ok(Tok::End)
            }
            Some((open, _)) => Err(self.error_at(
                start,
                format!("expected `</{open}>`, but `</{name}>` found"),
            )),
            None => Err(self.error_at(start, format!("unexpected end tag `</{name}>`"))),
        }
    }

    /// Push the `xmlns` and `xmlns:p` declarations of a tag.
    fn declare_namespaces(&mut self, tag: &Tag<'a>) -> Result<(), DecodeError> {
        for attr in self.attributes(tag) {
            let (name, raw, at) = attr?;
            let prefix = match name.strip_prefix("xmlns") {
                Some("") => "",
                Some(p) if p.starts_with(':') => &p[1..],
                _ => continue,
            };
            let uri = self.attribute_value(raw, at)?;
            self.ns.push((prefix, uri));
        }
        Ok(())
    }

    /// The namespace name bound to `prefix` (with `use_default`, no prefix means the default
    /// namespace), or `None` when unbound.
    fn namespace(&self, prefix: Option<&str>, use_default: bool) -> Option<&str> {
        let prefix = match prefix {
            Some("xml") => return Some("http://www.w3.org/XML/1998/namespace"),
            Some("xmlns") => return Some("http://www.w3.org/2000/xmlns/"),
            Some(p) => p,
            None if use_default => "",
            None => return None,
        };
        self.ns
            .iter()
            .rev()
            .find(|(p, _)| same(p, prefix))
            .map(|(_, uri)| uri.as_ref())
            .filter(|uri| !uri.is_empty())
    }

    /// The attributes of a tag: name, raw value and the value's byte offset.
    fn attributes(&self, tag: &Tag<'a>) -> Attributes<'a> {
        Attributes {
            raw: tag.attrs,
            at: tag.attrs_at,
            i: 0,
        }
    }

    /// An attribute value with references resolved and whitespace normalised (each tab, line
    /// feed, carriage return or CR LF becomes a space).
    fn attribute_value(&self, raw: &'a str, at: usize) -> Result<Cow<'a, str>, DecodeError> {
        if !raw
            .bytes()
            .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
        {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '&' => {
                    let (resolved, len) = self.reference(&raw[i..], at + i)?;
                    out.push_str(&resolved);
                    while chars.next_if(|(j, _)| *j < i + len).is_some() {}
                }
                '\r' => {
                    chars.next_if(|(_, c)| *c == '\n');
                    out.push(' ');
                }
                '\t' | '\n' => out.push(' '),
                c => out.push(c),
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Character data with references resolved and line ends normalised (CR LF and CR become
    /// LF); borrowed when there is nothing to do.
    fn text_value(&self, raw: &'a str, at: usize) -> Result<Cow<'a, str>, DecodeError> {
        let special = |s: &str| find_either(s.as_bytes(), b'&', b'\r');
        let Some(first) = special(raw) else {
            return Ok(Cow::Borrowed(raw));
        };
        let mut out = String::with_capacity(raw.len());
        out.push_str(&raw[..first]);
        let mut rest = &raw[first..];
        while let Some(i) = special(rest) {
            out.push_str(&rest[..i]);
            if rest.as_bytes()[i] == b'&' {
                let offset = raw.len() - rest.len() + i;
                let (resolved, len) = self.reference(&rest[i..], at + offset)?;
                out.push_str(&resolved);
                rest = &rest[i + len..];
            } else {
                out.push('\n');
                rest = rest[i + 1..].strip_prefix('\n').unwrap_or(&rest[i + 1..]);
            }
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    /// The reference at the start of `s` (`&lt;`, `&#10;`, `&#x1F680;`): what it stands for and
    /// its length.
    fn reference(&self, s: &str, at: usize) -> Result<(Cow<'static, str>, usize), DecodeError> {
        let semi = s
            .bytes()
            .take(34)
            .position(|b| b == b';')
            .ok_or_else(|| self.error_at(at, "`&` without a reference (write `&amp;`)"))?;
        let name = &s[1..semi];
        let resolved = match name {
            "lt" => Cow::Borrowed("<"),
            "gt" => Cow::Borrowed(">"),
            "amp" => Cow::Borrowed("&"),
            "quot" => Cow::Borrowed("\""),
            "apos" => Cow::Borrowed("'"),
            _ if name.starts_with('#') => {
                let code = match name[1..].strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => name[1..].parse::<u32>().ok(),
                };
                match code.filter(|c| *c != 0).and_then(char::from_u32) {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => {
                        return Err(self.error_at(at, format!("bad character reference &{name};")));
                    }
                }
            }
            other => return Err(self.error_at(at, format!("unknown entity &{other};"))),
        };
        Ok((resolved, semi + 1))
    }
}

/// The attributes of a tag, in order: name, raw value and the value's byte offset.
struct Attributes<'a> {
    raw: &'a str,
    at: usize,
    i: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a str, &'a str, usize), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.raw.as_bytes();
        let skip_space = |mut i: usize| {
            while bytes.get(i).copied().is_some_and(is_xml_space) {
                i += 1;
            }
            i
        };
        let start = skip_space(self.i);
        if start >= bytes.len() {
            self.i = start;
            return None;
        }
        let fail = |this: &mut Self, message: &str| {
            this.i = bytes.len(); // no more attributes after an error
            Some(Err(DecodeError {
                position: (this.at + start) as u64,
                message: format!("bad attribute: {message}"),
            }))
        };
        let name_end = (start..bytes.len())
            .find(|&i| bytes[i] == b'=' || is_xml_space(bytes[i]))
            .unwrap_or(bytes.len());
        let name = &self.raw[start..name_end];
        let eq = skip_space(name_end);
        if bytes.get(eq) != Some(&b'=') {
            return fail(self, &format!("`{name}` has no value"));
        }
        let open = skip_space(eq + 1);
        let quote = match bytes.get(open) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return fail(self, &format!("the value of `{name}` is not quoted")),
        };
        let Some(len) = find_byte(&bytes[open + 1..], 0, quote) else {
            return fail(self, &format!("the value of `{name}` is not closed"));
        };
        let close = open + 1 + len;
        self.i = close + 1;
        Some(Ok((name, &self.raw[open + 1..close], self.at + open + 1)))
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` equal to `needle`, as the high bit of each byte (exact for the lowest
/// match, which is all the callers use).
#[inline]
fn matches_in(word: u64, needle: u8) -> u64 {
    let x = word ^ (LO * u64::from(needle));
    x.wrapping_sub(LO) & !x & HI
}

/// The index of the first `needle` in `bytes` at or after `from`, eight bytes at a time (the
/// texts and tags of SOAP are short, where this beats a vectorised search's set-up).
fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    find_either(bytes.get(from..)?, needle, needle).map(|i| from + i)
}

/// The index of the first `a` or `b` in `bytes`, eight bytes at a time.
fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = matches_in(word, a) | matches_in(word, b);
        if found != 0 {
            return Some(i + found.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
}

/// Whether a tag's attribute text may declare a namespace (`xmlns` or `xmlns:p`).
fn declares_namespaces(attrs: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = find_byte(attrs, from, b'x') {
        if attrs[i..].starts_with(b"xmlns") {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Bytes that end an element name in a start tag: whitespace, `/` and `>` (and `<`, an error).
static NAME_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'/' as usize] = true;
    t[b'>' as usize] = true;
    t[b'<' as usize] = true;
    t
};

/// `s` without leading and trailing whitespace (a value without any, the usual case, is
/// returned as it is).
fn trim_xml(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if *first > b' ' && *last > b' ' => s,
        [only] if *only > b' ' => s,
        _ => s.trim(),
    }
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `prefix:local` → (Some(prefix), local); `local` → (None, local).
fn split_qname(qname: &str) -> (Option<&str>, &str) {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
        None => (None, qname),
    }
}

/// The offset just past the first `pat` in `s` at or after `from`.
fn find_after(s: &str, from: usize, pat: &str) -> Option<usize> {
    s.get(from..)?.find(pat).map(|i| from + i + pat.len())
}

/// CDATA content with line ends normalised.
fn normalize_eols(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token of a document, as text (namespaces as resolved at each tag).
    fn tokens(doc: &str) -> Result<Vec<String>, DecodeError> {
        let mut xml = Xml::new(doc);
        let mut out = Vec::new();
        loop {
            let t = match xml.next()? {
                Tok::Start(t) => format!(
                    "<{}|{}>",
                    t.name,
                    xml.namespace(split_qname(t.name).0, true).unwrap_or("-")
                ),
                Tok::Empty(t) => format!("<{}/>", t.name),
                Tok::End => "</>".to_owned(),
                Tok::Text { raw, at } => format!("{:?}", xml.text_value(raw, at)?),
                Tok::CData(raw) => format!("cdata{:?}", normalize_eols(raw)),
                Tok::Eof => return Ok(out),
            };
            out.push(t);
        }
    }

    #[test]
    fn tokenizes_what_soap_uses() {
        let doc = "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]><!-- c -->\
                   <a xmlns=\"urn:a\" xmlns:p='urn:p'><p:b x=\"1 > 0\">t&amp;&lt;&gt;&quot;&apos;&#10;&#x1F680;é\r\nz\rq</p:b>\
                   <c/><![CDATA[<&>\r\n]]><d xmlns=\"\"></d ></a>";
        assert_eq!(
            tokens(doc).unwrap(),
            [
                "<a|urn:a>",
                "<p:b|urn:p>",
                "\"t&<>\\\"'\\n🚀é\\nz\\nq\"",
                "</>",
                "<c/>",
                "cdata\"<&>\\n\"",
                "<d|->",
                "</>",
                "</>",
            ]
        );
    }

    #[test]
    fn namespace_bindings_are_scoped_to_their_element() {
        let doc = r#"<r xmlns:x="urn:1"><a xmlns:x="urn:2"><x:b/></a><x:c/><e xmlns:x="urn:3"/><x:f></x:f></r>"#;
        let mut xml = Xml::new(doc);
        let mut seen = Vec::new();
        while let Ok(t) = xml.next() {
            match t {
                Tok::Start(t) | Tok::Empty(t) => seen.push(format!(
                    "{}={}",
                    t.name,
                    xml.namespace(Some("x"), false).unwrap_or("-")
                )),
                Tok::Eof => break,
                _ => {}
            }
        }
        assert_eq!(
            seen,
            [
                "r=urn:1",
                "a=urn:2",
                "x:b=urn:2",
                "x:c=urn:1",
                "e=urn:3",
                "x:f=urn:1"
            ]
        );
    }

    #[test]
    fn attribute_values_are_unescaped_and_normalised() {
        let doc = "<a  k = 'v' t=\"a&amp;b&#9;c\td\r\ne\nf&#xD;\" />";
        let mut xml = Xml::new(doc);
        let Ok(Tok::Empty(tag)) = xml.next() else {
            panic!("not an empty tag")
        };
        let attrs: Vec<(String, String)> = xml
            .attributes(&tag)
            .map(|a| {
                let (name, raw, at) = a.unwrap();
                assert_eq!(&doc[at..at + raw.len()], raw);
                (
                    name.to_owned(),
                    xml.attribute_value(raw, at).unwrap().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            attrs,
            [
                ("k".to_owned(), "v".to_owned()),
                ("t".to_owned(), "a&b\tc d e f\r".to_owned())
            ]
        );
        for bad in [r#"<a b>"#, r#"<a b=c>"#, r#"<a b="c>"#, r#"<a b='c"/>"#] {
            let mut xml = Xml::new(bad);
            let result = match xml.next() {
                Ok(Tok::Start(t) | Tok::Empty(t)) => xml
                    .attributes(&t)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|_| ()),
                Ok(other) => panic!("{bad}: {other:?}"),
                Err(e) => Err(e),
            };
            assert!(result.is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn malformed_markup_is_an_error_at_its_position() {
        let cases = [
            ("<a></b>", 3, "expected `</a>`, but `</b>` found"),
            ("<a>x</a></a>", 8, "unexpected end tag"),
            ("<a><!-- x", 3, "unclosed comment"),
            ("<a><![CDATA[x", 3, "unclosed CDATA"),
            ("<a><?pi", 3, "unclosed processing"),
            ("<a><b", 3, "unclosed tag"),
            ("<a><b <c>", 3, "`<` inside a tag"),
            ("<a></a", 3, "unclosed end tag"),
            ("<a><!x>", 3, "unknown markup"),
            ("<a>< b>", 3, "without a name"),
        ];
        for (doc, position, message) in cases {
            let err = tokens(doc).expect_err(doc);
            assert_eq!(err.position, position as u64, "{doc}: {err}");
            assert!(err.message.contains(message), "{doc}: {err}");
        }
        for (doc, position, message) in [
            ("<a>x &bogus; y</a>", 5, "unknown entity &bogus;"),
            ("<a>x &#0; y</a>", 5, "bad character reference"),
            ("<a>x &#xD800; y</a>", 5, "bad character reference"),
            ("<a>x & y</a>", 5, "`&` without a reference"),
        ] {
            let err = tokens(doc).expect_err(doc);
            assert_eq!(err.position, position as u64, "{doc}: {err}");
            assert!(err.message.contains(message), "{doc}: {err}");
        }
    }

    #[test]
    fn leaf_text_takes_plain_leaves_and_leaves_the_rest() {
        // (document, start tags to read first, expected text)
        let cases: [(&str, usize, Option<&str>); 8] = [
            ("<a><b>x y</b></a>", 2, Some("x y")),
            ("<a><b></b></a>", 2, Some("")),
            ("<a><b>x</b ></a>", 2, Some("x")),
            ("<a><b>x&amp;y</b></a>", 2, None),
            ("<a><b>x\r\ny</b></a>", 2, None),
            ("<a><b>x<c/></b></a>", 2, None),
            ("<a><b>x</bb></a>", 2, None),
            ("<a><b/>x</a>", 1, None),
        ];
        for (doc, starts, want) in cases {
            let mut xml = Xml::new(doc);
            for _ in 0..starts {
                xml.next().unwrap();
            }
            if starts == 1 {
                // After an empty element the caller never asks; the parent's text is not a leaf
                // of `<b/>`.
                assert!(matches!(xml.next().unwrap(), Tok::Empty(_)));
                continue;
            }
            let pos = xml.pos;
            let got = xml.leaf_text();
            assert_eq!(got, want, "{doc}");
            if got.is_none() {
                assert_eq!(xml.pos, pos, "{doc}: nothing consumed");
            } else {
                assert!(
                    matches!(xml.next().unwrap(), Tok::End),
                    "{doc}: </a> follows"
                );
            }
        }
    }

    #[test]
    fn trim_xml_agrees_with_trim() {
        for s in [
            "", " ", "a", " a", "a ", " a ", "ab", "a b", "\ta\n", "\r\n", "é", " é",
        ] {
            assert_eq!(trim_xml(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn tags_with_and_without_attributes() {
        let doc = "<a><b/><c x='1'/><d y=\"2\" ><e /></d><f\n/></a>";
        assert_eq!(
            tokens(doc).unwrap(),
            tokens("<a><b/><c x='1'/><d y=\"2\"><e/></d><f/></a>").unwrap()
        );
        assert!(tokens("<a").is_err());
        assert!(tokens("<a/").is_err());
        assert!(tokens("<a x='>'>").is_ok());
        assert!(tokens("<a<b>").is_err());
    }

    #[test]
    fn find_either_and_namespace_check_agree_with_plain_searches() {
        let hay: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
        for (a, b) in [(b'&', b'\r'), (37, 200), (0, 0xff), (1, 1)] {
            for from in 0..hay.len() {
                let h = &hay[from..];
                let want = h.iter().position(|&c| c == a || c == b);
                assert_eq!(find_either(h, a, b), want, "{a} {b} from {from}");
            }
        }
        for (attrs, want) in [
            ("", false),
            (" xsi:type=\"x\"", false),
            (" xmlns=\"urn:vim25\"", true),
            (" a=\"x\" xmlns:xsi=\"u\"", true),
            (" xx=\"xmln\"", false),
        ] {
            assert_eq!(declares_namespaces(attrs.as_bytes()), want, "{attrs}");
        }
    }

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for needle in [0u8, 1, 0x7f, 0x80, 0xff, b'<', 37, 200] {
            for from in 0..hay.len() + 2 {
                let want = hay
                    .get(from..)
                    .and_then(|h| h.iter().position(|&b| b == needle))
                    .map(|p| from + p);
                assert_eq!(find_byte(&hay, from, needle), want, "{needle} from {from}");
            }
        }
        // A match just after bytes that borrow in the word arithmetic.
        let hay = [0x3c, 0x3d, 0x01, 0x3c, 0, 0, 0, 0, 0x3c];
        assert_eq!(find_byte(&hay, 1, 0x3c), Some(3));
    }

    #[test]
    fn same_agrees_with_string_equality() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "key",
            "kez",
            "chainId",
            "chainIdx",
            "createdTime",
            "createdTimf",
            "fullFormattedMessage",
            "fullFormattedMessagf",
            "gullFormattedMessage",
            "é",
            "e",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn type_cache_answers_what_the_catalogue_answers() {
        let mut cache = TypeCache::default();
        // Twice over, so the second round runs on a full cache with colliding slots.
        for _ in 0..2 {
            for ty in catalogue::TYPES.iter().step_by(3) {
                let got = cache.lookup(ty.name());
                assert!(got.is_some_and(|g| std::ptr::eq(g, ty)), "{}", ty.name());
            }
            assert!(cache.lookup("NoSuchType").is_none());
            assert!(cache.lookup("").is_none());
        }
    }

    #[test]
    fn field_table_finds_what_typeinfo_field_finds() {
        for ty in catalogue::TYPES.iter().step_by(7) {
            let table = FieldTable::of(ty);
            let mut cursor = 0;
            for f in ty.all_fields() {
                let found = table.find(&mut cursor, f.xml_name());
                assert!(
                    found.is_some_and(|g| std::ptr::eq(g, ty.field(f.xml_name()).unwrap())),
                    "{}.{}",
                    ty.name(),
                    f.xml_name()
                );
            }
            // Backwards, so every lookup wraps around.
            for f in ty.all_fields().collect::<Vec<_>>().iter().rev() {
                assert!(table.find(&mut cursor, f.xml_name()).is_some());
            }
            assert_eq!(table.find(&mut cursor, "noSuchField"), None);
        }
    }
}
