//! The environment contract between `sources-controller` and the adapters, defined once.
//!
//! The controller renders an adapter Deployment's environment with
//! [`VsphereAdapterEnv::vars`] or [`HorizonAdapterEnv::vars`]; the adapters read the same
//! variables, by the names in [`name`] and with the defaults in [`default`]. A test in
//! `adapter-bin` renders each source's environment with the controller and parses it with the
//! adapter, so the two sides cannot drift apart.
//!
//! The names and the order of the first entries are the Go controller's (so Deployments and
//! adapters of either project fit together); the variables this project added come after them.
//!
//! ```
//! use adapter_env::{Common, EnvValue, VsphereAdapterEnv, name};
//!
//! let env = VsphereAdapterEnv {
//!     common: Common { sink: "http://broker.example/ns/default".into(), ..Common::default() },
//!     checkpoint_configmap: "my-source-configmap".into(),
//!     checkpoint_config: r#"{"maxAge":"5m0s","period":"10s"}"#.into(),
//!     payload_encoding: "application/xml".into(),
//!     event_types: vec![],
//!     event_filter: None,
//! };
//! let vars = env.vars();
//! let sink = vars.iter().find(|v| v.name == name::K_SINK).unwrap();
//! assert_eq!(sink.value, EnvValue::Value("http://broker.example/ns/default".into()));
//! ```

