//! Realistic events, built from the vim25 catalogue and regenerated on demand.
//!
//! A generated event is stored as a few bytes (its time, template and a 32-bit variant, see
//! the history) and rebuilt as a [`DataObject`] from `(key, variant)` each time it is read,
//! so a backlog of a million events costs tens of MiB, not gigabytes. The same key always gives
//! the same event.

use std::sync::Arc;

use jiff::Timestamp;
use vsphere_client::model::{Field, FieldName};
use vsphere_client::{DataObject, MoRef, TypeRef, Value, catalogue};

use crate::inventory::{self, Inventory};

/// The event kinds the generator makes: type name, `eventTypeId` (EventEx, ExtendedEvent),
/// category and relative weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The `xsi:type`.
    pub type_name: &'static str,
    /// The `eventTypeId` for EventEx/ExtendedEvent, else the type name.
    pub kind_name: &'static str,
    /// `info`, `warning`, `error` or `user`.
    pub category: &'static str,
    /// How often, relative to the others.
    pub weight: u32,
    /// Who causes it (`""` for the system).
    pub user: &'static str,
}

const ADMIN: &str = "VSPHERE.LOCAL\\Administrator";

/// The type the catalogue does not know (a newer vCenter's event).
pub const UNKNOWN_EVENT_TYPE: &str = "VmSimulatedFutureFeatureEvent";

const fn t(
    type_name: &'static str,
    kind_name: &'static str,
    category: &'static str,
    weight: u32,
    user: &'static str,
) -> Template {
    Template {
        type_name,
        kind_name,
        category,
        weight,
        user,
    }
}

/// Every template, in a fixed order (the index is stored with each event).
pub const TEMPLATES: &[Template] = &[
    t("VmPoweredOnEvent", "VmPoweredOnEvent", "info", 12, ADMIN),
    t("VmPoweredOffEvent", "VmPoweredOffEvent", "info", 12, ADMIN),
    t("DrsVmPoweredOnEvent", "DrsVmPoweredOnEvent", "info", 4, ""),
    t(
        "VmReconfiguredEvent",
        "VmReconfiguredEvent",
        "info",
        6,
        ADMIN,
    ),
    t(
        "VmBeingCreatedEvent",
        "VmBeingCreatedEvent",
        "info",
        3,
        ADMIN,
    ),
    t("VmCreatedEvent", "VmCreatedEvent", "info", 3, ADMIN),
    t("VmMigratedEvent", "VmMigratedEvent", "info", 4, ""),
    t("VmRenamedEvent", "VmRenamedEvent", "info", 2, ADMIN),
    t(
        "VmFailedToPowerOnEvent",
        "VmFailedToPowerOnEvent",
        "error",
        2,
        ADMIN,
    ),
    t(
        "HostConnectionLostEvent",
        "HostConnectionLostEvent",
        "error",
        1,
        "",
    ),
    t("HostConnectedEvent", "HostConnectedEvent", "info", 1, ""),
    t(
        "UserLoginSessionEvent",
        "UserLoginSessionEvent",
        "info",
        6,
        ADMIN,
    ),
    t(
        "UserLogoutSessionEvent",
        "UserLogoutSessionEvent",
        "info",
        6,
        ADMIN,
    ),
    t(
        "AlarmStatusChangedEvent",
        "AlarmStatusChangedEvent",
        "warning",
        3,
        "",
    ),
    t("TaskEvent", "TaskEvent", "info", 6, ADMIN),
    t(
        "EventEx",
        "esx.problem.storage.connectivity.lost",
        "error",
        2,
        "",
    ),
    t(
        "EventEx",
        "com.vmware.vc.vm.VmStateRevertedToSnapshot",
        "info",
        3,
        ADMIN,
    ),
    t(
        "ExtendedEvent",
        "com.vmware.applmgmt.backup.job.failed.event",
        "error",
        1,
        "",
    ),
    t("GeneralUserEvent", "GeneralUserEvent", "user", 2, ADMIN),
    t(UNKNOWN_EVENT_TYPE, UNKNOWN_EVENT_TYPE, "info", 1, ""),
];

