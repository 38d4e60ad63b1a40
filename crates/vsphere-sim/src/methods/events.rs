//! Event history collectors (`CreateCollectorForEvents`, `ReadNextEvents`, …) and the history
//! they read: events posted by clients or recorded by the server.

use jiff::Timestamp;
use tracing::debug;
use vsphere_client::catalogue::{Kind, Release};
use vsphere_client::decode::decode_element;
use vsphere_client::request::write_object;
use vsphere_client::{DataObject, Value, catalogue};

use super::reply::{R, Reply, empty};
use crate::generate::{obj, s};
use crate::history::{Item, PostedEvent, nanos, timestamp};
use crate::inventory::Inventory;
use crate::soap::{Fault, Node, Response, SoapRequest};
use crate::state::{Collector, DEFAULT_PAGE, Filter, MAX_PAGE, Shared};

pub(super) fn max_count(req: &SoapRequest, min: i64) -> Result<i64, Fault> {
    let n: i64 = req
        .params
        .text_of("maxCount")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Fault::invalid_argument("maxCount"))?;
    if n < min || n > MAX_PAGE {
        return Err(Fault::invalid_argument("maxCount"));
    }
    Ok(n)
}

pub(super) fn collector_mut(
    shared: &Shared,
    req: &SoapRequest,
    cookie: &str,
    f: impl FnOnce(&mut Collector),
) -> Result<(), Fault> {
    let mut sessions = shared.sessions();
    let sess = sessions
        .get_mut(cookie)
        .ok_or_else(|| Fault::not_authenticated(&req.this))?;
    let c = sess
        .collectors
        .get_mut(&req.this.value)
        .ok_or_else(|| Fault::not_found(&req.this))?;
    f(c);
    Ok(())
}

pub(super) fn create_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let filter = match req.params.child("filter") {
        Some(n) => Filter::parse(n, &shared.inventory)?,
        None => Filter::default(),
    };
    let pos = filter.start_index(&shared.history());
    let mut sessions = shared.sessions();
    let sess = sessions
        .get_mut(cookie)
        .ok_or_else(|| Fault::not_authenticated(&req.this))?;
    if sess.collectors.len() >= shared.settings.max_collectors {
        return Err(Fault::new(
            "InvalidState",
            format!(
                "The maximum number of event history collectors ({}) for this session has been reached.",
                shared.settings.max_collectors
            ),
        ));
    }
    let moref = sess.new_ref("EventHistoryCollector", shared.next_id());
    sess.collectors.insert(
        moref.value.clone(),
        Collector {
            filter,
            pos,
            page_size: DEFAULT_PAGE,
        },
    );
    drop(sessions);
    debug!(collector = %moref.value, "collector created");
    let mut r = Response::new("CreateCollectorForEvents");
    r.moref(&moref);
    Ok(Reply::ok(r.finish()))
}

pub(super) fn read_events(shared: &Shared, req: &SoapRequest, cookie: &str, release: Release) -> R {
    let n = max_count(req, 1)? as usize;
    let forward = req.method == "ReadNextEvents";
    let (items, disable_full_message) = {
        let mut sessions = shared.sessions();
        let sess = sessions
            .get_mut(cookie)
            .ok_or_else(|| Fault::not_authenticated(&req.this))?;
        let c = sess
            .collectors
            .get_mut(&req.this.value)
            .ok_or_else(|| Fault::not_found(&req.this))?;
        let h = shared.history();
        let matcher = c.filter.matcher(&h);
        let mut items = Vec::with_capacity(n.min(64));
        if forward {
            let mut i = c.pos;
            let len = h.entries.len();
            while i < len && items.len() < n {
                if matcher.matches(i, &h.entries[i])
                    && let Some(item) = h.item(i)
                {
                    items.push(item);
                }
                i += 1;
            }
            c.pos = i;
        } else {
            let start = c.filter.start_index(&h);
            let mut i = c.pos.min(h.entries.len());
            while i > start && items.len() < n {
                i -= 1;
                if matcher.matches(i, &h.entries[i])
                    && let Some(item) = h.item(i)
                {
                    items.push(item);
                }
            }
            c.pos = i;
        }
        (items, c.filter.disable_full_message)
    };
    let mut r = Response::with_capacity(&req.method, items.len() * 1500);
    for item in &items {
        write_event(
            shared,
            &mut r.buf,
            "returnval",
            item,
            disable_full_message,
            release,
        );
    }
    Ok(Reply::ok(r.finish()))
}

