//! The admission webhooks of `sources-controller`: one HTTPS server
//! (hyper over tokio-rustls, ring) serving AdmissionReview v1 on
//!
//! - `/defaulting`: defaults VSphereSource, VSphereBinding, HorizonSource;
//! - `/resource-validation`: validates them (strict decoding);
//! - `/config-validation`: validates `config-logging`;
//! - `/vspherebindings`: applies VSphereBindings to their PodSpecable
//!   subjects (JSONPatch, upstream's `Do`/`Undo`).
//!
//! Every replica serves ([`run_webhooks`]): it follows the certificate
//! Secret and answers as soon as it listens with a certificate. The leader
//! alone writes ([`manage_webhooks`]): it keeps the Secret current (a
//! long-lived CA, a rotated serving certificate, see [`certs`]) and writes
//! each webhook configuration on its own, `caBundle` first, then the
//! binding webhook's rules (only well-formed, PodSpecable subject kinds)
//! and selectors (never `kube-system`, `kube-node-lease` or the
//! controller's namespace).
//!
//! The server bounds what a client can hold: request bodies
//! ([`ServerLimits::max_body_bytes`], 3 MiB), the TLS handshake, the
//! request headers and the whole exchange are timed, connections are
//! capped, accept errors back off, and one connection carries one request
//! (the API server then never sends on a connection the server is closing).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::runtime::reflector::Store;
use serde_json::Value;
use sources_api::v1alpha1::VSphereBinding;

use crate::admission::{self, Kind, Policy};
use crate::binding;
use crate::certs::{self, CertPolicy, CertResolver, CertState};
use crate::metrics::Metrics;
use crate::podspecable::{PODSPECABLE_LABEL, PodSpecables, SubjectType};

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
/// The label the API server puts on every namespace: its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

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

/// What one client may hold of the webhook server.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// The largest request body (3 MiB: the API server's own request limit).
    pub max_body_bytes: usize,
    /// Time for the TLS handshake (10 s).
    pub handshake_timeout: Duration,
    /// Time for the request headers once the TLS session is up (10 s).
    pub header_timeout: Duration,
    /// Time for a whole connection: handshake, request, answer (30 s, the
    /// API server's longest webhook timeout).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen queue (256).
    pub max_connections: usize,
    /// After a shutdown signal, how long the server keeps answering (so
    /// requests routed before the endpoint is removed still succeed), 5 s.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 3 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            drain: Duration::from_secs(5),
        }
    }
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
    /// Validity of a serving certificate (7 days).
    pub validity: Duration,
    /// A serving certificate expiring sooner than this is replaced (1 day).
    pub rotate_before: Duration,
    /// Validity of the CA (365 days).
    pub ca_validity: Duration,
    /// A CA expiring sooner than this gets a successor (30 days).
    pub ca_rotate_before: Duration,
    /// How long every configuration carries a new CA before it signs (1 h).
    pub ca_overlap: Duration,
    /// How often the Secret and the configurations are checked (30 s).
    pub check_interval: Duration,
    /// `VSPHERE_BINDING_SELECTION_MODE` (`exclusion` or `inclusion`).
    pub selection_mode: SelectionMode,
    /// The server's limits.
    pub limits: ServerLimits,
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
            ca_validity: Duration::from_secs(365 * 86400),
            ca_rotate_before: Duration::from_secs(30 * 86400),
            ca_overlap: Duration::from_secs(3600),
            check_interval: Duration::from_secs(30),
            selection_mode: SelectionMode::Exclusion,
            limits: ServerLimits::default(),
        }
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

    /// The certificate lifetimes and names.
    pub fn cert_policy(&self) -> CertPolicy {
        CertPolicy {
            names: self.cert_names(),
            validity: self.validity,
            rotate_before: self.rotate_before,
            ca_validity: self.ca_validity,
            ca_rotate_before: self.ca_rotate_before,
            ca_overlap: self.ca_overlap,
        }
    }

    /// The namespaces the binding webhook never mutates in.
    pub fn excluded_namespaces(&self) -> Vec<String> {
        admission::excluded_namespaces(&self.namespace)
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
    /// Some webhook configurations could not be written (the others were).
    #[error("{0}")]
    Configurations(ConfigurationErrors),
}

