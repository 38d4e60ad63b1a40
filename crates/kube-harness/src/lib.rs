//! A real Kubernetes API server for integration tests, envtest style.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_harness::HarnessError> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::Api;
//!
//! // One etcd + kube-apiserver pair per test binary, started on first use and
//! // stopped when the test process exits.
//! let server = kube_harness::KubeApiServer::shared();
//! // A client for the calling tokio runtime, authenticated as a cluster admin.
//! let client = server.client().await?;
//! // A fresh namespace per test keeps tests independent.
//! let ns = server.create_namespace(&client, "demo").await?;
//! let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
//! // CRDs from YAML text, waited for until Established.
//! server.install_crds(&client, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n...").await?;
//! // Knative's published CRDs (Service, Broker, ...) for sink resolution tests.
//! server.install_knative_crds(&client).await?;
//! # let _ = cms; Ok(()) }
//! ```
//!
//! [`KubeApiServer::start`] (or the per-process [`KubeApiServer::shared`])
//! starts `etcd` and `kube-apiserver` on free loopback ports in a temporary
//! directory, with
//!
//! - a self-signed serving certificate (a throw-away CA from `test-support`),
//! - a static bearer token for the user `harness-admin` in `system:masters`,
//! - `--authorization-mode=RBAC`, so other identities are really authorized,
//! - service-account signing keys (the TokenRequest API works),
//! - no kubelet, no controller-manager and no scheduler: nothing runs Pods,
//!   updates Deployment status or garbage-collects; tests patch status
//!   themselves and check owner references instead.
//!
//! It waits for `/readyz`, writes a kubeconfig ([`KubeApiServer::kubeconfig_path`])
//! and stops both processes when dropped. Each process runs under a small `sh`
//! wrapper that kills it when the test process's end of a pipe closes, so
//! nothing outlives a test binary that was killed or that kept the server in a
//! `static`.
//!
//! The binaries come from `scripts/install-test-deps.sh`: `$KUBE_APISERVER_BIN`
//! and `$ETCD_BIN`, else `<cache>/bin/kube-apiserver` and `<cache>/bin/etcd`
//! (the cache is `$VMWARE_SOURCES_CACHE`, else `~/.cache/vmware-sources`).
//! Knative's CRDs come from `$KNATIVE_CRDS_DIR`, else `<cache>/knative-crds`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::fs;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Client, Config};
use tempfile::TempDir;

/// The field manager the harness uses for server-side apply.
pub const FIELD_MANAGER: &str = "kube-harness";

/// The admin user's name; it is in the `system:masters` group.
pub const ADMIN_USER: &str = "harness-admin";

/// Why the harness failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A binary is missing.
    #[error("{0}")]
    MissingBinary(String),
    /// A process could not be started or exited early.
    #[error("{what}: {message}\n--- last log lines ---\n{log}")]
    Process {
        /// Which process.
        what: &'static str,
        /// What happened.
        message: String,
        /// The tail of its log.
        log: String,
    },
    /// Filesystem trouble in the temporary directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A Kubernetes API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The error.
        source: kube::Error,
    },
    /// A kubeconfig problem.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A YAML document could not be parsed or used.
    #[error("YAML: {0}")]
    Yaml(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

fn kube_err(context: impl Into<String>) -> impl FnOnce(kube::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Kube { context, source }
}

/// The directory `scripts/install-test-deps.sh` installs into.
pub fn cache_dir() -> PathBuf {
    test_support::cache_dir()
}

fn find_binary(env: &str, name: &str) -> Result<PathBuf, HarnessError> {
    const HINT: &str =
        "run scripts/install-test-deps.sh (scripts/test.sh does) and export what it prints";
    if let Some(bin) = std::env::var_os(env).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        return Err(HarnessError::MissingBinary(format!(
            "{env}={} does not exist: {HINT}",
            bin.display()
        )));
    }
    let cached = cache_dir().join("bin").join(name);
    if cached.is_file() {
        return Ok(cached);
    }
    Err(HarnessError::MissingBinary(format!(
        "{name} not found (not in ${env} nor {}): {HINT}",
        cached.display()
    )))
}

