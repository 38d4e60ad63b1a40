//! `spec.filter` at the source, with the adapters as real processes: only the events the filter
//! selects reach the sink. vCenter (govmomi's vcsim, which ignores categories and users in a
//! collector's filter, so the adapter's own check is what is tested there) by category and user;
//! Horizon (the simulator) by type, module and severity, applied by the server's query or, by a
//! server that refuses such a query, by the adapter.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{Adapter, secret_dir};
use crate::horizon_common;
use test_support::{RecordingSink, Vcsim};
use vsphere_client::{Client, Credentials, DataObject, Value, catalogue};

/// An `EventEx` with this `eventTypeId`, severity and user, on `root`.
fn event_ex(root: &vsphere_client::MoRef, type_id: &str, severity: &str, user: &str) -> DataObject {
    DataObject::new(catalogue::lookup("EventEx").expect("EventEx"))
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(user.into()))
        .with("fullFormattedMessage", Value::String(type_id.into()))
        .with("eventTypeId", Value::String(type_id.into()))
        .with("severity", Value::String(severity.into()))
        .with("objectId", Value::String(root.value.clone()))
        .with("objectType", Value::String(root.kind.to_string()))
}

fn ce_types(sink: &RecordingSink) -> BTreeSet<String> {
    sink.accepted()
        .iter()
        .filter_map(|r| r.header("ce-type").map(str::to_owned))
        .collect()
}

/// A vSphere adapter reading `sim` into `sink` through `filter`.
fn vsphere_adapter(
    sim: &Vcsim,
    sink: &RecordingSink,
    secret: &std::path::Path,
    cp: &std::path::Path,
    filter: String,
) -> Adapter {
    Adapter::start(&[
        ("VC_URL", sim.url().to_owned()),
        ("VC_INSECURE", "true".into()),
        ("VC_SECRET_PATH", secret.display().to_string()),
        ("K_SINK", sink.url()),
        ("VSPHERE_CHECKPOINT_FILE", cp.display().to_string()),
        ("VSPHERE_EVENT_FILTER", filter),
    ])
}

/// vcsim records every posted event as its poster's (the session's user) and leaves user
/// filtering to the client: one adapter selects that user, another a user who posted nothing.
#[tokio::test]
async fn a_vsphere_filter_by_category_and_user_lets_only_matching_events_through() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let (poster, stranger) = (RecordingSink::start().await, RecordingSink::start().await);
    let secret = secret_dir(sim.username(), sim.password());
    let cp_dir = tempfile::tempdir().expect("dir");
    let filter = |user: &str| {
        serde_json::json!({"categories": ["warning", "error"], "users": {"names": [user]}})
            .to_string()
    };
    let adapters = [
        vsphere_adapter(
            &sim,
            &poster,
            secret.path(),
            &cp_dir.path().join("a.json"),
            filter(sim.username()),
        ),
        vsphere_adapter(
            &sim,
            &stranger,
            secret.path(),
            &cp_dir.path().join("b.json"),
            filter("VSPHERE.LOCAL\\nobody"),
        ),
    ];
    for a in &adapters {
        a.wait_log("setting begin of event stream", Duration::from_secs(30))
            .await;
    }
    let client = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    for (id, severity) in [
        ("test.info", "info"),
        ("test.warning", "warning"),
        ("test.error", "error"),
        ("test.user", "user"),
        ("test.last", "warning"),
    ] {
        client
            .post_event(&event_ex(&root, id, severity, ""))
            .await
            .expect("post");
    }
    let want: BTreeSet<String> = ["test.warning", "test.error", "test.last"]
        .into_iter()
        .map(|t| format!("com.vmware.vsphere.{t}.v0"))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !want.is_subset(&ce_types(&poster)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both adapters read the same events; give a stray one a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got: BTreeSet<String> = ce_types(&poster)
        .into_iter()
        .filter(|t| t.starts_with("com.vmware.vsphere.test."))
        .collect();
    assert_eq!(got, want, "log:\n{}", adapters[0].log().join("\n"));
    let theirs: BTreeSet<String> = ce_types(&stranger)
        .into_iter()
        .filter(|t| t.starts_with("com.vmware.vsphere.test."))
        .collect();
    assert!(
        theirs.is_empty(),
        "another user's filter let {theirs:?} through"
    );
}