/// The webhook configurations that could not be written, with why.
#[derive(Debug, Default)]
pub struct ConfigurationErrors(pub Vec<(String, kube::Error)>);

impl std::fmt::Display for ConfigurationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        write!(f, "updating webhook configurations: {}", parts.join("; "))
    }
}

/// What the handlers need.
#[derive(Clone)]
pub struct WebhookState {
    /// The VSphereBindings (a reflector store).
    pub bindings: Store<VSphereBinding>,
    /// ClusterRoles labelled `duck.knative.dev/podspecable: "true"`.
    pub podspecable_roles: Store<ClusterRole>,
    /// The name of the `config-logging` ConfigMap.
    pub config_logging_name: String,
    /// Namespaces where VSphereBindings are refused.
    pub excluded_namespaces: Vec<String>,
}

impl WebhookState {
    fn policy(&self) -> Policy {
        Policy {
            podspecables: podspecables(&self.podspecable_roles),
            excluded_namespaces: self.excluded_namespaces.clone(),
        }
    }
}

fn podspecables(roles: &Store<ClusterRole>) -> PodSpecables {
    let state = roles.state();
    PodSpecables::from_cluster_roles(state.iter().map(|r| &**r))
}

/// Binds `addr` and serves the webhooks over TLS with the certificates of
/// `resolver`, within `limits`, until `shutdown` (then `limits.drain`
/// longer). Returns the bound address through `bound`.
pub async fn serve(
    addr: SocketAddr,
    limits: ServerLimits,
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
    let max = limits.max_connections.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let limits = Arc::new(limits);
    // Go's http.Server backs off the same way on accept errors (EMFILE...).
    let mut backoff = Duration::ZERO;
    let drain = limits.drain;
    let stop = async move {
        shutdown.await;
        tracing::info!(?drain, "webhook server draining");
        tokio::time::sleep(drain).await;
    };
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::ZERO;
                    a
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!(error = %e, retry_in = ?backoff, "accepting a webhook connection");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let connection = serve_connection(acceptor, tcp, state, &limits);
            match tokio::time::timeout(limits.request_timeout, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "webhook connection"),
                Err(_) => tracing::debug!(%peer, "webhook connection timed out; closed"),
            }
        });
    }
    // Let the requests in flight finish.
    let in_flight = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.request_timeout, permits.acquire_many(in_flight)).await;
    tracing::info!("webhook server stopped");
    Ok(())
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    state: Arc<WebhookState>,
    limits: &ServerLimits,
) -> Result<(), String> {
    let tls = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let max_body = limits.max_body_bytes;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(req, &state, max_body).await) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
        .await
        .map_err(|e| e.to_string())
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