/// The kube-apiserver binary: `$KUBE_APISERVER_BIN`, else the cache.
pub fn kube_apiserver_binary() -> Result<PathBuf, HarnessError> {
    find_binary("KUBE_APISERVER_BIN", "kube-apiserver")
}

/// The etcd binary: `$ETCD_BIN`, else the cache.
pub fn etcd_binary() -> Result<PathBuf, HarnessError> {
    find_binary("ETCD_BIN", "etcd")
}

/// The directory of Knative's CRD YAML files: `$KNATIVE_CRDS_DIR`, else the
/// cache's `knative-crds`.
pub fn knative_crds_dir() -> Result<PathBuf, HarnessError> {
    let dir = std::env::var_os("KNATIVE_CRDS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("knative-crds"));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(HarnessError::MissingBinary(format!(
            "Knative CRDs not found in {}: run scripts/install-test-deps.sh",
            dir.display()
        )))
    }
}

/// Runs `$0 "$@"` and exits with its status when it exits. A watcher kills
/// it when stdin (a pipe held by the test process) reaches end of file, which
/// also happens when the test process dies without running destructors. Then
/// removes `$HARNESS_CLEANUP` if set. (Asynchronous lists get /dev/null as
/// stdin, hence the copy of stdin on fd 3.)
const WRAPPER: &str = r#"exec 3<&0
"$0" "$@" </dev/null >>"$HARNESS_LOG" 2>&1 &
child=$!
( read -r _ignored <&3; kill -KILL "$child" 2>/dev/null ) 3<&3 </dev/null >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
if [ -n "$HARNESS_CLEANUP" ]; then rm -rf "$HARNESS_CLEANUP"; fi
exit "$status"
"#;

/// A child process run under [`WRAPPER`].
struct Managed {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Managed {
    fn spawn(
        what: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
        cleanup: Option<&Path>,
    ) -> Result<Self, HarnessError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg(binary)
            .args(args)
            .env("HARNESS_LOG", &log)
            .env(
                "HARNESS_CLEANUP",
                cleanup.map(|p| p.as_os_str()).unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| HarnessError::Process {
            what,
            message: format!("cannot run {}: {e}", binary.display()),
            log: String::new(),
        })?;
        let stdin = child.stdin.take();
        Ok(Self {
            what,
            child,
            stdin,
            log,
        })
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The wrapper is still running, but the real process may have died:
    /// the wrapper keeps waiting for stdin. Read the log to tell.
    fn log_tail(&self) -> String {
        read_tail(&self.log)
    }

