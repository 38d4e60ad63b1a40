//! Where the test tools are: `scripts/install-test-deps.sh`'s cache, or
//! the environment.

use std::path::PathBuf;

use crate::HarnessError;

/// The directory `scripts/install-test-deps.sh` installs into.
pub fn cache_dir() -> PathBuf {
    test_support::cache_dir()
}

fn find_binary(env: &str, name: &str) -> Result<PathBuf, HarnessError> {
    const HINT: &str =
        "run scripts/install-test-deps.sh (scripts/test.sh does) and export what it prints";
    if let Some(bin) = std::env::var_os(env).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        return Err(HarnessError::MissingBinary(format!(
            "{env}={} does not exist: {HINT}",
            bin.display()
        )));
    }
    let cached = cache_dir().join("bin").join(name);
    if cached.is_file() {
        return Ok(cached);
    }
    Err(HarnessError::MissingBinary(format!(
        "{name} not found (not in ${env} nor {}): {HINT}",
        cached.display()
    )))
}

/// The kube-apiserver binary: `$KUBE_APISERVER_BIN`, else the cache.
pub fn kube_apiserver_binary() -> Result<PathBuf, HarnessError> {
    find_binary("KUBE_APISERVER_BIN", "kube-apiserver")
}

/// The etcd binary: `$ETCD_BIN`, else the cache.
pub fn etcd_binary() -> Result<PathBuf, HarnessError> {
    find_binary("ETCD_BIN", "etcd")
}

/// The directory of Knative's CRD YAML files: `$KNATIVE_CRDS_DIR`, else the
/// cache's `knative-crds`.
pub fn knative_crds_dir() -> Result<PathBuf, HarnessError> {
    let dir = std::env::var_os("KNATIVE_CRDS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("knative-crds"));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(HarnessError::MissingBinary(format!(
            "Knative CRDs not found in {}: run scripts/install-test-deps.sh",
            dir.display()
        )))
    }
}
