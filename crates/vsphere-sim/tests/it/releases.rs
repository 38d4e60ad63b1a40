//! API releases: the documents clients pick a release from, and answers written in the release
//! a client asks for (`SOAPAction: "urn:vim25/<release>"`).

use vsphere_client::catalogue::{self, Release};
use vsphere_client::events::EventFilterSpec;
use vsphere_client::model::FieldName;
use vsphere_client::{ApiVersion, Client, Credentials, DataObject, Event, MoRef, Value};
use vsphere_sim::Simulator;

use crate::common;

async fn http(sim: &Simulator, method: &str, path: &str, body: &str) -> (String, String, String) {
    let headers = "SOAPAction: urn:vim25/8.0.3.0\r\nContent-Type: text/xml\r\n";
    let (status, head, body) = common::http(sim.addr(), method, path, headers, body).await;
    (status, head.to_lowercase(), body)
}

#[tokio::test]
async fn the_release_documents_are_served_as_vcenter_serves_them() {
    let sim = Simulator::start().await.expect("simulator");
    let (status, headers, body) = http(&sim, "GET", "/sdk/vimServiceVersions.xml", "").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("content-type: text/xml"), "{headers}");
    assert!(body.contains(r#"<namespaces version="1.0">"#), "{body}");
    assert!(
        body.contains("<name>urn:vim25</name>\n  <version>8.0.3.0</version>"),
        "{body}"
    );
    let prior = body.split("<priorVersions>").nth(1).expect("priorVersions");
    for id in [
        "8.0.2.0", "7.0.3.0", "7.0.0.0", "6.7.3", "6.5", "6.0", "5.5", "4.0",
    ] {
        assert!(prior.contains(&format!("<version>{id}</version>")), "{id}");
    }
    assert!(
        !prior.contains("<version>2.5</version>"),
        "vCenter 8 lists 4.0 last"
    );

    let (status, _, wsdl) = http(&sim, "GET", "/sdk/vimService.wsdl", "").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(wsdl.contains(r#"<import location="vim.wsdl" namespace="urn:vim25" />"#));
    assert!(
        wsdl.contains(&format!(
            r#"<soap:address location="http://{}/sdk/vimService" />"#,
            sim.addr()
        )),
        "{wsdl}"
    );
    let (status, _, _) = http(&sim, "POST", "/sdk/vimServiceVersions.xml", "x").await;
    assert!(status.contains(" 405 "), "{status}");

    // The WSDL's address takes SOAP calls, like /sdk.
    let si = MoRef::new("ServiceInstance", "ServiceInstance");
    let call = vsphere_client::request::Request::new("RetrieveServiceContent", &si).finish();
    let (status, _, content) = http(&sim, "POST", "/sdk/vimService", &call).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        content.contains("<apiVersion>8.0.3.0</apiVersion>"),
        "{content}"
    );
}

/// Types and fields of `obj` (recursively) that `release` lacks, or the catalogue does not know.
fn not_in(obj: &DataObject, release: Release, path: &str, out: &mut Vec<String>) {
    match obj.type_info() {
        Some(t) if t.in_release(release) => {}
        _ => out.push(format!("{path}: {}", obj.type_name)),
    }
    for f in &obj.fields {
        let name = f.name.xml_name();
        match &f.name {
            FieldName::Known(info) if info.in_release(release) => {}
            _ => out.push(format!("{path}.{name}")),
        }
        let mut values = vec![&f.value];
        while let Some(v) = values.pop() {
            match v {
                Value::Object(o) => not_in(o, release, &format!("{path}.{name}"), out),
                Value::Array(items) => values.extend(items),
                _ => {}
            }
        }
    }
}

async fn connect(sim: &Simulator, release: Option<&str>) -> Client {
    let mut b =
        Client::builder(sim.url()).credentials(Credentials::new(sim.username(), sim.password()));
    if let Some(r) = release {
        b = b.api_version(ApiVersion::Fixed(r.into()));
    }
    b.connect().await.expect("connect")
}

async fn all_events(client: &Client) -> Vec<Event> {
    common::drain(client, &EventFilterSpec::new()).await
}

#[tokio::test]
async fn events_are_written_in_the_release_the_client_asked_for() {
    let sim = Simulator::builder()
        .backlog(3000)
        .start()
        .await
        .expect("simulator");
    // A posted event with a field of 6.5 (VmReconfiguredEvent.configChanges).
    let newest = connect(&sim, None).await;
    let vm = newest.list_vms().await.expect("VMs")[0].clone();
    let obj = |ty: &str| DataObject::new(catalogue::lookup(ty).expect("type"));
    let posted = obj("VmReconfiguredEvent")
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String("user".into()))
        .with(
            "vm",
            Value::Object(Box::new(
                obj("VmEventArgument")
                    .with("name", Value::String(vm.name.clone()))
                    .with("vm", Value::MoRef(vm.vm.clone())),
            )),
        )
        .with(
            "configSpec",
            Value::Object(Box::new(obj("VirtualMachineConfigSpec"))),
        )
        .with(
            "configChanges",
            Value::Object(Box::new(
                obj("ChangesInfoEventArgument").with("modified", Value::String("numCPU".into())),
            )),
        )
        .with("fullFormattedMessage", Value::String("posted".into()));
    newest.post_event(&posted).await.expect("PostEvent");
    let posted_key = sim.next_key() - 1;

    let in_newest = all_events(&newest).await;
    let changes = |events: &[Event], key: i64| {
        events
            .iter()
            .find(|e| e.key() == key)
            .and_then(|e| e.object().get("configChanges").cloned())
    };
    assert!(changes(&in_newest, posted_key).is_some());
    for id in ["4.0", "6.0", "6.5", "7.0.3.0", "8.0.3.0"] {
        let release = Release::from_id(id).expect("release");
        let client = connect(&sim, Some(id)).await;
        let events = all_events(&client).await;
        assert!(events.len() > 3000);
        let mut newer = Vec::new();
        for e in &events {
            not_in(
                e.object(),
                release,
                &format!("{}[{}]", e.type_name(), e.key()),
                &mut newer,
            );
        }
        assert!(
            newer.is_empty(),
            "{id}: {:?}",
            &newer[..newer.len().min(10)]
        );
        // Same events, same keys, whatever the release.
        let keys = |v: &[Event]| v.iter().map(Event::key).take(3000).collect::<Vec<_>>();
        assert_eq!(keys(&events), keys(&in_newest));
        assert_eq!(
            changes(&events, posted_key).is_some(),
            release >= Release::from_id("6.5").expect("6.5"),
            "{id}"
        );
    }
    // A client of 2.5 gets EventEx as the Event it extends.
    let old = all_events(&connect(&sim, Some("2.5")).await).await;
    assert!(old.iter().all(|e| e.type_name() != "EventEx"));
    assert!(in_newest.iter().any(|e| e.type_name() == "EventEx"));
}
