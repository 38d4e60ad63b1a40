//! The release as an operator installs it, on a real kube-apiserver (`kube-harness`): helpers
//! for the tests of `release.yaml` and the samples (`tests/it/release.rs`) and for the migration
//! from the Go project (`crates/adapter-bin/tests/it/migration.rs`).
//!
//! - [`Release::generate`] runs `config/release.sh` and keeps the `release.yaml` it wrote: with
//!   the images `scripts/build-images.sh` built when `RELEASE_IMAGES` names its output directory
//!   (`scripts/test.sh` does), else with fixed references by digest.
//! - [`ReleaseWebhooks::start`] serves the admission webhooks of an applied release in this
//!   process and points the release's webhook configurations at it (`clientConfig.url` instead
//!   of the Service, which no kubelet or proxy serves here).
//! - [`ReleaseControllers::start`] runs the release's reconcilers in this process, as its
//!   ServiceAccount, with the adapter images its `release.yaml` names.
//! - [`upstream_yaml`] reads the Go project's YAML kept under `upstream/` (its README says
//!   where from).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let release = release_tests::Release::generate()?;
//! let server = kube_harness::KubeApiServer::shared();
//! let admin = server.client().await?;
//! release.apply(server, &admin, false).await?;
//! let hooks = release_tests::ReleaseWebhooks::start(server, &admin, &release).await?;
//! // ... create objects: the API server calls the release's webhooks ...
//! hooks.stop().await;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_controller::webhook::SelectionMode;
use sources_controller::webhook::{self, WebhookSettings};
use sources_controller::{Metrics, Settings, run_binding_controller, run_controllers};

/// The namespace the release installs into.
pub const SYSTEM_NAMESPACE: &str = "vmware-sources";

/// The registry `release.yaml` names when it is written from built images.
pub const TEST_REGISTRY: &str = "registry.test/vmware-sources";

/// Why a helper failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config/release.sh` failed or wrote something unexpected.
    #[error("release.sh: {0}")]
    ReleaseScript(String),
    /// Reading a file.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The API server harness.
    #[error(transparent)]
    Harness(#[from] kube_harness::HarnessError),
    /// A Kubernetes API call.
    #[error("{0}: {1}")]
    Kube(String, kube::Error),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// An object is not what the release says.
    #[error("{0}")]
    Unexpected(String),
}

fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |e| Error::Kube(what, e)
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Go project's file at `path` (e.g. `config/300-vspheresource.yaml`), from `upstream/`.
pub fn upstream_yaml(path: &str) -> Result<String, Error> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("upstream/sources-for-knative")
        .join(path);
    std::fs::read_to_string(&file).map_err(|e| Error::Io(file.display().to_string(), e))
}

/// The Go release's `config/*.yaml`, in file-name order (as `kubectl apply -f config/` or
/// `ko resolve` takes them), one text.
pub fn upstream_release() -> Result<String, Error> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("upstream/sources-for-knative/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::Io(dir.display().to_string(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut all = String::new();
    for f in files {
        all += &std::fs::read_to_string(&f).map_err(|e| Error::Io(f.display().to_string(), e))?;
        all += "\n---\n";
    }
    Ok(all)
}

/// A `release.yaml` written by `config/release.sh`.
#[derive(Debug, Clone)]
pub struct Release {
    /// The file's text.
    pub yaml: String,
    /// Its objects, in order.
    pub documents: Vec<Value>,
    /// The version in its `sources.tanzu.vmware.com/release` labels.
    pub version: String,
    /// The `sources-controller` image reference.
    pub controller_image: String,
    /// The `vsphere-adapter` image reference.
    pub vsphere_adapter_image: String,
    /// The `horizon-adapter` image reference.
    pub horizon_adapter_image: String,
    /// The directory of the built images (`RELEASE_IMAGES`), when they were used.
    pub images_dir: Option<PathBuf>,
}

