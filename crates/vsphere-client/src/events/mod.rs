//! Reading vCenter's event history: filters, collectors, posting events, and waiting for new
//! events without polling.
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

mod collector;
mod filter;
mod stream;

pub use collector::{EventCollector, LatestPageWatch};
pub use filter::{EventFilterSpec, Recursion};
pub use stream::{EventStream, EventStreamBuilder, Page, Position, Signal, key_at_or_before};
