//! `kn-vsphere`, the `kn vsphere` plugin of vmware-sources: create vCenter (and Horizon)
//! credentials, VSphereSources, VSphereBindings and HorizonSources from the command line, and
//! see what a source is doing.
//!
//! The binary is a thin wrapper over this crate: [`cli::Cli`] is the command line (the Go
//! plugin's commands, flags, defaults and messages, plus `describe`, `horizon`,
//! `-o json|yaml|name|jsonpath=…`,
//! `--dry-run` and `completion`), and [`run`] executes one parsed command and returns what it
//! prints. As a kn plugin it is found on the `PATH` by `kn`, which runs `kn-vsphere <args>` for
//! `kn vsphere <args>`.
//!
//! ```
//! use clap::Parser as _;
//! use kn_vsphere::cli::Cli;
//!
//! // A VSphereSource printed as YAML instead of created (`--dry-run`): no cluster needed.
//! let cli = Cli::parse_from([
//!     "kn-vsphere", "source", "create", "--namespace", "events", "--name", "vc-01",
//!     "--vc-address", "https://vcenter.corp.local", "--secret-ref", "vsphere-credentials",
//!     "--sink-uri", "http://event-display.events.svc.cluster.local", "--dry-run",
//! ]);
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let yaml = runtime.block_on(kn_vsphere::run(cli)).unwrap();
//! assert!(yaml.contains("kind: VSphereSource"));
//! assert!(yaml.contains("namespace: events"));
//! assert!(yaml.contains("payloadEncoding: application/xml"));
//! ```
//!
//! The cluster comes from `KUBECONFIG` (else `~/.kube/config`, else the in-cluster service
//! account) and the namespace from `-n/--namespace`, else the current context's. Every failure is
//! an [`error::Error`] printed as one line; the process exits with 1.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod binding;
pub mod cli;
pub mod describe;
pub mod error;
pub mod flags;
pub mod jsonpath;
pub mod kinds;
pub mod kube_ctx;
pub mod print;
pub mod source;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{
    AuthCommand, BindingCommand, Cli, Command, HorizonAuthCommand, HorizonCommand,
    HorizonSourceCommand, SourceCommand,
};
use crate::error::Error;

/// The plugin's version (`version`).
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The build date, from `KN_VSPHERE_BUILD_DATE` at build time (release builds set it).
pub const BUILD_DATE: &str = match option_env!("KN_VSPHERE_BUILD_DATE") {
    Some(d) => d,
    None => "unknown",
};
/// The git revision, from `KN_VSPHERE_GIT_REVISION` at build time (release builds set it).
pub const GIT_REVISION: &str = match option_env!("KN_VSPHERE_GIT_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// What `version` prints, in the Go plugin's layout.
pub fn version_text() -> String {
    format!("Version:      {VERSION}\nBuild Date:   {BUILD_DATE}\nGit Revision: {GIT_REVISION}\n")
}

/// Runs one command; returns what it prints on standard output.
pub async fn run(cli: Cli) -> Result<String, Error> {
    match cli.command {
        Command::Version => Ok(version_text()),
        Command::Completion { shell } => {
            let mut buf = Vec::new();
            let mut cmd = Cli::command();
            let generator = match shell {
                cli::Shell::Bash => clap_complete::Shell::Bash,
                cli::Shell::Zsh => clap_complete::Shell::Zsh,
                cli::Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(generator, &mut cmd, "kn-vsphere", &mut buf);
            String::from_utf8(buf).map_err(|e| Error::Render(e.to_string()))
        }
        Command::Auth(group) => {
            let ns = group.ns.namespace.as_deref();
            match &group.command {
                AuthCommand::Create(args) => auth::create(ns, args).await,
                AuthCommand::Delete(args) => auth::delete(ns, &args.name).await,
            }
        }
        Command::Source(group) => {
            let ns = group.ns.namespace.as_deref();
            let kind = kinds::vsphere_source();
            match &group.command {
                SourceCommand::Create(args) => source::create(ns, args).await,
                SourceCommand::Delete(args) => delete(&kind, ns, &args.name).await,
                SourceCommand::List(args) => list(&kind, ns, args).await,
                SourceCommand::Describe(args) => source::describe(ns, args).await,
                SourceCommand::Replay(args) => source::replay(&kind, ns, args).await,
            }
        }
        Command::Binding(group) => {
            let ns = group.ns.namespace.as_deref();
            let kind = kinds::vsphere_binding();
            match &group.command {
                BindingCommand::Create(args) => binding::create(ns, args).await,
                BindingCommand::Delete(args) => delete(&kind, ns, &args.name).await,
                BindingCommand::List(args) => list(&kind, ns, args).await,
                BindingCommand::Describe(args) => binding::describe(ns, args).await,
            }
        }
        Command::Horizon(group) => {
            let ns = group.ns.namespace.as_deref();
            let kind = kinds::horizon_source();
            match &group.command {
                HorizonCommand::Auth { command } => match command {
                    HorizonAuthCommand::Create(args) => auth::horizon_create(ns, args).await,
                    HorizonAuthCommand::Delete(args) => auth::horizon_delete(ns, &args.name).await,
                },
                HorizonCommand::Source { command } => match command {
                    HorizonSourceCommand::Create(args) => source::horizon_create(ns, args).await,
                    HorizonSourceCommand::Delete(args) => delete(&kind, ns, &args.name).await,
                    HorizonSourceCommand::List(args) => list(&kind, ns, args).await,
                    HorizonSourceCommand::Replay(args) => source::replay(&kind, ns, args).await,
                    HorizonSourceCommand::Describe(args) => {
                        source::horizon_describe(ns, args).await
                    }
                },
            }
        }
    }
}

async fn delete(
    kind: &kinds::Kind,
    namespace: Option<&str>,
    name: &Option<String>,
) -> Result<String, Error> {
    cli::required(&[("name", flags::is_set(name))]).map_err(Error::Usage)?;
    let name = flags::nonempty(
        name,
        "'name' requires a nonempty name provided with the --name option",
    )?;
    let cluster = kube_ctx::Cluster::connect().await?;
    let ns = cluster.namespace(namespace);
    kinds::delete(&cluster, kind, &ns, name).await
}

async fn list(
    kind: &kinds::Kind,
    namespace: Option<&str>,
    args: &cli::ListArgs,
) -> Result<String, Error> {
    kinds::check_list_flags(namespace, args)?;
    let cluster = kube_ctx::Cluster::connect().await?;
    kinds::list(&cluster, kind, namespace, args).await
}

/// JSON logs on standard error when `RUST_LOG` is set (e.g. `RUST_LOG=debug`); none otherwise.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
}

/// The whole program: parse the command line, run the command, print its output, or print
/// `Error: <one line>` on standard error. Exit code 0 on success (and for `--help`), else 1.
pub fn main_from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    // One process-wide rustls provider (ring), before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logging();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not a failure of the command.
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The Go plugin's flag messages keep their line breaks; everything else is one line.
            let text = match &e {
                Error::Usage(m) => m.clone(),
                other => error::one_line(&other.to_string()),
            };
            eprintln!("Error: {text}");
            ExitCode::FAILURE
        }
    }
}
