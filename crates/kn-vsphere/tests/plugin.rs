//! `kn-vsphere`, the binary, against a real kube-apiserver (kube-harness) with the CRDs, this
//! project's admission webhooks and its controllers (as `crates/controller-bin/tests/webhooks.rs`
//! starts them), govmomi's vcsim, the Horizon simulator, and the real `kn` client.
//!
//! One API server, webhook server and controller set for the whole binary, started by the first
//! test that needs them (in a thread of their own); each test works in its own namespace.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube_harness::{KubeApiServer, sources_group_api};
use serde_json::{Value, json};
use sources_controller::webhook::{self, WebhookSettings};
use sources_controller::{Settings, run_binding_controller, run_controllers};

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Exit 0, empty stderr; the output.
    #[track_caller]
    fn ok(&self) -> &str {
        assert!(
            self.code == 0 && self.stderr.is_empty(),
            "expected success, got {self:#?}"
        );
        &self.stdout
    }

    /// Exit 1, nothing on stdout, `Error: <message>` on stderr; the message.
    #[track_caller]
    fn error(&self) -> &str {
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

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kn-vsphere")
}

fn run_with(program: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Run {
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
fn kn_vsphere(args: &[&str]) -> Run {
    let kubeconfig = env().kubeconfig.to_string_lossy().into_owned();
    run_with(
        Path::new(binary()),
        args,
        &[("KUBECONFIG", &kubeconfig)],
        None,
    )
}

/// `kn-vsphere ARGS` without a cluster (flag checks fail before one is needed).
fn offline(args: &[&str]) -> Run {
    run_with(
        Path::new(binary()),
        args,
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
        None,
    )
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn client() -> Client {
    test_support::install_crypto_provider();
    env().server.client().await.expect("client")
}

fn namespace(prefix: &str) -> String {
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
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
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

struct Env {
    server: &'static KubeApiServer,
    kubeconfig: PathBuf,
    /// `source list` and `source create` before the CRDs were installed.
    before_crds: (Run, Run),
}

/// The webhook configurations of `config/`, pointed at `base`.
fn webhook_configurations(base: &str) -> Vec<Value> {
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
async fn serve(server: &'static KubeApiServer, ready: std::sync::mpsc::Sender<()>) {
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

fn env() -> &'static Env {
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
fn table(text: &str) -> Vec<Vec<String>> {
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

#[test]
fn flag_errors_are_the_go_plugins() {
    let cases: &[(&[&str], &str)] = &[
        // auth create
        (
            &["auth", "create"],
            "required flag(s) \"name\", \"username\" not set",
        ),
        (
            &["auth", "create", "--username", "", "--name", "n", "-p", "x"],
            "'username' requires a nonempty username provided with the --username option",
        ),
        (
            &["auth", "create", "--username", "u", "--name", "n"],
            "'password' requires a nonempty password provided with the --password option or prompted later via the --password-std-in option",
        ),
        (
            &["auth", "create", "-u", "u", "--name", "n", "-p", "x", "-i"],
            "either set an explicit password with the --password option or set the --password-stdin option to get prompted for one, do not set both",
        ),
        (
            &["auth", "create", "-u", "u", "--name", "", "-p", "x"],
            "'name' requires a nonempty secret name provided with the --name option",
        ),
        (&["auth", "delete"], "required flag(s) \"name\" not set"),
        (
            &["auth", "delete", "--name", ""],
            "'name' requires a nonempty secret name provided with the --name option",
        ),
        // source create
        (
            &["source", "create"],
            "required flag(s) \"name\", \"secret-ref\", \"vc-address\" not set",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "",
                "-a",
                "https://vc",
                "-s",
                "c",
                "-u",
                "http://x",
            ],
            "'name' requires a nonempty name provided with the --name option",
        ),
        (
            &[
                "source", "create", "--name", "s", "-a", "", "-s", "c", "-u", "http://x",
            ],
            "'address' requires a nonempty address provided with the --vc-address option",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "",
                "-u",
                "http://x",
            ],
            "'secret-ref' requires a nonempty secret reference provided with the --secret-ref option",
        ),
        (
            &[
                "source",
                "create",
                "--name",
                "s",
                "-a",
                "https://vc",
                "-s",
                "c",
            ],
            "sink requires an URI\nand/or a nonempty API version --sink-api-version option,\nwith a nonempty kind --sink-kind option,\nand with a nonempty name with the --sink-name",
        ),
        (
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
                "http://x",
                "--sink-kind",
                "Service",
            ],
            "sink requires an URI\nand/or a nonempty API version --sink-api-version option,\nwith a nonempty kind --sink-kind option,\nand with a nonempty name with the --sink-name",
        ),
        (
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
                "http://x",
                "--encoding",
                "yaml",
            ],
            "invalid encoding scheme \"yaml\"",
        ),
        (
            &["source", "create", "--checkpoint-age", "10"],
            "invalid argument \"10\" for \"--checkpoint-age\" flag: time: missing unit in duration \"10\"",
        ),
        (
            &["source", "delete", "--name", ""],
            "'name' requires a nonempty name provided with the --name option",
        ),
        (
            &["source", "list", "-n", "x", "-A"],
            "'--namespace' and '--all-namespaces' options are mutually exclusive",
        ),
        // binding create
        (
            &["binding", "create"],
            "required flag(s) \"name\", \"secret-ref\", \"subject-api-version\", \"subject-kind\", \"vc-address\" not set",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "",
                "--subject-kind",
                "Job",
                "--subject-name",
                "j",
            ],
            "'subject-api-version' requires a nonempty subject API version provided with the --subject-api-version option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "",
                "--subject-name",
                "j",
            ],
            "'subject-kind' requires a nonempty subject kind provided with the --subject-kind option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
            ],
            "subject requires a nonempty subject name provided with the --subject-name option,\nor a nonempty subject selector with the --subject-selector option",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
                "--subject-name",
                "j",
                "--subject-selector",
                "a=b",
            ],
            "subject can optionally be configured with one of the following flags (but several were set):\n\t--subject-name, --subject-selector",
        ),
        (
            &[
                "binding",
                "create",
                "--name",
                "b",
                "-a",
                "https://vc",
                "-s",
                "c",
                "--subject-api-version",
                "batch/v1",
                "--subject-kind",
                "Job",
                "--subject-selector",
                "a b",
            ],
            "failed to parse subject selector: invalid label key \"a b\"",
        ),
        (
            &["binding", "list", "--namespace", "x", "--all-namespaces"],
            "'--namespace' and '--all-namespaces' options are mutually exclusive",
        ),
        // This project's flags.
        (
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
                "http://x",
                "--dead-letter-sink-kind",
                "Service",
            ],
            "the dead-letter sink needs --dead-letter-uri, or all of --dead-letter-sink-api-version, --dead-letter-sink-kind and --dead-letter-sink-name",
        ),
        (
            &["horizon", "source", "create"],
            "required flag(s) \"address\", \"name\", \"secret-ref\" not set",
        ),
        (
            &[
                "horizon", "auth", "create", "--name", "h", "-u", "u", "-p", "p",
            ],
            "required flag(s) \"domain\" not set",
        ),
    ];
    for (args, message) in cases {
        let run = offline(args);
        assert_eq!(run.error(), *message, "kn-vsphere {}", args.join(" "));
    }
    // No kubeconfig: the Go plugin's message.
    assert_eq!(
        offline(&["source", "list"]).error(),
        "config file '/nonexistent/kubeconfig' can not be found"
    );
    // Unknown flags and values are refused by the parser, with exit code 1.
    let run = offline(&["source", "list", "-o", "wide"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("invalid value 'wide'"), "{run:#?}");
}

