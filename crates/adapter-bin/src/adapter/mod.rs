//! The adapters' wiring. [`run`] does what both adapters do: serve metrics and health beside
//! the pipeline, open the checkpoint store, let the adapter connect and find where to resume,
//! run the [pipeline](crate::pipeline) until shutdown, and close the session. An [`Adapter`] is
//! only what differs per source: [`vsphere::Vsphere`] and [`horizon::Horizon`].
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

mod connect;
pub mod horizon;
mod identity;
mod oidc_tokens;
mod replay;
mod standby;
mod store;
pub mod vsphere;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use checkpoint::CheckpointStore;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use connect::{Attempt, reconnect_backoff, retry_until_connected};

use crate::deliver::{Sink, Target};
use crate::error::AdapterError;
use crate::runtime::Sidecars;
use crate::settings::{Common, ConfigError};
use crate::source::Source;
use crate::telemetry::Metrics;

/// What differs between the adapters; [`run`] does the rest.
pub trait Adapter: Sized + Send + 'static {
    /// The settings it takes (flags, and the environment the Go controller sets).
    type Args: clap::Parser + crate::settings::SourceArgs + Send;
    /// Where its events come from.
    type Source: Source;
    /// How its events become CloudEvents.
    type Encoder: crate::encode::Encode<<Self::Source as Source>::Event>;
    /// The logged-in session, closed after the pipeline stopped.
    type Session: Send;

    /// The source kind, as the metrics label it (`vsphere`, `horizon`).
    const KIND: &'static str;
    /// The logger name of every log line (and `config-logging`'s `loglevel.<component>`), as
    /// the Go adapter's.
    const COMPONENT: &'static str;

    /// Validate every setting, before anything connects anywhere (one message naming the bad
    /// one).
    fn prepare(args: Self::Args) -> Result<Self, ConfigError>;

    /// The validated settings both adapters share.
    fn common(&self) -> &Common;

    /// What the adapter will use, as JSON (`--check-settings`; no credentials).
    fn summary(&self) -> Result<serde_json::Value, ConfigError>;

    /// Load the checkpoint from `cx.store`, connect (retrying while the source is unreachable),
    /// and make the source and its encoder, resuming after the checkpoint. `Ok(None)` when
    /// shutdown came first.
    fn start(
        self,
        cx: &Context,
    ) -> impl Future<Output = Result<Option<Started<Self>>, AdapterError>> + Send;

    /// Log out; [`run`] bounds it in time.
    fn logout(session: Self::Session) -> impl Future<Output = ()> + Send;

    /// The help of the binary's `--simulate`.
    #[cfg(feature = "simulate")]
    const SIMULATE_HELP: &'static str;
    /// The help of the binary's `--simulate-rate`.
    #[cfg(feature = "simulate")]
    const SIMULATE_RATE_HELP: &'static str;
    /// The running built-in simulator, kept while the adapter runs.
    #[cfg(feature = "simulate")]
    type Simulator: Send;

    /// Start the built-in simulator generating `rate` events a second, and point `args` at it
    /// (and at a checkpoint file, and at a loopback metrics port, unless they are set).
    #[cfg(feature = "simulate")]
    fn simulate(
        args: &mut Self::Args,
        rate: f64,
    ) -> impl Future<Output = Result<Self::Simulator, Box<dyn std::error::Error>>>;
}

/// What an adapter starts with.
#[derive(Clone)]
pub struct Context {
    /// The checkpoint store, opened.
    pub store: Arc<dyn CheckpointStore>,
    /// The metrics the sidecars serve.
    pub metrics: Arc<Metrics>,
    /// Fires on SIGTERM.
    pub shutdown: CancellationToken,
}

/// What [`Adapter::start`] hands to the pipeline.
pub struct Started<A: Adapter> {
    /// The source, reading from the resume point.
    pub source: A::Source,
    /// Its encoder.
    pub encoder: A::Encoder,
    /// The stored checkpoint, where the pipeline's checkpoint starts; on a first run (nothing
    /// stored), the position where reading begins.
    pub resume: Option<<A::Source as Source>::Checkpoint>,
    /// `resume` is not stored yet (a first run): the pipeline saves it at once, so a restart
    /// before anything is delivered begins where this run began, not at its own "now".
    pub resume_unsaved: bool,
    /// The session to close at the end.
    pub session: A::Session,
}

