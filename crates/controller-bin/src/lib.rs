//! The sources-controller: one leader-elected process reconciling
//! VSphereSource, HorizonSource and VSphereBinding objects, and serving
//! their admission webhooks.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), sources_controller::RunError> {
//! use sources_controller::{Settings, run_controllers};
//!
//! let settings = Settings::new("registry.local/vsphere-adapter:v1", "registry.local/horizon-adapter:v1", "vmware-sources");
//! // Runs until the future given as shutdown completes.
//! run_controllers(client, settings, std::sync::Arc::default(), std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! For each VSphereSource it applies (server-side, typed k8s-openapi
//! values) the Role `<name>-checkpoint` (its checkpoint ConfigMap only) and
//! the RoleBinding `<name>-rolebinding`, a dedicated ServiceAccount
//! `<name>-adapter` when the source names none, and the adapter Deployment
//! `<name>-adapter` with the vCenter settings rendered into it (the Go
//! controller's per-source VSphereBinding `<name>-vspherebinding` is
//! deleted when found);
//! creates the checkpoint ConfigMap `<name>-configmap`, checks the
//! credentials Secret, resolves the sink and the dead-letter sink and
//! reports `SinkProvided`, `DeadLetterSinkResolved`, `AuthReady`,
//! `AdapterReady` and `Ready`. For each HorizonSource it does the same
//! (the named ServiceAccount is created when missing, as upstream),
//! reporting `SinkProvided`, `DeadLetterSinkResolved`, `Deployed` and
//! `Ready`. When a sink or dead-letter sink does not resolve, the adapter
//! Deployment is left as it is. Child names follow Knative's
//! `kmeta.ChildName`, so objects made by the Go controller are adopted.
//! Failures are Kubernetes Events on the source. The binary adds Lease
//! leader election ([`leader`]), `/metrics`, `/healthz`, `/readyz`
//! ([`serve_http`]) and Knative-shaped logs ([`logging`]).

//!
//! # Differences from the Go controllers (intentional)
//!
//! - One binary and Deployment (`sources-controller`, ServiceAccount
//!   `sources-controller`) for both kinds, the VSphereBinding reconciler
//!   ([`run_binding_controller`], [`binding_reconcile`]) and one HTTPS server
//!   for every admission webhook ([`webhook`]; upstream had a vSphere and a
//!   Horizon webhook Deployment). Every replica serves admission; the
//!   leader manages the certificate ([`certs`]: a long-lived rcgen CA and a
//!   weekly serving certificate in the Secret `vsphere-webhook-certs`,
//!   swapped without a restart, a new CA trusted before it signs) and the
//!   webhook configurations.
//! - Defaulting: `checkpointConfig.maxAgeSeconds` defaults to 300 (the
//!   manual's value); `ceOverrides` keys are validated ([`admission`]).
//!   The CRDs carry a structural schema, so the API server prunes (or, with
//!   strict field validation, as `kubectl apply`, rejects) unknown fields
//!   before the webhooks' strict decoding sees them.
//! - Every child is written with server-side apply (field manager
//!   `sources-controller`, forced), so changes are minimal and the
//!   RoleBinding is kept up to date (upstream never updated it; one bound to
//!   upstream's ClusterRole is replaced). The adapter may read and write only
//!   its checkpoint ConfigMap (a Role with `resourceNames`; upstream bound a
//!   ClusterRole allowing every ConfigMap of the namespace) and runs under
//!   Pod Security "restricted" with CPU and memory limits. The checkpoint
//!   ConfigMap is still created only when missing, never updated.
//! - VSphereSource also reports `SinkProvided`; `AuthReady` reflects the
//!   credentials Secret (present, with `username` and `password`) rather
//!   than the binding's `Ready`; a missing ServiceAccount or Secret sets a
//!   False condition with an actionable message instead of only an error.
//! - The adapter Deployments add readiness/liveness probes on port 9090
//!   (`metrics`, also `METRICS_PROMETHEUS_PORT`), resources, a restricted
//!   security context, `K_CA_CERTS` from the sink's CA certificates, and
//!   `VSPHERE_EVENT_TYPES`, `K_DEAD_LETTER_SINK` and `K_DELIVERY_*` for the
//!   new `spec.eventTypes` and `spec.delivery` fields (the environment is
//!   defined once, in `adapter-env`). Without a dead-letter sink an event
//!   the sink refuses is retried until it is accepted, never dropped
//!   (`DeadLetterSinkResolved` says so).
//! - HorizonSource: creating the ServiceAccount does not end the reconcile,
//!   the whole Deployment spec is applied (not only image and env), and a
//!   missing Secret gives `Deployed=False` (`SecretMissing`).
//! - Only the controller's own children are watched (label selectors), so
//!   the caches do not grow with the cluster's other Deployments.
//! - With Knative's `authentication-oidc` enabled (`config-features` in the
//!   system namespace), each source gets an OIDC identity as Knative's own
//!   sources do ([`oidc`]): a ServiceAccount of its own, `OIDCIdentityCreated`,
//!   `status.auth` and `status.sinkAudience`, and tokens its adapter may
//!   request for that account only.

