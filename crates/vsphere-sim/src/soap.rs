//! Reading SOAP requests and writing SOAP responses and faults the way vCenter does.

use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use vsphere_client::request::{escape_attr, escape_text, write_object};
use vsphere_client::{DataObject, MoRef, Value, catalogue};

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const MAX_DEPTH: usize = 64;

/// One element of a request: its local name, `type` attribute (managed object references),
/// `xsi:type`, text and child elements, and where it sits in the request bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub name: String,
    pub moref_type: Option<String>,
    pub xsi_type: Option<String>,
    pub text: String,
    pub children: Vec<Node>,
    /// Byte range of the whole element in the request.
    pub span: (usize, usize),
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
    pub fn moref(&self) -> MoRef {
        MoRef::new(
            self.moref_type.clone().unwrap_or_default(),
            self.text.trim(),
        )
    }
}

/// A parsed request: the method, `_this`, the parameters, and the namespace declarations in
/// scope (to re-parse a parameter on its own).
#[derive(Debug, Clone)]
pub(crate) struct SoapRequest {
    pub method: String,
    pub this: MoRef,
    pub params: Node,
    pub namespaces: Vec<(String, String)>,
}

/// Why a request could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed SOAP request at byte {position}: {message}")]
pub(crate) struct RequestError {
    pub position: u64,
    pub message: String,
}

impl SoapRequest {
    /// The parameter `name` as standalone XML with the namespace declarations it needs, for
    /// `vsphere_client::decode::decode_element`.
    pub fn param_xml(&self, body: &str, name: &str) -> Option<String> {
        let node = self.params.child(name)?;
        let raw = body.get(node.span.0..node.span.1)?;
        // Insert the in-scope declarations into the start tag.
        let tag_end = raw.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
        let mut out = String::with_capacity(raw.len() + 200);
        out.push_str(&raw[..tag_end]);
        for (prefix, uri) in &self.namespaces {
            let attr = if prefix.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{prefix}")
            };
            let start_tag = &raw[..raw.find('>').unwrap_or(raw.len())];
            if start_tag.contains(&format!("{attr}=")) {
                continue;
            }
            out.push(' ');
            out.push_str(&attr);
            out.push_str("=\"");
            escape_attr(&mut out, uri);
            out.push('"');
        }
        out.push_str(&raw[tag_end..]);
        Some(out)
    }
}

/// Parse a SOAP request envelope.
pub(crate) fn parse_request(body: &str) -> Result<SoapRequest, RequestError> {
    let mut reader = NsReader::from_str(body);
    reader.config_mut().check_end_names = true;
    let err = |reader: &NsReader<&[u8]>, message: String| RequestError {
        position: reader.buffer_position(),
        message,
    };
    let mut namespaces: Vec<(String, String)> = Vec::new();
    // Envelope, Body, then the method element.
    let mut stage = 0;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| RequestError {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match ev {
            XmlEvent::Start(e) => {
                collect_namespaces(&e, &mut namespaces);
                let (ns, local) = reader.resolver().resolve_element(e.name());
                let local = local.as_ref().to_owned();
                let in_soap = matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == SOAP_ENV);
                match stage {
                    0 if local == "Envelope" && in_soap => stage = 1,
                    1 if local == "Body" && in_soap => stage = 2,
                    1 => {
                        // Header: skip.
                        let end = e.to_end().into_owned();
                        reader
                            .read_to_end(end.name())
                            .map_err(|x| err(&reader, x.to_string()))?;
                    }
                    2 => {
                        let mut params = Node {
                            name: local.clone(),
                            ..Node::default()
                        };
                        read_children(&mut reader, &mut params, before, 0)?;
                        let this = params
                            .child("_this")
                            .map(Node::moref)
                            .unwrap_or_else(|| MoRef::new("", ""));
                        return Ok(SoapRequest {
                            method: local,
                            this,
                            params,
                            namespaces,
                        });
                    }
                    _ => {
                        return Err(err(
                            &reader,
                            format!("expected a SOAP Envelope, found <{local}>"),
                        ));
                    }
                }
            }
            XmlEvent::Empty(e) => {
                let local = e.local_name().as_ref().to_owned();
                if stage == 2 {
                    return Ok(SoapRequest {
                        method: local,
                        this: MoRef::new("", ""),
                        params: Node::default(),
                        namespaces,
                    });
                }
                return Err(err(&reader, format!("unexpected empty element <{local}>")));
            }
            XmlEvent::Eof => return Err(err(&reader, "no SOAP method in the request".into())),
            XmlEvent::End(_) => return Err(err(&reader, "no SOAP method in the request".into())),
            _ => {}
        }
    }
}