fn too_large(max: usize) -> Response<Full<Bytes>> {
    respond(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{{\"message\":\"request body over {max} bytes\"}}").into_bytes(),
    )
}

async fn handle(
    req: Request<Incoming>,
    state: &WebhookState,
    max_body: usize,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if req.method() == hyper::Method::GET && (path == "/healthz" || path == "/readyz") {
        return respond(StatusCode::OK, b"{}".to_vec());
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return too_large(max_body);
    }
    let body = match Limited::new(req.into_body(), max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(max_body),
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
        "/resource-validation" => validation(&request, &state.policy()),
        "/config-validation" => config_validation(&request, &state.config_logging_name),
        "/vspherebindings" => bindings(&request, &state.bindings),
        _ => AdmissionResponse::from(&request).deny(format!("unknown webhook path {path}")),
    };
    tracing::debug!(
        path,
        kind = request.kind.kind,
        namespace = request.namespace,
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

fn validation(req: &AdmissionRequest<DynamicObject>, policy: &Policy) -> AdmissionResponse {
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
    // An update that leaves the spec as it is (finalizers, labels) is never
    // refused: an object stored before a rule tightened must stay
    // manageable, and deletable.
    if old
        .as_ref()
        .is_some_and(|o| o.get("spec") == obj.get("spec"))
    {
        return AdmissionResponse::from(req);
    }
    match admission::validate_with(kind, &obj, old.as_ref(), policy) {
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

/// The binding webhook's rules: one per subject group and resource in use
/// (`CREATE`, `UPDATE`, `<plural>/*`, every version in use). Subjects that
/// are malformed or not PodSpecable make no rule (admission refuses them;
/// one stored some other way must never make the configuration invalid).
pub fn binding_rules(
    bindings: &[VSphereBinding],
    podspecables: &PodSpecables,
) -> Vec<RuleWithOperations> {
    let mut kinds: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for b in bindings {
        let s = &b.spec.subject;
        let (Some(av), Some(kind)) = (s.api_version.as_deref(), s.kind.as_deref()) else {
            continue;
        };
        match SubjectType::parse(av, kind) {
            Ok(t) if podspecables.allows(&t) => {
                kinds
                    .entry((t.group.clone(), t.resource()))
                    .or_default()
                    .insert(t.version);
            }
            Ok(_) | Err(_) => tracing::warn!(
                namespace = b.metadata.namespace.as_deref().unwrap_or(""),
                name = b.metadata.name.as_deref().unwrap_or(""),
                api_version = av,
                kind,
                "a VSphereBinding's subject is not a PodSpecable kind; no webhook rule for it"
            ),
        }
    }
    kinds
        .into_iter()
        .map(|((group, resource), versions)| RuleWithOperations {
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            api_groups: Some(vec![group]),
            api_versions: Some(versions.into_iter().collect()),
            resources: Some(vec![format!("{resource}/*")]),
            scope: None,
        })
        .collect()
}

fn mode_requirement(mode: SelectionMode) -> LabelSelectorRequirement {
    let (key, op) = match mode {
        SelectionMode::Exclusion => (EXCLUDE_LABEL, "NotIn"),
        SelectionMode::Inclusion => (INCLUDE_LABEL, "In"),
    };
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: op.to_owned(),
        values: Some(vec!["true".to_owned()]),
    }
}

/// The object selector of the binding webhook.
pub fn binding_selector(mode: SelectionMode) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![mode_requirement(mode)]),
        match_labels: None,
    }
}

/// The namespace selector of the binding webhook: the mode's label, and
/// never the `excluded` namespaces.
pub fn binding_namespace_selector(mode: SelectionMode, excluded: &[String]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![
            mode_requirement(mode),
            LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(excluded.to_vec()),
            },
        ]),
        match_labels: None,
    }
}

/// What the binding webhook's configuration should say besides `caBundle`.
#[derive(Clone, Debug)]
pub struct BindingWebhookSpec {
    /// The rules ([`binding_rules`]).
    pub rules: Vec<RuleWithOperations>,
    /// The namespace selector ([`binding_namespace_selector`]).
    pub namespace_selector: LabelSelector,
    /// The object selector ([`binding_selector`]).
    pub object_selector: LabelSelector,
}

impl BindingWebhookSpec {
    /// The spec for `bindings` under `settings`.
    pub fn new(
        bindings: &[VSphereBinding],
        podspecables: &PodSpecables,
        settings: &WebhookSettings,
    ) -> Self {
        Self {
            rules: binding_rules(bindings, podspecables),
            namespace_selector: binding_namespace_selector(
                settings.selection_mode,
                &settings.excluded_namespaces(),
            ),
            object_selector: binding_selector(settings.selection_mode),
        }
    }
}