    fn stop(&mut self) {
        // Closing the pipe makes the wrapper kill the process and wait for it.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn error(&self, message: impl Into<String>) -> HarnessError {
        HarnessError::Process {
            what: self.what,
            message: message.into(),
            log: self.log_tail(),
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_tail(path: &Path) -> String {
    const MAX: u64 = 8 * 1024;
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX {
        let _ = f.seek(std::io::SeekFrom::Start(len - MAX));
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

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
    apiserver: Managed,
    etcd: Managed,
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

        // Wait for /readyz on a thread with its own runtime, so this works
        // inside and outside tokio.
        let wait_url = url.clone();
        let ca_pem = pki.ca_pem().to_owned();
        let wait_token = token.clone();
        let timeout = options.startup_timeout;
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
            if let Some(status) = etcd.exited() {
                return Err(etcd.error(format!("exited early ({status})")));
            }
            if let Some(status) = apiserver.exited() {
                return Err(apiserver.error(format!("exited early ({status})")));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Err(message) = waited {
            let etcd_log = etcd.log_tail();
            let mut err = apiserver.error(message);
            if let HarnessError::Process { log, .. } = &mut err {
                log.push_str("\n--- etcd ---\n");
                log.push_str(&etcd_log);
            }
            return Err(err);
        }
        let startup = started.elapsed();
        tracing::info!(%url, ?startup, "kube-harness: API server ready");
        Ok(Self {
            apiserver,
            etcd,
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
        self.apiserver.log_tail()
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
        self.apiserver.stop();
        self.etcd.stop();
    }
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

/// The untyped API of any namespaced kind: what tests use to write objects the typed structs
/// would not let them write (a namespace user can send anything).
pub fn dynamic_api(
    client: &Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// The untyped API of one of vmware-sources' kinds (`VSphereSource`, `VSphereBinding`,
/// `HorizonSource`: `sources.tanzu.vmware.com/v1alpha1`) in `ns`.
pub fn sources_group_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    dynamic_api(client, ns, "sources.tanzu.vmware.com", "v1alpha1", kind)
}

/// Splits a multi-document YAML text into JSON values, skipping empty
/// documents.
pub fn yaml_documents(yaml: &str) -> Result<Vec<serde_json::Value>, HarnessError> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value =
            serde_json::Value::deserialize(doc).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

async fn install_crds(client: &Client, yaml: &str) -> Result<Vec<String>, HarnessError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for doc in yaml_documents(yaml)? {
        if doc.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
            continue;
        }
        let crd: CustomResourceDefinition =
            serde_json::from_value(doc).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| HarnessError::Yaml("a CRD without metadata.name".into()))?;
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(kube_err(format!("apply CRD {name}")))?;
        names.push(name);
    }
    for name in &names {
        wait_established(&api, name).await?;
    }
    Ok(names)
}

async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let crd = api
            .get(name)
            .await
            .map_err(kube_err(format!("get CRD {name}")))?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        // Established comes a moment before the API server serves the
        // resource: list every served version until none answers 404.
        if established && served(api, &crd).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HarnessError::Timeout(format!(
        "CRD {name} not Established within 60s"
    )))
}

/// Whether every served version of `crd` answers a list (not 404).
async fn served(
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
) -> Result<bool, HarnessError> {
    let client = api.clone().into_client();
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        let resource = ApiResource {
            group: crd.spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", crd.spec.group, version.name),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let objects: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        match objects.list(&ListParams::default().limit(1)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false),
            Err(e) => return Err(kube_err(format!("list {}", resource.plural))(e)),
        }
    }
    Ok(true)
}

async fn apply_yaml(
    client: &Client,
    yaml: &str,
    default_namespace: &str,
    dry_run: bool,
) -> Result<Vec<String>, HarnessError> {
    let applied =
        apply_documents(client, &yaml_documents(yaml)?, default_namespace, dry_run).await?;
    Ok(applied
        .iter()
        .map(|o| {
            let kind = o
                .types
                .as_ref()
                .map(|t| t.kind.as_str())
                .unwrap_or_default();
            format!("{kind}/{}", o.metadata.name.as_deref().unwrap_or_default())
        })
        .collect())
}

async fn apply_documents(
    client: &Client,
    documents: &[serde_json::Value],
    default_namespace: &str,
    dry_run: bool,
) -> Result<Vec<DynamicObject>, HarnessError> {
    let mut applied = Vec::new();
    for doc in documents {
        let obj: DynamicObject =
            serde_json::from_value(doc.clone()).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| HarnessError::Yaml("an object without apiVersion/kind".into()))?;
        let gvk =
            GroupVersionKind::try_from(&types).map_err(|e| HarnessError::Yaml(format!("{e}")))?;
        let name = obj
            .metadata
            .name
            .clone()
            .ok_or_else(|| HarnessError::Yaml(format!("a {} without a name", types.kind)))?;
        let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(kube_err(format!("discover {}", types.kind)))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_owned());
                Api::namespaced_with(client.clone(), &ns, &resource)
            }
        };
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let mut answer = api
            .patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(kube_err(format!("apply {}/{name}", types.kind)))?;
        // The answer of a dynamic API may lack apiVersion/kind; keep the applied ones.
        answer.types = Some(types);
        applied.push(answer);
    }
    Ok(applied)
}
