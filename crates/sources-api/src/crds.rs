//! The CustomResourceDefinitions, generated from the Rust types, with
//! upstream's labels and Knative's source annotations.
//!
//! `config/300-*.yaml` are written by [`render`] and checked against it by
//! the test `committed_crds_match_the_types`; run
//! `UPDATE_CRDS=1 cargo test -p sources-api --test crd_yaml` to regenerate.

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

fn finish(
    mut crd: CustomResourceDefinition,
    source: bool,
    event_types: Option<String>,
) -> CustomResourceDefinition {
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
    )
}

/// The VSphereBinding CRD.
pub fn vsphere_binding() -> CustomResourceDefinition {
    finish(VSphereBinding::crd(), false, None)
}

/// The HorizonSource CRD.
pub fn horizon_source() -> CustomResourceDefinition {
    finish(
        HorizonSource::crd(),
        true,
        Some(event_types_json("com.vmware.horizon", HORIZON_EVENT_TYPES)),
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
         # Regenerate: UPDATE_CRDS=1 cargo test -p sources-api --test crd_yaml\n{body}"
    ))
}
