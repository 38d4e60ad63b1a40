//! Knative's `apis.FieldError`, and what admission answers.

use std::collections::BTreeMap;
use std::fmt;

/// One Knative `apis.FieldError`: a message, the paths it applies to and
/// optional details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The message, e.g. `missing field(s)`.
    pub message: String,
    /// The field paths, e.g. `spec.address.host`.
    pub paths: Vec<String>,
    /// Details, printed on the next line.
    pub details: String,
}

impl FieldError {
    pub(super) fn new(message: impl Into<String>, paths: &[&str]) -> Self {
        Self {
            message: message.into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            details: String::new(),
        }
    }

    pub(super) fn missing(path: &str) -> Self {
        Self::new("missing field(s)", &[path])
    }

    pub(super) fn invalid(value: impl fmt::Display, path: &str) -> Self {
        Self::new(format!("invalid value: {value}"), &[path])
    }

    pub(super) fn details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
}

/// A set of field errors, rendered as Knative does: errors with the same
/// message and details merged (paths sorted), sorted by message, one per
/// line.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// No errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub(super) fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut merged: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for e in &self.0 {
            let paths = merged
                .entry((e.message.clone(), e.details.clone()))
                .or_default();
            for p in &e.paths {
                if !paths.contains(p) {
                    paths.push(p.clone());
                }
            }
        }
        let mut lines = Vec::new();
        for ((message, details), mut paths) in merged {
            paths.sort();
            let mut line = if paths.is_empty() {
                message
            } else {
                format!("{message}: {}", paths.join(", "))
            };
            if !details.is_empty() {
                line.push('\n');
                line.push_str(&details);
            }
            lines.push(line);
        }
        f.write_str(&lines.join("\n"))
    }
}
