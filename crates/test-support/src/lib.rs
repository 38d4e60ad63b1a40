//! Test helpers shared by the workspace's tests, benches and examples.
//!
//! This crate is only ever a dev-dependency. It knows nothing about the vSphere
//! client or Kubernetes; it provides the environment those tests run in:
//!
//! - [`install_crypto_provider`] makes `ring` the process-wide rustls crypto
//!   provider (the workspace builds rustls and reqwest without a default one).
//! - [`Vcsim`] starts govmomi's vCenter simulator on a free loopback port and
//!   stops it when dropped, including when the test panics.
//! - [`TestPki`] makes a throw-away CA and a server certificate for given DNS
//!   names or IP addresses, written as PEM files into a temporary directory.
//! - [`free_port`] finds an unused TCP port on 127.0.0.1.
//! - [`RecordingSink`] is a real HTTP sink that records requests and answers with scripted
//!   statuses, for delivery tests.
//!
//! The vcsim binary is installed by `scripts/install-test-deps.sh`, which
//! prints the `VCSIM_BIN` to export; see [`vcsim_binary`] for how it is found.
//! The same script installs the real clients tests point at simulators: govc
//! ([`govc_binary`], `GOVC_BIN`) and pyVmomi ([`pyvmomi_python`], `PYVMOMI_PYTHON`).
//!
//! ```no_run
//! use test_support::{TestPki, Vcsim};
//!
//! // vcsim with its own self-signed certificate, user "user", password "pass".
//! let sim = Vcsim::start().expect("vcsim starts");
//! println!("{} as {}", sim.url(), sim.username());
//!
//! // vcsim serving a certificate signed by a CA the test controls.
//! let pki = TestPki::new(&["localhost", "127.0.0.1"]);
//! let sim = Vcsim::builder()
//!     .cert(pki.cert_pem_path(), pki.key_pem_path())
//!     .start()
//!     .expect("vcsim starts");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod sink;
pub use sink::{Received, RecordingSink};

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::{NamedTempFile, TempDir};

/// Installs `rustls`'s `ring` provider as the process-wide default crypto
/// provider.
///
/// Idempotent: calling it again, from any thread, or after another provider
/// was installed, does nothing.
pub fn install_crypto_provider() {
    // `install_default` fails only when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Returns a TCP port on 127.0.0.1 that was free when this function ran.
///
/// The port is released before returning, so another process may take it
/// before the caller binds it; prefer letting the server bind port 0 where it
/// can (as [`Vcsim`] does).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port on 127.0.0.1")
        .port()
}

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

/// Why [`Vcsim`] could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcsimError(String);

impl VcsimError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }

    /// The message, which includes vcsim's stderr when it had printed any.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VcsimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VcsimError {}

/// Configures and starts a [`Vcsim`]. Made by [`Vcsim::builder`].
#[derive(Debug, Clone)]
pub struct VcsimBuilder {
    tls: bool,
    cert: Option<(PathBuf, PathBuf)>,
    username: String,
    password: String,
    binary: Option<PathBuf>,
    args: Vec<OsString>,
    startup_timeout: Duration,
}

impl Default for VcsimBuilder {
    fn default() -> Self {
        Self {
            tls: true,
            cert: None,
            username: "user".to_owned(),
            password: "pass".to_owned(),
            binary: None,
            args: Vec::new(),
            startup_timeout: Duration::from_secs(20),
        }
    }
}

impl VcsimBuilder {
    /// Serves HTTPS (the default) or plain HTTP (`-tls=false`).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Serves this certificate (PEM, may hold a chain) and private key (PEM)
    /// instead of vcsim's built-in self-signed one. Implies TLS.
    pub fn cert(mut self, cert_pem_path: impl AsRef<Path>, key_pem_path: impl AsRef<Path>) -> Self {
        self.cert = Some((
            cert_pem_path.as_ref().to_path_buf(),
            key_pem_path.as_ref().to_path_buf(),
        ));
        self
    }

    /// The only user name vcsim accepts (default `user`).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }

