//! The certificate Secret: the leader brings it up to date
//! ([`ensure_certificate`]), every replica serves what it holds
//! ([`follow_certificate`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};

use super::{
    BINDING_WEBHOOK, CONFIG_WEBHOOK, DEFAULTING_WEBHOOK, VALIDATION_WEBHOOK, WebhookError,
    WebhookSettings,
};
use crate::certs::{self, CertResolver, CertState};
use crate::metrics::Metrics;

/// Reads the certificate Secret: its state and, when it exists, the object.
async fn read_certificate_secret(
    api: &Api<Secret>,
    name: &str,
) -> Result<(CertState, Option<Secret>), kube::Error> {
    let secret = api.get_opt(name).await?;
    let state = match &secret {
        Some(s) => {
            let data: BTreeMap<String, Vec<u8>> = s
                .data
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            CertState::from_secret(&data, &s.metadata.annotations.clone().unwrap_or_default())
        }
        None => CertState::default(),
    };
    Ok((state, secret))
}

/// The `caBundle`s of our webhook configurations that exist.
async fn ca_bundles_in_use(client: &Client) -> Result<Vec<Vec<u8>>, kube::Error> {
    let mut out = Vec::new();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for name in [DEFAULTING_WEBHOOK, BINDING_WEBHOOK] {
        if let Some(c) = mutating.get_opt(name).await? {
            for w in c.webhooks.iter().flatten() {
                out.push(w.client_config.ca_bundle.clone().unwrap_or_default().0);
            }
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [VALIDATION_WEBHOOK, CONFIG_WEBHOOK] {
        if let Some(c) = validating.get_opt(name).await? {
            for w in c.webhooks.iter().flatten() {
                out.push(w.client_config.ca_bundle.clone().unwrap_or_default().0);
            }
        }
    }
    Ok(out)
}

/// Brings the certificate Secret up to date ([`certs::plan`]: creating it,
/// rotating the serving certificate, moving to a new CA once every
/// configuration trusts it) and returns what it holds. Leader only.
pub async fn ensure_certificate(
    client: &Client,
    settings: &WebhookSettings,
) -> Result<CertState, WebhookError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let (state, existing) = read_certificate_secret(&api, &settings.secret_name).await?;
    let in_use = ca_bundles_in_use(client).await?;
    let carried = |ca: &str| {
        let want = certs::split_bundle(ca);
        in_use.iter().all(|b| {
            let have = certs::split_bundle(&String::from_utf8_lossy(b));
            want.iter().all(|c| have.contains(c))
        })
    };
    let new = certs::plan(
        &state,
        jiff::Timestamp::now(),
        &settings.cert_policy(),
        carried,
    )?;
    if new == state {
        return Ok(new);
    }
    let data: BTreeMap<String, ByteString> = new
        .to_data()
        .into_iter()
        .map(|(k, v)| (k, ByteString(v)))
        .collect();
    let mut secret = existing.unwrap_or_default();
    let creating = secret.metadata.resource_version.is_none();
    secret.metadata.name = Some(settings.secret_name.clone());
    secret.metadata.namespace = Some(settings.namespace.clone());
    let annotations = secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    match new.next_published {
        Some(t) => {
            annotations.insert(
                certs::NEXT_CA_PUBLISHED_ANNOTATION.to_owned(),
                t.to_string(),
            );
        }
        None => {
            annotations.remove(certs::NEXT_CA_PUBLISHED_ANNOTATION);
        }
    }
    secret.data = Some(data);
    let what = if state.signing != new.signing || state.next != new.next {
        "the webhook CA"
    } else if state.cert_pem != new.cert_pem {
        "the webhook serving certificate"
    } else {
        "the webhook certificate Secret"
    };
    // The resourceVersion guards against another writer.
    if creating {
        api.create(&PostParams::default(), &secret).await?;
    } else {
        api.replace(&settings.secret_name, &PostParams::default(), &secret)
            .await?;
    }
    tracing::info!(secret = settings.secret_name, "updated {what}");
    Ok(new)
}

/// Keeps the served certificate equal to the Secret's: loads it on every
/// change, and marks the replica ready (`metrics`) once one is loaded.
pub(super) async fn follow_certificate(
    client: Client,
    settings: WebhookSettings,
    resolver: Arc<CertResolver>,
    metrics: Arc<Metrics>,
) {
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<Secret> = Api::namespaced(client, &settings.namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", settings.secret_name));
    let mut events = watcher(api, cfg)
        .backoff(crate::backoff::watch_backoff())
        .applied_objects()
        .boxed();
    let mut served = String::new();
    while let Some(ev) = events.next().await {
        let secret = match ev {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "watching the webhook certificate");
                continue;
            }
        };
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let state = CertState::from_secret(&data, &BTreeMap::new());
        if state.cert_pem == served {
            continue;
        }
        match state.serving_key() {
            Ok(key) => {
                resolver.set(key);
                served = state.cert_pem;
                metrics.set_ready(true);
                tracing::info!("serving the webhook certificate from the Secret");
            }
            Err(e) => tracing::warn!(error = %e, "the webhook certificate Secret is unusable"),
        }
    }
}
