//! Sessions: `RetrieveServiceContent` opens one, `Login` authenticates it, `Logout` and
//! `TerminateSession` end them, and every other method checks the caller's.

use std::time::Instant;

use jiff::Timestamp;
use tracing::info;
use vsphere_client::time::write_rfc3339_nano;
use vsphere_client::{DataObject, Value};

use super::content::service_content;
use super::events::append_event;
use super::reply::{Caller, R, Reply, empty};
use crate::generate::{obj, s};
use crate::soap::{Fault, Response, SoapRequest};
use crate::state::{Session, Shared};

pub(super) fn cookie_header(shared: &Shared, cookie: &str) -> String {
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
pub(super) fn new_session(shared: &Shared, caller: &Caller<'_>) -> String {
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

pub(super) fn known_cookie(shared: &Shared, cookie: Option<&str>) -> Option<String> {
    let c = cookie?;
    shared.sessions().contains_key(c).then(|| c.to_owned())
}

pub(super) fn retrieve_service_content(shared: &Shared, caller: &Caller<'_>) -> R {
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

pub(super) fn login(shared: &Shared, req: &SoapRequest, caller: &Caller<'_>) -> R {
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
        let user_session = user_session(session, caller.peer, &locale)
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
pub(super) fn authenticate(
    shared: &Shared,
    req: &SoapRequest,
    caller: &Caller<'_>,
) -> Result<String, Fault> {
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

/// `Logout`: ends the session (and records a logout event).
pub(super) fn logout(shared: &Shared, req: &SoapRequest, cookie: &str, caller: &Caller<'_>) -> R {
    let removed = shared.sessions().remove(cookie);
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
    empty(req)
}

/// `CurrentTime`: the server clock.
pub(super) fn current_time(_shared: &Shared, req: &SoapRequest) -> R {
    let m = req.method.as_str();
    let mut r = Response::new(m);
    let mut t = String::with_capacity(40);
    write_rfc3339_nano(&mut t, Timestamp::now());
    r.text(&t);
    Ok(Reply::ok(r.finish()))
}

/// `SessionIsActive`.
pub(super) fn session_is_active(shared: &Shared, req: &SoapRequest) -> R {
    let m = req.method.as_str();
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

/// `TerminateSession`: ends other sessions, never the caller's.
pub(super) fn terminate_session(shared: &Shared, req: &SoapRequest, cookie: &str) -> R {
    let own_key = shared.sessions().get(cookie).map(|s| s.key.clone());
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
    empty(req)
}

/// `UserSession` for a logged-in session.
pub(super) fn user_session(session: &Session, peer: &str, locale: &str) -> Option<DataObject> {
    let user = session.user.as_deref()?;
    let idle = jiff::SignedDuration::try_from(session.last_active.elapsed()).unwrap_or_default();
    let last_active = Timestamp::now()
        .checked_sub(idle)
        .unwrap_or(session.login_time);
    Some(
        obj("UserSession")
            .f("key", s(&session.key))
            .f("userName", s(user))
            .f("fullName", s(user))
            .f("loginTime", Value::DateTime(session.login_time))
            .f("lastActiveTime", Value::DateTime(last_active))
            .f("locale", s(locale))
            .f("messageLocale", s(locale))
            .f("extensionSession", Value::Bool(false))
            .f("ipAddress", s(peer))
            .f("userAgent", s(&session.user_agent))
            .f("callCount", Value::Long(session.call_count))
            .0,
    )
}
