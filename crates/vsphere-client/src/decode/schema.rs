//! The schema-guided decoder: the catalogue's types applied to the tokenizer's elements,
//! `xsi:type` resolved by namespace, unknown types decoded generically.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;

use super::xml::{Tag, Tok, Xml, normalize_eols, same, split_qname, trim_xml};
use super::{Body, DecodeError, type_index};
use crate::catalogue::{self, FieldInfo, Kind, TypeInfo};
use crate::fault::SoapFault;
use crate::model::{DataObject, Field, FieldName, MoRef, TypeRef, Value};
use crate::time::parse_xsd_datetime;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Deeper nesting than this is refused (vCenter objects nest about 10 deep).
const MAX_DEPTH: usize = 128;

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

pub(super) struct Decoder<'a> {
    pub(super) xml: Xml<'a>,
    /// The fields of the objects being decoded, innermost object last: each object collects its
    /// fields here and takes them in one exactly sized allocation at its end tag.
    fields: Vec<Field>,
    /// Types named by `xsi:type` so far (a page names the same few types over and over).
    types: TypeCache,
    /// Keep a primitive value that does not parse as its text instead of failing.
    pub(super) lenient: bool,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            xml: Xml::new(text),
            fields: Vec::new(),
            types: TypeCache::default(),
            lenient: false,
        }
    }

    /// An error at the current position (just after what was read last).
    pub(super) fn error(&self, message: impl Into<String>) -> DecodeError {
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

    pub(super) fn body(&mut self, expected: Option<Kind>) -> Result<Body, DecodeError> {
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
    pub(super) fn value(
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

#[cfg(test)]
mod tests {
    use super::*;

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
