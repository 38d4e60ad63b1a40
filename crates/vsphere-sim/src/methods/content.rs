//! `ServiceContent` and `AboutInfo`: what a client reads first.

use vsphere_client::{DataObject, MoRef, Value};

use crate::generate::{obj, s};
use crate::state::Shared;

/// `AboutInfo`: what this simulated vCenter says it is.
pub(crate) fn about(shared: &Shared) -> DataObject {
    obj("AboutInfo")
        .f("name", s("VMware vCenter Server"))
        .f(
            "fullName",
            s("VMware vCenter Server 8.0.3 build-24022515 (vsphere-sim)"),
        )
        .f("vendor", s("VMware, Inc."))
        .f("version", s("8.0.3"))
        .f("build", s("24022515"))
        .f("localeVersion", s("INTL"))
        .f("localeBuild", s("000"))
        .f("osType", s("linux-x64"))
        .f("productLineId", s("vpx"))
        .f("apiType", s("VirtualCenter"))
        .f("apiVersion", s(crate::api::SERVER_API_VERSION))
        .f("instanceUuid", s(&shared.settings.instance_uuid))
        .f("licenseProductName", s("VMware VirtualCenter Server"))
        .f("licenseProductVersion", s("8.0"))
        .0
}

/// `ServiceContent`, in the newest release (adapt it to the caller's).
pub(super) fn service_content(shared: &Shared) -> DataObject {
    let m = |kind: &str, id: &str| Value::MoRef(MoRef::new(kind, id));
    let root = shared
        .inventory
        .get(crate::inventory::ROOT)
        .map(|o| o.moref.clone())
        .unwrap_or_else(|| MoRef::new("Folder", "group-d1"));
    obj("ServiceContent")
        .f("rootFolder", Value::MoRef(root))
        .f(
            "propertyCollector",
            m("PropertyCollector", "propertyCollector"),
        )
        .f("viewManager", m("ViewManager", "ViewManager"))
        .f("about", Value::Object(Box::new(about(shared))))
        .f("setting", m("OptionManager", "VpxSettings"))
        .f("userDirectory", m("UserDirectory", "UserDirectory"))
        .f("sessionManager", m("SessionManager", "SessionManager"))
        .f(
            "authorizationManager",
            m("AuthorizationManager", "AuthorizationManager"),
        )
        .f("perfManager", m("PerformanceManager", "PerfMgr"))
        .f("alarmManager", m("AlarmManager", "AlarmManager"))
        .f("eventManager", m("EventManager", "EventManager"))
        .f("taskManager", m("TaskManager", "TaskManager"))
        .f(
            "extensionManager",
            m("ExtensionManager", "ExtensionManager"),
        )
        .f("searchIndex", m("SearchIndex", "SearchIndex"))
        .0
}
