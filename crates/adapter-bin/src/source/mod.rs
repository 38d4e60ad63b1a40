//! Reading events from the sources.

pub mod vsphere;
