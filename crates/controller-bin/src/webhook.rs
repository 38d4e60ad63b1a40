//! The admission webhooks of `sources-controller`: one HTTPS server
//! (hyper over tokio-rustls, ring) serving AdmissionReview v1 on
//!
//! - `/defaulting`: defaults VSphereSource, VSphereBinding, HorizonSource;
//! - `/resource-validation`: validates them (strict decoding);
//! - `/config-validation`: validates `config-logging`;
//! - `/vspherebindings`: applies VSphereBindings to their PodSpecable
//!   subjects (JSONPatch, upstream's `Do`/`Undo`).
//!
//! [`manage_certificates`] keeps the certificate Secret (CA and serving
//! certificate, rotated before expiry), the served certificate and the
//! webhook configurations' `caBundle` (and the binding webhook's rules and
//! selectors) current.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::runtime::reflector::Store;
use serde_json::Value;
use sources_api::v1alpha1::VSphereBinding;

use crate::admission::{self, Kind};
use crate::binding;
use crate::certs::{self, CertBundle, CertResolver};

/// `defaulting.webhook.vsphere.sources.tanzu.vmware.com`.
pub const DEFAULTING_WEBHOOK: &str = "defaulting.webhook.vsphere.sources.tanzu.vmware.com";
/// `validation.webhook.vsphere.sources.tanzu.vmware.com`.
pub const VALIDATION_WEBHOOK: &str = "validation.webhook.vsphere.sources.tanzu.vmware.com";
/// `config.webhook.vsphere.sources.tanzu.vmware.com`.
pub const CONFIG_WEBHOOK: &str = "config.webhook.vsphere.sources.tanzu.vmware.com";
/// `vspherebindings.webhook.vsphere.sources.tanzu.vmware.com`.
pub const BINDING_WEBHOOK: &str = "vspherebindings.webhook.vsphere.sources.tanzu.vmware.com";
/// The label excluding a namespace or object (exclusion mode).
pub const EXCLUDE_LABEL: &str = "bindings.knative.dev/exclude";
/// The label including a namespace or object (inclusion mode).
pub const INCLUDE_LABEL: &str = "bindings.knative.dev/include";

/// How the binding webhook selects namespaces and objects
/// (`VSPHERE_BINDING_SELECTION_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SelectionMode {
    /// Everything not labelled `bindings.knative.dev/exclude: "true"`.
    #[default]
    Exclusion,
    /// Only what is labelled `bindings.knative.dev/include: "true"`.
    Inclusion,
}

/// Webhook settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Where the HTTPS server listens (`WEBHOOK_PORT`, default 8443, all
    /// addresses).
    pub addr: SocketAddr,
    /// The namespace of the Service and the Secret (`SYSTEM_NAMESPACE`).
    pub namespace: String,
    /// The Service the configurations point at (`WEBHOOK_SERVICE_NAME`,
    /// default `vsphere-source-webhook`).
    pub service_name: String,
    /// The certificate Secret (`WEBHOOK_SECRET_NAME`, default
    /// `vsphere-webhook-certs`).
    pub secret_name: String,
    /// Extra names (DNS or IP) in the serving certificate
    /// (`WEBHOOK_EXTRA_SANS`, comma-separated).
    pub extra_names: Vec<String>,
    /// Validity of a new certificate (7 days).
    pub validity: Duration,
    /// A certificate expiring sooner than this is replaced (1 day).
    pub rotate_before: Duration,
    /// How often the Secret and the configurations are checked (30 s).
    pub check_interval: Duration,
    /// `VSPHERE_BINDING_SELECTION_MODE` (`exclusion` or `inclusion`).
    pub selection_mode: SelectionMode,
}

