//! OIDC sender identity: tokens of the source's OIDC ServiceAccount for its sinks' audiences,
//! as Knative's adapters send them (`K_OIDC_SERVICE_ACCOUNT`, `K_AUDIENCE`).
//!
//! A token is requested from the Kubernetes TokenRequest API (`serviceaccounts/<name>/token`,
//! one audience, [`OidcSettings::expiration`], Knative's 1 h by default), cached per audience,
//! and renewed in the background before it expires (at expiry − 5 min, or half its lifetime when
//! that is shorter); a request that still finds it too close to its expiry renews it first. A sink
//! that answers 401 to a request with a token makes that token stale: the next request gets a
//! fresh one (once, however many requests were refused with it).
//!
//! A token never appears in logs, errors or metrics: [`Token`]'s `Debug` hides it, and the
//! `Authorization` header is marked sensitive.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::HeaderValue;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use tokio::sync::Mutex;
use tracing::{info, warn};

/// Knative's token lifetime: 1 hour.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(3600);
/// How long before its expiry a token is renewed (Knative's cache keeps one until 5 min before).
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
/// A token this close to its expiry is never sent: the request renews it first.
const TOO_CLOSE_TO_EXPIRY: Duration = Duration::from_secs(30);
/// The wait before the background renewal tries again after a failure.
const RENEWAL_RETRY: Duration = Duration::from_secs(5);

/// Who the adapter is to its sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The OIDC ServiceAccount's namespace (`NAMESPACE`).
    pub namespace: String,
    /// The OIDC ServiceAccount (`K_OIDC_SERVICE_ACCOUNT`).
    pub service_account: String,
    /// The sink's audience (`K_AUDIENCE`): requests to the sink carry a token for it.
    pub audience: Option<String>,
    /// The dead-letter sink's audience (`K_DEAD_LETTER_SINK_AUDIENCE`).
    pub dead_letter_audience: Option<String>,
    /// The lifetime asked for each token (`expirationSeconds`; the API server may shorten it).
    pub expiration: Duration,
}

impl OidcSettings {
    /// The audiences tokens are needed for.
    pub fn audiences(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .audience
            .iter()
            .chain(self.dead_letter_audience.iter())
            .cloned()
            .collect();
        out.dedup();
        out
    }
}

/// A bearer token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from its text.
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        Self(text.into())
    }

    /// `Bearer <token>`, marked sensitive (never printed by the HTTP client's `Debug`).
    pub fn authorization(&self) -> Result<HeaderValue, IdentityError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| IdentityError::Malformed)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// A token as issued: its text and how long it is valid from now.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token.
    pub token: Token,
    /// How long until it expires.
    pub valid_for: Duration,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The TokenRequest failed.
    #[error(
        "requesting a token of ServiceAccount {namespace}/{service_account} for audience \
         {audience:?}: {source} (the adapter's ServiceAccount needs create on \
         serviceaccounts/token for it)"
    )]
    Request {
        /// The namespace.
        namespace: String,
        /// The OIDC ServiceAccount.
        service_account: String,
        /// The audience.
        audience: String,
        /// The API error (boxed: it is large, and errors travel through every attempt).
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server answered without a token.
    #[error("the TokenRequest for audience {0:?} returned no token")]
    Empty(String),
    /// A token that is no valid header value.
    #[error("the issued token is not a valid HTTP header value")]
    Malformed,
    /// No token is kept for this audience (not one of the settings).
    #[error("no OIDC audience {0:?} is configured")]
    UnknownAudience(String),
}

/// What issues tokens: the TokenRequest API ([`TokenRequests`]), or a test double.
pub trait Issuer: Send + Sync + 'static {
    /// A token for `audience`, valid for about `expiration`.
    fn issue<'a>(
        &'a self,
        audience: &'a str,
        expiration: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Issued, IdentityError>> + Send + 'a>>;
}

/// Tokens of one ServiceAccount from the Kubernetes TokenRequest API.
pub struct TokenRequests {
    api: Api<ServiceAccount>,
    namespace: String,
    service_account: String,
}