#[test]
fn help_version_and_completion() {
    let help = offline(&["--help"]);
    assert!(help.ok().contains("Knative plugin to create Knative compatible Event Sources for VMware vSphere events,\nand Bindings to access the vSphere API"));
    for group in [
        "auth",
        "source",
        "binding",
        "horizon",
        "version",
        "completion",
    ] {
        assert!(help.stdout.contains(group), "{group} in {help:#?}");
    }
    // A group without a command prints its help and succeeds, as cobra does.
    let run = offline(&["source"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("describe"), "{run:#?}");
    let version = offline(&["version"]);
    let lines: Vec<&str> = version.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{version:#?}");
    assert_eq!(
        lines[0],
        concat!("Version:      v", env!("CARGO_PKG_VERSION"))
    );
    assert!(lines[1].starts_with("Build Date:   "), "{version:#?}");
    assert!(lines[2].starts_with("Git Revision: "), "{version:#?}");
    let bash = offline(&["completion", "bash"]);
    assert!(bash.ok().contains("complete -F _kn__vsphere"), "{bash:#?}");
    assert!(
        offline(&["completion", "zsh"])
            .ok()
            .starts_with("#compdef kn-vsphere")
    );
    assert!(
        offline(&["completion", "fish"])
            .ok()
            .contains("complete -c kn-vsphere")
    );
}

#[test]
fn a_missing_crd_says_vmware_sources_is_not_installed() {
    let (list, create) = &env().before_crds;
    let expected = "vmware-sources is not installed in this cluster: the API server does not serve vspheresources.sources.tanzu.vmware.com (install a vmware-sources release with kubectl apply -f release.yaml)";
    assert_eq!(list.error(), expected);
    assert_eq!(create.error(), expected);
}

#[test]
fn auth_create_and_delete() {
    let ns = namespace("kn-auth");
    let run = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "--username",
        "jane",
        "--password",
        "s3cr3t",
        "--name",
        "creds",
    ]);
    assert_eq!(run.ok(), "Created vSphere credentials\n");
    // --password-stdin, piped: everything but the trailing newline.
    let k = env().kubeconfig.to_string_lossy().into_owned();
    let run = run_with(
        Path::new(binary()),
        &[
            "auth", "create", "-n", &ns, "-u", "john", "-i", "--name", "piped",
        ],
        &[("KUBECONFIG", &k)],
        Some("pa ss\n"),
    );
    assert_eq!(run.ok(), "Created vSphere credentials\n");
    let secrets = block_on(async {
        let api: Api<Secret> = Api::namespaced(client().await, &ns);
        (
            api.get("creds").await.expect("creds"),
            api.get("piped").await.expect("piped"),
        )
    });
    let data = |s: &Secret, k: &str| {
        String::from_utf8(s.data.as_ref().expect("data")[k].0.clone()).expect("utf-8")
    };
    assert_eq!(secrets.0.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(data(&secrets.0, "username"), "jane");
    assert_eq!(data(&secrets.0, "password"), "s3cr3t");
    assert_eq!(data(&secrets.1, "username"), "john");
    assert_eq!(data(&secrets.1, "password"), "pa ss");
    // Already there: the API server's message after the Go plugin's prefix.
    let run = kn_vsphere(&[
        "auth", "create", "-n", &ns, "-u", "jane", "-p", "x", "--name", "creds",
    ]);
    assert_eq!(
        run.error(),
        "failed to create Secret: secrets \"creds\" already exists"
    );
    let run = kn_vsphere(&["auth", "delete", "-n", &ns, "--name", "creds"]);
    // No newline, as the Go plugin.
    assert_eq!(run.ok(), "Deleted vSphere credentials \"creds\"");
    let run = kn_vsphere(&["auth", "delete", "-n", &ns, "--name", "creds"]);
    assert_eq!(
        run.error(),
        "failed to delete Secret: secrets \"creds\" not found"
    );
    // --dry-run prints the Secret and creates nothing.
    let run = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "-u",
        "u",
        "-p",
        "p",
        "--name",
        "dry",
        "--dry-run",
    ]);
    let doc: Value = serde_yaml::from_str(run.ok()).expect("yaml");
    assert_eq!(doc["kind"], "Secret");
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some(ns.as_str()));
    assert_eq!(doc["stringData"]["username"], "u");
    let exists = block_on(async {
        Api::<Secret>::namespaced(client().await, &ns)
            .get_opt("dry")
            .await
            .expect("get")
    });
    assert!(exists.is_none());
}

