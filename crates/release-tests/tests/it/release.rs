//! `release.yaml` as `config/release.sh` writes it, on a real kube-apiserver: image references
//! by digest (the built images' when `RELEASE_IMAGES` is set), a server-side dry run and a real
//! apply; then the release running (its webhooks and
//! controller, as its ServiceAccount) takes every file of `samples/` in a server-side dry run,
//! and a sample source gets an adapter Deployment with the release's adapter image.
//!
//! One test function: the release's objects are cluster-wide.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_harness::KubeApiServer;
use release_tests::{
    Release, ReleaseControllers, ReleaseWebhooks, SYSTEM_NAMESPACE, eventually, repo_root,
};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(90);

/// Every image reference of the release's workloads: container images and the env values that
/// name the adapter images.
fn image_references(release: &Release) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    for d in release.of_kind("Deployment") {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        for c in d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            refs.push((
                format!("{name} image"),
                c["image"].as_str().unwrap_or_default().to_owned(),
            ));
            for e in c["env"].as_array().into_iter().flatten() {
                let var = e["name"].as_str().unwrap_or_default();
                if var == "VSPHERE_ADAPTER" || var.ends_with("_IMAGE") {
                    refs.push((
                        format!("{name} env {var}"),
                        e["value"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
    }
    refs
}

/// The digest of `reference` (`…@sha256:<hex>`).
fn digest_hex(reference: &str) -> &str {
    reference
        .rsplit_once("@sha256:")
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// `sha256sum FILE`.
fn sha256_of(file: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(file)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn check_references(release: &Release) {
    let refs = image_references(release);
    assert_eq!(refs.len(), 3, "{refs:?}");
    for (what, r) in &refs {
        let hex = digest_hex(r);
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{what}: {r} is not a reference by digest"
        );
    }
    // A placeholder is __NAME__ in capitals.
    let placeholder = release
        .yaml
        .match_indices("__")
        .any(|(i, _)| release.yaml[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()));
    assert!(!placeholder, "an unfilled placeholder");
    assert!(
        !release.yaml.contains("release: devel"),
        "release labels still say devel"
    );
    let labelled = release
        .documents
        .iter()
        .filter(|d| {
            d["metadata"]["labels"]["sources.tanzu.vmware.com/release"] == release.version.as_str()
        })
        .count();
    assert_eq!(
        labelled,
        release.documents.len(),
        "every object carries the release label"
    );
    // With built images: each reference names a manifest (or index) that is in the image's
    // layout, and whose bytes have that digest.
    if let Some(dir) = &release.images_dir {
        for (name, r) in [
            ("sources-controller", &release.controller_image),
            ("vsphere-adapter", &release.vsphere_adapter_image),
            ("horizon-adapter", &release.horizon_adapter_image),
        ] {
            let hex = digest_hex(r);
            let blob: PathBuf = dir.join(name).join("blobs/sha256").join(hex);
            assert!(blob.exists(), "{r}: no blob {}", blob.display());
            assert_eq!(sha256_of(&blob), hex, "{}", blob.display());
            let index: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(name).join("index.json")).expect("index.json"),
            )
            .expect("JSON");
            assert_eq!(
                index["manifests"][0]["digest"],
                format!("sha256:{hex}"),
                "{name}: release.yaml names the image the layout's index names"
            );
        }
    }
}

/// Every YAML file of `samples/`, sorted by path.
fn sample_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("samples/").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("samples"), &mut files);
    files.sort();
    files
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_installs_runs_and_takes_every_sample() {
    test_support::install_crypto_provider();
    let release = Release::generate().expect("config/release.sh");
    check_references(&release);

    let server = KubeApiServer::shared();
    let admin = server
        .admin_with_knative_crds()
        .await
        .expect("client with Knative's CRDs");

    // kubectl apply --dry-run=server, then for real.
    let dry = release
        .apply(server, &admin, true)
        .await
        .expect("server-side dry run");
    assert_eq!(dry.len(), release.documents.len());
    let applied = release.apply(server, &admin, false).await.expect("apply");
    assert_eq!(applied, dry);
    for expected in [
        "Namespace/vmware-sources",
        "CustomResourceDefinition/vspheresources.sources.tanzu.vmware.com",
        "CustomResourceDefinition/vspherebindings.sources.tanzu.vmware.com",
        "CustomResourceDefinition/horizonsources.sources.tanzu.vmware.com",
        "Deployment/sources-controller",
        "ValidatingWebhookConfiguration/validation.webhook.vsphere.sources.tanzu.vmware.com",
    ] {
        assert!(
            applied.iter().any(|a| a == expected),
            "{expected} in {applied:?}"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), SYSTEM_NAMESPACE);
    let controller = deployments
        .get("sources-controller")
        .await
        .expect("Deployment");
    let image = controller
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(image.as_deref(), Some(release.controller_image.as_str()));

    // The release running: webhooks and controllers as the release's ServiceAccount.
    let hooks = ReleaseWebhooks::start(server, &admin, &release)
        .await
        .expect("webhooks");
    let ns = server
        .create_namespace(&admin, "samples")
        .await
        .expect("namespace");
    let controllers = ReleaseControllers::start(server, &admin, &release, &ns)
        .await
        .expect("controllers");

    // Every sample, server-side dry run: CRD schemas and the webhooks.
    let files = sample_files();
    assert!(files.len() >= 10, "{files:?}");
    let mut kinds = Vec::new();
    for file in &files {
        let yaml = std::fs::read_to_string(file).expect("sample");
        let docs = kube_harness::yaml_documents(&yaml).expect("YAML");
        let answers = server
            .apply_documents(&admin, &docs, &ns, true)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for obj in answers {
            let kind = obj
                .types
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or_default();
            let v = serde_json::to_value(&obj).expect("JSON");
            // The defaulting webhook ran: it sets what no CRD default can.
            match kind.as_str() {
                "VSphereSource" | "HorizonSource" => {
                    assert_eq!(
                        v["spec"]["sink"]["ref"]["namespace"],
                        ns.as_str(),
                        "{}",
                        file.display()
                    );
                }
                "VSphereBinding" => {
                    assert_eq!(
                        v["spec"]["subject"]["namespace"],
                        ns.as_str(),
                        "{}",
                        file.display()
                    );
                }
                _ => {}
            }
            kinds.push(kind);
        }
    }
    for kind in [
        "Secret",
        "VSphereSource",
        "VSphereBinding",
        "HorizonSource",
        "Broker",
        "Service",
        "Trigger",
        "Job",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} among the samples: {kinds:?}"
        );
    }
    // The validation webhook judged them too: a sample whose sink is in another namespace (what
    // no CRD schema can see) is refused.
    let mut bad = kube_harness::yaml_documents(
        &std::fs::read_to_string(repo_root().join("samples/vsphere-source-to-broker/source.yaml"))
            .expect("sample"),
    )
    .expect("YAML")
    .remove(0);
    bad["spec"]["sink"]["ref"]["namespace"] = json!("elsewhere");
    let refused = server
        .apply_documents(&admin, &[bad], &ns, true)
        .await
        .expect_err("a sink in another namespace is refused");
    let msg = refused.to_string();
    assert!(
        msg.contains("validation.webhook.vsphere.sources.tanzu.vmware.com")
            && msg.contains("mismatched namespaces"),
        "{msg}"
    );

    // Together, for real: the binding sample binds the Job sample.
    let apply_sample = |rel: &'static str| {
        let admin = admin.clone();
        let ns = ns.clone();
        async move {
            let yaml =
                std::fs::read_to_string(repo_root().join("samples").join(rel)).expect("sample");
            server
                .apply_documents(
                    &admin,
                    &kube_harness::yaml_documents(&yaml).expect("YAML"),
                    &ns,
                    false,
                )
                .await
                .unwrap_or_else(|e| panic!("{rel}: {e}"))
        }
    };
    apply_sample("vcenter-secret/secret.yaml").await;
    apply_sample("vsphere-binding-job/binding.yaml").await;
    let job_doc = kube_harness::yaml_documents(
        &std::fs::read_to_string(repo_root().join("samples/vsphere-binding-job/job.yaml"))
            .expect("sample"),
    )
    .expect("YAML")
    .remove(0);
    let job: Job = serde_json::from_value(job_doc).expect("Job");
    let jobs: Api<Job> = Api::namespaced(admin.clone(), &ns);
    let bound = eventually("the binding webhook binds the sample Job", LONG, || async {
        let created = jobs.create(&dry_run(), &job).await.ok()?;
        let v = serde_json::to_value(&created).ok()?;
        let env = v["spec"]["template"]["spec"]["containers"][0]["env"].clone();
        env.as_array()?
            .iter()
            .any(|e| e["name"] == "VC_URL" && e["value"] == "https://vcenter.example.com")
            .then_some(v)
    })
    .await
    .expect("bound");
    assert!(
        bound["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["name"] == "vsphere-binding")),
        "{bound}"
    );

    // A sample source: its adapter runs the release's adapter image (by digest). The namespace's
    // ServiceAccount `default`, which kube-controller-manager would make, runs the adapter.
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("object");
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("ServiceAccount default");
    apply_sample("vsphere-source-to-broker/broker.yaml").await;
    let brokers = kube_harness::dynamic_api(&admin, &ns, "eventing.knative.dev", "v1", "Broker");
    brokers
        .patch_status(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"address": {"url": format!("http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/default")}}})),
        )
        .await
        .expect("Broker status");
    apply_sample("vsphere-source-to-broker/source.yaml").await;
    let adapters: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let sources = kube_harness::sources_group_api(&admin, &ns, "VSphereSource");
    let adapter = match eventually("the sample source's adapter Deployment", LONG, || async {
        adapters
            .get_opt("vcenter-to-broker-adapter")
            .await
            .ok()
            .flatten()
    })
    .await
    {
        Ok(d) => d,
        Err(e) => panic!(
            "{e}; the source: {:?}",
            sources
                .get("vcenter-to-broker")
                .await
                .map(|s| s.data["status"].clone())
        ),
    };
    let image = adapter
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(
        image.as_deref(),
        Some(release.vsphere_adapter_image.as_str())
    );
    // The controller writes the status after it applies the Deployment: wait for the sink URI
    // it resolves, then check it.
    let v = match eventually("the sample source's status.sinkUri", LONG, || async {
        let source = sources.get("vcenter-to-broker").await.ok()?;
        let v = serde_json::to_value(&source).ok()?;
        (!v["status"]["sinkUri"].is_null()).then_some(v)
    })
    .await
    {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        v["status"]["sinkUri"],
        format!("http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/default"),
        "{v}"
    );

    controllers.stop().await;
    hooks.stop().await;
}
