//! Objects from YAML: untyped APIs, CRDs waited for until served, and
//! server-side apply of multi-document YAML.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

use crate::{FIELD_MANAGER, HarnessError, kube_err};

/// The untyped API of any namespaced kind: what tests use to write objects the typed structs
/// would not let them write (a namespace user can send anything).
pub fn dynamic_api(
    client: &Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// The untyped API of one of vmware-sources' kinds (`VSphereSource`, `VSphereBinding`,
/// `HorizonSource`: `sources.tanzu.vmware.com/v1alpha1`) in `ns`.
pub fn sources_group_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    dynamic_api(client, ns, "sources.tanzu.vmware.com", "v1alpha1", kind)
}

/// Splits a multi-document YAML text into JSON values, skipping empty
/// documents.
pub fn yaml_documents(yaml: &str) -> Result<Vec<serde_json::Value>, HarnessError> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value =
            serde_json::Value::deserialize(doc).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

pub(crate) async fn install_crds(client: &Client, yaml: &str) -> Result<Vec<String>, HarnessError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for doc in yaml_documents(yaml)? {
        if doc.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
            continue;
        }
        let crd: CustomResourceDefinition =
            serde_json::from_value(doc).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| HarnessError::Yaml("a CRD without metadata.name".into()))?;
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(kube_err(format!("apply CRD {name}")))?;
        names.push(name);
    }
    for name in &names {
        wait_established(&api, name).await?;
    }
    Ok(names)
}

async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let crd = api
            .get(name)
            .await
            .map_err(kube_err(format!("get CRD {name}")))?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        // Established comes a moment before the API server serves the
        // resource: list every served version until none answers 404.
        if established && served(api, &crd).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HarnessError::Timeout(format!(
        "CRD {name} not Established within 60s"
    )))
}

/// Whether every served version of `crd` answers a list (not 404).
async fn served(
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
) -> Result<bool, HarnessError> {
    let client = api.clone().into_client();
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        let resource = ApiResource {
            group: crd.spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", crd.spec.group, version.name),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let objects: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        match objects.list(&ListParams::default().limit(1)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false),
            Err(e) => return Err(kube_err(format!("list {}", resource.plural))(e)),
        }
    }
    Ok(true)
}

pub(crate) async fn apply_yaml(
    client: &Client,
    yaml: &str,
    default_namespace: &str,
    dry_run: bool,
) -> Result<Vec<String>, HarnessError> {
    let applied =
        apply_documents(client, &yaml_documents(yaml)?, default_namespace, dry_run).await?;
    Ok(applied
        .iter()
        .map(|o| {
            let kind = o
                .types
                .as_ref()
                .map(|t| t.kind.as_str())
                .unwrap_or_default();
            format!("{kind}/{}", o.metadata.name.as_deref().unwrap_or_default())
        })
        .collect())
}

pub(crate) async fn apply_documents(
    client: &Client,
    documents: &[serde_json::Value],
    default_namespace: &str,
    dry_run: bool,
) -> Result<Vec<DynamicObject>, HarnessError> {
    let mut applied = Vec::new();
    for doc in documents {
        let obj: DynamicObject =
            serde_json::from_value(doc.clone()).map_err(|e| HarnessError::Yaml(e.to_string()))?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| HarnessError::Yaml("an object without apiVersion/kind".into()))?;
        let gvk =
            GroupVersionKind::try_from(&types).map_err(|e| HarnessError::Yaml(format!("{e}")))?;
        let name = obj
            .metadata
            .name
            .clone()
            .ok_or_else(|| HarnessError::Yaml(format!("a {} without a name", types.kind)))?;
        let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(kube_err(format!("discover {}", types.kind)))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_owned());
                Api::namespaced_with(client.clone(), &ns, &resource)
            }
        };
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        let mut answer = api
            .patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(kube_err(format!("apply {}/{name}", types.kind)))?;
        // The answer of a dynamic API may lack apiVersion/kind; keep the applied ones.
        answer.types = Some(types);
        applied.push(answer);
    }
    Ok(applied)
}
