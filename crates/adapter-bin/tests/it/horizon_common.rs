//! The `horizon-adapter` binary in tests: its env against the simulator, and what it delivered.

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::common::Adapter;

use horizon_sim::Simulator;

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

/// Start `horizon-adapter` with exactly these environment variables (plus PATH).
pub fn start(env: &[(&str, String)]) -> Adapter {
    Adapter::start_binary(Path::new(env!("CARGO_BIN_EXE_horizon-adapter")), env)
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