async fn update_mutating(
    api: &Api<MutatingWebhookConfiguration>,
    name: &str,
    ca: &ByteString,
    binding: Option<&BindingWebhookSpec>,
) -> Result<(), kube::Error> {
    let Some(cfg) = api.get_opt(name).await? else {
        return Ok(());
    };
    // 1. caBundle alone, so nothing else can keep it from landing.
    let mut with_ca = cfg.clone();
    for w in with_ca.webhooks.iter_mut().flatten() {
        w.client_config.ca_bundle = Some(ca.clone());
    }
    let current = if with_ca != cfg {
        let stored = api.replace(name, &PostParams::default(), &with_ca).await?;
        tracing::info!(configuration = name, "updated caBundle");
        stored
    } else {
        cfg
    };
    // 2. The binding webhook's rules and selectors.
    let Some(spec) = binding else {
        return Ok(());
    };
    let mut new = current.clone();
    for w in new.webhooks.iter_mut().flatten() {
        w.rules = Some(spec.rules.clone());
        w.namespace_selector = Some(spec.namespace_selector.clone());
        w.object_selector = Some(spec.object_selector.clone());
        w.match_policy = Some("Equivalent".into());
        w.reinvocation_policy = Some("IfNeeded".into());
    }
    if new != current {
        api.replace(name, &PostParams::default(), &new).await?;
        tracing::info!(configuration = name, "updated the binding rules");
    }
    Ok(())
}

async fn update_validating(
    api: &Api<ValidatingWebhookConfiguration>,
    name: &str,
    ca: &ByteString,
) -> Result<(), kube::Error> {
    let Some(cfg) = api.get_opt(name).await? else {
        return Ok(());
    };
    let mut new = cfg.clone();
    for w in new.webhooks.iter_mut().flatten() {
        w.client_config.ca_bundle = Some(ca.clone());
    }
    if new != cfg {
        api.replace(name, &PostParams::default(), &new).await?;
        tracing::info!(configuration = name, "updated caBundle");
    }
    Ok(())
}

