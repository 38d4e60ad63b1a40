//! The integration tests of cloudevent-encode, one test binary with a module per area.

mod cloudevent;
mod golden;
mod properties;