#![forbid(unsafe_code)]

pub mod admission;
pub mod backoff;
pub mod binding;
pub mod binding_reconcile;
pub mod certs;
pub mod config;
/// Leader election (the `lease` crate, shared with the adapters' standby).
pub use lease as leader;
pub mod logging;
pub mod metrics;
pub mod oidc;
pub mod pacing;
pub mod podspecable;
pub mod reconcile;
pub mod resources;
pub mod sink;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use sources_api::v1alpha1::{HorizonSource, VSphereBinding, VSphereSource};
use tokio::sync::{RwLock, mpsc};

pub use config::{AdapterConfig, Settings};
pub use metrics::Metrics;
pub use reconcile::Context;

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP server could not bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Reading the initial configuration failed.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

fn api_for<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn load_adapter_config(
    api: &Api<ConfigMap>,
    settings: &Settings,
) -> Result<AdapterConfig, kube::Error> {
    let logging = api.get_opt(&settings.config_logging_name).await?;
    let observability = api.get_opt(&settings.config_observability_name).await?;
    let features = api.get_opt(oidc::CONFIG_FEATURES).await?;
    Ok(AdapterConfig {
        logging: logging.map(|c| config::without_example(c.data)),
        observability: observability.map(|c| config::without_example(c.data)),
        features: features.map(|c| config::without_example(c.data)),
    })
}

/// Keeps `ctx.adapter_config` in step with the ConfigMaps and tells the
/// controllers to reconcile everything when it changes (so a logging change
/// reaches the adapters).
async fn watch_adapter_config(ctx: Arc<Context>, triggers: Vec<mpsc::Sender<()>>) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.settings.system_namespace);
    // With backoff: without it a watch whose API server is gone restarts at
    // once, and logs its warning as fast as the loop turns.
    let mut events = watcher(api.clone(), watcher::Config::default())
        .backoff(crate::backoff::watch_backoff())
        .boxed();
    while let Some(event) = events.next().await {
        let relevant = match &event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::Delete(cm)) => {
                let name = cm.metadata.name.as_deref().unwrap_or_default();
                name == ctx.settings.config_logging_name
                    || name == ctx.settings.config_observability_name
                    || name == oidc::CONFIG_FEATURES
            }
            Ok(watcher::Event::InitDone) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "watching the configuration ConfigMaps");
                false
            }
        };
        if !relevant {
            continue;
        }
        match load_adapter_config(&api, &ctx.settings).await {
            Ok(new) => {
                let changed = {
                    let mut current = ctx.adapter_config.write().await;
                    let changed = *current != new;
                    *current = new;
                    changed
                };
                if changed {
                    tracing::info!("adapter configuration changed; reconciling every source");
                    for t in &triggers {
                        let _ = t.try_send(());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the configuration ConfigMaps"),
        }
    }
}

fn trigger_stream(rx: mpsc::Receiver<()>) -> impl futures_util::Stream<Item = ()> + Send {
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|()| ((), rx)) },
    )
}

