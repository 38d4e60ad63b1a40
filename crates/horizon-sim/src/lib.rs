//! A VMware Horizon REST API simulator for tests and demos.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = horizon_sim::Simulator::builder()
//!     .rate(5.0)                                   // 5 audit events per second
//!     .access_token_lifetime(std::time::Duration::from_secs(2))
//!     .start()
//!     .await?;
//! println!("Horizon at {} (domain {}, user {})", sim.url(), sim.domain(), sim.username());
//! sim.add_events_at(1_700_000_000_123, 3);         // three events in one millisecond
//! # Ok(()) }
//! ```
//!
//! Quickstart: `cargo run -p horizon-sim -- --rate 5` serves a simulated Horizon on
//! `http://127.0.0.1:8080` (domain `corp`, user `administrator`, password `VMware1!`);
//! `cargo run -p adapter-bin --bin horizon-adapter -- --simulate` runs the adapter against a
//! built-in one and prints CloudEvents.
//!
//! Behaviour (as VMware documents Horizon's REST API):
//! - `POST /rest/login` `{"domain","username","password"}` → `{"access_token","refresh_token"}`
//!   (401 for wrong credentials); `POST /rest/refresh` `{"refresh_token"}` → `{"access_token"}`,
//!   400 when the refresh token expired or is unknown; `POST /rest/logout`, 400 likewise.
//! - Access and refresh tokens expire after configurable lifetimes; an expired or unknown
//!   bearer gets 401.
//! - `GET /rest/external/v1/audit-events`: `filter` (Horizon's filter JSON: `And` and `Or` of
//!   `filters`, `Equals` on `id`, `type`, `module`, `severity`, `user_id`, `machine_id`,
//!   `machine_dns_name`, `desktop_pool_name`, `application_pool_name` (exact values), `Between`
//!   on `time`, inclusive, in milliseconds; anything else is a 400, and with
//!   [`Builder::time_filter_only`] everything but `Between` on `time` is, as a Horizon that
//!   filters on time alone would answer), `page` (from 1) and `size` (1 to 1000, else 400;
//!   without them, the first 10), newest first, header `HAS_MORE_RECORDS: true` when more pages
//!   follow. [`Simulator::last_filter`] is the filter of the latest request.
//!   [`Simulator::fail_next_with`] scripts 409 (or other) answers; [`Simulator::break_pages`]
//!   breaks the next answers the way networks do ([`PageFault`]: cut in half, the connection
//!   dropped mid-body, or held past the client's timeout).
//! - Events: generated at a rate (several may share a millisecond), ids not ordered by time.

mod tls;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

/// How a page answer breaks (see [`Simulator::break_pages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFault {
    /// `200 OK` with the JSON cut in half.
    Truncate,
    /// Half the body, then the connection is dropped.
    Drop,
    /// The answer is held this long (past the client's timeout).
    Stall(Duration),
    /// `200 OK` with the page's JSON padded with whitespace to this many bytes, sent in chunks
    /// without a `content-length` (a proxy or server gone wrong; the JSON itself is valid).
    Oversized(usize),
}

/// One audit event as the simulator serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimEvent {
    /// Id (not ordered by time).
    pub id: i64,
    /// Unix milliseconds.
    pub time: i64,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Severity.
    pub severity: String,
    /// Module.
    pub module: String,
    /// Message.
    pub message: String,
    /// Machine DNS name.
    pub machine_dns_name: String,
    /// User SID.
    pub user_id: String,
}

/// Counters tests can look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Full logins.
    pub logins: u64,
    /// Refreshes answered with a token.
    pub refreshes: u64,
    /// 401 answers on audit events.
    pub unauthorized: u64,
    /// Audit-event requests.
    pub event_requests: u64,
    /// Logouts.
    pub logouts: u64,
}

struct State_ {
    domain: String,
    username: String,
    password: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, Instant>,
    next_token: u64,
    /// Sorted by insertion; served newest first by time.
    events: Vec<SimEvent>,
    next_seq: i64,
    fail_next: VecDeque<u16>,
    broken_pages: VecDeque<PageFault>,
    stats: Stats,
    time_filter_only: bool,
    last_filter: Option<String>,
    /// Events served with a record no client model decodes (see `corrupt_event`).
    corrupt: std::collections::HashSet<i64>,
}

type Shared = Arc<Mutex<State_>>;

