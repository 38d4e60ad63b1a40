//! The command line: the Go plugin's commands and flags (cobra/pflag), plus this project's.
//!
//! Flags that the Go plugin marks required are `Option`s here, checked by [`required`] so that
//! a missing one gives cobra's text (`required flag(s) "name" not set`) and an empty one the
//! plugin's own message.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::jsonpath::Template;

/// The root command's description, as the Go plugin's.
pub const ABOUT: &str = "Knative plugin to create Knative compatible Event Sources for VMware vSphere events,\nand Bindings to access the vSphere API";

/// `kn-vsphere`: run standalone or as `kn vsphere …` (kn runs `kn-vsphere` from the PATH).
#[derive(Debug, Parser)]
#[command(
    name = "kn-vsphere",
    about = ABOUT,
    long_about = format!("{ABOUT}\n\nThe Kubernetes configuration comes from KUBECONFIG (else ~/.kube/config, else the \
                          in-cluster service account); the namespace from -n/--namespace, else the \
                          current context's namespace."),
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage vSphere credentials
    #[command(arg_required_else_help = true)]
    Auth(AuthGroup),
    /// Manage vSphere Event Sources
    #[command(arg_required_else_help = true)]
    Source(SourceGroup),
    /// Manage vSphere API bindings
    #[command(arg_required_else_help = true)]
    Binding(BindingGroup),
    /// Manage VMware Horizon credentials and event sources
    #[command(arg_required_else_help = true)]
    Horizon(HorizonGroup),
    /// Prints the plugin version
    Version,
    /// Prints a shell completion script (bash, zsh or fish)
    #[command(long_about = "Prints a shell completion script.\n\n\
        bash: source <(kn-vsphere completion bash)\n\
        zsh:  kn-vsphere completion zsh > \"${fpath[1]}/_kn-vsphere\"\n\
        fish: kn-vsphere completion fish > ~/.config/fish/completions/kn-vsphere.fish")]
    Completion {
        /// The shell.
        shell: Shell,
    },
}

/// Shells [`Command::Completion`] writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// `-n/--namespace`, a persistent flag of each group.
#[derive(Debug, Clone, Default, Args)]
pub struct NamespaceArg {
    /// namespace to use (default namespace if omitted)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// `auth`.
#[derive(Debug, Args)]
pub struct AuthGroup {
    /// The namespace.
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// The command.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// `auth` commands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Create vSphere credentials
    #[command(after_help = AUTH_CREATE_EXAMPLES)]
    Create(AuthCreate),
    /// Delete vSphere credentials
    #[command(
        after_help = "Examples:\n  # Delete vSphere credentials in the default namespace\n  \
        kn vsphere auth delete --name vsphere-credentials\n  \
        # Delete vSphere credentials in the specified namespace\n  \
        kn vsphere auth delete --namespace ns --name vsphere-credentials"
    )]
    Delete(DeleteArgs<SecretNameHelp>),
}

const AUTH_CREATE_EXAMPLES: &str = "Examples:
  # Create vSphere credentials in the default namespace
  kn vsphere auth create --username jane-doe --password s3cr3t --name vsphere-credentials
  # Create vSphere credentials in the default namespace and validate against vCenter before creating the secret
  kn vsphere auth create --username jane-doe --password s3cr3t --name vsphere-credentials --verify-url https://myvc.corp.local
  # Create vSphere credentials in the specified namespace
  kn vsphere auth create --namespace ns --username john-doe --password s3cr3t --name vsphere-credentials
  # Create vSphere credentials in the specified namespace with the password retrieved via standard input
  kn vsphere auth create --namespace ns --username john-doe --password-stdin --name vsphere-credentials";

/// `auth create`. `Debug` shows whether a password was given, never the password.
#[derive(Args)]
pub struct AuthCreate {
    /// username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// read password from standard input
    #[arg(short = 'i', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub password_stdin: bool,
    /// name of the Secret created for the credentials
    #[arg(long)]
    pub name: Option<String>,
    /// vCenter URL to verify specified credentials (optional)
    #[arg(long, value_name = "URL")]
    pub verify_url: Option<String>,
    /// Ignore certificate errors during credential verification
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub verify_insecure: bool,
    /// PEM file of CA certificates to trust for vCenter during credential verification
    #[arg(long, value_name = "FILE")]
    pub verify_ca_bundle: Option<PathBuf>,
    /// Print the Secret as YAML instead of creating it
    #[arg(long)]
    pub dry_run: bool,
}

