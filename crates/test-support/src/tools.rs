//! Where the tools scripts/install-test-deps.sh installs are found.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// The directory `scripts/install-test-deps.sh` installs tools into:
/// `$VMWARE_SOURCES_CACHE`, else `$HOME/.cache/vmware-sources`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("VMWARE_SOURCES_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/root"));
            Path::new(&home).join(".cache").join("vmware-sources")
        }
    }
}

/// Finds the vcsim binary: `$VCSIM_BIN`, else `<cache_dir>/bin/vcsim`, else
/// `vcsim` on `PATH`.
///
/// # Panics
///
/// When none exists, or `VCSIM_BIN` names a missing file, with a message
/// telling to run `scripts/install-test-deps.sh`.
pub fn vcsim_binary() -> PathBuf {
    const HINT: &str = "run scripts/install-test-deps.sh and export the VCSIM_BIN it prints \
                        (scripts/test.sh does both); do not use Debian's govmomi 0.24 vcsim, \
                        its event collector is broken";
    if let Some(bin) = std::env::var_os("VCSIM_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return bin;
        }
        panic!("VCSIM_BIN={} does not exist: {HINT}", bin.display());
    }
    let cached = cache_dir().join("bin").join("vcsim");
    if cached.is_file() {
        return cached;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("vcsim");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "vcsim not found (not in $VCSIM_BIN, {}, nor on PATH): {HINT}",
        cached.display()
    );
}

/// Finds `govc`, govmomi's CLI, built by `scripts/install-test-deps.sh` from the govmomi
/// release vcsim comes from: `$GOVC_BIN`, else `<cache_dir>/bin/govc`.
///
/// # Panics
///
/// When neither exists, with a message telling to run `scripts/install-test-deps.sh`.
pub fn govc_binary() -> PathBuf {
    installed_tool(
        "GOVC_BIN",
        vec![cache_dir().join("bin").join("govc")],
        "govc",
    )
}

/// Finds a Python that has pyVmomi, installed by `scripts/install-test-deps.sh` in a venv:
/// `$PYVMOMI_PYTHON`, else `<cache_dir>/pyvmomi-<version>/bin/python`.
///
/// # Panics
///
/// When none exists, with a message telling to run `scripts/install-test-deps.sh`.
pub fn pyvmomi_python() -> PathBuf {
    let mut venvs: Vec<PathBuf> = fs::read_dir(cache_dir())
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("pyvmomi-"))
                .map(|e| e.path().join("bin").join("python"))
                .collect()
        })
        .unwrap_or_default();
    venvs.sort();
    venvs.reverse();
    installed_tool("PYVMOMI_PYTHON", venvs, "pyVmomi's Python")
}

/// `$<env>` if set (it must exist), else the first existing candidate.
fn installed_tool(env: &str, candidates: Vec<PathBuf>, what: &str) -> PathBuf {
    let hint = format!(
        "run scripts/install-test-deps.sh and export the {env} it prints (scripts/test.sh does both)"
    );
    if let Some(path) = std::env::var_os(env).filter(|b| !b.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return path;
        }
        panic!("{env}={} does not exist: {hint}", path.display());
    }
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => found.clone(),
        None => panic!(
            "{what} not found (not in ${env}, nor in {}): {hint}",
            cache_dir().display()
        ),
    }
}
