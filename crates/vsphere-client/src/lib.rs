//! A vCenter SOAP client for event sources: sessions that heal themselves, event collectors,
//! the vim25 type catalogue and a schema-guided event decoder.
//!
//! This is the crate everything else in vmware-sources reads vCenter through. It speaks the
//! vSphere Web Services API (SOAP, `urn:vim25`) for the calls an event source and a bound
//! workload need, and decodes any vim25 data object, including event types newer than its
//! catalogue, without losing a field.
//!
//! ```no_run
//! # async fn run() -> Result<(), vsphere_client::Error> {
//! use vsphere_client::{Client, Credentials};
//! use vsphere_client::events::{EventFilterSpec, Recursion};
//!
//! let client = Client::builder("vcenter.example.com")        // https://…/sdk
//!     .credentials(Credentials::new("administrator@vsphere.local", "secret"))
//!     .connect()
//!     .await?;
//! let root = client.service_content().root_folder.clone();
//! let collector = client
//!     .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
//!     .await?;
//! for event in collector.read_next(100).await? {
//!     println!("{} {} {:?}", event.key(), event.kind_name(), event.full_formatted_message());
//! }
//! # Ok(()) }
//! ```
//!
//! Where things are:
//! - [`endpoint`]: URL parsing (govmomi's `soap.ParseURL`), credentials and secrets;
//! - [`transport`]: HTTP, TLS, the session cookie, size caps; [`client`]: the session, keep-alive
//!   and re-login; [`request`]: request envelopes in WSDL order;
//! - [`events`]: filters, collectors, `PostEvent`, waiting on `latestPage`;
//!   [`inventory`]: property retrieval (VMs, power state, host);
//! - [`catalogue`]: the vim25 type table; [`decode`]: the streaming decoder; [`model`]: the
//!   decoded values and the [`Event`] accessors; [`fault`]: SOAP faults and their classes.
//!
//! Every binary and test must use one rustls crypto provider; [`install_crypto_provider`]
//! installs ring (the client calls it too).

pub mod catalogue;
pub mod client;
pub mod decode;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod fault;
pub mod inventory;
pub mod model;
pub mod request;
pub mod time;
pub mod transport;

pub use client::{About, ApiVersion, Client, ClientBuilder, ServiceContent, UserSession};
pub use endpoint::{Credentials, Endpoint, Secret};
pub use error::Error;
pub use fault::{FaultClass, SoapFault};
pub use model::{DataObject, Event, EventClass, Field, FieldName, MoRef, TypeRef, Value};
pub use transport::install_crypto_provider;
