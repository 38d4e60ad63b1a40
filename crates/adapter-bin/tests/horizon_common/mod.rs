//! Running the `horizon-adapter` binary as a real process in tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use horizon_sim::Simulator;

/// A running adapter; killed when dropped.
pub struct Adapter {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

/// A directory with the `domain`, `username` and `password` files of a mounted Secret.
pub fn secret_dir(sim: &Simulator) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("secret dir");
    std::fs::write(dir.path().join("domain"), sim.domain()).expect("domain");
    std::fs::write(dir.path().join("username"), sim.username()).expect("username");
    std::fs::write(dir.path().join("password"), sim.password()).expect("password");
    dir
}

/// The env of a standalone run against `sim`, delivering to `sink`, checkpointing to `cp`.
pub fn env(sim: &Simulator, secret: &Path, sink: &str, cp: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HORIZON_URL", sim.url()),
        ("HORIZON_SECRET_PATH", secret.display().to_string()),
        ("K_SINK", sink.to_owned()),
        ("NAMESPACE", "ns".into()),
        ("NAME", "horizon".into()),
        ("HORIZON_CHECKPOINT_FILE", cp.display().to_string()),
        ("HORIZON_CHECKPOINT_CONFIG", r#"{"period":"200ms"}"#.into()),
        ("HORIZON_POLL_INTERVAL", "100ms".into()),
    ]
}

impl Adapter {
    /// Start the adapter with exactly these environment variables (plus PATH).
    pub fn start(env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_horizon-adapter"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("METRICS_ADDRESS", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn horizon-adapter");
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        Self {
            child: Some(child),
            log,
        }
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
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

    /// SIGTERM and wait for the exit code.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let c = self.child.as_ref()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        self.wait_exit(timeout).await
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The address of /metrics, from the log.
    pub fn metrics_address(&self) -> Option<String> {
        self.log().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["message"] == "serving /metrics, /healthz and /readyz")
                .then(|| v["address"].as_str().map(str::to_owned))
                .flatten()
        })
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `(ce-id, time in ms from the body)` of each request, in arrival order.
pub fn delivered(received: &[test_support::Received]) -> Vec<(i64, i64)> {
    received
        .iter()
        .filter_map(|r| {
            let id = r.header("ce-id")?.parse().ok()?;
            let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            Some((id, v["time"].as_i64()?))
        })
        .collect()
}

/// How often each id arrived.
pub fn counts(delivered: &[(i64, i64)]) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for (id, _) in delivered {
        *m.entry(*id).or_default() += 1;
    }
    m
}

/// The checkpoint file's `(lastEventTime, lastEventIds)`.
pub fn checkpoint(path: &Path) -> Option<(i64, Vec<i64>)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let ids = v["lastEventIds"]
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_i64)
        .collect();
    Some((v["lastEventTime"].as_i64()?, ids))
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