/// The Horizon adapter with `filter` against a simulator (refusing all but time filters when
/// `time_only`): returns the delivered event types and the last query filter the server saw.
async fn horizon_filtered(time_only: bool) -> (Vec<String>, Option<String>) {
    test_support::install_crypto_provider();
    let sim = horizon_sim::Simulator::builder()
        .time_filter_only(time_only)
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let secret = horizon_common::secret_dir(&sim);
    let dir = tempfile::tempdir().expect("dir");
    let mut env = horizon_common::env(
        &sim,
        secret.path(),
        &sink.url(),
        &dir.path().join("cp.json"),
    );
    env.push((
        "HORIZON_EVENT_FILTER",
        r#"{"eventTypes":["vlsi_userloggedin","BROKER_USERAUTHFAILED"],"severities":["AUDIT_SUCCESS","AUDIT_FAIL"]}"#
            .into(),
    ));
    let adapter = horizon_common::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let now = jiff::Timestamp::now().as_millisecond();
    for (i, (kind, severity, module)) in [
        ("VLSI_USERLOGGEDIN", "AUDIT_SUCCESS", "Vlsi"),
        ("VLSI_USERLOGGEDOUT", "AUDIT_SUCCESS", "Vlsi"),
        ("BROKER_USERAUTHFAILED", "AUDIT_FAIL", "Broker"),
        ("BROKER_USERAUTHFAILED", "ERROR", "Broker"),
        ("AGENT_CONNECTED", "INFO", "Agent"),
        ("VLSI_USERLOGGEDIN", "AUDIT_SUCCESS", "Vlsi"),
    ]
    .into_iter()
    .enumerate()
    {
        sim.add_event(now + i as i64, kind, severity, module);
    }
    let got = sink.wait_accepted(3, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let types: Vec<String> = sink
        .accepted()
        .iter()
        .filter_map(|r| r.header("ce-type").map(str::to_owned))
        .collect();
    assert!(got.len() >= 3, "log:\n{}", adapter.log().join("\n"));
    (types, sim.last_filter())
}

#[tokio::test]
async fn a_horizon_filter_by_type_and_severity_lets_only_matching_events_through() {
    let want = [
        "com.vmware.horizon.vlsi_userloggedin.v0",
        "com.vmware.horizon.broker_userauthfailed.v0",
        "com.vmware.horizon.vlsi_userloggedin.v0",
    ];
    let (mut types, filter) = horizon_filtered(false).await;
    types.sort();
    let mut sorted = want.map(str::to_owned).to_vec();
    sorted.sort();
    assert_eq!(types, sorted);
    let filter = filter.expect("a query filter");
    assert!(
        filter.contains("VLSI_USERLOGGEDIN") && filter.contains("AUDIT_FAIL"),
        "applied by the server's query: {filter}"
    );

    // A Horizon that takes time filters only: the adapter filters, the same events arrive.
    let (mut types, _) = horizon_filtered(true).await;
    types.sort();
    assert_eq!(types, sorted);
}

/// Changing the filter (the controller re-renders the env and the adapter restarts from its
/// checkpoint): nothing delivered before is sent again, and from the checkpoint on the new
/// filter decides.
#[tokio::test]
async fn a_changed_vsphere_filter_resumes_from_the_checkpoint_without_duplicates() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let sink = RecordingSink::start().await;
    let secret = secret_dir(sim.username(), sim.password());
    let cp_dir = tempfile::tempdir().expect("dir");
    let cp = cp_dir.path().join("cp.json");
    let only = |categories: &[&str]| serde_json::json!({ "categories": categories }).to_string();
    let client = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    let post = |id: &'static str, severity: &'static str| {
        let (client, root) = (client.clone(), root.clone());
        async move {
            client
                .post_event(&event_ex(&root, id, severity, ""))
                .await
                .expect("post");
        }
    };
    let wait_for = |t: &'static str| {
        let sink = &sink;
        async move {
            let want = format!("com.vmware.vsphere.{t}.v0");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !ce_types(sink).contains(&want) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{want} did not arrive"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let mut first = vsphere_adapter(&sim, &sink, secret.path(), &cp, only(&["warning"]));
    first
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    post("test.a.warning", "warning").await;
    post("test.b.error", "error").await;
    post("test.c.warning", "warning").await;
    wait_for("test.c.warning").await;
    assert_eq!(first.terminate(Duration::from_secs(20)).await, Some(0));

    let second = vsphere_adapter(&sim, &sink, secret.path(), &cp, only(&["warning", "error"]));
    second
        .wait_log("found existing checkpoint", Duration::from_secs(30))
        .await;
    post("test.d.error", "error").await;
    post("test.e.info", "info").await;
    post("test.f.warning", "warning").await;
    wait_for("test.f.warning").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut got: Vec<String> = sink
        .accepted()
        .iter()
        .filter_map(|r| r.header("ce-type"))
        .filter(|t| t.starts_with("com.vmware.vsphere.test."))
        .map(|t| {
            t.trim_start_matches("com.vmware.vsphere.test.")
                .trim_end_matches(".v0")
                .to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        ["a.warning", "c.warning", "d.error", "f.warning"],
        "each once; the error read under the old filter before its checkpoint stays filtered \
         out; log:\n{}",
        second.log().join("\n")
    );
}
