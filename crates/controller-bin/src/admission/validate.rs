//! Validation of each kind (upstream's `Validate`), from the field checks.

use serde_json::Value;
use sources_api::v1alpha1::{HorizonSourceSpec, VSphereBindingSpec, VSphereSourceSpec};

use super::decode::{decode_strict, fill_zero, namespace_of, zero_spec};
use super::field_errors::{FieldError, FieldErrors};
use super::fields::{
    validate_auth, validate_ce_overrides, validate_delivery, validate_destination,
    validate_event_types, validate_pem, validate_service_account,
};
use super::filter::{validate_horizon_filter, validate_vsphere_filter};
use super::overrides::validate_adapter_overrides;
use super::subject::validate_subject;
use super::{AdmissionError, Kind, Policy};

/// Validates an object of `kind` (decoded strictly) with the built-in
/// PodSpecable kinds and no namespace exclusions; `old` is the previous
/// object on update. Returns the warnings on success.
pub fn validate(
    kind: Kind,
    obj: &Value,
    old: Option<&Value>,
) -> Result<Vec<String>, AdmissionError> {
    validate_with(kind, obj, old, &Policy::default())
}

/// Validates an object of `kind` (decoded strictly) under `policy`; `old` is
/// the previous object on update. Returns the warnings on success.
pub fn validate_with(
    kind: Kind,
    obj: &Value,
    old: Option<&Value>,
    policy: &Policy,
) -> Result<Vec<String>, AdmissionError> {
    let ns = namespace_of(obj);
    let mut errs = FieldErrors::default();
    let mut warnings = Vec::new();
    match kind {
        Kind::VSphereSource => {
            let spec: VSphereSourceSpec = decode_strict(obj, &zero_spec(kind, true))?;
            validate_destination(&spec.sink, ns, "spec.sink", &mut errs);
            validate_ce_overrides(spec.ce_overrides.as_ref(), &mut errs, &mut warnings);
            validate_auth(
                &spec.address,
                &spec.secret_ref.name,
                &mut errs,
                &mut warnings,
            );
            validate_pem(spec.ca_certs.as_deref(), "spec.caCerts", &mut errs);
            validate_service_account(spec.service_account_name.as_deref(), &mut errs);
            validate_event_types(spec.event_types.as_deref(), &mut errs);
            validate_delivery(spec.delivery.as_ref(), ns, &mut errs);
            validate_adapter_overrides(spec.adapter_overrides.as_ref(), &mut errs);
            validate_vsphere_filter(spec.filter.as_ref(), &mut errs);
            let cp = &spec.checkpoint_config;
            if cp.period_seconds < 0 {
                errs.push(FieldError::invalid(
                    cp.period_seconds,
                    "spec.checkpointConfig.periodSeconds",
                ));
            }
            if cp.max_age_seconds < 0 {
                errs.push(FieldError::invalid(
                    cp.max_age_seconds,
                    "spec.checkpointConfig.maxAgeSeconds",
                ));
            }
            let enc = spec.payload_encoding.to_lowercase();
            if enc != "application/json" && enc != "application/xml" {
                errs.push(FieldError::invalid(
                    &spec.payload_encoding,
                    "spec.payloadEncoding",
                ));
            }
        }
        Kind::VSphereBinding => {
            let spec: VSphereBindingSpec = decode_strict(obj, &zero_spec(kind, true))?;
            validate_subject(&spec, ns, policy, &mut errs);
            validate_auth(
                &spec.address,
                &spec.secret_ref.name,
                &mut errs,
                &mut warnings,
            );
            validate_pem(spec.ca_certs.as_deref(), "spec.caCerts", &mut errs);
            if policy.excluded_namespaces.iter().any(|n| n == ns) {
                errs.push(
                    FieldError::invalid(ns, "metadata.namespace").details(format!(
                        "VSphereBindings are not applied in {}: the binding webhook excludes \
                         these namespaces; create the binding (and its subject) in an \
                         application namespace",
                        policy.excluded_namespaces.join(", ")
                    )),
                );
            }
        }
        Kind::HorizonSource => {
            let spec: HorizonSourceSpec = decode_strict(obj, &zero_spec(kind, true))?;
            if let Some(old) = old {
                let old_spec = old.get("spec").cloned().unwrap_or(Value::Null);
                let new_spec = obj.get("spec").cloned().unwrap_or(Value::Null);
                let mut old_spec = old_spec;
                fill_zero(&mut old_spec, &zero_spec(kind, true));
                let old_typed: Option<HorizonSourceSpec> = serde_json::from_value(old_spec).ok();
                match old_typed {
                    None => errs.push(FieldError::new("Failed to diff HorizonSource", &[])),
                    Some(old_typed) if old_typed != spec => {
                        let old_v = serde_json::to_value(&old_typed).unwrap_or(Value::Null);
                        let new_v = serde_json::to_value(&spec).unwrap_or(new_spec);
                        let mut lines = Vec::new();
                        diff_lines("{v1alpha1.HorizonSourceSpec}", &old_v, &new_v, &mut lines);
                        errs.push(
                            FieldError::new("Immutable fields changed (-old +new)", &["spec"])
                                .details(lines.join("\n")),
                        );
                        return Err(AdmissionError::Invalid(errs));
                    }
                    Some(_) => {}
                }
            }
            validate_destination(&spec.sink, ns, "spec.sink", &mut errs);
            validate_ce_overrides(spec.ce_overrides.as_ref(), &mut errs, &mut warnings);
            validate_auth(
                &spec.address,
                &spec.secret_ref.name,
                &mut errs,
                &mut warnings,
            );
            validate_delivery(spec.delivery.as_ref(), ns, &mut errs);
            validate_service_account(spec.service_account_name.as_deref(), &mut errs);
            validate_pem(spec.ca_certs.as_deref(), "spec.caCerts", &mut errs);
            validate_adapter_overrides(spec.adapter_overrides.as_ref(), &mut errs);
            validate_horizon_filter(spec.filter.as_ref(), &mut errs);
        }
    }
    errs.into_result().map_err(AdmissionError::Invalid)?;
    Ok(warnings)
}