impl TokenRequests {
    /// Tokens of `service_account` in `namespace`, requested with `client`.
    pub fn new(client: kube::Client, namespace: &str, service_account: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
        }
    }

    /// The TokenRequest for `audience` and `expiration`.
    pub fn request(audience: &str, expiration: Duration) -> TokenRequest {
        TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![audience.to_owned()],
                expiration_seconds: Some(i64::try_from(expiration.as_secs()).unwrap_or(i64::MAX)),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        }
    }
}

impl Issuer for TokenRequests {
    fn issue<'a>(
        &'a self,
        audience: &'a str,
        expiration: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Issued, IdentityError>> + Send + 'a>> {
        Box::pin(async move {
            let answer = self
                .api
                .create_token_request(
                    &self.service_account,
                    &PostParams::default(),
                    &Self::request(audience, expiration),
                )
                .await
                .map_err(|source| IdentityError::Request {
                    namespace: self.namespace.clone(),
                    service_account: self.service_account.clone(),
                    audience: audience.to_owned(),
                    source: Box::new(source),
                })?;
            let status = answer
                .status
                .filter(|s| !s.token.is_empty())
                .ok_or_else(|| IdentityError::Empty(audience.to_owned()))?;
            let left = status.expiration_timestamp.0 - jiff::Timestamp::now();
            let valid_for = Duration::try_from(left).unwrap_or(Duration::ZERO);
            Ok(Issued {
                token: Token::new(status.token),
                valid_for,
            })
        })
    }
}

struct Cached {
    token: Token,
    /// When the background renewal replaces it.
    renew_at: Instant,
    /// After this it is never sent.
    use_until: Instant,
}

/// Tokens per audience, cached and renewed.
pub struct Tokens {
    issuer: Box<dyn Issuer>,
    expiration: Duration,
    slots: HashMap<String, Mutex<Option<Cached>>>,
    /// Tokens issued so far (for tests and the log).
    issued: std::sync::atomic::AtomicU64,
}

