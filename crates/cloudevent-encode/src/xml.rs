//! The `application/xml` payload: what Go's `encoding/xml.Marshal` writes for the govmomi
//! struct.

use base64::Engine as _;
use vsphere_client::catalogue::{self, Kind};
use vsphere_client::model::{DataObject, Value};

use crate::gofmt;
use crate::plan::{FieldPlan, Shape};
use crate::walk::{Cursor, go_visible, object_plan, unknown_fields};

/// Append the XML payload of `obj` to `out`: root element = the type name, no declaration, no
/// namespaces, no `xsi:type`; fields in Go struct order with `omitempty` as govmomi's tags say;
/// fields only newer APIs have after the known fields of their struct when present; unknown
/// elements last, as received.
pub fn encode_xml(obj: &DataObject, out: &mut Vec<u8>) {
    root(obj, out, false);
}

/// [`encode_xml`] restricted to what govmomi 0.24 can hold: fields and types it does not know
/// are left out, so the output is exactly the Go adapter's.
pub fn encode_xml_go_only(obj: &DataObject, out: &mut Vec<u8>) {
    root(obj, out, true);
}

fn root(obj: &DataObject, out: &mut Vec<u8>, go_only: bool) {
    let name = if obj.type_name.is_empty() {
        "DataObject"
    } else {
        &obj.type_name
    };
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    body(out, obj, go_only);
    close(out, name);
}

fn open(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

fn close(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

fn body(out: &mut Vec<u8>, obj: &DataObject, go_only: bool) {
    let mut cursor = Cursor::new(obj);
    for p in object_plan(obj) {
        if go_only && p.shape == Shape::Extra {
            continue;
        }
        let value = cursor
            .find(&p)
            .map(|f| &f.value)
            .filter(|v| !go_only || go_visible(v));
        field(out, &p, value, go_only);
    }
    if !go_only {
        for (name, f) in unknown_fields(obj) {
            element(out, name, &f.value, false);
        }
    }
}

fn field(out: &mut Vec<u8>, p: &FieldPlan, value: Option<&Value>, go_only: bool) {
    let name = p.info.xml_name();
    match (p.shape, value) {
        (Shape::Value, None) => {
            if !p.omitempty || matches!(p.info.kind, Kind::DateTime | Kind::MoRef | Kind::Data(_)) {
                zero(out, name, p.info.kind);
            }
        }
        (Shape::Bytes, None) => {
            if !p.omitempty {
                open(out, name);
                close(out, name);
            }
        }
        (_, None) => {}
        (Shape::Value, Some(v)) if p.omitempty && is_empty(v) => {}
        (Shape::Bytes, Some(v)) => {
            let text = bytes_text(v);
            if !(p.omitempty && text.is_empty()) {
                open(out, name);
                gofmt::xml_text_bytes(out, &text);
                close(out, name);
            }
        }
        (_, Some(v)) => element(out, name, v, go_only),
    }
}

/// Go's `isEmptyValue` for a present value of a value-typed field.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !*b,
        Value::Byte(n) => *n == 0,
        Value::Short(n) => *n == 0,
        Value::Int(n) => *n == 0,
        Value::Long(n) => *n == 0,
        Value::Float(f) => *f == 0.0,
        Value::Double(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Binary(b) => b.is_empty(),
        Value::DateTime(_) | Value::MoRef(_) | Value::Object(_) => false,
    }
}

/// The bytes govmomi holds for a `[]byte` field: the element text (base64 stays base64).
fn bytes_text(v: &Value) -> Vec<u8> {
    match v {
        Value::Binary(b) => base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_i64().unwrap_or_default() as u8)
            .collect(),
        Value::String(s) => s.clone().into_bytes(),
        _ => Vec::new(),
    }
}

/// A present value as element(s) `name`; arrays repeat the element.
fn element(out: &mut Vec<u8>, name: &str, v: &Value, go_only: bool) {
    match v {
        Value::Array(items) => {
            for item in items {
                if !go_only || go_visible(item) {
                    element(out, name, item, go_only);
                }
            }
        }
        Value::MoRef(m) => {
            out.push(b'<');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" type=\"");
            gofmt::xml_text(out, &m.kind);
            out.extend_from_slice(b"\">");
            gofmt::xml_text(out, &m.value);
            close(out, name);
        }
        Value::Object(o) => {
            open(out, name);
            body(out, o, go_only);
            close(out, name);
        }
        Value::Binary(b) => {
            open(out, name);
            gofmt::xml_text_bytes(out, &bytes_text(&Value::Binary(b.clone())));
            close(out, name);
        }
        prim => {
            open(out, name);
            text(out, prim);
            close(out, name);
        }
    }
}

/// The character data of a primitive value.
fn text(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => gofmt::boolean(out, *b),
        Value::Byte(n) => gofmt::int(out, i64::from(*n)),
        Value::Short(n) => gofmt::int(out, i64::from(*n)),
        Value::Int(n) => gofmt::int(out, i64::from(*n)),
        Value::Long(n) => gofmt::int(out, *n),
        Value::Float(f) => gofmt::xml_float(out, f64::from(*f), true),
        Value::Double(f) => gofmt::xml_float(out, *f, false),
        Value::String(s) => gofmt::xml_text(out, s),
        Value::DateTime(t) => gofmt::rfc3339_nano(out, *t),
        Value::Binary(_) | Value::MoRef(_) | Value::Object(_) | Value::Array(_) => {}
    }
}

/// The zero value of a Go value-typed field, as Go writes it.
fn zero(out: &mut Vec<u8>, name: &str, kind: Kind) {
    match kind {
        Kind::Bool => {
            open(out, name);
            out.extend_from_slice(b"false");
            close(out, name);
        }
        Kind::Byte | Kind::Short | Kind::Int | Kind::Long | Kind::Float | Kind::Double => {
            open(out, name);
            out.push(b'0');
            close(out, name);
        }
        Kind::DateTime => {
            open(out, name);
            out.extend_from_slice(gofmt::ZERO_TIME);
            close(out, name);
        }
        Kind::MoRef => {
            out.push(b'<');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" type=\"\">");
            close(out, name);
        }
        Kind::Data(i) => {
            let ty = catalogue::type_at(i);
            open(out, name);
            for p in crate::plan::plan(ty) {
                if p.shape != Shape::Extra {
                    field(out, &p, None, true);
                }
            }
            close(out, name);
        }
        Kind::Binary | Kind::Any => {}
        Kind::String
        | Kind::Uri
        | Kind::TypeName
        | Kind::MethodName
        | Kind::PropertyPath
        | Kind::Enum(_) => {
            open(out, name);
            close(out, name);
        }
    }
}
