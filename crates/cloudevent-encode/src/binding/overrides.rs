//! `ceOverrides`: the `K_CE_OVERRIDES` extensions applied to every event.

use std::collections::BTreeMap;

/// The CloudEvents 1.0 core attribute names, which an override must not use.
pub const CORE_ATTRIBUTES: &[&str] = &[
    "id",
    "source",
    "type",
    "specversion",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
];

/// The length above which the CloudEvents spec says a name SHOULD NOT go (accepted, with a
/// warning).
pub const RECOMMENDED_MAX_NAME_LEN: usize = 20;

/// Why `K_CE_OVERRIDES` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OverridesError {
    /// Not JSON, or not `{"extensions":{"name":"value",...}}` with string values.
    #[error("K_CE_OVERRIDES is not a JSON object {{\"extensions\":{{\"name\":\"value\"}}}}: {0}")]
    Json(#[source] serde_json::Error),
    /// Valid JSON of the wrong shape.
    #[error("K_CE_OVERRIDES is not a JSON object {{\"extensions\":{{\"name\":\"value\"}}}}: {0}")]
    Shape(&'static str),
    /// An extension value is not a string.
    #[error("K_CE_OVERRIDES extension {key:?}: the value must be a string, got {got}")]
    NotAString {
        /// The extension name.
        key: String,
        /// What was given instead, e.g. `a number`.
        got: &'static str,
    },
    /// A name with characters other than lower-case letters and digits, or empty.
    #[error(
        "K_CE_OVERRIDES extension {key:?}: CloudEvents attribute names must be lower-case letters and digits (a-z, 0-9)"
    )]
    InvalidName {
        /// The offending name.
        key: String,
    },
    /// A core attribute name.
    #[error(
        "K_CE_OVERRIDES extension {key:?}: {key} is a CloudEvents core attribute and cannot be overridden"
    )]
    CoreAttribute {
        /// The offending name.
        key: String,
    },
}

/// Validated `ceOverrides` extensions, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CeOverrides {
    extensions: BTreeMap<String, String>,
}

impl CeOverrides {
    /// No overrides.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parse `K_CE_OVERRIDES`. Empty or blank input means no overrides; other top-level keys are
    /// ignored (as Knative does). Every name is validated.
    pub fn from_json(input: &str) -> Result<Self, OverridesError> {
        if input.trim().is_empty() {
            return Ok(Self::none());
        }
        let doc: serde_json::Value = serde_json::from_str(input).map_err(OverridesError::Json)?;
        let Some(top) = doc.as_object() else {
            return Err(OverridesError::Shape("the top level is not an object"));
        };
        let mut out = Self::none();
        match top.get("extensions") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => {
                            return Err(OverridesError::NotAString {
                                key: k.clone(),
                                got: json_kind(other),
                            });
                        }
                    };
                    out.insert(k, v)?;
                }
            }
            Some(_) => {
                return Err(OverridesError::Shape("\"extensions\" is not an object"));
            }
        }
        Ok(out)
    }

    /// Add one extension after validating its name.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) -> Result<(), OverridesError> {
        validate_name(name)?;
        self.extensions.insert(name.to_owned(), value.into());
        Ok(())
    }

    /// The extensions, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty()
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Check an extension name: lower-case letters and digits, not a core attribute; longer than 20
/// characters is accepted with a warning.
pub fn validate_name(name: &str) -> Result<(), OverridesError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(OverridesError::InvalidName {
            key: name.to_owned(),
        });
    }
    if CORE_ATTRIBUTES.contains(&name) {
        return Err(OverridesError::CoreAttribute {
            key: name.to_owned(),
        });
    }
    if name.len() > RECOMMENDED_MAX_NAME_LEN {
        tracing::warn!(
            extension = name,
            length = name.len(),
            "ceOverrides extension name is longer than the {RECOMMENDED_MAX_NAME_LEN} characters CloudEvents recommends; some consumers may reject it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_extensions() {
        let o = CeOverrides::from_json(r#"{"extensions":{"team":"ops","env2":"prod"},"other":1}"#)
            .unwrap();
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [("env2", "prod"), ("team", "ops")]
        );
        assert!(CeOverrides::from_json("").unwrap().is_empty());
        assert!(CeOverrides::from_json("{}").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_names_naming_the_key() {
        for (input, key) in [
            (r#"{"extensions":{"Team":"x"}}"#, "Team"),
            (r#"{"extensions":{"my-ext":"x"}}"#, "my-ext"),
            (r#"{"extensions":{"":"x"}}"#, "\"\""),
            (r#"{"extensions":{"source":"x"}}"#, "source"),
            (r#"{"extensions":{"data":"x"}}"#, "data"),
            (r#"{"extensions":{"n":1}}"#, "\"n\""),
        ] {
            let e = CeOverrides::from_json(input).expect_err(input).to_string();
            assert!(e.contains(key), "{e} should name {key}");
        }
        assert!(CeOverrides::from_json("[1]").is_err());
        assert!(CeOverrides::from_json("{\"extensions\":").is_err());
    }

    #[test]
    fn long_names_are_accepted() {
        let o =
            CeOverrides::from_json(r#"{"extensions":{"averyveryverylongname123":"x"}}"#).unwrap();
        assert_eq!(o.iter().count(), 1);
    }
}
