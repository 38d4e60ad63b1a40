//! Credentials from a mounted Secret.

use std::path::{Path, PathBuf};

/// Where the Go controller mounts the Secret.
pub const DEFAULT_SECRET_PATH: &str = "/var/bindings/horizon";

/// Horizon login credentials. `Debug` shows the domain and user only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    domain: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A file could not be read.
    #[error("cannot read Horizon credentials file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A value is empty.
    #[error(
        "invalid credentials: domain, username and password must be set ({field} is empty in {dir})"
    )]
    Empty {
        /// Which one.
        field: &'static str,
        /// The directory.
        dir: String,
    },
}

impl Credentials {
    /// Credentials from values; all three must be non-empty.
    pub fn new(
        domain: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let c = Self {
            domain: domain.into(),
            username: username.into(),
            password: password.into(),
        };
        for (field, v) in [
            ("domain", &c.domain),
            ("username", &c.username),
            ("password", &c.password),
        ] {
            if v.is_empty() {
                return Err(CredentialsError::Empty {
                    field,
                    dir: "the given values".into(),
                });
            }
        }
        Ok(c)
    }

    /// Read `domain`, `username` and `password` from `dir` (raw, not trimmed, as upstream).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        let dir = dir.as_ref();
        let read = |field: &'static str| -> Result<String, CredentialsError> {
            let path = dir.join(field);
            let v = std::fs::read_to_string(&path)
                .map_err(|source| CredentialsError::Read { path, source })?;
            if v.is_empty() {
                return Err(CredentialsError::Empty {
                    field,
                    dir: dir.display().to_string(),
                });
            }
            Ok(v)
        };
        Ok(Self {
            domain: read("domain")?,
            username: read("username")?,
            password: read("password")?,
        })
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_secret_dir_and_redacts() {
        let dir = tempfile::tempdir().expect("dir");
        for (f, v) in [
            ("domain", "corp"),
            ("username", "admin"),
            ("password", "s3cr3t\n"),
        ] {
            std::fs::write(dir.path().join(f), v).expect("write");
        }
        let c = Credentials::from_dir(dir.path()).expect("read");
        assert_eq!(c.password(), "s3cr3t\n", "read raw, not trimmed");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && dbg.contains("admin"), "{dbg}");
    }

    #[test]
    fn missing_and_empty_files_are_clear() {
        let dir = tempfile::tempdir().expect("dir");
        let e = Credentials::from_dir(dir.path()).expect_err("missing");
        assert!(e.to_string().contains("domain"), "{e}");
        for (f, v) in [("domain", "corp"), ("username", ""), ("password", "p")] {
            std::fs::write(dir.path().join(f), v).expect("write");
        }
        let e = Credentials::from_dir(dir.path()).expect_err("empty");
        assert!(
            e.to_string()
                .starts_with("invalid credentials: domain, username and password must be set"),
            "{e}"
        );
        assert!(Credentials::new("d", "u", "").is_err());
    }
}
