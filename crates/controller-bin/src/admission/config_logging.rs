//! `config-logging` (Knative's `logging.NewConfigFromMap`).

use std::collections::BTreeMap;

use serde_json::Value;

/// The zap levels `loglevel.<component>` may take.
const ZAP_LEVELS: &[&str] = &["debug", "info", "warn", "error", "dpanic", "panic", "fatal"];

/// Validates the data of `config-logging` as Knative's
/// `logging.NewConfigFromMap`: `zap-logger-config` must be JSON (an object)
/// and every non-empty `loglevel.<component>` a zap level.
pub fn validate_config_logging(data: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(zap) = data.get("zap-logger-config")
        && !zap.trim().is_empty()
    {
        match serde_json::from_str::<Value>(zap) {
            Ok(Value::Object(_)) => {}
            Ok(_) => return Err("zap-logger-config: expected a JSON object".to_owned()),
            Err(e) => return Err(format!("zap-logger-config: {e}")),
        }
    }
    for (k, v) in data {
        if let Some(component) = k.strip_prefix("loglevel.")
            && !component.is_empty()
            && !v.is_empty()
            && !ZAP_LEVELS.contains(&v.to_lowercase().as_str())
        {
            return Err(format!("invalid logging level: {v}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_logging() {
        let ok = BTreeMap::from([
            (
                "zap-logger-config".to_owned(),
                "{\"level\":\"info\"}".to_owned(),
            ),
            ("loglevel.controller".to_owned(), "debug".to_owned()),
        ]);
        assert!(validate_config_logging(&ok).is_ok());
        let bad = BTreeMap::from([("loglevel.controller".to_owned(), "loud".to_owned())]);
        assert_eq!(
            validate_config_logging(&bad).unwrap_err(),
            "invalid logging level: loud"
        );
        let bad = BTreeMap::from([("zap-logger-config".to_owned(), "{".to_owned())]);
        assert!(validate_config_logging(&bad).is_err());
    }
}
