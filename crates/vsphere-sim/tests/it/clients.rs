//! Real vSphere clients pointed at the simulator, as processes: pyVmomi's `SmartConnect` (it
//! picks the API release from `/sdk/vimServiceVersions.xml`) reading the event history, and
//! `govc about` and `govc events`. Both are installed by `scripts/install-test-deps.sh`
//! (`PYVMOMI_PYTHON`, `GOVC_BIN`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::process::Command;
use vsphere_client::events::EventFilterSpec;
use vsphere_client::{ApiVersion, Client, Credentials, Event};
use vsphere_sim::{Simulator, Tls};

use crate::common;

const PYVMOMI_READ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/pyvmomi_read.py");

/// A TLS simulator and its certificate in a file, for clients to trust.
struct Sim {
    sim: Simulator,
    _dir: tempfile::TempDir,
    cert: PathBuf,
}

async fn sim(backlog: usize, unknown_event_types: bool) -> Sim {
    let sim = Simulator::builder()
        .tls(Tls::SelfSigned(vec!["127.0.0.1".into()]))
        .backlog(backlog)
        .unknown_event_types(unknown_event_types)
        .start()
        .await
        .expect("vsphere-sim starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("sim.pem");
    std::fs::write(&cert, sim.cert_pem().expect("TLS certificate")).expect("write certificate");
    Sim {
        sim,
        _dir: dir,
        cert,
    }
}

/// Run a client to completion; its stdout, or a panic with its stderr.
async fn run(mut cmd: Command, what: &str, timeout: Duration) -> Result<String, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{what} failed ({}):\n{stderr}\n{stdout}",
            out.status
        ))
    }
}

async fn pyvmomi(s: &Sim, version: Option<&str>, check_versions: bool) -> Result<Json, String> {
    let mut cmd = Command::new(test_support::pyvmomi_python());
    cmd.arg(PYVMOMI_READ)
        .args(["--host", "127.0.0.1"])
        .args(["--port", &s.sim.addr().port().to_string()])
        .arg("--cafile")
        .arg(&s.cert)
        .args(["--user", s.sim.username(), "--password", s.sim.password()]);
    if let Some(v) = version {
        cmd.args(["--version", v]);
    }
    if check_versions {
        cmd.arg("--check-versions");
    }
    let out = run(cmd, "pyVmomi", Duration::from_secs(600)).await?;
    Ok(serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}")))
}

/// `govc` with the simulator's URL, credentials and certificate, and its own session cache.
fn govc(s: &Sim, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(test_support::govc_binary());
    cmd.args(args)
        .env("GOVC_URL", s.sim.url())
        .env("GOVC_USERNAME", s.sim.username())
        .env("GOVC_PASSWORD", s.sim.password())
        .env("GOVC_TLS_CA_CERTS", &s.cert)
        .env("GOVMOMI_HOME", home)
        .env_remove("GOVC_INSECURE")
        .env_remove("GOVC_VIM_VERSION");
    cmd
}

/// Every event of the history as a client of API release `release` reads it.
async fn history(s: &Sim, release: Option<&str>) -> Vec<Event> {
    let mut builder = Client::builder(s.sim.url())
        .credentials(Credentials::new(s.sim.username(), s.sim.password()))
        .ca_bundle_pem(s.sim.cert_pem().expect("certificate").as_bytes().to_vec());
    if let Some(r) = release {
        builder = builder.api_version(ApiVersion::Fixed(r.into()));
    }
    let client = builder.connect().await.expect("connect");
    common::drain(&client, &EventFilterSpec::new()).await
}

fn type_counts(events: &[Event]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in events {
        *counts.entry(e.type_name().to_owned()).or_default() += 1;
    }
    counts
}