impl Release {
    /// Runs `config/release.sh` into a temporary file: with `--images $RELEASE_IMAGES
    /// --registry` [`TEST_REGISTRY`] when `RELEASE_IMAGES` is set, else with three fixed
    /// references by digest.
    pub fn generate() -> Result<Self, Error> {
        let root = repo_root();
        let dir = std::env::temp_dir().join(format!(
            "vmware-sources-release-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io(dir.display().to_string(), e))?;
        let out = dir.join("release.yaml");
        let images_dir = std::env::var_os("RELEASE_IMAGES")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let mut cmd = Command::new(root.join("config/release.sh"));
        match &images_dir {
            Some(images) => {
                cmd.arg("--images")
                    .arg(images)
                    .arg("--registry")
                    .arg(TEST_REGISTRY);
            }
            None => {
                for (name, fill) in [
                    ("sources-controller", 'c'),
                    ("vsphere-adapter", 'a'),
                    ("horizon-adapter", 'b'),
                ] {
                    cmd.arg(format!(
                        "{TEST_REGISTRY}/{name}@sha256:{}",
                        fill.to_string().repeat(64)
                    ));
                }
            }
        }
        let output = cmd
            .arg(&out)
            .output()
            .map_err(|e| Error::Io("run config/release.sh".into(), e))?;
        if !output.status.success() {
            return Err(Error::ReleaseScript(format!(
                "exit {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let yaml =
            std::fs::read_to_string(&out).map_err(|e| Error::Io(out.display().to_string(), e))?;
        let _ = std::fs::remove_dir_all(&dir);
        let documents = kube_harness::yaml_documents(&yaml)?;
        let deployment = documents
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "sources-controller")
            .ok_or_else(|| Error::Unexpected("no Deployment sources-controller".into()))?;
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let env = |name: &str| -> Result<String, Error> {
            container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["name"] == name)
                .and_then(|e| e["value"].as_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::Unexpected(format!("the controller has no env {name}")))
        };
        let version = deployment["metadata"]["labels"]["sources.tanzu.vmware.com/release"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            controller_image: container["image"].as_str().unwrap_or_default().to_owned(),
            vsphere_adapter_image: env("VSPHERE_ADAPTER")?,
            horizon_adapter_image: env("HORIZON_SOURCE_RA_IMAGE")?,
            version,
            yaml,
            documents,
            images_dir,
        })
    }

    /// The binding selection mode the release's controller Deployment sets
    /// (`VSPHERE_BINDING_SELECTION_MODE`; exclusion when unset).
    pub fn selection_mode(&self) -> SelectionMode {
        let mode = self
            .of_kind("Deployment")
            .filter(|d| d["metadata"]["name"] == "sources-controller")
            .flat_map(|d| {
                d["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|e| e["name"] == "VSPHERE_BINDING_SELECTION_MODE")
            .and_then(|e| e["value"].as_str().map(str::to_owned));
        match mode.as_deref() {
            Some("inclusion") => SelectionMode::Inclusion,
            _ => SelectionMode::Exclusion,
        }
    }

    /// The release's objects of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.documents.iter().filter(move |d| d["kind"] == kind)
    }

    /// `kubectl apply --server-side [--dry-run=server] -f release.yaml`: every object in order
    /// (the namespace is created for real first when `dry_run`, as a dry run of the namespaced
    /// objects needs it). Returns `Kind/name` of each object.
    pub async fn apply(
        &self,
        server: &KubeApiServer,
        client: &Client,
        dry_run: bool,
    ) -> Result<Vec<String>, Error> {
        if dry_run {
            let namespaces: Vec<Value> = self.of_kind("Namespace").cloned().collect();
            server
                .apply_documents(client, &namespaces, "default", false)
                .await?;
        }
        Ok(server
            .apply_yaml(client, &self.yaml, "default", dry_run)
            .await?)
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for up to `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout(what.to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client for the ServiceAccount `ns/name` (a TokenRequest), so that a test runs with only
/// the RBAC the release grants.
pub async fn service_account_client(
    server: &KubeApiServer,
    admin: &Client,
    ns: &str,
    name: &str,
) -> Result<Client, Error> {
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .map_err(|e| Error::Unexpected(e.to_string()))?;
    let token = Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(kube_err(format!("a token for {ns}/{name}")))?
        .status
        .map(|s| s.token)
        .ok_or_else(|| Error::Unexpected("a TokenRequest without status".into()))?;
    Ok(server.client_with_token(&token)?)
}

/// The release's admission webhooks, served in this process.
pub struct ReleaseWebhooks {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), webhook::WebhookError>>,
    manager: tokio::task::JoinHandle<()>,
    /// The server's base URL (`https://127.0.0.1:<port>`).
    pub base_url: String,
}

impl ReleaseWebhooks {
    /// Starts the webhook server as the release's ServiceAccount `sources-controller` (with
    /// `VSPHERE_BINDING_SELECTION_MODE` as the release sets it), points every webhook of the
    /// release's configurations (already applied) at it by URL, with a 10 s timeout instead of
    /// the release's 2 s (a loaded test machine), and waits until the API server calls it.
    pub async fn start(
        server: &KubeApiServer,
        admin: &Client,
        release: &Release,
    ) -> Result<Self, Error> {
        let client =
            service_account_client(server, admin, SYSTEM_NAMESPACE, "sources-controller").await?;
        let mut settings = WebhookSettings::new(SYSTEM_NAMESPACE);
        settings.addr = "127.0.0.1:0"
            .parse()
            .map_err(|e| Error::Unexpected(format!("{e}")))?;
        settings.extra_names = vec!["127.0.0.1".into()];
        settings.check_interval = Duration::from_secs(1);
        settings.selection_mode = release.selection_mode();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_manager, manager_stopped) = tokio::sync::oneshot::channel::<()>();
        // Every replica serves admission; the leader writes the certificate Secret and the
        // configurations (caBundle, binding rules and selectors).
        let caches = webhook::WebhookCaches::start(&client).await;
        let task = tokio::spawn(webhook::run_webhooks(
            client.clone(),
            settings.clone(),
            caches.clone(),
            "config-logging".into(),
            Arc::new(Metrics::default()),
            Some(bound_tx),
            async {
                let _ = stopped.await;
            },
        ));
        let manager = tokio::spawn(webhook::manage_webhooks(client, settings, caches, async {
            let _ = manager_stopped.await;
        }));
        let addr = bound_rx
            .await
            .map_err(|_| Error::Unexpected("the webhook server did not start".into()))?;
        let base_url = format!("https://127.0.0.1:{}", addr.port());
        let hooks = Self {
            stops: vec![stop, stop_manager],
            task,
            manager,
            base_url,
        };
        hooks.point_configurations(admin, release).await?;
        hooks.wait_in_use(admin).await?;
        Ok(hooks)
    }

    /// Replaces `clientConfig.service` by `clientConfig.url` in every webhook of the release's
    /// webhook configurations.
    async fn point_configurations(&self, admin: &Client, release: &Release) -> Result<(), Error> {
        for doc in release
            .of_kind("MutatingWebhookConfiguration")
            .chain(release.of_kind("ValidatingWebhookConfiguration"))
        {
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            let mut webhooks = doc["webhooks"].as_array().cloned().unwrap_or_default();
            for w in &mut webhooks {
                let path = w["clientConfig"]["service"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                w["clientConfig"] = json!({"url": format!("{}{path}", self.base_url)});
                w["timeoutSeconds"] = json!(10);
            }
            // Only the fields the release sets: the webhook server writes caBundle, rules and
            // selectors with its own field manager.
            let patch = json!({
                "apiVersion": doc["apiVersion"], "kind": doc["kind"],
                "metadata": {"name": name},
                "webhooks": webhooks,
            });
            let params = PatchParams::apply(kube_harness::FIELD_MANAGER).force();
            if doc["kind"] == "MutatingWebhookConfiguration" {
                Api::<MutatingWebhookConfiguration>::all(admin.clone())
                    .patch(name, &params, &Patch::Apply(&patch))
                    .await
                    .map_err(kube_err(format!("point {name} at the test's server")))?;
            } else {
                Api::<ValidatingWebhookConfiguration>::all(admin.clone())
                    .patch(name, &params, &Patch::Apply(&patch))
                    .await
                    .map_err(kube_err(format!("point {name} at the test's server")))?;
            }
        }
        Ok(())
    }

    /// Until the certificate Secret exists and the API server calls the validation webhook (a
    /// dry-run create of an invalid VSphereSource is refused by it).
    async fn wait_in_use(&self, admin: &Client) -> Result<(), Error> {
        let secrets: Api<Secret> = Api::namespaced(admin.clone(), SYSTEM_NAMESPACE);
        eventually(
            "the webhook certificate Secret",
            Duration::from_secs(60),
            || async {
                secrets
                    .get_opt("vsphere-webhook-certs")
                    .await
                    .ok()
                    .flatten()
            },
        )
        .await?;
        let probe: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": "webhook-probe"},
            "spec": {"sink": {}, "address": "vc.local", "secretRef": {"name": "x"}}
        }))
        .map_err(|e| Error::Unexpected(e.to_string()))?;
        let api = kube_harness::sources_group_api(admin, "default", "VSphereSource");
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        eventually(
            "the release's webhooks in use",
            Duration::from_secs(90),
            || async {
                match api.create(&dry_run, &probe).await {
                    Err(kube::Error::Api(s)) if s.message.contains(webhook::VALIDATION_WEBHOOK) => {
                        Some(())
                    }
                    _ => None,
                }
            },
        )
        .await
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.manager).await;
        self.manager.abort();
    }
}

/// The release's reconcilers (sources and bindings), running in this process.
pub struct ReleaseControllers {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ReleaseControllers {
    /// Starts the source and binding reconcilers for the objects in `namespace`, as the
    /// release's ServiceAccount `sources-controller` (its RBAC), with the adapter images of
    /// `release` (the controller Deployment's `VSPHERE_ADAPTER` and `HORIZON_SOURCE_RA_IMAGE`).
    pub async fn start(
        server: &KubeApiServer,
        admin: &Client,
        release: &Release,
        namespace: &str,
    ) -> Result<Self, Error> {
        let client =
            service_account_client(server, admin, SYSTEM_NAMESPACE, "sources-controller").await?;
        let mut settings = Settings::new(
            &release.vsphere_adapter_image,
            &release.horizon_adapter_image,
            SYSTEM_NAMESPACE,
        );
        settings.watch_namespace = Some(namespace.to_owned());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
        let c = client.clone();
        let watched = namespace.to_owned();
        let selection_mode = release.selection_mode();
        let sources = tokio::spawn(async move {
            if let Err(e) = run_controllers(c, settings, Default::default(), async {
                let _ = stopped.await;
            })
            .await
            {
                tracing::error!(error = %e, "the source reconcilers stopped");
            }
        });
        let bindings = tokio::spawn(async move {
            let _ = run_binding_controller(
                client,
                Some(watched),
                Duration::from_secs(60),
                selection_mode,
                async {
                    let _ = stopped_b.await;
                },
            )
            .await;
        });
        Ok(Self {
            stops: vec![stop, stop_b],
            tasks: vec![sources, bindings],
        })
    }

    /// Stops the reconcilers.
    pub async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}
