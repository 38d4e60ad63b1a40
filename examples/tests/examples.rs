//! The example binaries, run as processes against vcsim with the binding's environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use binding_env::{ObjectId, RestClient};
use test_support::Vcsim;
use vsphere_client::{Client, Credentials, Value};

const LIST_VMS: &str = env!("CARGO_BIN_EXE_list-vms");
const TAG_NEW_VMS: &str = env!("CARGO_BIN_EXE_tag-new-vms");
const TAIL_EVENTS: &str = env!("CARGO_BIN_EXE_tail-events");

fn sim() -> Vcsim {
    test_support::install_crypto_provider();
    Vcsim::start().expect("vcsim starts")
}

/// A secret directory as the binding mounts it.
fn secret(username: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("username"), username).expect("write");
    std::fs::write(dir.path().join("password"), password).expect("write");
    dir
}

/// A command with only the binding's environment (nothing inherited).
fn bound(bin: &str, url: &str, secret_dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("VC_URL", url)
        .env("VC_INSECURE", "true")
        .env("VC_SECRET_PATH", secret_dir)
        .stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn soap(sim: &Vcsim) -> Client {
    Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect")
}

/// `PostEvent` of a GeneralUserEvent (vcsim does not implement `LogUserEvent`).
async fn post_user_event(client: &Client, message: &str) {
    let ty = vsphere_client::catalogue::lookup("GeneralUserEvent").expect("type");
    let event = vsphere_client::DataObject::new(ty)
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(String::new()))
        .with("fullFormattedMessage", Value::String(message.into()))
        .with("message", Value::String(message.into()));
    client.post_event(&event).await.expect("post event");
}

#[tokio::test]
async fn list_vms_prints_name_power_state_and_host() {
    let sim = sim();
    let dir = secret(sim.username(), sim.password());
    let out = bound(LIST_VMS, sim.url(), dir.path())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let expected: Vec<String> = soap(&sim)
        .await
        .list_vms()
        .await
        .expect("list")
        .into_iter()
        .map(|v| {
            format!(
                "{}\t{}\t{}",
                v.name,
                v.power_state,
                v.host_name.unwrap_or_default()
            )
        })
        .collect();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, expected);
    assert!(lines.len() >= 2);
    assert!(lines.iter().all(|l| l.split('\t').count() == 3));
}

#[test]
fn list_vms_reads_env_credentials_without_secret_files() {
    let sim = sim();
    let out = bound(LIST_VMS, sim.url(), Path::new("/nonexistent/bindings"))
        .env("VC_USERNAME", sim.username())
        .env("VC_PASSWORD", sim.password())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!out.stdout.is_empty());
}

/// Runs list-vms expecting failure; returns stderr.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {stdout} stderr {stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    stderr
}

#[test]
fn list_vms_documented_errors() {
    let sim = sim();
    let dir = secret(sim.username(), "not-the-password");

    // Missing VC_URL.
    let err = fails(bound(LIST_VMS, sim.url(), dir.path()).env_remove("VC_URL"));
    assert!(err.starts_with("list-vms: VC_URL is not set"), "{err}");

    // Missing secret files and no VC_USERNAME/VC_PASSWORD.
    let err = fails(&mut bound(
        LIST_VMS,
        sim.url(),
        Path::new("/nonexistent/bindings"),
    ));
    assert!(
        err.contains("/nonexistent/bindings/username does not exist and VC_USERNAME is not set"),
        "{err}"
    );

    // Wrong password.
    let err = fails(&mut bound(LIST_VMS, sim.url(), dir.path()));
    assert!(err.contains("refused the login for user \"user\""), "{err}");
    assert!(err.contains("fix the Secret"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // Wrong password with a trailing newline.
    let nl = secret(sim.username(), &format!("{}\n", sim.password()));
    let err = fails(&mut bound(LIST_VMS, sim.url(), nl.path()));
    assert!(err.contains("ends with a newline"), "{err}");

    // Unreachable host.
    let url = format!("https://127.0.0.1:{}", test_support::free_port());
    let err = fails(&mut bound(LIST_VMS, &url, dir.path()));
    assert!(err.contains("cannot reach vCenter"), "{err}");
    assert!(err.contains("check VC_URL"), "{err}");

    // Bad VC_INSECURE.
    let err = fails(bound(LIST_VMS, sim.url(), dir.path()).env("VC_INSECURE", "yes"));
    assert!(
        err.contains("VC_INSECURE=\"yes\" is not a boolean"),
        "{err}"
    );
}

#[tokio::test]
async fn tail_events_prints_the_history_then_follows() {
    let sim = sim();
    post_user_event(&soap(&sim).await, "hello from the history").await;
    let dir = secret(sim.username(), sim.password());
    let mut child = bound(TAIL_EVENTS, sim.url(), dir.path())
        .args(["--since-minutes", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = lines(&mut child);
    let _running = Running(child);
    let line = wait_for(&rx, "hello from the history", Duration::from_secs(20));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert_eq!(fields[2], "GeneralUserEvent");
    assert!(fields[1].parse::<i64>().is_ok());
    assert!(fields[0].parse::<jiff::Timestamp>().is_ok(), "{line}");
}

#[test]
fn tail_events_help() {
    let out = Command::new(TAIL_EVENTS)
        .arg("--help")
        .output()
        .expect("run");
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.starts_with("usage: tail-events [--since-minutes N]"),
        "{stdout}"
    );
    assert!(stdout.contains("VC_URL"), "{stdout}");
    let out = Command::new(TAIL_EVENTS)
        .arg("--since-minutes")
        .arg("ten")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("--since-minutes \"ten\" is not a number")
    );
}

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stdout lines of a child, read on a thread.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, what: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line containing {what:?}: {e}"),
        }
    }
}

