//! `source create|describe` (VSphereSource) and `horizon source create|describe`
//! (HorizonSource); `delete` and `list` are in [`crate::kinds`].

use jiff::Timestamp;
use serde_json::Value;
use sources_api::kmeta::child_name;
use sources_api::v1alpha1::{
    HorizonSource, HorizonSourceSpec, VCheckpointSpec, VSphereSource, VSphereSourceSpec,
};

use crate::cli::{self, DescribeArgs, HorizonSourceCreate, SourceCreate};
use crate::describe::{self, Doc};
use crate::error::Error;
use crate::flags::{self, is_set, nonempty};
use crate::kinds::{self, Kind};
use crate::print;

/// The flags of `source create`, checked in the Go plugin's order, as a VSphereSource for
/// `namespace` (`None`: printed by `--dry-run` without a kubeconfig).
pub fn vsphere_source(
    args: &SourceCreate,
    namespace: Option<&str>,
) -> Result<VSphereSource, Error> {
    // pflag parses durations while reading the flags, before any other check.
    let age = flags::go_duration("checkpoint-age", &args.checkpoint_age)?;
    let period = flags::go_duration("checkpoint-period", &args.checkpoint_period)?;
    cli::required(&[
        ("name", is_set(&args.name)),
        ("vc-address", is_set(&args.vc_address)),
        ("secret-ref", is_set(&args.secret_ref)),
    ])
    .map_err(Error::Usage)?;
    let name = nonempty(
        &args.name,
        "'name' requires a nonempty name provided with the --name option",
    )?;
    let address = nonempty(
        &args.vc_address,
        "'address' requires a nonempty address provided with the --vc-address option",
    )?;
    let secret = nonempty(
        &args.secret_ref,
        "'secret-ref' requires a nonempty secret reference provided with the --secret-ref option",
    )?;
    flags::check_sink(&args.sink)?;
    let encoding = args.encoding.to_lowercase();
    if encoding != "xml" && encoding != "json" {
        return Err(Error::usage(format!(
            "invalid encoding scheme {:?}",
            args.encoding
        )));
    }
    flags::check_dead_letter(&args.sink)?;
    let event_types = flags::event_types(&args.event_types)?;
    let ca_certs = match &args.ca_certs_file {
        Some(path) => Some(flags::ca_certs("ca-certs-file", path)?),
        None => None,
    };
    let spec = VSphereSourceSpec {
        sink: flags::sink(&args.sink, namespace)?,
        ce_overrides: None,
        address: address.to_owned(),
        skip_tls_verify: args.skip_tls_verify,
        secret_ref: sources_api::duck::LocalObjectReference {
            name: secret.to_owned(),
        },
        // int64(d.Seconds()): truncated.
        checkpoint_config: VCheckpointSpec {
            max_age_seconds: i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
            period_seconds: i64::try_from(period.as_secs()).unwrap_or(i64::MAX),
        },
        payload_encoding: format!("application/{encoding}"),
        service_account_name: args.service_account_name.clone().filter(|s| !s.is_empty()),
        ca_certs,
        event_types,
        filter: flags::vsphere_filter(
            &args.categories,
            args.entity.as_deref(),
            args.recursion.as_deref(),
            &args.users,
            args.include_system_users,
        )?,
        delivery: flags::delivery(&args.sink, namespace)?,
        adapter_overrides: None,
    };
    let mut source = VSphereSource::new(name, spec);
    source.metadata.namespace = namespace.map(str::to_owned);
    Ok(source)
}

/// `source create`: prints `Created source`, or with `--dry-run` the object as YAML.
pub async fn create(namespace: Option<&str>, args: &SourceCreate) -> Result<String, Error> {
    kinds::create(
        namespace,
        args.dry_run,
        "failed to create source",
        "Created source\n",
        |ns| vsphere_source(args, ns),
    )
    .await
}

