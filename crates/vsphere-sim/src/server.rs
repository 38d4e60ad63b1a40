//! The HTTP(S) server: accepts connections, applies the fault plan, dispatches SOAP calls, and
//! serves a small control API.
//!
//! Control API (plain text, no session needed), on the same port as `/sdk`:
//!
//! | request | effect |
//! |---|---|
//! | `POST /sim/fail?count=N&with=500\|503\|drop\|truncate[&method=M]` | the next N requests (of method M) fail |
//! | `POST /sim/every?n=N&with=…` | every Nth request fails (`n=0` stops) |
//! | `POST /sim/latency?ms=N` | add N ms before every answer |
//! | `POST /sim/expire-sessions` | every session is gone, as after the idle timeout |
//! | `POST /sim/terminate-session?key=K` | end one session (as `TerminateSession`) |
//! | `POST /sim/idle-timeout?secs=N` | sessions idle longer than N s expire |
//! | `POST /sim/generate?count=N` | append N generated events now |
//! | `POST /sim/rate?per-sec=R` | generate R events per second from now on |
//! | `POST /sim/clear` | forget queued failures and latency |
//! | `GET /sim/stats` | counts: events, sessions, requests, injected faults, history bytes |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::error::SimError;
use crate::faults::{Failure, Faults};
use crate::generate::EventMix;
use crate::inventory::Inventory;
use crate::methods::{Caller, dispatch};
use crate::soap::{Fault, parse_request};
use crate::state::{MAX_COLLECTORS, Settings, Shared};

/// Largest request body accepted.
const MAX_REQUEST: usize = 16 << 20;

/// How the simulator serves TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    Off,
    /// A self-signed certificate made at start for these names (DNS names or IP addresses).
    SelfSigned(Vec<String>),
    /// This certificate chain and private key (PEM).
    Pem {
        /// The certificate chain, leaf first.
        cert_pem: String,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key_pem: String,
    },
}

/// Settings for [`Simulator::start`].
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    listen: SocketAddr,
    username: String,
    password: String,
    tls: Tls,
    backlog: usize,
    backlog_span: Duration,
    rate: f64,
    seed: u64,
    idle_timeout: Duration,
    max_collectors: usize,
    login_events: bool,
    hosts: usize,
    vms: usize,
    first_key: i64,
    mix: EventMix,
    unknown_event_types: bool,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "administrator@vsphere.local".into(),
            password: "VMware1!".into(),
            tls: Tls::Off,
            backlog: 0,
            backlog_span: Duration::from_secs(3600),
            rate: 0.0,
            seed: 1,
            idle_timeout: Duration::from_secs(30 * 60),
            max_collectors: MAX_COLLECTORS,
            login_events: true,
            hosts: 3,
            vms: 8,
            first_key: 1,
            mix: EventMix::Realistic,
            unknown_event_types: false,
        }
    }
}

impl SimulatorBuilder {
    /// Listen here (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// The one user that may log in.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }
    /// TLS (default off).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }
    /// Start with this many generated events in the history.
    pub fn backlog(mut self, events: usize) -> Self {
        self.backlog = events;
        self
    }
    /// Spread the backlog's creation times over this span before the start (default 1 h).
    pub fn backlog_span(mut self, span: Duration) -> Self {
        self.backlog_span = span;
        self
    }
    /// Generate this many events per second (default 0: none).
    pub fn rate(mut self, per_second: f64) -> Self {
        self.rate = per_second.max(0.0);
        self
    }
    /// The seed of the generator (same seed, same events).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sessions idle longer than this are gone (default 30 min, vCenter's).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
    /// Event collectors allowed per session (default 32, vCenter's).
    pub fn max_collectors(mut self, n: usize) -> Self {
        self.max_collectors = n;
        self
    }
    /// Record `UserLoginSessionEvent`/`UserLogoutSessionEvent` for logins and logouts, as
    /// vCenter does (default on).
    pub fn login_events(mut self, on: bool) -> Self {
        self.login_events = on;
        self
    }
    /// Inventory size: hosts (1–8) and VMs (1–40); default 3 and 8.
    pub fn inventory(mut self, hosts: usize, vms: usize) -> Self {
        self.hosts = hosts;
        self.vms = vms;
        self
    }
    /// The key of the first event (default 1).
    pub fn first_key(mut self, key: i64) -> Self {
        self.first_key = key;
        self
    }

    /// Which events to generate (default: realistic).
    pub fn event_mix(mut self, mix: EventMix) -> Self {
        self.mix = mix;
        self
    }