/// Write one event as `<name xsi:type="…">…</name>`, in API release `release`.
pub(super) fn write_event(
    shared: &Shared,
    buf: &mut String,
    name: &str,
    item: &Item,
    no_message: bool,
    release: Release,
) {
    match item {
        Item::Generated {
            key,
            created,
            template,
            variant,
        } => {
            let mut ev = shared
                .generator
                .build(*key, timestamp(*created), *template, *variant);
            if no_message {
                ev.fields
                    .retain(|f| f.name.xml_name() != "fullFormattedMessage");
            }
            crate::api::adapt(&mut ev, release);
            if let Some(bytes) = shared.faults.inflated(*key) {
                let big = vsphere_client::Value::String("x".repeat(bytes));
                match ev
                    .fields
                    .iter_mut()
                    .find(|f| f.name.xml_name() == "fullFormattedMessage")
                {
                    Some(f) => f.value = big,
                    None => ev.fields.push(vsphere_client::Field {
                        name: vsphere_client::FieldName::Unknown("fullFormattedMessage".into()),
                        value: big,
                    }),
                }
            }
            if shared.faults.is_poisoned(*key) {
                for f in &mut ev.fields {
                    if f.name.xml_name() == "chainId" {
                        f.value = vsphere_client::Value::String("poison".into());
                    }
                }
            }
            write_object(buf, name, &ev);
        }
        Item::Posted { posted } if posted.release.is_some_and(|r| r > release) => {
            // Made for a newer release than the caller's: decode, adapt and write it again.
            match posted_object(posted) {
                Some(mut ev) => {
                    if no_message {
                        ev.fields
                            .retain(|f| f.name.xml_name() != "fullFormattedMessage");
                    }
                    crate::api::adapt(&mut ev, release);
                    write_object(buf, name, &ev);
                }
                None => write_posted(buf, name, posted, no_message),
            }
        }
        Item::Posted { posted } => write_posted(buf, name, posted, no_message),
    }
}

