//! The crate's integration tests, one binary: a module per area.

#[macro_use]
mod common;
mod decode;
mod decode_props;
mod example_vsphere_events;
mod log_user_event;
mod protocol;
mod transport;
