//! The CustomResourceDefinitions, generated from the Rust types, with
//! upstream's labels and Knative's source annotations.
//!
//! `config/300-*.yaml` are written by [`render`] and checked against it by
//! the test `committed_crds_match_the_types`; run
//! `UPDATE_CRDS=1 cargo test -p sources-api --test it crd_yaml` to regenerate.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition,
};
use kube::CustomResourceExt;

use crate::v1alpha1::{HorizonSource, VSphereBinding, VSphereSource, crd_labels};

/// The annotation listing the CloudEvent types a source emits.
pub const EVENT_TYPES_ANNOTATION: &str = "registry.knative.dev/eventTypes";

/// Common vSphere event types (the `type` is `com.vmware.vsphere.<T>.v0`;
/// every vSphere event type can occur, these are the ones users filter on).
pub const VSPHERE_EVENT_TYPES: &[(&str, &str)] = &[
    ("VmPoweredOnEvent", "A virtual machine was powered on"),
    ("VmPoweredOffEvent", "A virtual machine was powered off"),
    ("VmCreatedEvent", "A virtual machine was created"),
    ("VmRemovedEvent", "A virtual machine was removed"),
    ("VmReconfiguredEvent", "A virtual machine was reconfigured"),
    ("VmMigratedEvent", "A virtual machine was migrated"),
    ("VmRenamedEvent", "A virtual machine was renamed"),
    ("VmSuspendedEvent", "A virtual machine was suspended"),
    ("DrsVmPoweredOnEvent", "DRS powered on a virtual machine"),
    ("DrsVmMigratedEvent", "DRS migrated a virtual machine"),
    ("HostConnectedEvent", "A host connected"),
    ("HostDisconnectedEvent", "A host disconnected"),
    (
        "EnteredMaintenanceModeEvent",
        "A host entered maintenance mode",
    ),
    ("ExitMaintenanceModeEvent", "A host exited maintenance mode"),
    ("UserLoginSessionEvent", "A user logged in"),
    ("UserLogoutSessionEvent", "A user logged out"),
    ("AlarmStatusChangedEvent", "An alarm changed status"),
    ("TaskEvent", "A task was started"),
];

/// Common Horizon audit event types (`com.vmware.horizon.<type>.v0`, the
/// type lower-cased).
pub const HORIZON_EVENT_TYPES: &[(&str, &str)] = &[
    (
        "vlsi_userloggedin",
        "A user logged in to Horizon Administrator",
    ),
    (
        "vlsi_userloggedout",
        "A user logged out of Horizon Administrator",
    ),
    ("broker_userauthfailed", "A user failed to authenticate"),
    ("agent_connected", "A user connected to a desktop"),
    ("agent_disconnected", "A user disconnected from a desktop"),
];