#[test]
fn sources_create_list_and_delete() {
    let ns = namespace("kn-src");
    assert_eq!(
        kn_vsphere(&["source", "list", "-n", &ns]).ok(),
        "No sources found.\n"
    );
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc-01",
        "--vc-address",
        "https://vc.local",
        "--skip-tls-verify",
        "--secret-ref",
        "creds",
        "--sink-uri",
        "http://display.default",
    ]);
    assert_eq!(run.ok(), "Created source\n");
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc-02",
        "-a",
        "https://vc2.local",
        "-s",
        "creds2",
        "--sink-api-version",
        "v1",
        "--sink-kind",
        "Service",
        "--sink-name",
        "display",
        "--encoding",
        "JSON",
        "--checkpoint-age",
        "1h",
        "--checkpoint-period",
        "30s",
        "--event-types",
        "VmPoweredOnEvent,VmPoweredOffEvent",
        "--dead-letter-sink-api-version",
        "v1",
        "--dead-letter-sink-kind",
        "Service",
        "--dead-letter-sink-name",
        "dlq",
        "--service-account-name",
        "events",
    ]);
    assert_eq!(run.ok(), "Created source\n");
    let spec = block_on(async {
        sources_group_api(&client().await, &ns, "VSphereSource")
            .get("vc-02")
            .await
            .expect("vc-02")
            .data["spec"]
            .clone()
    });
    assert_eq!(
        spec["sink"]["ref"],
        json!({"apiVersion": "v1", "kind": "Service", "name": "display", "namespace": ns})
    );
    assert_eq!(spec["payloadEncoding"], "application/json");
    assert_eq!(
        spec["checkpointConfig"],
        json!({"maxAgeSeconds": 3600, "periodSeconds": 30})
    );
    assert_eq!(
        spec["eventTypes"],
        json!(["VmPoweredOnEvent", "VmPoweredOffEvent"])
    );
    assert_eq!(
        spec["delivery"]["deadLetterSink"]["ref"],
        json!({"apiVersion": "v1", "kind": "Service", "name": "dlq", "namespace": ns})
    );
    assert_eq!(spec["serviceAccountName"], "events");
    assert!(spec.get("skipTLSVerify").is_none(), "{spec}");

    // The list: kn's columns, aligned. The controllers reconcile these sources (their
    // Secrets are missing), so the condition columns are whatever they say by now.
    let out = kn_vsphere(&["source", "list", "-n", &ns]);
    let rows = table(out.ok());
    assert_eq!(
        rows[0],
        [
            "NAME",
            "VCENTER",
            "INSECURE",
            "CREDENTIALS",
            "AGE",
            "CONDITIONS",
            "READY",
            "REASON"
        ]
    );
    assert_eq!(rows.len(), 3, "{out:#?}");
    assert_eq!(rows[1][..4], ["vc-01", "https://vc.local", "true", "creds"]);
    assert_eq!(
        rows[2][..4],
        ["vc-02", "https://vc2.local", "false", "creds2"]
    );
    for row in &rows[1..] {
        assert!(
            row[4].ends_with('s') || row[4].ends_with('m'),
            "age {row:?}"
        );
        assert!(row[5].contains(" OK / "), "conditions {row:?}");
    }
    // The alias, and the context's namespace when -n is not given.
    let contextual = env().server.dir().join(format!("kubeconfig-{ns}"));
    let text = std::fs::read_to_string(&env().kubeconfig)
        .expect("kubeconfig")
        .replace("namespace: default", &format!("namespace: {ns}"));
    std::fs::write(&contextual, text).expect("write kubeconfig");
    let run = run_with(
        Path::new(binary()),
        &["source", "ls"],
        &[("KUBECONFIG", &contextual.to_string_lossy())],
        None,
    );
    assert_eq!(table(run.ok())[1..].len(), 2, "{run:#?}");
    // -A: a NAMESPACE column first.
    let rows = table(kn_vsphere(&["source", "list", "-A"]).ok());
    assert_eq!(rows[0][0], "NAMESPACE");
    assert_eq!(rows[0].len(), 9);
    let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == ns).collect();
    assert_eq!(mine.len(), 2, "{rows:#?}");
    assert_eq!(
        mine[0][1..5],
        ["vc-01", "https://vc.local", "true", "creds"]
    );
    // --no-headers.
    let run = kn_vsphere(&["source", "list", "-n", &ns, "--no-headers"]);
    assert!(run.ok().starts_with("vc-01 "), "{run:#?}");
    // -o json and -o yaml: the list with every item's apiVersion and kind.
    for format in ["json", "yaml"] {
        let run = kn_vsphere(&["source", "list", "-n", &ns, "-o", format]);
        let list: Value = serde_yaml::from_str(run.ok()).expect("parses");
        assert_eq!(list["kind"], "VSphereSourceList");
        assert_eq!(list["apiVersion"], "sources.tanzu.vmware.com/v1alpha1");
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["kind"], "VSphereSource");
        assert!(items[0]["metadata"].get("managedFields").is_none());
    }
    // With -o, an empty list is still a list.
    let empty = namespace("kn-empty");
    let run = kn_vsphere(&["source", "list", "-n", &empty, "-o", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(run.ok()).expect("json")["items"],
        json!([])
    );
    assert!(run.stdout.starts_with("{\n    \"apiVersion\""), "{run:#?}");

    // Refusals, on one line, naming the field: the webhook's, then the API server's.
    let run = kn_vsphere(&[
        "source", "create", "-n", &ns, "--name", "bare", "-a", "vc.local", "-s", "creds", "-u",
        "http://x",
    ]);
    let message = run.error();
    assert!(
        message.starts_with("failed to create source: admission webhook \"validation.webhook.vsphere.sources.tanzu.vmware.com\" denied the request: ")
            && message.contains("missing field(s): spec.address.host"),
        "{message}"
    );
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "Bad_Name",
        "-a",
        "https://vc",
        "-s",
        "creds",
        "-u",
        "http://x",
    ]);
    let message = run.error();
    assert!(
        message.starts_with("failed to create source: ")
            && message.contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{message}"
    );
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc-01",
        "-a",
        "https://vc",
        "-s",
        "creds",
        "-u",
        "http://x",
    ]);
    assert_eq!(
        run.error(),
        "failed to create source: vspheresources.sources.tanzu.vmware.com \"vc-01\" already exists"
    );

    assert_eq!(
        kn_vsphere(&["source", "delete", "-n", &ns, "--name", "vc-01"]).ok(),
        "Deleted source\n"
    );
    assert_eq!(
        kn_vsphere(&["source", "delete", "-n", &ns, "--name", "vc-01"]).error(),
        "failed to delete source: vspheresources.sources.tanzu.vmware.com \"vc-01\" not found"
    );
    assert_eq!(
        kn_vsphere(&["source", "describe", "-n", &ns, "vc-01"]).error(),
        "failed to describe source: vspheresources.sources.tanzu.vmware.com \"vc-01\" not found"
    );
}

