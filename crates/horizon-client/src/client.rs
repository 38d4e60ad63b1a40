//! The HTTP client.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::{
    AuditEvent, AuditEventFilter, BetweenFilter, Credentials, Filter, Tokens, Undecodable,
};

/// Horizon's limit on `size`.
pub const MAX_PAGE_SIZE: u32 = 1000;

const EVENTS_PATH: &str = "/rest/external/v1/audit-events";

/// The default for [`ClientBuilder::max_response_bytes`]: far above a page of 1,000 events
/// (about 1 MiB), far below what would hurt an adapter.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// How many redirects within the server's origin a call follows.
pub const MAX_REDIRECTS: usize = 4;

/// Why a Horizon call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `HORIZON_URL` is not an http(s) URL.
    #[error("invalid Horizon URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No credentials were given to the builder.
    #[error("no Horizon credentials configured")]
    NoCredentials,
    /// Credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] crate::CredentialsError),
    /// The HTTP client could not be built.
    #[error("cannot build the Horizon HTTP client: {0}")]
    Build(String),
    /// The CA bundle given to [`ClientBuilder::ca_bundle_pem`] is not PEM or holds no
    /// certificate.
    #[error("{0}")]
    CaBundle(String),
    /// No answer (connection, TLS, timeout). Its message names the causes too (a certificate
    /// no trusted CA signed, a refused connection).
    #[error("Horizon {what} failed: {}", causes(.source))]
    Transport {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// Login refused (401/403 on `/rest/login`).
    #[error("horizon API login failure: Horizon refused the credentials (HTTP {status})")]
    LoginRefused {
        /// The status.
        status: u16,
    },
    /// The access token was refused even right after logging in again.
    #[error("Horizon refused a fresh access token for {what} (HTTP 401)")]
    Unauthorized {
        /// The call.
        what: &'static str,
    },
    /// HTTP 409 on audit events.
    #[error("HTTP conflict error: 409 (DB not initialized?)")]
    Conflict,
    /// Logout with an expired refresh token.
    #[error("auth token already expired")]
    TokenExpired,
    /// Any other non-2xx answer.
    #[error("unexpected status code from Horizon {what}: {status} {body}")]
    Status {
        /// The call.
        what: &'static str,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer is not the expected JSON.
    #[error("cannot decode Horizon {what} answer: {source}")]
    Decode {
        /// The call.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Horizon answered with a redirect that is not followed: to another origin (scheme, host
    /// or port; a login carries the password, the other calls a token), or beyond
    /// [`MAX_REDIRECTS`] hops.
    #[error(
        "Horizon {what} was redirected (HTTP {status}) to {location}, which is not followed (another origin, or more than {MAX_REDIRECTS} redirects): set the Horizon server address to the one that answers"
    )]
    Redirected {
        /// The call.
        what: &'static str,
        /// The redirect's status.
        status: u16,
        /// Its `Location` (without any user information), or `(none)`.
        location: String,
    },
    /// `size` outside 1..=1000.
    #[error("page size {0} is not between 1 and 1000")]
    PageSize(u32),
    /// The answer is larger than [`ClientBuilder::max_response_bytes`]; it was not read on.
    #[error("Horizon {what} answer exceeds the {limit}-byte limit")]
    ResponseTooLarge {
        /// The call.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// Whether Horizon refused the credentials (retrying will not help until they change).
    pub fn is_bad_credentials(&self) -> bool {
        matches!(self, Error::LoginRefused { .. })
    }
}

/// One page of audit events as Horizon returned it (newest first) and whether more follow.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Page {
    /// The events, in Horizon's order, salvaged ones included (see `undecodable`).
    pub events: Vec<AuditEvent>,
    /// The `HAS_MORE_RECORDS` header was `true`.
    pub has_more: bool,
    /// Records that did not fit [`AuditEvent`]: salvaged into `events` when their `id` and
    /// `time` could be read, else left out. The page is never refused for them.
    pub undecodable: Vec<Undecodable>,
}