    /// The only password vcsim accepts (default `pass`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = password.into();
        self
    }

    /// Uses this vcsim binary instead of the one [`vcsim_binary`] finds.
    pub fn binary(mut self, binary: impl AsRef<Path>) -> Self {
        self.binary = Some(binary.as_ref().to_path_buf());
        self
    }

    /// Passes an extra flag to vcsim, e.g. `-method-delay` or model sizes
    /// such as `-vm 5`. Call once per argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long to wait for vcsim to report its URL (default 20 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts vcsim on a free port of 127.0.0.1 and waits until it listens.
    ///
    /// # Panics
    ///
    /// When no vcsim binary is installed; see [`vcsim_binary`].
    pub fn start(self) -> Result<Vcsim, VcsimError> {
        if self.cert.is_some() && !self.tls {
            return Err(VcsimError::new(
                "vcsim: a certificate was given but TLS is disabled",
            ));
        }
        let binary = self.binary.clone().unwrap_or_else(vcsim_binary);
        let stderr_log = NamedTempFile::with_prefix("vcsim-stderr-")
            .map_err(|e| VcsimError::new(format!("vcsim: creating the stderr log: {e}")))?;
        let stderr_file = stderr_log
            .reopen()
            .map_err(|e| VcsimError::new(format!("vcsim: opening the stderr log: {e}")))?;

        let mut cmd = Command::new(&binary);
        cmd.arg("-l")
            .arg("127.0.0.1:0")
            .arg("-username")
            .arg(&self.username)
            .arg("-password")
            .arg(&self.password)
            .arg(format!("-tls={}", self.tls))
            // Exit when stdin closes: if the test process dies without
            // running Drop (SIGKILL, abort), vcsim does not outlive it.
            .arg("-stdinexit");
        if let Some((cert, key)) = &self.cert {
            cmd.arg("-tlscert").arg(cert).arg("-tlskey").arg(key);
        }
        cmd.args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file));

        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| VcsimError::new(format!("vcsim: cannot run {}: {e}", binary.display())))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");

        // Read stdout on a thread: it hands over the GOVC_URL line, then keeps
        // draining so vcsim never blocks writing to a full pipe.
        let (tx, rx) = mpsc::channel::<String>();
        thread::Builder::new()
            .name("vcsim-stdout".to_owned())
            .spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("GOVC_URL=")
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(line);
                    }
                }
            })
            .map_err(|e| VcsimError::new(format!("vcsim: spawning the reader thread: {e}")))?;

        let mut sim = Vcsim {
            child,
            stdin,
            stderr_log,
            url: String::new(),
            host_port: String::new(),
            username: self.username,
            password: self.password,
            pid: 0,
            tls: self.tls,
            startup: Duration::ZERO,
        };
        let line = match rx.recv_timeout(self.startup_timeout) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stdout closed without the line: vcsim is exiting.
                let status = sim.wait_exit(Duration::from_secs(5));
                return Err(sim.startup_error(&format!(
                    "vcsim exited before reporting its URL ({})",
                    describe_status(status)
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(sim.startup_error(&format!(
                    "vcsim did not report its URL within {:?}",
                    self.startup_timeout
                )));
            }
        };
        let parsed = parse_govc_line(&line)
            .ok_or_else(|| sim.startup_error(&format!("cannot parse vcsim's line {line:?}")))?;
        sim.url = parsed.url;
        sim.host_port = parsed.host_port;
        sim.pid = parsed.pid.unwrap_or_else(|| sim.child.id());
        sim.startup = started.elapsed();
        Ok(sim)
    }
}

/// A running govmomi vCenter simulator, killed when dropped.
///
/// Listens on a free port of 127.0.0.1. The default model (one datacenter,
/// one cluster of three hosts, a standalone host, a few VMs) starts in well
/// under a second.
pub struct Vcsim {
    child: Child,
    /// Held open so `-stdinexit` fires only when this process goes away.
    stdin: Option<ChildStdin>,
    stderr_log: NamedTempFile,
    url: String,
    host_port: String,
    username: String,
    password: String,
    pid: u32,
    tls: bool,
    startup: Duration,
}

impl fmt::Debug for Vcsim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vcsim")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("pid", &self.pid)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Vcsim {
    /// A builder, defaulting to TLS with vcsim's own self-signed certificate,
    /// user `user` and password `pass`.
    pub fn builder() -> VcsimBuilder {
        VcsimBuilder::default()
    }

    /// Starts vcsim with the [`builder`](Self::builder)'s defaults.
    ///
    /// # Panics
    ///
    /// When no vcsim binary is installed; see [`vcsim_binary`].
    pub fn start() -> Result<Self, VcsimError> {
        Self::builder().start()
    }

    /// The SDK URL without user info, e.g. `https://127.0.0.1:40123/sdk`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// The port vcsim listens on.
    pub fn port(&self) -> u16 {
        self.host_port
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("host_port ends with a port")
    }

    /// The user name vcsim accepts.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password vcsim accepts.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// vcsim's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether vcsim serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// How long [`start`](VcsimBuilder::start) waited for vcsim to listen.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// What vcsim printed to stderr so far (for failure messages).
    pub fn stderr_output(&self) -> String {
        read_log(self.stderr_log.path())
    }

    /// Stops vcsim now (same as dropping it).
    pub fn stop(self) {}

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }

    fn startup_error(&mut self, what: &str) -> VcsimError {
        self.kill();
        let stderr = self.stderr_output();
        let stderr = stderr.trim();
        if stderr.is_empty() {
            VcsimError::new(format!("{what}; vcsim printed nothing on stderr"))
        } else {
            VcsimError::new(format!("{what}; vcsim's stderr:\n{stderr}"))
        }
    }

    fn kill(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe_status(status: Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "still running".to_owned(),
    }
}

fn read_log(path: &Path) -> String {
    let mut out = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        // Keep the tail: the interesting part of a long log is at its end.
        const MAX: u64 = 16 * 1024;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX {
            let _ = f.seek(std::io::SeekFrom::Start(len - MAX));
        }
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        out = String::from_utf8_lossy(&buf).into_owned();
    }
    out
}