/// The variable names.
pub mod name {
    /// Namespace of the source (the `Kn-Namespace` header, the checkpoint ConfigMap's namespace).
    pub const NAMESPACE: &str = "NAMESPACE";
    /// Name of the source (vSphere: the adapter Pod's name, as upstream).
    pub const NAME: &str = "NAME";
    /// Knative metrics configuration (JSON).
    pub const K_METRICS_CONFIG: &str = "K_METRICS_CONFIG";
    /// Knative logging configuration (JSON).
    pub const K_LOGGING_CONFIG: &str = "K_LOGGING_CONFIG";
    /// Knative ≥ 1.19 observability configuration (JSON of `config-observability`, as
    /// `{"Tracing":{"protocol":…,"endpoint":…,"sampling_rate":…}}`): the adapters read its
    /// tracing section.
    pub const K_OBSERVABILITY_CONFIG: &str = "K_OBSERVABILITY_CONFIG";
    /// The Go adapters' tracing configuration (OpenCensus-era: knative.dev/pkg's
    /// `config-tracing` as JSON, `backend`, `zipkin-endpoint`, `sample-rate`, `debug`); read
    /// when `K_OBSERVABILITY_CONFIG` has no tracing section.
    pub const K_TRACING_CONFIG: &str = "K_TRACING_CONFIG";
    /// The sink URI.
    pub const K_SINK: &str = "K_SINK";
    /// The Horizon controller's second copy of the sink URI (upstream sets both).
    pub const SINK_URI: &str = "SINK_URI";
    /// PEM CA certificates trusted for an https sink (`sink.CACerts`).
    pub const K_CA_CERTS: &str = "K_CA_CERTS";
    /// CloudEvent overrides, `{"extensions":{...}}`.
    pub const K_CE_OVERRIDES: &str = "K_CE_OVERRIDES";
    /// Seconds to wait for the sink per attempt.
    pub const K_SINK_TIMEOUT: &str = "K_SINK_TIMEOUT";
    /// Port of `/metrics`, `/healthz` and `/readyz` (Knative's name).
    pub const METRICS_PROMETHEUS_PORT: &str = "METRICS_PROMETHEUS_PORT";
    /// Metrics domain (the Horizon controller sets it, as upstream).
    pub const METRICS_DOMAIN: &str = "METRICS_DOMAIN";
    /// Where events the sink refuses go (`spec.delivery.deadLetterSink`, resolved).
    pub const K_DEAD_LETTER_SINK: &str = "K_DEAD_LETTER_SINK";
    /// PEM CA certificates trusted for an https dead-letter sink (its resolved `CACerts`).
    pub const K_DEAD_LETTER_SINK_CA_CERTS: &str = "K_DEAD_LETTER_SINK_CA_CERTS";
    /// `spec.delivery.retry`: attempts after the first before an event goes to the dead-letter
    /// sink (without one, retries never stop).
    pub const K_DELIVERY_RETRY: &str = "K_DELIVERY_RETRY";
    /// `spec.delivery.backoffPolicy`: `exponential` (default) or `linear`.
    pub const K_DELIVERY_BACKOFF_POLICY: &str = "K_DELIVERY_BACKOFF_POLICY";
    /// `spec.delivery.backoffDelay`: the base delay between attempts, an ISO-8601 duration.
    pub const K_DELIVERY_BACKOFF_DELAY: &str = "K_DELIVERY_BACKOFF_DELAY";
    /// `spec.delivery.timeout`: the timeout of each request to the sink, an ISO-8601 duration
    /// (wins over `K_SINK_TIMEOUT`).
    pub const K_DELIVERY_TIMEOUT: &str = "K_DELIVERY_TIMEOUT";
    /// The OIDC audience of the sink (Knative's name): with [`K_OIDC_SERVICE_ACCOUNT`], every
    /// request to the sink carries `Authorization: Bearer <token>` for this audience.
    pub const K_AUDIENCE: &str = "K_AUDIENCE";
    /// The ServiceAccount (in `NAMESPACE`) whose tokens identify the source to its sinks
    /// (Knative's name; set when `config-features` has `authentication-oidc: enabled`).
    pub const K_OIDC_SERVICE_ACCOUNT: &str = "K_OIDC_SERVICE_ACCOUNT";
    /// The OIDC audience of the dead-letter sink (new): requests to it carry a token for it.
    pub const K_DEAD_LETTER_SINK_AUDIENCE: &str = "K_DEAD_LETTER_SINK_AUDIENCE";
    /// Events delivered at once (1 keeps strict order).
    pub const DELIVERY_CONCURRENCY: &str = "DELIVERY_CONCURRENCY";
    /// Seconds deliveries in flight at SIGTERM may still take.
    pub const SHUTDOWN_GRACE_SECONDS: &str = "SHUTDOWN_GRACE_SECONDS";
    /// The Lease a source's adapters campaign for when it runs two (`spec.replicas: 2`): only
    /// its holder reads and delivers; the other stands by.
    pub const ADAPTER_LEASE: &str = "ADAPTER_LEASE";
    /// This adapter's identity on the Lease (the Pod's name).
    pub const ADAPTER_IDENTITY: &str = "ADAPTER_IDENTITY";
    /// A replay requested by `kn vsphere source replay` (the source's `replay-id` and
    /// `replay-from` annotations), `{"id":"r-…","from":"<RFC 3339>"}`: acted on once per id.
    pub const REPLAY_REQUEST: &str = "REPLAY_REQUEST";
    /// Directory of trust bundles (PEM files) trusted for https sinks beside `K_CA_CERTS`
    /// (default [`default::TRUST_BUNDLES_DIR`](super::default::TRUST_BUNDLES_DIR), where the
    /// controller mounts them, as Knative's adapters read them).
    pub const K_TRUST_BUNDLES_DIR: &str = "K_TRUST_BUNDLES_DIR";