/// Writes `ca_bundle` into each of our webhook configurations that exist,
/// and `binding`'s rules and selectors into the binding webhook. Each
/// configuration is written on its own, `caBundle` first: one failure
/// (reported at the end) never keeps the others, or the `caBundle`, from
/// being written.
pub async fn update_configurations(
    client: &Client,
    ca_bundle: &str,
    binding: &BindingWebhookSpec,
) -> Result<(), ConfigurationErrors> {
    let ca = ByteString(ca_bundle.as_bytes().to_vec());
    let mut errors = ConfigurationErrors::default();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for (name, spec) in [(DEFAULTING_WEBHOOK, None), (BINDING_WEBHOOK, Some(binding))] {
        if let Err(e) = update_mutating(&mutating, name, &ca, spec).await {
            errors.0.push((name.to_owned(), e));
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [VALIDATION_WEBHOOK, CONFIG_WEBHOOK] {
        if let Err(e) = update_validating(&validating, name, &ca).await {
            errors.0.push((name.to_owned(), e));
        }
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The caches the webhooks read: the VSphereBindings and the ClusterRoles
/// that list PodSpecable kinds, each kept by a reflector. One per process,
/// shared by the replica's server ([`run_webhooks`]) and, on the leader, the
/// manager ([`manage_webhooks`]); the reflectors stop when it is dropped.
pub struct WebhookCaches {
    bindings: Store<VSphereBinding>,
    roles: Store<ClusterRole>,
    changed: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for WebhookCaches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn reflect<K>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
    changed: Arc<tokio::sync::Notify>,
    what: &'static str,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store::<K>();
    let task = tokio::spawn(async move {
        let mut events = reflector(writer, watcher(api, config))
            .default_backoff()
            .touched_objects()
            .boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!(error = %e, "watching {what}"),
            }
        }
    });
    (reader, task)
}

impl WebhookCaches {
    /// Starts the reflectors and waits (up to 30 s) until they have listed
    /// once; past that it returns anyway (the watches keep trying, the
    /// server answers meanwhile).
    pub async fn start(client: &Client) -> Arc<Self> {
        use kube::runtime::watcher;
        let changed = Arc::new(tokio::sync::Notify::new());
        let (bindings, t1) = reflect(
            Api::<VSphereBinding>::all(client.clone()),
            watcher::Config::default(),
            changed.clone(),
            "vspherebindings",
        );
        let (roles, t2) = reflect(
            Api::<ClusterRole>::all(client.clone()),
            watcher::Config::default().labels(&format!("{PODSPECABLE_LABEL}=true")),
            changed.clone(),
            "podspecable clusterroles",
        );
        let fill = Duration::from_secs(30);
        let bindings_ready = tokio::time::timeout(fill, bindings.wait_until_ready()).await;
        let roles_ready = tokio::time::timeout(fill, roles.wait_until_ready()).await;
        for (what, ready) in [
            ("vspherebindings", matches!(bindings_ready, Ok(Ok(())))),
            (
                "podspecable clusterroles",
                matches!(roles_ready, Ok(Ok(()))),
            ),
        ] {
            if !ready {
                tracing::warn!("the {what} cache did not fill within {fill:?}; serving anyway");
            }
        }
        Arc::new(Self {
            bindings,
            roles,
            changed,
            tasks: vec![t1, t2],
        })
    }

    fn bindings(&self) -> Vec<VSphereBinding> {
        self.bindings
            .state()
            .iter()
            .map(|b| (**b).clone())
            .collect()
    }
}

/// Keeps the served certificate equal to the Secret's: loads it on every
/// change, and marks the replica ready (`metrics`) once one is loaded.
async fn follow_certificate(
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
        .default_backoff()
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

/// Serves the admission webhooks until `shutdown` (and the drain after it),
/// reading `caches`, with the certificate from the Secret (see
/// [`manage_webhooks`]); the HTTPS server's bound address is sent through
/// `bound`. Every replica runs it; `metrics` turns ready once it listens
/// with a certificate.
#[allow(clippy::too_many_arguments)]
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
    bindings: &[VSphereBinding],
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
            match reconcile_webhooks(&client, &settings, &caches.bindings(), &podspecables).await {
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
        let mut events = watcher(api, cfg).default_backoff().boxed();
        while let Some(ev) = events.next().await {
            if ev.is_ok() {
                wake.notify_one();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(av: &str, kind: &str) -> VSphereBinding {
        serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"subject": {"apiVersion": av, "kind": kind, "name": "x"},
                     "address": "https://vc", "secretRef": {"name": "c"}}
        }))
        .unwrap()
    }

    #[test]
    fn rules_and_selectors() {
        let rules = binding_rules(
            &[
                b("apps/v1", "Deployment"),
                b("batch/v1", "Job"),
                b("apps/v1", "Deployment"),
                b("serving.knative.dev/v1", "Service"),
            ],
            &PodSpecables::default(),
        );
        let rendered = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            rendered,
            json!([
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["serving.knative.dev"], "apiVersions": ["v1"], "resources": ["services/*"]},
            ])
        );
        assert_eq!(
            serde_json::to_value(binding_selector(SelectionMode::Inclusion)).unwrap(),
            json!({"matchExpressions": [{"key": "bindings.knative.dev/include", "operator": "In", "values": ["true"]}]})
        );
        let s = WebhookSettings::new("vmware-sources");
        assert_eq!(
            serde_json::to_value(binding_namespace_selector(
                SelectionMode::Exclusion,
                &s.excluded_namespaces()
            ))
            .unwrap(),
            json!({"matchExpressions": [
                {"key": "bindings.knative.dev/exclude", "operator": "NotIn", "values": ["true"]},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                 "values": ["kube-system", "kube-node-lease", "vmware-sources"]}]})
        );
    }

    #[test]
    fn hostile_subjects_make_no_rule() {
        // Stored without admission (the validation webhook was absent): a
        // wildcard next to a real version must never give `[v1, *]`.
        let rules = binding_rules(
            &[
                b("apps/v1", "Deployment"),
                b("apps/*", "Deployment"),
                b("*", "*"),
                b("apps/v1", "*"),
                b("v1", "Pod"),
                b("v1", "Secret"),
            ],
            &PodSpecables::default(),
        );
        assert_eq!(
            serde_json::to_value(&rules).unwrap(),
            json!([{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/*"]}])
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
