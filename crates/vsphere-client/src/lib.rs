#![doc = include_str!("../README.md")]
//!
//! ## What is where
//!
//! - [`Client`] ([`Client::builder`]): the session (login, keep-alive, re-login on
//!   `NotAuthenticated`), [`Client::current_time`], inventory ([`Client::list_vms`],
//!   [`Client::retrieve_properties`]), posting events ([`Client::post_event`]);
//!   [`Endpoint`] and [`Credentials`] (URLs parsed like govmomi's `soap.ParseURL`).
//! - [`events`]: [`events::EventStream`] (the robust, checkpointable reader), and the building
//!   blocks under it: [`events::EventFilterSpec`], [`events::EventCollector`],
//!   [`events::LatestPageWatch`].
//! - [`model`]: decoded values ([`Event`], [`DataObject`], [`Value`], [`MoRef`]); every field vCenter
//!   sends is kept, including those of event types newer than this crate.
//! - [`catalogue`]: the vim25 types and fields the decoder knows, with the API release that
//!   introduced each.
//! - [`Error`] (with [`SoapFault`] and [`FaultClass`]): what failed, never with credentials.
//!
//! Times are [`jiff::Timestamp`]s (re-exported as [`jiff`], aliased [`DateTime`]).
//!
//! The crate installs nothing process-wide: each client builds its own rustls configuration
//! with the `ring` provider, whatever provider (if any) the application installed.

#![forbid(unsafe_code)]

pub mod catalogue;
mod client;
// Internal: the streaming decoder. Public only for this workspace's simulator (vsphere-sim),
// encoders' tests and examples (cloudevent-encode), benches and the fuzz target; not part of the
// API (use `events::decode_page` to decode a captured page).
#[doc(hidden)]
pub mod decode;
mod endpoint;
mod error;
pub mod events;
mod fault;
mod inventory;
pub mod model;
// Internal: SOAP request writing. Public only for vsphere-sim (it writes answers with it) and
// tests that send requests the client has no method for.
#[doc(hidden)]
pub mod request;
// Internal: xsd:dateTime parsing and Go-style formatting, shared with vsphere-sim and
// cloudevent-encode.
#[doc(hidden)]
pub mod time;
mod tls;
// Internal: HTTP and the session cookie. Public only for vsphere-sim (the cookie name), and for
// the CA-bundle helpers the adapters and binding-env check settings with.
#[doc(hidden)]
pub mod transport;

pub use client::{About, ApiVersion, Client, ClientBuilder, ServiceContent, UserSession};
pub use decode::DecodeError;
pub use endpoint::{Credentials, Endpoint, Secret, UrlError};
pub use error::{Error, ResponseHead};
pub use fault::{FaultClass, SoapFault};
pub use inventory::{ObjectProperties, VmSummary};
pub use model::{DataObject, Event, EventClass, Field, FieldName, MoRef, TypeRef, Value};
pub use time::DateTime;

/// The `jiff` crate, whose [`jiff::Timestamp`] this crate's times are (`jiff::SignedDuration`
/// for arithmetic on them).
pub use jiff;

// For the workspace's binaries, which build their own rustls clients (an application may do the
// same); the library itself never calls it.
#[doc(hidden)]
pub use transport::install_crypto_provider;
