//! The crate's integration tests, one binary: a module per area.

mod backlog;
mod cli;
mod clients;
mod common;
mod faults;
mod releases;
mod semantics;
