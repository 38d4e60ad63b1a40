//! The integration tests of cloudevent-encode, one test binary with a module per area.

mod binding;
mod cloudevent;
mod golden;
mod properties;
