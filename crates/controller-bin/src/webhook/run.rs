//! The loops: every replica serves ([`run_webhooks`]), the leader manages
//! the Secret and the configurations ([`manage_webhooks`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;

use super::caches::WebhookCaches;
use super::certificate::{ensure_certificate, follow_certificate};
use super::configurations::{BindingWebhookSpec, update_configurations};
use super::review::{WebhookState, podspecables};
use super::server::serve;
use super::{
    BINDING_WEBHOOK, CONFIG_WEBHOOK, DEFAULTING_WEBHOOK, VALIDATION_WEBHOOK, WebhookError,
    WebhookSettings,
};
use crate::binding::BindingEntry;
use crate::certs::{CertResolver, CertState};
use crate::metrics::Metrics;
use crate::podspecable::PodSpecables;

/// Serves the admission webhooks until `shutdown` (and the drain after it),
/// reading `caches`, with the certificate from the Secret (see
/// [`manage_webhooks`]); the HTTPS server's bound address is sent through
/// `bound`. Every replica runs it; `metrics` turns ready once it listens
/// with a certificate.
pub async fn run_webhooks(
    client: Client,
    settings: WebhookSettings,
    caches: Arc<WebhookCaches>,
    config_logging_name: String,
    metrics: Arc<Metrics>,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    let resolver = Arc::new(CertResolver::default());
    // Ready only once listening and with a certificate: the certificate is
    // followed from the moment the listener is bound.
    let (listening_tx, listening) = tokio::sync::oneshot::channel();
    let follower = {
        let (client, settings, resolver, metrics) = (
            client.clone(),
            settings.clone(),
            resolver.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let Ok(addr) = listening.await else { return };
            if let Some(tx) = bound {
                let _ = tx.send(addr);
            }
            follow_certificate(client, settings, resolver, metrics).await;
        })
    };
    let state = WebhookState {
        bindings: caches.bindings.clone(),
        podspecable_roles: caches.roles.clone(),
        config_logging_name,
        excluded_namespaces: settings.excluded_namespaces(),
    };
    let draining = metrics.clone();
    let shutdown = async move {
        shutdown.await;
        // Out of the Service's endpoints while the last requests finish.
        draining.set_ready(false);
    };
    let res = serve(
        settings.addr,
        settings.limits.clone(),
        resolver,
        state,
        Some(listening_tx),
        shutdown,
    )
    .await;
    follower.abort();
    res
}

/// One pass of [`manage_webhooks`].
pub async fn reconcile_webhooks(
    client: &Client,
    settings: &WebhookSettings,
    bindings: &[Arc<BindingEntry>],
    podspecables: &PodSpecables,
) -> Result<CertState, WebhookError> {
    let state = ensure_certificate(client, settings).await?;
    let spec = BindingWebhookSpec::new(bindings, podspecables, settings);
    update_configurations(client, &state.bundle, &spec)
        .await
        .map_err(WebhookError::Configurations)?;
    Ok(state)
}

/// The leader's part: keeps the certificate Secret and the webhook
/// configurations current, on start, on every change of a VSphereBinding,
/// a PodSpecable ClusterRole or the Secret, and every `check_interval`,
/// until `shutdown`.
pub async fn manage_webhooks(
    client: Client,
    settings: WebhookSettings,
    caches: Arc<WebhookCaches>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // The Secret and the configurations: an edit (or a configuration created
    // after the controller) is answered at once, not after the interval.
    let edited = Arc::new(tokio::sync::Notify::new());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let watches = vec![
        wake_on_change(secrets, &settings.secret_name, edited.clone()),
        wake_on_change(mutating.clone(), DEFAULTING_WEBHOOK, edited.clone()),
        wake_on_change(mutating, BINDING_WEBHOOK, edited.clone()),
        wake_on_change(validating.clone(), VALIDATION_WEBHOOK, edited.clone()),
        wake_on_change(validating, CONFIG_WEBHOOK, edited.clone()),
    ];
    tokio::pin!(shutdown);
    loop {
        let podspecables = podspecables(&caches.roles);
        // A conflict (another writer) is retried soon, not after the interval.
        let again =
            match reconcile_webhooks(&client, &settings, &caches.bindings.all(), &podspecables)
                .await
            {
                Ok(_) => settings.check_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "managing the webhooks");
                    settings.check_interval.min(Duration::from_secs(2))
                }
            };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(again) => {}
            _ = caches.changed.notified() => {}
            _ = edited.notified() => {}
        }
        // Coalesce a burst of changes.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in watches {
        w.abort();
    }
}

/// Notifies `wake` whenever the object `name` of `api` changes.
fn wake_on_change<K>(
    api: Api<K>,
    name: &str,
    wake: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut events = watcher(api, cfg)
            .backoff(crate::backoff::watch_backoff())
            .boxed();
        while let Some(ev) = events.next().await {
            if ev.is_ok() {
                wake.notify_one();
            }
        }
    })
}