/// Settings for [`Simulator`].
#[derive(Debug, Clone)]
pub struct Builder {
    listen: SocketAddr,
    domain: String,
    username: String,
    password: String,
    rate: f64,
    per_tick: usize,
    access_ttl: Duration,
    refresh_ttl: Duration,
    time_filter_only: bool,
    tls: bool,
}

impl Builder {
    /// Serve HTTPS with a self-signed certificate for `localhost` and `127.0.0.1`, made at
    /// start ([`Simulator::cert_pem`]); [`Simulator::url`] is then `https://localhost:<port>`.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Listen here (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// Credentials accepted by `/rest/login`.
    pub fn credentials(mut self, domain: &str, username: &str, password: &str) -> Self {
        self.domain = domain.into();
        self.username = username.into();
        self.password = password.into();
        self
    }
    /// Generate events at this many per second (0: none).
    pub fn rate(mut self, per_second: f64) -> Self {
        self.rate = per_second;
        self
    }
    /// Each generated batch puts this many events in one millisecond (default 1).
    pub fn same_millisecond(mut self, n: usize) -> Self {
        self.per_tick = n.max(1);
        self
    }
    /// Access token lifetime (default 30 minutes).
    pub fn access_token_lifetime(mut self, t: Duration) -> Self {
        self.access_ttl = t;
        self
    }
    /// Refresh token lifetime (default 8 hours).
    pub fn refresh_token_lifetime(mut self, t: Duration) -> Self {
        self.refresh_ttl = t;
        self
    }
    /// Refuse (HTTP 400) every filter but a `Between` on `time`, as a Horizon that filters
    /// audit events by time alone would.
    pub fn time_filter_only(mut self, only: bool) -> Self {
        self.time_filter_only = only;
        self
    }

    /// Start serving (on the current Tokio runtime).
    pub async fn start(self) -> std::io::Result<Simulator> {
        let state: Shared = Arc::new(Mutex::new(State_ {
            domain: self.domain,
            username: self.username,
            password: self.password,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            access: HashMap::new(),
            refresh: HashMap::new(),
            next_token: 1,
            events: Vec::new(),
            next_seq: 0,
            fail_next: VecDeque::new(),
            broken_pages: VecDeque::new(),
            stats: Stats::default(),
            time_filter_only: self.time_filter_only,
            last_filter: None,
            corrupt: Default::default(),
        }));
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/rest/login", post(login))
            .route("/rest/refresh", post(refresh))
            .route("/rest/logout", post(logout))
            .route("/rest/external/v1/audit-events", get(events))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = rx.await;
        };
        let cert_pem = if self.tls {
            let (acceptor, pem) = tls::self_signed()?;
            let listener = tls::TlsListener::new(listener, acceptor);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await;
            });
            Some(pem)
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await;
            });
            None
        };
        let generator = (self.rate > 0.0).then(|| {
            let state = state.clone();
            let per_tick = self.per_tick;
            let period = Duration::from_secs_f64(per_tick as f64 / self.rate);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    if let Ok(mut s) = state.lock() {
                        let t = now_ms();
                        for _ in 0..per_tick {
                            s.push(t);
                        }
                    }
                }
            })
        });
        Ok(Simulator {
            addr,
            cert_pem,
            state,
            stop: Some(tx),
            generator,
        })
    }
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    cert_pem: Option<String>,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    generator: Option<tokio::task::JoinHandle<()>>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const KINDS: &[(&str, &str, &str)] = &[
    ("VLSI_USERLOGGEDIN", "AUDIT_SUCCESS", "Vlsi"),
    ("VLSI_USERLOGGEDOUT", "AUDIT_SUCCESS", "Vlsi"),
    ("BROKER_USERLOGGEDIN", "AUDIT_SUCCESS", "Broker"),
    ("ADMIN_DESKTOP_EDITED", "INFO", "Admin"),
    ("BROKER_MACHINE_PROTOCOL_UNAVAILABLE", "WARNING", "Broker"),
];

impl State_ {
    fn push(&mut self, time: i64) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        // A bijection on each aligned block of 8: unique ids, not ordered by time.
        let id = 98_000 + (seq ^ 5);
        let (kind, severity, module) = KINDS[(seq as usize) % KINDS.len()];
        self.events.push(SimEvent {
            id,
            time,
            kind: kind.into(),
            severity: severity.into(),
            module: module.into(),
            message: format!("User corp\\user{seq} event {kind}"),
            machine_dns_name: "Horizon-01.corp.local".into(),
            user_id: "S-1-5-21-4442515-1634369418-872054540-500".into(),
        });
        id
    }
}

