//! `spec.filter`: which events a source reads, applied where they are read
//! (vCenter's event collector, Horizon's audit-event query), so what does not
//! match never crosses the network. `spec.eventTypes` of a VSphereSource
//! stays the one place for vSphere event types; the filter adds to it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A VSphereSource's filter: every part given must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VSphereFilter {
    /// Only events of these categories: `info`, `warning`, `error`, `user`
    /// (vCenter's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<EventCategory>>,
    /// Only events of this inventory object (and, with `recursion`, of what
    /// is below it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityFilter>,
    /// Only events caused by these users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<UserFilter>,
}

/// A vCenter event category.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventCategory {
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `user`.
    User,
}

impl EventCategory {
    /// vCenter's word.
    pub fn as_str(self) -> &'static str {
        match self {
            EventCategory::Info => "info",
            EventCategory::Warning => "warning",
            EventCategory::Error => "error",
            EventCategory::User => "user",
        }
    }
}

/// The inventory object whose events are read: by `path` or by `ref`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityFilter {
    /// An inventory path as `govc ls` prints it, e.g.
    /// `/Datacenter/vm/Production` (resolved by vCenter when the adapter
    /// starts reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A managed object reference, e.g. `{type: Folder, value: group-v3}`.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<ObjectReference>,
    /// `self` (the object's own events), `children` (and its direct
    /// children's) or `all` (everything below it; the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursion: Option<Recursion>,
}

/// A vCenter managed object reference.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ObjectReference {
    /// The type, e.g. `Folder`, `VirtualMachine`, `HostSystem`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The value, e.g. `group-v3`.
    pub value: String,
}

/// How far below the entity events are read.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Recursion {
    /// The object's own events.
    #[serde(rename = "self")]
    Itself,
    /// The object's and its direct children's.
    Children,
    /// Everything below it.
    All,
}

impl Recursion {
    /// The word in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Recursion::Itself => "self",
            Recursion::Children => "children",
            Recursion::All => "all",
        }
    }
}

/// The users whose events are read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserFilter {
    /// User names as vCenter records them, e.g. `VSPHERE.LOCAL\alice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Also vCenter's own events (those without a user: alarms, DRS, tasks it
    /// runs). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_system: bool,
}

/// Horizon's audit-event severities, as `spec.filter.severities` takes them (any case).
pub const HORIZON_SEVERITIES: &[&str] = &[
    "INFO",
    "WARNING",
    "ERROR",
    "AUDIT_SUCCESS",
    "AUDIT_FAIL",
    "UNKNOWN",
];

/// A HorizonSource's filter: every list given must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HorizonFilter {
    /// Only these audit event types, e.g. `VLSI_USERLOGGEDIN` (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// Only these modules, e.g. `Broker`, `Vlsi`, `Admin`, `Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<String>>,
    /// Only these severities: `INFO`, `WARNING`, `ERROR`, `AUDIT_SUCCESS`,
    /// `AUDIT_FAIL`, `UNKNOWN` (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severities: Option<Vec<String>>,
}