fn collect_namespaces(e: &BytesStart<'_>, out: &mut Vec<(String, String)>) {
    for attr in e.attributes().with_checks(false).flatten() {
        let key = attr.key.as_ref().to_owned();
        let prefix = if key == "xmlns" {
            String::new()
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            p.to_owned()
        } else {
            continue;
        };
        let uri = attr.value.as_ref().to_owned();
        out.retain(|(p, _)| *p != prefix);
        out.push((prefix, uri));
    }
}

/// Read the content of the element just started (at byte `start`) into `node`.
fn read_children(
    reader: &mut NsReader<&[u8]>,
    node: &mut Node,
    start: usize,
    depth: usize,
) -> Result<(), RequestError> {
    if depth > MAX_DEPTH {
        return Err(RequestError {
            position: reader.buffer_position(),
            message: "elements nested too deep".into(),
        });
    }
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| RequestError {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match ev {
            XmlEvent::Start(e) => {
                let mut child = element(reader, &e);
                read_children(reader, &mut child, before, depth + 1)?;
                node.children.push(child);
            }
            XmlEvent::Empty(e) => {
                let mut child = element(reader, &e);
                child.span = (before, reader.buffer_position() as usize);
                node.children.push(child);
            }
            XmlEvent::Text(t) => node.text.push_str(&t.xml10_content()),
            XmlEvent::CData(t) => node.text.push_str(&t.xml10_content()),
            XmlEvent::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        node.text.push(c);
                    }
                } else {
                    node.text.push_str(match r.as_ref() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            XmlEvent::End(_) => {
                node.span = (start, reader.buffer_position() as usize);
                return Ok(());
            }
            XmlEvent::Eof => {
                return Err(RequestError {
                    position: reader.buffer_position(),
                    message: format!("unexpected end of document inside <{}>", node.name),
                });
            }
            _ => {}
        }
    }
}

fn element(reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Node {
    let mut node = Node {
        name: e.local_name().as_ref().to_owned(),
        ..Node::default()
    };
    for attr in e.attributes().with_checks(false).flatten() {
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        let in_xsi = matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == XSI);
        let value = attr.value.as_ref().to_owned();
        if in_xsi && local.as_ref() == "type" {
            let v = value.rsplit(':').next().unwrap_or_default().to_owned();
            node.xsi_type = Some(v);
        } else if !in_xsi && local.as_ref() == "type" && attr.key.prefix().is_none() {
            node.moref_type = Some(value);
        }
    }
    node
}

// ---- responses -----------------------------------------------------------------------------

const ENVELOPE_OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/""#,
    r#" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
    r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
    r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
    "\n<soapenv:Body>\n"
);
const ENVELOPE_CLOSE: &str = "\n</soapenv:Body>\n</soapenv:Envelope>";

/// A response body under construction: `<MethodResponse xmlns="urn:vim25">…`.
pub(crate) struct Response {
    method: String,
    pub buf: String,
}

impl Response {
    pub fn new(method: &str) -> Self {
        Self::with_capacity(method, 1024)
    }

    pub fn with_capacity(method: &str, capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity + 300);
        buf.push_str(ENVELOPE_OPEN);
        buf.push('<');
        buf.push_str(method);
        buf.push_str(r#"Response xmlns="urn:vim25">"#);
        Self {
            method: method.to_owned(),
            buf,
        }
    }

    /// `<returnval>text</returnval>`
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.buf.push_str("<returnval>");
        escape_text(&mut self.buf, text);
        self.buf.push_str("</returnval>");
        self
    }

    /// `<returnval type="Kind">id</returnval>`
    pub fn moref(&mut self, moref: &MoRef) -> &mut Self {
        write_moref(&mut self.buf, "returnval", moref);
        self
    }

    /// `<returnval xsi:type="Type">…</returnval>`
    pub fn object(&mut self, obj: &DataObject) -> &mut Self {
        write_object(&mut self.buf, "returnval", obj);
        self
    }

    pub fn finish(mut self) -> String {
        self.buf.push_str("</");
        self.buf.push_str(&self.method);
        self.buf.push_str("Response>");
        self.buf.push_str(ENVELOPE_CLOSE);
        self.buf
    }
}

