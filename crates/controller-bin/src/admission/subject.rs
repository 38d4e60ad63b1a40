//! A VSphereBinding's subject: a well-formed PodSpecable type in the
//! binding's namespace, by name or by a valid label selector.

use sources_api::v1alpha1::VSphereBindingSpec;

use super::Policy;
use super::field_errors::{FieldError, FieldErrors};
use crate::podspecable::{self, SubjectType};

pub(super) fn validate_subject(
    spec: &VSphereBindingSpec,
    ns: &str,
    policy: &Policy,
    errs: &mut FieldErrors,
) {
    let s = &spec.subject;
    let api_version = s.api_version.as_deref().unwrap_or("");
    let kind = s.kind.as_deref().unwrap_or("");
    if api_version.is_empty() {
        errs.push(FieldError::missing("spec.subject.apiVersion"));
    }
    if kind.is_empty() {
        errs.push(FieldError::missing("spec.subject.kind"));
    }
    if !api_version.is_empty() && !kind.is_empty() {
        match SubjectType::parse(api_version, kind) {
            Err(e @ podspecable::SubjectTypeError::ApiVersion(_)) => errs.push(
                FieldError::invalid(api_version, "spec.subject.apiVersion").details(e.to_string()),
            ),
            Err(e @ podspecable::SubjectTypeError::Kind(_)) => {
                errs.push(FieldError::invalid(kind, "spec.subject.kind").details(e.to_string()))
            }
            Ok(t) if !policy.podspecables.allows(&t) => {
                let group = if t.group.is_empty() { "core" } else { &t.group };
                errs.push(FieldError::invalid(kind, "spec.subject.kind").details(format!(
                    "{kind} ({group} group) is not a PodSpecable kind a VSphereBinding may bind: \
                     use Deployment, StatefulSet, DaemonSet, ReplicaSet (apps), Job (batch), or a \
                     Knative Service or Configuration; a cluster admin can allow another kind by \
                     listing its resource in a ClusterRole labelled {}=true",
                    podspecable::PODSPECABLE_LABEL
                )))
            }
            Ok(_) => {}
        }
    }
    match s.namespace.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::missing("spec.subject.namespace")),
        Some(n) => {
            // A malformed namespace, or another namespace than the binding's.
            if !podspecable::is_dns1123_label(n) || (!ns.is_empty() && n != ns) {
                errs.push(FieldError::invalid(n, "spec.subject.namespace"));
            }
        }
    }
    match (s.name.as_deref().filter(|n| !n.is_empty()), &s.selector) {
        (None, None) => errs.push(FieldError::new(
            "expected exactly one, got neither",
            &["spec.subject.name", "spec.subject.selector"],
        )),
        (Some(_), Some(_)) => errs.push(FieldError::new(
            "expected exactly one, got both",
            &["spec.subject.name", "spec.subject.selector"],
        )),
        (Some(n), None) => {
            if !podspecable::is_dns_subdomain(n) {
                errs.push(FieldError::invalid(n, "spec.subject.name"));
            }
        }
        (None, Some(sel)) => validate_selector(sel, "spec.subject.selector", errs),
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of
/// up to 63 characters (letters, digits, `-`, `_`, `.`, alphanumeric at
/// both ends).
pub(super) fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(podspecable::is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or up to 63 characters (letters, digits, `-`,
/// `_`, `.`, alphanumeric at both ends).
pub(super) fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

fn validate_selector(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    path: &str,
    errs: &mut FieldErrors,
) {
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_label_key(k) || !is_label_value(v) {
            errs.push(FieldError::invalid(
                format!("{k}={v}"),
                &format!("{path}.matchLabels"),
            ));
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        if !is_label_key(&e.key) {
            errs.push(FieldError::invalid(&e.key, &format!("{p}.key")));
        }
        let values = e.values.as_deref().unwrap_or_default();
        let ok = match e.operator.as_str() {
            "In" | "NotIn" => !values.is_empty() && values.iter().all(|v| is_label_value(v)),
            "Exists" | "DoesNotExist" => values.is_empty(),
            _ => false,
        };
        if !ok {
            errs.push(
                FieldError::invalid(&e.operator, &format!("{p}.operator"))
                    .details("In and NotIn take label values, Exists and DoesNotExist take none"),
            );
        }
    }
}
