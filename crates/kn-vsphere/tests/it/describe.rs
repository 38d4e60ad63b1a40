//! `source describe`: conditions, adapter and checkpoint.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::*;

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

/// The filter flags of `source create` and `horizon source create` store `spec.filter`, and
/// `describe` shows it; a bad value is refused before anything is sent.
#[test]
fn filters_are_set_by_create_and_shown_by_describe() {
    let ns = namespace("kn-filter");
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
        "--categories",
        "warning,error",
        "--entity",
        "/DC0/vm/Production",
        "--recursion",
        "children",
        "--users",
        "alice,bob",
        "--include-system-users",
    ]);
    assert_eq!(run.ok(), "Created source\n");
    let text = kn_vsphere(&["source", "describe", "-n", &ns, "vc"])
        .ok()
        .to_owned();
    for expected in [
        "Filter:\n",
        "  Categories:  warning, error\n",
        "  Entity:      /DC0/vm/Production (children)\n",
        "  Users:       alice, bob, and vCenter's own events\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let run = kn_vsphere(&[
        "horizon",
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "hz",
        "-a",
        "https://horizon.local",
        "-s",
        "creds",
        "-u",
        "http://display.default",
        "--event-types",
        "VLSI_USERLOGGEDIN",
        "--severities",
        "audit_fail,error",
    ]);
    assert_eq!(run.ok(), "Created Horizon source\n");
    let text = kn_vsphere(&["horizon", "source", "describe", "-n", &ns, "hz"])
        .ok()
        .to_owned();
    for expected in [
        "Filter:\n",
        "  Event types:  VLSI_USERLOGGEDIN\n",
        "  Severities:   AUDIT_FAIL, ERROR\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    for (args, message) in [
        (
            vec!["--categories", "fatal"],
            "--categories: \"fatal\" is not a category (info, warning, error or user)",
        ),
        (
            vec!["--entity", "DC0"],
            "--entity: \"DC0\" is neither an inventory path",
        ),
    ] {
        let mut all = vec![
            "source",
            "create",
            "-n",
            &ns,
            "--name",
            "bad",
            "-a",
            "https://vc.local",
            "-s",
            "creds",
            "-u",
            "http://display.default",
        ];
        all.extend(args);
        let run = kn_vsphere(&all);
        assert!(
            run.stderr.contains(message) || run.stdout.contains(message),
            "{message:?} in {run:?}"
        );
    }
}