/// Help text of a `--name` flag, per command.
pub trait NameHelp {
    /// The text.
    const HELP: &'static str;
}

/// `--name` of `auth delete`.
#[derive(Debug, Clone)]
pub struct SecretNameHelp;
impl NameHelp for SecretNameHelp {
    const HELP: &'static str = "name of the credentials Secret to delete";
}

/// `--name` of `source delete`.
#[derive(Debug, Clone)]
pub struct SourceNameHelp;
impl NameHelp for SourceNameHelp {
    const HELP: &'static str = "name of the source to delete";
}

/// `--name` of `binding delete`.
#[derive(Debug, Clone)]
pub struct BindingNameHelp;
impl NameHelp for BindingNameHelp {
    const HELP: &'static str = "name of the binding to delete";
}

/// `delete --name NAME`.
#[derive(Debug, Args)]
pub struct DeleteArgs<H: NameHelp + Send + Sync + 'static> {
    /// The name.
    #[arg(long, help = H::HELP)]
    pub name: Option<String>,
    #[arg(skip)]
    _help: std::marker::PhantomData<H>,
}

/// `source`.
#[derive(Debug, Args)]
pub struct SourceGroup {
    /// The namespace.
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// The command.
    #[command(subcommand)]
    pub command: SourceCommand,
}

/// `source` commands.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Create a vSphere source to react to vSphere events
    #[command(after_help = SOURCE_CREATE_EXAMPLES)]
    Create(Box<SourceCreate>),
    /// Delete a vSphere source
    #[command(
        after_help = "Examples:\n  # Delete the source in the default namespace\n  \
        kn vsphere source delete --name vc-01-source\n  \
        # Delete the source in the specified namespace\n  \
        kn vsphere source delete --namespace ns --name vc-01-source"
    )]
    Delete(DeleteArgs<SourceNameHelp>),
    /// List vSphere sources
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  # List the sources in the default namespace\n  \
        kn vsphere source list\n  \
        # List the sources in the specified namespace\n  \
        kn vsphere source list --namespace ns\n  \
        # List the sources in all namespaces with JSON output\n  \
        kn vsphere source list --all-namespaces -o json"
    )]
    List(ListArgs),
    /// Show a vSphere source: spec, sink, conditions, adapter and checkpoint
    Describe(DescribeArgs),
}

const SOURCE_CREATE_EXAMPLES: &str = "Examples:
  # Create the source in the default namespace, sending events to the specified sink URI
  kn vsphere source create --name vc-01-source --vc-address https://my-vsphere-endpoint.local --skip-tls-verify --secret-ref vsphere-credentials --sink-uri http://where.to.send.stuff
  # Create the source in the specified namespace, sending events to the specified service
  kn vsphere source create --namespace ns --name vc-01-source --vc-address https://my-vsphere-endpoint.local --skip-tls-verify --secret-ref vsphere-credentials --sink-api-version v1 --sink-kind Service --sink-name the-service-name
  # Create the source in the specified namespace, sending events to the specified service with custom checkpoint behavior
  kn vsphere source create --namespace ns --name vc-01-source --vc-address https://my-vsphere-endpoint.local --skip-tls-verify --secret-ref vsphere-credentials --sink-api-version v1 --sink-kind Service --sink-name the-service-name --checkpoint-age 1h --checkpoint-period 30s
  # Only some event types, a private CA for vCenter, rejected events to a dead-letter Service
  kn vsphere source create --name vc-01-source --vc-address https://vc.corp.local --secret-ref vsphere-credentials --sink-api-version eventing.knative.dev/v1 --sink-kind Broker --sink-name default --event-types VmPoweredOnEvent,VmPoweredOffEvent --ca-certs-file corp-ca.pem --dead-letter-sink-api-version v1 --dead-letter-sink-kind Service --dead-letter-sink-name dlq";

