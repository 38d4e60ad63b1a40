//! The etcd + kube-apiserver pair, its credentials and its clients.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tempfile::TempDir;

use crate::apply::{apply_documents, apply_yaml, install_crds};
use crate::binaries::{etcd_binary, knative_crds_dir, kube_apiserver_binary};
use crate::process::Managed;
use crate::{ADMIN_USER, HarnessError, io_err, kube_err};

fn free_port() -> Result<u16, HarnessError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_err("bind an ephemeral port on 127.0.0.1"))
}

/// Options for [`KubeApiServer::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to wait for `/readyz`.
    pub startup_timeout: Duration,
    /// Extra `kube-apiserver` flags, e.g. `--feature-gates=...`.
    pub extra_apiserver_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            startup_timeout: Duration::from_secs(180),
            extra_apiserver_args: Vec::new(),
        }
    }
}

/// A running etcd + kube-apiserver pair, stopped when dropped.
pub struct KubeApiServer {
    // Processes first: they are dropped (stopped) before the directory.
    apiserver: Mutex<Option<Managed>>,
    etcd: Managed,
    /// How the kube-apiserver was started, to start it again.
    apiserver_command: (PathBuf, Vec<String>, PathBuf),
    startup_timeout: Duration,
    port: u16,
    url: String,
    ca_pem: String,
    token: String,
    kubeconfig_path: PathBuf,
    startup: Duration,
    dir: TempDir,
}

