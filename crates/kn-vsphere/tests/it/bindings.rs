//! `binding create|list|describe|delete`.

use kube_harness::sources_group_api;
use serde_json::json;

use crate::harness::*;

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
