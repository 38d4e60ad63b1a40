//! The crate's integration tests, one binary: a module per area.

mod api_flavor;
mod vcsim;