/// Whether `obj` is being deleted (`metadata.deletionTimestamp` set: the
/// API server keeps it until its finalizers are gone).
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null())
}

/// An update of an object being deleted: its metadata may change (that is
/// how finalizers are removed), its spec may not. Validation is skipped for
/// such an update (a rule tightened since the object was stored must not
/// keep it from going), so a spec change would be stored unchecked: a
/// binding's subject or a sink moved to another namespace, an immutable
/// HorizonSource changed.
pub fn validate_deleting_update(old: &Value, new: &Value) -> Result<(), AdmissionError> {
    if old.get("spec") == new.get("spec") {
        return Ok(());
    }
    Err(AdmissionError::Invalid(FieldErrors(vec![
        FieldError::new(
            "the object is being deleted: its spec cannot change",
            &["spec"],
        )
        .details(
            "metadata.deletionTimestamp is set; only metadata (finalizers, labels, \
                 annotations) may change until the object is gone",
        ),
    ])))
}

/// Go field name (`serviceAccountName` → `ServiceAccountName`).
fn go_name(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A kmp-like diff: one `path:\n\t-: old\n\t+: new` per changed leaf.
fn diff_lines(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if let (Value::Object(o), Value::Object(n)) = (old, new) {
        let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            let null = Value::Null;
            diff_lines(
                &format!("{path}.{}", go_name(k)),
                o.get(k).unwrap_or(&null),
                n.get(k).unwrap_or(&null),
                out,
            );
        }
    } else if old != new {
        out.push(format!("{path}:\n\t-: {old}\n\t+: {new}"));
    }
}
