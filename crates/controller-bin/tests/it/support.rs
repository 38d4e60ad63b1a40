//! Helpers shared by the tests: polling, the webhook configurations of
//! `config/` pointed at a test server, `caBundle` checks, a replica's
//! webhook server with the leader's manager, TLS handshakes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use sources_controller::certs;
use sources_controller::webhook::{self, WebhookSettings};
use tokio::sync::oneshot;

/// Polls `f` until it returns `Some`, for up to 60 s.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(60), f).await
}

/// Polls `f` until it returns `Some`, for up to `timeout`.
pub async fn eventually_within<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn create_raw(client: &Client, ns: &str, v: Value) -> Result<Value, kube::Error> {
    create_with(client, ns, v, &PostParams::default()).await
}

pub async fn create_with(
    client: &Client,
    ns: &str,
    v: Value,
    params: &PostParams,
) -> Result<Value, kube::Error> {
    let kind = v["kind"].as_str().unwrap_or_default().to_owned();
    let obj: DynamicObject = serde_json::from_value(v).unwrap();
    kube_harness::sources_group_api(client, ns, &kind)
        .create(params, &obj)
        .await
        .map(|o| serde_json::to_value(o).unwrap())
}

pub fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

pub fn denial(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => panic!("expected an API error, got {other}"),
    }
}

/// The webhook configurations of `config/`, pointed at `base`.
pub fn configurations(base: &str) -> Vec<Value> {
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/500-vsphere-webhook-configuration.yaml"),
    )
    .unwrap();
    let mut docs = kube_harness::yaml_documents(&yaml).unwrap();
    for d in &mut docs {
        for w in d["webhooks"].as_array_mut().unwrap() {
            let path = w["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap()
                .to_owned();
            w["clientConfig"] = json!({"url": format!("{base}{path}")});
            // The release's 2 s is for a dedicated server; here the test, the
            // webhook server and the controllers share a loaded machine.
            w["timeoutSeconds"] = json!(10);
        }
    }
    docs
}

pub async fn ca_bundles(client: &Client) -> Vec<Option<Vec<u8>>> {
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mut out = Vec::new();
    for name in [webhook::DEFAULTING_WEBHOOK, webhook::BINDING_WEBHOOK] {
        let c = m.get(name).await.unwrap();
        out.push(c.webhooks.unwrap()[0].client_config.ca_bundle.clone());
    }
    for name in [webhook::VALIDATION_WEBHOOK, webhook::CONFIG_WEBHOOK] {
        let c = v.get(name).await.unwrap();
        out.push(c.webhooks.unwrap()[0].client_config.ca_bundle.clone());
    }
    out.into_iter().map(|b| b.map(|b| b.0)).collect()
}

/// Dry-run creates `obj` until the validation webhook refuses it (the API
/// server takes a moment to use a configuration after it is stored);
/// returns the refusal.
pub async fn validation_denial(client: &Client, ns: &str, obj: &Value) -> String {
    eventually("the validation webhook answering", || async {
        match create_with(client, ns, obj.clone(), &dry_run()).await {
            Err(e) => {
                let msg = denial(e);
                msg.contains("validation.webhook").then_some(msg)
            }
            Ok(_) => None,
        }
    })
    .await
}

pub async fn secret_ca(client: &Client, ns: &str, secret: &str) -> Option<Vec<u8>> {
    let s: Api<Secret> = Api::namespaced(client.clone(), ns);
    s.get_opt(secret)
        .await
        .unwrap()
        .and_then(|s| s.data)
        .and_then(|d| d.get(certs::CA_KEY).map(|b| b.0.clone()))
}

/// Waits until every configuration's caBundle is the Secret's CA.
pub async fn wait_ca_current(client: &Client, ns: &str, secret: &str) -> Vec<u8> {
    eventually("caBundle equal to the Secret's CA", || async {
        let ca = secret_ca(client, ns, secret).await?;
        ca_bundles(client)
            .await
            .iter()
            .all(|b| b.as_deref() == Some(ca.as_slice()))
            .then_some(ca)
    })
    .await
}

