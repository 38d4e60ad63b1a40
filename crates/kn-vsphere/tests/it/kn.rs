//! The real `kn` runs the plugin.

use std::path::{Path, PathBuf};

use crate::harness::*;

/// The `kn` binary from scripts/install-test-deps.sh.
fn kn_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("KN_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let cached = test_support::cache_dir().join("bin").join("kn");
    assert!(
        cached.is_file(),
        "kn not found (not in $KN_BIN nor {}): run scripts/install-test-deps.sh",
        cached.display()
    );
    cached
}

#[test]
fn kn_runs_the_plugin_from_the_path() {
    let ns = namespace("kn-kn");
    kn_vsphere(&[
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "vc",
        "-a",
        "https://vc.local",
        "-s",
        "creds",
        "-u",
        "http://display.default",
    ])
    .ok();
    let plugin_dir = Path::new(binary()).parent().expect("target dir");
    let path = format!(
        "{}:{}",
        plugin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().expect("home");
    let k = env().kubeconfig.to_string_lossy().into_owned();
    let home_dir = home.path().to_string_lossy().into_owned();
    let envs = [
        ("PATH", path.as_str()),
        ("HOME", home_dir.as_str()),
        ("KUBECONFIG", k.as_str()),
    ];
    let via_kn = run_with(
        &kn_binary(),
        &["vsphere", "source", "list", "-n", &ns],
        &envs,
        None,
    );
    let direct = kn_vsphere(&["source", "list", "-n", &ns]);
    let rows = table(via_kn.ok());
    assert_eq!(rows[1][..4], ["vc", "https://vc.local", "false", "creds"]);
    assert_eq!(rows[0], table(direct.ok())[0]);
    // kn lists it as a plugin.
    let plugins = run_with(&kn_binary(), &["plugin", "list"], &envs, None);
    assert!(plugins.ok().contains("kn-vsphere"), "{plugins:#?}");
}
