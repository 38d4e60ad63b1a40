#![doc = include_str!("../README.md")]
//!
//! ## The calls
//!
//! ```no_run
//! # async fn demo() -> Result<(), horizon_client::Error> {
//! use horizon_client::{Client, Credentials};
//! let credentials = Credentials::from_dir("/var/bindings/horizon")?;
//! let client = Client::builder("https://horizon.example.com")?
//!     .credentials(credentials)
//!     .build()?;
//! client.login().await?;
//! // Every audit event with 1627369939000 <= time <= 1627456339000, oldest first.
//! let events = client.events_between(1627369939000, 1627456339000, 1000).await?;
//! for e in &events {
//!     println!("{} {} {}", e.id, e.time, e.kind.as_deref().unwrap_or(""));
//! }
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! - `POST /rest/login` with `{"domain","username","password"}`; `POST /rest/refresh` with the
//!   refresh token (HTTP 400: it expired, so a full login follows); `POST /rest/logout`.
//! - The access token is refreshed before it expires ([`ClientBuilder::access_token_lifetime`],
//!   30 minutes by default, refreshed a minute early) and on a 401, then the call is retried once.
//! - `GET /rest/external/v1/audit-events` with the `Between` filter on `time` (milliseconds,
//!   inclusive) and pagination (`page` from 1, `size` at most 1000, the `HAS_MORE_RECORDS`
//!   header). Horizon answers newest first; [`Client::events_between`] returns events oldest
//!   first (by time, then id), de-duplicated by id (pages shift when events arrive while paging).
//! - [`AuditEventFilter`] selects event types, modules and severities: Horizon filters them
//!   (`And`/`Or`/`Equals` in its [`Filter`] syntax, on `type`, `module`, `severity`), the client
//!   checks each event again, and [`AuditEventStream`] falls back to filtering alone when a
//!   Horizon refuses the combined filter.
//! - A record that does not fit [`AuditEvent`] (a field of another type) costs only itself: it
//!   is salvaged with what can be read ([`Undecodable`], reported by [`AuditEventStream`] as
//!   [`Signal::Undecodable`]), or left out when it has no readable `id` and `time`. One
//!   millisecond holding more than a page is read in at most [`MAX_MILLISECOND_PAGES`] pages.
//! - Redirects are followed within the server's origin only ([`MAX_REDIRECTS`] at most): a
//!   login's body holds the password. Any other redirect is [`Error::Redirected`].
//! - [`Credentials`] come from a mounted Secret directory (`domain`, `username`, `password`,
//!   read raw as the Go adapter does); their `Debug` output is redacted and they are never logged.

mod client;
mod credentials;
mod filter;
mod model;
mod stream;
mod tls;

pub use client::{
    Client, ClientBuilder, DEFAULT_MAX_RESPONSE_BYTES, Error, MAX_PAGE_SIZE, MAX_REDIRECTS, Page,
    check_ca_bundle,
};
pub use credentials::{Credentials, CredentialsError, DEFAULT_SECRET_PATH};
pub use filter::{AuditEventFilter, Filter, Severity, SeverityError};
pub use model::{AuditEvent, BetweenFilter, Tokens, Undecodable};
pub use stream::{
    AuditEventStream, AuditEventStreamBuilder, Batch, Cursor, MAX_MILLISECOND_PAGES, Signal,
};
