//! Sink resolution (`resolver.URIFromDestinationV1`): a URI, a core
//! Service, or any Addressable (`status.address.url`), with a relative URI
//! resolved against the reference.

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use sources_api::duck::Destination;

use crate::resources::ResolvedSink;

/// Why a sink did not resolve; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Neither `ref` nor `uri`.
    #[error("spec.sink has neither ref nor uri: set one of them")]
    Missing,
    /// A URI without a reference must be absolute.
    #[error("spec.sink.uri {0:?} is not an absolute URI and there is no ref to resolve it against")]
    RelativeWithoutRef(String),
    /// The referenced object does not exist.
    #[error("sink {kind} {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// Namespace.
        namespace: String,
    },
    /// The reference names another namespace than the source's (stored
    /// without admission): a source resolves only in its own namespace.
    #[error(
        "the reference's namespace {namespace:?} is not the source's namespace {own:?}: a sink \
         is resolved in the source's own namespace; remove ref.namespace or set it to {own:?}"
    )]
    OtherNamespace {
        /// The namespace the reference names.
        namespace: String,
        /// The source's namespace.
        own: String,
    },
    /// The referenced kind is not served by the API server.
    #[error("sink kind {kind} ({api_version}) is not served by the API server: {message}")]
    UnknownKind {
        /// Kind.
        kind: String,
        /// apiVersion.
        api_version: String,
        /// The discovery error.
        message: String,
    },
    /// The object has no address yet.
    #[error("sink {kind} {name:?} has no status.address.url yet (is it Ready?)")]
    NotAddressable {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
    },
    /// A URL could not be parsed or joined.
    #[error("sink URL {url:?}: {message}")]
    BadUrl {
        /// The URL.
        url: String,
        /// The parse error.
        message: String,
    },
    /// The API call failed.
    #[error("reading the sink: {0}")]
    Kube(#[source] kube::Error),
}

impl SinkError {
    /// The condition reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing | Self::RelativeWithoutRef(_) => "SinkMissing",
            Self::NotFound { .. } | Self::UnknownKind { .. } => "SinkNotFound",
            Self::NotAddressable { .. } => "SinkNotAddressable",
            Self::BadUrl { .. } => "SinkInvalid",
            Self::OtherNamespace { .. } => "SinkNamespaceInvalid",
            Self::Kube(_) => "SinkResolveFailed",
        }
    }
}

fn join(base: &str, relative: Option<&str>) -> Result<String, SinkError> {
    let Some(rel) = relative.filter(|r| !r.is_empty()) else {
        return Ok(base.to_owned());
    };
    let base_url = url::Url::parse(base).map_err(|e| SinkError::BadUrl {
        url: base.to_owned(),
        message: e.to_string(),
    })?;
    base_url
        .join(rel)
        .map(|u| u.to_string())
        .map_err(|e| SinkError::BadUrl {
            url: rel.to_owned(),
            message: e.to_string(),
        })
}

/// Resolves `dest` for an object in `namespace`, in that namespace only
/// (a reference to another namespace is an error, never read).
pub async fn resolve(
    client: &Client,
    namespace: &str,
    dest: &Destination,
) -> Result<ResolvedSink, SinkError> {
    let uri = dest.uri.as_deref().filter(|u| !u.is_empty());
    let Some(reference) = &dest.reference else {
        let uri = uri.ok_or(SinkError::Missing)?;
        match url::Url::parse(uri) {
            Ok(u) if u.has_host() => {}
            _ => return Err(SinkError::RelativeWithoutRef(uri.to_owned())),
        }
        return Ok(ResolvedSink {
            uri: uri.to_owned(),
            ca_certs: dest.ca_certs.clone(),
            audience: given_audience(dest),
        });
    };
    if let Some(other) = reference
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty() && *n != namespace)
    {
        return Err(SinkError::OtherNamespace {
            namespace: other.to_owned(),
            own: namespace.to_owned(),
        });
    }
    let ns = namespace;
    let api_version = if reference.api_version.is_empty() {
        // `group` without a version: Knative's KReference.group form.
        reference
            .group
            .clone()
            .map(|g| format!("{g}/v1"))
            .unwrap_or_else(|| "v1".to_owned())
    } else {
        reference.api_version.clone()
    };
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version.clone()),
    };
    let not_found = || SinkError::NotFound {
        kind: reference.kind.clone(),
        name: reference.name.clone(),
        namespace: ns.to_owned(),
    };
    if group.is_empty() && version == "v1" && reference.kind == "Service" {
        // From the API server's watch cache (resourceVersion=0): the
        // Service's existence, a moment old at most.
        let api: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
        match api
            .get_with(&reference.name, &kube::api::GetParams::any())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(not_found()),
            Err(e) => return Err(SinkError::Kube(e)),
        }
        let ca = dest.ca_certs.clone().filter(|c| !c.is_empty());
        let scheme = if ca.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}.{ns}.svc.cluster.local", reference.name);
        return Ok(ResolvedSink {
            uri: join(&(base + "/"), uri).map(|u| trim_root_slash(&u, uri))?,
            ca_certs: ca,
            audience: given_audience(dest),
        });
    }
    let gvk = GroupVersionKind::gvk(&group, &version, &reference.kind);
    let (resource, _caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| SinkError::UnknownKind {
            kind: reference.kind.clone(),
            api_version: api_version.clone(),
            message: e.to_string(),
        })?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let obj = api
        .get_opt(&reference.name)
        .await
        .map_err(SinkError::Kube)?
        .ok_or_else(not_found)?;
    let address = pick_address(obj.data.get("status"), reference.address.as_deref());
    let url = address
        .and_then(|a| a.get("url"))
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SinkError::NotAddressable {
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        })?;
    let mut ca = address
        .and_then(|a| a.get("CACerts"))
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    if let Some(extra) = dest.ca_certs.as_deref().filter(|c| !c.is_empty()) {
        // Knative appends the destination's CAs to the Addressable's.
        ca = Some(match ca {
            Some(mut existing) => {
                if !existing.ends_with('\n') {
                    existing.push('\n');
                }
                existing + extra
            }
            None => extra.to_owned(),
        });
    }
    Ok(ResolvedSink {
        uri: join(url, uri)?,
        ca_certs: ca,
        audience: given_audience(dest).or_else(|| address_audience(address)),
    })
}

