//! `source create|list|delete`.

use std::path::Path;

use kube_harness::sources_group_api;
use serde_json::{Value, json};

use crate::harness::*;

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