    /// vCenter URL (injected by the VSphereBinding).
    pub const VC_URL: &str = "VC_URL";
    /// Skip vCenter certificate verification (injected by the VSphereBinding).
    pub const VC_INSECURE: &str = "VC_INSECURE";
    /// Directory of the vCenter Secret (injected by the VSphereBinding).
    pub const VC_SECRET_PATH: &str = "VC_SECRET_PATH";
    /// PEM text of CAs trusted for vCenter (`caCerts`, injected by the VSphereBinding).
    pub const VC_CA_CERTS: &str = "VC_CA_CERTS";
    /// The checkpoint ConfigMap of a VSphereSource.
    pub const VSPHERE_KVSTORE_CONFIGMAP: &str = "VSPHERE_KVSTORE_CONFIGMAP";
    /// Checkpoint settings, `{"maxAge":"5m0s","period":"10s"}` (Go durations).
    pub const VSPHERE_CHECKPOINT_CONFIG: &str = "VSPHERE_CHECKPOINT_CONFIG";
    /// `application/xml` or `application/json`.
    pub const VSPHERE_PAYLOAD_ENCODING: &str = "VSPHERE_PAYLOAD_ENCODING";
    /// Only these event types (comma-separated), from `spec.eventTypes`.
    pub const VSPHERE_EVENT_TYPES: &str = "VSPHERE_EVENT_TYPES";
    /// `spec.filter` of a VSphereSource as JSON (`{"categories":[…],"entity":{"path"|"ref",
    /// "recursion"},"users":{"names":[…],"includeSystem":…}}`), applied by vCenter's collector.
    pub const VSPHERE_EVENT_FILTER: &str = "VSPHERE_EVENT_FILTER";

    /// Horizon base URL.
    pub const HORIZON_URL: &str = "HORIZON_URL";
    /// Skip Horizon certificate verification.
    pub const HORIZON_INSECURE: &str = "HORIZON_INSECURE";
    /// PEM CA certificates trusted for the Horizon server (`spec.caCerts`; new).
    pub const HORIZON_CA_CERTS: &str = "HORIZON_CA_CERTS";
    /// `spec.filter` of a HorizonSource as JSON (`{"eventTypes":[…],"modules":[…],
    /// "severities":[…]}`), applied by Horizon's audit-event query.
    pub const HORIZON_EVENT_FILTER: &str = "HORIZON_EVENT_FILTER";
    /// Directory of the Horizon Secret.
    pub const HORIZON_SECRET_PATH: &str = "HORIZON_SECRET_PATH";
    /// The checkpoint ConfigMap of a HorizonSource (default `<NAME>-configmap`).
    pub const HORIZON_KVSTORE_CONFIGMAP: &str = "HORIZON_KVSTORE_CONFIGMAP";
}

/// Defaults the adapters apply when a variable is unset, and the controller's fixed values.
pub mod default {
    /// The metrics and health port.
    pub const METRICS_PORT: u16 = 9090;
    /// `K_SINK_TIMEOUT`, seconds.
    pub const SINK_TIMEOUT_SECONDS: u64 = 30;
    /// `DELIVERY_CONCURRENCY`: the ceiling of the adapters' adaptive delivery limit (a sink
    /// that answers after 5 ms takes ~100 at once; see `benches/adapter-measure.sh`).
    pub const DELIVERY_CONCURRENCY: usize = 256;
    /// `SHUTDOWN_GRACE_SECONDS`.
    pub const SHUTDOWN_GRACE_SECONDS: u64 = 10;
    /// Longest wait for the final checkpoint save at shutdown, seconds.
    pub const SHUTDOWN_SAVE_SECONDS: u64 = 5;
    /// Longest wait for stopping the reader and logging out at shutdown, seconds (each).
    pub const SHUTDOWN_SOURCE_SECONDS: u64 = 3;
    /// `VC_SECRET_PATH`.
    pub const VC_SECRET_PATH: &str = "/var/bindings/vsphere";
    /// `HORIZON_SECRET_PATH`.
    pub const HORIZON_SECRET_PATH: &str = "/var/bindings/horizon";
    /// `VSPHERE_PAYLOAD_ENCODING`.
    pub const PAYLOAD_ENCODING: &str = "application/xml";
    /// `K_TRUST_BUNDLES_DIR`: Knative's mount path of trust bundles.
    pub const TRUST_BUNDLES_DIR: &str = "/knative-custom-certs";
}

/// The longest an adapter takes to stop after SIGTERM with `shutdown_grace_seconds` for
/// in-flight deliveries: stopping the reader, the grace, the final checkpoint save and the
/// logout, plus a margin. The controller sets the Pod's `terminationGracePeriodSeconds` to
/// this, so Kubernetes never kills an adapter that is still saving its checkpoint.
pub const fn termination_grace_period_seconds(shutdown_grace_seconds: u64) -> i64 {
    let total = default::SHUTDOWN_SOURCE_SECONDS
        + shutdown_grace_seconds
        + default::SHUTDOWN_SAVE_SECONDS
        + default::SHUTDOWN_SOURCE_SECONDS
        + 5;
    total as i64
}

