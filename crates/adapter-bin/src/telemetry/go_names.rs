//! The Go adapter's metric names, served beside ours so that dashboards and alerts built on the
//! Go project keep working after the migration.
//!
//! The Go adapters report Knative's OpenCensus source metrics, which its Prometheus exporter
//! names `<component>_event_count` and `<component>_retry_event_count` (the component is
//! `vspheresource` or `horizonsource`), with the labels `event_source`, `event_type`, `name`,
//! `namespace_name`, `resource_group`, `response_code` and `response_code_class`. Here:
//!
//! - `event_count`: events by the answer that settled them (the 2xx that accepted them, or the
//!   final refusal);
//! - `retry_event_count`: attempts that were retried, by their answer (`0`: none came).
//!
//! Nothing is served until the adapter knows who it is ([`GoMetrics::identify`]). The series are
//! bounded: past [`MAX_EVENT_TYPES`] event types, new types count as `other`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// Event types with their own series; more count as `other`.
pub const MAX_EVENT_TYPES: usize = 2048;

/// Who the adapter is, as the Go metrics label it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `vspheresource` or `horizonsource`: the metric names' prefix.
    pub component: &'static str,
    /// `vspheresources.sources.tanzu.vmware.com` or `horizonsources.sources.tanzu.vmware.com`.
    pub resource_group: &'static str,
    /// The source's namespace (`NAMESPACE`).
    pub namespace: String,
    /// The source's name (`NAME`).
    pub name: String,
    /// The CloudEvent `source` the adapter sends.
    pub event_source: String,
}

/// (events settled, attempts retried) by answer status, for one event type.
type ByStatus = BTreeMap<u16, (u64, u64)>;

/// The Go adapter's counters.
#[derive(Debug, Default)]
pub struct GoMetrics {
    identity: OnceLock<Identity>,
    /// (settled, retried) by event type and status.
    counts: Mutex<BTreeMap<String, ByStatus>>,
}

impl GoMetrics {
    /// Set who the adapter is (once; later calls are ignored). Until then nothing is served.
    pub fn identify(&self, identity: Identity) {
        let _ = self.identity.set(identity);
    }

    /// An event of `event_type` settled by an answer `status`.
    pub fn settled(&self, event_type: &str, status: u16) {
        self.bump(event_type, status, (1, 0));
    }

    /// An attempt for an event of `event_type` answered `status` (0: no answer) is retried.
    pub fn retried(&self, event_type: &str, status: u16) {
        self.bump(event_type, status, (0, 1));
    }

    fn bump(&self, event_type: &str, status: u16, (settled, retried): (u64, u64)) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let by_status = match counts.get_mut(event_type) {
            Some(by_status) => by_status,
            None => {
                let key = if counts.len() < MAX_EVENT_TYPES {
                    event_type
                } else {
                    "other"
                };
                counts.entry(key.to_owned()).or_default()
            }
        };
        let n = by_status.entry(status).or_default();
        n.0 += settled;
        n.1 += retried;
    }

    /// Append the Prometheus text of both metrics to `out` (nothing before [`Self::identify`]).
    pub fn render(&self, out: &mut String) {
        let Some(id) = self.identity.get() else {
            return;
        };
        let Ok(counts) = self.counts.lock() else {
            return;
        };
        for (metric, help, pick) in [
            (
                "event_count",
                "Number of events sent (the Go adapter's name)",
                0usize,
            ),
            (
                "retry_event_count",
                "Number of retried sends (the Go adapter's name)",
                1,
            ),
        ] {
            let name = format!("{}_{metric}", id.component);
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (event_type, by_status) in counts.iter() {
                for (status, n) in by_status {
                    let value = if pick == 0 { n.0 } else { n.1 };
                    if value == 0 {
                        continue;
                    }
                    let class = if *status == 0 {
                        String::new()
                    } else {
                        format!("{}xx", status / 100)
                    };
                    let _ = writeln!(
                        out,
                        "{name}{{event_source=\"{}\",event_type=\"{}\",name=\"{}\",namespace_name=\"{}\",resource_group=\"{}\",response_code=\"{status}\",response_code_class=\"{class}\"}} {value}",
                        escape(&id.event_source),
                        escape(event_type),
                        escape(&id.name),
                        escape(&id.namespace),
                        id.resource_group,
                    );
                }
            }
        }
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            component: "vspheresource",
            resource_group: "vspheresources.sources.tanzu.vmware.com",
            namespace: "ns".into(),
            name: "vc-01".into(),
            event_source: "https://vc.local/sdk".into(),
        }
    }

    #[test]
    fn renders_the_go_names_and_labels_once_identified() {
        let m = GoMetrics::default();
        m.settled("com.vmware.vsphere.VmPoweredOnEvent.v0", 202);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.is_empty(), "nothing before identify: {out}");
        m.identify(identity());
        m.settled("com.vmware.vsphere.VmPoweredOnEvent.v0", 202);
        m.retried("com.vmware.vsphere.VmPoweredOnEvent.v0", 503);
        m.retried("com.vmware.vsphere.VmPoweredOnEvent.v0", 0);
        m.render(&mut out);
        assert!(out.contains(
            "vspheresource_event_count{event_source=\"https://vc.local/sdk\",event_type=\"com.vmware.vsphere.VmPoweredOnEvent.v0\",name=\"vc-01\",namespace_name=\"ns\",resource_group=\"vspheresources.sources.tanzu.vmware.com\",response_code=\"202\",response_code_class=\"2xx\"} 2\n"
        ), "{out}");
        assert!(
            out.contains("vspheresource_retry_event_count{")
                && out.contains("response_code=\"503\",response_code_class=\"5xx\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("response_code=\"0\",response_code_class=\"\"} 1"),
            "{out}"
        );
        assert!(
            !out.contains("response_code=\"202\",response_code_class=\"2xx\"} 0"),
            "{out}"
        );
    }

    #[test]
    fn event_types_are_bounded() {
        let m = GoMetrics::default();
        m.identify(identity());
        for i in 0..MAX_EVENT_TYPES + 10 {
            m.settled(&format!("t{i}"), 202);
        }
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("event_type=\"other\""), "beyond the bound");
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("vspheresource_event_count{"))
                .count(),
            MAX_EVENT_TYPES + 1
        );
    }
}