/// Sink and dead-letter sink flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SinkArgs {
    /// sink URI (can be absolute, or relative to the referred sink resource)
    #[arg(short = 'u', long, value_name = "URI")]
    pub sink_uri: Option<String>,
    /// sink API version
    #[arg(long, value_name = "VERSION")]
    pub sink_api_version: Option<String>,
    /// sink kind
    #[arg(long, value_name = "KIND")]
    pub sink_kind: Option<String>,
    /// sink name
    #[arg(long, value_name = "NAME")]
    pub sink_name: Option<String>,
    /// dead-letter sink URI for events the sink refuses (absolute, or relative to the dead-letter sink resource)
    #[arg(long, value_name = "URI")]
    pub dead_letter_uri: Option<String>,
    /// dead-letter sink API version
    #[arg(long, value_name = "VERSION")]
    pub dead_letter_sink_api_version: Option<String>,
    /// dead-letter sink kind
    #[arg(long, value_name = "KIND")]
    pub dead_letter_sink_kind: Option<String>,
    /// dead-letter sink name
    #[arg(long, value_name = "NAME")]
    pub dead_letter_sink_name: Option<String>,
}

/// `source create`.
#[derive(Debug, Args)]
pub struct SourceCreate {
    /// name of the source to create
    #[arg(long)]
    pub name: Option<String>,
    /// URL of vCenter instance to connect to retrieve events
    #[arg(short = 'a', long, value_name = "URL")]
    pub vc_address: Option<String>,
    /// disables certificate verification for the source address
    #[arg(short = 'k', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub skip_tls_verify: bool,
    /// reference to the Kubernetes secret for the vSphere credentials needed for the source address
    #[arg(short = 's', long, value_name = "SECRET")]
    pub secret_ref: Option<String>,
    /// The sink.
    #[command(flatten)]
    pub sink: SinkArgs,
    /// service account name
    #[arg(long, value_name = "NAME")]
    pub service_account_name: Option<String>,
    /// CloudEvent data encoding scheme (xml or json)
    #[arg(long, default_value = "xml", value_name = "ENCODING")]
    pub encoding: String,
    /// maximum allowed age for replaying events determined by last successful event in checkpoint
    #[arg(long, default_value = "5m0s", value_name = "DURATION")]
    pub checkpoint_age: String,
    /// period between saving checkpoints
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub checkpoint_period: String,
    /// only these vSphere event types, e.g. VmPoweredOnEvent,VmPoweredOffEvent (all when omitted)
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    pub event_types: Vec<String>,
    /// PEM file of CA certificates to trust for vCenter (instead of the system's)
    #[arg(long, value_name = "FILE")]
    pub ca_certs_file: Option<PathBuf>,
    /// only events of these categories: info, warning, error, user (all when omitted)
    #[arg(long, value_delimiter = ',', value_name = "CATEGORIES")]
    pub categories: Vec<String>,
    /// only events of this inventory object: a path (/Datacenter/vm/Folder) or Type:value (Folder:group-v3)
    #[arg(long, value_name = "PATH|TYPE:VALUE")]
    pub entity: Option<String>,
    /// with --entity: self, children or all (the default) of what is below it
    #[arg(long, value_name = "RECURSION", requires = "entity")]
    pub recursion: Option<String>,
    /// only events caused by these users, e.g. 'VSPHERE.LOCAL\alice'
    #[arg(long, value_delimiter = ',', value_name = "USERS")]
    pub users: Vec<String>,
    /// also vCenter's own events (without a user) when filtering by --users
    #[arg(long)]
    pub include_system_users: bool,
    /// Print the VSphereSource as YAML instead of creating it
    #[arg(long)]
    pub dry_run: bool,
}

/// Output formats of `list` and `describe` (`-o`), as kubectl's.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// JSON, as `kubectl get -o json`.
    Json,
    /// YAML, as `kubectl get -o yaml`.
    Yaml,
    /// `<kind>.<group>/<name>` per object, as `kubectl get -o name`.
    Name,
    /// A kubectl JSONPath template applied to the object (or the list), as
    /// `kubectl get -o jsonpath=TEMPLATE`.
    JsonPath(Template),
}

/// The `-o` help.
const OUTPUT_HELP: &str = "Output format: json, yaml, name, or jsonpath=TEMPLATE (kubectl's JSONPath, \
     e.g. -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}')";