/// Parse an ISO-8601 duration as Knative's `spec.delivery.backoffDelay` and `timeout` take
/// them: `PT0.5S`, `PT1M30S`, `P1DT2H`, `P2W`. Years and months are refused (their length
/// varies), as are negative durations.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(adapter_env::parse_iso8601_duration("PT0.5S"), Ok(Duration::from_millis(500)));
/// assert_eq!(adapter_env::parse_iso8601_duration("PT1M30S"), Ok(Duration::from_secs(90)));
/// assert!(adapter_env::parse_iso8601_duration("30s").is_err());
/// ```
pub fn parse_iso8601_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = |why: &str| {
        format!("{text:?} is not an ISO-8601 duration such as PT0.5S or PT1M30S ({why})")
    };
    let rest = text
        .trim()
        .strip_prefix(['P', 'p'])
        .ok_or_else(|| bad("it must start with P"))?;
    if rest.is_empty() {
        return Err(bad("no value after P"));
    }
    let mut seconds = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            'T' | 't' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: f64 = number
                    .parse()
                    .map_err(|_| bad(&format!("no number before {unit}")))?;
                number.clear();
                any = true;
                seconds += n * match (in_time, unit.to_ascii_uppercase()) {
                    (false, 'W') => 7.0 * 86400.0,
                    (false, 'D') => 86400.0,
                    (false, 'Y') | (false, 'M') => {
                        return Err(bad("years and months have no fixed length"));
                    }
                    (true, 'H') => 3600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return Err(bad(&format!("unexpected {unit:?}"))),
                };
            }
        }
    }
    if !number.is_empty() || !any {
        return Err(bad("a number without a unit"));
    }
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| bad("out of range"))
}

/// A variable's value: text, or a field of the Pod (`valueFrom.fieldRef.fieldPath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// A literal value.
    Value(String),
    /// The Pod field at this path, e.g. `metadata.namespace`.
    FieldRef(&'static str),
}

/// One environment variable of the adapter container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// The name, one of [`name`].
    pub name: &'static str,
    /// The value.
    pub value: EnvValue,
}

impl EnvVar {
    fn value(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            value: EnvValue::Value(value.into()),
        }
    }

    fn field(name: &'static str, path: &'static str) -> Self {
        Self {
            name,
            value: EnvValue::FieldRef(path),
        }
    }
}

/// `spec.delivery`, resolved: what the adapter needs to honour it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The dead-letter sink's URI.
    pub dead_letter_sink: Option<String>,
    /// The dead-letter sink's `CACerts`.
    pub dead_letter_sink_ca_certs: Option<String>,
    /// `retry`.
    pub retry: Option<i32>,
    /// `backoffPolicy` (`exponential` or `linear`).
    pub backoff_policy: Option<String>,
    /// `backoffDelay` (ISO-8601).
    pub backoff_delay: Option<String>,
    /// `timeout` (ISO-8601).
    pub timeout: Option<String>,
    /// The OIDC identity to send with (`authentication-oidc` enabled), else `None`.
    pub identity: Option<Identity>,
}

/// The source's OIDC identity and the audiences it sends tokens for (Knative's
/// `K_OIDC_SERVICE_ACCOUNT` and `K_AUDIENCE`, and this project's `K_DEAD_LETTER_SINK_AUDIENCE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The OIDC ServiceAccount, in the source's namespace.
    pub service_account: String,
    /// The sink's audience, when it has one.
    pub audience: Option<String>,
    /// The dead-letter sink's audience, when there is one and it has one.
    pub dead_letter_sink_audience: Option<String>,
}