/// Run `adapter` until `shutdown` fires. Returns an error only for problems that retrying
/// cannot fix (settings, an unreadable checkpoint).
pub async fn run<A: Adapter>(adapter: A, shutdown: CancellationToken) -> Result<(), AdapterError> {
    let common = adapter.common().clone();
    let sidecars = Sidecars::start(A::KIND, common.metrics_address)
        .await
        .map_err(|source| AdapterError::Listen {
            addr: common.metrics_address,
            source,
        })?;
    let store = store::open(&common.checkpoint.location).await?;
    info!(
        location = %store.location(),
        max_age_s = common.checkpoint.max_age.map(|a| a.as_secs()),
        period_s = common.checkpoint.period.as_secs_f64(),
        "configuring checkpointing"
    );
    let cx = Context {
        store,
        metrics: sidecars.metrics().clone(),
        shutdown,
    };
    // Built before connecting: a CA setting or trust bundle that does not parse stops start-up
    // at once, not after the source is reached.
    let sink_url = common.sink.as_ref().map(|s| s.url.to_string());
    let mut target = target(common.sink, &cx.metrics).await?;
    let tracing = crate::telemetry::tracing_export::Tracing::start(
        &common.tracing,
        A::COMPONENT,
        common.namespace.as_deref(),
    )?;
    if let (Some(tracing), Target::Http(sink)) = (&tracing, &mut target) {
        *sink = sink.clone().with_tracer(tracing.tracer());
    }
    // With a standby (spec.replicas: 2), only the Lease's holder goes on.
    let held = match &common.lease {
        None => None,
        Some(lease) => match standby::acquire(lease, &cx.metrics, &cx.shutdown).await? {
            None => return Ok(()),
            Some(held) => Some(held),
        },
    };
    let Some(started) = adapter.start(&cx).await? else {
        if let Some(h) = held {
            h.release().await;
        }
        return Ok(());
    };
    // Start-up is over: its code need not stay resident through the catch-up that follows.
    crate::runtime::memory::release_unused_code();
    let reporting = cx.shutdown.child_token();
    let reporter = sink_url
        .map(|url| identity::start(cx.store.clone(), cx.metrics.clone(), url, reporting.clone()));
    crate::pipeline::run(crate::pipeline::Context {
        source: started.source,
        encoder: started.encoder,
        target,
        store: cx.store,
        resume: started.resume,
        resume_unsaved: started.resume_unsaved,
        settings: common.pipeline,
        metrics: cx.metrics,
        shutdown: cx.shutdown,
    })
    .await;
    reporting.cancel();
    if let Some(r) = reporter {
        let _ = r.await;
    }
    if let Some(tracing) = tracing {
        tracing.shutdown(Duration::from_secs(5)).await;
    }
    info!("checkpoint saved; logging out");
    let logout = Duration::from_secs(adapter_env::default::SHUTDOWN_SOURCE_SECONDS);
    let _ = tokio::time::timeout(logout, A::logout(started.session)).await;
    if let Some(h) = held {
        h.release().await;
    }
    // The metrics server and the memory releaser stop here (and on every early return).
    drop(sidecars);
    Ok(())
}

/// Where events go: the sink (its client built now, with OIDC tokens when it has an
/// audience), else stdout.
async fn target(
    sink: Option<crate::deliver::SinkConfig>,
    metrics: &Arc<Metrics>,
) -> Result<Target, AdapterError> {
    let Some(config) = sink else {
        return Ok(Target::Stdout);
    };
    let oidc = config.oidc.clone();
    let sink = Sink::new(config, metrics.clone())
        .map_err(|e| ConfigError::new(e.setting(), e.to_string()))?;
    let Some(oidc) = oidc else {
        return Ok(Target::Http(sink));
    };
    Ok(Target::Http(
        sink.with_tokens(oidc_tokens::start(&oidc).await?),
    ))
}
