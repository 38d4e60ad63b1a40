//! Reading vCenter's event history.
//!
//! Most programs want [`EventStream`]: events from a [`Position`] on, in order, each once,
//! through lost sessions, lost answers and outages, with the position to checkpoint; an
//! [`EventSelection`] says which (an entity by inventory path or reference, with [`Recursion`];
//! [`Category`]s; [`Users`]; event types). Under it
//! are the single calls, for programs that manage collectors themselves: [`EventFilterSpec`],
//! [`EventCollector`] (`ReadNextEvents`, `ReadPreviousEvents`, …), [`LatestPageWatch`] (waiting
//! for new events with `WaitForUpdatesEx` instead of polling).
//!
//! ```no_run
//! # async fn run(client: vsphere_client::Client) -> Result<(), vsphere_client::Error> {
//! use std::time::Duration;
//! use vsphere_client::events::{EventFilterSpec, Recursion};
//! let root = client.service_content().root_folder.clone();
//! let now = client.current_time().await?;
//! let collector = client
//!     .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All).begin_time(now))
//!     .await?;
//! let mut watch = collector.watch_latest_page().await?;
//! loop {
//!     for event in collector.read_next(100).await? {
//!         println!("{} {}", event.key(), event.type_name());
//!     }
//!     watch.wait(Duration::from_secs(30)).await?; // returns when latestPage changes
//! }
//! # }
//! ```
//!
//! That loop is what [`EventStream`] replaces: it does not survive a lost session or a lost
//! answer (a `ReadNextEvents` answer that never arrives loses its page).

mod collector;
mod filter;
mod selection;
mod stream;

pub use collector::{EventCollector, LatestPageWatch};
pub use filter::{Category, EventFilterSpec, FilterValueError, Recursion};
pub use selection::{Entity, EventCategories, EventSelection, Users};
pub use stream::{EventStream, EventStreamBuilder, Page, Position, Signal};

use crate::{DecodeError, Event};

/// Decode the body of a `ReadNextEvents` or `ReadPreviousEvents` answer (a captured one, for
/// replays and tests) into events, as the collector does.
///
/// ```
/// let page = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
///   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
///   <ReadNextEventsResponse xmlns="urn:vim25"><returnval xsi:type="VmPoweredOffEvent">
///   <key>28</key><chainId>28</chainId><createdTime>2026-11-27T02:47:56Z</createdTime>
///   <userName>user</userName><vm><name>VM0</name><vm type="VirtualMachine">vm-57</vm></vm>
///   <fullFormattedMessage>VM0 is powered off</fullFormattedMessage></returnval>
///   </ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;
/// let events = vsphere_client::events::decode_page(page).unwrap();
/// assert_eq!(events[0].key(), 28);
/// assert_eq!(events[0].type_name(), "VmPoweredOffEvent");
/// ```
pub fn decode_page(body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    crate::decode::decode_events(body)
}
