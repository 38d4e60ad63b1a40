//! Properties of managed objects, for `RetrieveProperties`, `RetrievePropertiesEx` and `Fetch`
//! (the call pyVmomi makes for `obj.property`).
//!
//! The [`inventory`](crate::inventory) objects have names, parents, power and connection states;
//! these have what clients read on connect and around event collectors:
//!
//! | object | properties |
//! |---|---|
//! | `ServiceInstance` | `content`, `serverClock` |
//! | `SessionManager` | `currentSession` (govc checks a cached session with it), `sessionList`, `defaultLocale` |
//! | `EventManager` | `description` and `description.eventInfo` (the category of every event type; govc prints it), `latestEvent`, `maxCollector` |
//! | `EventHistoryCollector` (the session's) | `latestPage` |
//!
//! Values are written in the caller's API release ([`crate::api::adapt`]).

use jiff::Timestamp;
use vsphere_client::catalogue::{self, Release};
use vsphere_client::request::{escape_text, write_object};
use vsphere_client::time::write_rfc3339_nano;
use vsphere_client::{DataObject, MoRef, Value};

use super::content::service_content;
use super::events::{latest_page, write_event};
use super::reply::{Caller, R, Reply};
use super::session::user_session;
use crate::generate::{UNKNOWN_EVENT_TYPE, event_category, obj, s};
use crate::history::Item;
use crate::inventory::{Inventory, ObjectKind};
use crate::soap::{Fault, Node, Response, SoapRequest, write_moref};
use crate::state::Shared;

/// A property value.
pub(crate) enum Prop {
    /// A primitive or enum: its `xsi:type` and text.
    Text(&'static str, String),
    /// A managed object reference.
    Ref(MoRef),
    /// A data object.
    Object(DataObject),
    /// An array of data objects declared as the named type.
    Objects(&'static str, Vec<DataObject>),
    /// Events (`latestPage`), and whether to leave their `fullFormattedMessage` out.
    Events(Vec<Item>, bool),
    /// One event (`latestEvent`).
    Event(Item),
}

/// A managed object that is not in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Managed {
    ServiceInstance,
    SessionManager,
    EventManager,
    Collector(String),
}

impl Managed {
    fn find(shared: &Shared, cookie: &str, moref: &MoRef) -> Option<Self> {
        match (&*moref.kind, moref.value.as_str()) {
            ("ServiceInstance", "ServiceInstance") => Some(Self::ServiceInstance),
            ("SessionManager", "SessionManager") => Some(Self::SessionManager),
            ("EventManager", "EventManager") => Some(Self::EventManager),
            ("EventHistoryCollector", id) => shared
                .sessions()
                .get(cookie)
                .is_some_and(|s| s.collectors.contains_key(id))
                .then(|| Self::Collector(id.to_owned())),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::ServiceInstance => "ServiceInstance",
            Self::SessionManager => "SessionManager",
            Self::EventManager => "EventManager",
            Self::Collector(_) => "EventHistoryCollector",
        }
    }

    /// The properties `all` returns.
    fn all(&self) -> &'static [&'static str] {
        match self {
            Self::ServiceInstance => &["content", "serverClock"],
            Self::SessionManager => &["currentSession", "sessionList", "defaultLocale"],
            Self::EventManager => &["description", "latestEvent", "maxCollector"],
            Self::Collector(_) => &["latestPage"],
        }
    }