impl Page {
    /// How many records Horizon sent in this page (decoded, salvaged or left out).
    pub fn records(&self) -> usize {
        self.events.len() + self.undecodable.iter().filter(|u| !u.salvaged).count()
    }
}

/// Settings for [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base: url::Url,
    credentials: Option<Credentials>,
    insecure: bool,
    timeout: Duration,
    access_ttl: Duration,
    max_response_bytes: usize,
    ca_bundle_pem: Option<Vec<u8>>,
}

/// Checks a CA bundle as [`ClientBuilder::ca_bundle_pem`] will: PEM holding at least one
/// certificate ([`Error::CaBundle`] otherwise). For settings checked before any connection.
pub fn check_ca_bundle(pem: &[u8]) -> Result<(), Error> {
    crate::tls::ca_certificates(pem)
        .map(|_| ())
        .map_err(Error::CaBundle)
}

impl ClientBuilder {
    /// Trust the CA certificates of this PEM bundle for the Horizon server, besides the
    /// system's (the HorizonSource's `caCerts`). [`ClientBuilder::build`] fails when it is not
    /// PEM or holds no certificate.
    pub fn ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundle_pem = Some(pem.into());
        self
    }

    /// Credentials to log in with.
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// Skip TLS certificate verification (`HORIZON_INSECURE`).
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// How long an access token lives (default 30 minutes); it is refreshed a minute (or a
    /// tenth of the lifetime, whichever is less) before.
    pub fn access_token_lifetime(mut self, t: Duration) -> Self {
        self.access_ttl = t;
        self
    }

    /// The largest answer read (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one fails
    /// with [`Error::ResponseTooLarge`] instead of filling memory.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Build the client (no network yet).
    pub fn build(self) -> Result<Client, Error> {
        let credentials = self.credentials.ok_or(Error::NoCredentials)?;
        if self.insecure {
            warn!("using potentially insecure connection to Horizon API server");
        }
        let extra_roots = match &self.ca_bundle_pem {
            Some(pem) => crate::tls::ca_certificates(pem).map_err(Error::CaBundle)?,
            None => Vec::new(),
        };
        let tls = crate::tls::client_config(self.insecure, extra_roots)
            .map_err(|e| Error::Build(format!("cannot set up TLS: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(redirect_policy())
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "vmware-sources-horizon/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::Build(e.to_string()))?;
        let margin = (self.access_ttl / 10).min(Duration::from_secs(60));
        Ok(Client {
            http,
            base: self.base,
            credentials,
            refresh_after: self.access_ttl.saturating_sub(margin),
            max_response_bytes: self.max_response_bytes,
            session: Mutex::new(Session::default()),
        })
    }
}

#[derive(Default)]
struct Session {
    access: Option<String>,
    refresh: Option<String>,
    obtained: Option<Instant>,
}

/// A Horizon REST client; share it behind an `Arc`.
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    credentials: Credentials,
    refresh_after: Duration,
    max_response_bytes: usize,
    session: Mutex<Session>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Parse and check a Horizon base URL.
pub(crate) fn parse_base(url: &str) -> Result<url::Url, Error> {
    let bad = |reason: String| Error::Url {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the scheme must be https (or http), not {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(parsed)
}

#[derive(Serialize)]
struct LoginBody<'a> {
    domain: &'a str,
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct RefreshBody<'a> {
    refresh_token: &'a str,
}

impl Client {
    /// A builder for the Horizon server at `url` (e.g. `https://horizon.example.com`).
    pub fn builder(url: &str) -> Result<ClientBuilder, Error> {
        Ok(ClientBuilder {
            base: parse_base(url)?,
            credentials: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            access_ttl: Duration::from_secs(30 * 60),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            ca_bundle_pem: None,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// The answer's body as text, read up to the size limit.
    async fn read_text(
        &self,
        mut resp: reqwest::Response,
        what: &'static str,
    ) -> Result<String, Error> {
        let limit = self.max_response_bytes;
        let too_large = || Error::ResponseTooLarge { what, limit };
        if resp.content_length().is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| Error::Transport { what, source })?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn url(&self, path: &str) -> url::Url {
        let mut u = self.base.clone();
        let base_path = u.path().trim_end_matches('/').to_owned();
        u.set_path(&format!("{base_path}{path}"));
        u
    }

    async fn post<T: Serialize>(
        &self,
        what: &'static str,
        path: &str,
        body: &T,
    ) -> Result<(StatusCode, String), Error> {
        let resp = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .json(body)
            .send()
            .await
            .map_err(|source| Error::Transport { what, source })?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(redirected(what, &resp));
        }
        let text = self.read_text(resp, what).await?;
        Ok((status, text))
    }

    /// Log in: refresh when a refresh token is held (HTTP 400 there means it expired), else a
    /// full login.
    pub async fn login(&self) -> Result<(), Error> {
        let mut s = self.session.lock().await;
        self.login_locked(&mut s).await
    }

    async fn login_locked(&self, s: &mut Session) -> Result<(), Error> {
        if let Some(refresh) = s.refresh.clone() {
            match self.refresh(&refresh).await {
                Ok(access) => {
                    debug!("Horizon access token refreshed");
                    s.access = Some(access);
                    s.obtained = Some(Instant::now());
                    return Ok(());
                }
                Err(Error::TokenExpired) => {
                    info!("Horizon refresh token expired; logging in again");
                    s.refresh = None;
                }
                Err(e) => return Err(e),
            }
        }
        let body = LoginBody {
            domain: self.credentials.domain(),
            username: self.credentials.username(),
            password: self.credentials.password(),
        };
        let (status, text) = self.post("login", "/rest/login", &body).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::LoginRefused {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(status_error("login", status, &text));
        }
        let tokens: Tokens = serde_json::from_str(&text).map_err(|source| Error::Decode {
            what: "login",
            source,
        })?;
        s.access = Some(tokens.access_token);
        s.refresh = tokens.refresh_token;
        s.obtained = Some(Instant::now());
        info!(
            domain = self.credentials.domain(),
            username = self.credentials.username(),
            "logged in to Horizon"
        );
        Ok(())
    }

    async fn refresh(&self, refresh_token: &str) -> Result<String, Error> {
        let (status, text) = self
            .post("refresh", "/rest/refresh", &RefreshBody { refresh_token })
            .await?;
        if status == StatusCode::BAD_REQUEST {
            return Err(Error::TokenExpired);
        }
        if !status.is_success() {
            return Err(status_error("refresh", status, &text));
        }
        let tokens: Tokens = serde_json::from_str(&text).map_err(|source| Error::Decode {
            what: "refresh",
            source,
        })?;
        Ok(tokens.access_token)
    }

    /// Log out (ends the refresh token). HTTP 400: [`Error::TokenExpired`].
    pub async fn logout(&self) -> Result<(), Error> {
        let mut s = self.session.lock().await;
        let Some(refresh) = s.refresh.take() else {
            return Ok(());
        };
        s.access = None;
        let (status, text) = self
            .post(
                "logout",
                "/rest/logout",
                &RefreshBody {
                    refresh_token: &refresh,
                },
            )
            .await?;
        if status == StatusCode::BAD_REQUEST {
            return Err(Error::TokenExpired);
        }
        if !status.is_success() {
            return Err(status_error("logout", status, &text));
        }
        Ok(())
    }

    /// A valid access token: logs in or refreshes when there is none or it is about to expire.
    async fn bearer(&self, force_refresh: bool) -> Result<String, Error> {
        let mut s = self.session.lock().await;
        let stale = s.obtained.is_none_or(|t| t.elapsed() >= self.refresh_after);
        if force_refresh || stale || s.access.is_none() {
            self.login_locked(&mut s).await?;
        }
        s.access
            .clone()
            .ok_or(Error::Unauthorized { what: "login" })
    }

    /// One page of audit events: `filter` (optional), `page` from 1, `size` 1..=1000.
    pub async fn audit_events_page(
        &self,
        filter: Option<&BetweenFilter>,
        page: u32,
        size: u32,
    ) -> Result<Page, Error> {
        let filter = filter.map(|b| Filter::from(*b));
        self.audit_events_query(filter.as_ref(), page, size).await
    }

    /// One page of audit events with any Horizon [`Filter`] (e.g.
    /// [`AuditEventFilter::query`]): `page` from 1, `size` 1..=1000. A filter Horizon does not
    /// support is its HTTP 400, [`Error::Status`].
    pub async fn audit_events_query(
        &self,
        filter: Option<&Filter>,
        page: u32,
        size: u32,
    ) -> Result<Page, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(Error::PageSize(size));
        }
        let mut query: Vec<(&str, String)> = Vec::with_capacity(3);
        if let Some(f) = filter {
            query.push(("filter", f.to_json()));
        }
        query.push(("page", page.max(1).to_string()));
        query.push(("size", size.to_string()));
        let what = "audit events";
        for attempt in 0..2 {
            let token = self.bearer(attempt > 0).await?;
            let mut url = self.url(EVENTS_PATH);
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
            let resp = self
                .http
                .get(url)
                .header("content-type", "application/json")
                .bearer_auth(token)
                .send()
                .await
                .map_err(|source| Error::Transport { what, source })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                debug!("Horizon answered 401; refreshing the token");
                continue;
            }
            if status.is_redirection() {
                return Err(redirected(what, &resp));
            }
            let has_more = resp
                .headers()
                .get("HAS_MORE_RECORDS")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            let text = self.read_text(resp, what).await?;
            if status == StatusCode::CONFLICT {
                return Err(Error::Conflict);
            }
            if !status.is_success() {
                return Err(status_error(what, status, &text));
            }
            let (events, undecodable) =
                decode_page(&text).map_err(|source| Error::Decode { what, source })?;
            return Ok(Page {
                events,
                has_more,
                undecodable,
            });
        }
        Err(Error::Unauthorized { what })
    }

    /// Every event with `from_ms <= time <= to_ms`, reading all pages of `page_size`, oldest
    /// first (time, then id), each id once.
    pub async fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        page_size: u32,
    ) -> Result<Vec<AuditEvent>, Error> {
        self.events_matching(from_ms, to_ms, page_size, &AuditEventFilter::default())
            .await
    }

    /// Like [`Client::events_between`], only the events `selection` admits: Horizon filters
    /// them ([`AuditEventFilter::query`]) and each is checked again here.
    pub async fn events_matching(
        &self,
        from_ms: i64,
        to_ms: i64,
        page_size: u32,
        selection: &AuditEventFilter,
    ) -> Result<Vec<AuditEvent>, Error> {
        let filter = selection.query(BetweenFilter::time(from_ms, to_ms));
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let p = self
                .audit_events_query(Some(&filter), page, page_size)
                .await?;
            let n = p.events.len();
            for e in p.events {
                if e.time >= from_ms && e.time <= to_ms && selection.admits(&e) && seen.insert(e.id)
                {
                    out.push(e);
                }
            }
            // Without the header, a full page may still be followed by more.
            if (!p.has_more && n < page_size as usize) || n == 0 {
                break;
            }
            page += 1;
        }
        out.sort_by_key(|e| (e.time, e.id));
        Ok(out)
    }
}

