//! Output: kn's list tables (Go's `text/tabwriter` with kn's settings, kn's condition
//! summaries, apimachinery's `HumanDuration` ages) and kubectl's JSON and YAML printers.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;
use sources_api::duck::Condition;

use crate::cli::Output;
use crate::error::Error;

/// kn's tab writer: `tabwriter.NewWriter(out, 6, 4, 3, ' ', tabwriter.TabIndent)`.
const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Lays out `lines` as Go's `text/tabwriter` does with kn's settings: every cell but the last
/// of a line is padded to its column's width (the widest cell plus 3, at least 6); the last
/// cell is written as is. Lines must have the same number of cells.
pub fn tabwrite(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![MIN_WIDTH; columns.saturating_sub(1)];
    for line in lines {
        for (i, cell) in line.iter().enumerate().take(columns.saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + PADDING);
        }
    }
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(i)
                && i + 1 < line.len()
            {
                out.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// A kn list table: the header (upper-cased column names, `NAMESPACE` only with
/// `all_namespaces`) and the rows.
pub fn list_table(
    columns: &[&str],
    rows: Vec<Vec<String>>,
    all_namespaces: bool,
    no_headers: bool,
) -> String {
    let mut lines = Vec::with_capacity(rows.len() + 1);
    if !no_headers {
        lines.push(
            columns
                .iter()
                .filter(|c| all_namespaces || **c != "Namespace")
                .map(|c| c.to_uppercase())
                .collect(),
        );
    }
    lines.extend(rows);
    tabwrite(&lines)
}

/// apimachinery's `duration.HumanDuration`: `42s`, `5m30s`, `3h12m`, `2d5h`, `1y20d`.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_owned();
    } else if seconds < 0 {
        return "0s".to_owned();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// kn's `TranslateTimestampSince`: the age of an RFC 3339 time, `<unknown>` without one.
pub fn age(time: Option<&str>, now: Timestamp) -> String {
    match time.and_then(|t| t.parse::<Timestamp>().ok()) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_owned(),
    }
}

/// kn's `ConditionsValue`: `<true> OK / <all>`.
pub fn conditions_value(conditions: &[Condition]) -> String {
    let ok = conditions.iter().filter(|c| c.status == "True").count();
    format!("{ok} OK / {}", conditions.len())
}

/// kn's `ReadyCondition`: the Ready condition's status, or `<unknown>`.
pub fn ready_condition(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "<unknown>".to_owned())
}

/// kn's `NonReadyConditionReason`: empty when Ready, else `reason : message` (or the reason),
/// `<unknown>` without a Ready condition.
pub fn non_ready_reason(conditions: &[Condition]) -> String {
    let Some(ready) = conditions.iter().find(|c| c.type_ == "Ready") else {
        return "<unknown>".to_owned();
    };
    if ready.status == "True" {
        return String::new();
    }
    let reason = ready.reason.clone().unwrap_or_default();
    match ready.message.as_deref() {
        Some(m) if !m.is_empty() => format!("{reason} : {m}"),
        _ => reason,
    }
}

/// Removes `metadata.managedFields` from an object or from each item of a list, as kubectl's
/// printers do unless `--show-managed-fields`.
pub fn strip_managed_fields(value: &mut Value) {
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip_managed_fields);
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// An object or a list in `format`: JSON indented by four spaces (kubectl's
/// `json.MarshalIndent`) or YAML, both ending with a newline; `<kind>.<group>/<name>` lines (the
/// object, or each item of a list); or a JSONPath template applied to it, as kubectl prints it
/// (no newline added).
pub fn render(value: &Value, format: &Output) -> Result<String, Error> {
    match format {
        Output::Json => {
            let mut buf = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            value
                .serialize(&mut ser)
                .map_err(|e| Error::Render(e.to_string()))?;
            buf.push(b'\n');
            String::from_utf8(buf).map_err(|e| Error::Render(e.to_string()))
        }
        Output::Yaml => serde_yaml::to_string(value).map_err(|e| Error::Render(e.to_string())),
        Output::Name => {
            let objects = match value.get("items").and_then(Value::as_array) {
                Some(items) => items.iter().collect(),
                None => vec![value],
            };
            Ok(objects
                .into_iter()
                .map(|o| qualified_name(o) + "\n")
                .collect())
        }
        Output::JsonPath(template) => Ok(template.render(value)?),
    }
}

