//! Property collectors, their filters, container views and `WaitForUpdatesEx` (how clients
//! wait for a collector's `latestPage` to change).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vsphere_client::MoRef;

use super::events::{item_key, latest_page, write_event};
use super::reply::{Caller, R, Reply, empty};
use super::session::authenticate;
use crate::history::Item;
use crate::soap::{Fault, Node, Response, SoapRequest, write_moref};
use crate::state::{ContainerView, PropertyFilter, Shared};

pub(super) fn create_filter(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
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

struct Update {
    filter: String,
    obj: MoRef,
    kind: &'static str,
    page: Vec<Item>,
    no_message: bool,
}

pub(super) async fn wait_for_updates(
    shared: &Arc<Shared>,
    req: &SoapRequest,
    caller: &Caller<'_>,
) -> R {
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

/// `CreatePropertyCollector`.
pub(super) fn create_property_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let m = req.method.as_str();
    let mut sessions = shared.sessions();
    let sess = sessions
        .get_mut(cookie)
        .ok_or_else(|| Fault::not_authenticated(&req.this))?;
    let pc = sess.new_ref("PropertyCollector", shared.next_id());
    sess.property_collectors
        .insert(pc.value.clone(), Default::default());
    drop(sessions);
    let mut r = Response::new(m);
    r.moref(&pc);
    Ok(Reply::ok(r.finish()))
}

/// `DestroyPropertyCollector`.
pub(super) fn destroy_property_collector(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let mut sessions = shared.sessions();
    if let Some(sess) = sessions.get_mut(cookie) {
        sess.property_collectors.remove(&req.this.value);
    }
    drop(sessions);
    empty(req)
}

/// `DestroyPropertyFilter`.
pub(super) fn destroy_property_filter(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let mut sessions = shared.sessions();
    if let Some(sess) = sessions.get_mut(cookie) {
        for pc in sess.property_collectors.values_mut() {
            pc.filters.remove(&req.this.value);
        }
    }
    drop(sessions);
    empty(req)
}

/// `CreateContainerView`.
pub(super) fn create_container_view(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let m = req.method.as_str();
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
        .get_mut(cookie)
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

/// `DestroyView`.
pub(super) fn destroy_view(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let mut sessions = shared.sessions();
    if let Some(sess) = sessions.get_mut(cookie) {
        sess.views.remove(&req.this.value);
    }
    drop(sessions);
    empty(req)
}