/// An error and its causes, each once: reqwest's own message names only the request.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
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

/// A page's records: all of them at once (the usual case), else one by one, so that one record
/// that does not fit the model costs only itself. An answer that is not a JSON array of records
/// (truncated, say) is an error: reading it again may help.
fn decode_page(text: &str) -> Result<(Vec<AuditEvent>, Vec<Undecodable>), serde_json::Error> {
    let whole = match serde_json::from_str::<Vec<AuditEvent>>(text) {
        Ok(events) => return Ok((events, Vec::new())),
        Err(e) => e,
    };
    let Ok(records) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Err(whole);
    };
    let mut events = Vec::with_capacity(records.len());
    let mut undecodable = Vec::new();
    for record in records {
        match serde_json::from_value::<AuditEvent>(record.clone()) {
            Ok(e) => events.push(e),
            Err(error) => {
                let salvaged = crate::model::salvage(&record);
                let id = salvaged
                    .as_ref()
                    .map(|e| e.id)
                    .or_else(|| record.get("id").and_then(serde_json::Value::as_i64));
                let time = salvaged.as_ref().map(|e| e.time);
                let mut raw = record.to_string();
                if raw.len() > Undecodable::RECORD_LIMIT {
                    let mut cut = Undecodable::RECORD_LIMIT;
                    while !raw.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    raw.truncate(cut);
                    raw.push('…');
                }
                undecodable.push(Undecodable {
                    id,
                    time,
                    error: error.to_string(),
                    record: raw,
                    salvaged: salvaged.is_some(),
                });
                events.extend(salvaged);
            }
        }
    }
    Ok((events, undecodable))
}

