//! The `vsphere-events` example, run as a program against vcsim.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::Vcsim;
use vsphere_client::{Client, Credentials, DataObject, Value, catalogue};

/// `cargo test` builds the crate's examples next to the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join("vsphere-events");
    assert!(
        path.exists(),
        "{} is not built; run `cargo test` (it builds examples)",
        path.display()
    );
    path
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(example())
        .args(args)
        .output()
        .expect("run vsphere-events");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn post(sim: &Vcsim, message: &str) {
    let client = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let ty = catalogue::lookup("GeneralUserEvent").expect("type");
    let event = DataObject::new(ty)
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(String::new()))
        .with("fullFormattedMessage", Value::String(message.into()))
        .with("message", Value::String(message.into()));
    client.post_event(&event).await.expect("post");
}

#[test]
fn prints_history_as_json_lines() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let (ok, stdout, stderr) = run(&[
        "--url",
        sim.url(),
        "--insecure",
        "--username",
        sim.username(),
        "--password",
        sim.password(),
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines.len() > 10, "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with(r#"{"key":1,"type":"#), "{first}");
    let keys: Vec<i64> = lines
        .iter()
        .map(|l| l["key"].as_i64().unwrap_or(-1))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    for l in &lines {
        for field in ["type", "class", "createdTime", "message"] {
            assert!(l.get(field).is_some(), "{field} missing in {l}");
        }
    }
}

#[test]
fn refuses_an_untrusted_certificate_and_a_half_given_login() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let (ok, _, stderr) = run(&["--url", sim.url()]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot reach vCenter") && stderr.contains("certificate"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["--url", sim.url(), "--insecure", "--username", "user"]);
    assert!(!ok);
    assert!(stderr.contains("--username needs --password"), "{stderr}");
}

#[tokio::test]
async fn follows_new_events() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let mut child = Command::new(example())
        .args(["--url", sim.url(), "--insecure", "--follow"])
        .env("VC_USERNAME", sim.username())
        .env("VC_PASSWORD", sim.password())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Let it reach the end of the history and start waiting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while rx.try_recv().is_ok() {}
    post(&sim, "followed & found").await;
    let mut seen = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
            && line.contains("followed & found")
        {
            seen = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = seen.expect("the posted event was printed while following");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["type"], "GeneralUserEvent");
    assert_eq!(v["class"], "event");
}
