//! Label selectors as text: [`parse`] reads kubectl's syntax (`metav1.ParseToLabelSelector`),
//! [`to_query`] writes the `labelSelector` query string of a list request.
//!
//! ```
//! let sel = sources_api::selector::parse("app=web,tier in (a,b),!legacy").unwrap();
//! assert_eq!(sources_api::selector::to_query(&sel), "app=web,tier in (a,b),!legacy");
//! ```

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// A label selector as a query string (`a=b,c in (d),!e`).
pub fn to_query(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// `metav1.ParseToLabelSelector`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
/// comma-separated. Equalities go to `matchLabels`, the rest to `matchExpressions`.
pub fn parse(text: &str) -> Result<LabelSelector, String> {
    let mut labels = BTreeMap::new();
    let mut expressions = Vec::new();
    for part in split_requirements(text) {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("found an empty requirement in {text:?}"));
        }
        let requirement =
            |key: &str, operator: &str, values: Option<Vec<String>>| LabelSelectorRequirement {
                key: key.trim().to_owned(),
                operator: operator.to_owned(),
                values,
            };
        if let Some(key) = part.strip_prefix('!') {
            check_key(key.trim())?;
            expressions.push(requirement(key, "DoesNotExist", None));
        } else if let Some((key, value)) = part.split_once("!=") {
            check_key(key.trim())?;
            expressions.push(requirement(
                key,
                "NotIn",
                Some(vec![value.trim().to_owned()]),
            ));
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            check_key(key.trim())?;
            labels.insert(key.trim().to_owned(), value.trim().to_owned());
        } else if let Some((key, operator, values)) = set_requirement(part)? {
            check_key(key)?;
            expressions.push(requirement(key, operator, Some(values)));
        } else {
            check_key(part)?;
            expressions.push(requirement(part, "Exists", None));
        }
    }
    Ok(LabelSelector {
        match_labels: (!labels.is_empty()).then_some(labels),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    })
}

fn split_requirements(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `key in (a,b)` as (key, operator, values).
type SetRequirement<'a> = (&'a str, &'static str, Vec<String>);

fn set_requirement(part: &str) -> Result<Option<SetRequirement<'_>>, String> {
    let Some(open) = part.find('(') else {
        return Ok(None);
    };
    let head = part[..open].trim();
    let (key, operator) = if let Some(k) = head.strip_suffix(" notin") {
        (k, "NotIn")
    } else if let Some(k) = head.strip_suffix(" in") {
        (k, "In")
    } else {
        return Err(format!("expected 'in' or 'notin' before '(' in {part:?}"));
    };
    let inner = part[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("expected ')' at the end of {part:?}"))?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(format!("{part:?} lists no values"));
    }
    Ok(Some((key.trim(), operator, values)))
}

fn check_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_as_apimachinery_parses_them() {
        let s = parse("foo=bar").expect("eq");
        assert_eq!(
            s.match_labels,
            Some(BTreeMap::from([("foo".into(), "bar".into())]))
        );
        assert!(s.match_expressions.is_none());
        let s = parse("a==1, b!=2,env in (prod, dev),tier notin (x),has,!gone").expect("all forms");
        assert_eq!(
            s.match_labels,
            Some(BTreeMap::from([("a".into(), "1".into())]))
        );
        let ops: Vec<(String, String, Option<Vec<String>>)> = s
            .match_expressions
            .expect("expressions")
            .into_iter()
            .map(|r| (r.key, r.operator, r.values))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("b".into(), "NotIn".into(), Some(vec!["2".into()])),
                (
                    "env".into(),
                    "In".into(),
                    Some(vec!["prod".into(), "dev".into()])
                ),
                ("tier".into(), "NotIn".into(), Some(vec!["x".into()])),
                ("has".into(), "Exists".into(), None),
                ("gone".into(), "DoesNotExist".into(), None),
            ]
        );
        assert!(parse("a b").is_err());
        assert!(parse("env in ()").is_err());
        assert!(parse("a=1,,b=2").is_err());
    }
}
