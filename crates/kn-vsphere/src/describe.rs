//! `describe`: what an object asks for and what it is doing — its spec, the resolved sink, every
//! condition with reason and message, the Secret, the adapter Deployment and the checkpoint.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use serde_json::Value;
use sources_api::duck::{Condition, DeliverySpec, Destination};

use crate::error::{Error, is_not_found};
use crate::kinds::{self, Kind};
use crate::kube_ctx::Cluster;
use crate::print;

/// A description: labelled values, indented by section, values aligned per indentation level.
#[derive(Debug, Default)]
pub struct Doc {
    lines: Vec<Line>,
}

#[derive(Debug)]
enum Line {
    Field {
        indent: usize,
        label: String,
        value: String,
    },
    Raw(String),
}

impl Doc {
    /// `label: value` at `indent` (0, 1, 2 …, two spaces each).
    pub fn field(&mut self, indent: usize, label: &str, value: impl Into<String>) {
        self.lines.push(Line::Field {
            indent,
            label: label.to_owned(),
            value: value.into(),
        });
    }

    /// A section title (`label:` with nothing after it).
    pub fn section(&mut self, indent: usize, label: &str) {
        self.field(indent, label, "");
    }

    /// Lines as they are.
    pub fn raw(&mut self, text: &str) {
        self.lines
            .extend(text.lines().map(|l| Line::Raw(l.to_owned())));
    }

