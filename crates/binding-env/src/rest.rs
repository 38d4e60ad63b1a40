//! The vSphere Automation (vAPI) REST client: session login, keep-alive, re-login, logout and
//! generic JSON calls.
//!
//! Two API generations exist: `/api` (vSphere 7.0 U2 and later, bare JSON) and `/rest` (older,
//! every answer wrapped in `{"value": …}`, actions as `?~action=`). [`Flavor::Auto`] tries
//! `POST /api/session` first and falls back to `POST /rest/com/vmware/cis/session` when the
//! server does not serve it (404), the way upstream's Go client always uses `/rest`. Login sends
//! HTTP Basic auth and `vmware-use-header-authn: true`; the session id comes back in the body
//! and is then sent as `vmware-api-session-id`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, info, info_span, warn};
use vsphere_client::{Credentials, Endpoint, Secret};

/// The vAPI session header (`vmware-api-session-id`), for calls made without [`RestClient`].
pub const SESSION_HEADER: &str = "vmware-api-session-id";

/// Which REST API generation to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/api/...`: try it first, fall back to `/rest` when the server answers 404.
    Auto,
    /// `/api/...` (vSphere 7.0 U2+): bare JSON answers.
    Api,
    /// `/rest/...` (all vCenter versions since 6.5): `{"value": …}` answers.
    Rest,
}

/// REST client errors. None contains a password or session id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The URL was refused.
    #[error(transparent)]
    Url(#[from] vsphere_client::UrlError),
    /// A setting is invalid (CA bundle, HTTP client).
    #[error("invalid REST client configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// DNS, TCP, TLS or a dropped connection.
    #[error("cannot reach the vCenter REST API at {endpoint}: {detail}")]
    Connect {
        /// The base URL.
        endpoint: String,
        /// The cause chain.
        detail: String,
    },
    /// No answer in time.
    #[error("the vCenter REST API at {endpoint} did not answer within {after:?}")]
    Timeout {
        /// The base URL.
        endpoint: String,
        /// The timeout.
        after: Duration,
    },
    /// Login refused (401).
    #[error("vCenter at {endpoint} refused the REST login for user {username:?}{hint}")]
    BadCredentials {
        /// The base URL.
        endpoint: String,
        /// The user name tried.
        username: String,
        /// The trailing-newline hint, when it applies.
        hint: String,
    },
    /// Neither `/api/session` nor `/rest/com/vmware/cis/session` exists.
    #[error(
        "{endpoint} serves no vSphere REST session endpoint (/api/session or /rest/com/vmware/cis/session): is it a vCenter (ESXi has no REST API)?"
    )]
    NoRestApi {
        /// The base URL.
        endpoint: String,
    },
    /// A non-success answer.
    #[error("{method} {path} answered HTTP {status}: {snippet}")]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The path.
        path: String,
        /// The status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// The body was not the JSON expected.
    #[error("{method} {path}: unexpected answer: {detail}")]
    Decode {
        /// The HTTP method.
        method: &'static str,
        /// The path.
        path: String,
        /// Why.
        detail: String,
    },
    /// The answer is larger than [`RestClientBuilder::max_response_bytes`]; it was not read on.
    #[error("the vCenter REST API at {endpoint} answered more than the {limit}-byte limit")]
    ResponseTooLarge {
        /// The base URL.
        endpoint: String,
        /// The limit.
        limit: usize,
    },
}