/// Adds to `controller` the watches of Knative trust bundles: in the watched
/// namespaces, and in the system namespace when only one other namespace is
/// watched.
fn watch_trust_bundles<K>(
    controller: Controller<K>,
    client: &Client,
    watched: Option<&str>,
    system_ns: &str,
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K: Send + Sync + 'static,
{
    let store = controller.store();
    let mut controller = controller.watches(
        api_for::<PartialObjectMeta<ConfigMap>>(client, watched),
        trust_bundles(),
        trust_bundle_mapper(store.clone(), system_ns.to_owned()),
    );
    if watched.is_some_and(|ns| ns != system_ns) {
        controller = controller.watches(
            api_for::<PartialObjectMeta<ConfigMap>>(client, Some(system_ns)),
            trust_bundles(),
            trust_bundle_mapper(store, system_ns.to_owned()),
        );
    }
    controller
}

/// Adds to `controller` the watch of checkpoint ConfigMaps an adapter has
/// labelled because its sink refuses its identity (metadata only): a label
/// put or removed reconciles the source whose checkpoint it is
/// (`checkpoint_of`), which reads the note into `SinkIdentityAccepted`.
fn watch_sink_refusals<K>(
    controller: Controller<K>,
    client: &Client,
    watched: Option<&str>,
    checkpoint_of: fn(&K) -> String,
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K: Send + Sync + 'static,
{
    let sources = controller.store();
    controller.watches(
        api_for::<PartialObjectMeta<ConfigMap>>(client, watched),
        watcher::Config::default().labels(checkpoint::SINK_REFUSAL_LABEL),
        move |cm| {
            let ns = cm.metadata.namespace.unwrap_or_default();
            let name = cm.metadata.name.unwrap_or_default();
            sources
                .state()
                .iter()
                .filter(|s| {
                    s.meta().namespace.as_deref() == Some(ns.as_str()) && checkpoint_of(s) == name
                })
                .map(|s| kube::runtime::reflector::ObjectRef::from_obj(&**s))
                .collect::<Vec<_>>()
        },
    )
}

/// The watch of Knative trust bundles (ConfigMaps labelled
/// `networking.knative.dev/trust-bundle: "true"`), metadata only (as
/// `Api<PartialObjectMeta<_>>` asks): a bundle's certificates are read when a
/// source's reconcile copies them, never kept in the controller's memory.
fn trust_bundles() -> watcher::Config {
    watcher::Config::default().labels(&format!("{}=true", resources::TRUST_BUNDLE_LABEL))
}

/// The sources a trust bundle's change concerns: those of its namespace, or
/// all of them for a bundle of the system namespace.
fn trust_bundle_mapper<K>(
    sources: kube::runtime::reflector::Store<K>,
    system_ns: String,
) -> impl Fn(PartialObjectMeta<ConfigMap>) -> Vec<kube::runtime::reflector::ObjectRef<K>>
+ Send
+ Sync
+ 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |bundle| {
        let ns = bundle.metadata.namespace.unwrap_or_default();
        sources
            .state()
            .iter()
            .filter(|s| ns == system_ns || s.meta().namespace.as_deref() == Some(ns.as_str()))
            .map(|s| kube::runtime::reflector::ObjectRef::from_obj(&**s))
            .collect()
    }
}

/// Reconciles run at once per kind. Each makes several API calls; without a
/// bound a burst of new sources opens a connection (and its TLS buffers)
/// per reconcile in flight.
pub const RECONCILE_CONCURRENCY: u16 = 8;

fn controller_config() -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default().concurrency(RECONCILE_CONCURRENCY)
}

