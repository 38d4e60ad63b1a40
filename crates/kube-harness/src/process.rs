//! A child process that dies with the test process.

use std::fs;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// Runs `$0 "$@"` and exits with its status when it exits. A watcher kills
/// it when stdin (a pipe held by the test process) reaches end of file, which
/// also happens when the test process dies without running destructors. Then
/// removes `$HARNESS_CLEANUP` if set. (Asynchronous lists get /dev/null as
/// stdin, hence the copy of stdin on fd 3.)
const WRAPPER: &str = r#"exec 3<&0
"$0" "$@" </dev/null >>"$HARNESS_LOG" 2>&1 &
child=$!
( read -r _ignored <&3; kill -KILL "$child" 2>/dev/null ) 3<&3 </dev/null >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
if [ -n "$HARNESS_CLEANUP" ]; then rm -rf "$HARNESS_CLEANUP"; fi
exit "$status"
"#;

/// A child process run under [`WRAPPER`].
pub(crate) struct Managed {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Managed {
    pub(crate) fn spawn(
        what: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
        cleanup: Option<&Path>,
    ) -> Result<Self, HarnessError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg(binary)
            .args(args)
            .env("HARNESS_LOG", &log)
            .env(
                "HARNESS_CLEANUP",
                cleanup.map(|p| p.as_os_str()).unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| HarnessError::Process {
            what,
            message: format!("cannot run {}: {e}", binary.display()),
            log: String::new(),
        })?;
        let stdin = child.stdin.take();
        Ok(Self {
            what,
            child,
            stdin,
            log,
        })
    }

    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The wrapper is still running, but the real process may have died:
    /// the wrapper keeps waiting for stdin. Read the log to tell.
    pub(crate) fn log_tail(&self) -> String {
        read_tail(&self.log)
    }

    pub(crate) fn stop(&mut self) {
        // Closing the pipe makes the wrapper kill the process and wait for it.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> HarnessError {
        HarnessError::Process {
            what: self.what,
            message: message.into(),
            log: self.log_tail(),
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn read_tail(path: &Path) -> String {
    const MAX: u64 = 8 * 1024;
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX {
        let _ = f.seek(std::io::SeekFrom::Start(len - MAX));
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