impl fmt::Debug for KubeApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeApiServer")
            .field("url", &self.url)
            .field("dir", &self.dir.path())
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<KubeApiServer> = OnceLock::new();
static NAMESPACE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl KubeApiServer {
    /// One server per test process, started on first use (thread-safe).
    ///
    /// It is never dropped; its processes are killed and its directory
    /// removed when the test process exits.
    ///
    /// # Panics
    ///
    /// When the server cannot be started, with the reason and log tail.
    pub fn shared() -> &'static KubeApiServer {
        SHARED.get_or_init(|| match Self::start() {
            Ok(server) => server,
            Err(e) => panic!("kube-harness: cannot start the API server: {e}"),
        })
    }

    /// Starts a new etcd + kube-apiserver pair with default options.
    ///
    /// Blocking (it waits for `/readyz`); it may be called from inside or
    /// outside a tokio runtime.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(Options::default())
    }

    /// Starts a new etcd + kube-apiserver pair.
    pub fn start_with(options: Options) -> Result<Self, HarnessError> {
        // A port taken between probing and binding makes a start fail; retry.
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(&options) {
                Ok(server) => return Ok(server),
                Err(e @ HarnessError::MissingBinary(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "kube-harness: start failed, retrying");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| HarnessError::Timeout("no start attempt".into())))
    }

    fn try_start(options: &Options) -> Result<Self, HarnessError> {
        let started = Instant::now();
        let apiserver_bin = kube_apiserver_binary()?;
        let etcd_bin = etcd_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("vmware-sources-kube-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let root = dir.path().to_path_buf();

        // Serving certificate, admin token, service-account key.
        let pki = test_support::TestPki::new(&["localhost", "127.0.0.1"]);
        let write = |name: &str, content: &[u8]| -> Result<PathBuf, HarnessError> {
            let path = root.join(name);
            fs::write(&path, content).map_err(io_err(format!("write {}", path.display())))?;
            Ok(path)
        };
        write("ca.pem", pki.ca_pem().as_bytes())?;
        let cert = write("serving.pem", pki.cert_pem().as_bytes())?;
        let key = write("serving-key.pem", pki.key_pem().as_bytes())?;
        let token = format!("harness-{:016x}", rand_u64());
        let tokens = write(
            "tokens.csv",
            format!("{token},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n").as_bytes(),
        )?;
        let sa_key = rcgen::KeyPair::generate()
            .map_err(|e| HarnessError::Kubeconfig(format!("service-account key: {e}")))?;
        let sa_pub = write("sa-pub.pem", sa_key.public_key_pem().as_bytes())?;
        let sa_key = write("sa-key.pem", sa_key.serialize_pem().as_bytes())?;

        // etcd.
        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let etcd_args = vec![
            format!("--data-dir={}", root.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let mut etcd = Managed::spawn(
            "etcd",
            &etcd_bin,
            &etcd_args,
            root.join("etcd.log"),
            Some(&root),
        )?;

        // kube-apiserver.
        let port = free_port()?;
        let mut args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", cert.display()),
            format!("--tls-private-key-file={}", key.display()),
            format!("--cert-dir={}", root.join("certs").display()),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", sa_pub.display()),
            format!("--service-account-signing-key-file={}", sa_key.display()),
            "--allow-privileged=true".into(),
            // No controller-manager creates default ServiceAccounts.
            "--disable-admission-plugins=ServiceAccount".into(),
            "--enable-priority-and-fairness=false".into(),
            "--v=0".into(),
        ];
        args.extend(options.extra_apiserver_args.iter().cloned());
        let mut apiserver = Managed::spawn(
            "kube-apiserver",
            &apiserver_bin,
            &args,
            root.join("kube-apiserver.log"),
            None,
        )?;

        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = kubeconfig_yaml(&url, pki.ca_pem(), ADMIN_USER, &token);
        let kubeconfig_path = write("kubeconfig", kubeconfig.as_bytes())?;

        wait_until_ready(
            &url,
            pki.ca_pem(),
            &token,
            options.startup_timeout,
            &mut apiserver,
            Some(&mut etcd),
        )?;
        let startup = started.elapsed();
        tracing::info!(%url, ?startup, "kube-harness: API server ready");
        Ok(Self {
            apiserver: Mutex::new(Some(apiserver)),
            etcd,
            apiserver_command: (apiserver_bin, args, root.join("kube-apiserver.log")),
            startup_timeout: options.startup_timeout,
            port,
            url,
            ca_pem: pki.ca_pem().to_owned(),
            token,
            kubeconfig_path,
            startup,
            dir,
        })
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The API server's address, `127.0.0.1:<port>` (for a
    /// [`TcpProxy`](crate::TcpProxy) in front of it).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops the kube-apiserver (etcd keeps running): what a process sees
    /// when the API server is gone. [`KubeApiServer::start_apiserver`] brings
    /// it back on the same port with the same data.
    pub fn stop_apiserver(&self) {
        if let Ok(mut apiserver) = self.apiserver.lock()
            && let Some(mut running) = apiserver.take()
        {
            running.stop();
        }
    }

    /// Starts the kube-apiserver again after [`KubeApiServer::stop_apiserver`]
    /// and waits for `/readyz` (blocking, as [`KubeApiServer::start`]).
    pub fn start_apiserver(&self) -> Result<(), HarnessError> {
        let mut apiserver = self
            .apiserver
            .lock()
            .map_err(|_| HarnessError::Timeout("the API server lock is poisoned".into()))?;
        if apiserver.is_some() {
            return Ok(());
        }
        let (binary, args, log) = &self.apiserver_command;
        let mut started = Managed::spawn("kube-apiserver", binary, args, log.clone(), None)?;
        wait_until_ready(
            &self.url,
            &self.ca_pem,
            &self.token,
            self.startup_timeout,
            &mut started,
            None,
        )?;
        *apiserver = Some(started);
        Ok(())
    }

    /// Writes to `path` an admin kubeconfig that reaches the API server
    /// through `addr` (a [`TcpProxy`](crate::TcpProxy) on loopback; the
    /// serving certificate is valid for `127.0.0.1`).
    pub fn write_kubeconfig_via(&self, addr: SocketAddr, path: &Path) -> Result<(), HarnessError> {
        let url = format!("https://{addr}");
        let yaml = kubeconfig_yaml(&url, &self.ca_pem, ADMIN_USER, &self.token);
        fs::write(path, yaml).map_err(io_err(format!("write {}", path.display())))
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// A kubeconfig file for the admin user (context `harness`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Writes to `path` a kubeconfig that authenticates with `token` (e.g. a
    /// ServiceAccount token from the TokenRequest API), so a process can run
    /// with exactly that identity's RBAC.
    pub fn write_kubeconfig_for_token(&self, token: &str, path: &Path) -> Result<(), HarnessError> {
        let yaml = kubeconfig_yaml(&self.url, &self.ca_pem, "token-user", token);
        fs::write(path, yaml).map_err(io_err(format!("write {}", path.display())))
    }

    /// The temporary directory holding the data, certificates and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How long start-up took, up to `/readyz`.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The tail of kube-apiserver's log.
    pub fn apiserver_log(&self) -> String {
        crate::process::read_tail(&self.apiserver_command.2)
    }

    /// The tail of etcd's log.
    pub fn etcd_log(&self) -> String {
        self.etcd.log_tail()
    }

    /// A kube [`Config`] for the admin user, read back from the kubeconfig.
    pub async fn config(&self) -> Result<Config, HarnessError> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig_path)
            .map_err(|e| HarnessError::Kubeconfig(e.to_string()))?;
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| HarnessError::Kubeconfig(e.to_string()))
    }

    /// A new admin client, bound to the calling tokio runtime.
    pub async fn client(&self) -> Result<Client, HarnessError> {
        test_support::install_crypto_provider();
        let config = self.config().await?;
        Client::try_from(config).map_err(kube_err("build a client"))
    }

    /// A client that authenticates with `token` (e.g. a ServiceAccount
    /// token from the TokenRequest API), to test RBAC.
    pub fn client_with_token(&self, token: &str) -> Result<Client, HarnessError> {
        test_support::install_crypto_provider();
        let mut config = Config::new(
            self.url
                .parse()
                .map_err(|e| HarnessError::Kubeconfig(format!("{e}")))?,
        );
        config.root_cert = Some(vec![pem_to_der(&self.ca_pem)?]);
        config.auth_info.token = Some(token.to_owned().into());
        Client::try_from(config).map_err(kube_err("build a client"))
    }

    /// Creates a namespace named `<prefix>-<n>` (unique in this process)
    /// and returns its name.
    pub async fn create_namespace(
        &self,
        client: &Client,
        prefix: &str,
    ) -> Result<String, HarnessError> {
        let n = NAMESPACE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}");
        let api: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))
        .map_err(|e| HarnessError::Yaml(e.to_string()))?;
        api.create(&PostParams::default(), &ns)
            .await
            .map_err(kube_err(format!("create namespace {name}")))?;
        Ok(name)
    }

    /// Applies (server-side, forced) every `CustomResourceDefinition` in the
    /// multi-document `yaml` and waits until each is Established. Other
    /// kinds are ignored. Returns the CRD names.
    pub async fn install_crds(
        &self,
        client: &Client,
        yaml: &str,
    ) -> Result<Vec<String>, HarnessError> {
        install_crds(client, yaml).await
    }

    /// A new admin client with Knative's CRDs installed: where the tests that resolve sinks
    /// (Brokers, Services) start.
    pub async fn admin_with_knative_crds(&self) -> Result<Client, HarnessError> {
        let client = self.client().await?;
        self.install_knative_crds(&client).await?;
        Ok(client)
    }

    /// Installs Knative's CRDs (Serving and Eventing, from the Go modules'
    /// `config/` directories, see `scripts/install-test-deps.sh`).
    pub async fn install_knative_crds(&self, client: &Client) -> Result<Vec<String>, HarnessError> {
        let dir = knative_crds_dir()?;
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(io_err(format!("read {}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut names = Vec::new();
        for file in files {
            let yaml =
                fs::read_to_string(&file).map_err(io_err(format!("read {}", file.display())))?;
            names.extend(install_crds(client, &yaml).await?);
        }
        Ok(names)
    }

    /// Applies every object of the multi-document `yaml` with server-side
    /// apply, like `kubectl apply --server-side [--dry-run=server] -f`.
    /// Objects without a namespace that need one go to `default_namespace`.
    /// Returns `kind/name` of each object.
    pub async fn apply_yaml(
        &self,
        client: &Client,
        yaml: &str,
        default_namespace: &str,
        dry_run: bool,
    ) -> Result<Vec<String>, HarnessError> {
        apply_yaml(client, yaml, default_namespace, dry_run).await
    }

    /// Like [`KubeApiServer::apply_yaml`], for documents already parsed, returning each object
    /// as the API server answered (with defaults and admission mutations; for a dry run, what
    /// it would store).
    pub async fn apply_documents(
        &self,
        client: &Client,
        documents: &[serde_json::Value],
        default_namespace: &str,
        dry_run: bool,
    ) -> Result<Vec<DynamicObject>, HarnessError> {
        apply_documents(client, documents, default_namespace, dry_run).await
    }
}

impl Drop for KubeApiServer {
    fn drop(&mut self) {
        self.stop_apiserver();
        self.etcd.stop();
    }
}

/// Waits for `/readyz` on a thread with its own runtime (so this works
/// inside and outside tokio), failing early when a process exits.
fn wait_until_ready(
    url: &str,
    ca_pem: &str,
    token: &str,
    timeout: Duration,
    apiserver: &mut Managed,
    mut etcd: Option<&mut Managed>,
) -> Result<(), HarnessError> {
    let wait_url = url.to_owned();
    let ca_pem = ca_pem.to_owned();
    let wait_token = token.to_owned();
    let waiter = std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        rt.block_on(wait_ready(&wait_url, &ca_pem, &wait_token, timeout))
    });
    let waited = loop {
        if waiter.is_finished() {
            break waiter
                .join()
                .unwrap_or_else(|_| Err("readiness thread panicked".into()));
        }
        if let Some(etcd) = etcd.as_deref_mut()
            && let Some(status) = etcd.exited()
        {
            return Err(etcd.error(format!("exited early ({status})")));
        }
        if let Some(status) = apiserver.exited() {
            return Err(apiserver.error(format!("exited early ({status})")));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Err(message) = waited {
        let etcd_log = etcd.map(|e| e.log_tail()).unwrap_or_default();
        let mut err = apiserver.error(message);
        if let HarnessError::Process { log, .. } = &mut err {
            log.push_str("\n--- etcd ---\n");
            log.push_str(&etcd_log);
        }
        return Err(err);
    }
    Ok(())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, HarnessError> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| HarnessError::Kubeconfig(format!("CA PEM: {e}")))
}

fn kubeconfig_yaml(url: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: harness
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: harness
  context:
    cluster: harness
    user: {user}
    namespace: default
current-context: harness
"
    )
}

async fn wait_ready(url: &str, ca_pem: &str, token: &str, timeout: Duration) -> Result<(), String> {
    test_support::install_crypto_provider();
    let mut config = Config::new(url.parse().map_err(|e| format!("{e}"))?);
    config.root_cert = Some(vec![pem_to_der(ca_pem).map_err(|e| e.to_string())?]);
    config.auth_info.token = Some(token.to_owned().into());
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = Some(Duration::from_secs(5));
    let client = Client::try_from(config).map_err(|e| format!("client: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "/readyz not ok within {timeout:?}; last answer: {last}"
    ))
}
