//! The API server with the CRDs, webhooks and controllers, and running the binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_harness::{KubeApiServer, sources_group_api};
use serde_json::{Value, json};
use sources_controller::webhook::{self, WebhookSettings};
use sources_controller::{Settings, run_binding_controller, run_controllers};

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Exit 0, empty stderr; the output.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert!(
            self.code == 0 && self.stderr.is_empty(),
            "expected success, got {self:#?}"
        );
        &self.stdout
    }

    /// Exit 1, nothing on stdout, `Error: <message>` on stderr; the message.
    #[track_caller]
    pub(crate) fn error(&self) -> &str {
        assert!(
            self.code == 1 && self.stdout.is_empty(),
            "expected a failure, got {self:#?}"
        );
        self.stderr
            .strip_prefix("Error: ")
            .and_then(|s| s.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("stderr is not one `Error: ` message: {self:#?}"))
    }
}

pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kn-vsphere")
}

pub(crate) fn run_with(
    program: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run the binary");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// `kn-vsphere ARGS` with the harness's kubeconfig (context namespace `default`).
pub(crate) fn kn_vsphere(args: &[&str]) -> Run {
    let kubeconfig = env().kubeconfig.to_string_lossy().into_owned();
    run_with(
        Path::new(binary()),
        args,
        &[("KUBECONFIG", &kubeconfig)],
        None,
    )
}

/// `kn-vsphere ARGS` without a cluster (flag checks fail before one is needed).
pub(crate) fn offline(args: &[&str]) -> Run {
    run_with(
        Path::new(binary()),
        args,
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
        None,
    )
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub(crate) async fn client() -> Client {
    test_support::install_crypto_provider();
    env().server.client().await.expect("client")
}

pub(crate) fn namespace(prefix: &str) -> String {
    block_on(async {
        let c = client().await;
        env()
            .server
            .create_namespace(&c, prefix)
            .await
            .expect("namespace")
    })
}

/// Polls `f` until it returns `Some`, for up to 60 s.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) struct Env {
    pub(crate) server: &'static KubeApiServer,
    pub(crate) kubeconfig: PathBuf,
    /// `source list` and `source create` before the CRDs were installed.
    pub(crate) before_crds: (Run, Run),
}

/// The webhook configurations of `config/`, pointed at `base`.
pub(crate) fn webhook_configurations(base: &str) -> Vec<Value> {
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/500-vsphere-webhook-configuration.yaml"),
    )
    .expect("webhook configuration");
    let mut docs = kube_harness::yaml_documents(&yaml).expect("YAML");
    for d in &mut docs {
        for w in d["webhooks"].as_array_mut().expect("webhooks") {
            let path = w["clientConfig"]["service"]["path"]
                .as_str()
                .expect("path")
                .to_owned();
            w["clientConfig"] = json!({"url": format!("{base}{path}")});
            w["timeoutSeconds"] = json!(10);
        }
    }
    docs
}

