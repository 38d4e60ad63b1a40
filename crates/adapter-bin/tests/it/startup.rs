//! Invalid settings stop start-up with one message naming the setting.

use std::time::Duration;

use crate::common::{Adapter, secret_dir};

fn base(secret: &std::path::Path, cp: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("VC_URL", "https://127.0.0.1:1/sdk".into()),
        ("VC_SECRET_PATH", secret.display().to_string()),
        ("K_SINK", "http://127.0.0.1:1/".into()),
        ("VSPHERE_CHECKPOINT_FILE", cp.display().to_string()),
    ]
}

async fn fails_with(env: Vec<(&'static str, String)>, code: i32, needles: &[&str]) {
    let mut adapter = Adapter::start(&env);
    let got = adapter.wait_exit(Duration::from_secs(20)).await;
    let log = adapter.log().join("\n");
    assert_eq!(got, Some(code), "exit code; log:\n{log}");
    for n in needles {
        assert!(log.contains(n), "{n:?} not in:\n{log}");
    }
    assert!(!log.contains("s3cret"), "the password leaked:\n{log}");
    // Every line, the fatal one too, is a zap-shaped JSON object, as Knative components log.
    for line in adapter.log() {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["level", "ts", "logger", "caller", "msg"] {
            assert!(v[field].is_string(), "{field} in {line}");
        }
        assert_eq!(
            v["level"].as_str(),
            v["level"].as_str().map(str::to_lowercase).as_deref()
        );
    }
    let fatal = adapter
        .log()
        .into_iter()
        .find(|l| l.contains("\"fatal\""))
        .expect("a fatal line");
    assert!(fatal.contains("vsphere-source-adapter"), "{fatal}");
}

fn set(
    mut env: Vec<(&'static str, String)>,
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    env.retain(|(k, _)| *k != key);
    env.push((key, value.to_owned()));
    env
}

#[tokio::test]
async fn bad_settings_are_named() {
    let secret = secret_dir("user", "s3cret");
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    let env = base(secret.path(), &cp);
    fails_with(
        set(env.clone(), "K_SINK", "not a url"),
        2,
        &["invalid setting K_SINK"],
    )
    .await;
    fails_with(
        set(env.clone(), "K_SINK_TIMEOUT", "30s"),
        2,
        &["invalid setting K_SINK_TIMEOUT"],
    )
    .await;
    fails_with(
        set(env.clone(), "VC_URL", ""),
        2,
        &["invalid setting VC_URL"],
    )
    .await;
    fails_with(
        set(env.clone(), "VC_URL", "ftp://vc"),
        2,
        &["invalid setting VC_URL"],
    )
    .await;
    fails_with(
        set(
            env.clone(),
            "VSPHERE_CHECKPOINT_CONFIG",
            r#"{"maxAge":300}"#,
        ),
        2,
        &["invalid setting VSPHERE_CHECKPOINT_CONFIG"],
    )
    .await;
    fails_with(
        set(
            env.clone(),
            "K_CE_OVERRIDES",
            r#"{"extensions":{"Team":"x"}}"#,
        ),
        2,
        &["invalid setting K_CE_OVERRIDES", "Team"],
    )
    .await;
    fails_with(
        set(env.clone(), "VSPHERE_PAYLOAD_ENCODING", "application/yaml"),
        2,
        &["invalid setting VSPHERE_PAYLOAD_ENCODING"],
    )
    .await;
    fails_with(
        set(env.clone(), "VC_CA_CERTS", "not pem"),
        2,
        &["invalid setting VC_CA_CERTS", "caCerts"],
    )
    .await;
    fails_with(
        set(env.clone(), "VC_CA_BUNDLE", "/nonexistent/ca.pem"),
        2,
        &["invalid setting VC_CA_BUNDLE", "/nonexistent/ca.pem"],
    )
    .await;
    // A trust bundle whose certificate block does not parse: named, with its ConfigMap's label.
    let bundles = tempfile::tempdir().expect("dir");
    std::fs::write(
        bundles.path().join("ns.corp-ca.ca.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("bundle");
    fails_with(
        set(
            env.clone(),
            "K_TRUST_BUNDLES_DIR",
            &bundles.path().display().to_string(),
        ),
        2,
        &[
            "invalid setting K_TRUST_BUNDLES_DIR",
            "ns.corp-ca.ca.crt",
            "networking.knative.dev/trust-bundle",
        ],
    )
    .await;
    let mut no_store = env.clone();
    no_store.retain(|(k, _)| *k != "VSPHERE_CHECKPOINT_FILE");
    fails_with(
        no_store,
        2,
        &[
            "invalid setting VSPHERE_KVSTORE_CONFIGMAP",
            "--checkpoint-file",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_unreadable_secret_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("username"), "user").expect("username");
    // A directory where the password file should be: unreadable as a file, even for root.
    std::fs::create_dir(dir.path().join("password")).expect("password dir");
    let cp = dir.path().join("cp.json");
    fails_with(
        base(dir.path(), &cp),
        2,
        &[
            "invalid setting VC_SECRET_PATH",
            "cannot read the credentials",
        ],
    )
    .await;
    let empty = tempfile::tempdir().expect("dir");
    fails_with(
        base(empty.path(), &cp),
        2,
        &[
            "invalid setting VC_SECRET_PATH",
            "no files username and password",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_corrupt_checkpoint_stops_start_up_with_its_location() {
    let secret = secret_dir("user", "s3cret");
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    std::fs::write(&cp, "{\"lastEventKeyTimestamp\": 12").expect("write");
    fails_with(
        base(secret.path(), &cp),
        1,
        &["cp.json", "invalid checkpoint JSON"],
    )
    .await;
}