    /// Also generate [`crate::UNKNOWN_EVENT_TYPE`], an event type no vSphere release has, with
    /// fields nobody knows (default off; realistic mix only). It tests how a client takes a
    /// newer vCenter's events; strict clients such as pyVmomi fail on it.
    pub fn unknown_event_types(mut self, on: bool) -> Self {
        self.unknown_event_types = on;
        self
    }

    /// Bind, fill the backlog and start serving on the current tokio runtime.
    pub async fn start(self) -> Result<Simulator, SimError> {
        vsphere_client::install_crypto_provider();
        if !self.rate.is_finite() {
            return Err(SimError::Config("the rate must be a finite number".into()));
        }
        let (acceptor, cert_pem) = match &self.tls {
            Tls::Off => (None, None),
            Tls::SelfSigned(names) => {
                let (a, pem) = crate::tls::self_signed(names)?;
                (Some(a), Some(pem))
            }
            Tls::Pem { cert_pem, key_pem } => (
                Some(crate::tls::from_pem(cert_pem, key_pem)?),
                Some(cert_pem.clone()),
            ),
        };
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: self.listen,
            source,
        })?;
        let inventory = Arc::new(Inventory::new(self.hosts, self.vms));
        let settings = Settings {
            username: self.username.clone(),
            password: self.password.clone(),
            idle_timeout: self.idle_timeout,
            max_collectors: self.max_collectors,
            login_events: self.login_events,
            tls: acceptor.is_some(),
            instance_uuid: crate::generate::uuid_from(self.seed ^ 0x1A57),
            unknown_event_types: self.unknown_event_types,
            release: crate::api::server_release(),
        };
        let shared = Arc::new(Shared::new(
            settings,
            inventory,
            self.seed,
            self.first_key,
            self.mix,
        ));
        shared.backlog(self.backlog, Timestamp::now(), self.backlog_span);
        let rate = Arc::new(AtomicU64::new(self.rate.to_bits()));
        let tasks = vec![
            tokio::spawn(accept_loop(
                listener,
                acceptor,
                shared.clone(),
                rate.clone(),
            ))
            .abort_handle(),
            tokio::spawn(rate_loop(shared.clone(), rate.clone())).abort_handle(),
            tokio::spawn(reaper(shared.clone())).abort_handle(),
        ];
        let scheme = if cert_pem.is_some() { "https" } else { "http" };
        let host = match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
            SocketAddr::V6(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            a => a.to_string(),
        };
        let url = format!("{scheme}://{host}/sdk");
        info!(%url, backlog = self.backlog, rate = self.rate, "vsphere-sim listening");
        Ok(Simulator {
            shared,
            addr,
            url,
            cert_pem,
            rate,
            tasks,
        })
    }
}

/// A running simulator. Dropping it stops the server and closes its connections.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    cert_pem: Option<String>,
    rate: Arc<AtomicU64>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("url", &self.url).finish()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Simulator {
    /// Settings.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// Start with the defaults (plain HTTP on a free port, empty history).
    pub async fn start() -> Result<Self, SimError> {
        Self::builder().start().await
    }

    /// The SDK URL, e.g. `http://127.0.0.1:41234/sdk`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The user name that may log in.
    pub fn username(&self) -> &str {
        &self.shared.settings.username
    }

    /// Its password.
    pub fn password(&self) -> &str {
        &self.shared.settings.password
    }

    /// The server certificate (PEM) when serving TLS: trust it as a CA bundle.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The fault plan: fail, drop, truncate, delay.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// `ServiceContent.about` as served: name, version, build, API release, instance UUID.
    pub fn about(&self) -> vsphere_client::DataObject {
        crate::methods::about(&self.shared)
    }

    /// The inventory events refer to.
    pub fn inventory(&self) -> &Inventory {
        &self.shared.inventory
    }

    /// End every session as if its idle timeout had passed.
    pub fn expire_sessions(&self) -> usize {
        self.shared.end_sessions(None)
    }

    /// End the session with this key (`UserSession.key`), as `TerminateSession` does.
    pub fn terminate_session(&self, key: &str) -> bool {
        self.shared.end_sessions(Some(key)) > 0
    }

    /// The keys of the logged-in sessions.
    pub fn session_keys(&self) -> Vec<String> {
        self.shared.session_keys()
    }

    /// The number of sessions, logged in or not.
    pub fn session_count(&self) -> usize {
        self.shared.sessions().len()
    }

    /// Append `n` generated events now; returns the first and last key.
    pub fn generate(&self, n: usize) -> Option<(i64, i64)> {
        self.shared.generate(n, Timestamp::now())
    }

    /// Append `n` generated events created at `at` (a microsecond apart), even if that is
    /// before the newest event (vCenter's clock stepped back); returns the first and last key.
    pub fn generate_at(&self, n: usize, at: Timestamp) -> Option<(i64, i64)> {
        self.shared.generate_at(n, at)
    }

    /// Change the generation rate (events per second).
    pub fn set_rate(&self, per_second: f64) {
        let r = if per_second.is_finite() {
            per_second.max(0.0)
        } else {
            0.0
        };
        self.rate.store(r.to_bits(), Ordering::Relaxed);
    }

    /// The number of events in the history.
    pub fn event_count(&self) -> usize {
        self.shared.history().entries.len()
    }

    /// The key the next event gets.
    pub fn next_key(&self) -> i64 {
        self.shared.history().next_key()
    }

    /// Bytes the history holds on the heap (entries and posted events).
    pub fn history_bytes(&self) -> usize {
        self.shared.history().heap_bytes()
    }

    /// SOAP requests served so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    rate: Arc<AtomicU64>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let rate = rate.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), rate.clone(), peer, req));
            let http = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                    Err(e) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => http.serve_connection(TokioIo::new(tcp), service).await,
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

async fn rate_loop(shared: Arc<Shared>, rate: Arc<AtomicU64>) {
    let tick = Duration::from_millis(10);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut carry = 0.0f64;
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let per_sec = f64::from_bits(rate.load(Ordering::Relaxed));
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        if per_sec <= 0.0 {
            carry = 0.0;
            continue;
        }
        carry += per_sec * dt;
        let n = carry.floor();
        carry -= n;
        if n >= 1.0 {
            shared.generate(n as usize, Timestamp::now());
        }
    }
}

