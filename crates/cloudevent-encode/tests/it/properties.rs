//! Property tests over random catalogue-typed events: the JSON payload is valid JSON whose keys
//! follow the Go field order, and the XML payload is well-formed and decodes back to the same
//! values.

use std::fmt;

use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use vsphere_client::catalogue::{self, FieldInfo, Kind, TypeInfo};
use vsphere_client::model::{DataObject, Field, FieldName, MoRef, TypeRef, Value};
use vsphere_client::time::DateTime;

// ---- a JSON value that keeps key order ------------------------------------------------------

#[derive(Debug)]
enum Json {
    Scalar,
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---- random catalogue-typed objects ---------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const PIECES: &[&str] = &[
    "a", "Z", "0", " ", "<", ">", "&", "\"", "'", "\t", "\n", "\r", "é", "日本", "😀", "\u{2028}",
    "\u{2029}", "\\", "/", "]]>", "&amp;", "vm-57", "x y",
];

fn string(rng: &mut Rng) -> String {
    let n = rng.below(6);
    (0..n)
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

fn type_index(ty: &TypeInfo) -> u16 {
    catalogue::TYPES
        .iter()
        .position(|t| std::ptr::eq(t, ty))
        .expect("catalogue type") as u16
}

fn primitive(rng: &mut Rng, kind: Kind) -> Option<Value> {
    Some(match kind {
        Kind::Bool => Value::Bool(rng.chance(50)),
        Kind::Byte => Value::Byte(rng.next() as i8),
        Kind::Short => Value::Short(rng.next() as i16),
        Kind::Int => Value::Int(rng.next() as i32),
        Kind::Long => Value::Long(rng.next() as i64),
        Kind::Float => Value::Float(loop {
            let f = f32::from_bits(rng.next() as u32);
            if f.is_finite() {
                break f;
            }
        }),
        Kind::Double => Value::Double(loop {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                break f;
            }
        }),
        Kind::String | Kind::Uri | Kind::TypeName | Kind::MethodName | Kind::PropertyPath => {
            Value::String(string(rng))
        }
        Kind::DateTime => {
            let secs = rng.below(4_102_444_800) as i64; // 1970..2100
            let nanos = rng.below(1_000_000_000) as i32;
            Value::DateTime(DateTime::new(secs, nanos).ok()?)
        }
        Kind::Binary => Value::Binary((0..rng.below(9)).map(|_| rng.next() as u8).collect()),
        Kind::Enum(i) => {
            let values: Vec<&str> = catalogue::enum_at(i).values().collect();
            Value::String(values[rng.below(values.len() as u64) as usize].to_owned())
        }
        Kind::MoRef => Value::MoRef(MoRef::new(string(rng), string(rng))),
        // anyType values travel with xsi:type, which the payloads (like Go's) do not carry.
        Kind::Any | Kind::Data(_) => return None,
    })
}

fn object(rng: &mut Rng, ty: &'static TypeInfo, depth: u32) -> DataObject {
    let mut obj = DataObject::new(ty);
    let fields: Vec<&'static FieldInfo> = ty.all_fields().collect();
    for f in fields {
        if !rng.chance(55) {
            continue;
        }
        // Go's []byte for pyVmomi byte[] does not round-trip through XML text (as in Go).
        if f.kind == Kind::Byte && f.is_array() {
            continue;
        }
        let one = |rng: &mut Rng| match f.kind {
            Kind::Data(i) if depth < 3 => Some(Value::Object(Box::new(object(
                rng,
                catalogue::type_at(i),
                depth + 1,
            )))),
            Kind::Data(_) => None,
            k => primitive(rng, k),
        };
        let value = if f.is_array() {
            let items: Vec<Value> = (0..1 + rng.below(3)).filter_map(|_| one(rng)).collect();
            if items.is_empty() {
                continue;
            }
            Value::Array(items)
        } else {
            match one(rng) {
                Some(v) => v,
                None => continue,
            }
        };
        obj.fields.push(Field {
            name: FieldName::Known(f),
            value,
        });
    }
    obj
}

fn event_types() -> Vec<&'static TypeInfo> {
    catalogue::TYPES
        .iter()
        .filter(|t| t.is_a("Event"))
        .collect()
}

// ---- checks ---------------------------------------------------------------------------------