impl Simulator {
    /// Defaults: credentials `corp` / `administrator` / `VMware1!`, no generated events.
    pub fn builder() -> Builder {
        Builder {
            listen: ([127, 0, 0, 1], 0).into(),
            domain: "corp".into(),
            username: "administrator".into(),
            password: "VMware1!".into(),
            rate: 0.0,
            per_tick: 1,
            access_ttl: Duration::from_secs(30 * 60),
            refresh_ttl: Duration::from_secs(8 * 3600),
            time_filter_only: false,
            tls: false,
        }
    }

    /// The base URL, `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS.
    pub fn url(&self) -> String {
        match self.cert_pem {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// The self-signed certificate served with [`Builder::tls`] (PEM), the CA to trust.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<R>(&self, f: impl FnOnce(&mut State_) -> R) -> Option<R> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// The accepted domain.
    pub fn domain(&self) -> String {
        self.with(|s| s.domain.clone()).unwrap_or_default()
    }
    /// The accepted user.
    pub fn username(&self) -> String {
        self.with(|s| s.username.clone()).unwrap_or_default()
    }
    /// The accepted password.
    pub fn password(&self) -> String {
        self.with(|s| s.password.clone()).unwrap_or_default()
    }

    /// Add `n` events all at `time_ms`; returns their ids.
    pub fn add_events_at(&self, time_ms: i64, n: usize) -> Vec<i64> {
        self.with(|s| (0..n).map(|_| s.push(time_ms)).collect())
            .unwrap_or_default()
    }

    /// Add one event at `time_ms` with this type, severity and module; returns its id.
    pub fn add_event(&self, time_ms: i64, kind: &str, severity: &str, module: &str) -> i64 {
        self.with(|s| {
            let id = s.push(time_ms);
            if let Some(e) = s.events.last_mut() {
                e.kind = kind.to_owned();
                e.severity = severity.to_owned();
                e.module = module.to_owned();
                e.message = format!("event {kind}");
            }
            id
        })
        .unwrap_or_default()
    }

    /// The `filter` query parameter of the latest audit-event request (`None`: it had none).
    pub fn last_filter(&self) -> Option<String> {
        self.with(|s| s.last_filter.clone()).flatten()
    }

    /// Add `n` events now, several per millisecond (`per_ms`); returns their ids.
    pub fn add_events_now(&self, n: usize, per_ms: usize) -> Vec<i64> {
        let base = now_ms();
        let per_ms = per_ms.max(1);
        self.with(|s| (0..n).map(|i| s.push(base + (i / per_ms) as i64)).collect())
            .unwrap_or_default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<SimEvent> {
        self.with(|s| s.events.clone()).unwrap_or_default()
    }

    /// Serve event `id` from now on with a record that does not fit the API's model: its
    /// `message` an object instead of a string (as a Horizon release changing a field's type
    /// would). Its `id`, `time` and other fields stay as they are.
    pub fn corrupt_event(&self, id: i64) {
        self.with(|s| s.corrupt.insert(id));
    }

    /// Answer the next audit-event requests with these statuses (e.g. 409, 500).
    pub fn fail_next_with(&self, statuses: &[u16]) {
        self.with(|s| s.fail_next.extend(statuses.iter().copied()));
    }

    /// Break the next audit-event answers (one fault each, in order; valid requests only).
    pub fn break_pages(&self, faults: &[PageFault]) {
        self.with(|s| s.broken_pages.extend(faults.iter().copied()));
    }

    /// Expire every access token now (the next call gets 401).
    pub fn expire_access_tokens(&self) {
        self.with(|s| s.access.clear());
    }

    /// Expire every refresh token now (the next refresh gets 400).
    pub fn expire_refresh_tokens(&self) {
        self.with(|s| s.refresh.clear());
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.with(|s| s.stats.clone()).unwrap_or_default()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(g) = self.generator.take() {
            g.abort();
        }
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_default();
    (
        status,
        [("content-type", HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &serde_json::json!({"status": status.as_u16(), "error_message": message}),
    )
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    #[serde(default)]
    refresh_token: String,
}

fn issue(s: &mut State_, prefix: &str) -> String {
    s.next_token += 1;
    format!("{prefix}-{}-{}", s.next_token, now_ms())
}

async fn login(State(state): State<Shared>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<LoginBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid login body");
    };
    let Ok(mut s) = state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    if body.domain != s.domain || body.username != s.username || body.password != s.password {
        return error(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    let access = issue(&mut s, "access");
    let refresh = issue(&mut s, "refresh");
    let now = Instant::now();
    let (at, rt) = (now + s.access_ttl, now + s.refresh_ttl);
    s.access.insert(access.clone(), at);
    s.refresh.insert(refresh.clone(), rt);
    s.stats.logins += 1;
    json_response(
        StatusCode::OK,
        &serde_json::json!({"access_token": access, "refresh_token": refresh}),
    )
}

fn refresh_valid(s: &State_, token: &str) -> bool {
    s.refresh
        .get(token)
        .is_some_and(|exp| *exp > Instant::now())
}

async fn refresh(State(state): State<Shared>, body: Bytes) -> Response {
    let token = serde_json::from_slice::<RefreshBody>(&body)
        .map(|b| b.refresh_token)
        .unwrap_or_default();
    let Ok(mut s) = state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    if !refresh_valid(&s, &token) {
        return error(StatusCode::BAD_REQUEST, "refresh token expired");
    }
    let access = issue(&mut s, "access");
    let exp = Instant::now() + s.access_ttl;
    s.access.insert(access.clone(), exp);
    s.stats.refreshes += 1;
    json_response(StatusCode::OK, &serde_json::json!({"access_token": access}))
}

async fn logout(State(state): State<Shared>, body: Bytes) -> Response {
    let token = serde_json::from_slice::<RefreshBody>(&body)
        .map(|b| b.refresh_token)
        .unwrap_or_default();
    let Ok(mut s) = state.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    if !refresh_valid(&s, &token) {
        return error(StatusCode::BAD_REQUEST, "auth token already expired");
    }
    s.refresh.remove(&token);
    s.stats.logouts += 1;
    StatusCode::OK.into_response()
}

/// A Horizon filter expression.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Equals {
        name: String,
        value: serde_json::Value,
    },
    Between {
        from: i64,
        to: i64,
    },
}

/// The fields `Equals` filters audit events on (Horizon's `AuditEventSummary` "supported
/// filters").
const EQUALS_FIELDS: &[&str] = &[
    "id",
    "type",
    "module",
    "severity",
    "user_id",
    "machine_id",
    "machine_dns_name",
    "desktop_pool_name",
    "application_pool_name",
];

impl Filter {
    /// Parse Horizon's filter JSON; `Err` says why it is refused.
    fn parse(v: &serde_json::Value, time_only: bool) -> Result<Filter, String> {
        let field = |name: &str| v.get(name).and_then(serde_json::Value::as_str);
        let kind = field("type").ok_or("a filter needs a type")?;
        if time_only && kind != "Between" {
            return Err(format!("filter type {kind} is not supported"));
        }
        match kind {
            "And" | "Or" => {
                let filters = v
                    .get("filters")
                    .and_then(serde_json::Value::as_array)
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| format!("{kind} needs filters"))?
                    .iter()
                    .map(|f| Filter::parse(f, time_only))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if kind == "And" {
                    Filter::And(filters)
                } else {
                    Filter::Or(filters)
                })
            }
            "Equals" => {
                let name = field("name").ok_or("Equals needs a name")?;
                if !EQUALS_FIELDS.contains(&name) {
                    return Err(format!("Equals is not supported on {name}"));
                }
                let value = v.get("value").cloned().ok_or("Equals needs a value")?;
                Ok(Filter::Equals {
                    name: name.to_owned(),
                    value,
                })
            }
            "Between" => {
                if field("name") != Some("time") {
                    return Err("Between is supported on time only".into());
                }
                let num = |n: &str| v.get(n).and_then(serde_json::Value::as_i64);
                match (num("fromValue"), num("toValue")) {
                    (Some(from), Some(to)) => Ok(Filter::Between { from, to }),
                    _ => Err("Between needs fromValue and toValue".into()),
                }
            }
            other => Err(format!("unsupported filter type {other}")),
        }
    }

    fn matches(&self, e: &SimEvent) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(e)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(e)),
            Filter::Between { from, to } => e.time >= *from && e.time <= *to,
            Filter::Equals { name, value } => {
                let field = match name.as_str() {
                    "id" => return value.as_i64() == Some(e.id),
                    "type" => &e.kind,
                    "module" => &e.module,
                    "severity" => &e.severity,
                    "user_id" => &e.user_id,
                    "machine_dns_name" => &e.machine_dns_name,
                    // Fields the simulated events do not have.
                    _ => return false,
                };
                value.as_str() == Some(field.as_str())
            }
        }
    }
}