impl RestError {
    /// Whether vCenter refused the credentials.
    pub fn is_bad_credentials(&self) -> bool {
        matches!(self, RestError::BadCredentials { .. })
    }
    /// HTTP status of a [`RestError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Settings for a [`RestClient`]; [`RestClientBuilder::connect`] logs in.
#[derive(Debug, Clone)]
pub struct RestClientBuilder {
    url: String,
    credentials: Option<Credentials>,
    insecure: bool,
    ca_bundle_pem: Option<Vec<u8>>,
    flavor: Flavor,
    keepalive: Option<Duration>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
}

impl RestClientBuilder {
    /// The credentials to log in with (else user info in the URL).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
    /// Skip TLS verification.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }
    /// Trust the CA certificates in this PEM bundle.
    pub fn ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundle_pem = Some(pem.into());
        self
    }
    /// Which API generation (default [`Flavor::Auto`]).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }
    /// Check the session this often (default 5 min, as upstream); `None` turns it off.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }
    /// Time allowed to connect (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Time allowed per request (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest answer read (default 64 MiB, as the SOAP client's); a larger one fails with
    /// [`RestError::ResponseTooLarge`] instead of filling memory.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Build the HTTP client and log in.
    pub async fn connect(self) -> Result<RestClient, RestError> {
        let (endpoint, url_credentials) = Endpoint::parse(&self.url)?;
        let credentials =
            self.credentials
                .or(url_credentials)
                .ok_or_else(|| RestError::Config {
                    reason: "no credentials (the REST API needs a session)".into(),
                })?;
        let mut base = endpoint.url().clone();
        base.set_path("");
        base.set_query(None);
        base.set_fragment(None);
        let base_str = base.as_str().trim_end_matches('/').to_owned();
        let tls =
            vsphere_client::transport::tls_config(self.insecure, self.ca_bundle_pem.as_deref())
                .map_err(|e| match e {
                    vsphere_client::Error::Config { reason } => RestError::Config { reason },
                    other => RestError::Config {
                        reason: other.to_string(),
                    },
                })?;
        let builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "vmware-sources-binding-env/",
                env!("CARGO_PKG_VERSION")
            ));
        let http = builder.build().map_err(|e| RestError::Config {
            reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
        })?;
        let inner = Arc::new(Inner {
            http,
            base: base_str,
            credentials,
            request_timeout: self.request_timeout,
            max_response_bytes: self.max_response_bytes,
            flavor: StdMutex::new(self.flavor),
            session: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            relogins: AtomicU64::new(0),
            keepalive: StdMutex::new(None),
        });
        let client = RestClient { inner };
        let span = info_span!("vcenter_rest_connect", endpoint = %client.inner.base);
        client.login().instrument(span).await?;
        if let Some(interval) = self.keepalive {
            client.start_keepalive(interval);
        }
        Ok(client)
    }
}

/// A logged-in vSphere REST client. Cheap to clone; clones share the session.
///
/// A call answered 401 (session expired or deleted on the server) logs in again once and is
/// retried; [`RestClient::relogins`] counts that.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    request_timeout: Duration,
    max_response_bytes: usize,
    flavor: StdMutex<Flavor>,
    session: tokio::sync::Mutex<Option<Secret>>,
    generation: AtomicU64,
    relogins: AtomicU64,
    keepalive: StdMutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut k) = self.keepalive.lock()
            && let Some(h) = k.take()
        {
            h.abort();
        }
    }
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.inner.base)
            .field("flavor", &self.flavor())
            .field("user", &self.inner.credentials.username)
            .finish()
    }
}

enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
}

impl RestClient {
    /// Settings for a REST client of the vCenter at `url` (the same URL as the SOAP client;
    /// its path is ignored).
    pub fn builder(url: impl Into<String>) -> RestClientBuilder {
        RestClientBuilder {
            url: url.into(),
            credentials: None,
            insecure: false,
            ca_bundle_pem: None,
            flavor: Flavor::Auto,
            keepalive: Some(Duration::from_secs(300)),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 64 << 20,
        }
    }

    /// `https://host[:port]`, the base all paths are relative to.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The API generation in use ([`Flavor::Api`] or [`Flavor::Rest`] once logged in).
    pub fn flavor(&self) -> Flavor {
        self.inner.flavor.lock().map(|f| *f).unwrap_or(Flavor::Rest)
    }

