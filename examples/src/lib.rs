//! Shared start-up for the example binaries (`list-vms`, `tag-new-vms`, `tail-events`); see
//! `examples/README.md` for what each shows and how to run it.

/// Log to stderr, filtered by `RUST_LOG` (default `warn`), and install the rustls provider.
pub fn init() {
    vsphere_client::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The exit code for a program's result: errors are printed as `<program>: <error>` and give 1;
/// a closed stdout (`| head`) counts as success.
pub fn exit_code(
    program: &str,
    result: Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