/// The HorizonSource of `horizon source create`.
pub fn horizon_source(
    args: &HorizonSourceCreate,
    namespace: Option<&str>,
) -> Result<HorizonSource, Error> {
    cli::required(&[
        ("name", is_set(&args.name)),
        ("address", is_set(&args.address)),
        ("secret-ref", is_set(&args.secret_ref)),
    ])
    .map_err(Error::Usage)?;
    let name = nonempty(
        &args.name,
        "'name' requires a nonempty name provided with the --name option",
    )?;
    let address = nonempty(
        &args.address,
        "'address' requires a nonempty address provided with the --address option",
    )?;
    let secret = nonempty(
        &args.secret_ref,
        "'secret-ref' requires a nonempty secret reference provided with the --secret-ref option",
    )?;
    flags::check_sink(&args.sink)?;
    flags::check_dead_letter(&args.sink)?;
    let ca_certs = match &args.ca_certs_file {
        Some(path) => Some(flags::ca_certs("ca-certs-file", path)?),
        None => None,
    };
    let spec = HorizonSourceSpec {
        sink: flags::sink(&args.sink, namespace)?,
        ce_overrides: None,
        service_account_name: args.service_account_name.clone().filter(|s| !s.is_empty()),
        address: address.to_owned(),
        skip_tls_verify: args.skip_tls_verify,
        secret_ref: sources_api::duck::LocalObjectReference {
            name: secret.to_owned(),
        },
        ca_certs,
        filter: flags::horizon_filter(&args.event_types, &args.modules, &args.severities)?,
        delivery: flags::delivery(&args.sink, namespace)?,
        adapter_overrides: None,
    };
    let mut source = HorizonSource::new(name, spec);
    source.metadata.namespace = namespace.map(str::to_owned);
    Ok(source)
}

/// `horizon source create`: prints `Created Horizon source`.
pub async fn horizon_create(
    namespace: Option<&str>,
    args: &HorizonSourceCreate,
) -> Result<String, Error> {
    kinds::create(
        namespace,
        args.dry_run,
        "failed to create Horizon source",
        "Created Horizon source\n",
        |ns| horizon_source(args, ns),
    )
    .await
}

fn typed<T: serde::de::DeserializeOwned>(kind: &Kind, obj: &Value) -> Result<T, Error> {
    serde_json::from_value(obj.clone())
        .map_err(|e| Error::Render(format!("cannot read the {}: {e}", kind.noun)))
}

/// `source describe NAME`.
pub async fn describe(namespace: Option<&str>, args: &DescribeArgs) -> Result<String, Error> {
    let kind = kinds::vsphere_source();
    let (cluster, ns, obj) = describe::fetch(&kind, namespace, &args.name).await?;
    if let Some(format) = &args.output {
        return print::render(&obj, format);
    }
    let source: VSphereSource = typed(&kind, &obj)?;
    let spec = &source.spec;
    let now = Timestamp::now();
    let mut doc = Doc::default();
    describe::metadata(&mut doc, &obj, now);
    describe::endpoint(
        &mut doc,
        &cluster,
        &ns,
        "VCenter",
        &spec.address,
        spec.skip_tls_verify,
        &spec.secret_ref.name,
        spec.ca_certs.as_deref(),
    )
    .await;
    doc.field(0, "Encoding", &spec.payload_encoding);
    doc.field(
        0,
        "Event types",
        match &spec.event_types {
            Some(t) if !t.is_empty() => t.join(", "),
            _ => "all".to_owned(),
        },
    );
    if let Some(f) = &spec.filter {
        describe_vsphere_filter(&mut doc, f);
    }
    doc.field(
        0,
        "Checkpoint config",
        format!(
            "replay up to {}s, saved every {}s",
            spec.checkpoint_config.max_age_seconds, spec.checkpoint_config.period_seconds
        ),
    );
    doc.field(0, "Service account", spec.service_account(&args.name));
    describe::sink(&mut doc, &spec.sink, spec.delivery.as_ref(), &obj);
    describe::adapter(&mut doc, &cluster, &ns, &child_name(&args.name, "-adapter")).await;
    let configmap = child_name(&args.name, "-configmap");
    describe::checkpoint(&mut doc, &cluster, &ns, &configmap, |doc, json| {
        let cp = checkpoint::Checkpoint::from_json(json).map_err(|e| e.to_string())?;
        let mut last = cp
            .last_event_key
            .map(|k| format!("key {k}"))
            .unwrap_or_else(|| "key unknown".to_owned());
        if let Some(t) = &cp.last_event_type {
            last.push_str(&format!(", {t}"));
        }
        doc.field(1, "Last event", last);
        if let Some(t) = cp.last_event_key_timestamp {
            doc.field(1, "Last event time", describe::when(t, now));
        }
        if let Some(vc) = &cp.vcenter {
            doc.field(1, "vCenter", vc);
        }
        if let Some(t) = cp.created_timestamp {
            doc.field(1, "Saved", describe::when(t, now));
        }
        Ok(())
    })
    .await;
    describe::conditions(&mut doc, &kinds::conditions(&obj), now);
    Ok(doc.render())
}