#[tokio::test]
async fn tail_events_follows_new_events() {
    let sim = sim();
    let dir = secret(sim.username(), sim.password());
    let mut child = bound(TAIL_EVENTS, sim.url(), dir.path())
        .args(["--since-minutes", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = lines(&mut child);
    let _running = Running(child);
    let client = soap(&sim).await;
    // Give it time to create its collector, then post events until one shows up.
    let mut found = None;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        post_user_event(&client, &format!("followed event {i}")).await;
        let until = std::time::Instant::now() + Duration::from_millis(700);
        while let Ok(line) =
            rx.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
        {
            if line.contains("followed event") {
                found = Some(line);
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let line = found.expect("tail-events printed a new event");
    assert!(line.contains("followed event"), "{line}");
    assert!(line.contains("GeneralUserEvent"), "{line}");
    // Later events keep coming.
    post_user_event(&client, "one more").await;
    wait_for(&rx, "one more", Duration::from_secs(10));
}

async fn post_event(
    http: &reqwest::Client,
    url: &str,
    ce_type: &str,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    http.post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", "41")
        .header("ce-source", "https://vcenter/sdk")
        .header("ce-type", ce_type)
        .header("ce-eventclass", "event")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn tag_new_vms_tags_vms_from_json_and_xml_events() {
    let sim = sim();
    let dir = secret(sim.username(), sim.password());
    let mut child = bound(TAG_NEW_VMS, sim.url(), dir.path())
        .env("PORT", "0")
        .env("TAG_CATEGORY", "team")
        .env("TAG_NAME", "new")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = lines(&mut child);
    let _running = Running(child);
    let listening = wait_for(&rx, "listening on", Duration::from_secs(20));
    let port = listening
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {listening:?}"));
    let url = format!("http://127.0.0.1:{port}/");

    let vms = soap(&sim).await.list_vms().await.expect("vms");
    let (json_vm, xml_vm) = (vms[0].vm.value.clone(), vms[1].vm.value.clone());
    let http = reqwest::Client::new();

    let json = format!(
        r#"{{"Key":41,"ChainId":41,"CreatedTime":"2026-11-27T02:47:56Z","UserName":"user","Datacenter":null,"ComputeResource":null,"Host":null,"Vm":{{"Name":"x","Vm":{{"Type":"VirtualMachine","Value":"{json_vm}"}}}},"Ds":null,"Net":null,"Dvs":null,"FullFormattedMessage":"Created","ChangeTag":"","Template":false}}"#
    );
    let resp = post_event(
        &http,
        &url,
        "com.vmware.vsphere.VmCreatedEvent.v0",
        "application/json",
        json,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
    wait_for(
        &rx,
        &format!("tagged {json_vm} with team/new"),
        Duration::from_secs(5),
    );

    let xml = format!(
        r#"<VmCreatedEvent><key>42</key><chainId>42</chainId><createdTime>2026-11-27T02:47:56Z</createdTime><userName>user</userName><host><name>h</name><host type="HostSystem">host-21</host></host><vm><name>y</name><vm type="VirtualMachine">{xml_vm}</vm></vm><fullFormattedMessage>Created</fullFormattedMessage><template>false</template></VmCreatedEvent>"#
    );
    let resp = post_event(
        &http,
        &url,
        "com.vmware.vsphere.VmCreatedEvent.v0",
        "application/xml",
        xml,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);

    // Other event types are acknowledged and ignored; a payload without a VM is refused.
    let resp = post_event(
        &http,
        &url,
        "com.vmware.vsphere.VmPoweredOnEvent.v0",
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = post_event(
        &http,
        &url,
        "com.vmware.vsphere.VmCreatedEvent.v0",
        "application/json",
        r#"{"Vm":null}"#.into(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);

    // The tag is really attached, as seen through another REST client.
    let rest = RestClient::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("rest");
    let category = rest
        .find_category("team")
        .await
        .expect("find")
        .expect("category created");
    let tag = rest
        .find_tag(&category.id, "new")
        .await
        .expect("find")
        .expect("tag created");
    for vm in [&json_vm, &xml_vm] {
        assert_eq!(
            rest.list_attached_tags(&ObjectId::vm(vm))
                .await
                .expect("attached"),
            vec![tag.id.clone()],
            "{vm}"
        );
    }
    assert!(
        rest.list_attached_tags(&ObjectId::vm(&vms[2].vm.value))
            .await
            .expect("attached")
            .is_empty()
    );
}

#[test]
fn tag_new_vms_reports_a_wrong_password() {
    let sim = sim();
    let dir = secret(sim.username(), "nope");
    let err = fails(bound(TAG_NEW_VMS, sim.url(), dir.path()).env("PORT", "0"));
    assert!(err.starts_with("tag-new-vms: "), "{err}");
    assert!(err.contains("refused the REST login"), "{err}");
}

/// The keys of every session vcsim holds (`SessionManager.sessionList`).
async fn session_keys(client: &Client) -> Vec<String> {
    let sm = client
        .service_content()
        .session_manager
        .clone()
        .expect("session manager");
    let props = client
        .retrieve_properties(&sm, &["sessionList"])
        .await
        .expect("sessionList");
    // An ArrayOfUserSession holding the sessions.
    props
        .properties
        .get("sessionList")
        .and_then(Value::as_object)
        .and_then(|o| o.get("UserSession"))
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Some(s.as_object()?.get_str("key")?.to_owned()))
        .collect()
}

/// Collect printed lines into `seen` until one contains `what`.
fn collect_until(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    timeout: Duration,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(what);
                seen.push(line);
                if done {
                    return;
                }
            }
            Err(e) => panic!("no line containing {what:?} ({e}); printed: {seen:#?}"),
        }
    }
}

/// The example's whole point: the vCenter session ends in the middle (TerminateSession while the
/// stream waits on `latestPage`), the stream logs in again, and every event posted before and
/// after is printed exactly once, in order.
#[tokio::test]
async fn tail_events_survives_a_terminated_session() {
    let sim = sim();
    let dir = secret(sim.username(), sim.password());
    let client = soap(&sim).await;
    let mine = client.user_session().await.expect("session").key;
    for i in 0..3 {
        post_user_event(&client, &format!("event before-{i}")).await;
    }
    let mut child = bound(TAIL_EVENTS, sim.url(), dir.path())
        .args(["--since-minutes", "60"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = lines(&mut child);
    let stderr = child.stderr.take().expect("piped stderr");
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let running = Running(child);
    let mut seen = Vec::new();
    collect_until(&rx, &mut seen, "event before-2", Duration::from_secs(20));
    // It is now caught up and waiting on latestPage: end its session.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let others: Vec<String> = session_keys(&client)
        .await
        .into_iter()
        .filter(|k| *k != mine)
        .collect();
    assert_eq!(
        others.len(),
        1,
        "tail-events' session is listed: {others:?}"
    );
    client.terminate_sessions(&others).await.expect("terminate");
    assert!(
        !session_keys(&client).await.contains(&others[0]),
        "the session is gone"
    );
    for i in 0..5 {
        post_user_event(&client, &format!("event after-{i}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    collect_until(&rx, &mut seen, "event after-4", Duration::from_secs(30));
    // Anything printed twice would come right after; give it a moment.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(1500)) {
        seen.push(line);
    }
    drop(running);
    let ours: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("event before-") || l.contains("event after-"))
        .collect();
    let messages: Vec<&str> = ours
        .iter()
        .map(|l| l.rsplit('\t').next().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|i| format!("event before-{i}"))
        .chain((0..5).map(|i| format!("event after-{i}")))
        .collect();
    assert_eq!(messages, expected, "each event once, in order: {seen:#?}");
    let keys: Vec<i64> = seen
        .iter()
        .map(|l| {
            l.split('\t')
                .nth(1)
                .and_then(|k| k.parse().ok())
                .expect("key")
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys strictly increase (no repeats): {keys:?}"
    );
    let logs = logs.join().expect("stderr reader").join("\n");
    assert!(logs.contains("logged in to vCenter again"), "{logs}");
}
