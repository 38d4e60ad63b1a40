//! Strict decoding as Go's `DisallowUnknownFields`, with Go's zero values.

use serde_json::{Value, json};

use super::{AdmissionError, Kind};

/// Decodes `obj`'s `spec` strictly into `T`: unknown fields are an error
/// (`json: unknown field "x"`), as Knative's `DisallowUnknownFields`.
///
/// As Go, a missing field is its zero value: `zero` (an object) is merged
/// under the input before decoding.
pub(super) fn decode_strict<T>(obj: &Value, zero: &Value) -> Result<T, AdmissionError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let spec = obj
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let mut filled = spec.clone();
    fill_zero(&mut filled, zero);
    let typed: T =
        serde_json::from_value(filled).map_err(|e| AdmissionError::Decode(format!("json: {e}")))?;
    let round = serde_json::to_value(&typed).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    if let Some(field) = unknown_field(&spec, &round) {
        return Err(AdmissionError::Decode(format!(
            "json: unknown field \"{field}\""
        )));
    }
    Ok(typed)
}

/// Adds the keys of `zero` missing from `v`, recursively.
pub(super) fn fill_zero(v: &mut Value, zero: &Value) {
    if let (Value::Object(m), Value::Object(z)) = (v, zero) {
        for (k, zv) in z {
            match m.get_mut(k) {
                Some(Value::Null) | None => {
                    m.insert(k.clone(), zv.clone());
                }
                Some(existing) => fill_zero(existing, zv),
            }
        }
    }
}

/// Zero values of the required fields of `kind`'s spec (`validation` adds
/// the ones defaulting fills in, as `payloadEncoding`).
pub(super) fn zero_spec(kind: Kind, validation: bool) -> Value {
    let auth = json!({"address": "", "secretRef": {"name": ""}});
    let mut z = match kind {
        Kind::VSphereSource | Kind::HorizonSource => json!({"sink": {}}),
        Kind::VSphereBinding => json!({"subject": {}}),
    };
    fill_zero(&mut z, &auth);
    if kind == Kind::VSphereSource && validation {
        fill_zero(&mut z, &json!({"payloadEncoding": ""}));
    }
    z
}

/// The first key in `input` that decoding dropped: present in `input`,
/// absent from the re-encoded `round`, and not an empty value (`null`,
/// `false`, `""`, which encoding may omit).
fn unknown_field(input: &Value, round: &Value) -> Option<String> {
    match (input, round) {
        (Value::Object(i), Value::Object(r)) => {
            for (k, v) in i {
                match r.get(k) {
                    Some(rv) => {
                        if let Some(f) = unknown_field(v, rv) {
                            return Some(f);
                        }
                    }
                    None => {
                        let empty =
                            matches!(v, Value::Null | Value::Bool(false)) || v.as_str() == Some("");
                        if !empty {
                            return Some(k.clone());
                        }
                    }
                }
            }
            None
        }
        (Value::Array(i), Value::Array(r)) => {
            i.iter().zip(r).find_map(|(a, b)| unknown_field(a, b))
        }
        _ => None,
    }
}

pub(super) fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) fn with_spec(obj: &Value, spec: impl serde::Serialize) -> Result<Value, AdmissionError> {
    let mut out = obj.clone();
    let spec = serde_json::to_value(spec).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    if let Value::Object(m) = &mut out {
        m.insert("spec".to_owned(), spec);
    }
    Ok(out)
}