/// The destination's own `audience` (it wins over the Addressable's, as in Knative's resolver).
fn given_audience(dest: &Destination) -> Option<String> {
    dest.audience.clone().filter(|a| !a.is_empty())
}

/// The `audience` of an Addressable's address.
fn address_audience(address: Option<&serde_json::Value>) -> Option<String> {
    address
        .and_then(|a| a.get("audience"))
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// The address of an Addressable's `status` to send to: the one named `name` in `addresses`;
/// without a name, as Knative's resolver does, the first `https` one of `addresses` when there is
/// one (an Addressable serving both, with Knative's transport encryption on), else `address`.
fn pick_address<'a>(
    status: Option<&'a serde_json::Value>,
    name: Option<&str>,
) -> Option<&'a serde_json::Value> {
    let addresses = status
        .and_then(|s| s.get("addresses"))
        .and_then(|a| a.as_array());
    let url_of = |x: &serde_json::Value| x.get("url").and_then(|u| u.as_str()).map(str::to_owned);
    match name {
        Some(name) => addresses?
            .iter()
            .find(|x| x.get("name").and_then(|n| n.as_str()) == Some(name)),
        None => addresses
            .and_then(|a| {
                a.iter().find(|x| {
                    url_of(x).is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
                })
            })
            .or_else(|| status.and_then(|s| s.get("address"))),
    }
}

/// Without a relative URI, a Service URL has no trailing slash (as
/// upstream's `http://name.ns.svc.cluster.local`).
fn trim_root_slash(joined: &str, relative: Option<&str>) -> String {
    if relative.is_none_or(str::is_empty) {
        joined.trim_end_matches('/').to_owned()
    } else {
        joined.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_address_is_picked_when_there_is_one() {
        let status = serde_json::json!({
            "address": {"url": "http://broker.ns.svc"},
            "addresses": [
                {"name": "http", "url": "http://broker.ns.svc"},
                {"name": "https", "url": "https://broker.ns.svc", "CACerts": "PEM"},
            ],
        });
        let url = |a: Option<&serde_json::Value>| {
            a.and_then(|a| a.get("url"))
                .and_then(|u| u.as_str())
                .map(str::to_owned)
        };
        assert_eq!(
            url(pick_address(Some(&status), None)).as_deref(),
            Some("https://broker.ns.svc")
        );
        // A name picks that one, https or not.
        assert_eq!(
            url(pick_address(Some(&status), Some("http"))).as_deref(),
            Some("http://broker.ns.svc")
        );
        assert_eq!(pick_address(Some(&status), Some("other")), None);
        // Only http addresses: `address`, as before.
        let plain = serde_json::json!({
            "address": {"url": "http://a.ns.svc"},
            "addresses": [{"name": "http", "url": "http://b.ns.svc"}],
        });
        assert_eq!(
            url(pick_address(Some(&plain), None)).as_deref(),
            Some("http://a.ns.svc")
        );
        assert_eq!(pick_address(None, None), None);
    }

    #[test]
    fn the_audience_is_the_destinations_else_the_picked_addresss() {
        let status = serde_json::json!({
            "address": {"url": "http://broker.ns.svc", "audience": "plain-aud"},
            "addresses": [
                {"name": "https", "url": "https://broker.ns.svc", "audience": "tls-aud"},
            ],
        });
        assert_eq!(
            address_audience(pick_address(Some(&status), None)).as_deref(),
            Some("tls-aud")
        );
        assert_eq!(
            address_audience(status.get("address")).as_deref(),
            Some("plain-aud")
        );
        assert_eq!(address_audience(None), None);
        let mut dest = Destination::default();
        assert_eq!(given_audience(&dest), None);
        dest.audience = Some(String::new());
        assert_eq!(given_audience(&dest), None, "empty is unset");
        dest.audience = Some("mine".into());
        assert_eq!(given_audience(&dest).as_deref(), Some("mine"));
    }

    #[test]
    fn relative_join() {
        assert_eq!(join("http://a.b/x/", Some("y")).unwrap(), "http://a.b/x/y");
        assert_eq!(join("http://a.b/x", Some("/y")).unwrap(), "http://a.b/y");
        assert_eq!(join("http://a.b/x", None).unwrap(), "http://a.b/x");
        assert_eq!(
            trim_root_slash("http://s.ns.svc.cluster.local/", None),
            "http://s.ns.svc.cluster.local"
        );
    }
}
