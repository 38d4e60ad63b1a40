//! The committed CRD YAML under `config/` matches the Rust types.
//!
//! `UPDATE_CRDS=1 cargo test -p sources-api --test it crd_yaml` rewrites it.

use std::path::PathBuf;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn committed_crds_match_the_types() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, crd) in sources_api::crds::all() {
        let want = sources_api::crds::render(&crd).expect("render");
        let path = config_dir().join(file);
        if update {
            std::fs::write(&path, &want).expect("write");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale CRD YAML {stale:?}: run `UPDATE_CRDS=1 cargo test -p sources-api --test it crd_yaml` and commit"
    );
}

#[test]
fn crds_carry_upstream_metadata() {
    let crd = sources_api::crds::vsphere_source();
    let labels = crd.metadata.labels.clone().unwrap();
    assert_eq!(labels["duck.knative.dev/source"], "true");
    assert_eq!(labels["eventing.knative.dev/source"], "true");
    assert_eq!(labels["sources.tanzu.vmware.com/release"], "devel");
    assert_eq!(labels["knative.dev/crd-install"], "true");
    let types: serde_json::Value = serde_json::from_str(
        &crd.metadata.annotations.clone().unwrap()["registry.knative.dev/eventTypes"],
    )
    .unwrap();
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "com.vmware.vsphere.VmPoweredOnEvent.v0")
    );
    let names = &crd.spec.names;
    assert_eq!(names.short_names.as_deref(), Some(&["vss".to_owned()][..]));
    assert_eq!(
        names.categories.as_deref(),
        Some(&["all", "knative", "vsphere", "sources"].map(String::from)[..])
    );
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Source", "Sink", "Ready", "Reason", "Age"]);

    let binding = sources_api::crds::vsphere_binding();
    assert_eq!(
        binding.spec.names.short_names.as_deref(),
        Some(&["vsb".to_owned()][..])
    );
    let labels = binding.metadata.labels.unwrap();
    assert!(!labels.contains_key("duck.knative.dev/source"));
    let horizon = sources_api::crds::horizon_source();
    assert_eq!(
        horizon.spec.names.categories.as_deref(),
        Some(&["all", "knative", "eventing", "horizon", "sources"].map(String::from)[..])
    );
}

#[test]
fn schemas_are_structural_without_preserve_unknown_fields() {
    for (file, crd) in sources_api::crds::all() {
        let schema = serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        let text = schema.to_string();
        for banned in [
            "\"allOf\"",
            "\"anyOf\"",
            "\"oneOf\"",
            "\"$ref\"",
            "preserve-unknown-fields\":true",
        ] {
            // LabelSelector's matchLabels is a map (additionalProperties), fine.
            assert!(!text.contains(banned), "{file}: {banned} in {text}");
        }
        assert_eq!(schema["type"], "object", "{file}");
        assert!(
            schema["properties"]["spec"]["properties"].is_object(),
            "{file}"
        );
    }
}
