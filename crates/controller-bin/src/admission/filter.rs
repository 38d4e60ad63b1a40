//! `spec.filter` of both sources: what the CRD schema cannot say (one of
//! `path` and `ref`, path and name syntax, a users part that selects
//! nothing, Horizon's severities in any case), each error naming the field
//! and the fix. An inventory path that does not resolve is not refused here
//! (vCenter may be out of the webhook's reach, the folder may come later):
//! the adapter reports it.

use sources_api::filter::{HorizonFilter, VSphereFilter};

use super::field_errors::{FieldError, FieldErrors};

use sources_api::filter::HORIZON_SEVERITIES as SEVERITIES;

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

/// The longest a replay reaches back: vCenter's default event retention.
pub const MAX_REPLAY_DAYS: i64 = 30;

/// Checks a source's replay annotations (`replay-from`, `replay-id`), as of
/// `now`.
pub(super) fn validate_replay(
    annotations: &serde_json::Value,
    old: Option<&serde_json::Value>,
    now: jiff::Timestamp,
    errs: &mut FieldErrors,
) {
    use sources_api::v1alpha1::{REPLAY_FROM_ANNOTATION, REPLAY_ID_ANNOTATION};
    let pair = |a: &serde_json::Value| {
        (
            a.get(REPLAY_FROM_ANNOTATION).cloned(),
            a.get(REPLAY_ID_ANNOTATION).cloned(),
        )
    };
    // A request made long ago and left on the object never blocks a later change.
    if old.is_some_and(|o| pair(o) == pair(annotations)) {
        return;
    }
    let from = annotations
        .get(REPLAY_FROM_ANNOTATION)
        .and_then(|v| v.as_str());
    let id = annotations
        .get(REPLAY_ID_ANNOTATION)
        .and_then(|v| v.as_str());
    let from_path = format!("metadata.annotations[{REPLAY_FROM_ANNOTATION}]");
    let id_path = format!("metadata.annotations[{REPLAY_ID_ANNOTATION}]");
    match (from, id) {
        (None, None) => return,
        (Some(_), None) | (None, Some(_)) => {
            errs.push(
                FieldError::new("expected both, got one", &[&from_path, &id_path])
                    .details("kn vsphere source replay sets both"),
            );
            return;
        }
        (Some(_), Some(_)) => {}
    }
    if let Some(id) = id {
        let ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            errs.push(
                FieldError::invalid(id, &id_path)
                    .details("at most 63 of a-z, 0-9 and '-', e.g. r-1733565600"),
            );
        }
    }
    if let Some(from) = from {
        match from.parse::<jiff::Timestamp>() {
            Err(_) => errs.push(
                FieldError::invalid(from, &from_path)
                    .details("an RFC 3339 time, e.g. 2026-12-07T10:00:00Z"),
            ),
            Ok(t) if t > now => errs
                .push(FieldError::invalid(from, &from_path).details("the time is in the future")),
            Ok(t) if now.duration_since(t).as_secs() > MAX_REPLAY_DAYS * 86_400 => {
                errs.push(FieldError::invalid(from, &from_path).details(format!(
                    "more than {MAX_REPLAY_DAYS} days back: vCenter keeps events that long by \
                     default"
                )))
            }
            Ok(_) => {}
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
    fn replay_annotations_are_checked() {
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let check = |a: serde_json::Value| {
            let mut errs = FieldErrors::default();
            validate_replay(&a, None, now, &mut errs);
            errs.to_string()
        };
        let from = "sources.tanzu.vmware.com/replay-from";
        let id = "sources.tanzu.vmware.com/replay-id";
        assert_eq!(
            check(serde_json::json!({from: "2026-12-07T10:00:00Z", id: "r-1"})),
            ""
        );
        assert_eq!(check(serde_json::json!({})), "");
        for (a, want) in [
            (
                serde_json::json!({from: "2026-12-07T10:00:00Z"}),
                "expected both, got one",
            ),
            (
                serde_json::json!({from: "yesterday", id: "r-1"}),
                "an RFC 3339 time",
            ),
            (
                serde_json::json!({from: "2026-12-08T10:00:00Z", id: "r-1"}),
                "in the future",
            ),
            (
                serde_json::json!({from: "2026-10-01T10:00:00Z", id: "r-1"}),
                "more than 30 days back",
            ),
            (
                serde_json::json!({from: "2026-12-07T10:00:00Z", id: "R 1"}),
                "a-z, 0-9",
            ),
        ] {
            let got = check(a.clone());
            assert!(got.contains(want), "{a}: {got}");
        }
        let old = serde_json::json!({from: "2026-10-01T10:00:00Z", id: "r-1"});
        let mut errs = FieldErrors::default();
        validate_replay(&old, Some(&old), now, &mut errs);
        assert!(errs.is_empty(), "an unchanged old request: {errs}");
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