impl Delivery {
    fn push(&self, vars: &mut Vec<EnvVar>) {
        let mut put = |name, value: &Option<String>| {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                vars.push(EnvVar::value(name, v));
            }
        };
        put(name::K_DEAD_LETTER_SINK, &self.dead_letter_sink);
        put(
            name::K_DEAD_LETTER_SINK_CA_CERTS,
            &self.dead_letter_sink_ca_certs,
        );
        put(name::K_DELIVERY_RETRY, &self.retry.map(|r| r.to_string()));
        put(name::K_DELIVERY_BACKOFF_POLICY, &self.backoff_policy);
        put(name::K_DELIVERY_BACKOFF_DELAY, &self.backoff_delay);
        put(name::K_DELIVERY_TIMEOUT, &self.timeout);
        if let Some(identity) = &self.identity {
            put(
                name::K_OIDC_SERVICE_ACCOUNT,
                &Some(identity.service_account.clone()),
            );
            put(name::K_AUDIENCE, &identity.audience);
            put(
                name::K_DEAD_LETTER_SINK_AUDIENCE,
                &identity.dead_letter_sink_audience,
            );
        }
    }
}

/// What both adapters get: the sink, its trust, overrides, logging and metrics, delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Common {
    /// The resolved sink URI.
    pub sink: String,
    /// `sink.CACerts`.
    pub sink_ca_certs: Option<String>,
    /// `K_CE_OVERRIDES` JSON (empty without overrides).
    pub ce_overrides: String,
    /// `K_LOGGING_CONFIG` JSON (empty without `config-logging`).
    pub logging_config: String,
    /// `K_METRICS_CONFIG` JSON (empty without `config-observability`).
    pub metrics_config: String,
    /// `K_OBSERVABILITY_CONFIG` JSON (empty: not set; the controller sets it when
    /// `config-observability` sets `tracing-protocol`).
    pub observability_config: String,
    /// `spec.delivery`.
    pub delivery: Delivery,
    /// `REPLAY_REQUEST` JSON, when the source asks for a replay.
    pub replay: Option<String>,
    /// `ADAPTER_LEASE` (with `ADAPTER_IDENTITY` from the Pod's name), for a standby.
    pub lease: Option<String>,
}

impl Common {
    /// The variables this project added, after the Go controller's.
    fn push_additions(&self, vars: &mut Vec<EnvVar>) {
        if let Some(ca) = self.sink_ca_certs.as_deref().filter(|c| !c.is_empty()) {
            vars.push(EnvVar::value(name::K_CA_CERTS, ca));
        }
        if let Some(r) = &self.replay {
            vars.push(EnvVar::value(name::REPLAY_REQUEST, r));
        }
        if let Some(l) = &self.lease {
            vars.push(EnvVar::value(name::ADAPTER_LEASE, l));
            vars.push(EnvVar::field(name::ADAPTER_IDENTITY, "metadata.name"));
        }
        self.delivery.push(vars);
        if !self.observability_config.is_empty() {
            vars.push(EnvVar::value(
                name::K_OBSERVABILITY_CONFIG,
                &self.observability_config,
            ));
        }
        vars.push(EnvVar::value(
            name::METRICS_PROMETHEUS_PORT,
            default::METRICS_PORT.to_string(),
        ));
    }
}

/// A VSphereSource's adapter environment (without the VSphereBinding's `VC_*` entries, which
/// the binding injects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VsphereAdapterEnv {
    /// Sink, overrides, logging, metrics, delivery.
    pub common: Common,
    /// `VSPHERE_KVSTORE_CONFIGMAP`.
    pub checkpoint_configmap: String,
    /// `VSPHERE_CHECKPOINT_CONFIG` JSON.
    pub checkpoint_config: String,
    /// `VSPHERE_PAYLOAD_ENCODING`.
    pub payload_encoding: String,
    /// `spec.eventTypes`.
    pub event_types: Vec<String>,
    /// `spec.filter` as JSON (`VSPHERE_EVENT_FILTER`), when there is one.
    pub event_filter: Option<String>,
}