    /// The text. Values line up within a section: a run of consecutive fields at the same
    /// indentation.
    pub fn render(&self) -> String {
        let indent_of = |l: &Line| match l {
            Line::Field { indent, .. } => Some(*indent),
            Line::Raw(_) => None,
        };
        let mut widths = vec![0usize; self.lines.len()];
        let mut start = 0;
        while start < self.lines.len() {
            let indent = indent_of(&self.lines[start]);
            let mut end = start;
            while end < self.lines.len() && indent_of(&self.lines[end]) == indent {
                end += 1;
            }
            let width = self.lines[start..end]
                .iter()
                .filter_map(|l| match l {
                    Line::Field { label, value, .. } if !value.is_empty() => {
                        Some(label.chars().count())
                    }
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            widths[start..end].fill(width);
            start = end;
        }
        let mut out = String::new();
        for (line, width) in self.lines.iter().zip(widths) {
            match line {
                Line::Raw(text) => out.push_str(text),
                Line::Field {
                    indent,
                    label,
                    value,
                } => {
                    out.push_str(&"  ".repeat(*indent));
                    out.push_str(label);
                    out.push(':');
                    if !value.is_empty() {
                        let pad = width - label.chars().count() + 2;
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(value);
                    }
                }
            }
            out.push('\n');
        }
        out
    }
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Name, namespace, age, labels and annotations (without kubectl's last-applied copy).
pub fn metadata(doc: &mut Doc, obj: &Value, now: Timestamp) {
    doc.field(0, "Name", text(obj, "/metadata/name"));
    doc.field(0, "Namespace", text(obj, "/metadata/namespace"));
    for (label, pointer) in [
        ("Labels", "/metadata/labels"),
        ("Annotations", "/metadata/annotations"),
    ] {
        if let Some(map) = obj.pointer(pointer).and_then(Value::as_object) {
            let pairs: Vec<String> = map
                .iter()
                .filter(|(k, _)| *k != "kubectl.kubernetes.io/last-applied-configuration")
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            if !pairs.is_empty() {
                doc.field(0, label, pairs.join(", "));
            }
        }
    }
    doc.field(
        0,
        "Age",
        print::age(
            obj.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now,
        ),
    );
}

/// What a Destination names: `Kind name (apiVersion) in namespace`, the URI, or both.
fn destination(doc: &mut Doc, indent: usize, d: &Destination) {
    if let Some(r) = &d.reference {
        let mut s = format!("{} {}", r.kind, r.name);
        if !r.api_version.is_empty() {
            s.push_str(&format!(" ({})", r.api_version));
        }
        if let Some(ns) = &r.namespace {
            s.push_str(&format!(" in namespace {ns}"));
        }
        doc.field(indent, "Ref", s);
    }
    if let Some(uri) = &d.uri {
        doc.field(
            indent,
            if d.reference.is_some() { "Path" } else { "URI" },
            uri,
        );
    }
    if d.ca_certs.is_some() {
        doc.field(indent, "CA certificates", "set");
    }
}

fn resolved(doc: &mut Doc, obj: &Value, pointer: &str) {
    let uri = text(obj, pointer);
    doc.field(
        1,
        "Resolved URI",
        if uri.is_empty() {
            "(not resolved yet)"
        } else {
            uri
        },
    );
}

/// The sink, its resolved URI (`status.sinkUri`), and the dead-letter sink.
pub fn sink(doc: &mut Doc, sink: &Destination, delivery: Option<&DeliverySpec>, obj: &Value) {
    doc.section(0, "Sink");
    destination(doc, 1, sink);
    resolved(doc, obj, "/status/sinkUri");
    if let Some(dls) = delivery.and_then(|d| d.dead_letter_sink.as_ref()) {
        doc.section(0, "Dead-letter sink");
        destination(doc, 1, dls);
        resolved(doc, obj, "/status/deadLetterSinkUri");
    }
}

/// The object as the API server has it: the cluster, the namespace and the object.
pub async fn fetch(
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<(Cluster, String, Value), Error> {
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace(namespace);
    let obj = kinds::get_raw(&cluster, kind, &ns, name).await?;
    Ok((cluster, ns, obj))
}

/// The connection settings every kind shares: the address (titled `label`), `Insecure`, the
/// credentials Secret and the PEM CA certificates, if any.
#[allow(clippy::too_many_arguments)]
pub async fn endpoint(
    doc: &mut Doc,
    cluster: &Cluster,
    namespace: &str,
    label: &str,
    address: &str,
    insecure: bool,
    secret: &str,
    ca_certs: Option<&str>,
) {
    doc.field(0, label, address);
    doc.field(0, "Insecure", insecure.to_string());
    credentials(doc, cluster, namespace, secret).await;
    if let Some(pem) = ca_certs {
        doc.field(
            0,
            "CA certificates",
            format!(
                "{} trusted for {label}",
                pem.matches("-----BEGIN CERTIFICATE-----").count()
            ),
        );
    }
}

/// The checkpoint section: ConfigMap `name`'s `checkpoint`, described by `details`, which
/// fails for a checkpoint it cannot read.
pub async fn checkpoint(
    doc: &mut Doc,
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    details: impl FnOnce(&mut Doc, &str) -> Result<(), String>,
) {
    doc.section(0, "Checkpoint");
    doc.field(1, "ConfigMap", name);
    match checkpoint_json(cluster, namespace, name).await {
        Ok(None) => doc.field(1, "Last event", "none yet"),
        Err(e) => doc.field(1, "Last event", format!("unknown: {e}")),
        Ok(Some(json)) => {
            if let Err(e) = details(doc, &json) {
                doc.field(1, "Last event", format!("unreadable: {e}"));
            }
        }
    }
}

/// `Credentials: NAME`, with whether the Secret exists (`(Secret not found)`); the Secret's data
/// is never read.
async fn credentials(doc: &mut Doc, cluster: &Cluster, namespace: &str, secret: &str) {
    let api: Api<Secret> = Api::namespaced(cluster.client().clone(), namespace);
    let state = match api.get_metadata_opt(secret).await {
        Ok(Some(_)) => String::new(),
        Ok(None) => " (Secret not found)".to_owned(),
        Err(e) => format!(
            " (cannot check the Secret: {})",
            crate::error::api_message(&e)
        ),
    };
    doc.field(0, "Credentials", format!("{secret}{state}"));
}

/// The adapter Deployment: replicas and its `Available` and `Progressing` conditions.
pub async fn adapter(doc: &mut Doc, cluster: &Cluster, namespace: &str, name: &str) {
    doc.section(0, "Adapter");
    doc.field(1, "Deployment", name);
    let api: Api<Deployment> = Api::namespaced(cluster.client().clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(d)) => {
            let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let status = d.status.unwrap_or_default();
            doc.field(
                1,
                "Replicas",
                format!(
                    "{desired} desired, {} ready, {} available, {} updated",
                    status.ready_replicas.unwrap_or(0),
                    status.available_replicas.unwrap_or(0),
                    status.updated_replicas.unwrap_or(0)
                ),
            );
            for c in status.conditions.unwrap_or_default() {
                if c.type_ == "Available" || c.type_ == "Progressing" {
                    let mut v = c.status.clone();
                    let why: Vec<String> = [c.reason, c.message].into_iter().flatten().collect();
                    if !why.is_empty() {
                        v.push_str(&format!(" ({})", why.join(": ")));
                    }
                    doc.field(1, &c.type_, v);
                }
            }
            if let Some(image) = d
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|s| s.containers.into_iter().next())
                .and_then(|c| c.image)
            {
                doc.field(1, "Image", image);
            }
        }
        Ok(None) => doc.field(1, "State", "not created yet"),
        Err(e) => doc.field(
            1,
            "State",
            format!("unknown: {}", crate::error::api_message(&e)),
        ),
    }
}

/// The `checkpoint` key of ConfigMap `name`, or why there is none.
async fn checkpoint_json(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, String> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    match api.get(name).await {
        Ok(cm) => Ok(cm
            .data
            .and_then(|mut d| d.remove(checkpoint::CHECKPOINT_KEY))
            .filter(|s| !s.trim().is_empty() && s.trim() != "{}")),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(crate::error::api_message(&e)),
    }
}

/// A time and how long ago it was.
pub fn when(t: Timestamp, now: Timestamp) -> String {
    format!(
        "{} ({} ago)",
        t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        print::human_duration(now.duration_since(t))
    )
}

fn symbol(c: &Condition) -> &'static str {
    match c.status.as_str() {
        "True" => "++",
        "False" => match c.severity.as_deref().unwrap_or("") {
            "" | "Error" => "!!",
            "Warning" => " W",
            "Info" => " I",
            _ => " !",
        },
        _ => "??",
    }
}

/// kn's conditions table (`OK TYPE AGE REASON`), Ready first, with each message after its
/// reason.
pub fn conditions(doc: &mut Doc, conditions: &[Condition], now: Timestamp) {
    doc.section(0, "Conditions");
    if conditions.is_empty() {
        doc.raw("  (none yet: the controller has not reconciled it)");
        return;
    }
    let mut sorted: Vec<&Condition> = conditions.iter().collect();
    sorted.sort_by_key(|c| (c.type_ != "Ready", c.type_.clone()));
    let mut lines = vec![vec![
        "OK".to_owned(),
        "TYPE".to_owned(),
        "AGE".to_owned(),
        "REASON".to_owned(),
    ]];
    for c in sorted {
        let reason = match (c.reason.as_deref(), c.message.as_deref()) {
            (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m}"),
            (None, Some(m)) => m.to_owned(),
            (Some(r), _) => r.to_owned(),
            (None, None) => String::new(),
        };
        lines.push(vec![
            symbol(c).to_owned(),
            c.type_.clone(),
            print::age(c.last_transition_time.as_deref(), now),
            reason,
        ]);
    }
    let table = print::tabwrite(&lines);
    let indented: String = table.lines().map(|l| format!("  {l}\n")).collect();
    doc.raw(&indented);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_align_per_level() {
        let mut doc = Doc::default();
        doc.field(0, "Name", "s");
        doc.field(0, "Credentials", "creds");
        doc.section(0, "Sink");
        doc.field(1, "URI", "http://x");
        doc.field(1, "Resolved URI", "http://x");
        assert_eq!(
            doc.render(),
            "Name:         s\nCredentials:  creds\nSink:\n  URI:           http://x\n  Resolved URI:  http://x\n"
        );
    }

    #[test]
    fn conditions_table() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("now");
        let c = |t: &str, s: &str, r: Option<&str>, m: Option<&str>| Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.map(Into::into),
            message: m.map(Into::into),
            last_transition_time: Some("2026-01-01T00:05:00Z".into()),
            ..Condition::default()
        };
        let mut doc = Doc::default();
        conditions(
            &mut doc,
            &[
                c("SinkProvided", "True", None, None),
                c(
                    "Ready",
                    "False",
                    Some("SecretMissing"),
                    Some("Secret \"x\" not found"),
                ),
                c("AdapterReady", "Unknown", Some("Pending"), None),
            ],
            now,
        );
        assert_eq!(
            doc.render(),
            "Conditions:\n  \
             OK    TYPE           AGE   REASON\n  \
             !!    Ready          5m    SecretMissing: Secret \"x\" not found\n  \
             ??    AdapterReady   5m    Pending\n  \
             ++    SinkProvided   5m    \n"
        );
    }
}