async fn reaper(shared: Arc<Shared>) {
    loop {
        let every =
            (shared.idle_timeout() / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::time::sleep(every).await;
        let n = shared.reap_idle();
        if n > 0 {
            info!(sessions = n, "idle sessions expired");
        }
    }
}

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

fn session_cookie(req: &Request<Incoming>) -> Option<String> {
    for value in req.headers().get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(';') {
            if let Some((name, v)) = part.trim().split_once('=')
                && name.trim() == vsphere_client::transport::SESSION_COOKIE
            {
                return Some(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    None
}

async fn handle(
    shared: Arc<Shared>,
    rate: Arc<AtomicU64>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/sim/") {
        return Ok(control(&shared, &rate, &req));
    }
    if let Some(document) = api_document(&shared, &req, &path) {
        return Ok(document);
    }
    if path != "/sdk" && path != "/sdk/" && path != "/sdk/vimService" {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no such path {path}\n"),
        ));
    }
    if req.method() != http::Method::POST {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "POST SOAP envelopes to /sdk\n".into(),
        ));
    }
    let cookie = session_cookie(&req);
    let release = crate::api::requested(
        req.headers()
            .get("soapaction")
            .and_then(|v| v.to_str().ok()),
        shared.settings.release,
    );
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            debug!(%peer, error = %e, "could not read the request body");
            return Err(Dropped);
        }
    };
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let body = String::from_utf8_lossy(&body);
    let parsed = parse_request(&body);
    let method = parsed
        .as_ref()
        .map(|r| r.method.clone())
        .unwrap_or_default();
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let generate = shared.faults.take_generation(&method);
    if generate > 0 {
        info!(%method, events = generate, "fault injection: events generated before the answer");
        shared.generate(generate, Timestamp::now());
    }
    let failure = shared.faults.take(&method);
    match failure {
        Some(Failure::Drop) => {
            info!(%method, "fault injection: dropping the connection");
            return Err(Dropped);
        }
        Some(Failure::Unavailable) => {
            info!(%method, "fault injection: HTTP 503");
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/html",
                "<html><head><title>503 Service Unavailable</title></head><body><h1>503 Service Unavailable</h1><p>vsphere-sim: injected fault</p></body></html>".into(),
            ));
        }
        Some(Failure::SoapFault) => {
            info!(%method, "fault injection: SOAP fault");
            let fault = Fault::new(
                "SystemError",
                "A general system error occurred: injected by vsphere-sim",
            )
            .field(
                "reason",
                vsphere_client::Value::String("injected by vsphere-sim".into()),
            );
            return Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/xml; charset=utf-8",
                fault.envelope(),
            ));
        }
        Some(Failure::Truncate | Failure::DropAfter | Failure::Stall) | None => {}
    }
    let peer_ip = peer.ip().to_string();
    let caller = Caller {
        cookie: cookie.as_deref(),
        peer: &peer_ip,
        user_agent: &user_agent,
        release,
    };
    let reply = dispatch(&shared, parsed, &body, &caller).await;
    match failure {
        Some(Failure::DropAfter) => {
            info!(%method, "fault injection: answer lost after the request was carried out");
            return Err(Dropped);
        }
        Some(Failure::Stall) => {
            let hold = shared.faults.stall();
            info!(%method, hold_ms = hold.as_millis() as u64, "fault injection: answer held after the request was carried out");
            tokio::time::sleep(hold).await;
        }
        _ => {}
    }
    let mut out = reply.body;
    if failure == Some(Failure::Truncate) {
        let mut cut = out.len() / 2;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        info!(%method, bytes = cut, "fault injection: truncated body");
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = text(status, "text/xml; charset=utf-8", out);
    if let Some(c) = reply.set_cookie
        && let Ok(v) = header::HeaderValue::from_str(&c)
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The documents vCenter serves next to `/sdk` for clients to pick an API release:
/// `vimServiceVersions.xml` and `vimService.wsdl` (see [`crate::api`]).
fn api_document(
    shared: &Shared,
    req: &Request<Incoming>,
    path: &str,
) -> Option<Response<Full<Bytes>>> {
    let body = match path {
        "/sdk/vimServiceVersions.xml" => crate::api::service_versions_xml(shared.settings.release),
        "/sdk/vimService.wsdl" => {
            let scheme = if shared.settings.tls { "https" } else { "http" };
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            crate::api::vim_service_wsdl(&format!("{scheme}://{host}/sdk"))
        }
        _ => return None,
    };
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return Some(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            format!("GET {path}\n"),
        ));
    }
    Some(text(StatusCode::OK, "text/xml; charset=utf-8", body))
}