impl VsphereAdapterEnv {
    /// The container's environment, in the Go controller's order, then this project's additions.
    pub fn vars(&self) -> Vec<EnvVar> {
        let c = &self.common;
        let mut vars = vec![
            EnvVar::field(name::NAMESPACE, "metadata.namespace"),
            EnvVar::field(name::NAME, "metadata.name"),
            EnvVar::value(name::K_METRICS_CONFIG, &c.metrics_config),
            EnvVar::value(name::K_LOGGING_CONFIG, &c.logging_config),
            EnvVar::value(name::VSPHERE_KVSTORE_CONFIGMAP, &self.checkpoint_configmap),
            EnvVar::value(name::VSPHERE_CHECKPOINT_CONFIG, &self.checkpoint_config),
            EnvVar::value(name::VSPHERE_PAYLOAD_ENCODING, &self.payload_encoding),
            EnvVar::value(name::K_CE_OVERRIDES, &c.ce_overrides),
            EnvVar::value(name::K_SINK, &c.sink),
        ];
        if !self.event_types.is_empty() {
            vars.push(EnvVar::value(
                name::VSPHERE_EVENT_TYPES,
                self.event_types.join(","),
            ));
        }
        if let Some(f) = &self.event_filter {
            vars.push(EnvVar::value(name::VSPHERE_EVENT_FILTER, f));
        }
        c.push_additions(&mut vars);
        vars
    }
}

/// A HorizonSource's adapter environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HorizonAdapterEnv {
    /// Sink, overrides, logging, metrics, delivery.
    pub common: Common,
    /// The source's name.
    pub name: String,
    /// The source's namespace.
    pub namespace: String,
    /// `spec.address`.
    pub url: String,
    /// `spec.skipTLSVerify`.
    pub insecure: bool,
    /// `spec.caCerts`.
    pub ca_certs: Option<String>,
    /// `METRICS_DOMAIN` (upstream: `knative.dev/eventing`).
    pub metrics_domain: String,
    /// `spec.filter` as JSON (`HORIZON_EVENT_FILTER`), when there is one.
    pub event_filter: Option<String>,
}

