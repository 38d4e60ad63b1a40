//! `-o json|yaml` round trips.

use kube_harness::sources_group_api;
use serde_json::{Value, json};

use crate::harness::*;

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