/// The category of an event type, as `EventManager.description` gives it and the history
/// files the type's events under (except `EventEx`, whose `severity` is its category): the
/// generator's template for the type, else `error` for failures and losses, `info` otherwise.
pub fn event_category(type_name: &str) -> &'static str {
    if let Some(t) = TEMPLATES
        .iter()
        .find(|t| t.type_name == type_name && t.kind_name == type_name)
    {
        return t.category;
    }
    if catalogue::lookup(type_name).is_some_and(|t| t.is_a("GeneralUserEvent")) {
        "user"
    } else if type_name.contains("Failed") || type_name.contains("Lost") {
        "error"
    } else {
        "info"
    }
}

/// Which events the generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventMix {
    /// Every template, with full entity arguments, config specs, EventEx arguments and faults
    /// (about 1 KiB of XML per event).
    #[default]
    Realistic,
    /// Only VM power events and user events with a VM argument and no other (about 400 bytes
    /// each): for throughput tests and benchmarks where the client's decoding dominates.
    Compact,
}

/// The templates the compact mix uses.
const COMPACT: &[&str] = &["VmPoweredOnEvent", "VmPoweredOffEvent", "GeneralUserEvent"];

/// Makes events: picks a template and a variant for a key, and builds the event.
///
/// [`UNKNOWN_EVENT_TYPE`] is made only when switched on ([`Generator::unknown_event_types`]):
/// no vSphere release has it, and strict clients (pyVmomi) fail on it.
#[derive(Debug, Clone)]
pub struct Generator {
    inv: Arc<Inventory>,
    seed: u64,
    cumulative: Vec<u32>,
    total: u32,
    mix: EventMix,
    unknown: bool,
}

