//! The vmware-sources adapters as a library: the runtime behind the `vsphere-adapter` and
//! `horizon-adapter` binaries.
//!
//! One event's way through the code, by folder: [`source`] reads it (vCenter or Horizon, in
//! order, resuming after restarts, lost sessions and lost answers), [`encode`] makes it a
//! CloudEvent, [`deliver`] sends it to the sink (retries, dead-letter sink), and
//! [`checkpointing`] saves how far delivery got. [`pipeline`] runs those steps the same way for
//! both sources: concurrent deliveries, the checkpoint at the low watermark, shutdown.
//!
//! Around it: [`adapter`] wires an adapter: what both do ([`adapter::run`]: the sidecars, the
//! checkpoint store, the pipeline, logging out), then what differs per source
//! ([`adapter::vsphere`], [`adapter::horizon`]: connecting and the resume point); [`settings`]
//! are the settings (the environment contract of `adapter-env`, and flags), validated before
//! anything connects; [`cli`] is the one entry point of both binaries; [`runtime`] the signals,
//! cancellation and the sidecars (metrics and health, giving memory back after a burst);
//! [`telemetry`] the metrics; [`backoff`] the waits between attempts; [`logging`] Knative's log
//! shape and levels; [`error`] why an adapter stops.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use adapter::adapter::{Adapter as _, vsphere::Vsphere};
//! use clap::Parser as _;
//!
//! let args = adapter::settings::vsphere::VsphereArgs::parse_from([
//!     "vsphere-adapter", "--vc-url", "https://vc.example/sdk", "--vc-username", "u",
//!     "--vc-password", "p", "--checkpoint-file", "/tmp/cp.json", "--sink", "http://localhost:8080",
//! ]);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! adapter::adapter::run(Vsphere::prepare(args)?, shutdown).await?;
//! # Ok(()) }
//! ```

pub mod adapter;
pub mod backoff;
pub mod checkpointing;
pub mod cli;
pub mod deliver;
pub mod encode;
pub mod error;
pub mod logging;
pub mod pipeline;
pub mod runtime;
pub mod settings;
pub mod source;
pub mod telemetry;
