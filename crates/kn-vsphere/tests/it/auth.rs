//! `auth create|delete`, and `--verify-url` against vcsim.

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::Value;

use crate::harness::*;

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