impl HorizonAdapterEnv {
    /// The container's environment, in the Go controller's order, then this project's additions.
    pub fn vars(&self) -> Vec<EnvVar> {
        let c = &self.common;
        let mut vars = vec![
            EnvVar::value(name::HORIZON_URL, &self.url),
            EnvVar::value(name::HORIZON_INSECURE, self.insecure.to_string()),
            EnvVar::value(name::METRICS_DOMAIN, &self.metrics_domain),
            EnvVar::value(name::K_CE_OVERRIDES, &c.ce_overrides),
            EnvVar::value(name::SINK_URI, &c.sink),
            EnvVar::value(name::K_SINK, &c.sink),
            EnvVar::value(name::NAME, &self.name),
            EnvVar::value(name::NAMESPACE, &self.namespace),
            EnvVar::value(name::K_LOGGING_CONFIG, &c.logging_config),
            EnvVar::value(name::K_METRICS_CONFIG, &c.metrics_config),
        ];
        c.push_additions(&mut vars);
        if let Some(ca) = self.ca_certs.as_deref().filter(|c| !c.trim().is_empty()) {
            vars.push(EnvVar::value(name::HORIZON_CA_CERTS, ca));
        }
        if let Some(f) = &self.event_filter {
            vars.push(EnvVar::value(name::HORIZON_EVENT_FILTER, f));
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(vars: &[EnvVar]) -> Vec<&'static str> {
        vars.iter().map(|v| v.name).collect()
    }

    #[test]
    fn vsphere_env_keeps_upstream_order_and_adds_only_what_is_set() {
        let mut env = VsphereAdapterEnv::default();
        assert_eq!(
            names(&env.vars()),
            [
                "NAMESPACE",
                "NAME",
                "K_METRICS_CONFIG",
                "K_LOGGING_CONFIG",
                "VSPHERE_KVSTORE_CONFIGMAP",
                "VSPHERE_CHECKPOINT_CONFIG",
                "VSPHERE_PAYLOAD_ENCODING",
                "K_CE_OVERRIDES",
                "K_SINK",
                "METRICS_PROMETHEUS_PORT",
            ]
        );
        env.event_types = vec!["VmPoweredOnEvent".into(), "com.example.x".into()];
        env.common.delivery = Delivery {
            dead_letter_sink: Some("http://dls".into()),
            dead_letter_sink_ca_certs: Some("PEM".into()),
            retry: Some(3),
            backoff_policy: Some("linear".into()),
            backoff_delay: Some("PT0.5S".into()),
            timeout: Some("PT2S".into()),
            identity: Some(Identity {
                service_account: "s-oidc-sources.tanzu.vmware.com-vspheresource".into(),
                audience: Some("broker-aud".into()),
                dead_letter_sink_audience: None,
            }),
        };
        env.common.observability_config = r#"{"Tracing":{"protocol":"none"}}"#.into();
        let vars = env.vars();
        let get = |n: &str| {
            vars.iter()
                .find(|v| v.name == n)
                .map(|v| v.value.clone())
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert_eq!(
            get("VSPHERE_EVENT_TYPES"),
            EnvValue::Value("VmPoweredOnEvent,com.example.x".into())
        );
        assert_eq!(get("K_DELIVERY_RETRY"), EnvValue::Value("3".into()));
        assert_eq!(
            get("K_DEAD_LETTER_SINK_CA_CERTS"),
            EnvValue::Value("PEM".into())
        );
        assert_eq!(get("K_DELIVERY_TIMEOUT"), EnvValue::Value("PT2S".into()));
        assert_eq!(get("K_AUDIENCE"), EnvValue::Value("broker-aud".into()));
        assert_eq!(
            get("K_OIDC_SERVICE_ACCOUNT"),
            EnvValue::Value("s-oidc-sources.tanzu.vmware.com-vspheresource".into())
        );
        assert!(!names(&vars).contains(&"K_DEAD_LETTER_SINK_AUDIENCE"));
        assert_eq!(
            get("K_OBSERVABILITY_CONFIG"),
            EnvValue::Value(r#"{"Tracing":{"protocol":"none"}}"#.into())
        );
        assert_eq!(get("NAMESPACE"), EnvValue::FieldRef("metadata.namespace"));
        assert_eq!(names(&vars).last(), Some(&"METRICS_PROMETHEUS_PORT"));
    }

    #[test]
    fn horizon_env_sets_the_sink_twice_as_upstream() {
        let env = HorizonAdapterEnv {
            common: Common {
                sink: "http://s".into(),
                ..Common::default()
            },
            ..HorizonAdapterEnv::default()
        };
        let vars = env.vars();
        let sinks: Vec<_> = vars
            .iter()
            .filter(|v| v.value == EnvValue::Value("http://s".into()))
            .map(|v| v.name)
            .collect();
        assert_eq!(sinks, ["SINK_URI", "K_SINK"]);
    }

    #[test]
    fn iso8601_durations() {
        use std::time::Duration;
        for (text, want) in [
            ("PT0.2S", Duration::from_millis(200)),
            ("PT2S", Duration::from_secs(2)),
            ("PT1H2M3S", Duration::from_secs(3723)),
            ("P1D", Duration::from_secs(86400)),
            ("P1DT1S", Duration::from_secs(86401)),
            ("P1W", Duration::from_secs(7 * 86400)),
            ("pt0,5s", Duration::from_millis(500)),
        ] {
            assert_eq!(parse_iso8601_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "P", "PT", "2S", "PT2", "P1M", "PT-1S", "PTS", "P1H"] {
            let e = parse_iso8601_duration(bad).expect_err(bad);
            assert!(e.contains("ISO-8601"), "{e}");
        }
    }

    #[test]
    fn the_pod_outlives_the_adapters_shutdown() {
        for grace in [0, 10, 60] {
            let steps =
                default::SHUTDOWN_SOURCE_SECONDS * 2 + grace + default::SHUTDOWN_SAVE_SECONDS;
            assert!(
                termination_grace_period_seconds(grace) > steps as i64,
                "{grace}"
            );
        }
    }
}
