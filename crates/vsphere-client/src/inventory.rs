//! Reading inventory properties with the PropertyCollector (`RetrievePropertiesEx` over a
//! container view), e.g. every VM with its power state and host.

use std::collections::BTreeMap;

use crate::catalogue::Kind;
use crate::client::{Client, single_object};
use crate::decode::type_index;
use crate::error::Error;
use crate::model::{MoRef, Value};
use crate::request::Request;

/// One managed object and the properties asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectProperties {
    /// The object.
    pub obj: MoRef,
    /// Property path → value (absent when the server had no value).
    pub properties: BTreeMap<String, Value>,
}

impl ObjectProperties {
    /// A string property.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.properties.get(path).and_then(Value::as_str)
    }
    /// A reference property.
    pub fn get_moref(&self, path: &str) -> Option<&MoRef> {
        self.properties.get(path).and_then(Value::as_moref)
    }
}

/// A VM with the facts a listing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSummary {
    /// The VM.
    pub vm: MoRef,
    /// Its name.
    pub name: String,
    /// `poweredOn`, `poweredOff` or `suspended`.
    pub power_state: String,
    /// The host it runs on.
    pub host: Option<MoRef>,
    /// The host's name.
    pub host_name: Option<String>,
}

impl Client {
    /// Every object of `kind` (e.g. `VirtualMachine`) below the root folder with the given
    /// property paths, through a temporary container view.
    pub async fn retrieve_all(
        &self,
        kind: &str,
        paths: &[&str],
    ) -> Result<Vec<ObjectProperties>, Error> {
        let content = self.service_content();
        let view_manager = content.view_manager.clone().ok_or(Error::Unexpected {
            method: "CreateContainerView",
            detail: "the server has no ViewManager".into(),
        })?;
        let mut req = Request::new("CreateContainerView", &view_manager);
        req.moref("container", &content.root_folder)
            .text("type", kind)
            .text("recursive", "true");
        let view = match self
            .invoke(req, Some(Kind::MoRef), None)
            .await?
            .into_iter()
            .next()
        {
            Some(Value::MoRef(m)) => m,
            other => {
                return Err(Error::Unexpected {
                    method: "CreateContainerView",
                    detail: format!("expected a view reference, got {other:?}"),
                });
            }
        };
        let result = self.retrieve_from_view(&view, kind, paths).await;
        let destroy = Request::new("DestroyView", &view);
        // Best effort: the view dies with the session anyway.
        let _ = self.invoke(destroy, None, None).await;
        result
    }

    /// The properties at `paths` (e.g. `name`, `runtime.powerState`, `sessionList`) of one
    /// managed object, through `RetrievePropertiesEx`; paths the object does not have are
    /// errors from vCenter (`InvalidProperty`), unset ones are missing from the result.
    pub async fn retrieve_properties(
        &self,
        obj: &MoRef,
        paths: &[&str],
    ) -> Result<ObjectProperties, Error> {
        let found = self
            .retrieve(&obj.kind, paths, &|req: &mut Request| {
                req.moref("obj", obj).text("skip", "false");
            })
            .await?;
        Ok(found
            .into_iter()
            .next()
            .unwrap_or_else(|| ObjectProperties {
                obj: obj.clone(),
                properties: BTreeMap::new(),
            }))
    }

    async fn retrieve_from_view(
        &self,
        view: &MoRef,
        kind: &str,
        paths: &[&str],
    ) -> Result<Vec<ObjectProperties>, Error> {
        self.retrieve(kind, paths, &|req: &mut Request| {
            req.moref("obj", view)
                .text("skip", "true")
                .open_typed("selectSet", "TraversalSpec")
                .text("name", "traverseEntities")
                .text("type", "ContainerView")
                .text("path", "view")
                .text("skip", "false")
                .close("selectSet");
        })
        .await
    }

    /// `RetrievePropertiesEx` (and its continuations) of `paths` on objects of `kind`, the
    /// object set's content written by `object_set`.
    async fn retrieve(
        &self,
        kind: &str,
        paths: &[&str],
        object_set: &(dyn Fn(&mut Request) + Sync),
    ) -> Result<Vec<ObjectProperties>, Error> {
        let pc = self.service_content().property_collector.clone();
        let mut req = Request::new("RetrievePropertiesEx", &pc);
        req.open("specSet").open("propSet").text("type", kind);
        for p in paths {
            req.text("pathSet", p);
        }
        req.close("propSet").open("objectSet");
        object_set(&mut req);
        req.close("objectSet")
            .close("specSet")
            .open("options")
            .close("options");
        let result_kind = Some(Kind::Data(type_index("RetrieveResult")));
        let mut out = Vec::new();
        let mut values = self.invoke(req, result_kind, None).await?;
        loop {
            if values.is_empty() {
                return Ok(out);
            }
            let result = single_object("RetrievePropertiesEx", values)?;
            for item in result.get("objects").map(Value::items).unwrap_or_default() {
                let Some(oc) = item.as_object() else { continue };
                let Some(obj) = oc.get("obj").and_then(Value::as_moref) else {
                    continue;
                };
                let mut properties = BTreeMap::new();
                for dp in oc.get("propSet").map(Value::items).unwrap_or_default() {
                    let Some(dp) = dp.as_object() else { continue };
                    if let (Some(name), Some(val)) = (dp.get_str("name"), dp.get("val")) {
                        properties.insert(name.to_owned(), val.clone());
                    }
                }
                out.push(ObjectProperties {
                    obj: obj.clone(),
                    properties,
                });
            }
            let Some(token) = result.get_str("token") else {
                return Ok(out);
            };
            let mut next = Request::new("ContinueRetrievePropertiesEx", &pc);
            next.text("token", token);
            values = self.invoke(next, result_kind, None).await?;
        }
    }

    /// Every VM with its power state and host (name included).
    pub async fn list_vms(&self) -> Result<Vec<VmSummary>, Error> {
        let hosts: BTreeMap<String, String> = self
            .retrieve_all("HostSystem", &["name"])
            .await?
            .into_iter()
            .filter_map(|h| Some((h.obj.value.clone(), h.get_str("name")?.to_owned())))
            .collect();
        let mut vms: Vec<VmSummary> = self
            .retrieve_all(
                "VirtualMachine",
                &["name", "runtime.powerState", "runtime.host"],
            )
            .await?
            .into_iter()
            .map(|o| {
                let host = o.get_moref("runtime.host").cloned();
                VmSummary {
                    name: o.get_str("name").unwrap_or_default().to_owned(),
                    power_state: o
                        .get_str("runtime.powerState")
                        .unwrap_or_default()
                        .to_owned(),
                    host_name: host.as_ref().and_then(|h| hosts.get(&h.value).cloned()),
                    host,
                    vm: o.obj,
                }
            })
            .collect();
        vms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(vms)
    }
}
