//! What `delete`, `list` and `describe -o` do alike for VSphereSource, VSphereBinding and
//! HorizonSource.

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use sources_api::duck::Condition;
use sources_api::v1alpha1::{API_VERSION, HorizonSource, VSphereBinding, VSphereSource};

use crate::cli::{ListArgs, Output};
use crate::error::Error;
use crate::kube_ctx::{self, Cluster};
use crate::print;

/// One of the three kinds, with the words the Go plugin uses for it.
#[derive(Debug, Clone)]
pub struct Kind {
    /// The API resource.
    pub resource: ApiResource,
    /// `source`, `binding`, `Horizon source`.
    pub noun: &'static str,
    /// `sources`, `bindings`, `Horizon sources`.
    pub nouns: &'static str,
    /// The title of the address column (`VCenter`, `Horizon`).
    pub address_column: &'static str,
    /// The kind, e.g. `VSphereSource`.
    pub kind: &'static str,
}

/// VSphereSource.
pub fn vsphere_source() -> Kind {
    Kind {
        resource: ApiResource::erase::<VSphereSource>(&()),
        noun: "source",
        nouns: "sources",
        address_column: "VCenter",
        kind: "VSphereSource",
    }
}

/// VSphereBinding.
pub fn vsphere_binding() -> Kind {
    Kind {
        resource: ApiResource::erase::<VSphereBinding>(&()),
        noun: "binding",
        nouns: "bindings",
        address_column: "VCenter",
        kind: "VSphereBinding",
    }
}

/// HorizonSource.
pub fn horizon_source() -> Kind {
    Kind {
        resource: ApiResource::erase::<HorizonSource>(&()),
        noun: "Horizon source",
        nouns: "Horizon sources",
        address_column: "Horizon",
        kind: "HorizonSource",
    }
}

/// The Go plugin's check of `list` flags.
pub fn check_list_flags(namespace: Option<&str>, args: &ListArgs) -> Result<(), Error> {
    if namespace.is_some_and(|n| !n.is_empty()) && args.all_namespaces {
        return Err(Error::usage(
            "'--namespace' and '--all-namespaces' options are mutually exclusive",
        ));
    }
    Ok(())
}

/// `create`: checks the flags (`build(None)` fails on bad ones), then prints the object as YAML
/// (`--dry-run`, in the namespace `-n` or the kubeconfig names, if any) or creates it and prints
/// `done`. A refusal is `context: <the API server's message>`.
pub async fn create<K>(
    namespace: Option<&str>,
    dry_run: bool,
    context: &str,
    done: &str,
    build: impl Fn(Option<&str>) -> Result<K, Error>,
) -> Result<String, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    build(None)?;
    if dry_run {
        let ns = kube_ctx::dry_run_namespace(namespace).await;
        let mut value = serde_json::to_value(build(ns.as_deref())?)
            .map_err(|e| Error::Render(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), K::api_version(&()).into());
            map.insert("kind".into(), K::kind(&()).into());
        }
        return print::render(&value, &Output::Yaml);
    }
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace(namespace);
    let obj = build(Some(&ns))?;
    let api: Api<K> = Api::namespaced(cluster.client().clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &obj).await {
        return Err(cluster
            .api_error(&ApiResource::erase::<K>(&()), context, e)
            .await);
    }
    Ok(done.to_owned())
}

/// `delete --name NAME`: prints `Deleted <noun>`.
pub async fn delete(
    cluster: &Cluster,
    kind: &Kind,
    namespace: &str,
    name: &str,
) -> Result<String, Error> {
    let api = cluster.dynamic(&kind.resource, Some(namespace));
    if let Err(e) = api.delete(name, &DeleteParams::default()).await {
        return Err(cluster
            .api_error(&kind.resource, format!("failed to delete {}", kind.noun), e)
            .await);
    }
    Ok(format!("Deleted {}\n", kind.noun))
}