#[test]
fn bindings_create_list_describe_and_delete() {
    let ns = namespace("kn-bind");
    assert_eq!(
        kn_vsphere(&["binding", "list", "-n", &ns]).ok(),
        "No bindings found.\n"
    );
    let run = kn_vsphere(&[
        "binding",
        "create",
        "-n",
        &ns,
        "--name",
        "vc-binding",
        "--vc-address",
        "https://vc.local",
        "--skip-tls-verify",
        "--secret-ref",
        "creds",
        "--subject-api-version",
        "apps/v1",
        "--subject-kind",
        "Deployment",
        "--subject-name",
        "app",
    ]);
    assert_eq!(run.ok(), "Created binding\n");
    let run = kn_vsphere(&[
        "binding",
        "create",
        "-n",
        &ns,
        "--name",
        "jobs",
        "-a",
        "https://vc.local",
        "-s",
        "creds",
        "--subject-api-version",
        "batch/v1",
        "--subject-kind",
        "Job",
        "--subject-selector",
        "foo=bar,tier in (a,b)",
    ]);
    assert_eq!(run.ok(), "Created binding\n");
    let subject = block_on(async {
        sources_group_api(&client().await, &ns, "VSphereBinding")
            .get("jobs")
            .await
            .expect("jobs")
            .data["spec"]["subject"]
            .clone()
    });
    assert_eq!(
        subject,
        json!({"apiVersion": "batch/v1", "kind": "Job", "namespace": ns,
               "selector": {"matchLabels": {"foo": "bar"},
                            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}})
    );
    let rows = table(kn_vsphere(&["binding", "ls", "-n", &ns]).ok());
    assert_eq!(
        rows[0],
        [
            "NAME",
            "VCENTER",
            "INSECURE",
            "CREDENTIALS",
            "AGE",
            "CONDITIONS",
            "READY",
            "REASON"
        ]
    );
    assert_eq!(rows[1][..4], ["jobs", "https://vc.local", "false", "creds"]);
    assert_eq!(
        rows[2][..4],
        ["vc-binding", "https://vc.local", "true", "creds"]
    );
    let rows = table(kn_vsphere(&["binding", "list", "-A"]).ok());
    assert_eq!(rows[0][0], "NAMESPACE");
    assert_eq!(rows.iter().filter(|r| r[0] == ns).count(), 2);

    let out = kn_vsphere(&["binding", "describe", "-n", &ns, "jobs"]);
    let text = out.ok();
    for expected in [
        "Name:         jobs\n",
        &format!("Namespace:    {ns}\n"),
        "VCenter:      https://vc.local\n",
        "Credentials:  creds (Secret not found)\n",
        "Subject:\n  Kind:       Job (batch/v1)\n  Selector:   foo=bar,tier in (a,b)\n",
        "Conditions:\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    let run = kn_vsphere(&[
        "binding",
        "create",
        "-n",
        &ns,
        "--name",
        "bare",
        "-a",
        "vc.local",
        "-s",
        "creds",
        "--subject-api-version",
        "apps/v1",
        "--subject-kind",
        "Deployment",
        "--subject-name",
        "app",
    ]);
    let message = run.error();
    assert!(
        message.starts_with("failed to create Binding: admission webhook \"validation.webhook.vsphere.sources.tanzu.vmware.com\" denied the request: ")
            && message.contains("spec.address.host"),
        "{message}"
    );
    assert_eq!(
        kn_vsphere(&["binding", "delete", "-n", &ns, "--name", "jobs"]).ok(),
        "Deleted binding\n"
    );
    assert_eq!(
        kn_vsphere(&["binding", "delete", "-n", &ns, "--name", "nope"]).error(),
        "failed to delete binding: vspherebindings.sources.tanzu.vmware.com \"nope\" not found"
    );
}

