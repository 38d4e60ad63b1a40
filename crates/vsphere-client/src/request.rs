//! SOAP request bodies: the envelope, `_this`, and parameters in WSDL order.
//!
//! Requests are written by hand in the order the WSDL declares (govmomi and pyVmomi do the
//! same); data objects are written field by field in catalogue order with an `xsi:type` on every
//! object, so subtypes and `anyType` values arrive as what they are.

use base64::Engine as _;

use crate::catalogue::Kind;
use crate::model::{DataObject, MoRef, Value};
use crate::time::write_rfc3339_nano;

/// A request body under construction.
#[derive(Debug)]
pub struct Request {
    method: &'static str,
    buf: String,
}

impl Request {
    /// Start `<method xmlns="urn:vim25"><_this type="..">..</_this>`.
    pub fn new(method: &'static str, this: &MoRef) -> Self {
        let mut buf = String::with_capacity(512);
        buf.push_str(concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
            r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
            r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><"#
        ));
        buf.push_str(method);
        buf.push_str(r#" xmlns="urn:vim25">"#);
        let mut req = Self { method, buf };
        req.moref("_this", this);
        req
    }

    /// The method name.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape_text(&mut self.buf, text);
        self.close(name);
        self
    }

    /// `<name>value</name>` for a displayable value (numbers, booleans).
    pub fn display(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.text(name, &value.to_string())
    }

    /// `<name type="Kind">value</name>`.
    pub fn moref(&mut self, name: &str, moref: &MoRef) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str(r#" type=""#);
        escape_attr(&mut self.buf, &moref.kind);
        self.buf.push_str(r#"">"#);
        escape_text(&mut self.buf, &moref.value);
        self.close(name);
        self
    }

    /// `<name>`
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `<name xsi:type="ty">`
    pub fn open_typed(&mut self, name: &str, ty: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str(r#" xsi:type=""#);
        escape_attr(&mut self.buf, ty);
        self.buf.push_str(r#"">"#);
        self
    }

    /// `</name>`
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// A data object with its `xsi:type`, fields in catalogue (WSDL) order.
    pub fn object(&mut self, name: &str, obj: &DataObject) -> &mut Self {
        write_object(&mut self.buf, name, obj);
        self
    }

    /// A value of a field of kind `kind` (arrays repeat the element).
    pub fn value(&mut self, name: &str, kind: Kind, value: &Value) -> &mut Self {
        write_value(&mut self.buf, name, kind, value);
        self
    }

    /// Close the method and the envelope.
    pub fn finish(mut self) -> String {
        self.buf.push_str("</");
        self.buf.push_str(self.method);
        self.buf.push_str("></soapenv:Body></soapenv:Envelope>");
        self.buf
    }
}

/// Write a data object as `<name xsi:type="Type">…</name>`, fields in catalogue (WSDL) order
/// then fields the catalogue does not know (with their `xsi:type`). Used for request
/// parameters and by servers (simulators) writing responses; the `xsi` and `xsd` prefixes must
/// be declared by an enclosing element.
pub fn write_object(buf: &mut String, name: &str, obj: &DataObject) {
    buf.push('<');
    buf.push_str(name);
    if !obj.type_name.is_empty() {
        buf.push_str(r#" xsi:type=""#);
        escape_attr(buf, &obj.type_name);
        buf.push('"');
    }
    buf.push('>');
    match obj.effective_type() {
        Some(ty) => {
            // Known fields in WSDL order, then anything else as it came.
            for info in ty.all_fields() {
                if let Some(v) = obj.get(info.xml_name()) {
                    write_value(buf, info.xml_name(), info.kind, v);
                }
            }
            for f in &obj.fields {
                if ty.field(f.name.xml_name()).is_none() {
                    write_value(buf, f.name.xml_name(), Kind::Any, &f.value);
                }
            }
        }
        None => {
            for f in &obj.fields {
                write_value(buf, f.name.xml_name(), Kind::Any, &f.value);
            }
        }
    }
    buf.push_str("</");
    buf.push_str(name);
    buf.push('>');
}

/// Write a value of a field of kind `kind` as element `name` (arrays repeat the element;
/// `Kind::Any` values carry an `xsi:type`).
pub fn write_value(buf: &mut String, name: &str, kind: Kind, value: &Value) {
    let typed = kind == Kind::Any;
    let prim = |buf: &mut String, xsd: &str, text: &str| {
        buf.push('<');
        buf.push_str(name);
        if typed {
            buf.push_str(r#" xsi:type="xsd:"#);
            buf.push_str(xsd);
            buf.push('"');
        }
        buf.push('>');
        escape_text(buf, text);
        buf.push_str("</");
        buf.push_str(name);
        buf.push('>');
    };
    match value {
        Value::Array(items) => {
            for item in items {
                write_value(buf, name, kind, item);
            }
        }
        Value::Object(obj) => write_object(buf, name, obj),
        Value::MoRef(m) => {
            buf.push('<');
            buf.push_str(name);
            if typed {
                buf.push_str(r#" xsi:type="ManagedObjectReference""#);
            }
            buf.push_str(r#" type=""#);
            escape_attr(buf, &m.kind);
            buf.push_str(r#"">"#);
            escape_text(buf, &m.value);
            buf.push_str("</");
            buf.push_str(name);
            buf.push('>');
        }
        Value::Bool(b) => prim(buf, "boolean", if *b { "true" } else { "false" }),
        Value::Byte(v) => prim(buf, "byte", &v.to_string()),
        Value::Short(v) => prim(buf, "short", &v.to_string()),
        Value::Int(v) => prim(buf, "int", &v.to_string()),
        Value::Long(v) => prim(buf, "long", &v.to_string()),
        Value::Float(v) => prim(buf, "float", &xsd_float(f64::from(*v))),
        Value::Double(v) => prim(buf, "double", &xsd_float(*v)),
        Value::String(s) => prim(buf, "string", s),
        Value::DateTime(t) => {
            let mut s = String::with_capacity(32);
            write_rfc3339_nano(&mut s, *t);
            prim(buf, "dateTime", &s)
        }
        Value::Binary(b) => prim(
            buf,
            "base64Binary",
            &base64::engine::general_purpose::STANDARD.encode(b),
        ),
    }
}

fn xsd_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "INF".into() } else { "-INF".into() }
    } else {
        v.to_string()
    }
}

/// Escape text content: `&`, `<`, `>` and carriage returns (which parsers would normalise away).
pub fn escape_text(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '\r' => buf.push_str("&#xD;"),
            c => buf.push(c),
        }
    }
}

/// Escape an attribute value.
pub fn escape_attr(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '"' => buf.push_str("&quot;"),
            '\r' => buf.push_str("&#xD;"),
            '\n' => buf.push_str("&#xA;"),
            '\t' => buf.push_str("&#x9;"),
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_login_in_wsdl_order_with_escaping() {
        let mut req = Request::new("Login", &MoRef::new("SessionManager", "SessionManager"));
        req.text("userName", "a&b")
            .text("password", "<p\"w>")
            .text("locale", "en_US");
        let xml = req.finish();
        assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope"#));
        assert!(xml.contains(
            r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>a&amp;b</userName><password>&lt;p"w&gt;</password><locale>en_US</locale></Login></soapenv:Body></soapenv:Envelope>"#
        ), "{xml}");
    }
}
