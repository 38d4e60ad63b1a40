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

/// `-o name` and `-o jsonpath=…` of `list` and `describe`, for each kind.
#[test]
fn names_and_jsonpath_templates_for_every_kind() {
    let ns = namespace("kn-jsonpath");
    let create: [&[&str]; 3] = [
        &[
            "source",
            "create",
            "--name",
            "vc",
            "-a",
            "https://vc.local",
            "-s",
            "creds",
            "-u",
            "http://display.default",
        ],
        &[
            "binding",
            "create",
            "--name",
            "vb",
            "-a",
            "https://vc.local",
            "-s",
            "creds",
            "--subject-api-version",
            "apps/v1",
            "--subject-kind",
            "Deployment",
            "--subject-name",
            "app",
        ],
        &[
            "horizon",
            "source",
            "create",
            "--name",
            "hs",
            "-a",
            "https://horizon.local",
            "-s",
            "hz",
            "-u",
            "http://display.default",
        ],
    ];
    for args in create {
        let mut args = args.to_vec();
        args.extend(["-n", &ns]);
        kn_vsphere(&args).ok();
    }
    // (command prefix, name, qualified name, the address's field)
    let kinds: [(&[&str], &str, &str); 3] = [
        (
            &["source"],
            "vc",
            "vspheresource.sources.tanzu.vmware.com/vc",
        ),
        (
            &["binding"],
            "vb",
            "vspherebinding.sources.tanzu.vmware.com/vb",
        ),
        (
            &["horizon", "source"],
            "hs",
            "horizonsource.sources.tanzu.vmware.com/hs",
        ),
    ];
    let run = |prefix: &[&str], rest: &[&str]| {
        let mut args = prefix.to_vec();
        args.extend(rest);
        args.extend(["-n", &ns]);
        kn_vsphere(&args)
    };
    let rows = r#"jsonpath={range .items[*]}{.metadata.name}{"\t"}{.spec.address}{"\n"}{end}"#;
    // Lists hold one line per object (the controller adds a VSphereBinding for the source).
    let lines = |run: Run| -> Vec<String> { run.ok().lines().map(str::to_owned).collect() };
    for (prefix, name, qualified) in kinds {
        assert!(
            lines(run(prefix, &["list", "-o", "name"])).contains(&qualified.to_owned()),
            "{qualified}"
        );
        assert_eq!(
            run(prefix, &["describe", name, "-o", "name"]).ok(),
            format!("{qualified}\n")
        );
        let address = if name == "hs" {
            "https://horizon.local"
        } else {
            "https://vc.local"
        };
        assert!(
            lines(run(prefix, &["list", "-o", rows])).contains(&format!("{name}\t{address}")),
            "{name}"
        );
        assert_eq!(
            run(
                prefix,
                &[
                    "describe",
                    name,
                    "-o",
                    "jsonpath={.kind}/{.spec.secretRef.name}"
                ]
            )
            .ok(),
            format!(
                "{}/{}",
                qualified
                    .split('.')
                    .next()
                    .map(|k| match k {
                        "vspheresource" => "VSphereSource",
                        "vspherebinding" => "VSphereBinding",
                        _ => "HorizonSource",
                    })
                    .expect("kind"),
                if name == "hs" { "hz" } else { "creds" }
            )
        );
    }
    // Filters, as kubectl: the Ready condition's status, once the controller set one.
    let ready = run(
        &["source"],
        &[
            "describe",
            "vc",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Ready")].type}"#,
        ],
    );
    assert!(matches!(ready.ok(), "" | "Ready"), "{ready:#?}");

    // A template that does not parse: refused before any request, saying what and where.
    let bad = run(
        &["source"],
        &["list", "-o", "jsonpath={.items[*].metadata.name"],
    );
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert!(
        bad.stderr.contains(
            "invalid jsonpath template \"{.items[*].metadata.name\": unclosed action: a '{' without its '}' (at character 1)"
        ),
        "{bad:#?}"
    );
    // One that does not apply to the object.
    assert_eq!(
        run(
            &["source"],
            &["describe", "vc", "-o", "jsonpath={.metadata.name[0]}"]
        )
        .error(),
        "error executing jsonpath \"{.metadata.name[0]}\": a string is not an array"
    );
    let unknown = run(&["binding"], &["list", "-o", "wide"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("unknown output format \"wide\": use json, yaml, name or jsonpath=TEMPLATE"),
        "{unknown:#?}"
    );
}