#[test]
fn describe_shows_conditions_adapter_and_checkpoint() {
    let ns = namespace("kn-desc");
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc",
        "-a",
        "https://vc.local",
        "-s",
        "missing",
        "-u",
        "http://display.default",
        "--event-types",
        "VmPoweredOnEvent",
    ]);
    assert_eq!(run.ok(), "Created source\n");
    // The controller says the Secret is missing; describe shows it, with reason and message.
    let text = block_on(eventually("the SecretMissing condition", || async {
        let run = tokio::task::spawn_blocking({
            let ns = ns.clone();
            move || kn_vsphere(&["source", "describe", "-n", &ns, "vc"])
        })
        .await
        .expect("run");
        run.stdout.contains("SecretMissing").then_some(run.stdout)
    }));
    for expected in [
        "Name:               vc\n",
        "VCenter:            https://vc.local\n",
        "Insecure:           false\n",
        "Credentials:        missing (Secret not found)\n",
        "Encoding:           application/xml\n",
        "Event types:        VmPoweredOnEvent\n",
        "Checkpoint config:  replay up to 300s, saved every 10s\n",
        "Sink:\n  URI:           http://display.default\n",
        "Checkpoint:\n  ConfigMap:   vc-configmap\n  Last event:  none yet\n",
        "Conditions:\n  OK    TYPE",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let ready = text
        .lines()
        .find(|l| l.contains(" Ready "))
        .unwrap_or_else(|| panic!("a Ready line in\n{text}"));
    assert!(
        ready.starts_with("  !!    Ready")
            && ready.contains(&format!(
                "SecretMissing: Secret \"missing\" not found in namespace \"{ns}\""
            )),
        "{ready}"
    );

    // The credentials appear: the controller makes the adapter Deployment (nothing runs it
    // here: the test reports it available), and the adapter's checkpoint is in the ConfigMap.
    block_on(async {
        let c = client().await;
        let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "missing"},
            "type": "kubernetes.io/basic-auth", "stringData": {"username": "u", "password": "p"}}))
        .expect("secret");
        Api::<Secret>::namespaced(c.clone(), &ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
        // The ServiceAccount the adapter runs as (no controller-manager makes `default` here).
        let sa: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa");
        Api::<ServiceAccount>::namespaced(c.clone(), &ns)
            .create(&PostParams::default(), &sa)
            .await
            .expect("service account");
        let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
        eventually("the adapter Deployment", || async {
            deployments.get_opt("vc-adapter").await.expect("get")
        })
        .await;
        deployments
            .patch_status(
                "vc-adapter",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"replicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1, "updatedReplicas": 1,
                    "conditions": [{"type": "Available", "status": "True",
                                    "reason": "MinimumReplicasAvailable",
                                    "message": "Deployment has minimum availability."}]}})),
            )
            .await
            .expect("deployment status");
        let checkpoint = r#"{"vCenter":"https://vc.local/sdk","lastEventKey":17208,"lastEventType":"VmPoweredOnEvent","lastEventKeyTimestamp":"2026-01-02T03:04:05.123Z","createdTimestamp":"2026-01-02T03:04:06Z"}"#;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "vc-configmap", "namespace": ns},
                        "data": {"checkpoint": checkpoint}});
        Api::<ConfigMap>::namespaced(c.clone(), &ns)
            .patch(
                "vc-configmap",
                &PatchParams::apply("test-adapter").force(),
                &Patch::Apply(&cm),
            )
            .await
            .expect("checkpoint");
    });
    let text = block_on(eventually("Ready", || async {
        let run = tokio::task::spawn_blocking({
            let ns = ns.clone();
            move || kn_vsphere(&["source", "describe", "-n", &ns, "vc"])
        })
        .await
        .expect("run");
        run.stdout
            .lines()
            .any(|l| l.starts_with("  ++    Ready"))
            .then_some(run.stdout)
    }));
    for expected in [
        "Credentials:        missing\n",
        "Adapter:\n  Deployment:  vc-adapter\n  Replicas:    1 desired, 1 ready, 1 available, 1 updated\n  Available:   True (MinimumReplicasAvailable: Deployment has minimum availability.)\n",
        "  Image:       registry.test/vsphere-adapter:dev\n",
        "  Last event:       key 17208, VmPoweredOnEvent\n",
        "  Last event time:  2026-01-02T03:04:05Z (",
        "  vCenter:          https://vc.local/sdk\n",
        "Resolved URI:  http://display.default\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn yaml_output_round_trips_with_server_side_apply() {
    let ns = namespace("kn-yaml");
    let run = kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc",
        "-a",
        "https://vc.local",
        "-s",
        "creds",
        "-u",
        "http://display.default",
    ]);
    run.ok();
    // describe -o yaml, applied back as printed (server-side, as `kubectl apply --server-side`).
    // The printed resourceVersion makes the apply conditional: when the controller writes the
    // status in between, the API server answers 409 and a fresh copy is printed and applied.
    let server = env().server;
    let yaml = block_on(eventually("the printed YAML applied", || async {
        let ns2 = ns.clone();
        let yaml = tokio::task::spawn_blocking(move || {
            kn_vsphere(&["source", "describe", "-n", &ns2, "vc", "-o", "yaml"])
                .ok()
                .to_owned()
        })
        .await
        .expect("run");
        match server.apply_yaml(&client().await, &yaml, &ns, false).await {
            Ok(_) => Some(yaml),
            Err(kube_harness::HarnessError::Kube {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 409 => None,
            Err(e) => panic!("apply the printed YAML: {e}\n{yaml}"),
        }
    }));
    let mut doc: Value = serde_yaml::from_str(&yaml).expect("yaml");
    assert_eq!(doc["kind"], "VSphereSource");
    assert!(doc["metadata"].get("managedFields").is_none());
    doc["spec"]["checkpointConfig"]["periodSeconds"] = json!(20);
    let changed = serde_yaml::to_string(&doc).expect("yaml");
    block_on(async {
        let c = client().await;
        // ... and so does an edited copy.
        let mut edited: Value = serde_yaml::from_str(&changed).expect("yaml");
        edited["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("resourceVersion");
        server
            .apply_yaml(
                &c,
                &serde_yaml::to_string(&edited).expect("yaml"),
                &ns,
                false,
            )
            .await
            .expect("apply the edited YAML");
        let now = sources_group_api(&c, &ns, "VSphereSource")
            .get("vc")
            .await
            .expect("get");
        assert_eq!(now.data["spec"]["checkpointConfig"]["periodSeconds"], 20);
    });
    // --dry-run YAML of each create applies too, and creates the object.
    let dry_runs: [&[&str]; 4] = [
        &[
            "source",
            "create",
            "--name",
            "dry",
            "-a",
            "https://vc.local",
            "-s",
            "creds",
            "-u",
            "http://display.default",
            "--dry-run",
        ],
        &[
            "binding",
            "create",
            "--name",
            "dry",
            "-a",
            "https://vc.local",
            "-s",
            "creds",
            "--subject-api-version",
            "batch/v1",
            "--subject-kind",
            "Job",
            "--subject-selector",
            "a=b",
            "--dry-run",
        ],
        &[
            "horizon",
            "source",
            "create",
            "--name",
            "dry",
            "-a",
            "https://horizon.local",
            "-s",
            "creds",
            "-u",
            "http://display.default",
            "--dry-run",
        ],
        &[
            "auth",
            "create",
            "--name",
            "dry",
            "-u",
            "user",
            "-p",
            "pass",
            "--dry-run",
        ],
    ];
    for args in dry_runs {
        let mut args = args.to_vec();
        args.extend(["-n", &ns]);
        let yaml = kn_vsphere(&args).ok().to_owned();
        let applied = block_on(async {
            server
                .apply_yaml(&client().await, &yaml, &ns, false)
                .await
                .unwrap_or_else(|e| panic!("apply {yaml}: {e}"))
        });
        assert_eq!(applied.len(), 1, "{applied:?}");
    }
    let run = kn_vsphere(&["binding", "describe", "-n", &ns, "dry", "-o", "json"]);
    let json: Value = serde_json::from_str(run.ok()).expect("json");
    assert_eq!(json["spec"]["subject"]["selector"]["matchLabels"]["a"], "b");
    assert_eq!(
        kn_vsphere(&["horizon", "source", "list", "-n", &ns, "-o", "json"])
            .ok()
            .matches("\"kind\": \"HorizonSource\"")
            .count(),
        1
    );
}

#[test]
fn verify_url_logs_in_to_vcsim() {
    let pki = test_support::TestPki::new(&["localhost", "127.0.0.1"]);
    let sim = test_support::Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim");
    let ns = namespace("kn-verify");
    let url = sim.url().to_owned();
    let good = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "-u",
        sim.username(),
        "-p",
        sim.password(),
        "--name",
        "good",
        "--verify-url",
        &url,
        "--verify-insecure",
    ]);
    assert_eq!(good.ok(), "Created vSphere credentials\n");
    // Trusting the simulator's CA instead of skipping verification.
    let ca = pki.ca_pem_path().to_string_lossy().into_owned();
    let trusted = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "-u",
        sim.username(),
        "-p",
        sim.password(),
        "--name",
        "trusted",
        "--verify-url",
        &url,
        "--verify-ca-bundle",
        &ca,
    ]);
    assert_eq!(trusted.ok(), "Created vSphere credentials\n");
    // Neither: the certificate is refused, and nothing is created.
    let untrusted = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "-u",
        sim.username(),
        "-p",
        sim.password(),
        "--name",
        "untrusted",
        "--verify-url",
        &url,
    ]);
    let message = untrusted.error();
    assert!(
        message.starts_with("failed to authenticate with vCenter: ")
            && message.to_lowercase().contains("certificate"),
        "{message}"
    );
    // A wrong password: vCenter's reason, not the password, and no Secret.
    let bad = kn_vsphere(&[
        "auth",
        "create",
        "-n",
        &ns,
        "-u",
        sim.username(),
        "-p",
        "not-the-password",
        "--name",
        "bad",
        "--verify-url",
        &url,
        "--verify-insecure",
    ]);
    let message = bad.error();
    assert!(
        message.starts_with("failed to authenticate with vCenter: ")
            && message.contains(&format!(
                "refused the login for user \"{}\"",
                sim.username()
            )),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    let names = block_on(async {
        let api: Api<Secret> = Api::namespaced(client().await, &ns);
        let mut names: Vec<String> = api
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        names.sort();
        names
    });
    assert_eq!(names, ["good", "trusted"]);
}

