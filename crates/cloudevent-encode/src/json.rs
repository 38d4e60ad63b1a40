//! The `application/json` payload: what Go's `encoding/json.Marshal` writes for the govmomi
//! struct.

use base64::Engine as _;
use vsphere_client::catalogue::{self, Kind};
use vsphere_client::model::{DataObject, Value};

use crate::gofmt;
use crate::plan::{FieldPlan, Shape};
use crate::walk::{Cursor, go_visible, object_plan, unknown_fields};

/// Append the JSON payload of `obj` (an event or any data object) to `out`.
///
/// Keys are govmomi's Go field names in Go struct order with embedded bases first; every field
/// govmomi declares is written (`null` for absent pointers, slices and interfaces, the zero value
/// otherwise); fields only newer APIs have follow the known fields of their struct when present;
/// elements the catalogue does not know come last, with capitalised keys.
pub fn encode_json(obj: &DataObject, out: &mut Vec<u8>) {
    object(out, obj, false);
}

/// [`encode_json`] restricted to what govmomi 0.24 can hold: fields and types it does not know
/// are left out, so the output is exactly the Go adapter's.
pub fn encode_json_go_only(obj: &DataObject, out: &mut Vec<u8>) {
    object(out, obj, true);
}

fn object(out: &mut Vec<u8>, obj: &DataObject, go_only: bool) {
    out.push(b'{');
    let mut first = true;
    let mut cursor = Cursor::new(obj);
    for p in object_plan(obj) {
        if go_only && p.shape == Shape::Extra {
            continue;
        }
        let value = cursor
            .find(&p)
            .map(|f| &f.value)
            .filter(|v| !go_only || go_visible(v));
        if value.is_none() && p.shape == Shape::Extra {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        p.json_key(out);
        field(out, &p, value, go_only);
    }
    for (name, f) in unknown_fields(obj) {
        if go_only {
            break;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        unknown_key(out, name);
        value_json(out, &f.value, go_only);
    }
    out.push(b'}');
}

/// `name` with its first letter upper-cased, as a JSON key.
fn unknown_key(out: &mut Vec<u8>, name: &str) {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_lowercase() => {
            let mut s = String::with_capacity(name.len());
            s.extend(c.to_uppercase());
            s.push_str(chars.as_str());
            gofmt::json_string(out, &s);
        }
        _ => gofmt::json_string(out, name),
    }
    out.push(b':');
}

fn field(out: &mut Vec<u8>, p: &FieldPlan, value: Option<&Value>, go_only: bool) {
    match (p.shape, value) {
        (Shape::Slice | Shape::Pointer | Shape::Interface, None) => {
            out.extend_from_slice(b"null");
        }
        (Shape::Slice, Some(v)) => {
            out.push(b'[');
            let items = v.items().iter().filter(|i| !go_only || go_visible(i));
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value_json(out, item, go_only);
            }
            out.push(b']');
        }
        (Shape::Bytes, None) => out.extend_from_slice(b"null"),
        (Shape::Bytes, Some(v)) => bytes_json(out, v),
        (_, Some(v)) => value_json(out, v, go_only),
        (Shape::Value | Shape::Extra, None) => zero(out, p.info.kind),
    }
}

/// A `[]byte` field: govmomi keeps the element text as the bytes (base64 on the wire stays
/// base64), and `encoding/json` base64-encodes them again.
fn bytes_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Binary(b) => {
            out.push(b'"');
            gofmt::base64(
                out,
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            );
            out.push(b'"');
        }
        Value::Array(items) => {
            let raw: Vec<u8> = items
                .iter()
                .map(|i| i.as_i64().unwrap_or_default() as u8)
                .collect();
            out.push(b'"');
            gofmt::base64(out, &raw);
            out.push(b'"');
        }
        other => value_json(out, other, false),
    }
}

/// A present value.
fn value_json(out: &mut Vec<u8>, v: &Value, go_only: bool) {
    match v {
        Value::Bool(b) => gofmt::boolean(out, *b),
        Value::Byte(n) => gofmt::int(out, i64::from(*n)),
        Value::Short(n) => gofmt::int(out, i64::from(*n)),
        Value::Int(n) => gofmt::int(out, i64::from(*n)),
        Value::Long(n) => gofmt::int(out, *n),
        Value::Float(f) => gofmt::json_float(out, f64::from(*f), true),
        Value::Double(f) => gofmt::json_float(out, *f, false),
        Value::String(s) => gofmt::json_string(out, s),
        Value::DateTime(t) => {
            out.push(b'"');
            gofmt::rfc3339_nano(out, *t);
            out.push(b'"');
        }
        Value::Binary(_) => bytes_json(out, v),
        Value::MoRef(m) => {
            out.extend_from_slice(b"{\"Type\":");
            gofmt::json_string(out, &m.kind);
            out.extend_from_slice(b",\"Value\":");
            gofmt::json_string(out, &m.value);
            out.push(b'}');
        }
        Value::Object(o) => object(out, o, go_only),
        Value::Array(items) => {
            out.push(b'[');
            let items = items.iter().filter(|i| !go_only || go_visible(i));
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value_json(out, item, go_only);
            }
            out.push(b']');
        }
    }
}

/// The zero value of a Go value-typed field.
fn zero(out: &mut Vec<u8>, kind: Kind) {
    match kind {
        Kind::Bool => out.extend_from_slice(b"false"),
        Kind::Byte | Kind::Short | Kind::Int | Kind::Long | Kind::Float | Kind::Double => {
            out.push(b'0');
        }
        Kind::String
        | Kind::Uri
        | Kind::TypeName
        | Kind::MethodName
        | Kind::PropertyPath
        | Kind::Enum(_) => out.extend_from_slice(b"\"\""),
        Kind::DateTime => {
            out.push(b'"');
            out.extend_from_slice(gofmt::ZERO_TIME);
            out.push(b'"');
        }
        Kind::Binary | Kind::Any => out.extend_from_slice(b"null"),
        Kind::MoRef => out.extend_from_slice(b"{\"Type\":\"\",\"Value\":\"\"}"),
        Kind::Data(i) => {
            let ty = catalogue::type_at(i);
            out.push(b'{');
            let mut first = true;
            for p in crate::plan::plan(ty) {
                if p.shape == Shape::Extra {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                p.json_key(out);
                field(out, &p, None, true);
            }
            out.push(b'}');
        }
    }
}
