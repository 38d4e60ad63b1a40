//! Events posted to govmomi's vcsim arrive at a real HTTP sink with the Go adapter's headers and
//! payloads, in both encodings.

use std::time::Duration;

use crate::common::{Adapter, secret_dir, wait_for_request};
use test_support::{RecordingSink, Vcsim};
use vsphere_client::{Client, Credentials, DataObject, Value, catalogue};

fn event_ex(root: &vsphere_client::MoRef, message: &str) -> DataObject {
    let ty = catalogue::lookup("EventEx").expect("EventEx");
    let arg = DataObject::new(catalogue::lookup("KeyAnyValue").expect("KeyAnyValue"))
        .with("key", Value::String("k1".into()))
        .with("value", Value::Int(3));
    DataObject::new(ty)
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(String::new()))
        .with("fullFormattedMessage", Value::String(message.into()))
        .with(
            "eventTypeId",
            Value::String("com.example.custom.event".into()),
        )
        .with("severity", Value::String("info".into()))
        .with(
            "arguments",
            Value::Array(vec![Value::Object(Box::new(arg))]),
        )
        .with("objectId", Value::String(root.value.clone()))
        .with("objectType", Value::String(root.kind.to_string()))
}

async fn run_with_encoding(encoding: &str) -> (Vec<test_support::Received>, String) {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let sink = RecordingSink::start().await;
    let secret = secret_dir(sim.username(), sim.password());
    let cp_dir = tempfile::tempdir().expect("dir");
    let adapter = Adapter::start(&[
        ("VC_URL", sim.url().to_owned()),
        ("VC_INSECURE", "true".into()),
        ("VC_SECRET_PATH", secret.path().display().to_string()),
        ("K_SINK", sink.url()),
        ("NAMESPACE", "myns".into()),
        ("VSPHERE_PAYLOAD_ENCODING", encoding.into()),
        (
            "VSPHERE_CHECKPOINT_FILE",
            cp_dir.path().join("cp.json").display().to_string(),
        ),
        ("K_CE_OVERRIDES", r#"{"extensions":{"team":"ops"}}"#.into()),
    ]);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let client = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    client
        .post_event(&event_ex(&root, "first & <second>"))
        .await
        .expect("post");
    let ex = wait_for_request(&sink, &adapter, Duration::from_secs(20), |r| {
        r.header("ce-type") == Some("com.vmware.vsphere.com.example.custom.event.v0")
    })
    .await;
    (vec![ex], sim.url().to_owned())
}

#[tokio::test]
async fn json_events_from_vcsim_reach_the_sink_as_the_go_adapter_sends_them() {
    let (got, source) = run_with_encoding("application/json").await;
    let r = &got[0];
    assert_eq!(r.header("ce-specversion"), Some("1.0"));
    assert_eq!(r.header("ce-source"), Some(source.as_str()));
    assert_eq!(r.header("ce-eventclass"), Some("eventex"));
    assert_eq!(r.header("ce-vsphereapiversion"), Some("6.5"));
    assert_eq!(r.header("ce-team"), Some("ops"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("kn-namespace"), Some("myns"));
    assert!(r.header("ce-subject").is_none());
    let id: i64 = r
        .header("ce-id")
        .and_then(|v| v.parse().ok())
        .expect("numeric id");
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(body["Key"], id);
    assert_eq!(body["EventTypeId"], "com.example.custom.event");
    assert_eq!(body["FullFormattedMessage"], "first & <second>");
    assert_eq!(body["Arguments"][0]["Value"], 3);
    assert!(
        r.text().contains(r"first \u0026 \u003csecond\u003e"),
        "Go's HTML-safe escaping: {}",
        r.text()
    );
    assert!(
        body["Vm"].is_null(),
        "absent pointers are null: {}",
        r.text()
    );
    let time = r.header("ce-time").expect("ce-time");
    assert_eq!(body["CreatedTime"], time);
}

#[tokio::test]
async fn xml_events_from_vcsim_reach_the_sink_as_the_go_adapter_sends_them() {
    let (got, _) = run_with_encoding("application/xml").await;
    let r = &got[0];
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let text = r.text();
    let id = r.header("ce-id").expect("id");
    assert!(
        text.starts_with(&format!("<EventEx><key>{id}</key><chainId>")),
        "{text}"
    );
    assert!(
        text.contains("<fullFormattedMessage>first &amp; &lt;second&gt;</fullFormattedMessage>"),
        "{text}"
    );
    assert!(
        text.contains("<arguments><key>k1</key><value>3</value></arguments>"),
        "{text}"
    );
    assert!(text.ends_with("</EventEx>"), "{text}");
    assert!(!text.contains("xsi:"), "no type markers: {text}");
}

#[tokio::test]
async fn a_vcenter_signed_by_a_private_ca_is_trusted_through_vc_ca_certs() {
    test_support::install_crypto_provider();
    let pki = test_support::TestPki::new(&["localhost", "127.0.0.1"]);
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim");
    assert!(sim.url().starts_with("https://"), "{}", sim.url());
    let sink = RecordingSink::start().await;
    let secret = secret_dir(sim.username(), sim.password());
    let cp_dir = tempfile::tempdir().expect("dir");
    let env = |ca: Option<&str>| {
        let mut env = vec![
            ("VC_URL", sim.url().to_owned()),
            ("VC_SECRET_PATH", secret.path().display().to_string()),
            ("K_SINK", sink.url()),
            (
                "VSPHERE_CHECKPOINT_FILE",
                cp_dir.path().join("cp.json").display().to_string(),
            ),
        ];
        if let Some(ca) = ca {
            env.push(("VC_CA_CERTS", ca.to_owned()));
        }
        env
    };

    // Without the CA, vCenter's certificate is refused and the adapter keeps trying.
    let untrusted = Adapter::start(&env(None));
    untrusted
        .wait_log("cannot connect to vCenter", Duration::from_secs(30))
        .await;
    let log = untrusted.log().join("\n");
    assert!(log.to_ascii_lowercase().contains("certificate"), "{log}");
    drop(untrusted);

    // With the CA's PEM in VC_CA_CERTS (what the binding injects from spec.caCerts): events flow.
    let adapter = Adapter::start(&env(Some(pki.ca_pem())));
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let client = Client::builder(sim.url())
        .ca_bundle_pem(pki.ca_pem().as_bytes().to_vec())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect with the CA");
    let root = client.service_content().root_folder.clone();
    client
        .post_event(&event_ex(&root, "over a private CA"))
        .await
        .expect("post");
    // Our login's session event comes first; wait for the posted one.
    wait_for_request(&sink, &adapter, Duration::from_secs(20), |r| {
        r.text().contains("over a private CA")
    })
    .await;
}