pub(crate) fn write_moref(buf: &mut String, name: &str, moref: &MoRef) {
    buf.push('<');
    buf.push_str(name);
    buf.push_str(r#" type=""#);
    escape_attr(buf, &moref.kind);
    buf.push_str(r#"">"#);
    escape_text(buf, &moref.value);
    buf.push_str("</");
    buf.push_str(name);
    buf.push('>');
}

/// A vim25 fault as vCenter sends it (HTTP 500):
/// `<detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated">…`.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub message: String,
    pub detail: DataObject,
}

impl Fault {
    /// A fault of catalogue type `ty` with `faultstring` `message`.
    pub fn new(ty: &str, message: impl Into<String>) -> Self {
        let detail = match catalogue::lookup(ty) {
            Some(t) => DataObject::new(t),
            None => DataObject {
                ty: vsphere_client::TypeRef::Unknown { assumed: None },
                type_name: ty.to_owned().into(),
                fields: Vec::new(),
            },
        };
        Self {
            message: message.into(),
            detail,
        }
    }

    /// Set a field of the detail.
    pub fn field(mut self, name: &str, value: Value) -> Self {
        let _ = self.detail.set(name, value);
        self
    }

    /// `NotAuthenticated` on `object`, as vCenter writes it.
    pub fn not_authenticated(object: &MoRef) -> Self {
        Fault::new("NotAuthenticated", "The session is not authenticated.")
            .field("object", Value::MoRef(object.clone()))
            .field("privilegeId", Value::String("System.View".into()))
    }

    pub fn invalid_argument(property: &str) -> Self {
        Fault::new(
            "InvalidArgument",
            format!("A specified parameter was not correct: {property}"),
        )
        .field("invalidProperty", Value::String(property.into()))
    }

    pub fn not_found(obj: &MoRef) -> Self {
        Fault::new(
            "ManagedObjectNotFound",
            format!(
                "The object '{}:{}' has already been deleted or has not been completely created",
                obj.kind, obj.value
            ),
        )
        .field("obj", Value::MoRef(obj.clone()))
    }

    /// The whole response envelope.
    pub fn envelope(&self) -> String {
        let mut buf = String::with_capacity(1024);
        buf.push_str(ENVELOPE_OPEN);
        buf.push_str("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>");
        escape_text(&mut buf, &self.message);
        buf.push_str("</faultstring><detail>");
        let element = format!("{}Fault", self.detail.type_name);
        let mut obj = String::with_capacity(512);
        write_object(&mut obj, &element, &self.detail);
        // `<XFault xsi:type="X">` → `<XFault xmlns="urn:vim25" xsi:type="X">`
        let open = format!("<{element}");
        match obj.strip_prefix(&open) {
            Some(rest) => {
                buf.push_str(&open);
                buf.push_str(r#" xmlns="urn:vim25""#);
                buf.push_str(rest);
            }
            None => buf.push_str(&obj),
        }
        buf.push_str("</detail></soapenv:Fault>");
        buf.push_str(ENVELOPE_CLOSE);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_typed_parameters() {
        let mut req = vsphere_client::request::Request::new(
            "CreateCollectorForEvents",
            &MoRef::new("EventManager", "EventManager"),
        );
        req.open("filter")
            .open("entity")
            .moref("entity", &MoRef::new("Folder", "group-d1"))
            .text("recursion", "all")
            .close("entity")
            .text("eventTypeId", "a&b")
            .close("filter");
        let xml = req.finish();
        let parsed = parse_request(&xml).unwrap();
        assert_eq!(parsed.method, "CreateCollectorForEvents");
        assert_eq!(parsed.this, MoRef::new("EventManager", "EventManager"));
        let filter = parsed.params.child("filter").unwrap();
        let entity = filter.child("entity").unwrap();
        assert_eq!(
            entity.child("entity").unwrap().moref(),
            MoRef::new("Folder", "group-d1")
        );
        assert_eq!(filter.text_of("eventTypeId"), Some("a&b"));
        let standalone = parsed.param_xml(&xml, "filter").unwrap();
        assert!(
            standalone.starts_with("<filter xmlns:soapenv="),
            "{standalone}"
        );
    }

    #[test]
    fn faults_look_like_vcenter_faults() {
        let xml = Fault::not_authenticated(&MoRef::new("Folder", "group-d1")).envelope();
        assert!(
            xml.contains(r#"<detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="Folder">group-d1</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail>"#),
            "{xml}"
        );
        match vsphere_client::decode::decode_body(xml.as_bytes(), None).unwrap() {
            vsphere_client::decode::Body::Fault(f) => assert!(f.is_session_lost()),
            other => panic!("{other:?}"),
        }
    }
}