struct GovcLine {
    url: String,
    host_port: String,
    pid: Option<u32>,
}

/// Parses `export GOVC_URL=https://user:pass@127.0.0.1:PORT/sdk GOVC_SIM_PID=N`.
fn parse_govc_line(line: &str) -> Option<GovcLine> {
    let mut url_with_user = None;
    let mut pid = None;
    for token in line.split_whitespace() {
        if let Some(v) = token.strip_prefix("GOVC_URL=") {
            url_with_user = Some(v);
        } else if let Some(v) = token.strip_prefix("GOVC_SIM_PID=") {
            pid = v.parse().ok();
        }
    }
    let (scheme, rest) = url_with_user?.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() || !host_port.contains(':') {
        return None;
    }
    Some(GovcLine {
        url: format!("{scheme}://{host_port}{path}"),
        host_port: host_port.to_owned(),
        pid,
    })
}

/// `<pid>-<counter>-<nanoseconds>`: unique within and across test processes.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A throw-away certificate authority and one server certificate it signed,
/// written as PEM files into a temporary directory that lives as long as this
/// value.
///
/// The CA's common name is `vmware-sources test CA <unique suffix>` (unique, so
/// that a client trusting one `TestPki`'s CA reports another's certificate as
/// `UnknownIssuer` rather than `BadSignature`); the server certificate has the
/// given names as subject alternative names (DNS names, or IP addresses when
/// they parse as one) and the first as common name. Keys are ECDSA P-256.
pub struct TestPki {
    dir: TempDir,
    names: Vec<String>,
    ca_pem: String,
    ca_der: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir.path())
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl TestPki {
    const CA_FILE: &str = "ca.pem";
    const CERT_FILE: &str = "server.pem";
    const KEY_FILE: &str = "server-key.pem";

    /// Makes a CA and a server certificate for `names`, e.g.
    /// `&["localhost", "127.0.0.1"]`; use a name that the client will not
    /// connect to (`&["vcenter.invalid"]`) to test a name mismatch.
    ///
    /// # Panics
    ///
    /// When `names` is empty or holds a name that is not a valid DNS name or
    /// IP address, or when the files cannot be written.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_owned()).collect();
        assert!(!names.is_empty(), "TestPki needs at least one name");

        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("vmware-sources test CA {}", unique_suffix()),
        );
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

        let mut params = CertificateParams::new(names.clone())
            .unwrap_or_else(|e| panic!("TestPki: invalid names {names:?}: {e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate the server key");
        let cert = params.signed_by(&key, &ca).expect("sign the server cert");

        let pki = Self {
            dir: tempfile::Builder::new()
                .prefix("vmware-sources-pki-")
                .tempdir()
                .expect("create a temporary directory"),
            names,
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
        };
        for (file, pem) in [
            (Self::CA_FILE, &pki.ca_pem),
            (Self::CERT_FILE, &pki.cert_pem),
            (Self::KEY_FILE, &pki.key_pem),
        ] {
            let path = pki.dir.path().join(file);
            fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        pki
    }

    /// A CA and a certificate for `localhost` and `127.0.0.1`.
    pub fn localhost() -> Self {
        Self::new(&["localhost", "127.0.0.1"])
    }

    /// The names the server certificate is valid for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the CA certificate (PEM), for a CA bundle setting.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::CA_FILE)
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Path of the server certificate (PEM, the leaf only).
    pub fn cert_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::CERT_FILE)
    }

    /// The server certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Path of the server's private key (PKCS#8 PEM).
    pub fn key_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::KEY_FILE)
    }

    /// The server's private key (PKCS#8 PEM).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_govc_line() {
        let l = parse_govc_line(
            "export GOVC_URL=https://user:pass@127.0.0.1:36985/sdk GOVC_SIM_PID=6763",
        )
        .unwrap();
        assert_eq!(l.url, "https://127.0.0.1:36985/sdk");
        assert_eq!(l.host_port, "127.0.0.1:36985");
        assert_eq!(l.pid, Some(6763));

        let l = parse_govc_line("export GOVC_URL=http://u%40x:p%3A@127.0.0.1:1/sdk").unwrap();
        assert_eq!(l.url, "http://127.0.0.1:1/sdk");
        assert_eq!(l.pid, None);

        assert!(parse_govc_line("Press any key to exit").is_none());
    }

    #[test]
    fn crypto_provider_install_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn pki_writes_pem_files() {
        let pki = TestPki::localhost();
        assert!(
            fs::read_to_string(pki.ca_pem_path())
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(
            fs::read_to_string(pki.cert_pem_path())
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(
            fs::read_to_string(pki.key_pem_path())
                .unwrap()
                .contains("PRIVATE KEY")
        );
        assert_eq!(pki.ca_pem(), fs::read_to_string(pki.ca_pem_path()).unwrap());
        let dir = pki.dir().to_path_buf();
        drop(pki);
        assert!(!dir.exists(), "the directory goes away with the TestPki");
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
