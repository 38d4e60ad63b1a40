#![doc = include_str!("../README.md")]
//!
//! ## What is here
//!
//! - [`Checkpoint`]: the JSON the Go adapter writes under the ConfigMap key `checkpoint`
//!   (`{"vCenter","lastEventKey","lastEventType","lastEventKeyTimestamp","createdTimestamp"}`),
//!   read back even when only `lastEventKeyTimestamp` is present.
//! - [`CheckpointConfig`]: `VSPHERE_CHECKPOINT_CONFIG` (`{"maxAge":"5m","period":"10s"}`, Go
//!   duration strings) and the replay rule [`CheckpointConfig::begin_at`].
//! - [`HorizonCheckpoint`]: the Horizon adapter's checkpoint (`{"horizon","lastEventTime",
//!   "lastEventIds","createdTimestamp"}`): the last delivered audit-event time in milliseconds
//!   and the ids delivered at that millisecond.
//! - [`CheckpointStore`]: load, save, delete; [`FileStore`] (atomic: temporary file, fsync,
//!   rename, directory fsync) for standalone runs and [`MemoryStore`] for tests and embedding.
//!   [`ConfigMapStore`] (feature `kubernetes`) keeps it where the Go adapter does. Beside the
//!   checkpoint, a store keeps notes ([`CheckpointStore::load_note`], `save_note`: the last
//!   replay made on request, [`LAST_REPLAY_KEY`]) and the ConfigMap store the sink's refusal of
//!   the adapter's identity ([`CheckpointStore::note_sink_refusal`]) for the controller.
//!
//! ```
//! # async fn demo() -> Result<(), vmware_sources_checkpoint::StoreError> {
//! use vmware_sources_checkpoint::{Checkpoint, CheckpointStore, MemoryStore};
//! let store = MemoryStore::default();
//! assert!(store.load().await?.is_none());
//! let t = "2021-02-15T19:20:35.598999Z".parse().unwrap();
//! store.save(&Checkpoint::new("https://vc/sdk", 17208, "UserLogoutSessionEvent", t)).await?;
//! assert_eq!(store.load().await?.unwrap().last_event_key, Some(17208));
//! # Ok(()) }
//! ```

mod config;
#[cfg(feature = "kubernetes")]
mod configmap;
mod horizon;
mod model;
mod store;

#[cfg(feature = "kubernetes")]
pub use configmap::ConfigMapStore;

pub use config::{CheckpointConfig, ConfigError, parse_go_duration};
pub use horizon::HorizonCheckpoint;
pub use model::{Checkpoint, CheckpointError};
pub use store::{CheckpointStore, FileStore, MemoryStore, StoreError};

/// The `jiff` crate, whose [`jiff::Timestamp`] checkpoints hold.
pub use jiff;

/// The ConfigMap key the Go adapter uses.
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// The note (ConfigMap key) recording the last replay an adapter made on request:
/// `{"id","from","at"}` (RFC 3339 times). A request whose id is recorded is not replayed again.
pub const LAST_REPLAY_KEY: &str = "lastReplay";

/// The ConfigMap key where an adapter notes that its sink refuses its identity (401 or 403),
/// for the controller to report in the source's status; removed once the sink accepts.
pub const SINK_REFUSAL_KEY: &str = "sinkRefusal";

/// The label an adapter puts on its checkpoint ConfigMap while [`SINK_REFUSAL_KEY`] is there,
/// so the controller watches only those ConfigMaps.
pub const SINK_REFUSAL_LABEL: &str = "sources.tanzu.vmware.com/sink-refusal";
