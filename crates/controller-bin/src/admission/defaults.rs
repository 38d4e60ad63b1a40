//! Defaulting (upstream's `SetDefaults`).

use serde_json::Value;
use sources_api::duck::Destination;
use sources_api::v1alpha1::{HorizonSourceSpec, VSphereBindingSpec, VSphereSourceSpec};

use super::decode::{decode_strict, namespace_of, with_spec, zero_spec};
use super::{AdmissionError, Defaulted, Kind};

fn default_sink(sink: &mut Destination, ns: &str) {
    if let Some(r) = &mut sink.reference
        && r.namespace.as_deref().unwrap_or("").is_empty()
        && !ns.is_empty()
    {
        r.namespace = Some(ns.to_owned());
    }
}

/// Applies upstream's defaults (and `maxAgeSeconds` 300 when omitted) to
/// an object of `kind`, decoding it strictly. Returns the defaulted object.
pub fn default_object(kind: Kind, obj: &Value) -> Result<Defaulted, AdmissionError> {
    let ns = namespace_of(obj);
    match kind {
        Kind::VSphereSource => {
            let mut spec: VSphereSourceSpec = decode_strict(obj, &zero_spec(kind, false))?;
            default_sink(&mut spec.sink, ns);
            if spec.checkpoint_config.period_seconds == 0 {
                spec.checkpoint_config.period_seconds = 10;
            }
            spec.payload_encoding = if spec.payload_encoding.is_empty() {
                "application/xml".to_owned()
            } else {
                spec.payload_encoding.to_lowercase()
            };
            with_spec(obj, spec)
        }
        Kind::VSphereBinding => {
            let mut spec: VSphereBindingSpec = decode_strict(obj, &zero_spec(kind, false))?;
            if spec.subject.namespace.as_deref().unwrap_or("").is_empty() && !ns.is_empty() {
                spec.subject.namespace = Some(ns.to_owned());
            }
            with_spec(obj, spec)
        }
        Kind::HorizonSource => {
            // No serviceAccountName default (upstream wrote `default`): the
            // controller gives the adapter a dedicated ServiceAccount.
            let mut spec: HorizonSourceSpec = decode_strict(obj, &zero_spec(kind, false))?;
            default_sink(&mut spec.sink, ns);
            with_spec(obj, spec)
        }
    }
}