/// The object as the API server has it, without `managedFields`.
pub async fn get_raw(
    cluster: &Cluster,
    kind: &Kind,
    namespace: &str,
    name: &str,
) -> Result<Value, Error> {
    let api = cluster.dynamic(&kind.resource, Some(namespace));
    match api.get(name).await {
        Ok(obj) => {
            let mut value = to_value(&obj)?;
            print::strip_managed_fields(&mut value);
            Ok(value)
        }
        Err(e) => Err(cluster
            .api_error(
                &kind.resource,
                format!("failed to describe {}", kind.noun),
                e,
            )
            .await),
    }
}

fn to_value(obj: &DynamicObject) -> Result<Value, Error> {
    serde_json::to_value(obj).map_err(|e| Error::Render(e.to_string()))
}

/// `list` (`ls`): a kn table (columns NAMESPACE with `-A`, NAME, the address, INSECURE,
/// CREDENTIALS, AGE, CONDITIONS, READY, REASON), `No <nouns> found.`, or with `-o` the list
/// (`<Kind>List`, each item with its `apiVersion` and `kind`) as JSON, YAML, names or through a
/// JSONPath template.
pub async fn list(
    cluster: &Cluster,
    kind: &Kind,
    namespace: Option<&str>,
    args: &ListArgs,
) -> Result<String, Error> {
    let scope = if args.all_namespaces {
        None
    } else {
        Some(cluster.namespace(namespace))
    };
    let api = cluster.dynamic(&kind.resource, scope.as_deref());
    let objects = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            return Err(cluster
                .api_error(&kind.resource, format!("list {}", kind.nouns), e)
                .await);
        }
    };
    let mut items = Vec::with_capacity(objects.len());
    for obj in &objects {
        let mut v = to_value(obj)?;
        print::strip_managed_fields(&mut v);
        items.push(v);
    }
    if let Some(format) = &args.output {
        let list = json!({
            "apiVersion": API_VERSION,
            "kind": format!("{}List", kind.kind),
            "items": items,
        });
        return print::render(&list, format);
    }
    if items.is_empty() {
        return Ok(format!("No {} found.\n", kind.nouns));
    }
    let now = Timestamp::now();
    let rows = items
        .iter()
        .map(|item| row(item, args.all_namespaces, now))
        .collect();
    let columns = [
        "Namespace",
        "Name",
        kind.address_column,
        "Insecure",
        "Credentials",
        "Age",
        "Conditions",
        "Ready",
        "Reason",
    ];
    Ok(print::list_table(
        &columns,
        rows,
        args.all_namespaces,
        args.no_headers,
    ))
}

/// `status.conditions` of an object.
pub fn conditions(obj: &Value) -> Vec<Condition> {
    obj.pointer("/status/conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

fn text(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn row(obj: &Value, all_namespaces: bool, now: Timestamp) -> Vec<String> {
    let conditions = conditions(obj);
    let mut cells = Vec::with_capacity(9);
    if all_namespaces {
        cells.push(text(obj, "/metadata/namespace"));
    }
    let insecure = obj
        .pointer("/spec/skipTLSVerify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    cells.extend([
        text(obj, "/metadata/name"),
        text(obj, "/spec/address"),
        insecure.to_string(),
        text(obj, "/spec/secretRef/name"),
        print::age(
            obj.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now,
        ),
        print::conditions_value(&conditions),
        print::ready_condition(&conditions),
        print::non_ready_reason(&conditions),
    ]);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_the_go_plugin_prints_them() {
        let obj = json!({
            "metadata": {"name": "s", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"address": "https://vc.local", "skipTLSVerify": true, "secretRef": {"name": "creds"}},
            "status": {"conditions": [
                {"type": "AuthReady", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "SecretMissing", "message": "gone"}
            ]}
        });
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().expect("time");
        assert_eq!(
            row(&obj, true, now),
            [
                "ns",
                "s",
                "https://vc.local",
                "true",
                "creds",
                "5m",
                "1 OK / 2",
                "False",
                "SecretMissing : gone"
            ]
        );
        assert_eq!(row(&obj, false, now).len(), 8);
    }
}