    /// How many times the client logged in again after losing its session.
    pub fn relogins(&self) -> u64 {
        self.inner.relogins.load(Ordering::Relaxed)
    }

    /// The current session id (a secret: `Debug` and `Display` redact it).
    pub async fn session_id(&self) -> Option<Secret> {
        self.inner.session.lock().await.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base, path)
    }

    fn send_error(&self, e: reqwest::Error) -> RestError {
        if e.is_timeout() {
            RestError::Timeout {
                endpoint: self.inner.base.clone(),
                after: self.inner.request_timeout,
            }
        } else {
            RestError::Connect {
                endpoint: self.inner.base.clone(),
                detail: error_chain(&e),
            }
        }
    }

    /// The answer's body, read up to the size limit.
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, RestError> {
        let limit = self.inner.max_response_bytes;
        let too_large = || RestError::ResponseTooLarge {
            endpoint: self.inner.base.clone(),
            limit,
        };
        if resp.content_length().is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.send_error(e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Log in (again), replacing the session. [`RestClientBuilder::connect`] calls it.
    pub async fn login(&self) -> Result<(), RestError> {
        let mut session = self.inner.session.lock().await;
        self.login_locked(&mut session).await
    }

    async fn login_locked(&self, session: &mut Option<Secret>) -> Result<(), RestError> {
        let flavor = self.flavor();
        let id = match flavor {
            Flavor::Api => self.login_at(Flavor::Api).await?,
            Flavor::Rest => self.login_at(Flavor::Rest).await?,
            Flavor::Auto => match self.login_at(Flavor::Api).await {
                Ok(id) => {
                    self.set_flavor(Flavor::Api);
                    id
                }
                // 404 where /api does not exist (vcsim, vCenter before 7.0 U2); other
                // refusals that are not about the credentials also mean "try /rest".
                Err(RestError::Status { status, .. }) if status != 401 && status != 403 => {
                    debug!(status, "POST /api/session refused; trying /rest");
                    let id = match self.login_at(Flavor::Rest).await {
                        Err(RestError::Status { status: 404, .. }) => {
                            return Err(RestError::NoRestApi {
                                endpoint: self.inner.base.clone(),
                            });
                        }
                        other => other?,
                    };
                    self.set_flavor(Flavor::Rest);
                    id
                }
                Err(e) => return Err(e),
            },
        };
        *session = Some(id);
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
        debug!(flavor = ?self.flavor(), user = %self.inner.credentials.username, "REST login");
        Ok(())
    }

    fn set_flavor(&self, flavor: Flavor) {
        if let Ok(mut f) = self.inner.flavor.lock() {
            *f = flavor;
        }
    }

    fn session_path(flavor: Flavor) -> &'static str {
        match flavor {
            Flavor::Api => "/api/session",
            _ => "/rest/com/vmware/cis/session",
        }
    }

    async fn login_at(&self, flavor: Flavor) -> Result<Secret, RestError> {
        let path = Self::session_path(flavor);
        let creds = &self.inner.credentials;
        let resp = self
            .inner
            .http
            .post(self.url(path))
            .basic_auth(&creds.username, Some(creds.password.expose()))
            .header("vmware-use-header-authn", "true")
            .send()
            .await
            .map_err(|e| self.send_error(e))?;
        let status = resp.status().as_u16();
        let body = self.read_body(resp).await?;
        if status == 401 || status == 403 {
            let hint = if creds.username.ends_with(['\n', '\r'])
                || creds.password.expose().ends_with(['\n', '\r'])
            {
                "; the user name or password ends with a newline, which is sent as part of it \
                 (remove it from the secret)"
            } else {
                ""
            };
            return Err(RestError::BadCredentials {
                endpoint: self.inner.base.clone(),
                username: creds.username.clone(),
                hint: hint.to_owned(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(RestError::Status {
                method: "POST",
                path: path.to_owned(),
                status,
                // The body of a failed login never holds a session id.
                snippet: snippet(&body),
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RestError::Decode {
                method: "POST",
                path: path.to_owned(),
                detail: format!("the session id is not JSON: {e}"),
            })?;
        let id = match (&value, flavor) {
            (serde_json::Value::String(s), _) => Some(s.clone()),
            (serde_json::Value::Object(o), _) => {
                o.get("value").and_then(|v| v.as_str()).map(str::to_owned)
            }
            _ => None,
        };
        id.filter(|s| !s.is_empty())
            .map(Secret::new)
            .ok_or(RestError::Decode {
                method: "POST",
                path: path.to_owned(),
                detail: "no session id in the answer".into(),
            })
    }

    /// Log out (deletes the session on the server); a session already gone counts as logged out.
    pub async fn logout(&self) -> Result<(), RestError> {
        let mut session = self.inner.session.lock().await;
        let Some(id) = session.take() else {
            return Ok(());
        };
        let path = Self::session_path(self.flavor());
        let resp = self
            .inner
            .http
            .delete(self.url(path))
            .header(SESSION_HEADER, id.expose())
            .send()
            .await
            .map_err(|e| self.send_error(e))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) || status == 401 {
            Ok(())
        } else {
            Err(RestError::Status {
                method: "DELETE",
                path: path.to_owned(),
                status,
                snippet: String::new(),
            })
        }
    }

    /// Information about the current session (the keep-alive call): `GET /api/session` or
    /// `POST /rest/com/vmware/cis/session?~action=get`, unwrapped.
    pub async fn session_info(&self) -> Result<serde_json::Value, RestError> {
        match self.flavor() {
            Flavor::Api => self.get("/api/session").await,
            _ => {
                let v: serde_json::Value = self
                    .post("/rest/com/vmware/cis/session?~action=get", None)
                    .await?;
                Ok(unwrap_value(v))
            }
        }
    }

    /// `GET path` (from the server root, e.g. `/rest/vcenter/vm` or `/api/vcenter/vm`), the
    /// JSON answer as `T` (as sent: `/rest` answers keep their `{"value": …}` wrapper).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        let bytes = self.call(reqwest::Method::GET, path, Body::None).await?;
        decode("GET", path, &bytes)
    }

    /// `POST path` with an optional JSON body; an empty answer decodes as JSON `null`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, RestError> {
        let body = body.map_or(Body::None, Body::Json);
        let bytes = self.call(reqwest::Method::POST, path, body).await?;
        decode("POST", path, &bytes)
    }

    /// `POST path` with any serialisable body.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RestError> {
        let value = serde_json::to_value(body).map_err(|e| RestError::Decode {
            method: "POST",
            path: path.to_owned(),
            detail: format!("cannot serialise the body: {e}"),
        })?;
        self.post(path, Some(&value)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), RestError> {
        self.call(reqwest::Method::DELETE, path, Body::None)
            .await
            .map(|_| ())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Vec<u8>, RestError> {
        let generation = self.inner.generation.load(Ordering::Relaxed);
        match self.call_once(&method, path, &body).await {
            Err(RestError::Status { status: 401, .. }) => {
                warn!(%method, path, "vCenter REST session lost; logging in again");
                self.relogin(generation).await?;
                self.call_once(&method, path, &body).await
            }
            other => other,
        }
    }

    async fn relogin(&self, seen_generation: u64) -> Result<(), RestError> {
        let mut session = self.inner.session.lock().await;
        if self.inner.generation.load(Ordering::Relaxed) != seen_generation {
            return Ok(());
        }
        self.login_locked(&mut session).await?;
        let n = self.inner.relogins.fetch_add(1, Ordering::Relaxed) + 1;
        info!(relogins = n, "logged in to the vCenter REST API again");
        Ok(())
    }

    async fn call_once(
        &self,
        method: &reqwest::Method,
        path: &str,
        body: &Body<'_>,
    ) -> Result<Vec<u8>, RestError> {
        let id = self.inner.session.lock().await.clone();
        let mut req = self.inner.http.request(method.clone(), self.url(path));
        if let Some(id) = id {
            req = req.header(SESSION_HEADER, id.expose());
        }
        if let Body::Json(v) = body {
            req = req.json(v);
        }
        let resp = req.send().await.map_err(|e| self.send_error(e))?;
        let status = resp.status().as_u16();
        let bytes = self.read_body(resp).await?;
        debug!(%method, path, status, bytes = bytes.len(), "REST call");
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(RestError::Status {
                method: method_name(method),
                path: path.to_owned(),
                status,
                snippet: snippet(&bytes),
            })
        }
    }

    fn start_keepalive(&self, interval: Duration) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let task = tokio::spawn(
            async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let Some(inner) = weak.upgrade() else { break };
                    let client = RestClient { inner };
                    match client.session_info().await {
                        Ok(_) => debug!("REST keep-alive"),
                        Err(e) => warn!(error = %e, "REST keep-alive failed"),
                    }
                }
            }
            .instrument(info_span!("vcenter_rest_keepalive")),
        );
        if let Ok(mut k) = self.inner.keepalive.lock() {
            *k = Some(task.abort_handle());
        }
    }
}