async fn events(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (resp, stall) = events_page(&state, query, &headers);
    if let Some(hold) = stall {
        tokio::time::sleep(hold).await;
    }
    resp
}

/// The answer, and how long to hold it (a stalled page).
fn events_page(
    state: &Shared,
    query: Option<String>,
    headers: &HeaderMap,
) -> (Response, Option<Duration>) {
    let stall = |r: Response| (r, None);
    let Ok(mut s) = state.lock() else {
        return stall(error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned"));
    };
    s.stats.event_requests += 1;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if s.access
        .get(bearer)
        .is_none_or(|exp| *exp <= Instant::now())
    {
        s.stats.unauthorized += 1;
        return stall(error(StatusCode::UNAUTHORIZED, "not authenticated"));
    }
    if let Some(status) = s.fail_next.pop_front() {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT);
        return stall(error(code, "Conflict"));
    }
    let fault = s.broken_pages.pop_front();
    let mut filter = None;
    let (mut page, mut size) = (None, None);
    s.last_filter = None;
    let time_only = s.time_filter_only;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "filter" => {
                s.last_filter = Some(v.to_string());
                let parsed = serde_json::from_str::<serde_json::Value>(&v)
                    .map_err(|e| e.to_string())
                    .and_then(|j| Filter::parse(&j, time_only));
                match parsed {
                    Ok(f) => filter = Some(f),
                    Err(why) => {
                        return stall(error(
                            StatusCode::BAD_REQUEST,
                            &format!("unsupported filter: {why}"),
                        ));
                    }
                }
            }
            "page" => page = v.parse::<usize>().ok().filter(|p| *p > 0),
            "size" => size = v.parse::<usize>().ok().filter(|s| (1..=1000).contains(s)),
            _ => {}
        }
        if (k == "page" && page.is_none()) || (k == "size" && size.is_none()) {
            return stall(error(
                StatusCode::BAD_REQUEST,
                "page must be > 0 and size 1..=1000",
            ));
        }
    }
    let mut matching: Vec<&SimEvent> = s
        .events
        .iter()
        .filter(|e| filter.as_ref().is_none_or(|f| f.matches(e)))
        .collect();
    // Newest first; within a millisecond, the latest inserted first.
    matching.reverse();
    matching.sort_by_key(|e| std::cmp::Reverse(e.time));
    let size = size.unwrap_or(10);
    let page = page.unwrap_or(1);
    let start = (page - 1).saturating_mul(size).min(matching.len());
    let end = (start + size).min(matching.len());
    let has_more = end < matching.len();
    let body: Vec<serde_json::Value> = matching[start..end]
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if s.corrupt.contains(&e.id) {
                v["message"] = serde_json::json!({ "text": e.message, "localized": true });
            }
            v
        })
        .collect();
    let mut resp = match fault {
        None | Some(PageFault::Stall(_)) => json_response(StatusCode::OK, &body),
        Some(PageFault::Oversized(total)) => {
            let json = serde_json::to_vec(&body).unwrap_or_default();
            let padding = total.saturating_sub(json.len());
            let mut chunks = vec![Ok::<Bytes, std::io::Error>(Bytes::from(json))];
            let block = Bytes::from(vec![b' '; 64 << 10]);
            let mut left = padding;
            while left > 0 {
                let n = left.min(block.len());
                chunks.push(Ok(block.slice(..n)));
                left -= n;
            }
            let mut r = Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
                chunks,
            )));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        Some(broken) => {
            let mut full = serde_json::to_vec(&body).unwrap_or_default();
            full.truncate(full.len() / 2);
            let cut = Bytes::from(full);
            let body = if broken == PageFault::Truncate {
                axum::body::Body::from(cut)
            } else {
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(cut),
                    Err(std::io::Error::other("horizon-sim: connection dropped")),
                ];
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            };
            let mut r = Response::new(body);
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
    };
    if has_more {
        resp.headers_mut()
            .insert("HAS_MORE_RECORDS", HeaderValue::from_static("true"));
    }
    let hold = match fault {
        Some(PageFault::Stall(hold)) => Some(hold),
        _ => None,
    };
    (resp, hold)
}