impl WebhookSettings {
    /// Defaults for the Service in `namespace`.
    pub fn new(namespace: &str) -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            namespace: namespace.to_owned(),
            service_name: "vsphere-source-webhook".to_owned(),
            secret_name: "vsphere-webhook-certs".to_owned(),
            extra_names: Vec::new(),
            validity: Duration::from_secs(7 * 86400),
            rotate_before: Duration::from_secs(86400),
            check_interval: Duration::from_secs(30),
            selection_mode: SelectionMode::Exclusion,
        }
    }

    /// Reads the environment (`SYSTEM_NAMESPACE` is required).
    pub fn from_env() -> Result<Self, crate::config::SettingsError> {
        use crate::config::SettingsError;
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let ns = var("SYSTEM_NAMESPACE").ok_or(SettingsError::Missing("SYSTEM_NAMESPACE"))?;
        let mut s = Self::new(&ns);
        if let Some(p) = var("WEBHOOK_PORT") {
            let port: u16 = p.parse().map_err(|e| SettingsError::Invalid {
                name: "WEBHOOK_PORT",
                message: format!("{p:?}: {e}"),
            })?;
            s.addr.set_port(port);
        }
        if let Some(v) = var("WEBHOOK_SERVICE_NAME") {
            s.service_name = v;
        }
        if let Some(v) = var("WEBHOOK_SECRET_NAME") {
            s.secret_name = v;
        }
        if let Some(v) = var("WEBHOOK_EXTRA_SANS") {
            s.extra_names = v.split(',').map(|n| n.trim().to_owned()).collect();
        }
        s.selection_mode = match var("VSPHERE_BINDING_SELECTION_MODE").as_deref() {
            None | Some("exclusion") => SelectionMode::Exclusion,
            Some("inclusion") => SelectionMode::Inclusion,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "VSPHERE_BINDING_SELECTION_MODE",
                    message: format!("{other:?}: expected exclusion or inclusion"),
                });
            }
        };
        Ok(s)
    }

    /// The names in the serving certificate: the Service's DNS names and
    /// the extra names.
    pub fn cert_names(&self) -> Vec<String> {
        let (svc, ns) = (&self.service_name, &self.namespace);
        let mut names = vec![
            format!("{svc}.{ns}.svc"),
            svc.clone(),
            format!("{svc}.{ns}"),
            format!("{svc}.{ns}.svc.cluster.local"),
        ];
        names.extend(self.extra_names.iter().cloned());
        names
    }
}

/// Why the webhook stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The listener could not bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Certificates.
    #[error("{0}")]
    Cert(#[from] certs::CertError),
    /// The API server.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// What the handlers need.
#[derive(Clone)]
pub struct WebhookState {
    /// The VSphereBindings (a reflector store).
    pub bindings: Store<VSphereBinding>,
    /// The name of the `config-logging` ConfigMap.
    pub config_logging_name: String,
}

/// Binds `addr` and serves the webhooks over TLS with the certificates of
/// `resolver` until `shutdown`. Returns the bound address through `bound`.
pub async fn serve(
    addr: SocketAddr,
    resolver: Arc<CertResolver>,
    state: WebhookState,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebhookError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| WebhookError::Bind { addr, source })?;
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    tracing::info!(%local, "webhook server listening");
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let state = Arc::new(state);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a webhook connection");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(req, &state).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "webhook connection");
            }
        });
    }
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(req: Request<Incoming>, state: &WebhookState) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if req.method() == hyper::Method::GET && (path == "/healthz" || path == "/readyz") {
        return respond(StatusCode::OK, b"{}".to_vec());
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    };
    let response = match path.as_str() {
        "/defaulting" => defaulting(&request),
        "/resource-validation" => validation(&request),
        "/config-validation" => config_validation(&request, &state.config_logging_name),
        "/vspherebindings" => bindings(&request, &state.bindings),
        _ => AdmissionResponse::from(&request).deny(format!("unknown webhook path {path}")),
    };
    tracing::debug!(
        path,
        kind = request.kind.kind,
        name = request.name,
        allowed = response.allowed,
        "admission"
    );
    match serde_json::to_vec(&response.into_review()) {
        Ok(b) => respond(StatusCode::OK, b),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string().into_bytes(),
        ),
    }
}

fn object_json(o: Option<&DynamicObject>) -> Option<Value> {
    o.and_then(|o| serde_json::to_value(o).ok())
}

fn with_patch(
    req: &AdmissionRequest<DynamicObject>,
    before: &Value,
    after: &Value,
) -> AdmissionResponse {
    let patch = binding::patch(before, after);
    let resp = AdmissionResponse::from(req);
    if patch.0.is_empty() {
        return resp;
    }
    match resp.with_patch(patch) {
        Ok(r) => r,
        Err(e) => AdmissionResponse::from(req).deny(e.to_string()),
    }
}

