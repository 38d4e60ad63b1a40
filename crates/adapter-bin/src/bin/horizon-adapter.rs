//! `horizon-adapter`: every VMware Horizon audit event as a CloudEvent to a sink. See `--help`.

/// See [`adapter::runtime::memory`].
#[global_allocator]
static ALLOCATOR: adapter::runtime::memory::Allocator = adapter::runtime::memory::Allocator;

fn main() {
    adapter::cli::main::<adapter::adapter::horizon::Horizon>();
}
