//! Reading events from the sources.

pub mod horizon;
pub mod vsphere;
