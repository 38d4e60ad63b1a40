//! `spec.filter` of both sources: what the CRD schema cannot say (one of
//! `path` and `ref`, path and name syntax, a users part that selects
//! nothing, Horizon's severities in any case), each error naming the field
//! and the fix. An inventory path that does not resolve is not refused here
//! (vCenter may be out of the webhook's reach, the folder may come later):
//! the adapter reports it.

use sources_api::filter::{HorizonFilter, VSphereFilter};

use super::field_errors::{FieldError, FieldErrors};

const SEVERITIES: &[&str] = &[
    "INFO",
    "WARNING",
    "ERROR",
    "AUDIT_SUCCESS",
    "AUDIT_FAIL",
    "UNKNOWN",
];

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks a VSphereSource's `spec.filter`.
pub(super) fn validate_vsphere_filter(f: Option<&VSphereFilter>, errs: &mut FieldErrors) {
    let Some(f) = f else {
        return;
    };
    let mut seen = Vec::new();
    for (i, c) in f.categories.iter().flatten().enumerate() {
        if seen.contains(c) {
            errs.push(
                FieldError::new(
                    "duplicate category",
                    &[&format!("spec.filter.categories[{i}]")],
                )
                .details(c.as_str()),
            );
        }
        seen.push(*c);
    }
    if let Some(e) = &f.entity {
        match (&e.path, &e.reference) {
            (Some(_), Some(_)) | (None, None) => errs.push(
                FieldError::new(
                    "expected exactly one, got both or neither",
                    &["spec.filter.entity.path", "spec.filter.entity.ref"],
                )
                .details("set spec.filter.entity.path or spec.filter.entity.ref, not both"),
            ),
            (Some(p), None) => {
                if !p.starts_with('/') || p.len() < 2 || p.contains("//") || has_control(p) {
                    errs.push(FieldError::invalid(p, "spec.filter.entity.path").details(
                        "an inventory path as govc ls prints it: starting with /, no empty \
                         segment, e.g. /Datacenter/vm/Production",
                    ));
                }
            }
            (None, Some(r)) => {
                let typed = r.type_.starts_with(|c: char| c.is_ascii_uppercase())
                    && r.type_.bytes().all(|b| b.is_ascii_alphanumeric());
                if !typed {
                    errs.push(
                        FieldError::invalid(&r.type_, "spec.filter.entity.ref.type").details(
                            "a managed object type, e.g. Folder, VirtualMachine, HostSystem",
                        ),
                    );
                }
                if !is_word(&r.value) {
                    errs.push(
                        FieldError::invalid(&r.value, "spec.filter.entity.ref.value")
                            .details("a managed object id, e.g. group-v3 or vm-42"),
                    );
                }
            }
        }
    }
    if let Some(u) = &f.users {
        let names = u.names.as_deref().unwrap_or_default();
        if names.is_empty() && !u.include_system {
            errs.push(
                FieldError::new("selects no event", &["spec.filter.users"])
                    .details("add names, or includeSystem: true for vCenter's own events"),
            );
        }
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() || has_control(n) {
                errs.push(
                    FieldError::invalid(format!("{n:?}"), &format!("spec.filter.users.names[{i}]"))
                        .details("a user name as vCenter records it, e.g. VSPHERE.LOCAL\\alice"),
                );
            }
        }
    }
}

/// Checks a HorizonSource's `spec.filter`.
pub(super) fn validate_horizon_filter(f: Option<&HorizonFilter>, errs: &mut FieldErrors) {
    let Some(f) = f else {
        return;
    };
    for (field, list) in [("eventTypes", &f.event_types), ("modules", &f.modules)] {
        for (i, v) in list.iter().flatten().enumerate() {
            if !is_word(v) {
                errs.push(
                    FieldError::invalid(v, &format!("spec.filter.{field}[{i}]")).details(
                        "letters, digits, '_', '-' and '.', e.g. VLSI_USERLOGGEDIN or Broker",
                    ),
                );
            }
        }
    }
    for (i, v) in f.severities.iter().flatten().enumerate() {
        if !SEVERITIES.contains(&v.to_ascii_uppercase().as_str()) {
            errs.push(
                FieldError::invalid(v, &format!("spec.filter.severities[{i}]"))
                    .details(format!("one of {} (any case)", SEVERITIES.join(", "))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vsphere(v: serde_json::Value) -> String {
        let f: VSphereFilter = serde_json::from_value(v).unwrap();
        let mut errs = FieldErrors::default();
        validate_vsphere_filter(Some(&f), &mut errs);
        errs.to_string()
    }

    fn horizon(v: serde_json::Value) -> String {
        let f: HorizonFilter = serde_json::from_value(v).unwrap();
        let mut errs = FieldErrors::default();
        validate_horizon_filter(Some(&f), &mut errs);
        errs.to_string()
    }

    #[test]
    fn good_filters_pass() {
        assert_eq!(
            vsphere(serde_json::json!({"categories": ["warning", "error"],
                "entity": {"path": "/DC0/vm/Production", "recursion": "all"},
                "users": {"names": ["VSPHERE.LOCAL\\alice"], "includeSystem": true}})),
            ""
        );
        assert_eq!(
            vsphere(
                serde_json::json!({"entity": {"ref": {"type": "Folder", "value": "group-v3"}}})
            ),
            ""
        );
        assert_eq!(
            horizon(
                serde_json::json!({"eventTypes": ["VLSI_USERLOGGEDIN"], "modules": ["Broker"],
                "severities": ["audit_fail", "ERROR"]})
            ),
            ""
        );
    }

    #[test]
    fn bad_filters_name_the_field_and_the_fix() {
        for (got, want) in [
            (
                vsphere(
                    serde_json::json!({"entity": {"path": "/a", "ref": {"type": "Folder", "value": "x"}}}),
                ),
                "spec.filter.entity.path, spec.filter.entity.ref",
            ),
            (vsphere(serde_json::json!({"entity": {}})), "not both"),
            (
                vsphere(serde_json::json!({"entity": {"path": "DC0/vm"}})),
                "invalid value: DC0/vm: spec.filter.entity.path",
            ),
            (
                vsphere(serde_json::json!({"entity": {"ref": {"type": "folder", "value": "a b"}}})),
                "spec.filter.entity.ref.type",
            ),
            (
                vsphere(serde_json::json!({"users": {"names": []}})),
                "selects no event: spec.filter.users",
            ),
            (
                vsphere(serde_json::json!({"categories": ["info", "info"]})),
                "duplicate category: spec.filter.categories[1]",
            ),
            (
                horizon(serde_json::json!({"severities": ["CRITICAL"]})),
                "invalid value: CRITICAL: spec.filter.severities[0]",
            ),
            (
                horizon(serde_json::json!({"modules": ["a b"]})),
                "spec.filter.modules[0]",
            ),
        ] {
            assert!(got.contains(want), "{want:?} not in {got:?}");
        }
    }
}
