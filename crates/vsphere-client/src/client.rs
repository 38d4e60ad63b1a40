//! The SOAP client: connection, session (login, keep-alive, re-login) and the call path every
//! method goes through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use tracing::{Instrument, debug, info, info_span, warn};

use crate::catalogue::Kind;
use crate::decode::{Body, decode_body, type_index};
use crate::endpoint::{Credentials, Endpoint};
use crate::error::Error;
use crate::model::{DataObject, MoRef, Value};
use crate::request::Request;
use crate::time::DateTime;
use crate::transport::{RawResponse, Transport, TransportConfig};

/// The SOAP namespace of the vSphere API.
pub const VIM25: &str = "urn:vim25";

/// How to pick the API version sent in `SOAPAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersion {
    /// The version the server reports in `ServiceContent.about.apiVersion` (newest fields).
    Server,
    /// A fixed version, e.g. `7.0` (what the Go adapter sends).
    Fixed(String),
}

/// Settings for a [`Client`]: start with [`Client::builder`], finish with
/// [`ClientBuilder::connect`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    credentials: Option<Credentials>,
    transport: TransportConfig,
    keepalive: Option<Duration>,
    api_version: ApiVersion,
}

impl ClientBuilder {
    /// Log in with these credentials (instead of user info in the URL).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Skip TLS certificate verification.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.transport.insecure = insecure;
        self
    }

    /// Trust the CA certificates in this PEM bundle (in addition to the system's).
    pub fn ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.transport.ca_bundle_pem = Some(pem.into());
        self
    }

    /// Trust the CA certificates in this PEM file.
    pub fn ca_bundle_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| Error::Config {
            reason: format!("cannot read the CA bundle {}: {e}", path.display()),
        })?;
        Ok(self.ca_bundle_pem(pem))
    }

    /// Time allowed to connect (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Time allowed for a request (default 120 s; long polls add their wait on top).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.transport.request_timeout = timeout;
        self
    }

    /// Largest response accepted (default 64 MiB).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.transport.max_response_bytes = limit;
        self
    }

    /// Call `CurrentTime` this often to keep the session alive (default 5 min, as the Go
    /// adapter); `None` turns it off.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// The API version for `SOAPAction` (default: the server's).
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// Connect: `RetrieveServiceContent`, then `Login` when there are credentials.
    pub async fn connect(self) -> Result<Client, Error> {
        let (endpoint, url_credentials) = Endpoint::parse(&self.url)?;
        let credentials = self.credentials.or(url_credentials);
        let span = info_span!("vcenter_connect", endpoint = %endpoint);
        async move {
            let transport = Transport::new(endpoint, self.transport)?;
            let inner = Arc::new(Inner {
                transport,
                credentials,
                soap_action: StdMutex::new(format!("{VIM25}/7.0")),
                content: StdMutex::new(None),
                session: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                relogins: AtomicU64::new(0),
                keepalive: StdMutex::new(None),
            });
            let client = Client { inner };
            let content = client.retrieve_service_content().await?;
            if let ApiVersion::Fixed(v) = &self.api_version {
                client.set_soap_action(format!("{VIM25}/{v}"));
            } else if !content.about.api_version.is_empty() {
                client.set_soap_action(format!("{VIM25}/{}", content.about.api_version));
            }
            if let Ok(mut c) = client.inner.content.lock() {
                *c = Some(Arc::new(content));
            }
            if client.inner.credentials.is_some() {
                client.login().await?;
            }
            if let Some(interval) = self.keepalive {
                client.start_keepalive(interval);
            }
            Ok(client)
        }
        .instrument(span)
        .await
    }
}

/// The managed objects and facts from `RetrieveServiceContent`.
#[derive(Debug, Clone)]
pub struct ServiceContent {
    /// The root folder (`group-d1` on vCenter).
    pub root_folder: MoRef,
    /// The session's default property collector.
    pub property_collector: MoRef,
    /// The view manager (container views for inventory listings).
    pub view_manager: Option<MoRef>,
    /// The session manager.
    pub session_manager: Option<MoRef>,
    /// The event manager.
    pub event_manager: Option<MoRef>,
    /// `about`: product and API version.
    pub about: About,
    /// The whole decoded object.
    pub raw: DataObject,
}

/// `ServiceContent.about`.
#[derive(Debug, Clone, Default)]
pub struct About {
    /// e.g. `VMware vCenter Server 8.0.3 build-...`.
    pub full_name: String,
    /// e.g. `8.0.3.0` (the CloudEvent extension `vsphereapiversion`).
    pub api_version: String,
    /// `VirtualCenter` or `HostAgent`.
    pub api_type: String,
    /// The vCenter instance UUID.
    pub instance_uuid: String,
}

