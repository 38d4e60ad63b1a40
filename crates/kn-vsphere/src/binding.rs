//! `binding create|describe` (VSphereBinding); `delete` and `list` are in [`crate::kinds`].

use jiff::Timestamp;
use sources_api::v1alpha1::{Reference, VSphereBinding, VSphereBindingSpec};

use crate::cli::{self, BindingCreate, DescribeArgs};
use crate::describe::{self, Doc};
use crate::error::Error;
use crate::flags::{self, is_set, nonempty};
use crate::kinds;
use crate::print;

/// The flags of `binding create`, checked in the Go plugin's order, as a VSphereBinding.
pub fn vsphere_binding(
    args: &BindingCreate,
    namespace: Option<&str>,
) -> Result<VSphereBinding, Error> {
    cli::required(&[
        ("name", is_set(&args.name)),
        ("vc-address", is_set(&args.vc_address)),
        ("secret-ref", is_set(&args.secret_ref)),
        ("subject-api-version", is_set(&args.subject_api_version)),
        ("subject-kind", is_set(&args.subject_kind)),
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
    let api_version = nonempty(
        &args.subject_api_version,
        "'subject-api-version' requires a nonempty subject API version provided with the --subject-api-version option",
    )?;
    let kind = nonempty(
        &args.subject_kind,
        "'subject-kind' requires a nonempty subject kind provided with the --subject-kind option",
    )?;
    let subject_name = args.subject_name.as_deref().filter(|s| !s.is_empty());
    let selector = args.subject_selector.as_deref().filter(|s| !s.is_empty());
    match (subject_name, selector) {
        (None, None) => {
            return Err(Error::usage(
                "subject requires a nonempty subject name provided with the --subject-name option,\nor a nonempty subject selector with the --subject-selector option",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "subject can optionally be configured with one of the following flags (but several were set):\n\t--subject-name, --subject-selector",
            ));
        }
        _ => {}
    }
    let selector = match selector {
        Some(s) => Some(
            sources_api::selector::parse(s)
                .map_err(|e| Error::usage(format!("failed to parse subject selector: {e}")))?,
        ),
        None => None,
    };
    let ca_certs = match &args.ca_certs_file {
        Some(path) => Some(flags::ca_certs("ca-certs-file", path)?),
        None => None,
    };
    let spec = VSphereBindingSpec {
        subject: Reference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            namespace: namespace.map(str::to_owned),
            name: subject_name.map(str::to_owned),
            selector,
        },
        address: address.to_owned(),
        skip_tls_verify: args.skip_tls_verify,
        secret_ref: sources_api::duck::LocalObjectReference {
            name: secret.to_owned(),
        },
        ca_certs,
    };
    let mut binding = VSphereBinding::new(name, spec);
    binding.metadata.namespace = namespace.map(str::to_owned);
    Ok(binding)
}

/// `binding create`: prints `Created binding`.
pub async fn create(namespace: Option<&str>, args: &BindingCreate) -> Result<String, Error> {
    kinds::create(
        namespace,
        args.dry_run,
        "failed to create Binding",
        "Created binding\n",
        |ns| vsphere_binding(args, ns),
    )
    .await
}

/// `binding describe NAME`.
pub async fn describe(namespace: Option<&str>, args: &DescribeArgs) -> Result<String, Error> {
    let kind = kinds::vsphere_binding();
    let (cluster, ns, obj) = describe::fetch(&kind, namespace, &args.name).await?;
    if let Some(format) = &args.output {
        return print::render(&obj, format);
    }
    let binding: VSphereBinding = serde_json::from_value(obj.clone())
        .map_err(|e| Error::Render(format!("cannot read the binding: {e}")))?;
    let spec = &binding.spec;
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
    doc.section(0, "Subject");
    let s = &spec.subject;
    doc.field(
        1,
        "Kind",
        format!(
            "{} ({})",
            s.kind.as_deref().unwrap_or_default(),
            s.api_version.as_deref().unwrap_or_default()
        ),
    );
    if let Some(name) = &s.name {
        doc.field(1, "Name", name);
    }
    if let Some(sel) = &s.selector {
        doc.field(1, "Selector", sources_api::selector::to_query(sel));
    }
    if let Some(ns) = &s.namespace {
        doc.field(1, "Namespace", ns);
    }
    describe::conditions(&mut doc, &kinds::conditions(&obj), now);
    Ok(doc.render())
}
