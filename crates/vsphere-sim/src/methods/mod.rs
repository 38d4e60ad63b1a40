//! The SOAP methods: one function per call, vCenter's semantics, grouped by what they act on.
//!
//! [`dispatch`] routes a request: the calls that need no session first, then (after the
//! session check in [`session`]) one function per method in [`session`], [`events`] (event
//! history collectors), [`views`] (property collectors, filters, container views, waiting for
//! updates) and [`properties`] (`RetrieveProperties`, `Fetch`).

use std::sync::Arc;

use tracing::debug;
use vsphere_client::Value;

use crate::generate::s;
use crate::soap::{Fault, RequestError, SoapRequest};
use crate::state::Shared;

mod content;
mod events;
mod properties;
mod reply;
mod session;
mod views;

pub(crate) use content::about;
pub(crate) use reply::{Caller, R, Reply};

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
        "RetrieveServiceContent" => session::retrieve_service_content(shared, caller),
        "Login" => session::login(shared, &req, caller),
        "WaitForUpdatesEx" => views::wait_for_updates(shared, &req, caller).await,
        "Fetch" if properties::fetch_needs_no_session(&req) => {
            properties::fetch(shared, &req, caller.cookie.unwrap_or_default(), caller)
        }
        _ => with_session(shared, &req, body, caller),
    };
    result.unwrap_or_else(|f| Reply::fault(&f))
}

/// A method that needs a logged-in session.
fn with_session(shared: &Arc<Shared>, req: &SoapRequest, body: &str, caller: &Caller<'_>) -> R {
    let cookie = session::authenticate(shared, req, caller)?;
    let cookie = cookie.as_str();
    match req.method.as_str() {
        "Logout" => session::logout(shared, req, cookie, caller),
        "CurrentTime" => session::current_time(shared, req),
        "SessionIsActive" => session::session_is_active(shared, req),
        "TerminateSession" => session::terminate_session(shared, req, cookie),
        "CreateCollectorForEvents" => events::create_collector(shared, req, cookie),
        "ReadNextEvents" | "ReadPreviousEvents" => {
            events::read_events(shared, req, cookie, caller.release)
        }
        "SetCollectorPageSize" => events::set_collector_page_size(shared, req, cookie),
        "RewindCollector" => events::rewind_collector(shared, req, cookie),
        "ResetCollector" => events::reset_collector(shared, req, cookie),
        "DestroyCollector" => events::destroy_collector(shared, req, cookie),
        "PostEvent" => events::post_event(shared, req, body, cookie),
        "LogUserEvent" => events::log_user_event(shared, req, cookie),
        "CreatePropertyCollector" => views::create_property_collector(shared, req, cookie),
        "DestroyPropertyCollector" => views::destroy_property_collector(shared, req, cookie),
        "CreateFilter" => views::create_filter(shared, req, cookie),
        "DestroyPropertyFilter" => views::destroy_property_filter(shared, req, cookie),
        "CreateContainerView" => views::create_container_view(shared, req, cookie),
        "DestroyView" => views::destroy_view(shared, req, cookie),
        "Fetch" => properties::fetch(shared, req, cookie, caller),
        "RetrievePropertiesEx" | "RetrieveProperties" => {
            properties::retrieve_properties(shared, req, cookie, caller)
        }
        other => Err(Fault::new(
            "MethodNotFound",
            format!("Unable to resolve WSDL method name {other}"),
        )
        .field("receiver", Value::MoRef(req.this.clone()))
        .field("method", s(other))),
    }
}
