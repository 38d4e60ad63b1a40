//! The `vsphere-sim` binary: `--help`, start-up switches, TLS with a written certificate, fault
//! switches and the HTTP control API.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials, Error};

const BIN: &str = env!("CARGO_BIN_EXE_vsphere-sim");

/// Start the binary on a free port; returns the child and the URL it printed.
async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn vsphere-sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("started in time")
        .expect("read stdout")
        .expect("a line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, url)
}

fn credentials() -> Credentials {
    Credentials::new("administrator@vsphere.local", "VMware1!")
}

async fn control(url: &str, method: &str, path: &str) -> String {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host:port");
    let mut sock = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    sock.read_to_string(&mut resp).await.expect("read");
    resp
}

#[test]
fn help_lists_the_switches() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for switch in [
        "--listen",
        "--rate",
        "--backlog",
        "--tls",
        "--fail-first",
        "--fail-every",
        "--fail-with",
        "--latency-ms",
        "--expire-sessions-every",
        "--session-idle-timeout",
        "--unknown-event-types",
        "vimServiceVersions.xml",
        "SmartConnect",
        "govc",
    ] {
        assert!(help.contains(switch), "--help lacks {switch}:\n{help}");
    }
}

#[tokio::test]
async fn tls_backlog_and_fail_first_503() {
    test_support::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("sim.pem");
    let cert_arg = cert.display().to_string();
    let (_child, url) = start(&[
        "--tls",
        "--cert-out",
        &cert_arg,
        "--backlog",
        "1000",
        "--fail-first",
        "1",
        "--fail-with",
        "503",
    ])
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let builder = Client::builder(&url)
        .ca_bundle_file(&cert)
        .expect("certificate written")
        .credentials(credentials());
    let err = builder
        .clone()
        .connect()
        .await
        .expect_err("the first call fails");
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    let client = builder
        .connect()
        .await
        .expect("then it serves, over verified TLS");
    let root = client.service_content().root_folder.clone();
    let c = client
        .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
        .await
        .expect("collector");
    let mut n = 0;
    loop {
        let page = c.read_next(1000).await.expect("read");
        if page.is_empty() {
            break;
        }
        n += page.len();
    }
    assert_eq!(n, 1001, "the backlog and our login");
}

#[tokio::test]
async fn latency_and_session_expiry_switches() {
    test_support::install_crypto_provider();
    // Sessions end every 5 s: the call below comes after the first end, and its re-login and
    // retry (two answers of 400 ms) finish seconds before the next (every 1 s, they could
    // straddle it under load and meet a second expiry).
    let (_child, url) = start(&["--latency-ms", "400", "--expire-sessions-every", "5"]).await;
    let client = Client::builder(&url)
        .credentials(credentials())
        .keepalive(None)
        .request_timeout(Duration::from_millis(250))
        .connect()
        .await
        .expect_err("every answer takes 400 ms");
    assert!(matches!(client, Error::Timeout { .. }), "{client:?}");
    let client = Client::builder(&url)
        .credentials(credentials())
        .keepalive(None)
        .connect()
        .await
        .expect("connect with a longer timeout");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    client.current_time().await.expect("after re-login");
    assert_eq!(client.relogins(), 1, "the session was expired");
}

#[tokio::test]
async fn the_control_api_injects_faults_while_running() {
    test_support::install_crypto_provider();
    let (_child, url) = start(&["--rate", "0"]).await;
    let client = Client::builder(&url)
        .credentials(credentials())
        .keepalive(None)
        .connect()
        .await
        .expect("connect");
    let r = control(&url, "POST", "/sim/fail?count=1&with=drop").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let err = client.current_time().await.expect_err("dropped");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    control(&url, "POST", "/sim/fail?count=1&with=truncate").await;
    let err = client.current_time().await.expect_err("truncated");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    control(&url, "POST", "/sim/expire-sessions").await;
    client.current_time().await.expect("re-login");
    assert_eq!(client.relogins(), 1);
    let r = control(&url, "POST", "/sim/generate?count=25").await;
    assert!(r.contains("generated keys"), "{r}");
    let stats = control(&url, "GET", "/sim/stats").await;
    assert!(
        stats.contains("events 27"),
        "25 generated and two logins: {stats}"
    );
    assert!(stats.contains("injected 2"), "{stats}");
    let r = control(&url, "POST", "/sim/fail?with=sometimes").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}