/// A replica's webhook server and the leader's manager of the Secret and
/// the configurations.
pub struct Webhooks {
    stop: Option<oneshot::Sender<()>>,
    stop_manager: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    manager: tokio::task::JoinHandle<()>,
}

impl Webhooks {
    pub async fn start(client: &Client, settings: WebhookSettings) -> (Self, std::net::SocketAddr) {
        let (bound_tx, bound_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop_manager, manager_stopped) = oneshot::channel::<()>();
        let c = client.clone();
        let mut serving = settings.clone();
        serving.limits.drain = Duration::ZERO;
        let caches = webhook::WebhookCaches::start(client).await;
        let shared = caches.clone();
        let task = tokio::spawn(async move {
            webhook::run_webhooks(
                c,
                serving,
                shared,
                "config-logging".into(),
                Arc::default(),
                Some(bound_tx),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("webhooks");
        });
        let manager = tokio::spawn(webhook::manage_webhooks(
            client.clone(),
            settings,
            caches,
            async {
                let _ = manager_stopped.await;
            },
        ));
        let addr = bound_rx.await.expect("webhook server bound");
        (
            Self {
                stop: Some(stop),
                stop_manager: Some(stop_manager),
                task,
                manager,
            },
            addr,
        )
    }

    pub async fn stop_manager(&mut self) {
        if let Some(s) = self.stop_manager.take() {
            let _ = s.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.manager).await;
            self.manager.abort();
        }
    }

    pub async fn stop(mut self) {
        self.stop_manager().await;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
    }
}

pub fn binding_json(name: &str, subject: Value) -> Value {
    json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereBinding",
        "metadata": {"name": name},
        "spec": {"subject": subject, "address": "https://vc.local", "skipTLSVerify": true,
                 "secretRef": {"name": "creds"}}
    })
}

/// Whether a TLS handshake with `addr` succeeds trusting only `ca_pem`.
pub async fn tls_handshake(addr: std::net::SocketAddr, ca_pem: &[u8]) -> bool {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem).flatten() {
        let _ = roots.add(c);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.is_ok()
}

/// Deletes our webhook configurations (they would fail every later
/// request of the shared API server once the test's server is gone).
pub async fn delete_configurations(client: &Client) {
    use kube::api::DeleteParams;
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [webhook::DEFAULTING_WEBHOOK, webhook::BINDING_WEBHOOK] {
        let _ = m.delete(name, &DeleteParams::default()).await;
    }
    for name in [webhook::VALIDATION_WEBHOOK, webhook::CONFIG_WEBHOOK] {
        let _ = v.delete(name, &DeleteParams::default()).await;
    }
}

/// Installs the project's CRDs (generated from `sources-api`).
pub async fn install_our_crds(server: &kube_harness::KubeApiServer, client: &Client) {
    let yaml: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(client, &yaml).await.expect("CRDs");
}

/// The API server of the tests that install the webhook configurations of
/// `config/`: they are cluster-wide, so the other tests (on
/// [`kube_harness::KubeApiServer::shared`]) never see a test's webhooks.
pub fn admission_apiserver() -> &'static kube_harness::KubeApiServer {
    static SERVER: std::sync::OnceLock<kube_harness::KubeApiServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| kube_harness::KubeApiServer::start().expect("the admission API server"))
}

/// Held by a test while its webhook configurations are installed on
/// [`admission_apiserver`]: one such test at a time.
pub async fn configurations_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Applies the webhook configurations of `config/` pointed at `base`
/// ([`configurations`]).
pub async fn apply_configurations(
    server: &kube_harness::KubeApiServer,
    client: &Client,
    base: &str,
) {
    for doc in configurations(base) {
        server
            .apply_yaml(
                client,
                &serde_yaml::to_string(&doc).unwrap(),
                "default",
                false,
            )
            .await
            .unwrap();
    }
}

/// A task that runs until [`Stoppable::stop`] (or is aborted when dropped).
pub struct Stoppable {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stoppable {
    /// Runs `run(stopped)`, where `stopped` completes on [`Stoppable::stop`].
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async {
            let _ = stopped.await;
        })));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Stops the task and waits (up to 10 s) for it to end.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The VSphereBinding reconciler for namespace `ns` (exclusion mode).