    fn property(&self, shared: &Shared, caller: &Caller<'_>, path: &str) -> Option<Prop> {
        let text = |ty: &'static str, v: String| Some(Prop::Text(ty, v));
        match (self, path) {
            (Self::ServiceInstance, "content") => Some(Prop::Object(service_content(shared))),
            (Self::ServiceInstance, "serverClock") => {
                let mut t = String::with_capacity(40);
                write_rfc3339_nano(&mut t, Timestamp::now());
                text("xsd:dateTime", t)
            }
            (Self::SessionManager, "currentSession") => {
                let sessions = shared.sessions();
                let session = sessions.get(caller.cookie?)?;
                Some(Prop::Object(user_session(session, caller.peer, "en")?))
            }
            (Self::SessionManager, "sessionList") => {
                let list = shared
                    .sessions()
                    .values()
                    .filter_map(|s| user_session(s, caller.peer, "en"))
                    .collect();
                Some(Prop::Objects("UserSession", list))
            }
            (Self::SessionManager, "defaultLocale") => text("xsd:string", "en".into()),
            (Self::EventManager, "description") => {
                Some(Prop::Object(event_description(shared, caller.release)))
            }
            (Self::EventManager, "description.eventInfo") => Some(Prop::Objects(
                "EventDescriptionEventDetail",
                event_details(shared, caller.release),
            )),
            (Self::EventManager, "latestEvent") => {
                let h = shared.history();
                let last = h.entries.len().checked_sub(1)?;
                Some(Prop::Event(h.item(last)?))
            }
            (Self::EventManager, "maxCollector") => {
                text("xsd:int", shared.settings.max_collectors.to_string())
            }
            (Self::Collector(id), "latestPage") => {
                let collector = shared
                    .sessions()
                    .get(caller.cookie?)?
                    .collectors
                    .get(id)?
                    .clone();
                let no_message = collector.filter.disable_full_message;
                Some(Prop::Events(latest_page(shared, &collector), no_message))
            }
            _ => None,
        }
    }
}

/// `EventManager.description`: the categories, and every event type of the release with its
/// category ([`event_category`]) and a description.
pub(super) fn event_description(shared: &Shared, release: Release) -> DataObject {
    let categories = [
        ("info", "Information", "Information event"),
        ("warning", "Warning", "Warning event"),
        ("error", "Error", "Error event"),
        ("user", "User", "User logged event"),
    ]
    .into_iter()
    .map(|(key, label, summary)| {
        obj("ElementDescription")
            .f("key", s(key))
            .f("label", s(label))
            .f("summary", s(summary))
            .value()
    })
    .collect();
    let details = event_details(shared, release)
        .into_iter()
        .map(|d| Value::Object(Box::new(d)))
        .collect();
    obj("EventDescription")
        .f("category", Value::Array(categories))
        .f("eventInfo", Value::Array(details))
        .0
}

pub(super) fn event_details(shared: &Shared, release: Release) -> Vec<DataObject> {
    let mut names: Vec<&'static str> = catalogue::TYPES
        .iter()
        .filter(|t| !t.version().is_empty() && t.in_release(release) && t.is_a("Event"))
        .map(|t| t.name())
        .collect();
    if shared.settings.unknown_event_types {
        names.push(UNKNOWN_EVENT_TYPE);
    }
    names
        .into_iter()
        .map(|name| {
            let words = words(name);
            obj("EventDescriptionEventDetail")
                .f("key", s(name))
                .f("description", s(&words))
                .f("category", s(event_category(name)))
                .f("formatOnDatacenter", s(&words))
                .f("formatOnComputeResource", s(&words))
                .f("formatOnHost", s(&words))
                .f("formatOnVm", s(&words))
                .f("fullFormat", s(&format!("{name}|{words}")))
                .0
        })
        .collect()
}

