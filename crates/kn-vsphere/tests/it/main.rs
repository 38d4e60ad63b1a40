//! `kn-vsphere`, the binary, against a real kube-apiserver (kube-harness) with the CRDs, this
//! project's admission webhooks and its controllers (as `crates/controller-bin/tests/webhooks.rs`
//! starts them), govmomi's vcsim, the Horizon simulator, and the real `kn` client.
//!
//! One API server, webhook server and controller set for the whole binary, started by the first
//! test that needs them (in a thread of their own); each test works in its own namespace.

mod auth;
mod bindings;
mod cli;
mod describe;
mod harness;
mod horizon;
mod kn;
mod output;
mod sources;