fn json_counts(summary: &Json) -> BTreeMap<String, u64> {
    summary["types"]
        .as_object()
        .expect("types")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_smartconnect_reads_a_100000_event_backlog_in_key_order() {
    let s = sim(100_000, false).await;
    let summary = pyvmomi(&s, None, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // SmartConnect picked the server's release from vimServiceVersions.xml.
    assert_eq!(summary["stub_version"], "vim.version.v8_0_3_0", "{summary}");
    assert_eq!(summary["about"]["apiVersion"], "8.0.3.0");
    let about = s.sim.about();
    assert_eq!(
        summary["about"]["instanceUuid"].as_str(),
        about.get_str("instanceUuid")
    );
    // The backlog and pyVmomi's own login, every key once, ascending.
    let count = summary["count"].as_u64().expect("count");
    assert_eq!(count, 100_001, "{summary}");
    assert_eq!(summary["first"], 1);
    assert_eq!(summary["last"], 100_001);
    assert_eq!(summary["ascending"], true);
    assert_eq!(
        summary["types"]["UserLoginSessionEvent"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );
    assert!(
        summary["types"]
            .get(vsphere_sim::UNKNOWN_EVENT_TYPE)
            .is_none()
    );
    // Properties read through Fetch.
    let page: Vec<u64> = summary["latest_page"]
        .as_array()
        .expect("latestPage")
        .iter()
        .filter_map(Json::as_u64)
        .collect();
    assert_eq!(page.len(), vsphere_sim::DEFAULT_PAGE);
    assert_eq!(page.first(), Some(&100_001), "newest first: {page:?}");
    assert!(page.windows(2).all(|w| w[0] == w[1] + 1), "{page:?}");
    assert_eq!(summary["latest_event"], 100_001);
    assert_eq!(summary["max_collector"], 32);
    assert!(
        summary["event_info"].as_u64().is_some_and(|n| n > 400),
        "{summary}"
    );
    assert_eq!(summary["session_user"], s.sim.username());
    // What pyVmomi read is what the simulator holds (types as sent: pyVmomi widens a type it
    // deems too new for the release, so equal counts also mean nothing was too new).
    let held = history(&s, None).await;
    let held: Vec<Event> = held.into_iter().filter(|e| e.key() <= 100_001).collect();
    assert_eq!(json_counts(&summary), type_counts(&held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_pinned_to_an_older_release_gets_only_its_types_and_fields() {
    let s = sim(4_000, false).await;
    for (version, release) in [
        ("vim.version.version5", "4.0"),
        ("vim.version.version10", "6.0"),
        ("vim.version.version12", "6.7"),
        ("vim.version.v7_0_3_0", "7.0.3.0"),
    ] {
        let summary = pyvmomi(&s, Some(version), true)
            .await
            .unwrap_or_else(|e| panic!("{release}: {e}"));
        assert_eq!(summary["stub_version"], version);
        assert_eq!(summary["ascending"], true);
        assert_eq!(
            summary["newer"],
            Json::Array(Vec::new()),
            "{release}: types or fields newer than the release"
        );
        let last = summary["last"].as_i64().expect("last");
        let held: Vec<Event> = history(&s, Some(release))
            .await
            .into_iter()
            .filter(|e| e.key() <= last)
            .collect();
        assert_eq!(json_counts(&summary), type_counts(&held), "{release}");
        if release == "6.0" {
            // VmReconfiguredEvent.configChanges came with 6.5: left out for 6.0.
            let reconfigured = held
                .iter()
                .filter(|e| e.type_name() == "VmReconfiguredEvent")
                .collect::<Vec<_>>();
            assert!(!reconfigured.is_empty());
            assert!(
                reconfigured
                    .iter()
                    .all(|e| e.object().get("configChanges").is_none())
            );
        }
    }
    // The same events, read in the server's release, do have the 6.5 field.
    let newest = history(&s, None).await;
    assert!(
        newest
            .iter()
            .filter(|e| e.type_name() == "VmReconfiguredEvent")
            .all(|e| e.object().get("configChanges").is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unknown_event_type_is_generated_only_when_switched_on() {
    let off = sim(3_000, false).await;
    pyvmomi(&off, None, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let on = sim(3_000, true).await;
    let err = pyvmomi(&on, None, false)
        .await
        .expect_err("pyVmomi cannot read a type no release has");
    assert!(
        err.contains(vsphere_sim::UNKNOWN_EVENT_TYPE),
        "pyVmomi failed for another reason:\n{err}"
    );
}

/// `Key:   value` lines.
fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govc_about_prints_what_the_simulator_serves() {
    let s = sim(10, false).await;
    let home = tempfile::tempdir().expect("home");
    let out = run(
        govc(&s, home.path(), &["about"]),
        "govc about",
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let got = fields(&out);
    let about = s.sim.about();
    for (label, field) in [
        ("FullName", "fullName"),
        ("Name", "name"),
        ("Vendor", "vendor"),
        ("Version", "version"),
        ("Build", "build"),
        ("OS type", "osType"),
        ("API type", "apiType"),
        ("API version", "apiVersion"),
        ("Product ID", "productLineId"),
        ("UUID", "instanceUuid"),
    ] {
        assert_eq!(
            got.get(label).map(String::as_str),
            about.get_str(field),
            "{label}:\n{out}"
        );
    }
    // With -vim-version -, govc reads its API version from /sdk/vimServiceVersions.xml.
    let out = run(
        govc(
            &s,
            home.path(),
            &["about", "-c", "-json", "-vim-version", "-"],
        ),
        "govc about -c",
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let json: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        json["client"]["version"],
        vsphere_sim::SERVER_API_VERSION,
        "{out}"
    );
    assert_eq!(json["about"]["apiVersion"], vsphere_sim::SERVER_API_VERSION);
}

/// govc's JSON records, one object after another.
fn records(out: &str) -> Vec<Json> {
    serde_json::Deserializer::from_str(out)
        .into_iter::<Json>()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}: {out}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn govc_events_prints_the_events_the_simulator_holds() {
    let backlog = 5_000;
    let s = sim(backlog, false).await;
    let home = tempfile::tempdir().expect("home");
    let out = run(
        govc(&s, home.path(), &["events", "-n", "50", "-l", "-json"]),
        "govc events",
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let got = records(&out);
    assert_eq!(got.len(), 50, "{out}");
    let keys: Vec<i64> = got
        .iter()
        .map(|r| r["key"].as_i64().expect("key"))
        .collect();
    // The newest 50 when govc read them: the backlog's last 49 and govc's own login.
    let newest = backlog as i64 + 1;
    assert_eq!(keys, ((newest - 49)..=newest).collect::<Vec<_>>(), "{out}");
    let held: BTreeMap<i64, Event> = history(&s, None)
        .await
        .into_iter()
        .map(|e| (e.key(), e))
        .collect();
    assert!(
        held[&newest]
            .object()
            .get_str("userAgent")
            .is_some_and(|a| a.starts_with("govc/")),
        "the newest is govc's login"
    );
    for r in &got {
        let e = &held[&r["key"].as_i64().expect("key")];
        let ex = e.type_name() == "EventEx";
        let kind = if ex { e.kind_name() } else { e.type_name() };
        assert_eq!(r["type"], kind, "{r}");
        let category = if ex {
            e.object().get_str("severity").unwrap_or("info")
        } else {
            vsphere_sim::event_category(e.type_name())
        };
        assert_eq!(r["category"], category, "{r}");
        let message = e.full_formatted_message().expect("message").trim();
        assert!(
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message)),
            "{r} vs {message:?}"
        );
        let created = e.created_time().expect("createdTime");
        let printed: jiff::Timestamp = r["createdTime"]
            .as_str()
            .expect("createdTime")
            .parse()
            .expect("RFC 3339");
        assert_eq!(printed, created, "{r}");
    }
    // The text listing has the same events, and -type filters by type.
    let text = run(
        govc(&s, home.path(), &["events", "-n", "10", "-l"]),
        "govc events",
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for r in &got[41..] {
        let line = format!("[{}] [{}]", r["key"], r["type"].as_str().expect("type"));
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    let powered_on = run(
        govc(
            &s,
            home.path(),
            &[
                "events",
                "-n",
                "20",
                "-l",
                "-json",
                "-type",
                "VmPoweredOnEvent",
            ],
        ),
        "govc events -type",
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let on = records(&powered_on);
    assert_eq!(on.len(), 20, "{powered_on}");
    assert!(on.iter().all(|r| r["type"] == "VmPoweredOnEvent"));
    let all_on: Vec<i64> = held
        .values()
        .filter(|e| e.type_name() == "VmPoweredOnEvent")
        .map(Event::key)
        .collect();
    let expected = &all_on[all_on.len().saturating_sub(20)..];
    let printed: Vec<i64> = on.iter().filter_map(|r| r["key"].as_i64()).collect();
    assert_eq!(printed, expected);
}