fn event_types_json(prefix: &str, types: &[(&str, &str)]) -> String {
    let list: Vec<serde_json::Value> = types
        .iter()
        .map(|(t, d)| serde_json::json!({"type": format!("{prefix}.{t}.v0"), "description": d}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// A bound on one field of a CRD's schema: the field (property names joined
/// by `.`, `[]` for an array's items, `{}` for a map's values), the
/// OpenAPI keyword (`maxLength`, `maxItems`, `maxProperties`) and its value.
/// Every string, list and map a namespace user writes is bounded, so no
/// object can carry megabytes into the caches of the controller and its
/// webhooks; each value is chosen from what real objects hold (see
/// [`LIMITS_WHY`] and docs/compatibility.md).
pub type Limit = (&'static str, &'static str, i64);

/// Why each limit has its value.
pub const LIMITS_WHY: &[(&str, &str)] = &[
    (
        "URL (address, uri): 2048",
        "the longest URL browsers and most servers accept; a vCenter or Horizon URL is tens of bytes",
    ),
    (
        "PEM bundle (caCerts, CACerts): 65536",
        "64 KiB holds about 40 certificates; a private CA chain is 1 to 3 (1 to 2 KiB each); \
         the system roots are trusted without being listed",
    ),
    (
        "object name (secretRef, serviceAccountName, ref.name, subject.name): 253",
        "a DNS-1123 subdomain, Kubernetes' own limit",
    ),
    (
        "namespace, kind, label value: 63",
        "a DNS-1123 label, a kind name, a label value: Kubernetes' own limits",
    ),
    (
        "apiVersion, label key: 317",
        "a 253-character group or prefix, '/', and a 63-character version or name",
    ),
    (
        "ceOverrides.extensions: 64 entries of 4096",
        "CloudEvents extensions are a few short attributes; 4 KiB covers a token-like value",
    ),
    (
        "eventTypes: 1024 entries of 256",
        "a filter names tens of types; the vSphere catalogue has about 1,600 (no filter at all \
         sends every type)",
    ),
    (
        "subject.selector: 32 labels, 16 expressions of 64 values",
        "a selector names a few labels; Kubernetes sets no limit, the caches need one",
    ),
    (
        "adapterOverrides: 32 labels, annotations, env, nodeSelector entries; 16 tolerations; \
         4096 per annotation or env value; resource quantities of 64",
        "a Pod carries a few of each; 4 KiB holds a NO_PROXY list or a JSON annotation; in the \
         affinity (Kubernetes' own schema, deep) every string is bounded to 317, every list to 16 \
         and every map to 32 entries",
    ),
    (
        "filter: inventory path 1024, 64 user names of 256; Horizon: 64 types, modules or \
         severities of 128",
        "an inventory path is a handful of folder names; a filter names a few users or types",
    ),
    (
        "delivery durations, payloadEncoding, operators: 64, 32, 16",
        "ISO-8601 durations such as PT0.5S, application/json, NotIn",
    ),
];

const URL: i64 = 2048;
const PEM: i64 = 64 * 1024;
const NAME: i64 = 253;
const LABEL: i64 = 63;
const QUALIFIED: i64 = 317;

/// The bounds of a `Destination` (`sink`, `delivery.deadLetterSink`) at
/// `at`.
fn destination(at: &str) -> Vec<(String, &'static str, i64)> {
    [
        ("uri", URL),
        ("CACerts", PEM),
        ("audience", 1024),
        ("ref.apiVersion", QUALIFIED),
        ("ref.kind", LABEL),
        ("ref.name", NAME),
        ("ref.namespace", LABEL),
        ("ref.group", NAME),
        ("ref.address", NAME),
    ]
    .into_iter()
    .map(|(f, v)| (format!("{at}.{f}"), "maxLength", v))
    .collect()
}

/// The bounds of a source's `delivery`.
fn delivery() -> Vec<(String, &'static str, i64)> {
    let mut out = destination("spec.delivery.deadLetterSink");
    out.push(("spec.delivery.backoffDelay".into(), "maxLength", 64));
    out.push(("spec.delivery.timeout".into(), "maxLength", 64));
    out
}

/// The bounds every kind has: the address and the credentials Secret.
fn auth() -> Vec<(String, &'static str, i64)> {
    vec![
        ("spec.address".into(), "maxLength", URL),
        ("spec.secretRef.name".into(), "maxLength", NAME),
    ]
}

fn overrides() -> Vec<(String, &'static str, i64)> {
    let mut out = vec![
        ("spec.ceOverrides.extensions".into(), "maxProperties", 64),
        ("spec.ceOverrides.extensions{}".into(), "maxLength", 4096),
    ];
    let at = "spec.adapterOverrides";
    let map = |field: &str, values: i64| {
        [
            (format!("{at}.{field}"), "maxProperties", 32),
            (format!("{at}.{field}{{}}"), "maxLength", values),
        ]
    };
    out.extend(map("labels", LABEL));
    out.extend(map("annotations", 4096));
    out.extend(map("nodeSelector", LABEL));
    out.extend(map("resources.requests", 64));
    out.extend(map("resources.limits", 64));
    out.extend([
        (format!("{at}.env"), "maxItems", 32),
        (format!("{at}.env[].name"), "maxLength", 256),
        (format!("{at}.env[].value"), "maxLength", 4096),
        (format!("{at}.tolerations"), "maxItems", 16),
        (format!("{at}.tolerations[].key"), "maxLength", QUALIFIED),
        (format!("{at}.tolerations[].operator"), "maxLength", 16),
        (format!("{at}.tolerations[].value"), "maxLength", LABEL),
        (format!("{at}.tolerations[].effect"), "maxLength", 32),
        (format!("{at}.priorityClassName"), "maxLength", NAME),
        (format!("{at}.affinity"), BOUND_ALL, QUALIFIED),
    ]);
    out
}

/// The bounds of VSphereSource's spec.
pub fn vsphere_source_limits() -> Vec<(String, &'static str, i64)> {
    let mut out = auth();
    out.extend(destination("spec.sink"));
    out.extend(delivery());
    out.extend(overrides());
    out.extend([
        ("spec.caCerts".into(), "maxLength", PEM),
        ("spec.serviceAccountName".into(), "maxLength", NAME),
        ("spec.payloadEncoding".into(), "maxLength", 32),
        ("spec.eventTypes".into(), "maxItems", 1024),
        ("spec.eventTypes[]".into(), "maxLength", 256),
        ("spec.filter.categories".into(), "maxItems", 4),
        ("spec.filter.entity.path".into(), "maxLength", 1024),
        ("spec.filter.entity.ref.type".into(), "maxLength", LABEL),
        ("spec.filter.entity.ref.value".into(), "maxLength", LABEL),
        ("spec.filter.users.names".into(), "maxItems", 64),
        ("spec.filter.users.names[]".into(), "maxLength", 256),
    ]);
    out
}

/// The bounds of VSphereBinding's spec.
pub fn vsphere_binding_limits() -> Vec<(String, &'static str, i64)> {
    let mut out = auth();
    out.extend([
        ("spec.caCerts".into(), "maxLength", PEM),
        ("spec.subject.apiVersion".into(), "maxLength", QUALIFIED),
        ("spec.subject.kind".into(), "maxLength", LABEL),
        ("spec.subject.namespace".into(), "maxLength", LABEL),
        ("spec.subject.name".into(), "maxLength", NAME),
        (
            "spec.subject.selector.matchLabels".into(),
            "maxProperties",
            32,
        ),
        (
            "spec.subject.selector.matchLabels{}".into(),
            "maxLength",
            LABEL,
        ),
        (
            "spec.subject.selector.matchExpressions".into(),
            "maxItems",
            16,
        ),
        (
            "spec.subject.selector.matchExpressions[].key".into(),
            "maxLength",
            QUALIFIED,
        ),
        (
            "spec.subject.selector.matchExpressions[].operator".into(),
            "maxLength",
            16,
        ),
        (
            "spec.subject.selector.matchExpressions[].values".into(),
            "maxItems",
            64,
        ),
        (
            "spec.subject.selector.matchExpressions[].values[]".into(),
            "maxLength",
            LABEL,
        ),
    ]);
    out
}

/// The bounds of HorizonSource's spec.
pub fn horizon_source_limits() -> Vec<(String, &'static str, i64)> {
    let mut out = auth();
    out.extend(destination("spec.sink"));
    out.extend(delivery());
    out.extend(overrides());
    out.push(("spec.serviceAccountName".into(), "maxLength", NAME));
    out.push(("spec.caCerts".into(), "maxLength", PEM));
    for list in ["eventTypes", "modules", "severities"] {
        out.push((format!("spec.filter.{list}"), "maxItems", 64));
        out.push((format!("spec.filter.{list}[]"), "maxLength", 128));
    }
    out
}

/// Why a limit could not be set.
#[derive(Debug, thiserror::Error)]
#[error("no field {0} in the schema")]
pub struct NoSuchField(pub String);

/// Sets each limit in the schema of `crd`'s first version.
/// The pseudo-keyword of a [`Limit`] that bounds every string (to its value),
/// list (to [`ALL_ITEMS`]) and map (to [`ALL_PROPERTIES`]) under a field: for
/// Kubernetes' own types (the adapter's `affinity`), whose schemas are deep.
pub const BOUND_ALL: &str = "x-bound-all";
/// Items of each list under a [`BOUND_ALL`] field.
pub const ALL_ITEMS: i64 = 16;
/// Entries of each map under a [`BOUND_ALL`] field.
pub const ALL_PROPERTIES: i64 = 32;

fn bound_all(schema: &mut serde_json::Value, max_length: i64) {
    match schema["type"].as_str() {
        Some("string") if schema.get("maxLength").is_none() => {
            schema["maxLength"] = max_length.into();
        }
        Some("array") if schema.get("maxItems").is_none() => {
            schema["maxItems"] = ALL_ITEMS.into();
        }
        Some("object")
            if schema.get("additionalProperties").is_some()
                && schema.get("maxProperties").is_none() =>
        {
            schema["maxProperties"] = ALL_PROPERTIES.into();
        }
        _ => {}
    }
    if let Some(items) = schema.get_mut("items") {
        bound_all(items, max_length);
    }
    if let Some(values) = schema
        .get_mut("additionalProperties")
        .filter(|v| v.is_object())
    {
        bound_all(values, max_length);
    }
    if let Some(serde_json::Value::Object(properties)) = schema.get_mut("properties") {
        for p in properties.values_mut() {
            bound_all(p, max_length);
        }
    }
}

fn bound(
    crd: &mut CustomResourceDefinition,
    limits: &[(String, &'static str, i64)],
) -> Result<(), NoSuchField> {
    let Some(schema) = crd
        .spec
        .versions
        .first_mut()
        .and_then(|v| v.schema.as_mut())
        .and_then(|s| s.open_api_v3_schema.as_mut())
    else {
        return Err(NoSuchField("openAPIV3Schema".into()));
    };
    let mut json = serde_json::to_value(&*schema).map_err(|e| NoSuchField(e.to_string()))?;
    for (path, keyword, value) in limits {
        let mut at = &mut json;
        for part in path.split('.') {
            let (name, suffix) = match part.find(['[', '{']) {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            at = at
                .get_mut("properties")
                .and_then(|p| p.get_mut(name))
                .ok_or_else(|| NoSuchField(path.clone()))?;
            for step in suffix.as_bytes().chunks(2) {
                let key = if step == b"[]" {
                    "items"
                } else {
                    "additionalProperties"
                };
                at = at.get_mut(key).ok_or_else(|| NoSuchField(path.clone()))?;
            }
        }
        if *keyword == BOUND_ALL {
            bound_all(at, *value);
        } else {
            at[*keyword] = serde_json::json!(value);
        }
    }
    *schema = serde_json::from_value(json).map_err(|e| NoSuchField(e.to_string()))?;
    Ok(())
}

fn finish(
    mut crd: CustomResourceDefinition,
    source: bool,
    event_types: Option<String>,
    limits: &[(String, &'static str, i64)],
) -> CustomResourceDefinition {
    // The paths are this crate's own, every one found (the test
    // every_limit_names_a_field): nothing to report at run time.
    let _ = bound(&mut crd, limits);
    crd.metadata.labels = Some(crd_labels(source));
    // kubectl's `AGE` column, last as in the built-in kinds' tables.
    for version in &mut crd.spec.versions {
        version
            .additional_printer_columns
            .get_or_insert_with(Vec::new)
            .push(CustomResourceColumnDefinition {
                name: "Age".to_owned(),
                type_: "date".to_owned(),
                json_path: ".metadata.creationTimestamp".to_owned(),
                ..CustomResourceColumnDefinition::default()
            });
    }
    if let Some(types) = event_types {
        crd.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(EVENT_TYPES_ANNOTATION.to_owned(), types);
    }
    crd
}

/// The VSphereSource CRD.
pub fn vsphere_source() -> CustomResourceDefinition {
    finish(
        VSphereSource::crd(),
        true,
        Some(event_types_json("com.vmware.vsphere", VSPHERE_EVENT_TYPES)),
        &vsphere_source_limits(),
    )
}

/// The VSphereBinding CRD.
pub fn vsphere_binding() -> CustomResourceDefinition {
    finish(
        VSphereBinding::crd(),
        false,
        None,
        &vsphere_binding_limits(),
    )
}

/// The HorizonSource CRD.
pub fn horizon_source() -> CustomResourceDefinition {
    finish(
        HorizonSource::crd(),
        true,
        Some(event_types_json("com.vmware.horizon", HORIZON_EVENT_TYPES)),
        &horizon_source_limits(),
    )
}

/// The committed files under `config/` and their CRDs.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("300-vspheresource.yaml", vsphere_source()),
        ("300-vspherebinding.yaml", vsphere_binding()),
        ("300-horizonsource.yaml", horizon_source()),
    ]
}

/// A CRD as the YAML committed under `config/`.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!(
        "# Generated from crates/sources-api (sources_api::crds); do not edit.\n\
         # Regenerate: UPDATE_CRDS=1 cargo test -p sources-api --test it crd_yaml\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_names_a_field() {
        for (crd, limits) in [
            (VSphereSource::crd(), vsphere_source_limits()),
            (VSphereBinding::crd(), vsphere_binding_limits()),
            (HorizonSource::crd(), horizon_source_limits()),
        ] {
            let mut crd = crd;
            bound(&mut crd, &limits).unwrap();
        }
        let mut crd = VSphereBinding::crd();
        assert!(bound(&mut crd, &[("spec.nope".into(), "maxLength", 1)]).is_err());
    }

    #[test]
    fn limits_are_in_the_schema() {
        let crd = serde_json::to_value(vsphere_binding()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["properties"]["caCerts"]["maxLength"], 65536);
        assert_eq!(
            spec["properties"]["subject"]["properties"]["selector"]["properties"]["matchExpressions"]
                ["items"]["properties"]["values"]["items"]["maxLength"],
            63
        );
    }
}