impl FromStr for Output {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Output::Json),
            "yaml" => Ok(Output::Yaml),
            "name" => Ok(Output::Name),
            "jsonpath" | "jsonpath=" => {
                Err("-o jsonpath needs a template, e.g. -o jsonpath='{.metadata.name}'".to_owned())
            }
            _ => match s.strip_prefix("jsonpath=") {
                Some(template) => template
                    .parse()
                    .map(Output::JsonPath)
                    .map_err(|e: crate::jsonpath::ParseError| e.to_string()),
                None => Err(format!(
                    "unknown output format {s:?}: use json, yaml, name or jsonpath=TEMPLATE"
                )),
            },
        }
    }
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// list objects in all namespaces
    #[arg(short = 'A', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub all_namespaces: bool,
    /// Output format (default: a table)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = Output::from_str,
          help = OUTPUT_HELP)]
    pub output: Option<Output>,
    /// When using the default output format, don't print headers (default: print headers).
    #[arg(long)]
    pub no_headers: bool,
}

/// `describe NAME`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The object's name
    pub name: String,
    /// Output format (default: a human-readable description)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = Output::from_str,
          help = OUTPUT_HELP)]
    pub output: Option<Output>,
}

/// `binding`.
#[derive(Debug, Args)]
pub struct BindingGroup {
    /// The namespace.
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// The command.
    #[command(subcommand)]
    pub command: BindingCommand,
}

/// `binding` commands.
#[derive(Debug, Subcommand)]
pub enum BindingCommand {
    /// Create a vSphere binding to call into the vSphere API
    #[command(after_help = BINDING_CREATE_EXAMPLES)]
    Create(BindingCreate),
    /// Delete a vSphere binding
    #[command(
        after_help = "Examples:\n  # Delete the binding in the default namespace\n  \
        kn vsphere binding delete --name vc-binding\n  \
        # Delete the binding in the specified namespace\n  \
        kn vsphere binding delete --namespace ns --name vc-binding"
    )]
    Delete(DeleteArgs<BindingNameHelp>),
    /// List vSphere bindings
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  # List the bindings in the default namespace\n  \
        kn vsphere binding list\n  \
        # List the bindings in the specified namespace\n  \
        kn vsphere binding list --namespace ns\n  \
        # List the bindings in all namespaces with JSON output\n  \
        kn vsphere binding list --all-namespaces -o json"
    )]
    List(ListArgs),
    /// Show a vSphere binding: spec, subject and conditions
    Describe(DescribeArgs),
}

const BINDING_CREATE_EXAMPLES: &str = "Examples:
  # Create the binding in the default namespace, targeting a Deployment subject
  kn vsphere binding create --name vc-binding --vc-address https://my-vsphere-endpoint.local --skip-tls-verify --secret-ref vsphere-credentials --subject-api-version apps/v1 --subject-kind Deployment --subject-name my-simple-app
  # Create the binding in the specified namespace, targeting a selection of Job subjects
  kn vsphere binding create --namespace ns --name vc-binding --vc-address https://my-vsphere-endpoint.local --skip-tls-verify --secret-ref vsphere-credentials --subject-api-version batch/v1 --subject-kind Job --subject-selector foo=bar";

/// `binding create`.
#[derive(Debug, Args)]
pub struct BindingCreate {
    /// name of the binding to create
    #[arg(long)]
    pub name: Option<String>,
    /// URL of vCenter instance to associate the binding with
    #[arg(short = 'a', long, value_name = "URL")]
    pub vc_address: Option<String>,
    /// disables certificate verification for the binding API address
    #[arg(short = 'k', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub skip_tls_verify: bool,
    /// reference to the Kubernetes secret for the vSphere credentials needed for the binding API address
    #[arg(short = 's', long, value_name = "SECRET")]
    pub secret_ref: Option<String>,
    /// subject API version
    #[arg(long, value_name = "VERSION")]
    pub subject_api_version: Option<String>,
    /// subject kind
    #[arg(long, value_name = "KIND")]
    pub subject_kind: Option<String>,
    /// subject name (cannot be used with --subject-selector)
    #[arg(long, value_name = "NAME")]
    pub subject_name: Option<String>,
    /// subject selector (cannot be used with --subject-name)
    #[arg(long, value_name = "SELECTOR")]
    pub subject_selector: Option<String>,
    /// PEM file of CA certificates to trust for vCenter (injected as VC_CA_CERTS)
    #[arg(long, value_name = "FILE")]
    pub ca_certs_file: Option<PathBuf>,
    /// Print the VSphereBinding as YAML instead of creating it
    #[arg(long)]
    pub dry_run: bool,
}

