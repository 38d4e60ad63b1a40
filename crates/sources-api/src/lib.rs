//! The `sources.tanzu.vmware.com/v1alpha1` API of vmware-sources: the
//! VSphereSource, VSphereBinding and HorizonSource custom resources, the
//! Knative duck types they embed, Knative's living condition sets,
//! `kmeta.ChildName`, label selectors as text, and the CRDs generated from
//! the types.
//!
//! ```
//! use sources_api::v1alpha1::{VSphereSource, VSphereSourceSpec};
//!
//! let source: VSphereSource = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
//!     "kind": "VSphereSource",
//!     "metadata": {"name": "s", "namespace": "ns"},
//!     "spec": {
//!         "sink": {"uri": "http://x.y"},
//!         "address": "https://vc.local",
//!         "secretRef": {"name": "creds"}
//!     }
//! })).unwrap();
//! // Omitted fields take their defaults.
//! assert_eq!(source.spec.payload_encoding, "application/xml");
//! assert_eq!(source.spec.checkpoint_config.period_seconds, 10);
//! // Without serviceAccountName the adapter gets a dedicated ServiceAccount.
//! assert_eq!(source.spec.service_account("s"), "s-adapter");
//!
//! // The CRD, as committed under config/.
//! let crd = sources_api::crds::vsphere_source();
//! assert_eq!(crd.metadata.name.as_deref(), Some("vspheresources.sources.tanzu.vmware.com"));
//! ```
//!
//! This crate does not pick a `k8s-openapi` version feature; the binary or
//! test that uses it does.

#![forbid(unsafe_code)]

pub mod conditions;
pub mod crds;
pub mod duck;
pub mod filter;
pub mod kmeta;
pub mod overrides;
pub mod selector;
pub mod v1alpha1;
