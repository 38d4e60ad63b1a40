//! The SOAP methods: one function per call, vCenter's semantics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tracing::{debug, info};
use vsphere_client::catalogue::{Kind, Release};
use vsphere_client::decode::decode_element;
use vsphere_client::request::write_object;
use vsphere_client::time::write_rfc3339_nano;
use vsphere_client::{DataObject, MoRef, Value, catalogue};

use crate::generate::{obj, s};
use crate::history::{Item, nanos, timestamp};
use crate::inventory::Inventory;
use crate::soap::{Fault, Node, RequestError, Response, SoapRequest, write_moref};
use crate::state::{
    Collector, ContainerView, DEFAULT_PAGE, Filter, MAX_PAGE, PropertyFilter, Session, Shared,
};

/// What to send back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    pub set_cookie: Option<String>,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Self {
        Self {
            status: 200,
            body,
            set_cookie: None,
        }
    }
    fn fault(f: &Fault) -> Self {
        Self {
            status: 500,
            body: f.envelope(),
            set_cookie: None,
        }
    }
}

pub(crate) type R = Result<Reply, Fault>;

/// Who sent the request.
pub(crate) struct Caller<'a> {
    pub cookie: Option<&'a str>,
    pub peer: &'a str,
    pub user_agent: &'a str,
    /// The API release the request asked for ([`crate::api::requested`]).
    pub release: Release,
}

/// Handle one SOAP request.
pub(crate) async fn dispatch(
    shared: &Arc<Shared>,
    parsed: Result<SoapRequest, RequestError>,
    body: &str,
    caller: &Caller<'_>,
) -> Reply {
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return Reply::fault(&Fault::new("InvalidRequest", e.to_string())),
    };
    debug!(method = %req.method, this = %req.this, "SOAP request");
    let result = match req.method.as_str() {
        "RetrieveServiceContent" => retrieve_service_content(shared, caller),
        "Login" => login(shared, &req, caller),
        "WaitForUpdatesEx" => wait_for_updates(shared, &req, caller).await,
        "Fetch" if crate::props::fetch_needs_no_session(&req) => {
            crate::props::fetch(shared, &req, caller.cookie.unwrap_or_default(), caller)
        }
        _ => with_session(shared, &req, body, caller),
    };
    result.unwrap_or_else(|f| Reply::fault(&f))
}

fn cookie_header(shared: &Shared, cookie: &str) -> String {
    if shared.settings.tls {
        format!("vmware_soap_session=\"{cookie}\"; Path=/; HttpOnly; Secure;")
    } else {
        format!("vmware_soap_session=\"{cookie}\"; Path=/; HttpOnly;")
    }
}

/// Sessions not logged in (opened by `RetrieveServiceContent`) kept at most; the least recently
/// active goes first. Logged-in sessions are bounded by the idle timeout.
const MAX_ANONYMOUS_SESSIONS: usize = 1000;

/// A new, not yet authenticated session; returns its cookie.
fn new_session(shared: &Shared, caller: &Caller<'_>) -> String {
    let cookie = shared.new_uuid();
    let key = shared.new_uuid();
    let mut sessions = shared.sessions();
    let anonymous = sessions.values().filter(|s| s.user.is_none()).count();
    if anonymous >= MAX_ANONYMOUS_SESSIONS
        && let Some(oldest) = sessions
            .iter()
            .filter(|(_, s)| s.user.is_none())
            .min_by_key(|(_, s)| s.last_active)
            .map(|(c, _)| c.clone())
    {
        sessions.remove(&oldest);
    }
    sessions.insert(
        cookie.clone(),
        Session {
            key,
            user: None,
            login_time: Timestamp::now(),
            last_active: Instant::now(),
            call_count: 0,
            user_agent: caller.user_agent.to_owned(),
            collectors: Default::default(),
            property_collectors: Default::default(),
            views: Default::default(),
        },
    );
    cookie
}

fn known_cookie(shared: &Shared, cookie: Option<&str>) -> Option<String> {
    let c = cookie?;
    shared.sessions().contains_key(c).then(|| c.to_owned())
}