/// `VmPoweredOnEvent` → `Vm powered on`.
pub(super) fn words(type_name: &str) -> String {
    let name = type_name.strip_suffix("Event").unwrap_or(type_name);
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A property of an inventory object.
pub(super) fn inventory_property(inv: &Inventory, index: usize, path: &str) -> Option<Prop> {
    let o = inv.get(index)?;
    let text = |ty: &'static str, v: &str| Some(Prop::Text(ty, v.to_owned()));
    match (o.kind, path) {
        (_, "name") => text("xsd:string", &o.name),
        (_, "parent") => o
            .parent
            .and_then(|p| inv.get(p))
            .map(|p| Prop::Ref(p.moref.clone())),
        (_, "overallStatus") => text("ManagedEntityStatus", "green"),
        (ObjectKind::Vm, "runtime.powerState" | "summary.runtime.powerState") => {
            text("VirtualMachinePowerState", o.power_state)
        }
        (ObjectKind::Vm, "runtime.host" | "summary.runtime.host") => o
            .host
            .and_then(|h| inv.get(h))
            .map(|h| Prop::Ref(h.moref.clone())),
        (ObjectKind::Vm, "config.instanceUuid" | "summary.config.instanceUuid") => {
            text("xsd:string", &crate::generate::uuid_from(index as u64))
        }
        (ObjectKind::Host, "runtime.connectionState" | "summary.runtime.connectionState") => {
            text("HostSystemConnectionState", "connected")
        }
        _ => None,
    }
}

pub(super) fn type_matches(kind: &str, wanted: &str) -> bool {
    kind == wanted
        || wanted == "ManagedEntity"
        || (wanted == "ComputeResource" && kind == "ClusterComputeResource")
}

/// Write a property value as element `name`. `Fetch` answers (`repeat`) write an array as one
/// element per item; property sets wrap it in one `ArrayOf…` element.
pub(super) fn write_prop(
    shared: &Shared,
    buf: &mut String,
    name: &str,
    prop: Prop,
    release: Release,
    repeat: bool,
) {
    match prop {
        Prop::Text(ty, text) => {
            buf.push('<');
            buf.push_str(name);
            buf.push_str(r#" xsi:type=""#);
            buf.push_str(ty);
            buf.push_str(r#"">"#);
            escape_text(buf, &text);
            buf.push_str("</");
            buf.push_str(name);
            buf.push('>');
        }
        Prop::Ref(m) => {
            buf.push('<');
            buf.push_str(name);
            buf.push_str(r#" xsi:type="ManagedObjectReference" type=""#);
            buf.push_str(&m.kind);
            buf.push_str(r#"">"#);
            escape_text(buf, &m.value);
            buf.push_str("</");
            buf.push_str(name);
            buf.push('>');
        }
        Prop::Object(mut o) => {
            crate::api::adapt(&mut o, release);
            write_object(buf, name, &o);
        }
        Prop::Objects(ty, list) => {
            let item = if repeat { name } else { ty };
            if !repeat {
                open_array(buf, name, ty);
            }
            for mut o in list {
                crate::api::adapt(&mut o, release);
                write_object(buf, item, &o);
            }
            if !repeat {
                close(buf, name);
            }
        }
        Prop::Events(items, no_message) => {
            if !repeat {
                open_array(buf, name, "Event");
            }
            for i in &items {
                write_event(
                    shared,
                    buf,
                    if repeat { name } else { "Event" },
                    i,
                    no_message,
                    release,
                );
            }
            if !repeat {
                close(buf, name);
            }
        }
        Prop::Event(item) => write_event(shared, buf, name, &item, false, release),
    }
}

pub(super) fn open_array(buf: &mut String, name: &str, ty: &str) {
    buf.push('<');
    buf.push_str(name);
    buf.push_str(r#" xsi:type="ArrayOf"#);
    buf.push_str(ty);
    buf.push_str(r#"">"#);
}

pub(super) fn close(buf: &mut String, name: &str) {
    buf.push_str("</");
    buf.push_str(name);
    buf.push('>');
}

/// What a property request reads: an inventory object or another managed object.
enum Target {
    Inventory(usize),
    Managed(Managed),
}

impl Target {
    fn moref(&self, inv: &Inventory) -> MoRef {
        match self {
            Target::Inventory(i) => inv
                .get(*i)
                .map(|o| o.moref.clone())
                .unwrap_or_else(|| MoRef::new("ManagedEntity", "unknown")),
            Target::Managed(Managed::Collector(id)) => MoRef::new("EventHistoryCollector", id),
            Target::Managed(m) => MoRef::new(m.kind(), m.kind()),
        }
    }

    fn kind(&self, inv: &Inventory) -> String {
        self.moref(inv).kind.into_owned()
    }

    fn all(&self) -> Vec<String> {
        match self {
            Target::Inventory(_) => vec!["name".into(), "parent".into(), "overallStatus".into()],
            Target::Managed(m) => m.all().iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn property(&self, shared: &Shared, caller: &Caller<'_>, path: &str) -> Option<Prop> {
        match self {
            Target::Inventory(i) => inventory_property(&shared.inventory, *i, path),
            Target::Managed(m) => m.property(shared, caller, path),
        }
    }
}

/// `RetrieveProperties` and `RetrievePropertiesEx`: inventory objects (directly or through a
/// container view) and the managed objects above. Unknown properties are left out.
pub(super) fn retrieve_properties(
    shared: &Shared,
    req: &SoapRequest,
    cookie: &str,
    caller: &Caller<'_>,
) -> R {
    let inv = &shared.inventory;
    let views = shared
        .sessions()
        .get(cookie)
        .map(|s| s.views.clone())
        .unwrap_or_default();
    let mut objects: Vec<(Target, Vec<String>)> = Vec::new();
    for spec in req.params.children_named("specSet") {
        let props: Vec<(String, bool, Vec<String>)> = spec
            .children_named("propSet")
            .map(|p| {
                (
                    p.text_of("type").unwrap_or_default().to_owned(),
                    p.text_of("all") == Some("true"),
                    p.children_named("pathSet")
                        .map(|n| n.text.trim().to_owned())
                        .collect(),
                )
            })
            .collect();
        for os in spec.children_named("objectSet") {
            let Some(target) = os.child("obj").map(Node::moref) else {
                continue;
            };
            let skip = os.text_of("skip") == Some("true");
            let mut candidates = Vec::new();
            if let Some(view) = views.get(&target.value) {
                for (i, o) in inv.objects().iter().enumerate() {
                    let inside = if view.recursive {
                        i != view.container && inv.is_descendant(i, view.container)
                    } else {
                        o.parent == Some(view.container)
                    };
                    let typed = view.types.is_empty()
                        || view.types.iter().any(|t| type_matches(&o.moref.kind, t));
                    if inside && typed {
                        candidates.push(Target::Inventory(i));
                    }
                }
            } else if let Some(i) = inv.find(&target) {
                if !skip {
                    candidates.push(Target::Inventory(i));
                }
            } else if let Some(m) = Managed::find(shared, cookie, &target) {
                if !skip {
                    candidates.push(Target::Managed(m));
                }
            } else {
                return Err(Fault::not_found(&target));
            }
            for t in candidates {
                let kind = t.kind(inv);
                let mut paths = Vec::new();
                for (ty, all, wanted) in &props {
                    if type_matches(&kind, ty) {
                        paths.extend(if *all { t.all() } else { wanted.clone() });
                    }
                }
                if !paths.is_empty() {
                    objects.push((t, paths));
                }
            }
        }
    }
    let mut r = Response::new(&req.method);
    if objects.is_empty() {
        return Ok(Reply::ok(r.finish()));
    }
    let buf = &mut r.buf;
    let ex = req.method == "RetrievePropertiesEx";
    if ex {
        buf.push_str("<returnval>");
    }
    for (t, paths) in objects {
        buf.push_str(if ex { "<objects>" } else { "<returnval>" });
        write_moref(buf, "obj", &t.moref(inv));
        for p in &paths {
            let Some(v) = t.property(shared, caller, p) else {
                continue;
            };
            buf.push_str("<propSet><name>");
            escape_text(buf, p);
            buf.push_str("</name>");
            write_prop(shared, buf, "val", v, caller.release, false);
            buf.push_str("</propSet>");
        }
        buf.push_str(if ex { "</objects>" } else { "</returnval>" });
    }
    if ex {
        buf.push_str("</returnval>");
    }
    Ok(Reply::ok(r.finish()))
}

/// `Fetch`: one property of one object (`_this`), as the method's `returnval`.
pub(super) fn fetch(shared: &Shared, req: &SoapRequest, cookie: &str, caller: &Caller<'_>) -> R {
    let path = req
        .params
        .text_of("prop")
        .ok_or_else(|| Fault::invalid_argument("prop"))?;
    let target = match shared.inventory.find(&req.this) {
        Some(i) => Target::Inventory(i),
        None => Target::Managed(
            Managed::find(shared, cookie, &req.this).ok_or_else(|| Fault::not_found(&req.this))?,
        ),
    };
    let value = target.property(shared, caller, path).ok_or_else(|| {
        Fault::new(
            "InvalidProperty",
            format!("A specified parameter was not correct: {path}"),
        )
        .field("name", s(path))
    })?;
    let mut r = Response::new("Fetch");
    write_prop(shared, &mut r.buf, "returnval", value, caller.release, true);
    Ok(Reply::ok(r.finish()))
}

/// Whether `Fetch` may read `_this` without a session: `ServiceInstance`, like
/// `RetrieveServiceContent`.
pub(super) fn fetch_needs_no_session(req: &SoapRequest) -> bool {
    req.this.kind == "ServiceInstance"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_as_words() {
        assert_eq!(words("VmPoweredOnEvent"), "Vm powered on");
        assert_eq!(words("EventEx"), "Event ex");
    }
}
