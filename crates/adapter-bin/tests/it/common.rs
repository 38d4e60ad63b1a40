//! Running the adapter binaries as real processes in tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running adapter; killed when dropped.
pub struct Adapter {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    /// The threads copying stderr and stdout; they end at EOF, after the process exits.
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// A directory with the `username` and `password` files of a mounted Secret.
pub fn secret_dir(username: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("secret dir");
    std::fs::write(dir.path().join("username"), username).expect("username");
    std::fs::write(dir.path().join("password"), password).expect("password");
    dir
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vsphere-adapter"))
}

impl Adapter {
    /// Start `vsphere-adapter` with exactly these environment variables (plus PATH).
    pub fn start(env: &[(&str, String)]) -> Self {
        Self::start_binary(&binary(), env)
    }

    /// Start the adapter binary at `path` with exactly these environment variables (plus PATH).
    pub fn start_binary(path: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(path);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("METRICS_ADDRESS", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", path.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().expect("stderr");
        let out = child.stdout.take().expect("stdout");
        let mut readers = Vec::new();
        for (pipe, sink) in [
            (Box::new(err) as Box<dyn std::io::Read + Send>, log.clone()),
            (Box::new(out), stdout.clone()),
        ] {
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut l) = sink.lock() {
                        l.push(line);
                    }
                }
            }));
        }
        Self {
            child: Some(child),
            log,
            stdout,
            readers,
        }
    }

    /// After the process exited: wait until its output is all read.
    fn drain_output(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The stdout lines so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Wait for a log line containing `text`; panics with the log on timeout.
    pub async fn wait_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().iter().any(|l| l.contains(text)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no log line with {text:?} within {timeout:?}; log:\n{}",
            self.log().join("\n")
        );
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit code (without blocking the runtime: in-process
    /// simulators and sinks must keep answering meanwhile).
    pub async fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.drain_output();
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                self.drain_output();
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The key in a checkpoint file, if any.
pub fn checkpoint_key(path: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("lastEventKey").and_then(serde_json::Value::as_i64)
}

/// `ce-id`s of requests, as numbers.
pub fn ids(received: &[test_support::Received]) -> Vec<i64> {
    received
        .iter()
        .filter_map(|r| r.header("ce-id").and_then(|v| v.parse().ok()))
        .collect()
}

/// The address the adapter serves /metrics on, from its log.
pub fn metrics_address(adapter: &Adapter) -> Option<String> {
    adapter.log().iter().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["msg"] == "serving /metrics, /healthz and /readyz")
            .then(|| v["address"].as_str().map(str::to_owned))
            .flatten()
    })
}

/// GET a path on the adapter's metrics server: status and body.
pub async fn get(adapter: &Adapter, path: &str) -> (u16, String) {
    let addr = metrics_address(adapter).expect("metrics address in the log");
    let resp = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Poll `f` until it is true or the timeout passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f()
}

/// The first accepted request for which `wanted` is true, once it arrived (panics after
/// `timeout`, with the adapter's log).
pub async fn wait_for_request(
    sink: &test_support::RecordingSink,
    adapter: &Adapter,
    timeout: Duration,
    wanted: impl Fn(&test_support::Received) -> bool,
) -> test_support::Received {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = sink.accepted().into_iter().find(|r| wanted(r)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the event did not arrive; got types {:?}\nlog:\n{}",
            sink.accepted()
                .iter()
                .map(|r| r.header("ce-type").unwrap_or_default().to_owned())
                .collect::<Vec<_>>(),
            adapter.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A simulator with `n` events over the last hour (no login events), and a checkpoint file
/// that replays all of them.
pub async fn backlog(n: usize) -> (vsphere_sim::Simulator, tempfile::TempDir) {
    test_support::install_crypto_provider();
    let sim = vsphere_sim::Simulator::builder()
        .backlog(n)
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let begin = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(90);
    std::fs::write(
        dir.path().join("cp.json"),
        format!(r#"{{"lastEventKeyTimestamp":"{begin}"}}"#),
    )
    .expect("checkpoint");
    (sim, dir)
}

/// A metric of the adapter's `/metrics` (`name` with its labels), as a number.
pub async fn metric(adapter: &Adapter, name: &str) -> Option<f64> {
    let (_, text) = get(adapter, "/metrics").await;
    text.lines()
        .find(|l| l.starts_with(&format!("vmware_sources_adapter_{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The vSphere adapter's environment for `sim`, delivering to `sink`, with a file checkpoint
/// at `checkpoint` replayed up to 2 h back and saved every 200 ms (what [`backlog`] needs).
pub fn backlog_env(
    sim: &vsphere_sim::Simulator,
    sink: &str,
    checkpoint: &std::path::Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("VC_URL", sim.url().to_owned()),
        ("VC_USERNAME", sim.username().to_owned()),
        ("VC_PASSWORD", sim.password().to_owned()),
        ("VC_SECRET_PATH", "/nonexistent".into()),
        ("K_SINK", sink.to_owned()),
        ("VSPHERE_CHECKPOINT_FILE", checkpoint.display().to_string()),
        (
            "VSPHERE_CHECKPOINT_CONFIG",
            r#"{"maxAge":"2h","period":"200ms"}"#.into(),
        ),
    ]
}