/// Redirects are followed within the origin of the request only, and [`MAX_REDIRECTS`] at most:
/// 307 and 308 send the same body again, and a login's body holds the password. (reqwest drops
/// the `Authorization` header on a cross-origin redirect, but not the body.) A redirect that is
/// not followed comes back as the 3xx answer, which becomes [`Error::Redirected`].
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The error for a redirect answer that was not followed.
fn redirected(what: &'static str, resp: &reqwest::Response) -> Error {
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| match resp.url().join(l) {
            Ok(mut u) => {
                // Never repeat user information a server put into the address.
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            }
            Err(_) => l.chars().take(200).collect(),
        })
        .unwrap_or_else(|| "(none)".to_owned());
    Error::Redirected {
        what,
        status: resp.status().as_u16(),
        location,
    }
}

fn status_error(what: &'static str, status: StatusCode, body: &str) -> Error {
    Error::Status {
        what,
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_page;

    #[test]
    fn a_page_decodes_record_by_record_when_one_does_not_fit() {
        let text = r#"[
            {"id":1,"time":10,"message":"ok"},
            {"id":2,"time":"20","message":{"text":"odd"},"type":"X"},
            {"id":3,"message":5},
            "not a record"
        ]"#;
        let (events, undecodable) = decode_page(text).expect("a page");
        assert_eq!(
            events.iter().map(|e| (e.id, e.time)).collect::<Vec<_>>(),
            [(1, 10), (2, 20)]
        );
        assert_eq!(events[1].message.as_deref(), Some(r#"{"text":"odd"}"#));
        assert_eq!(events[1].kind.as_deref(), Some("X"));
        let summary: Vec<_> = undecodable
            .iter()
            .map(|u| (u.id, u.time, u.salvaged))
            .collect();
        assert_eq!(
            summary,
            [
                (Some(2), Some(20), true),
                (Some(3), None, false),
                (None, None, false)
            ]
        );
        assert!(undecodable.iter().all(|u| !u.error.is_empty()));
        // Not an array of records at all (a truncated answer): an error, read again.
        assert!(decode_page(r#"[{"id":1,"time":10}"#).is_err());
    }

    #[test]
    fn a_long_record_is_cut_at_the_limit() {
        let long = "é".repeat(4000);
        let text = format!(r#"[{{"id":{{}},"message":"{long}"}}]"#);
        let (_, undecodable) = decode_page(&text).expect("a page");
        let record = &undecodable[0].record;
        assert!(record.len() <= crate::Undecodable::RECORD_LIMIT + '…'.len_utf8());
        assert!(record.ends_with('…'));
    }
}