/// The keys Go writes for `ty`, in order: govmomi's fields (a base field hidden by a derived one
/// of the same name is dropped), and newer-API fields when present.
fn expected_keys(obj: &DataObject, ty: &'static TypeInfo) -> Vec<&'static str> {
    let all: Vec<&'static FieldInfo> = ty.all_fields().collect();
    let mut out = Vec::new();
    for (i, f) in all.iter().enumerate() {
        if all[i + 1..]
            .iter()
            .any(|g| g.go_name() == f.go_name() || g.xml_name() == f.xml_name())
        {
            continue;
        }
        let present = obj
            .fields
            .iter()
            .any(|x| matches!(x.name, FieldName::Known(k) if std::ptr::eq(k, *f)));
        if f.in_go() || present {
            out.push(f.go_name());
        }
    }
    out
}

fn check_json_order(obj: &DataObject, json: &Json) -> Result<(), String> {
    let Json::Object(members) = json else {
        return Err(format!("{} is not a JSON object", obj.type_name));
    };
    let Some(ty) = obj.type_info() else {
        return Ok(());
    };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    let want = expected_keys(obj, ty);
    if keys != want {
        return Err(format!("{}: keys {keys:?}, want {want:?}", obj.type_name));
    }
    for (k, v) in members {
        let Some(field) = obj.fields.iter().find(|f| match f.name {
            FieldName::Known(info) => info.go_name() == k,
            FieldName::Unknown(_) => false,
        }) else {
            continue;
        };
        match (&field.value, v) {
            (Value::Object(o), j) => check_json_order(o, j)?,
            (Value::Array(items), Json::Array(js)) => {
                for (item, j) in items.iter().zip(js) {
                    if let Value::Object(o) = item {
                        check_json_order(o, j)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What Go leaves out or writes for an absent field: the value decodes as absent or as a zero.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Byte(n) => *n == 0,
        Value::Short(n) => *n == 0,
        Value::Int(n) => *n == 0,
        Value::Long(n) => *n == 0,
        Value::Float(f) => *f == 0.0,
        Value::Double(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::DateTime(t) => t.to_string() == "0001-01-01T00:00:00Z",
        Value::Binary(b) => b.is_empty(),
        Value::MoRef(m) => m.kind.is_empty() && m.value.is_empty(),
        Value::Object(o) => o.fields.iter().all(|f| is_zero(&f.value)),
        Value::Array(items) => items.iter().all(is_zero),
    }
}

fn same(a: &Value, b: &Value) -> Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => same_object(x, y),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).try_for_each(|(p, q)| same(p, q))
        }
        (Value::Double(x), Value::Double(y)) if x.to_bits() == y.to_bits() || x == y => Ok(()),
        (Value::Float(x), Value::Float(y)) if x.to_bits() == y.to_bits() || x == y => Ok(()),
        _ if a == b => Ok(()),
        _ => Err(format!("{a:?} came back as {b:?}")),
    }
}

fn same_object(orig: &DataObject, back: &DataObject) -> Result<(), String> {
    for f in &orig.fields {
        let name = f.name.xml_name();
        match back.get(name) {
            Some(v) => same(&f.value, v).map_err(|e| format!("{}.{name}: {e}", orig.type_name))?,
            None if is_zero(&f.value) => {} // omitempty
            None => return Err(format!("{}.{name} is missing", orig.type_name)),
        }
    }
    for f in &back.fields {
        let name = f.name.xml_name();
        if orig.get(name).is_none() && !is_zero(&f.value) {
            return Err(format!(
                "{}.{name} appeared with {:?}",
                orig.type_name, f.value
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_is_valid_and_keys_follow_go_order(pick in any::<u64>(), seed in any::<u64>()) {
        let types = event_types();
        let ty = types[(pick % types.len() as u64) as usize];
        let mut rng = Rng(seed | 1);
        let obj = object(&mut rng, ty, 0);
        let mut out = Vec::new();
        cloudevent_encode::encode_json(&obj, &mut out);
        let json: Json = serde_json::from_slice(&out)
            .map_err(|e| TestCaseError::fail(format!("{}: invalid JSON {e}: {}", ty.name(), String::from_utf8_lossy(&out))))?;
        check_json_order(&obj, &json).map_err(TestCaseError::fail)?;
        // No trailing newline, one document.
        prop_assert_eq!(out.last(), Some(&b'}'));
    }

    #[test]
    fn xml_is_well_formed_and_decodes_back(pick in any::<u64>(), seed in any::<u64>()) {
        let types = event_types();
        let ty = types[(pick % types.len() as u64) as usize];
        let mut rng = Rng(seed | 1);
        let obj = object(&mut rng, ty, 0);
        let mut out = Vec::new();
        cloudevent_encode::encode_xml(&obj, &mut out);
        let text = String::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Well-formed: a strict parse to the end.
        let mut reader = quick_xml::Reader::from_str(&text);
        reader.config_mut().check_end_names = true;
        let mut depth = 0i64;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(_)) => depth += 1,
                Ok(quick_xml::events::Event::End(_)) => depth -= 1,
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{}: {e}\n{text}", ty.name()))),
            }
        }
        prop_assert_eq!(depth, 0);
        let root = format!("<{}>", ty.name());
        prop_assert!(text.starts_with(&root), "root element of {}", ty.name());
        let back = vsphere_client::decode::decode_element(&text, Some(Kind::Data(type_index(ty))))
            .map_err(|e| TestCaseError::fail(format!("{}: {e}\n{text}", ty.name())))?;
        let Value::Object(back) = back else {
            return Err(TestCaseError::fail(format!("{}: decoded to {back:?}", ty.name())));
        };
        prop_assert!(matches!(back.ty, TypeRef::Known(t) if std::ptr::eq(t, ty)));
        same_object(&obj, &back).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    }
}
