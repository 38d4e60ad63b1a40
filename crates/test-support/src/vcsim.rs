//! govmomi's vCenter simulator as a child process, killed when dropped.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;

use crate::tools::vcsim_binary;

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
}