impl Tokens {
    /// Tokens from `issuer` for `audiences`, each asked for `expiration`.
    pub fn new(issuer: Box<dyn Issuer>, audiences: &[String], expiration: Duration) -> Self {
        Self {
            issuer,
            expiration,
            slots: audiences
                .iter()
                .map(|a| (a.clone(), Mutex::new(None)))
                .collect(),
            issued: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many tokens were issued so far.
    pub fn issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(&self, audience: &str) -> Result<&Mutex<Option<Cached>>, IdentityError> {
        self.slots
            .get(audience)
            .ok_or_else(|| IdentityError::UnknownAudience(audience.to_owned()))
    }

    /// A token for `audience`: the cached one, or a new one when there is none, it was refused,
    /// or it is about to expire.
    pub async fn get(&self, audience: &str) -> Result<Token, IdentityError> {
        let mut cached = self.slot(audience)?.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.use_until
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(audience).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// The sink refused `token` (401): the next request for `audience` gets a new one. A token
    /// already replaced is left alone.
    pub async fn refused(&self, audience: &str, token: &Token) {
        let Ok(slot) = self.slot(audience) else {
            return;
        };
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            info!(
                audience,
                "the sink refused the OIDC token (401); requesting a new one"
            );
            *cached = None;
        }
    }

    async fn fetch(&self, audience: &str) -> Result<Cached, IdentityError> {
        let issued = self.issuer.issue(audience, self.expiration).await?;
        self.issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let margin = RENEW_BEFORE_EXPIRY.min(issued.valid_for / 2);
        info!(
            audience,
            valid_for_s = issued.valid_for.as_secs(),
            "obtained an OIDC token"
        );
        Ok(Cached {
            token: issued.token,
            renew_at: now + issued.valid_for.saturating_sub(margin),
            use_until: now
                + issued
                    .valid_for
                    .saturating_sub(TOO_CLOSE_TO_EXPIRY.min(margin)),
        })
    }

    /// Renew the token of `audience` if it is due; when the next renewal is due.
    async fn renew_if_due(&self, audience: &str) -> Result<Instant, IdentityError> {
        let mut cached = self.slot(audience)?.lock().await;
        match cached.as_ref() {
            Some(c) if Instant::now() < c.renew_at => Ok(c.renew_at),
            _ => {
                let fresh = self.fetch(audience).await?;
                let next = fresh.renew_at;
                *cached = Some(fresh);
                Ok(next)
            }
        }
    }

    /// Keep every audience's token renewed before it expires, in the background, for as long
    /// as `tokens` is alive (the tasks end once it is dropped).
    pub fn renew_in_background(tokens: &Arc<Self>) {
        for audience in tokens.slots.keys() {
            let weak: Weak<Self> = Arc::downgrade(tokens);
            let audience = audience.clone();
            tokio::spawn(async move {
                loop {
                    let Some(tokens) = weak.upgrade() else { return };
                    let wait = match tokens.renew_if_due(&audience).await {
                        Ok(next) => next.saturating_duration_since(Instant::now()),
                        Err(e) => {
                            warn!(error = %e, "renewing the OIDC token; retrying");
                            RENEWAL_RETRY
                        }
                    };
                    drop(tokens);
                    // Wake at least every minute to notice the tokens are gone.
                    tokio::time::sleep(
                        wait.clamp(Duration::from_millis(100), Duration::from_secs(60)),
                    )
                    .await;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Issues `token-<n>` for each request, valid for `valid_for`, recording the audiences.
    struct Counting {
        n: AtomicU32,
        valid_for: Duration,
        audiences: std::sync::Mutex<Vec<(String, Duration)>>,
    }

    impl Issuer for Arc<Counting> {
        fn issue<'a>(
            &'a self,
            audience: &'a str,
            expiration: Duration,
        ) -> Pin<Box<dyn Future<Output = Result<Issued, IdentityError>> + Send + 'a>> {
            Box::pin(async move {
                let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
                self.audiences
                    .lock()
                    .expect("lock")
                    .push((audience.to_owned(), expiration));
                Ok(Issued {
                    token: Token::new(format!("token-{n}")),
                    valid_for: self.valid_for,
                })
            })
        }
    }

    fn counting(valid_for: Duration) -> Arc<Counting> {
        Arc::new(Counting {
            n: AtomicU32::new(0),
            valid_for,
            audiences: std::sync::Mutex::default(),
        })
    }

    #[test]
    fn the_token_request_asks_for_one_audience_and_the_lifetime() {
        let r = TokenRequests::request("my-broker", Duration::from_secs(3600));
        assert_eq!(
            serde_json::to_value(&r).expect("json")["spec"],
            serde_json::json!({"audiences": ["my-broker"], "expirationSeconds": 3600})
        );
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let t = Token::new("eyJsecret");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let h = t.authorization().expect("header");
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("eyJsecret"), "{h:?}");
        assert_eq!(h.to_str().expect("ascii"), "Bearer eyJsecret");
    }

    #[tokio::test]
    async fn tokens_are_cached_per_audience_and_renewed_once_when_refused() {
        let issuer = counting(Duration::from_secs(3600));
        let tokens = Tokens::new(
            Box::new(issuer.clone()),
            &["sink".to_owned(), "dls".to_owned()],
            DEFAULT_EXPIRATION,
        );
        let first = tokens.get("sink").await.expect("token");
        assert_eq!(tokens.get("sink").await.expect("cached"), first);
        let dls = tokens.get("dls").await.expect("dls token");
        assert_ne!(dls, first);
        assert_eq!(tokens.issued(), 2);
        // Two requests refused with the same token: one new token.
        tokens.refused("sink", &first).await;
        tokens.refused("sink", &first).await;
        let second = tokens.get("sink").await.expect("renewed");
        assert_ne!(second, first);
        tokens.refused("sink", &first).await;
        assert_eq!(tokens.get("sink").await.expect("kept"), second);
        assert_eq!(tokens.issued(), 3);
        assert_eq!(
            *issuer.audiences.lock().expect("lock"),
            [
                ("sink".to_owned(), DEFAULT_EXPIRATION),
                ("dls".to_owned(), DEFAULT_EXPIRATION),
                ("sink".to_owned(), DEFAULT_EXPIRATION),
            ]
        );
        assert!(matches!(
            tokens.get("other").await,
            Err(IdentityError::UnknownAudience(_))
        ));
    }

    /// The sink's token goes with a redirect within its origin, never to another origin.
    #[tokio::test]
    async fn the_token_is_not_sent_on_to_another_origin() {
        use axum::http::HeaderMap as Headers;
        type Seen = Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;
        async fn serve(app: axum::Router) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            url
        }
        let seen: Seen = Seen::default();
        let record = |seen: Seen, name: &'static str| {
            move |headers: Headers| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                seen.lock().expect("lock").push((name.to_owned(), auth));
                axum::http::StatusCode::ACCEPTED
            }
        };
        let other = serve(
            axum::Router::new().route("/", axum::routing::post(record(seen.clone(), "other"))),
        )
        .await;
        let to_other = other.clone();
        let sink_url = serve(
            axum::Router::new()
                .route(
                    "/away",
                    axum::routing::post(move || {
                        let to = to_other.clone();
                        async move {
                            (
                                axum::http::StatusCode::TEMPORARY_REDIRECT,
                                [("location", format!("{to}/"))],
                            )
                        }
                    }),
                )
                .route(
                    "/here",
                    axum::routing::post(|| async {
                        (
                            axum::http::StatusCode::TEMPORARY_REDIRECT,
                            [("location", "/landing")],
                        )
                    }),
                )
                .route(
                    "/landing",
                    axum::routing::post(record(seen.clone(), "landing")),
                ),
        )
        .await;
        let config = super::super::SinkConfig {
            url: format!("{sink_url}/here").parse().expect("url"),
            dead_letter: None,
            timeout: Duration::from_secs(10),
            ca_certs: None,
            dead_letter_ca_certs: None,
            trust_bundles: Vec::new(),
            backoff: crate::backoff::Backoff::default(),
            backoff_per_event: false,
            retry: None,
            oidc: Some(OidcSettings {
                namespace: "ns".into(),
                service_account: "sa".into(),
                audience: Some("aud".into()),
                dead_letter_audience: None,
                expiration: DEFAULT_EXPIRATION,
            }),
        };
        let tokens = Arc::new(Tokens::new(
            Box::new(counting(Duration::from_secs(3600))),
            &["aud".to_owned()],
            DEFAULT_EXPIRATION,
        ));
        let sink =
            super::super::Sink::new(config, Arc::new(crate::telemetry::Metrics::new("test")))
                .expect("sink")
                .with_tokens(tokens);
        let body = bytes::Bytes::from_static(b"{}");
        for path in ["/here", "/away"] {
            let url: url::Url = format!("{sink_url}{path}").parse().expect("url");
            let a = sink
                .post_with_identity(super::super::To::Sink, &url, &http::HeaderMap::new(), &body)
                .await;
            assert_eq!(a.status, 202, "{path}: {}", a.detail);
        }
        assert_eq!(
            *seen.lock().expect("lock"),
            [
                ("landing".to_owned(), Some("Bearer token-1".to_owned())),
                ("other".to_owned(), None),
            ]
        );
    }

    #[tokio::test]
    async fn a_token_about_to_expire_is_renewed_in_the_background() {
        // Valid for 2 s: renewed after 1 s (half its lifetime), never sent in its last second.
        let issuer = counting(Duration::from_secs(2));
        let tokens = Arc::new(Tokens::new(
            Box::new(issuer.clone()),
            &["sink".to_owned()],
            DEFAULT_EXPIRATION,
        ));
        Tokens::renew_in_background(&tokens);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokens.issued() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(tokens.issued() >= 3, "issued {}", tokens.issued());
    }
}