/// The logged-in session (`UserSession`).
#[derive(Debug, Clone)]
pub struct UserSession {
    /// The session key (not the cookie).
    pub key: String,
    /// The user name as vCenter knows it.
    pub user_name: String,
}

/// A vCenter SOAP client. Cheap to clone; clones share the session.
///
/// Every call that fails with `NotAuthenticated` logs in again once and is retried, so an
/// expired or terminated session heals by itself (counted by [`Client::relogins`]). Objects that
/// belong to a session, such as event collectors, do not survive that; their owners recreate them.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    credentials: Option<Credentials>,
    soap_action: StdMutex<String>,
    content: StdMutex<Option<Arc<ServiceContent>>>,
    /// The current session; the lock also serialises logins.
    session: tokio::sync::Mutex<Option<UserSession>>,
    /// Bumped on each successful login.
    generation: AtomicU64,
    relogins: AtomicU64,
    keepalive: StdMutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut k) = self.keepalive.lock()
            && let Some(handle) = k.take()
        {
            handle.abort();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", self.endpoint())
            .field("logged_in", &self.inner.transport.has_cookie())
            .finish()
    }
}

impl Client {
    /// Settings for a client of the vCenter at `url` (parsed like govmomi's `soap.ParseURL`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            credentials: None,
            transport: TransportConfig::default(),
            keepalive: Some(Duration::from_secs(300)),
            api_version: ApiVersion::Server,
        }
    }

    /// The SDK endpoint (no user info): the CloudEvent `source`.
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.transport.endpoint()
    }

    /// What `RetrieveServiceContent` returned.
    pub fn service_content(&self) -> Arc<ServiceContent> {
        match self.inner.content.lock().ok().and_then(|c| c.clone()) {
            Some(c) => c,
            // `connect` sets it before handing out the client.
            None => Arc::new(ServiceContent {
                root_folder: MoRef::new("Folder", "group-d1"),
                property_collector: MoRef::new("PropertyCollector", "propertyCollector"),
                view_manager: None,
                session_manager: None,
                event_manager: None,
                about: About::default(),
                raw: DataObject::new(crate::model::known_type("ServiceContent")),
            }),
        }
    }

    /// How many times the client logged in again after losing its session.
    pub fn relogins(&self) -> u64 {
        self.inner.relogins.load(Ordering::Relaxed)
    }

    /// The number of successful logins so far; changes when the session is replaced, so
    /// holders of session-bound objects can tell theirs are gone.
    pub fn session_generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Relaxed)
    }

    /// The current session, if logged in.
    pub async fn user_session(&self) -> Option<UserSession> {
        self.inner.session.lock().await.clone()
    }

    fn set_soap_action(&self, action: String) {
        if let Ok(mut a) = self.inner.soap_action.lock() {
            *a = action;
        }
    }

    fn soap_action(&self) -> String {
        self.inner
            .soap_action
            .lock()
            .map(|a| a.clone())
            .unwrap_or_else(|_| format!("{VIM25}/7.0"))
    }

    // ---- the call path -------------------------------------------------------------------

    /// Send a request and decode its `returnval`s as `expected`, logging in again once if the
    /// session was lost.
    pub async fn invoke(
        &self,
        request: Request,
        expected: Option<Kind>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, Error> {
        let method = request.method();
        let resp = self.invoke_raw(request, timeout).await?;
        self.decode_answer(method, &resp, expected)
    }

    /// Send a request and return the body of its `200 OK` answer undecoded, logging in again
    /// once if the session was lost; other answers (SOAP faults, HTTP errors) are errors. For
    /// callers that decode the body themselves (a page of events read leniently).
    pub(crate) async fn invoke_raw(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error> {
        let method = request.method();
        let body = request.finish();
        let generation = self.session_generation();
        let first = self.exchange(method, body.clone(), timeout).await;
        match first {
            Err(e)
                if e.is_session_lost()
                    && self.inner.credentials.is_some()
                    && !matches!(method, "Login" | "Logout" | "RetrieveServiceContent") =>
            {
                warn!(method, error = %e, "vCenter session lost; logging in again");
                self.relogin(generation).await?;
                self.exchange(method, body, timeout).await
            }
            other => other,
        }
    }

    /// One POST: the body of a `200 OK` answer, or the error the answer means.
    async fn exchange(
        &self,
        method: &'static str,
        body: String,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error> {
        let started = Instant::now();
        let resp = self
            .inner
            .transport
            .post(&self.soap_action(), body, timeout)
            .await?;
        debug!(
            method,
            status = resp.status,
            bytes = resp.body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SOAP call"
        );
        if resp.status == 200 {
            return Ok(resp);
        }
        if resp.status != 500 {
            return Err(Error::Http {
                endpoint: self.endpoint().to_string(),
                status: resp.status,
                snippet: snippet(&resp.body),
            });
        }
        // A 500 carries a SOAP fault.
        match self.decode_answer(method, &resp, None) {
            Err(e) => Err(e),
            Ok(_) => Err(Error::Http {
                endpoint: self.endpoint().to_string(),
                status: resp.status,
                snippet: snippet(&resp.body),
            }),
        }
    }

    /// Decode an answer's body: its `returnval`s as `expected`, or the fault it carries.
    fn decode_answer(
        &self,
        method: &'static str,
        resp: &RawResponse,
        expected: Option<Kind>,
    ) -> Result<Vec<Value>, Error> {
        let (status, body) = (resp.status, resp.body.as_slice());
        match decode_body(body, expected) {
            Ok(Body::Return(values)) => Ok(values),
            Ok(Body::Fault(fault)) => Err(Error::Fault {
                method,
                fault: Box::new(fault),
            }),
            Err(source) => {
                let looks_like_xml = resp.content_type.contains("xml")
                    || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
                if status == 200 && looks_like_xml {
                    Err(Error::Decode { method, source })
                } else {
                    Err(Error::Http {
                        endpoint: self.endpoint().to_string(),
                        status,
                        snippet: snippet(body),
                    })
                }
            }
        }
    }

    async fn relogin(&self, seen_generation: u64) -> Result<(), Error> {
        let mut session = self.inner.session.lock().await;
        if self.session_generation() != seen_generation {
            // Another task logged in meanwhile.
            return Ok(());
        }
        let user = self.login_locked(&mut session).await?;
        let n = self.inner.relogins.fetch_add(1, Ordering::Relaxed) + 1;
        info!(relogins = n, user = %user.user_name, "logged in to vCenter again");
        Ok(())
    }

    // ---- session -------------------------------------------------------------------------

    async fn retrieve_service_content(&self) -> Result<ServiceContent, Error> {
        let req = Request::new(
            "RetrieveServiceContent",
            &MoRef::new("ServiceInstance", "ServiceInstance"),
        );
        let values = self
            .invoke(req, Some(Kind::Data(type_index("ServiceContent"))), None)
            .await?;
        let raw = single_object("RetrieveServiceContent", values)?;
        let moref = |name: &str| raw.get(name).and_then(Value::as_moref).cloned();
        let about = raw.get_object("about");
        let about_str = |name: &str| {
            about
                .and_then(|a| a.get_str(name))
                .unwrap_or_default()
                .to_owned()
        };
        Ok(ServiceContent {
            root_folder: moref("rootFolder").ok_or_else(|| Error::Unexpected {
                method: "RetrieveServiceContent",
                detail: "no rootFolder".into(),
            })?,
            property_collector: moref("propertyCollector").ok_or_else(|| Error::Unexpected {
                method: "RetrieveServiceContent",
                detail: "no propertyCollector".into(),
            })?,
            view_manager: moref("viewManager"),
            session_manager: moref("sessionManager"),
            event_manager: moref("eventManager"),
            about: About {
                full_name: about_str("fullName"),
                api_version: about_str("apiVersion"),
                api_type: about_str("apiType"),
                instance_uuid: about_str("instanceUuid"),
            },
            raw,
        })
    }

    fn session_manager(&self, method: &'static str) -> Result<MoRef, Error> {
        self.service_content()
            .session_manager
            .clone()
            .ok_or(Error::Unexpected {
                method,
                detail: "the server has no SessionManager".into(),
            })
    }

    /// `Login` with the client's credentials (locale `en_US`, as govmomi).
    pub async fn login(&self) -> Result<UserSession, Error> {
        let mut session = self.inner.session.lock().await;
        self.login_locked(&mut session).await
    }

    async fn login_locked(&self, session: &mut Option<UserSession>) -> Result<UserSession, Error> {
        let creds = self
            .inner
            .credentials
            .as_ref()
            .ok_or(Error::NoCredentials { method: "Login" })?;
        let mut req = Request::new("Login", &self.session_manager("Login")?);
        req.text("userName", &creds.username)
            .text("password", creds.password.expose())
            .text("locale", "en_US");
        // Log in on the session the server already gave us (its cookie came with
        // RetrieveServiceContent); clearing it would leave an orphan session behind.
        let expected = Some(Kind::Data(type_index("UserSession")));
        let answer = self
            .exchange("Login", req.finish(), None)
            .await
            .and_then(|resp| self.decode_answer("Login", &resp, expected));
        let values = match answer {
            Ok(v) => v,
            Err(Error::Fault { fault, .. }) if fault.is_bad_credentials() => {
                let hint = if creds.username.ends_with(['\n', '\r'])
                    || creds.password.expose().ends_with(['\n', '\r'])
                {
                    "; the user name or password ends with a newline, which is sent as part of it \
                     (remove it from the secret)"
                } else {
                    ""
                };
                return Err(Error::BadCredentials {
                    endpoint: self.endpoint().to_string(),
                    username: creds.username.clone(),
                    fault,
                    hint: hint.to_owned(),
                });
            }
            Err(e) => return Err(e),
        };
        let obj = single_object("Login", values)?;
        let user = UserSession {
            key: obj.get_str("key").unwrap_or_default().to_owned(),
            user_name: obj.get_str("userName").unwrap_or_default().to_owned(),
        };
        *session = Some(user.clone());
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
        debug!(user = %user.user_name, "logged in to vCenter");
        Ok(user)
    }

    /// `Logout`; a session that is already gone counts as logged out.
    pub async fn logout(&self) -> Result<(), Error> {
        let mut session = self.inner.session.lock().await;
        let req = Request::new("Logout", &self.session_manager("Logout")?);
        let result = self.exchange("Logout", req.finish(), None).await;
        *session = None;
        self.inner.transport.clear_cookie();
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_session_lost() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `CurrentTime`: vCenter's clock (use it, never the local clock, for event-time math).
    pub async fn current_time(&self) -> Result<DateTime, Error> {
        let req = Request::new(
            "CurrentTime",
            &MoRef::new("ServiceInstance", "ServiceInstance"),
        );
        let values = self.invoke(req, Some(Kind::DateTime), None).await?;
        match values.first() {
            Some(Value::DateTime(t)) => Ok(*t),
            other => Err(Error::Unexpected {
                method: "CurrentTime",
                detail: format!("expected a dateTime, got {other:?}"),
            }),
        }
    }

    /// `SessionIsActive` for this client's own session.
    pub async fn session_is_active(&self) -> Result<bool, Error> {
        let Some(user) = self.user_session().await else {
            return Ok(false);
        };
        let mut req = Request::new("SessionIsActive", &self.session_manager("SessionIsActive")?);
        req.text("sessionID", &user.key)
            .text("userName", &user.user_name);
        let values = self.invoke(req, Some(Kind::Bool), None).await?;
        Ok(matches!(values.first(), Some(Value::Bool(true))))
    }

    /// `TerminateSession` of the sessions with these keys (tests and tools).
    pub async fn terminate_sessions(&self, keys: &[String]) -> Result<(), Error> {
        let mut req = Request::new(
            "TerminateSession",
            &self.session_manager("TerminateSession")?,
        );
        for k in keys {
            req.text("sessionId", k);
        }
        self.invoke(req, None, None).await.map(|_| ())
    }

    fn start_keepalive(&self, interval: Duration) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let task = tokio::spawn(
            async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let Some(inner) = weak.upgrade() else { break };
                    let client = Client { inner };
                    match client.current_time().await {
                        Ok(t) => debug!(vcenter_time = %t, "SOAP keep-alive"),
                        Err(e) => warn!(error = %e, "SOAP keep-alive failed"),
                    }
                }
            }
            .instrument(info_span!("vcenter_keepalive")),
        );
        if let Ok(mut k) = self.inner.keepalive.lock() {
            *k = Some(task.abort_handle());
        }
    }
}

/// The first 200 characters of a non-SOAP body, whitespace folded.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let folded: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = folded.chars().take(200).collect();
    if folded.chars().count() > 200 {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

pub(crate) fn single_object(method: &'static str, values: Vec<Value>) -> Result<DataObject, Error> {
    match values.into_iter().next() {
        Some(Value::Object(o)) => Ok(*o),
        other => Err(Error::Unexpected {
            method,
            detail: format!("expected an object, got {other:?}"),
        }),
    }
}