pub fn binding_controller(client: &Client, ns: &str) -> Stoppable {
    let (client, ns) = (client.clone(), ns.to_owned());
    Stoppable::spawn(move |stopped| {
        sources_controller::run_binding_controller(
            client,
            Some(ns),
            Duration::from_secs(60),
            webhook::SelectionMode::Exclusion,
            stopped,
        )
    })
}

/// The source reconcilers for namespace `ns`, with `sys` as their system
/// namespace.
pub fn source_controllers(client: &Client, sys: &str, ns: &str) -> Stoppable {
    let mut settings = sources_controller::Settings::new(
        "registry.test/vsphere-adapter:dev",
        "registry.test/horizon-adapter:dev",
        sys,
    );
    settings.watch_namespace = Some(ns.to_owned());
    settings.identity = format!("test-{ns}");
    let client = client.clone();
    Stoppable::spawn(move |stopped| async move {
        let _ =
            sources_controller::run_controllers(client, settings, Arc::default(), stopped).await;
    })
}

/// Runs `write` (retried until it succeeds: the API server takes a moment
/// to stop calling a webhook) with the validation webhook away, as if the
/// objects were stored before this release or while it was down; then puts
/// the configuration back and waits until it carries the CA again.
pub async fn without_validation<F, Fut>(
    server: &kube_harness::KubeApiServer,
    client: &Client,
    base: &str,
    sys: &str,
    mut write: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    use kube::api::DeleteParams;
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    v.delete(webhook::VALIDATION_WEBHOOK, &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !write().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for a write without the validation webhook"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    apply_configurations(server, client, base).await;
    wait_ca_current(client, sys, "vsphere-webhook-certs").await;
}

/// Where the tests that install the webhook configurations run: the
/// [`admission_apiserver`] with our CRDs, held for one test at a time
/// ([`configurations_lock`]), a client and a system namespace.
pub struct AdmissionCluster {
    _lock: tokio::sync::MutexGuard<'static, ()>,
    /// The API server.
    pub server: &'static kube_harness::KubeApiServer,
    /// An admin client.
    pub client: Client,
    /// The controller's namespace (its certificate Secret).
    pub sys: String,
}

impl AdmissionCluster {
    /// Takes the lock and prepares the server; the system namespace is
    /// `<prefix>-system-<n>`.
    pub async fn take(prefix: &str) -> Self {
        test_support::install_crypto_provider();
        let lock = configurations_lock().await;
        let server = admission_apiserver();
        let client = server.client().await.unwrap();
        install_our_crds(server, &client).await;
        let sys = server
            .create_namespace(&client, &format!("{prefix}-system"))
            .await
            .unwrap();
        Self {
            _lock: lock,
            server,
            client,
            sys,
        }
    }

    /// A fresh namespace `<prefix>-<n>`.
    pub async fn namespace(&self, prefix: &str) -> String {
        self.server
            .create_namespace(&self.client, prefix)
            .await
            .unwrap()
    }

    /// The webhook settings of an in-process server on loopback, checking
    /// every second.
    pub fn webhook_settings(&self) -> WebhookSettings {
        let mut settings = WebhookSettings::new(&self.sys);
        settings.addr = "127.0.0.1:0".parse().unwrap();
        settings.extra_names = vec!["127.0.0.1".into()];
        settings.check_interval = Duration::from_secs(1);
        settings
    }

    /// Serves the webhooks in this process with `settings`, applies the
    /// configurations pointed at them and waits until they carry the CA.
    /// Returns the server, its address and the configurations' base URL.
    pub async fn serve(
        &self,
        settings: WebhookSettings,
    ) -> (Webhooks, std::net::SocketAddr, String) {
        let (hooks, addr) = Webhooks::start(&self.client, settings.clone()).await;
        let base = format!("https://127.0.0.1:{}", addr.port());
        apply_configurations(self.server, &self.client, &base).await;
        wait_ca_current(&self.client, &self.sys, &settings.secret_name).await;
        (hooks, addr, base)
    }
}

/// A condition of an object's `status` (JSON): status, reason, message.
pub fn condition(status: &Value, type_: &str) -> Option<(String, String, String)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}