fn control(shared: &Shared, rate: &AtomicU64, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let num = |k: &str| query.get(k).and_then(|v| v.parse::<u64>().ok());
    let with = || -> Result<Failure, String> {
        query
            .get("with")
            .map(String::as_str)
            .unwrap_or("500")
            .parse()
    };
    let ok = |msg: String| text(StatusCode::OK, "text/plain", msg + "\n");
    let bad = |msg: String| text(StatusCode::BAD_REQUEST, "text/plain", msg + "\n");
    let path = req.uri().path();
    if path == "/sim/stats" {
        let h = shared.history();
        return ok(format!(
            "events {}\nnext_key {}\nhistory_bytes {}\nsessions {}\nrequests {}\ninjected {}",
            h.entries.len(),
            h.next_key(),
            h.heap_bytes(),
            shared.sessions().len(),
            shared.requests.load(Ordering::Relaxed),
            shared.faults.injected()
        ));
    }
    if req.method() != http::Method::POST {
        return bad(format!("POST to {path}"));
    }
    match path {
        "/sim/fail" => match with() {
            Ok(f) => {
                let n = num("count").unwrap_or(1).min(u64::from(u32::MAX)) as u32;
                match query.get("method") {
                    Some(m) => shared.faults.fail_next_method(m, n, f),
                    None => shared.faults.fail_next(n, f),
                }
                ok(format!("the next {n} requests fail: {f:?}"))
            }
            Err(e) => bad(e),
        },
        "/sim/every" => match with() {
            Ok(f) => {
                let n = num("n").unwrap_or(0);
                shared.faults.fail_every(n, f);
                ok(format!("every {n}th request fails: {f:?}"))
            }
            Err(e) => bad(e),
        },
        "/sim/latency" => {
            let ms = num("ms").unwrap_or(0);
            shared.faults.set_latency(Duration::from_millis(ms));
            ok(format!("latency {ms} ms"))
        }
        "/sim/expire-sessions" => ok(format!("{} sessions expired", shared.end_sessions(None))),
        "/sim/terminate-session" => match query.get("key") {
            Some(k) => ok(format!("{} sessions ended", shared.end_sessions(Some(k)))),
            None => bad("key= is required".into()),
        },
        "/sim/idle-timeout" => {
            let secs = num("secs");
            shared
                .faults
                .set_idle_timeout(secs.map(Duration::from_secs));
            ok(format!("idle timeout {secs:?} s"))
        }
        "/sim/generate" => {
            let n = num("count").unwrap_or(1).min(10_000_000) as usize;
            match shared.generate(n, Timestamp::now()) {
                Some((a, b)) => ok(format!("generated keys {a}..={b}")),
                None => ok("generated nothing".into()),
            }
        }
        "/sim/rate" => {
            let r = query
                .get("per-sec")
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|r| r.is_finite() && *r >= 0.0)
                .unwrap_or(0.0);
            rate.store(r.to_bits(), Ordering::Relaxed);
            ok(format!("rate {r} events/s"))
        }
        "/sim/clear" => {
            shared.faults.clear();
            ok("fault plan cleared".into())
        }
        other => bad(format!("unknown control path {other}")),
    }
}