/// `horizon source describe NAME`.
pub async fn horizon_describe(
    namespace: Option<&str>,
    args: &DescribeArgs,
) -> Result<String, Error> {
    let kind = kinds::horizon_source();
    let (cluster, ns, obj) = describe::fetch(&kind, namespace, &args.name).await?;
    if let Some(format) = &args.output {
        return print::render(&obj, format);
    }
    let source: HorizonSource = typed(&kind, &obj)?;
    let spec = &source.spec;
    let now = Timestamp::now();
    let mut doc = Doc::default();
    describe::metadata(&mut doc, &obj, now);
    describe::endpoint(
        &mut doc,
        &cluster,
        &ns,
        "Horizon",
        &spec.address,
        spec.skip_tls_verify,
        &spec.secret_ref.name,
        None,
    )
    .await;
    if let Some(f) = &spec.filter {
        doc.section(0, "Filter");
        for (label, values) in [
            ("Event types", &f.event_types),
            ("Modules", &f.modules),
            ("Severities", &f.severities),
        ] {
            if let Some(v) = values.as_ref().filter(|v| !v.is_empty()) {
                doc.field(1, label, v.join(", "));
            }
        }
    }
    doc.field(0, "Service account", spec.service_account(&args.name));
    describe::sink(&mut doc, &spec.sink, spec.delivery.as_ref(), &obj);
    describe::adapter(&mut doc, &cluster, &ns, &child_name(&args.name, "-adapter")).await;
    let configmap = child_name(&args.name, "-configmap");
    describe::checkpoint(&mut doc, &cluster, &ns, &configmap, |doc, json| {
        let cp = checkpoint::HorizonCheckpoint::from_json(json).map_err(|e| e.to_string())?;
        match cp
            .last_event_time
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        {
            Some(t) => doc.field(1, "Last event time", describe::when(t, now)),
            None => doc.field(1, "Last event time", "unknown"),
        }
        if !cp.last_event_ids.is_empty() {
            let ids: Vec<String> = cp.last_event_ids.iter().map(|i| i.to_string()).collect();
            doc.field(1, "Last event ids", ids.join(", "));
        }
        if let Some(t) = cp.created_timestamp {
            doc.field(1, "Saved", describe::when(t, now));
        }
        Ok(())
    })
    .await;
    describe::conditions(&mut doc, &kinds::conditions(&obj), now);
    Ok(doc.render())
}

/// The `Filter:` section of a VSphereSource.
fn describe_vsphere_filter(doc: &mut Doc, f: &sources_api::filter::VSphereFilter) {
    doc.section(0, "Filter");
    if let Some(c) = f.categories.as_ref().filter(|c| !c.is_empty()) {
        let names: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
        doc.field(1, "Categories", names.join(", "));
    }
    if let Some(e) = &f.entity {
        let what = match (&e.path, &e.reference) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) => format!("{}:{}", r.type_, r.value),
            (None, None) => String::new(),
        };
        let recursion = e.recursion.map_or("all", |r| r.as_str());
        doc.field(1, "Entity", format!("{what} ({recursion})"));
    }
    if let Some(u) = &f.users {
        let mut who = u.names.clone().unwrap_or_default().join(", ");
        if u.include_system {
            if !who.is_empty() {
                who.push_str(", ");
            }
            who.push_str("and vCenter's own events");
        }
        doc.field(1, "Users", who);
    }
}