#[test]
fn horizon_auth_and_sources() {
    let ns = namespace("kn-horizon");
    // The simulator serves from the worker thread of a runtime kept for it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt
        .block_on(horizon_sim::Simulator::builder().start())
        .expect("horizon simulator");
    let (url, domain, user) = (sim.url(), sim.domain(), sim.username());
    let good = kn_vsphere(&[
        "horizon",
        "auth",
        "create",
        "-n",
        &ns,
        "--name",
        "hz",
        "--domain",
        &domain,
        "-u",
        &user,
        "-p",
        &sim.password(),
        "--verify-url",
        &url,
    ]);
    assert_eq!(good.ok(), "Created Horizon credentials\n");
    let bad = kn_vsphere(&[
        "horizon",
        "auth",
        "create",
        "-n",
        &ns,
        "--name",
        "hz-bad",
        "--domain",
        &domain,
        "-u",
        &user,
        "-p",
        "wrong-password",
        "--verify-url",
        &url,
    ]);
    let message = bad.error();
    assert!(
        message.starts_with("failed to authenticate with Horizon: ")
            && !message.contains("wrong-password"),
        "{message}"
    );
    let secret = block_on(async {
        Api::<Secret>::namespaced(client().await, &ns)
            .get("hz")
            .await
            .expect("secret")
    });
    let data = secret.data.expect("data");
    assert_eq!(data["domain"].0, domain.into_bytes());
    assert_eq!(data["username"].0, user.into_bytes());
    assert!(
        block_on(async {
            Api::<Secret>::namespaced(client().await, &ns)
                .get_opt("hz-bad")
                .await
                .expect("get")
        })
        .is_none()
    );
    drop(sim);
    drop(rt);

    assert_eq!(
        kn_vsphere(&["horizon", "source", "list", "-n", &ns]).ok(),
        "No Horizon sources found.\n"
    );
    let run = kn_vsphere(&[
        "horizon",
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "hs",
        "--address",
        "https://horizon.local",
        "--secret-ref",
        "hz",
        "--sink-uri",
        "http://display.default",
        "--dead-letter-uri",
        "http://dlq.default",
    ]);
    assert_eq!(run.ok(), "Created Horizon source\n");
    let rows = table(kn_vsphere(&["horizon", "source", "ls", "-n", &ns]).ok());
    assert_eq!(
        rows[0],
        [
            "NAME",
            "HORIZON",
            "INSECURE",
            "CREDENTIALS",
            "AGE",
            "CONDITIONS",
            "READY",
            "REASON"
        ]
    );
    assert_eq!(rows[1][..4], ["hs", "https://horizon.local", "false", "hz"]);
    let text = kn_vsphere(&["horizon", "source", "describe", "-n", &ns, "hs"])
        .ok()
        .to_owned();
    for expected in [
        "Horizon:          https://horizon.local\n",
        "Credentials:      hz\n",
        "Dead-letter sink:\n  URI:",
        "http://dlq.default\n",
        "Checkpoint:\n  ConfigMap:   hs-configmap\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert_eq!(
        kn_vsphere(&["horizon", "source", "delete", "-n", &ns, "--name", "hs"]).ok(),
        "Deleted Horizon source\n"
    );
    assert_eq!(
        kn_vsphere(&["horizon", "auth", "delete", "-n", &ns, "--name", "hz"]).ok(),
        "Deleted Horizon credentials \"hz\"\n"
    );
}

