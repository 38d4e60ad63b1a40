//! The integration tests of `sources-controller` (one test binary, a module
//! per area), against a real kube-apiserver and etcd (`kube-harness`):
//!
//! - `controller`: the reconcilers, leader election, the HTTP endpoints and
//!   the release manifests;
//! - `webhooks`: the admission webhooks and the VSphereBinding reconciler,
//!   called by the API server;
//! - `admission`: the webhook server's limits, replicas, certificate
//!   rotation and hostile bindings;
//! - `tenancy`: what a namespace user can do to other namespaces through
//!   our objects (issue 22's attacks);
//! - `oidc`: OIDC sender identity (`authentication-oidc`);
//! - `trust_bundles`: Knative trust bundles copied and mounted for the
//!   adapters;
//! - `support`: what they share.

mod admission;
mod controller;
mod oidc;
mod support;
mod tenancy;
mod trust_bundles;
mod webhooks;