/// Runs both reconcilers until `shutdown` completes. Does no leader
/// election (see [`leader`]).
pub async fn run_controllers(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunError> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &settings.system_namespace);
    let initial = load_adapter_config(&cms, &settings).await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sources-controller".into(),
            instance: Some(settings.identity.clone()),
        },
    );
    let ns = settings.watch_namespace.clone();
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings,
        adapter_config: RwLock::new(initial),
        recorder,
        metrics: metrics.clone(),
        pacing: pacing::Pacing::new(pacing::PacingPolicy::default()),
        applied: reconcile::AppliedVersions::default(),
    });
    let (vtx, vrx) = mpsc::channel(1);
    let (htx, hrx) = mpsc::channel(1);
    let config_task = tokio::spawn(watch_adapter_config(ctx.clone(), vec![vtx, htx]));

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stop = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let wc = watcher::Config::default();
    // Only our children are cached, not every Deployment, RoleBinding and
    // ServiceAccount of the cluster.
    let vsphere_children = watcher::Config::default().labels(resources::VSPHERE_NAME_LABEL);
    let horizon_children =
        watcher::Config::default().labels("knative-eventing-source=horizon-source-controller");
    let nsr = ns.as_deref();
    let system_ns = ctx.settings.system_namespace.clone();
    let vsphere = Controller::new(api_for::<VSphereSource>(&client, nsr), wc.clone());
    let vsphere = watch_trust_bundles(vsphere, &client, nsr, &system_ns);
    let vsphere = watch_sink_refusals(vsphere, &client, nsr, |s: &VSphereSource| {
        resources::VSphereChildren::of(&s.name_any()).configmap
    })
    .with_config(controller_config())
    .trigger_backoff(backoff::watch_backoff())
    .owns(
        api_for::<Deployment>(&client, nsr),
        vsphere_children.clone(),
    )
    .owns(api_for::<VSphereBinding>(&client, nsr), wc.clone())
    .owns(
        api_for::<ServiceAccount>(&client, nsr),
        vsphere_children.clone(),
    )
    .owns(api_for::<Role>(&client, nsr), vsphere_children.clone())
    .owns(api_for::<RoleBinding>(&client, nsr), vsphere_children)
    .reconcile_all_on(trigger_stream(vrx))
    .graceful_shutdown_on(stop(&stop_tx))
    .run(
        reconcile::reconcile_vsphere,
        reconcile::error_policy,
        ctx.clone(),
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "vsphere controller");
        }
    });
    let horizon = Controller::new(api_for::<HorizonSource>(&client, nsr), wc.clone());
    let horizon = watch_trust_bundles(horizon, &client, nsr, &system_ns);
    let horizon = watch_sink_refusals(horizon, &client, nsr, |s: &HorizonSource| {
        resources::HorizonChildren::of(&s.name_any()).configmap
    })
    .with_config(controller_config())
    .trigger_backoff(backoff::watch_backoff())
    .owns(
        api_for::<Deployment>(&client, nsr),
        horizon_children.clone(),
    )
    .owns(
        api_for::<ServiceAccount>(&client, nsr),
        horizon_children.clone(),
    )
    .owns(api_for::<Role>(&client, nsr), horizon_children.clone())
    .owns(api_for::<RoleBinding>(&client, nsr), horizon_children)
    .reconcile_all_on(trigger_stream(hrx))
    .graceful_shutdown_on(stop(&stop_tx))
    .run(
        reconcile::reconcile_horizon,
        reconcile::error_policy,
        ctx.clone(),
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "horizon controller");
        }
    });
    let stopper = async move {
        shutdown.await;
        let _ = stop_tx.send(());
    };
    tokio::join!(vsphere, horizon, stopper);
    config_task.abort();
    Ok(())
}

/// Runs the VSphereBinding reconciler (Do on subjects, Undo on deletion)
/// until `shutdown`, for `watch_namespace` (all when `None`). Subject
/// namespaces are labelled only in inclusion `selection_mode`. Leader-only,
/// like [`run_controllers`].
pub async fn run_binding_controller(
    client: Client,
    watch_namespace: Option<String>,
    resync: Duration,
    selection_mode: webhook::SelectionMode,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    // The webhook configuration manager watches the bindings itself; this
    // channel only has to exist.
    let (wake, _unused) = mpsc::channel(1);
    let ctx = Arc::new(binding_reconcile::BindingContext {
        client: client.clone(),
        wake,
        resync,
        selection_mode,
        pacing: pacing::Pacing::new(binding_reconcile::BindingContext::pacing_policy()),
    });
    Controller::new(
        api_for::<VSphereBinding>(&client, watch_namespace.as_deref()),
        watcher::Config::default(),
    )
    .with_config(controller_config())
    .trigger_backoff(backoff::watch_backoff())
    .graceful_shutdown_on(shutdown)
    .run(
        binding_reconcile::reconcile_binding,
        binding_reconcile::binding_error_policy,
        ctx,
    )
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "vspherebinding controller");
        }
    })
    .await;
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown`.
/// `/readyz` is 200 while [`Metrics::is_ready`]: the admission webhooks
/// answer with a certificate.
pub async fn serve_http(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let m1 = metrics.clone();
    let m2 = metrics.clone();
    let app = axum::Router::new()
        .route("/metrics", get(move || async move { m1.render() }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if m2.is_ready() {
                    (axum::http::StatusCode::OK, "ok")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| RunError::Bind { addr, source })
}

/// How long to wait between tries for the lease.
pub const LEASE_RETRY: Duration = Duration::from_secs(2);