/// `horizon`.
#[derive(Debug, Args)]
pub struct HorizonGroup {
    /// The namespace.
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// The command.
    #[command(subcommand)]
    pub command: HorizonCommand,
}

/// `horizon` commands.
#[derive(Debug, Subcommand)]
pub enum HorizonCommand {
    /// Manage Horizon credentials
    #[command(arg_required_else_help = true)]
    Auth {
        /// The command.
        #[command(subcommand)]
        command: HorizonAuthCommand,
    },
    /// Manage Horizon Event Sources
    #[command(arg_required_else_help = true)]
    Source {
        /// The command.
        #[command(subcommand)]
        command: HorizonSourceCommand,
    },
}

/// `horizon auth` commands.
#[derive(Debug, Subcommand)]
pub enum HorizonAuthCommand {
    /// Create Horizon credentials
    #[command(
        after_help = "Examples:\n  # Create Horizon credentials in the default namespace\n  \
        kn vsphere horizon auth create --name horizon-credentials --domain corp --username administrator --password-stdin\n  \
        # Check them against Horizon first\n  \
        kn vsphere horizon auth create --name horizon-credentials --domain corp --username administrator --password s3cr3t --verify-url https://horizon.corp.local"
    )]
    Create(HorizonAuthCreate),
    /// Delete Horizon credentials
    Delete(DeleteArgs<SecretNameHelp>),
}

/// `horizon auth create`. `Debug` shows whether a password was given, never the password.
#[derive(Args)]
pub struct HorizonAuthCreate {
    /// Active Directory domain of the user
    #[arg(short = 'd', long)]
    pub domain: Option<String>,
    /// username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// read password from standard input
    #[arg(short = 'i', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub password_stdin: bool,
    /// name of the Secret created for the credentials
    #[arg(long)]
    pub name: Option<String>,
    /// Horizon URL to verify specified credentials (optional)
    #[arg(long, value_name = "URL")]
    pub verify_url: Option<String>,
    /// Ignore certificate errors during credential verification
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub verify_insecure: bool,
    /// Print the Secret as YAML instead of creating it
    #[arg(long)]
    pub dry_run: bool,
}

/// `horizon source` commands.
#[derive(Debug, Subcommand)]
pub enum HorizonSourceCommand {
    /// Create a Horizon source to react to Horizon audit events
    #[command(
        after_help = "Examples:\n  # Send the audit events of a Horizon server to a Broker\n  \
        kn vsphere horizon source create --name horizon-source --address https://horizon.corp.local --secret-ref horizon-credentials --sink-api-version eventing.knative.dev/v1 --sink-kind Broker --sink-name default"
    )]
    Create(Box<HorizonSourceCreate>),
    /// Delete a Horizon source
    Delete(DeleteArgs<SourceNameHelp>),
    /// List Horizon sources
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show a Horizon source: spec, sink, conditions, adapter and checkpoint
    Describe(DescribeArgs),
}

/// `horizon source create`.
#[derive(Debug, Args)]
pub struct HorizonSourceCreate {
    /// name of the source to create
    #[arg(long)]
    pub name: Option<String>,
    /// URL of the Horizon server to retrieve audit events from
    #[arg(short = 'a', long, value_name = "URL")]
    pub address: Option<String>,
    /// disables certificate verification for the Horizon address
    #[arg(short = 'k', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL",
          hide_default_value = true, hide_possible_values = true)]
    pub skip_tls_verify: bool,
    /// reference to the Kubernetes secret with the Horizon domain, username and password
    #[arg(short = 's', long, value_name = "SECRET")]
    pub secret_ref: Option<String>,
    /// PEM file of CA certificates to trust for the Horizon server (besides the system's)
    #[arg(long, value_name = "FILE")]
    pub ca_certs_file: Option<PathBuf>,
    /// only audit events of these types, e.g. VLSI_USERLOGGEDIN (all when omitted)
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    pub event_types: Vec<String>,
    /// only audit events of these modules, e.g. Broker,Vlsi
    #[arg(long, value_delimiter = ',', value_name = "MODULES")]
    pub modules: Vec<String>,
    /// only audit events of these severities: INFO, WARNING, ERROR, AUDIT_SUCCESS, AUDIT_FAIL, UNKNOWN
    #[arg(long, value_delimiter = ',', value_name = "SEVERITIES")]
    pub severities: Vec<String>,
    /// The sink.
    #[command(flatten)]
    pub sink: SinkArgs,
    /// service account name (created when missing)
    #[arg(long, value_name = "NAME")]
    pub service_account_name: Option<String>,
    /// Print the HorizonSource as YAML instead of creating it
    #[arg(long)]
    pub dry_run: bool,
}