/// kubectl's `-o name`: `<kind, lower case>.<API group>/<name>`, e.g.
/// `vspheresource.sources.tanzu.vmware.com/vc-01` (`<kind>/<name>` for the core group).
pub fn qualified_name(obj: &Value) -> String {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let kind = text("/kind").to_lowercase();
    let name = text("/metadata/name");
    match text("/apiVersion").split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_tabwriter_layout() {
        let lines = vec![
            vec!["NAME".into(), "READY".into(), "REASON".into()],
            vec!["a".into(), "True".into(), String::new()],
            vec![
                "longer-name".into(),
                "False".into(),
                "Oops : it broke".into(),
            ],
        ];
        // NAME column: max(11 + 3, 6) = 14; READY: max(5 + 3, 6) = 8; the last is unpadded.
        assert_eq!(
            tabwrite(&lines),
            "NAME          READY   REASON\n\
             a             True    \n\
             longer-name   False   Oops : it broke\n"
        );
        // Narrow columns take the minimum width 6.
        assert_eq!(tabwrite(&[vec!["a".into(), "b".into()]]), "a     b\n");
    }

    #[test]
    fn apimachinery_human_durations() {
        let d = |s: i64| human_duration(SignedDuration::from_secs(s));
        assert_eq!(d(-5), "<invalid>");
        assert_eq!(d(0), "0s");
        assert_eq!(d(119), "119s");
        assert_eq!(d(120), "2m");
        assert_eq!(d(150), "2m30s");
        assert_eq!(d(600), "10m");
        assert_eq!(d(179 * 60), "179m");
        assert_eq!(d(3 * 3600), "3h");
        assert_eq!(d(3 * 3600 + 120), "3h2m");
        assert_eq!(d(47 * 3600), "47h");
        assert_eq!(d(49 * 3600), "2d1h");
        assert_eq!(d(10 * 86400), "10d");
        assert_eq!(d(800 * 86400), "2y70d");
        assert_eq!(d(9 * 365 * 86400), "9y");
    }

    #[test]
    fn kn_condition_summaries() {
        let c = |t: &str, s: &str, r: Option<&str>, m: Option<&str>| Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.map(Into::into),
            message: m.map(Into::into),
            ..Condition::default()
        };
        let none: Vec<Condition> = vec![];
        assert_eq!(conditions_value(&none), "0 OK / 0");
        assert_eq!(ready_condition(&none), "<unknown>");
        assert_eq!(non_ready_reason(&none), "<unknown>");
        let set = vec![
            c("AuthReady", "True", None, None),
            c("Ready", "False", Some("SecretMissing"), Some("no secret")),
        ];
        assert_eq!(conditions_value(&set), "1 OK / 2");
        assert_eq!(ready_condition(&set), "False");
        assert_eq!(non_ready_reason(&set), "SecretMissing : no secret");
        let ready = vec![c("Ready", "True", Some("x"), Some("y"))];
        assert_eq!(non_ready_reason(&ready), "");
    }

    #[test]
    fn names_and_templates_of_objects_and_lists() {
        let obj = serde_json::json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1",
            "kind": "VSphereSource", "metadata": {"name": "vc-01"}});
        let list = serde_json::json!({"kind": "VSphereSourceList", "items": [obj.clone(),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}}]});
        assert_eq!(
            render(&obj, &Output::Name).expect("name"),
            "vspheresource.sources.tanzu.vmware.com/vc-01\n"
        );
        assert_eq!(
            render(&list, &Output::Name).expect("names"),
            "vspheresource.sources.tanzu.vmware.com/vc-01\nsecret/creds\n"
        );
        let names: Output = "jsonpath={.items[*].metadata.name}"
            .parse()
            .expect("template");
        assert_eq!(render(&list, &names).expect("jsonpath"), "vc-01 creds");
        let bad: Output = "jsonpath={.items[9]}".parse().expect("template");
        assert_eq!(
            render(&list, &bad).expect_err("out of range").to_string(),
            "error executing jsonpath \"{.items[9]}\": array index out of bounds: index 9, length 2"
        );
    }

    #[test]
    fn kubectl_json_indent() {
        let v = serde_json::json!({"kind": "X", "a": {"b": [1]}});
        assert_eq!(
            render(&v, &Output::Json).expect("json"),
            "{\n    \"a\": {\n        \"b\": [\n            1\n        ]\n    },\n    \"kind\": \"X\"\n}\n"
        );
        assert_eq!(
            render(&v, &Output::Yaml).expect("yaml"),
            "a:\n  b:\n  - 1\nkind: X\n"
        );
    }
}