fn method_name(m: &reqwest::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        _ => "HTTP",
    }
}

fn decode<T: DeserializeOwned>(
    method: &'static str,
    path: &str,
    bytes: &[u8],
) -> Result<T, RestError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| RestError::Decode {
        method,
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// `{"value": x}` → `x` (the `/rest` wrapper); anything else unchanged.
pub(crate) fn unwrap_value(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(mut o) if o.len() == 1 && o.contains_key("value") => {
            o.remove("value").unwrap_or(serde_json::Value::Null)
        }
        other => other,
    }
}

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

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_rest_values() {
        assert_eq!(
            unwrap_value(serde_json::json!({"value": ["a"]})),
            serde_json::json!(["a"])
        );
        assert_eq!(
            unwrap_value(serde_json::json!({"value": 1, "x": 2})),
            serde_json::json!({"value": 1, "x": 2})
        );
    }

    /// A server whose every answer is `200 OK` with a body that never ends (chunked), or with
    /// a `content-length` far over the limit: the login fails at the limit, it does not read on.
    #[tokio::test]
    async fn answers_over_the_limit_fail_instead_of_filling_memory() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        for declared in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = tokio::spawn(async move {
                loop {
                    let (mut conn, _) = listener.accept().await.expect("accept");
                    tokio::spawn(async move {
                        let mut request = vec![0u8; 8192];
                        let _ = conn.read(&mut request).await;
                        let head: &[u8] = if declared {
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                        };
                        if conn.write_all(head).await.is_err() {
                            return;
                        }
                        let block = vec![b' '; 16 << 10];
                        loop {
                            let sent = if declared {
                                conn.write_all(&block).await
                            } else {
                                let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
                                chunk.extend_from_slice(&block);
                                chunk.extend_from_slice(b"\r\n");
                                conn.write_all(&chunk).await
                            };
                            if sent.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let connect = RestClient::builder(format!("http://{addr}/sdk"))
                .credentials(Credentials::new("user", "pass"))
                .flavor(Flavor::Api)
                .keepalive(None)
                .request_timeout(Duration::from_secs(600))
                .max_response_bytes(64 << 10)
                .connect();
            let result = tokio::time::timeout(Duration::from_secs(60), connect)
                .await
                .expect("the login read on past the limit");
            match result {
                Err(RestError::ResponseTooLarge { limit, .. }) => assert_eq!(limit, 65_536),
                other => panic!("declared length {declared}: {other:?}"),
            }
            server.abort();
        }
    }

    #[test]
    fn empty_answers_decode_as_null() {
        let v: serde_json::Value = decode("POST", "/x", b"").unwrap();
        assert!(v.is_null());
    }
}