/// A posted event decoded from its stored XML.
pub(super) fn posted_object(posted: &crate::history::Posted) -> Option<DataObject> {
    let mut xml = String::with_capacity(posted.inner_xml.len() + 200);
    xml.push_str(r#"<e xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xsi:type=""#);
    vsphere_client::request::escape_attr(&mut xml, &posted.type_name);
    xml.push_str(r#"">"#);
    xml.push_str(&posted.inner_xml);
    xml.push_str("</e>");
    match decode_element(&xml, catalogue::data_kind("Event")) {
        Ok(Value::Object(ev)) => Some(*ev),
        _ => None,
    }
}

/// A posted event as it was stored.
pub(super) fn write_posted(
    buf: &mut String,
    name: &str,
    posted: &crate::history::Posted,
    no_message: bool,
) {
    buf.push('<');
    buf.push_str(name);
    buf.push_str(r#" xsi:type=""#);
    vsphere_client::request::escape_attr(buf, &posted.type_name);
    buf.push_str(r#"">"#);
    let inner: &str = &posted.inner_xml;
    match (no_message, inner.find("<fullFormattedMessage>")) {
        (true, Some(start)) => {
            const END: &str = "</fullFormattedMessage>";
            let end = inner[start..]
                .find(END)
                .map_or(inner.len(), |e| start + e + END.len());
            buf.push_str(&inner[..start]);
            buf.push_str(&inner[end..]);
        }
        _ => buf.push_str(inner),
    }
    buf.push_str("</");
    buf.push_str(name);
    buf.push('>');
}

/// Record an event (posted, or a login/logout): the server assigns key, chain id and time.
pub(super) fn append_event(shared: &Shared, mut ev: DataObject, session_user: &str) -> i64 {
    let type_name = ev.type_name.to_string();
    let is_ex = ev.is_a("EventEx") || ev.is_a("ExtendedEvent");
    let kind_name = if is_ex {
        ev.get_str("eventTypeId").unwrap_or(&type_name).to_owned()
    } else {
        type_name.clone()
    };
    let category = match ev.get_str("severity") {
        Some(sev @ ("info" | "warning" | "error" | "user")) => sev.to_owned(),
        _ if ev.is_a("GeneralUserEvent") => "user".to_owned(),
        _ => crate::generate::event_category(&type_name).to_owned(),
    };
    let user = match ev.get_str("userName") {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => session_user.to_owned(),
    };
    let entities = entities_of(&shared.inventory, &ev);
    let now = nanos(Timestamp::now());
    // key, chainId, createdTime and userName (set below) are in every release.
    let release = crate::api::needs(&ev);
    let posted = PostedEvent {
        created: now,
        type_name: &type_name,
        kind_name: &kind_name,
        category: &category,
        user: &user,
        entities,
        release,
    };
    let key = shared.history_mut().push_posted(posted, |key, created| {
        let k = Value::Int(key as i32);
        let _ = ev.set("key", k.clone());
        let _ = ev.set("chainId", k);
        let _ = ev.set("createdTime", Value::DateTime(timestamp(created)));
        let _ = ev.set("userName", Value::String(user.clone()));
        let mut xml = String::with_capacity(1024);
        write_object(&mut xml, "e", &ev);
        let start = xml.find('>').map_or(0, |i| i + 1);
        let end = xml.len().saturating_sub("</e>".len()).max(start);
        xml[start..end].to_owned()
    });
    shared.notify();
    debug!(key, type_name = %type_name, "event recorded");
    key
}

pub(super) fn entities_of(inv: &Inventory, ev: &DataObject) -> u64 {
    let mut mask = 0;
    for arg in [
        "datacenter",
        "computeResource",
        "host",
        "vm",
        "ds",
        "net",
        "dvs",
        "entity",
    ] {
        if let Some(a) = ev.get_object(arg) {
            for f in &a.fields {
                if let Some(m) = f.value.as_moref()
                    && let Some(i) = inv.find_id(&m.value)
                {
                    mask |= Inventory::bit(i);
                }
            }
        }
    }
    for id in [
        ev.get_str("objectId"),
        ev.get("managedObject")
            .and_then(Value::as_moref)
            .map(|m| m.value.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(i) = inv.find_id(id) {
            mask |= Inventory::bit(i);
        }
    }
    // Events on the root folder count as events on no entity (the root's).
    mask & !Inventory::bit(crate::inventory::ROOT)
}

/// The newest `page` matching events of a collector, newest first.
pub(super) fn latest_page(shared: &Shared, c: &Collector) -> Vec<Item> {
    let h = shared.history();
    let matcher = c.filter.matcher(&h);
    let start = c.filter.start_index(&h);
    let mut out = Vec::with_capacity(c.page_size);
    let mut i = h.entries.len();
    while i > start && out.len() < c.page_size {
        i -= 1;
        if matcher.matches(i, &h.entries[i])
            && let Some(item) = h.item(i)
        {
            out.push(item);
        }
    }
    out
}

pub(super) fn item_key(shared: &Shared, item: &Item) -> i64 {
    match item {
        Item::Generated { key, .. } => *key,
        Item::Posted { posted } => {
            let _ = shared;
            i64::from(posted.chain_id)
        }
    }
}

/// `SetCollectorPageSize`.
pub(super) fn set_collector_page_size(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let n = max_count(req, 0)?;
    collector_mut(shared, req, cookie, |c| c.page_size = n as usize)?;
    empty(req)
}

/// `RewindCollector`: back to the start of the filter.
pub(super) fn rewind_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let h = shared.history();
    collector_mut(shared, req, cookie, |c| c.pos = c.filter.start_index(&h))?;
    empty(req)
}

/// `ResetCollector`: past the newest event.
pub(super) fn reset_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let len = shared.history().entries.len();
    collector_mut(shared, req, cookie, |c| c.pos = len)?;
    empty(req)
}

/// `DestroyCollector`.
pub(super) fn destroy_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let mut sessions = shared.sessions();
    let sess = sessions
        .get_mut(cookie)
        .ok_or_else(|| Fault::not_authenticated(&req.this))?;
    sess.collectors
        .remove(&req.this.value)
        .ok_or_else(|| Fault::not_found(&req.this))?;
    drop(sessions);
    empty(req)
}

/// `PostEvent`: records an event the client sends.
pub(super) fn post_event(shared: &Shared, req: &SoapRequest, body: &str, cookie: &str) -> R {
    let xml = req
        .param_xml(body, "eventToPost")
        .ok_or_else(|| Fault::invalid_argument("eventToPost"))?;
    let event_kind = catalogue::TYPES
        .iter()
        .position(|t| t.name() == "Event")
        .map(|i| Kind::Data(i as u16));
    let value = decode_element(&xml, event_kind)
        .map_err(|e| Fault::new("InvalidRequest", e.to_string()))?;
    let Value::Object(ev) = value else {
        return Err(Fault::invalid_argument("eventToPost"));
    };
    if !ev.is_a("Event") {
        return Err(Fault::invalid_argument("eventToPost"));
    }
    let user = shared.session_user(cookie);
    append_event(shared, *ev, &user);
    empty(req)
}

/// `LogUserEvent`: records a `GeneralUserEvent` on an entity.
pub(super) fn log_user_event(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let entity = req
        .params
        .child("entity")
        .map(Node::moref)
        .ok_or_else(|| Fault::invalid_argument("entity"))?;
    let index = shared
        .inventory
        .find(&entity)
        .ok_or_else(|| Fault::not_found(&entity))?;
    let msg = req
        .params
        .child("msg")
        .map(|n| n.text.clone())
        .unwrap_or_default();
    let user = shared.session_user(cookie);
    let mut ev = obj("GeneralUserEvent")
        .f("userName", s(&user))
        .f("message", s(&msg))
        .f(
            "fullFormattedMessage",
            s(&format!("User logged event: {msg}")),
        );
    if let Some(o) = shared.inventory.get(index) {
        ev = ev.f(
            "entity",
            obj("ManagedEntityEventArgument")
                .f("name", s(&o.name))
                .f("entity", Value::MoRef(o.moref.clone()))
                .value(),
        );
    }
    append_event(shared, ev.0, &user);
    empty(req)
}
