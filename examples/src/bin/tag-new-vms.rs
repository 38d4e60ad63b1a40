//! `tag-new-vms`: a function that receives `VmCreatedEvent` CloudEvents over HTTP and tags each
//! new VM through the vSphere REST API (the Go project's `samples/tag-new-vms`, in Rust).
//!
//! Subscribe it to a VSphereSource (directly as the sink, or through a Broker and a Trigger on
//! `type: com.vmware.vsphere.VmCreatedEvent.v0`) and bind it with a VSphereBinding. Settings:
//!
//! - `PORT`: where to listen (default 8080, as Knative sets it; `0` picks a free port);
//! - `TAG_CATEGORY`: the category (default `vmware-sources`), created when missing
//!   (cardinality `MULTIPLE`, VirtualMachine only);
//! - `TAG_NAME`: the tag (default `created-by-event`), created when missing.
//!
//! Events arrive in binary mode as the vSphere adapter sends them, with a JSON
//! (`{"Vm":{"Vm":{"Type":"VirtualMachine","Value":"vm-57"}}}`) or XML
//! (`<VmCreatedEvent>…<vm><vm type="VirtualMachine">vm-57</vm></vm>…`) payload; structured
//! JSON CloudEvents are accepted too. Answers: 200 when tagged, 202 for other event types
//! (acknowledged, nothing to do), 400 when the payload names no VM, 502 when tagging failed (so
//! the sender retries).

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use binding_env::{CategorySpec, ObjectId, RestClient, TagSpec};
use quick_xml::events::Event as XmlEvent;

struct App {
    rest: RestClient,
    tag_id: String,
    label: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init();
    examples::exit_code("tag-new-vms", run().await)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = env_or("PORT", "8080")
        .parse()
        .map_err(|_| "PORT is not a port number")?;
    let category = env_or("TAG_CATEGORY", "vmware-sources");
    let tag = env_or("TAG_NAME", "created-by-event");
    let rest = binding_env::new_rest_client().await?;
    let tag_id = ensure_tag(&rest, &category, &tag).await?;
    let app = Arc::new(App {
        rest: rest.clone(),
        tag_id,
        label: format!("{category}/{tag}"),
    });
    let router = Router::new()
        .route("/", post(receive))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!(
        "tag-new-vms: listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await?;
    let _ = rest.logout().await;
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The tag's id, creating the category and the tag when missing.
async fn ensure_tag(
    rest: &RestClient,
    category: &str,
    tag: &str,
) -> Result<String, binding_env::RestError> {
    let category_id = match rest.find_category(category).await? {
        Some(c) => c.id,
        None => {
            rest.create_category(&CategorySpec {
                name: category.to_owned(),
                description: "created by tag-new-vms".into(),
                cardinality: "MULTIPLE".into(),
                associable_types: vec!["VirtualMachine".into()],
            })
            .await?
        }
    };
    match rest.find_tag(&category_id, tag).await? {
        Some(t) => Ok(t.id),
        None => {
            rest.create_tag(&TagSpec {
                name: tag.to_owned(),
                description: "VMs created while tag-new-vms was listening".into(),
                category_id,
            })
            .await
        }
    }
}

async fn receive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let (ce_type, id, vm) = if content_type.starts_with("application/cloudevents+json") {
        match structured(&body) {
            Ok(parts) => parts,
            Err(e) => return (StatusCode::BAD_REQUEST, e),
        }
    } else {
        let ce_type = header("ce-type");
        if ce_type.is_empty() {
            return (
                StatusCode::BAD_REQUEST,
                "not a CloudEvent: no ce-type header".into(),
            );
        }
        let vm = if is_xml(&content_type) {
            vm_from_xml(&body)
        } else {
            serde_json::from_slice(&body)
                .ok()
                .and_then(|v| vm_from_json(&v))
        };
        (ce_type, header("ce-id"), vm)
    };
    if !is_vm_created(&ce_type) {
        println!("ignored event {id} of type {ce_type}");
        return (StatusCode::ACCEPTED, format!("ignored {ce_type}\n"));
    }
    let Some(vm) = vm else {
        return (
            StatusCode::BAD_REQUEST,
            format!("event {id}: the payload names no VM (Vm.Vm.Value or <vm><vm>)\n"),
        );
    };
    match app.rest.attach_tag(&app.tag_id, &ObjectId::vm(&vm)).await {
        Ok(()) => {
            println!("tagged {vm} with {} (event {id})", app.label);
            (StatusCode::OK, format!("tagged {vm}\n"))
        }
        Err(e) => {
            eprintln!("tag-new-vms: event {id}: tagging {vm} failed: {e}");
            (
                StatusCode::BAD_GATEWAY,
                format!("tagging {vm} failed: {e}\n"),
            )
        }
    }
}

fn is_xml(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("application/xml") || ct.starts_with("text/xml")
}

fn is_vm_created(ce_type: &str) -> bool {
    matches!(
        ce_type,
        "com.vmware.vsphere.VmCreatedEvent.v0" | "com.vmware.vsphere.VmCreatedEvent"
    )
}

/// A structured-mode JSON CloudEvent: type, id and the VM from `data` (JSON) or `data` as an
/// XML string.
fn structured(body: &[u8]) -> Result<(String, String, Option<String>), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON CloudEvent: {e}\n"))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let vm = match v.get("data") {
        Some(serde_json::Value::String(xml)) => vm_from_xml(xml.as_bytes()),
        Some(data) => vm_from_json(data),
        None => None,
    };
    Ok((s("type"), s("id"), vm))
}

/// `Vm.Vm.Value` of a JSON payload (Go field names).
fn vm_from_json(v: &serde_json::Value) -> Option<String> {
    v.get("Vm")?
        .get("Vm")?
        .get("Value")?
        .as_str()
        .map(str::to_owned)
}

/// The text of `<Root><vm><vm type="VirtualMachine">vm-57</vm></vm>` in an XML payload.
fn vm_from_xml(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            XmlEvent::Start(e) => path.push(e.local_name().into_inner().to_owned()),
            XmlEvent::End(_) => {
                path.pop();
            }
            XmlEvent::Text(t) if path.len() == 3 && path[1] == "vm" && path[2] == "vm" => {
                let value = t.into_inner().trim().to_owned();
                if !value.is_empty() {
                    return Some(value);
                }
            }
            XmlEvent::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_vm_in_both_payloads() {
        let json = serde_json::json!({"Key": 1, "Vm": {"Name": "x", "Vm": {"Type": "VirtualMachine", "Value": "vm-57"}}});
        assert_eq!(vm_from_json(&json).as_deref(), Some("vm-57"));
        let xml = br#"<VmCreatedEvent><key>1</key><host><name>h</name><host type="HostSystem">host-21</host></host><vm><name>x</name><vm type="VirtualMachine">vm-57</vm></vm><template>false</template></VmCreatedEvent>"#;
        assert_eq!(vm_from_xml(xml).as_deref(), Some("vm-57"));
        assert_eq!(
            vm_from_xml(b"<VmCreatedEvent><key>1</key></VmCreatedEvent>"),
            None
        );
        assert!(is_vm_created("com.vmware.vsphere.VmCreatedEvent.v0"));
        assert!(!is_vm_created("com.vmware.vsphere.VmPoweredOnEvent.v0"));
    }
}