/// The `kn` binary from scripts/install-test-deps.sh.
fn kn_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("KN_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let cached = test_support::cache_dir().join("bin").join("kn");
    assert!(
        cached.is_file(),
        "kn not found (not in $KN_BIN nor {}): run scripts/install-test-deps.sh",
        cached.display()
    );
    cached
}

#[test]
fn kn_runs_the_plugin_from_the_path() {
    let ns = namespace("kn-kn");
    kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc",
        "-a",
        "https://vc.local",
        "-s",
        "creds",
        "-u",
        "http://display.default",
    ])
    .ok();
    let plugin_dir = Path::new(binary()).parent().expect("target dir");
    let path = format!(
        "{}:{}",
        plugin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().expect("home");
    let k = env().kubeconfig.to_string_lossy().into_owned();
    let home_dir = home.path().to_string_lossy().into_owned();
    let envs = [
        ("PATH", path.as_str()),
        ("HOME", home_dir.as_str()),
        ("KUBECONFIG", k.as_str()),
    ];
    let via_kn = run_with(
        &kn_binary(),
        &["vsphere", "source", "list", "-n", &ns],
        &envs,
        None,
    );
    let direct = kn_vsphere(&["source", "list", "-n", &ns]);
    let rows = table(via_kn.ok());
    assert_eq!(rows[1][..4], ["vc", "https://vc.local", "false", "creds"]);
    assert_eq!(rows[0], table(direct.ok())[0]);
    // kn lists it as a plugin.
    let plugins = run_with(&kn_binary(), &["plugin", "list"], &envs, None);
    assert!(plugins.ok().contains("kn-vsphere"), "{plugins:#?}");
}