/// Cobra's check of required flags: every flag in `flags` (name, value) that was not given is
/// reported, in pflag's (sorted) order.
pub fn required(flags: &[(&str, bool)]) -> Result<(), String> {
    let mut missing: Vec<&str> = flags
        .iter()
        .filter(|(_, given)| !given)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    Err(format!(
        "required flag(s) \"{}\" not set",
        missing.join("\", \"")
    ))
}

/// What `Debug` prints for a password: whether there is one.
fn redacted(password: Option<&String>) -> &'static str {
    match password {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

impl std::fmt::Debug for AuthCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCreate")
            .field("username", &self.username)
            .field(
                "password",
                &format_args!("{}", redacted(self.password.as_ref())),
            )
            .field("password_stdin", &self.password_stdin)
            .field("name", &self.name)
            .field("verify_url", &self.verify_url)
            .field("verify_insecure", &self.verify_insecure)
            .field("verify_ca_bundle", &self.verify_ca_bundle)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl std::fmt::Debug for HorizonAuthCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HorizonAuthCreate")
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field(
                "password",
                &format_args!("{}", redacted(self.password.as_ref())),
            )
            .field("password_stdin", &self.password_stdin)
            .field("name", &self.name)
            .field("verify_url", &self.verify_url)
            .field("verify_insecure", &self.verify_insecure)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn debug_never_shows_a_password() {
        for argv in [
            &[
                "kn-vsphere",
                "auth",
                "create",
                "--name",
                "c",
                "-u",
                "jane",
                "-p",
                "s3cr3t-pw",
            ][..],
            &[
                "kn-vsphere",
                "horizon",
                "auth",
                "create",
                "--name",
                "c",
                "-d",
                "corp",
                "-u",
                "jane",
                "-p",
                "s3cr3t-pw",
            ][..],
        ] {
            let cli = Cli::try_parse_from(argv).expect("parses");
            let shown = format!("{cli:?}");
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
            assert!(
                shown.contains("<redacted>") && shown.contains("jane"),
                "{shown}"
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn required_flags_are_reported_like_cobra() {
        assert_eq!(
            required(&[("vc-address", false), ("name", false), ("secret-ref", true)]),
            Err("required flag(s) \"name\", \"vc-address\" not set".to_owned())
        );
        assert_eq!(required(&[("name", true)]), Ok(()));
    }

    #[test]
    fn pflag_style_booleans() {
        let cli = Cli::try_parse_from([
            "kn-vsphere",
            "source",
            "create",
            "--skip-tls-verify=false",
            "-n",
            "x",
        ])
        .expect("parses");
        let Command::Source(g) = cli.command else {
            panic!("source")
        };
        let SourceCommand::Create(c) = g.command else {
            panic!("create")
        };
        assert!(!c.skip_tls_verify);
        assert_eq!(g.ns.namespace.as_deref(), Some("x"));
        let cli = Cli::try_parse_from(["kn-vsphere", "source", "create", "-k"]).expect("parses");
        let Command::Source(g) = cli.command else {
            panic!("source")
        };
        let SourceCommand::Create(c) = g.command else {
            panic!("create")
        };
        assert!(c.skip_tls_verify);
    }

    #[test]
    fn namespace_before_or_after_the_command() {
        for args in [
            ["kn-vsphere", "-n", "a", "source", "list"].as_slice(),
            ["kn-vsphere", "source", "-n", "a", "list"].as_slice(),
            ["kn-vsphere", "source", "list", "--namespace", "a"].as_slice(),
        ] {
            let parsed = Cli::try_parse_from(args);
            if args[1] == "-n" {
                // The flag belongs to the groups, as in the Go plugin.
                assert!(parsed.is_err());
                continue;
            }
            let Command::Source(g) = parsed.expect("parses").command else {
                panic!("source")
            };
            assert_eq!(g.ns.namespace.as_deref(), Some("a"));
        }
    }
}