/// CRDs, the webhooks (called by the API server over TLS) and the controllers; runs forever.
pub(crate) async fn serve(server: &'static KubeApiServer, ready: std::sync::mpsc::Sender<()>) {
    test_support::install_crypto_provider();
    let client = server.client().await.expect("client");
    let yaml: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(&client, &yaml).await.expect("CRDs");
    let sys = server
        .create_namespace(&client, "kn-system")
        .await
        .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .patch(
            &sys,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"sources.tanzu.vmware.com/release": "devel"}}}),
            ),
        )
        .await
        .expect("label");
    let mut settings = WebhookSettings::new(&sys);
    settings.addr = "127.0.0.1:0".parse().expect("addr");
    settings.extra_names = vec!["127.0.0.1".into()];
    settings.check_interval = Duration::from_secs(1);
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let c = client.clone();
    // The leader's part (certificate Secret, configurations) and a replica serving.
    let caches = webhook::WebhookCaches::start(&client).await;
    tokio::spawn(webhook::manage_webhooks(
        client.clone(),
        settings.clone(),
        caches.clone(),
        std::future::pending(),
    ));
    tokio::spawn(async move {
        webhook::run_webhooks(
            c,
            settings,
            caches,
            "config-logging".into(),
            Default::default(),
            Some(bound_tx),
            std::future::pending(),
        )
        .await
        .expect("webhooks");
    });
    let addr = bound_rx.await.expect("webhook server bound");
    let base = format!("https://127.0.0.1:{}", addr.port());
    for doc in webhook_configurations(&base) {
        server
            .apply_yaml(
                &client,
                &serde_yaml::to_string(&doc).expect("yaml"),
                "default",
                false,
            )
            .await
            .expect("apply webhook configuration");
    }
    // The API server takes a moment to use the configurations: dry runs until the webhook
    // answers.
    let bad = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
                     "metadata": {"name": "probe"},
                     "spec": {"sink": {}, "address": "vc.local", "secretRef": {"name": "creds"}}});
    let obj: DynamicObject = serde_json::from_value(bad).expect("object");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually("the validation webhook in use", || async {
        match sources_group_api(&client, "default", "VSphereSource")
            .create(&dry, &obj)
            .await
        {
            Err(kube::Error::Api(s)) if s.message.contains("validation.webhook") => Some(()),
            _ => None,
        }
    })
    .await;
    let mut ctl = Settings::new(
        "registry.test/vsphere-adapter:dev",
        "registry.test/horizon-adapter:dev",
        &sys,
    );
    ctl.identity = "kn-vsphere-test".into();
    let c = client.clone();
    tokio::spawn(async move {
        let _ = run_controllers(c, ctl, Default::default(), std::future::pending()).await;
    });
    tokio::spawn(run_binding_controller(
        client.clone(),
        None,
        Duration::from_secs(60),
        webhook::SelectionMode::Exclusion,
        std::future::pending(),
    ));
    let _ = ready.send(());
    std::future::pending::<()>().await;
}

pub(crate) fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let server = KubeApiServer::shared();
        let kubeconfig = server.kubeconfig_path().to_path_buf();
        let k = kubeconfig.to_string_lossy().into_owned();
        let envs = [("KUBECONFIG", k.as_str())];
        let before_crds = (
            run_with(Path::new(binary()), &["source", "list"], &envs, None),
            run_with(
                Path::new(binary()),
                &[
                    "source",
                    "create",
                    "--name",
                    "s",
                    "-a",
                    "https://vc",
                    "-s",
                    "c",
                    "-u",
                    "http://sink",
                ],
                &envs,
                None,
            ),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(serve(server, tx));
        });
        rx.recv_timeout(Duration::from_secs(300))
            .expect("CRDs, webhooks and controllers ready");
        Env {
            server,
            kubeconfig,
            before_crds,
        }
    })
}

/// The columns of a kn table: the header's titles and where each starts; every row must have
/// its cells at those offsets (Go's tabwriter alignment).
pub(crate) fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let mut starts = Vec::new();
    let mut prev = ' ';
    for (i, c) in header.char_indices() {
        if c != ' ' && prev == ' ' {
            starts.push(i);
        }
        prev = c;
    }
    let cut = |line: &str| -> Vec<String> {
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| {
                let end = starts
                    .get(n + 1)
                    .copied()
                    .unwrap_or(line.len())
                    .min(line.len());
                let cell = line.get(s..end).unwrap_or_default();
                if n + 1 < starts.len() {
                    // Padding: at least three spaces, and the cell must not spill over.
                    assert!(
                        cell.ends_with("   ") || end - s < 6,
                        "cell {cell:?} of {line:?} is not padded to its column"
                    );
                }
                cell.trim_end().to_owned()
            })
            .collect()
    };
    std::iter::once(cut(header)).chain(lines.map(cut)).collect()
}