fn retrieve_service_content(shared: &Shared, caller: &Caller<'_>) -> R {
    let mut content = service_content(shared);
    crate::api::adapt(&mut content, caller.release);
    let mut r = Response::new("RetrieveServiceContent");
    r.object(&content);
    let mut reply = Reply::ok(r.finish());
    if known_cookie(shared, caller.cookie).is_none() {
        let cookie = new_session(shared, caller);
        reply.set_cookie = Some(cookie_header(shared, &cookie));
    }
    Ok(reply)
}

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
pub(crate) fn service_content(shared: &Shared) -> DataObject {
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

fn login(shared: &Shared, req: &SoapRequest, caller: &Caller<'_>) -> R {
    let user = req
        .params
        .child("userName")
        .map(|n| n.text.clone())
        .unwrap_or_default();
    let password = req
        .params
        .child("password")
        .map(|n| n.text.clone())
        .unwrap_or_default();
    if user != shared.settings.username || password != shared.settings.password {
        info!(user = %user, "login refused");
        return Err(Fault::new(
            "InvalidLogin",
            "Cannot complete login due to an incorrect user name or password.",
        ));
    }
    let locale = req.params.text_of("locale").unwrap_or("en").to_owned();
    let (cookie, set_cookie) = match known_cookie(shared, caller.cookie) {
        Some(c) => (c, None),
        None => {
            let c = new_session(shared, caller);
            let h = cookie_header(shared, &c);
            (c, Some(h))
        }
    };
    let now = Timestamp::now();
    let (key, mut user_session) = {
        let mut sessions = shared.sessions();
        let Some(session) = sessions.get_mut(&cookie) else {
            return Err(Fault::not_authenticated(&req.this));
        };
        session.user = Some(user.clone());
        session.login_time = now;
        session.last_active = Instant::now();
        session.user_agent = caller.user_agent.to_owned();
        let user_session = crate::props::user_session(session, caller.peer, &locale)
            .ok_or_else(|| Fault::not_authenticated(&req.this))?;
        (session.key.clone(), user_session)
    };
    if shared.settings.login_events {
        let ev = obj("UserLoginSessionEvent")
            .f("userName", s(&user))
            .f("ipAddress", s(caller.peer))
            .f("userAgent", s(caller.user_agent))
            .f("locale", s(&locale))
            .f("sessionId", s(&key))
            .f(
                "fullFormattedMessage",
                s(&format!(
                    "User {user}@{} logged in as {}",
                    caller.peer, caller.user_agent
                )),
            )
            .0;
        append_event(shared, ev, &user);
    }
    crate::api::adapt(&mut user_session, caller.release);
    info!(user = %user, "logged in");
    let mut r = Response::new("Login");
    r.object(&user_session);
    let mut reply = Reply::ok(r.finish());
    reply.set_cookie = set_cookie;
    Ok(reply)
}

/// Find the caller's authenticated session, expiring it if it idled too long.
fn authenticate(shared: &Shared, req: &SoapRequest, caller: &Caller<'_>) -> Result<String, Fault> {
    let denied = || Fault::not_authenticated(&req.this);
    let cookie = caller.cookie.ok_or_else(denied)?;
    let timeout = shared.idle_timeout();
    let mut sessions = shared.sessions();
    let Some(session) = sessions.get_mut(cookie) else {
        return Err(denied());
    };
    if session.last_active.elapsed() > timeout {
        info!(session = %session.key, "session expired (idle)");
        sessions.remove(cookie);
        return Err(denied());
    }
    if session.user.is_none() {
        return Err(denied());
    }
    session.last_active = Instant::now();
    session.call_count += 1;
    Ok(cookie.to_owned())
}

fn with_session(shared: &Arc<Shared>, req: &SoapRequest, body: &str, caller: &Caller<'_>) -> R {
    let cookie = authenticate(shared, req, caller)?;
    let m = req.method.as_str();
    let empty = || Ok(Reply::ok(Response::new(m).finish()));
    match m {
        "Logout" => {
            let removed = shared.sessions().remove(&cookie);
            if let Some(sess) = removed
                && shared.settings.login_events
                && let Some(user) = sess.user
            {
                let ev = obj("UserLogoutSessionEvent")
                    .f("userName", s(&user))
                    .f("ipAddress", s(caller.peer))
                    .f("userAgent", s(&sess.user_agent))
                    .f("callCount", Value::Long(sess.call_count))
                    .f("sessionId", s(&sess.key))
                    .f("loginTime", Value::DateTime(sess.login_time))
                    .f(
                        "fullFormattedMessage",
                        s(&format!("User {user}@{} logged out", caller.peer)),
                    )
                    .0;
                append_event(shared, ev, &user);
            }
            empty()
        }
        "CurrentTime" => {
            let mut r = Response::new(m);
            let mut t = String::with_capacity(40);
            write_rfc3339_nano(&mut t, Timestamp::now());
            r.text(&t);
            Ok(Reply::ok(r.finish()))
        }
        "SessionIsActive" => {
            let id = req.params.text_of("sessionID").unwrap_or_default();
            let user = req.params.text_of("userName").unwrap_or_default();
            let timeout = shared.idle_timeout();
            let active = shared.sessions().values().any(|s| {
                s.key == id && s.user.as_deref() == Some(user) && s.last_active.elapsed() <= timeout
            });
            let mut r = Response::new(m);
            r.text(if active { "true" } else { "false" });
            Ok(Reply::ok(r.finish()))
        }
        "TerminateSession" => {
            let own_key = shared.sessions().get(&cookie).map(|s| s.key.clone());
            let keys: Vec<String> = req
                .params
                .children_named("sessionId")
                .map(|n| n.text.trim().to_owned())
                .collect();
            for k in &keys {
                if own_key.as_deref() == Some(k.as_str()) {
                    return Err(Fault::invalid_argument("sessionId"));
                }
            }
            for k in &keys {
                if shared.end_sessions(Some(k)) == 0 {
                    return Err(Fault::new("NotFound", "The session does not exist."));
                }
                info!(session = %k, "session terminated");
            }
            empty()
        }
        "CreateCollectorForEvents" => create_collector(shared, req, &cookie),
        "ReadNextEvents" | "ReadPreviousEvents" => {
            read_events(shared, req, &cookie, caller.release)
        }
        "Fetch" => crate::props::fetch(shared, req, &cookie, caller),
        "SetCollectorPageSize" => {
            let n = max_count(req, 0)?;
            collector_mut(shared, req, &cookie, |c| c.page_size = n as usize)?;
            empty()
        }
        "RewindCollector" => {
            let h = shared.history();
            collector_mut(shared, req, &cookie, |c| c.pos = c.filter.start_index(&h))?;
            empty()
        }
        "ResetCollector" => {
            let len = shared.history().entries.len();
            collector_mut(shared, req, &cookie, |c| c.pos = len)?;
            empty()
        }
        "DestroyCollector" => {
            let mut sessions = shared.sessions();
            let sess = sessions
                .get_mut(&cookie)
                .ok_or_else(|| Fault::not_authenticated(&req.this))?;
            sess.collectors
                .remove(&req.this.value)
                .ok_or_else(|| Fault::not_found(&req.this))?;
            drop(sessions);
            empty()
        }
        "PostEvent" => {
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
            let user = session_user(shared, &cookie);
            append_event(shared, *ev, &user);
            empty()
        }
        "LogUserEvent" => {
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
            let user = session_user(shared, &cookie);
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
            empty()
        }
        "CreatePropertyCollector" => {
            let mut sessions = shared.sessions();
            let sess = sessions
                .get_mut(&cookie)
                .ok_or_else(|| Fault::not_authenticated(&req.this))?;
            let pc = sess.new_ref("PropertyCollector", shared.next_id());
            sess.property_collectors
                .insert(pc.value.clone(), Default::default());
            drop(sessions);
            let mut r = Response::new(m);
            r.moref(&pc);
            Ok(Reply::ok(r.finish()))
        }
        "DestroyPropertyCollector" => {
            let mut sessions = shared.sessions();
            if let Some(sess) = sessions.get_mut(&cookie) {
                sess.property_collectors.remove(&req.this.value);
            }
            drop(sessions);
            empty()
        }
        "CreateFilter" => create_filter(shared, req, &cookie),
        "DestroyPropertyFilter" => {
            let mut sessions = shared.sessions();
            if let Some(sess) = sessions.get_mut(&cookie) {
                for pc in sess.property_collectors.values_mut() {
                    pc.filters.remove(&req.this.value);
                }
            }
            drop(sessions);
            empty()
        }
        "CreateContainerView" => {
            let container = req
                .params
                .child("container")
                .map(Node::moref)
                .ok_or_else(|| Fault::invalid_argument("container"))?;
            let index = shared
                .inventory
                .find(&container)
                .ok_or_else(|| Fault::not_found(&container))?;
            let types = req
                .params
                .children_named("type")
                .map(|n| n.text.trim().to_owned())
                .collect();
            let recursive = req.params.text_of("recursive") == Some("true");
            let mut sessions = shared.sessions();
            let sess = sessions
                .get_mut(&cookie)
                .ok_or_else(|| Fault::not_authenticated(&req.this))?;
            let view = sess.new_ref("ContainerView", shared.next_id());
            sess.views.insert(
                view.value.clone(),
                ContainerView {
                    container: index,
                    types,
                    recursive,
                },
            );
            drop(sessions);
            let mut r = Response::new(m);
            r.moref(&view);
            Ok(Reply::ok(r.finish()))
        }
        "DestroyView" => {
            let mut sessions = shared.sessions();
            if let Some(sess) = sessions.get_mut(&cookie) {
                sess.views.remove(&req.this.value);
            }
            drop(sessions);
            empty()
        }
        "RetrievePropertiesEx" | "RetrieveProperties" => {
            crate::props::retrieve_properties(shared, req, &cookie, caller)
        }
        other => Err(Fault::new(
            "MethodNotFound",
            format!("Unable to resolve WSDL method name {other}"),
        )
        .field("receiver", Value::MoRef(req.this.clone()))
        .field("method", s(other))),
    }
}

fn session_user(shared: &Shared, cookie: &str) -> String {
    shared
        .sessions()
        .get(cookie)
        .and_then(|s| s.user.clone())
        .unwrap_or_default()
}

fn max_count(req: &SoapRequest, min: i64) -> Result<i64, Fault> {
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

fn collector_mut(
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

fn create_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
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

fn read_events(shared: &Shared, req: &SoapRequest, cookie: &str, release: Release) -> R {
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
pub(crate) fn write_event(
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
fn posted_object(posted: &crate::history::Posted) -> Option<DataObject> {
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
fn write_posted(buf: &mut String, name: &str, posted: &crate::history::Posted, no_message: bool) {
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
pub(crate) fn append_event(shared: &Shared, mut ev: DataObject, session_user: &str) -> i64 {
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
    let key = shared.history_mut().push_posted(
        now,
        &type_name,
        &kind_name,
        &category,
        &user,
        entities,
        release,
        |key, created| {
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
        },
    );
    shared.notify();
    debug!(key, type_name = %type_name, "event recorded");
    key
}

fn entities_of(inv: &Inventory, ev: &DataObject) -> u64 {
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

fn create_filter(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let spec = req
        .params
        .child("spec")
        .ok_or_else(|| Fault::invalid_argument("spec"))?;
    let obj_ref = spec
        .child("objectSet")
        .and_then(|o| o.child("obj"))
        .map(Node::moref)
        .ok_or_else(|| Fault::invalid_argument("spec.objectSet.obj"))?;
    let paths: Vec<String> = spec
        .children_named("propSet")
        .flat_map(|p| p.children_named("pathSet"))
        .map(|n| n.text.trim().to_owned())
        .collect();
    let mut sessions = shared.sessions();
    let sess = sessions
        .get_mut(cookie)
        .ok_or_else(|| Fault::not_authenticated(&req.this))?;
    if obj_ref.kind == "EventHistoryCollector" && !sess.collectors.contains_key(&obj_ref.value) {
        return Err(Fault::not_found(&obj_ref));
    }
    let filter = sess.new_ref("PropertyFilter", shared.next_id());
    let pc_id = req.this.value.clone();
    let is_root = req.this.value == "propertyCollector";
    let pc = if is_root {
        Some(sess.property_collectors.entry(pc_id).or_default())
    } else {
        sess.property_collectors.get_mut(&pc_id)
    };
    let pc = pc.ok_or_else(|| Fault::not_found(&req.this))?;
    pc.filters.insert(
        filter.value.clone(),
        PropertyFilter {
            obj: obj_ref,
            paths,
            reported: None,
        },
    );
    drop(sessions);
    let mut r = Response::new("CreateFilter");
    r.moref(&filter);
    Ok(Reply::ok(r.finish()))
}

/// The newest `page` matching events of a collector, newest first.
pub(crate) fn latest_page(shared: &Shared, c: &Collector) -> Vec<Item> {
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

fn item_key(shared: &Shared, item: &Item) -> i64 {
    match item {
        Item::Generated { key, .. } => *key,
        Item::Posted { posted } => {
            let _ = shared;
            i64::from(posted.chain_id)
        }
    }
}

struct Update {
    filter: String,
    obj: MoRef,
    kind: &'static str,
    page: Vec<Item>,
    no_message: bool,
}

async fn wait_for_updates(shared: &Arc<Shared>, req: &SoapRequest, caller: &Caller<'_>) -> R {
    let cookie = authenticate(shared, req, caller)?;
    let version = req.params.text_of("version").unwrap_or_default().to_owned();
    let max_wait = req
        .params
        .child("options")
        .and_then(|o| o.text_of("maxWaitSeconds"))
        .and_then(|t| t.parse::<u64>().ok());
    let deadline = max_wait.map(|s| Instant::now() + Duration::from_secs(s));
    let mut changes = shared.changes.subscribe();
    loop {
        changes.borrow_and_update();
        let (updates, new_version) = {
            let mut sessions = shared.sessions();
            let sess = sessions
                .get_mut(&cookie)
                .ok_or_else(|| Fault::not_authenticated(&req.this))?;
            let collectors = sess.collectors.clone();
            // The root property collector exists in every session.
            let pc = if req.this.value == "propertyCollector" {
                Some(
                    sess.property_collectors
                        .entry(req.this.value.clone())
                        .or_default(),
                )
            } else {
                sess.property_collectors.get_mut(&req.this.value)
            };
            let pc = pc.ok_or_else(|| Fault::not_found(&req.this))?;
            let mut updates = Vec::new();
            for (id, f) in pc.filters.iter_mut() {
                if !f.paths.iter().any(|p| p == "latestPage") {
                    continue;
                }
                let Some(c) = collectors.get(&f.obj.value) else {
                    continue;
                };
                let page = latest_page(shared, c);
                let sig = (
                    page.first().map_or(-1, |i| item_key(shared, i)),
                    c.page_size,
                );
                if version.is_empty() || f.reported != Some(sig) {
                    let kind = if f.reported.is_none() {
                        "enter"
                    } else {
                        "modify"
                    };
                    f.reported = Some(sig);
                    updates.push(Update {
                        filter: id.clone(),
                        obj: f.obj.clone(),
                        kind,
                        page,
                        no_message: c.filter.disable_full_message,
                    });
                }
            }
            if !updates.is_empty() {
                pc.version += 1;
            }
            (updates, pc.version)
        };
        if !updates.is_empty() {
            let mut r = Response::new("WaitForUpdatesEx");
            let buf = &mut r.buf;
            buf.push_str("<returnval><version>");
            buf.push_str(&new_version.to_string());
            buf.push_str("</version>");
            for u in &updates {
                buf.push_str("<filterSet>");
                write_moref(
                    buf,
                    "filter",
                    &MoRef::new("PropertyFilter", u.filter.clone()),
                );
                buf.push_str("<objectSet><kind>");
                buf.push_str(u.kind);
                buf.push_str("</kind>");
                write_moref(buf, "obj", &u.obj);
                buf.push_str(
                    r#"<changeSet><name>latestPage</name><op>assign</op><val xsi:type="ArrayOfEvent">"#,
                );
                for item in &u.page {
                    write_event(shared, buf, "Event", item, u.no_message, caller.release);
                }
                buf.push_str("</val></changeSet></objectSet></filterSet>");
            }
            buf.push_str("</returnval>");
            return Ok(Reply::ok(r.finish()));
        }
        let remaining = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if remaining.is_zero() {
            return Ok(Reply::ok(Response::new("WaitForUpdatesEx").finish()));
        }
        if tokio::time::timeout(remaining, changes.changed())
            .await
            .is_err()
        {
            return Ok(Reply::ok(Response::new("WaitForUpdatesEx").finish()));
        }
    }
}
