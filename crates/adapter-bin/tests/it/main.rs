//! The integration tests of the adapters, one test binary with a module per area: the adapter
//! binaries run as real processes against the simulators (vsphere-sim, horizon-sim, govmomi's
//! vcsim), real HTTP sinks and a real kube-apiserver.

mod common;
mod horizon_common;
mod sinks;

mod cloudevents_golden;
mod configmap;
mod controller_horizon;
mod delivery;
mod env_contract;
mod faults;
mod filters;
mod horizon;
mod horizon_configmap;
mod migration;
mod module_cycles;
mod oidc;
mod replay;
mod restarts;
mod sink_answers;
mod standby;
mod startup;
mod tracing;
mod vcsim;