fn defaulting(req: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let Some(kind) = Kind::from_kind(&req.kind.kind) else {
        return AdmissionResponse::from(req);
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    let Some(obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    match admission::default_object(kind, &obj) {
        Ok(defaulted) => with_patch(req, &obj, &defaulted),
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn validation(req: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let Some(kind) = Kind::from_kind(&req.kind.kind) else {
        return AdmissionResponse::from(req);
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    let Some(obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    // An object being deleted may still be updated (finalizers).
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null())
    {
        return AdmissionResponse::from(req);
    }
    let old = match req.operation {
        Operation::Update => object_json(req.old_object.as_ref()),
        _ => None,
    };
    match admission::validate(kind, &obj, old.as_ref()) {
        Ok(warnings) => {
            let mut r = AdmissionResponse::from(req);
            if !warnings.is_empty() {
                r.warnings = Some(warnings);
            }
            r
        }
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn config_validation(req: &AdmissionRequest<DynamicObject>, logging: &str) -> AdmissionResponse {
    if req.kind.kind != "ConfigMap" || req.name != logging {
        return AdmissionResponse::from(req);
    }
    let data: BTreeMap<String, String> = object_json(req.object.as_ref())
        .and_then(|o| o.get("data").cloned())
        .and_then(|d| serde_json::from_value(d).ok())
        .unwrap_or_default();
    match admission::validate_config_logging(&data) {
        Ok(()) => AdmissionResponse::from(req),
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn bindings(
    req: &AdmissionRequest<DynamicObject>,
    store: &Store<VSphereBinding>,
) -> AdmissionResponse {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    // Subresources (status, scale) carry no pod template to change.
    if req.sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
        return AdmissionResponse::from(req);
    }
    let Some(mut obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    // The object may lack apiVersion/kind; the request has them.
    if let Value::Object(m) = &mut obj {
        let gvk = &req.kind;
        let api_version = if gvk.group.is_empty() {
            gvk.version.clone()
        } else {
            format!("{}/{}", gvk.group, gvk.version)
        };
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(gvk.kind.clone()));
        if let Some(ns) = &req.namespace
            && let Some(Value::Object(meta)) = m.get_mut("metadata")
        {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
    }
    let all: Vec<VSphereBinding> = store.state().iter().map(|b| (**b).clone()).collect();
    let mutated = binding::apply_bindings(&all, &obj);
    with_patch(req, &obj, &mutated)
}

fn secret_bundle(secret: &Secret) -> Option<CertBundle> {
    let data = secret.data.as_ref()?;
    let get = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some(CertBundle {
        ca_pem: get(certs::CA_KEY)?,
        cert_pem: get(certs::CERT_KEY)?,
        key_pem: get(certs::KEY_KEY)?,
    })
}

/// Whether `bundle` is usable for `settings`: it loads, covers every name
/// and does not expire within `rotate_before`.
fn usable(bundle: &CertBundle, settings: &WebhookSettings) -> bool {
    let Ok((not_after, names)) = certs::inspect(&bundle.cert_pem) else {
        return false;
    };
    let now = jiff::Timestamp::now().as_second();
    let margin = i64::try_from(settings.rotate_before.as_secs()).unwrap_or(i64::MAX);
    not_after.saturating_sub(margin) > now
        && settings.cert_names().iter().all(|n| names.contains(n))
        && certs::certified_key(&bundle.cert_pem, &bundle.key_pem).is_ok()
}

/// Makes sure the Secret holds a usable certificate (creating or rotating
/// it), and returns it.
pub async fn ensure_certificate(
    client: &Client,
    settings: &WebhookSettings,
) -> Result<CertBundle, WebhookError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let existing = api.get_opt(&settings.secret_name).await?;
    if let Some(b) = existing.as_ref().and_then(secret_bundle)
        && usable(&b, settings)
    {
        return Ok(b);
    }
    let bundle = certs::generate(&settings.cert_names(), settings.validity)?;
    let data = BTreeMap::from([
        (
            certs::CA_KEY.to_owned(),
            ByteString(bundle.ca_pem.clone().into_bytes()),
        ),
        (
            certs::CERT_KEY.to_owned(),
            ByteString(bundle.cert_pem.clone().into_bytes()),
        ),
        (
            certs::KEY_KEY.to_owned(),
            ByteString(bundle.key_pem.clone().into_bytes()),
        ),
    ]);
    match existing {
        Some(mut s) => {
            tracing::info!(
                secret = settings.secret_name,
                "rotating the webhook certificate"
            );
            s.data = Some(data);
            api.replace(&settings.secret_name, &PostParams::default(), &s)
                .await?;
        }
        None => {
            tracing::info!(
                secret = settings.secret_name,
                "creating the webhook certificate"
            );
            let mut s = Secret::default();
            s.metadata.name = Some(settings.secret_name.clone());
            s.metadata.namespace = Some(settings.namespace.clone());
            s.data = Some(data);
            api.create(&PostParams::default(), &s).await?;
        }
    }
    Ok(bundle)
}

fn pluralize(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// The binding webhook's rules: one per subject GroupKind in use
/// (`CREATE`, `UPDATE`, `<plural>/*`).
pub fn binding_rules(bindings: &[VSphereBinding]) -> Vec<RuleWithOperations> {
    let mut kinds: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for b in bindings {
        let s = &b.spec.subject;
        let (Some(av), Some(kind)) = (s.api_version.as_deref(), s.kind.as_deref()) else {
            continue;
        };
        let (group, version) = match av.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), av.to_owned()),
        };
        kinds
            .entry((group, kind.to_owned()))
            .or_default()
            .insert(version);
    }
    kinds
        .into_iter()
        .map(|((group, kind), versions)| RuleWithOperations {
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            api_groups: Some(vec![group]),
            api_versions: Some(versions.into_iter().collect()),
            resources: Some(vec![format!("{}/*", pluralize(&kind))]),
            scope: None,
        })
        .collect()
}

/// The namespace and object selector of the binding webhook.
pub fn binding_selector(mode: SelectionMode) -> LabelSelector {
    let (key, op) = match mode {
        SelectionMode::Exclusion => (EXCLUDE_LABEL, "NotIn"),
        SelectionMode::Inclusion => (INCLUDE_LABEL, "In"),
    };
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_owned(),
            operator: op.to_owned(),
            values: Some(vec!["true".to_owned()]),
        }]),
        match_labels: None,
    }
}

/// Writes `caBundle` into our webhook configurations (those that exist),
/// and the rules, selectors, `matchPolicy` and `reinvocationPolicy` of the
/// binding webhook.
pub async fn update_configurations(
    client: &Client,
    ca_pem: &str,
    bindings: &[VSphereBinding],
    mode: SelectionMode,
) -> Result<(), WebhookError> {
    let ca = ByteString(ca_pem.as_bytes().to_vec());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for name in [DEFAULTING_WEBHOOK, BINDING_WEBHOOK] {
        let Some(cfg) = mutating.get_opt(name).await? else {
            continue;
        };
        let mut new = cfg.clone();
        for w in new.webhooks.iter_mut().flatten() {
            w.client_config.ca_bundle = Some(ca.clone());
            if name == BINDING_WEBHOOK {
                w.rules = Some(binding_rules(bindings));
                w.namespace_selector = Some(binding_selector(mode));
                w.object_selector = Some(binding_selector(mode));
                w.match_policy = Some("Equivalent".into());
                w.reinvocation_policy = Some("IfNeeded".into());
            }
        }
        if new != cfg {
            mutating.replace(name, &PostParams::default(), &new).await?;
            tracing::info!(configuration = name, "updated the webhook configuration");
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [VALIDATION_WEBHOOK, CONFIG_WEBHOOK] {
        let Some(cfg) = validating.get_opt(name).await? else {
            continue;
        };
        let mut new = cfg.clone();
        for w in new.webhooks.iter_mut().flatten() {
            w.client_config.ca_bundle = Some(ca.clone());
        }
        if new != cfg {
            validating
                .replace(name, &PostParams::default(), &new)
                .await?;
            tracing::info!(configuration = name, "updated the webhook configuration");
        }
    }
    Ok(())
}

/// Keeps the certificate Secret, the served certificate and the webhook
/// configurations current: on start, on every change of the Secret or of a
/// VSphereBinding (through `wake`), and every `check_interval`. Never
/// returns.
pub async fn manage_certificates(
    client: Client,
    settings: WebhookSettings,
    resolver: Arc<CertResolver>,
    bindings: Store<VSphereBinding>,
    mut wake: tokio::sync::mpsc::Receiver<()>,
) {
    let mut served: Option<CertBundle> = None;
    loop {
        match ensure_certificate(&client, &settings).await {
            Ok(bundle) => {
                if served.as_ref() != Some(&bundle) {
                    match certs::certified_key(&bundle.cert_pem, &bundle.key_pem) {
                        Ok(key) => {
                            resolver.set(key);
                            tracing::info!("serving the webhook certificate");
                            served = Some(bundle.clone());
                        }
                        Err(e) => tracing::warn!(error = %e, "loading the webhook certificate"),
                    }
                }
                let all: Vec<VSphereBinding> =
                    bindings.state().iter().map(|b| (**b).clone()).collect();
                if let Err(e) =
                    update_configurations(&client, &bundle.ca_pem, &all, settings.selection_mode)
                        .await
                {
                    tracing::warn!(error = %e, "updating the webhook configurations");
                }
            }
            Err(e) => tracing::warn!(error = %e, "managing the webhook certificate"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.check_interval) => {}
            w = wake.recv() => if w.is_none() {
                tokio::time::sleep(settings.check_interval).await;
            },
        }
        // Coalesce a burst of wake-ups.
        while wake.try_recv().is_ok() {}
    }
}

/// Runs the webhooks until `shutdown`: a VSphereBinding cache, the
/// certificate and configuration manager, and the HTTPS server (its bound
/// address is sent through `bound`). Every replica runs them (the API
/// server may call any); conflicting certificate writes are retried.
pub async fn run_webhooks(
    client: Client,
    settings: WebhookSettings,
    config_logging_name: String,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebhookError> {
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store::<VSphereBinding>();
    let (wake_tx, wake_rx) = tokio::sync::mpsc::channel(1);
    let api: Api<VSphereBinding> = Api::all(client.clone());
    let watch_wake = wake_tx.clone();
    let cache = tokio::spawn(async move {
        let mut events = reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .touched_objects()
            .boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(_) => {
                    let _ = watch_wake.try_send(());
                }
                Err(e) => tracing::warn!(error = %e, "watching vspherebindings"),
            }
        }
    });
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let secret_name = settings.secret_name.clone();
    let secret_wake = wake_tx;
    let secret_watch = tokio::spawn(async move {
        let cfg = watcher::Config::default().fields(&format!("metadata.name={secret_name}"));
        let mut events = watcher(secrets, cfg).default_backoff().boxed();
        while let Some(ev) = events.next().await {
            if ev.is_ok() {
                let _ = secret_wake.try_send(());
            }
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(30), reader.wait_until_ready()).await;
    let resolver = Arc::new(CertResolver::default());
    // Serve only once a certificate is loaded.
    let first = ensure_certificate(&client, &settings).await;
    match first {
        Ok(b) => resolver.set(certs::certified_key(&b.cert_pem, &b.key_pem)?),
        Err(e) => tracing::warn!(error = %e, "no webhook certificate yet"),
    }
    let manager = tokio::spawn(manage_certificates(
        client.clone(),
        settings.clone(),
        resolver.clone(),
        reader.clone(),
        wake_rx,
    ));
    let state = WebhookState {
        bindings: reader,
        config_logging_name,
    };
    let res = serve(settings.addr, resolver, state, bound, shutdown).await;
    manager.abort();
    cache.abort();
    secret_watch.abort();
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_and_selectors() {
        let b = |av: &str, kind: &str| -> VSphereBinding {
            serde_json::from_value(json!({
                "metadata": {"name": "b", "namespace": "ns"},
                "spec": {"subject": {"apiVersion": av, "kind": kind, "name": "x"},
                         "address": "https://vc", "secretRef": {"name": "c"}}
            }))
            .unwrap()
        };
        let rules = binding_rules(&[
            b("apps/v1", "Deployment"),
            b("batch/v1", "Job"),
            b("apps/v1", "Deployment"),
            b("serving.knative.dev/v1", "Service"),
        ]);
        let rendered = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            rendered,
            json!([
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["serving.knative.dev"], "apiVersions": ["v1"], "resources": ["services/*"]},
            ])
        );
        assert_eq!(pluralize("Policy"), "policies");
        assert_eq!(
            serde_json::to_value(binding_selector(SelectionMode::Inclusion)).unwrap(),
            json!({"matchExpressions": [{"key": "bindings.knative.dev/include", "operator": "In", "values": ["true"]}]})
        );
    }

    #[test]
    fn cert_names() {
        let s = WebhookSettings::new("vmware-sources");
        assert_eq!(
            s.cert_names()[0],
            "vsphere-source-webhook.vmware-sources.svc"
        );
    }
}