/// splitmix64: a fast, well-mixed hash of a 64-bit value.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Generator {
    /// A generator over `inv`; the same seed gives the same events.
    pub fn new(inv: Arc<Inventory>, seed: u64) -> Self {
        Self::with_mix(inv, seed, EventMix::Realistic)
    }

    /// A generator of the given mix.
    pub fn with_mix(inv: Arc<Inventory>, seed: u64, mix: EventMix) -> Self {
        let mut g = Self {
            inv,
            seed,
            cumulative: Vec::new(),
            total: 0,
            mix,
            unknown: false,
        };
        g.weigh();
        g
    }

    /// Also make [`UNKNOWN_EVENT_TYPE`] events (realistic mix only; default off): an event type
    /// of a vCenter newer than every client, with fields nobody knows.
    pub fn unknown_event_types(mut self, on: bool) -> Self {
        self.unknown = on;
        self.weigh();
        self
    }

    fn weigh(&mut self) {
        self.cumulative = Vec::with_capacity(TEMPLATES.len());
        let mut total = 0;
        for t in TEMPLATES {
            let wanted = match self.mix {
                EventMix::Realistic => self.unknown || t.type_name != UNKNOWN_EVENT_TYPE,
                EventMix::Compact => COMPACT.contains(&t.type_name),
            };
            if wanted {
                total += t.weight;
            }
            self.cumulative.push(total);
        }
        self.total = total;
    }

    fn compact(&self) -> bool {
        self.mix == EventMix::Compact
    }

    /// The inventory events refer to.
    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    /// The template and variant of the event with this key.
    pub fn choose(&self, key: i64) -> (u16, u32) {
        let h = mix(self.seed ^ mix(key as u64));
        let pick = (h % u64::from(self.total.max(1))) as u32;
        let index = self.cumulative.partition_point(|&c| c <= pick);
        // 31 bits: the history keeps the top bit of a payload to mark posted events.
        (
            index.min(TEMPLATES.len() - 1) as u16,
            (h >> 32) as u32 & 0x7fff_ffff,
        )
    }

    fn vm(&self, variant: u32) -> usize {
        self.inv.vm(variant as usize % 251)
    }

    fn host_of_vm(&self, vm: usize) -> usize {
        self.inv
            .get(vm)
            .and_then(|o| o.host)
            .unwrap_or_else(|| self.inv.host(0))
    }

    fn host(&self, variant: u32) -> usize {
        self.inv.host((variant >> 8) as usize)
    }

    /// The inventory objects the event refers to, as a bit set (for entity filters).
    pub fn entities(&self, template: u16, variant: u32) -> u64 {
        let bit = Inventory::bit;
        if self.compact() {
            return match TEMPLATES.get(usize::from(template)).map(|t| t.type_name) {
                Some("GeneralUserEvent") => 0,
                _ => bit(self.vm(variant)),
            };
        }
        let base = bit(inventory::DATACENTER) | bit(inventory::CLUSTER);
        match TEMPLATES.get(usize::from(template)).map(|t| t.type_name) {
            Some("HostConnectionLostEvent" | "HostConnectedEvent") => {
                base | bit(self.host(variant))
            }
            Some("UserLoginSessionEvent" | "UserLogoutSessionEvent" | "GeneralUserEvent") => 0,
            Some("ExtendedEvent") => 0,
            Some("AlarmStatusChangedEvent") | Some("EventEx")
                if template == 13 || template == 15 =>
            {
                base | bit(self.host(variant))
            }
            _ => {
                let vm = self.vm(variant);
                base | bit(vm) | bit(self.host_of_vm(vm)) | bit(inventory::DATASTORE)
            }
        }
    }

    fn name(&self, index: usize) -> &str {
        self.inv.get(index).map(|o| o.name.as_str()).unwrap_or("")
    }

    fn moref(&self, index: usize) -> MoRef {
        self.inv
            .get(index)
            .map(|o| o.moref.clone())
            .unwrap_or_else(|| MoRef::new("ManagedEntity", "unknown"))
    }

    fn arg(&self, ty: &str, field: &str, index: usize) -> Value {
        obj(ty)
            .f("name", s(self.name(index)))
            .f(field, Value::MoRef(self.moref(index)))
            .value()
    }

    /// Build the event with this key, creation time, template and variant.
    pub fn build(&self, key: i64, created: Timestamp, template: u16, variant: u32) -> DataObject {
        let tpl = TEMPLATES
            .get(usize::from(template))
            .copied()
            .unwrap_or(TEMPLATES[0]);
        let key32 = Value::Int(key as i32);
        let mut ev = if tpl.type_name == UNKNOWN_EVENT_TYPE {
            Obj(DataObject {
                ty: TypeRef::Unknown {
                    assumed: catalogue::lookup("VmEvent"),
                },
                type_name: UNKNOWN_EVENT_TYPE.into(),
                fields: Vec::new(),
            })
        } else {
            obj(tpl.type_name)
        };
        ev = ev
            .f("key", key32.clone())
            .f("chainId", key32)
            .f("createdTime", Value::DateTime(created))
            .f("userName", s(tpl.user));
        let dc = inventory::DATACENTER;
        let cluster = inventory::CLUSTER;
        let dc_name = self.name(dc).to_owned();
        let with_dc = |ev: Obj| {
            ev.f(
                "datacenter",
                self.arg("DatacenterEventArgument", "datacenter", dc),
            )
            .f(
                "computeResource",
                self.arg("ComputeResourceEventArgument", "computeResource", cluster),
            )
        };
        let vm = self.vm(variant);
        let vm_host = self.host_of_vm(vm);
        let vm_name = self.name(vm).to_owned();
        let host_name = self.name(vm_host).to_owned();
        let compact = self.compact();
        let with_vm = |ev: Obj| {
            if compact {
                return ev
                    .f("vm", self.arg("VmEventArgument", "vm", vm))
                    .f_if_known("template", Value::Bool(false));
            }
            with_dc(ev)
                .f("host", self.arg("HostEventArgument", "host", vm_host))
                .f("vm", self.arg("VmEventArgument", "vm", vm))
                .f(
                    "ds",
                    self.arg("DatastoreEventArgument", "datastore", inventory::DATASTORE),
                )
                .f_if_known("template", Value::Bool(false))
        };
        let ev = match tpl.type_name {
            "VmPoweredOnEvent" => with_vm(ev).f(
                "fullFormattedMessage",
                s(&format!(
                    "{vm_name} on {host_name} in {dc_name} is powered on"
                )),
            ),
            "VmPoweredOffEvent" => with_vm(ev).f(
                "fullFormattedMessage",
                s(&format!(
                    "{vm_name} on {host_name} in {dc_name} is powered off"
                )),
            ),
            "DrsVmPoweredOnEvent" => with_vm(ev).f(
                "fullFormattedMessage",
                s(&format!(
                    "DRS powered on {vm_name} on {host_name} in {dc_name}"
                )),
            ),
            "VmReconfiguredEvent" => {
                let cpus = 1 << ((variant >> 12) & 3);
                with_vm(ev)
                    .f("configSpec", self.config_spec(&vm_name, variant, false))
                    .f(
                        "configChanges",
                        obj("ChangesInfoEventArgument")
                            .f(
                                "modified",
                                s(&format!("config.hardware.numCPU: {} -> {cpus}; ", cpus * 2)),
                            )
                            .f("added", s(""))
                            .f("deleted", s(""))
                            .value(),
                    )
                    .f(
                        "fullFormattedMessage",
                        s(&format!(
                            "Reconfigured {vm_name} on {host_name} in {dc_name}.  \n \nModified:  \n \nconfig.hardware.numCPU: {} -> {cpus}; \n\n Added:  \n\n Deleted:  \n\n",
                            cpus * 2
                        )),
                    )
            }
            "VmBeingCreatedEvent" => with_vm(ev)
                .f("configSpec", self.config_spec(&vm_name, variant, true))
                .f(
                    "fullFormattedMessage",
                    s(&format!(
                        "Creating {vm_name} on host {host_name} in {dc_name}"
                    )),
                ),
            "VmCreatedEvent" => with_vm(ev).f(
                "fullFormattedMessage",
                s(&format!(
                    "Created virtual machine {vm_name} on {host_name} in {dc_name}"
                )),
            ),
            "VmMigratedEvent" => {
                let src = self
                    .inv
                    .host(self.inv.host_count() + (variant >> 8) as usize);
                let src = if src == vm_host {
                    self.inv.host(vm_host + 1)
                } else {
                    src
                };
                let src_name = self.name(src).to_owned();
                with_vm(ev)
                    .f("sourceHost", self.arg("HostEventArgument", "host", src))
                    .f(
                        "sourceDatacenter",
                        self.arg("DatacenterEventArgument", "datacenter", dc),
                    )
                    .f(
                        "sourceDatastore",
                        self.arg("DatastoreEventArgument", "datastore", inventory::DATASTORE),
                    )
                    .f(
                        "fullFormattedMessage",
                        s(&format!(
                            "Migration of virtual machine {vm_name} from {src_name}, LocalDS_0 to {host_name}, LocalDS_0 completed"
                        )),
                    )
            }
            "VmRenamedEvent" => {
                let old = format!("{vm_name}-old-{}", variant % 100);
                with_vm(ev)
                    .f("oldName", s(&old))
                    .f("newName", s(&vm_name))
                    .f(
                        "fullFormattedMessage",
                        s(&format!("Renamed {old} to {vm_name} in {dc_name}")),
                    )
            }
            "VmFailedToPowerOnEvent" => {
                let fault = obj("InsufficientMemoryResourcesFault")
                    .f("unreserved", Value::Long(1_073_741_824))
                    .f("requested", Value::Long(4_294_967_296))
                    .value();
                let reason = obj("LocalizedMethodFault")
                    .f("fault", fault)
                    .f(
                        "localizedMessage",
                        s("The available Memory resources in the parent resource pool are insufficient for the operation."),
                    )
                    .value();
                with_vm(ev).f("reason", reason).f(
                    "fullFormattedMessage",
                    s(&format!(
                        "Cannot power on {vm_name} on {host_name} in {dc_name}. The available Memory resources in the parent resource pool are insufficient for the operation."
                    )),
                )
            }
            "HostConnectionLostEvent" | "HostConnectedEvent" => {
                let host = self.host(variant);
                let hn = self.name(host).to_owned();
                let message = if tpl.type_name == "HostConnectedEvent" {
                    format!("Connected to {hn} in {dc_name}")
                } else {
                    format!("Host {hn} in {dc_name} is not responding")
                };
                with_dc(ev)
                    .f("host", self.arg("HostEventArgument", "host", host))
                    .f("fullFormattedMessage", s(&message))
            }
            "UserLoginSessionEvent" | "UserLogoutSessionEvent" => {
                let ip = format!("10.0.{}.{}", (variant >> 8) & 0xff, variant & 0xff);
                let agent = "pyvmomi Python/3.11.2 (Linux; 6.1.0; x86_64)";
                let session = uuid_from(u64::from(variant) ^ 0x5E55_1011);
                let ev = ev
                    .f("ipAddress", s(&ip))
                    .f("userAgent", s(agent))
                    .f("sessionId", s(&session));
                if tpl.type_name == "UserLoginSessionEvent" {
                    ev.f("locale", s("en")).f(
                        "fullFormattedMessage",
                        s(&format!("User {ADMIN}@{ip} logged in as {agent}")),
                    )
                } else {
                    let calls = i64::from(variant % 5000);
                    let login =
                        created - jiff::SignedDuration::from_secs(i64::from(variant % 3600));
                    ev.f("callCount", Value::Long(calls))
                        .f("loginTime", Value::DateTime(login))
                        .f(
                            "fullFormattedMessage",
                            s(&format!(
                                "User {ADMIN}@{ip} logged out (login time: {}, number of API invocations: {calls}, user agent: {agent})",
                                vsphere_client::time::format_rfc3339_nano(login)
                            )),
                        )
                }
            }
            "AlarmStatusChangedEvent" => {
                let host = self.host(variant);
                let hn = self.name(host).to_owned();
                let (from, to) = [("green", "yellow"), ("yellow", "red"), ("red", "green")]
                    [(variant % 3) as usize];
                let alarm = obj("AlarmEventArgument")
                    .f("name", s("Host CPU usage"))
                    .f("alarm", Value::MoRef(MoRef::new("Alarm", "alarm-6")))
                    .value();
                with_dc(ev)
                    .f("host", self.arg("HostEventArgument", "host", host))
                    .f("alarm", alarm)
                    .f(
                        "source",
                        self.arg("ManagedEntityEventArgument", "entity", inventory::ROOT),
                    )
                    .f(
                        "entity",
                        self.arg("ManagedEntityEventArgument", "entity", host),
                    )
                    .f("from", s(from))
                    .f("to", s(to))
                    .f(
                        "fullFormattedMessage",
                        s(&format!(
                            "Alarm 'Host CPU usage' on {hn} changed from {} to {}",
                            capitalise(from),
                            capitalise(to)
                        )),
                    )
            }
            "TaskEvent" => {
                let task_key = format!("task-{}", 1000 + key);
                let info = obj("TaskInfo")
                    .f("key", s(&task_key))
                    .f("task", Value::MoRef(MoRef::new("Task", task_key.clone())))
                    .f("name", s("PowerOnVM_Task"))
                    .f("descriptionId", s("VirtualMachine.powerOn"))
                    .f("entity", Value::MoRef(self.moref(vm)))
                    .f("entityName", s(&vm_name))
                    .f("state", s("queued"))
                    .f("cancelled", Value::Bool(false))
                    .f("cancelable", Value::Bool(false))
                    .f(
                        "reason",
                        obj("TaskReasonUser").f("userName", s(ADMIN)).value(),
                    )
                    .f("queueTime", Value::DateTime(created))
                    .f("eventChainId", Value::Int(key as i32))
                    .value();
                with_vm(ev)
                    .f("info", info)
                    .f("fullFormattedMessage", s("Task: Power On virtual machine"))
            }
            "EventEx" if tpl.kind_name.starts_with("esx.") => {
                let host = self.host(variant);
                let hn = self.name(host).to_owned();
                let device = format!("naa.600508b1001c{:016x}", mix(u64::from(variant)));
                let kav =
                    |k: &str, v: Value| obj("KeyAnyValue").f("key", s(k)).f("value", v).value();
                with_dc(ev)
                    .f("host", self.arg("HostEventArgument", "host", host))
                    .f("eventTypeId", s(tpl.kind_name))
                    .f("severity", s("error"))
                    .f(
                        "arguments",
                        Value::Array(vec![
                            kav("1", s(&device)),
                            kav("2", s("Storage Array")),
                        ]),
                    )
                    .f("objectId", s(&self.moref(host).value))
                    .f("objectType", s("HostSystem"))
                    .f("objectName", s(&hn))
                    .f(
                        "fullFormattedMessage",
                        s(&format!(
                            "Lost connectivity to storage device {device}. Path vmhba32:C0:T0:L0 is down. Affected datastores: LocalDS_0."
                        )),
                    )
            }
            "EventEx" => {
                let kav =
                    |k: &str, v: Value| obj("KeyAnyValue").f("key", s(k)).f("value", v).value();
                let snapshot = format!("before-patch-{}", variant % 1000);
                let strings = obj("ArrayOfString")
                    .f("string", Value::Array(vec![s("disk-2000"), s("disk-2001")]))
                    .value();
                with_vm(ev)
                    .f("eventTypeId", s(tpl.kind_name))
                    .f("severity", s("info"))
                    .f(
                        "arguments",
                        Value::Array(vec![
                            kav("snapshotName", s(&snapshot)),
                            kav("snapshotId", Value::Int((variant % 100) as i32)),
                            kav("sizeBytes", Value::Long(i64::from(variant) * 4096)),
                            kav("quiesced", Value::Bool(variant.is_multiple_of(2))),
                            kav("takenAt", Value::DateTime(created)),
                            kav("disks", strings),
                            kav("vm", Value::MoRef(self.moref(vm))),
                        ]),
                    )
                    .f("objectId", s(&self.moref(vm).value))
                    .f("objectType", s("VirtualMachine"))
                    .f("objectName", s(&vm_name))
                    .f(
                        "fullFormattedMessage",
                        s(&format!(
                            "The virtual machine {vm_name} was reverted to snapshot {snapshot}"
                        )),
                    )
            }
            "ExtendedEvent" => {
                let pair = |k: &str, v: &str| {
                    obj("ExtendedEventPair")
                        .f("key", s(k))
                        .f("value", s(v))
                        .value()
                };
                ev.f("message", s("Backup job failed"))
                    .f("eventTypeId", s(tpl.kind_name))
                    .f("managedObject", Value::MoRef(self.moref(inventory::ROOT)))
                    .f(
                        "data",
                        Value::Array(vec![
                            pair("location", "sftp://backup.example.com/vcsa"),
                            pair("reason", "disk <full> & no space left"),
                        ]),
                    )
                    .f("fullFormattedMessage", s("Backup job failed"))
            }
            "GeneralUserEvent" => {
                let msg = format!("Maintenance window {} started", variant % 1000);
                ev.f("message", s(&msg)).f("fullFormattedMessage", s(&msg))
            }
            _ => {
                // A type from the future: known VmEvent fields plus fields nobody knows yet.
                let mut ev = with_vm(ev).f(
                    "fullFormattedMessage",
                    s(&format!("Simulated future feature engaged on {vm_name}")),
                );
                ev.0.fields.push(Field {
                    name: FieldName::Unknown("featureLevel".into()),
                    value: Value::Int((variant % 7) as i32),
                });
                ev.0.fields.push(Field {
                    name: FieldName::Unknown("featureNote".into()),
                    value: s("added in a vSphere release newer than the catalogue"),
                });
                ev
            }
        };
        ev.0
    }

    fn config_spec(&self, vm_name: &str, variant: u32, create: bool) -> Value {
        let cpus = 1 << ((variant >> 12) & 3);
        let mem = 1024i64 << ((variant >> 14) & 3);
        let mut spec = obj("VirtualMachineConfigSpec");
        if create {
            let scsi = obj("ParaVirtualSCSIController")
                .f("key", Value::Int(1000))
                .f(
                    "deviceInfo",
                    obj("Description")
                        .f("label", s("SCSI controller 0"))
                        .f("summary", s("VMware paravirtual SCSI"))
                        .value(),
                )
                .f("controllerKey", Value::Int(100))
                .f("unitNumber", Value::Int(3))
                .f("busNumber", Value::Int(0))
                .f("sharedBus", s("noSharing"))
                .value();
            let nic = obj("VirtualVmxnet3")
                .f("key", Value::Int(4000))
                .f(
                    "deviceInfo",
                    obj("Description")
                        .f("label", s("Network adapter 1"))
                        .f("summary", s("VM Network"))
                        .value(),
                )
                .f(
                    "backing",
                    obj("VirtualEthernetCardNetworkBackingInfo")
                        .f("deviceName", s("VM Network"))
                        .f("network", Value::MoRef(self.moref(inventory::NETWORK)))
                        .value(),
                )
                .f("addressType", s("generated"))
                .f("wakeOnLanEnabled", Value::Bool(true))
                .value();
            let change = |op: &str, dev: Value| {
                obj("VirtualDeviceConfigSpec")
                    .f("operation", s(op))
                    .f("device", dev)
                    .value()
            };
            spec = spec
                .f("name", s(vm_name))
                .f("guestId", s("otherGuest64"))
                .f(
                    "files",
                    obj("VirtualMachineFileInfo")
                        .f(
                            "vmPathName",
                            s(&format!("[LocalDS_0] {vm_name}/{vm_name}.vmx")),
                        )
                        .value(),
                )
                .f(
                    "deviceChange",
                    Value::Array(vec![change("add", scsi), change("add", nic)]),
                );
        }
        spec.f("numCPUs", Value::Int(cpus))
            .f("memoryMB", Value::Long(mem))
            .value()
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A UUID-looking string from a number (session ids, instance UUIDs).
pub(crate) fn uuid_from(x: u64) -> String {
    let a = mix(x);
    let b = mix(a ^ 0xA5A5);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a as u16 & 0x0fff) | 0x4000,
        (b >> 48) as u16 & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// A data object under construction.
pub(crate) struct Obj(pub DataObject);

/// An empty object of a catalogue type.
pub(crate) fn obj(ty: &str) -> Obj {
    match catalogue::lookup(ty) {
        Some(t) => Obj(DataObject::new(t)),
        None => Obj(DataObject {
            ty: TypeRef::Unknown { assumed: None },
            type_name: ty.to_owned().into(),
            fields: Vec::new(),
        }),
    }
}

impl Obj {
    /// Set a field the type declares (unit tests fail on a name it does not).
    pub fn f(mut self, name: &str, value: Value) -> Self {
        let known = self.0.set(name, value).is_some();
        #[cfg(test)]
        assert!(known, "{} has no field {name}", self.0.type_name);
        let _ = known;
        self
    }

    /// Set a field if the type declares it (`template` exists on VM events only).
    pub fn f_if_known(mut self, name: &str, value: Value) -> Self {
        let _ = self.0.set(name, value);
        self
    }

    pub fn value(self) -> Value {
        Value::Object(Box::new(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_builds_and_decodes_back() {
        let g = Generator::new(Arc::new(Inventory::default()), 7);
        let now = Timestamp::now();
        for (i, tpl) in TEMPLATES.iter().enumerate() {
            for variant in [0u32, 1, 12345, u32::MAX] {
                let ev = g.build(42, now, i as u16, variant);
                assert_eq!(ev.type_name, tpl.type_name);
                let mut xml = String::new();
                vsphere_client::request::write_object(&mut xml, "returnval", &ev);
                let xml = xml.replacen(
                    "<returnval",
                    r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
                    1,
                );
                let ty = vsphere_client::catalogue::lookup("Event").map(|_| {
                    vsphere_client::catalogue::Kind::Data(
                        vsphere_client::catalogue::TYPES
                            .iter()
                            .position(|t| t.name() == "Event")
                            .unwrap() as u16,
                    )
                });
                let back = vsphere_client::decode::decode_element(&xml, ty).unwrap();
                let back = back.as_object().unwrap();
                assert_eq!(back.type_name, tpl.type_name);
                if tpl.type_name == UNKNOWN_EVENT_TYPE {
                    assert!(back.type_info().is_none());
                    assert!(back.get("featureLevel").is_some());
                } else {
                    // Same fields and values: written back, the XML is the same.
                    let mut again = String::new();
                    vsphere_client::request::write_object(&mut again, "returnval", back);
                    let mut first = String::new();
                    vsphere_client::request::write_object(&mut first, "returnval", &ev);
                    assert_eq!(again, first, "{}", tpl.type_name);
                }
            }
        }
    }

    #[test]
    fn choices_are_deterministic_and_cover_every_template() {
        let g = Generator::new(Arc::new(Inventory::default()), 1).unknown_event_types(true);
        let mut seen = vec![0; TEMPLATES.len()];
        for key in 0..20_000 {
            let (t, v) = g.choose(key);
            assert_eq!(g.choose(key), (t, v));
            seen[usize::from(t)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    #[test]
    fn the_unknown_type_is_made_only_when_switched_on() {
        let unknown = TEMPLATES
            .iter()
            .position(|t| t.type_name == UNKNOWN_EVENT_TYPE)
            .unwrap() as u16;
        let g = Generator::new(Arc::new(Inventory::default()), 1);
        assert!((0..20_000).all(|key| g.choose(key).0 != unknown));
        let g = g.unknown_event_types(true);
        assert!((0..20_000).any(|key| g.choose(key).0 == unknown));
    }
}
