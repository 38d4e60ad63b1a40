//! The integration tests of `sources-api` (one test binary, a module per
//! area):
//!
//! - `crd_yaml`: the CRD YAML committed under `config/` matches the types
//!   (`UPDATE_CRDS=1 cargo test -p sources-api --test it crd_yaml`
//!   rewrites it);
//! - `crds_on_apiserver`: the generated CRDs on a real kube-apiserver.

mod crd_yaml;
mod crds_on_apiserver;
