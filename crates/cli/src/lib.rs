//! The `lisens` command line: the vendor's key and issuing commands, the
//! installation's license commands, the server, and the one-command demo.
//! Every failure prints `error[CODE]: message` on stderr and exits 1; usage
//! errors exit 2.

mod config;
mod demo;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use lisens_core::access::Decision;
use lisens_core::codes;
use lisens_core::{LicenseError, ModuleName, PublicKey, UnverifiedLicense, VerifiedLicense};
use lisens_issuer::IssuerError;
use lisens_store::{AccessView, Actor, NewAssociate, Received, Store, StoreError, TokenScope};

#[derive(Parser)]
#[command(
    name = "lisens",
    version,
    about = "Self-hosted license management: issue, verify, load and serve signed licenses"
)]
pub struct Cli {
    /// Installation database: sqlite://PATH (the default, embedded) or
    /// postgres://USER@HOST:PORT/DB [setting: database, LISENS_DATABASE_URL].
    #[arg(long, global = true)]
    database: Option<String>,

    /// The vendor's public key file(s) this installation pins. When given,
    /// an owner signed by any other key is invalid, whatever the database
    /// says, for every command (check, status, serve, load...).
    /// `serve` and `license status` also take them as --public-key
    /// [setting: public_keys, LISENS_PUBLIC_KEY].
    #[arg(long = "pin-key", global = true, value_delimiter = ',')]
    pinned_keys: Vec<PathBuf>,

    /// Moves this process's clock by this many seconds (negative: back).
    /// For tests: it gives nothing that moving the system clock does not.
    #[arg(long, global = true, hide = true, allow_hyphen_values = true)]
    clock_offset_secs: Option<i64>,

    /// Settings file (default ./lisens.toml when it exists; LISENS_CONFIG).
    /// Flags and environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make (or reuse) a demo installation in a directory and serve it.
    Demo(demo::DemoArgs),
    /// Serve the installation's HTTP API.
    Serve(ServeArgs),
    /// The vendor's side: keys and signing.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// The installation's licenses.
    #[command(subcommand)]
    License(LicenseCommand),
    /// The installation's users (associates).
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Sites: the central database and its satellites, and site-counted features.
    #[command(subcommand)]
    Site(SiteCommand),
    /// System events: No Login, No Freetext, No Travel, message of the day, and the system's own.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Metered services: report usage, import it, and see the month against the threshold.
    #[command(subcommand)]
    Metering(MeteringCommand),
    /// The settings file (lisens.toml).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the (SQLite) database while the server runs: a consistent snapshot.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// The audit log: who changed what, when, and from where (newest first).
    Audit {
        /// Only entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only this actor (a login, token:SCOPE, cli:USER, issuer).
        #[arg(long)]
        actor: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup in place of the (SQLite) database; stop the server first.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every setting's effective value and where it came from (secrets masked); fail on invalid ones.
    Check,
}

#[derive(Subcommand)]
enum MeteringCommand {
    /// Report one usage event (storage, mailing_emails, customer_centre_logins, chat_sessions, form_submissions).
    Emit {
        service: String,
        quantity: i64,
        /// The idempotency key (default: a fresh random id).
        #[arg(long)]
        id: Option<String>,
        /// When it happened (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Import usage events from CSV (id,service,quantity,occurred_at), in batches of 1000.
    Import { file: PathBuf },
    /// A month's usage, threshold, overage and price per service.
    Report {
        /// YYYY-MM (default: this month).
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Add an event: no-login, no-freetext, no-travel, motd or custom.
    Add {
        key: String,
        #[arg(long)]
        message: String,
        /// system, database, group or user.
        #[arg(long, default_value = "system")]
        scope: String,
        /// The group or user a scoped event is about.
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Expected end (RFC 3339).
        #[arg(long)]
        eta: Option<String>,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// List events, newest first.
    List {
        /// active, finished or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// End an active event.
    End { id: i64 },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Define a site (the central one, or a satellite within the `satellite` site license).
    Add {
        name: String,
        #[arg(long)]
        satellite: bool,
    },
    /// List sites and the site-counted features each uses.
    List {
        #[arg(long)]
        json: bool,
    },
    Remove {
        name: String,
    },
    /// Enable a site-counted feature (e.g. reporter-studio) on a site, within its count.
    Enable {
        site: String,
        module: String,
    },
    Disable {
        site: String,
        module: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (with login rights, active).
    Add {
        login: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (one line); otherwise the user has none.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Deactivate a user: they can no longer log in (never the last active administrator).
    Deactivate { login: String },
    /// Activate a user again (recovers a deactivated administrator).
    Activate { login: String },
    /// Set a user's password, read from standard input (one line); their sessions end.
    ResetPassword {
        login: String,
        /// Read the new password from standard input (required: a password is never an argument).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Import users from a CSV file (login,name,email[,plan]) as a job with progress.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token; its secret is printed once.
    Create {
        #[arg(long, default_value = "cli")]
        name: String,
        /// Shorthand for --scope admin.
        #[arg(long, conflicts_with = "scope")]
        admin: bool,
        /// admin (everything) or check (access checks only).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [setting: listen, LISENS_LISTEN; default 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Public key file(s) to pin, besides --pin-key / LISENS_PUBLIC_KEY.
    #[arg(long = "public-key", value_delimiter = ',')]
    public_keys: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum IssuerCommand {
    /// Create a new Ed25519 key pair: DIR/issuer.key (mode 0600) and DIR/issuer.pub.
    Keygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Serve the issuer: the license endpoint installations call, and vendor admin pages.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// The issuer's private key file [setting: issuer_key, LISENS_ISSUER_KEY].
        #[arg(long)]
        key: Option<PathBuf>,
        /// The license spec new customers start from (default: the demo license).
        #[arg(long)]
        template: Option<PathBuf>,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Customers: add, list, show.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Set a module's count for a customer (0 removes it); signs a new license version.
    Set {
        serial: String,
        module: String,
        count: u32,
        /// The issuer's private key file [setting: issuer_key, LISENS_ISSUER_KEY].
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Set a customer's license dates (YYYY-MM-DD; an empty value removes one); signs a new version.
    Dates {
        serial: String,
        #[arg(long)]
        expiration: Option<String>,
        #[arg(long)]
        grace_to: Option<String>,
        #[arg(long)]
        maintenance_to: Option<String>,
        #[arg(long)]
        next_check_date: Option<String>,
        #[arg(long)]
        admin_warning_date: Option<String>,
        /// The issuer's private key file [setting: issuer_key, LISENS_ISSUER_KEY].
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Set (or --clear) the message a customer's installation is shown at its next check.
    Message {
        serial: String,
        #[arg(long, required_unless_present = "clear")]
        text: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Write a customer's current signed license to a file (to mail it).
    Export {
        serial: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Set the password of the vendor admin pages (user `admin`), read from standard input.
    AdminPassword {
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Sign the license a spec (TOML) describes into a license file.
    Issue {
        /// The issuer's private key (issuer.key).
        #[arg(long)]
        key: PathBuf,
        /// The license spec, e.g. examples/demo-license.toml.
        #[arg(long)]
        spec: PathBuf,
        /// Where to write the license file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign, with the current key, that a new key signs an owner's licenses
    /// too: installations trust it with `license trust-key --statement FILE`.
    RotateKey {
        /// The current private key (issuer.key), trusted by installations.
        #[arg(long)]
        key: PathBuf,
        /// The new public key (its issuer.pub).
        #[arg(long)]
        new_public_key: PathBuf,
        /// The owner name the licenses carry.
        #[arg(long)]
        owner: String,
        /// Where to write the rotation statement.
        #[arg(long)]
        out: PathBuf,
    },
}

impl IssuerDb {
    /// `--issuer-database`, else the `issuer_database` setting.
    fn url<'a>(&'a self, config: &'a config::Config) -> &'a str {
        self.url.as_deref().unwrap_or(&config.issuer_database)
    }
}

/// `--key`, else the `issuer_key` setting.
fn issuer_key(flag: Option<PathBuf>, config: &config::Config) -> Result<PathBuf, Failure> {
    flag.or_else(|| config.issuer_key.clone()).ok_or_else(|| {
        Failure::new(
            codes::USAGE,
            "the issuer's key file is needed: --key FILE or the issuer_key setting (LISENS_ISSUER_KEY)",
        )
    })
}

/// The issuer's own database.
#[derive(Args)]
struct IssuerDb {
    /// The issuer's database: sqlite://PATH or postgres://...
    /// [setting: issuer_database, LISENS_ISSUER_DATABASE_URL; default sqlite://issuer.db]
    #[arg(long = "issuer-database")]
    url: Option<String>,
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Add a customer with the template license; prints its installation secret once.
    Add {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        company: String,
        #[arg(long, default_value = "")]
        contact: String,
        /// The license spec to start from (default: the demo license).
        #[arg(long)]
        template: Option<PathBuf>,
        /// The issuer's private key file [setting: issuer_key, LISENS_ISSUER_KEY].
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        db: IssuerDb,
    },
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Let the customer's installation register again (after a reinstall).
    ResetRegistration {
        serial: String,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// A customer's license and history.
    Show {
        serial: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: IssuerDb,
    },
}

#[derive(Subcommand)]
enum LicenseCommand {
    /// Register with the issuer using the serial number and owner (company)
    /// name from the vendor; fetches and loads the license.
    Register {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        serial: String,
        /// The owner (company) name the vendor registered.
        #[arg(long)]
        owner: String,
        /// The vendor's public key.
        #[arg(long = "public-key")]
        public_key: PathBuf,
    },
    /// Trust one more vendor key for an owner (key rotation: the vendor signs with a new key).
    TrustKey {
        #[arg(long, required_unless_present = "statement", requires = "public_key")]
        owner: Option<String>,
        #[arg(long = "public-key", requires = "owner")]
        public_key: Option<PathBuf>,
        /// A key rotation signed by a key already trusted for the owner
        /// (`lisens issuer rotate-key`), instead of --owner and --public-key.
        #[arg(long, conflicts_with_all = ["owner", "public_key"])]
        statement: Option<PathBuf>,
    },
    /// Stop trusting a key for an owner (once its licenses are signed by the new one).
    RetireKey {
        #[arg(long)]
        owner: String,
        #[arg(long)]
        key_id: String,
    },
    /// Ask the issuer for a new license now.
    CheckNow {
        #[arg(long)]
        json: bool,
    },
    /// Check a license file's signatures; prints a summary.
    Verify {
        file: PathBuf,
        #[arg(long = "public-key")]
        public_key: PathBuf,
    },
    /// Show what a license file contains (verified when --public-key is given).
    Inspect {
        file: PathBuf,
        #[arg(long = "public-key")]
        public_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Load a license file ("Load license from file"): the owner's first
    /// license is loaded; a newer one is activated when safe, else kept pending.
    Load {
        file: PathBuf,
        #[arg(long = "public-key")]
        public_key: PathBuf,
        /// Who loads it, for the license history.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Show the pending license of each owner: only the changed modules, with
    /// in use, total, added, new total, new free.
    Pending {
        #[arg(long)]
        json: bool,
    },
    /// "Activate": apply an owner's pending license.
    Activate {
        /// The owner (defaults to the only owner with a pending license).
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// "Remove excess licenses": take MODULE from these users (plans that grant it included).
    RemoveExcess {
        module: String,
        #[arg(required = true)]
        logins: Vec<String>,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Who holds a module.
    Holders {
        module: String,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// The license history: loads, activations, pending licenses, rejections, removals.
    History {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Give a user license (or a plan, with its set=) to a user.
    Assign {
        login: String,
        module: String,
        /// Holds from this time (RFC 3339, or YYYY-MM-DD for the start of that day, UTC).
        #[arg(long, value_parser = parse_from)]
        valid_from: Option<time::OffsetDateTime>,
        /// Holds until this time (RFC 3339, or YYYY-MM-DD for the end of that day, UTC).
        #[arg(long, value_parser = parse_to)]
        valid_to: Option<time::OffsetDateTime>,
    },
    /// Take a user license (or a plan, with what only it granted) from a user.
    Unassign { login: String, module: String },
    /// The run-time check: exit 0 when granted, 1 when denied (printing the reason).
    /// Without MODULE: may the user log in (user + web)? With --system: is a system license present?
    Check {
        /// The user's login name (omit with --system).
        login: Option<String>,
        module: Option<String>,
        /// Check a system license instead, e.g. --system saint.
        #[arg(long, conflicts_with_all = ["login", "module"])]
        system: Option<String>,
        /// Whose license to check (a third party's add-on); default: the
        /// installation's primary owner (the vendor).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Every owner and module: licensed, in use, available, and whether each row is intact.
    Status {
        #[arg(long)]
        json: bool,
        /// Public key file(s) to pin, besides --pin-key / LISENS_PUBLIC_KEY.
        #[arg(long = "public-key", value_delimiter = ',')]
        public_keys: Vec<PathBuf>,
    },
}

/// A failure with its stable code.
#[derive(Debug)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    /// A negative answer already printed (exit 1, nothing on stderr).
    fn silent() -> Self {
        Self::new("", "")
    }

    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

macro_rules! failure_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::new(e.code(), e.to_string())
            }
        }
    )*};
}
failure_from!(StoreError, IssuerError, LicenseError);

type Outcome = Result<(), Failure>;

pub fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            return report(Failure::new(
                codes::ARGUMENT_NOT_UTF8,
                format!("{bad:?}: arguments must be UTF-8 text"),
            ))
        }
    };
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: clap's explanation under a stable code, exit 2.
            let text = e.render().to_string();
            eprint!("error[USAGE]: {}", text.strip_prefix("error: ").unwrap_or(&text));
            return ExitCode::from(2);
        }
    };
    // The one configuration: defaults < file < environment < flags.
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(l) => l,
        Err(f) => return report(f),
    };
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return config_check(&loaded);
    }
    let mut config = match loaded.into_config() {
        Ok(c) => c,
        Err(f) => return report(f),
    };
    if let Some(d) = &cli.database {
        config.database = d.clone();
    }
    if !cli.pinned_keys.is_empty() {
        config.public_keys = cli.pinned_keys.clone();
    }
    if let Some(o) = cli.clock_offset_secs {
        config.clock_offset_secs = o;
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return report(Failure::new(codes::RUNTIME_ERROR, e.to_string())),
    };
    let database = config.database.clone();
    let audited = audited(&cli.command);
    match runtime.block_on(run(cli, config)) {
        Ok(()) => {
            if let Some(action) = audited {
                // The command's change is done; a failure to record it is
                // reported but does not undo it.
                if let Err(f) = runtime.block_on(record_cli(&database, &action, &args)) {
                    eprintln!(
                        "warning[{}]: the audit log was not written: {}",
                        f.code, f.message
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(f) => report(f),
    }
}

/// The audit action of a command that changes the installation's data.
fn audited(c: &Command) -> Option<String> {
    let name = match c {
        Command::License(l) => match l {
            LicenseCommand::Register { .. } => "license register",
            LicenseCommand::TrustKey { .. } => "license trust-key",
            LicenseCommand::RetireKey { .. } => "license retire-key",
            LicenseCommand::CheckNow { .. } => "license check-now",
            LicenseCommand::Load { .. } => "license load",
            LicenseCommand::Activate { .. } => "license activate",
            LicenseCommand::RemoveExcess { .. } => "license remove-excess",
            LicenseCommand::Assign { .. } => "license assign",
            LicenseCommand::Unassign { .. } => "license unassign",
            _ => return None,
        },
        Command::User(u) => match u {
            UserCommand::Add { .. } => "user add",
            UserCommand::Deactivate { .. } => "user deactivate",
            UserCommand::Activate { .. } => "user activate",
            UserCommand::ResetPassword { .. } => "user reset-password",
            UserCommand::Import { .. } => "user import",
            UserCommand::List { .. } => return None,
        },
        Command::Site(s) => match s {
            SiteCommand::List { .. } => return None,
            _ => "site",
        },
        Command::Events(e) => match e {
            EventsCommand::Add { .. } => "events add",
            EventsCommand::End { .. } => "events end",
            EventsCommand::List { .. } => return None,
        },
        Command::Token(TokenCommand::Create { .. }) => "token create",
        Command::Token(TokenCommand::Revoke { .. }) => "token revoke",
        Command::Restore { .. } => "restore",
        _ => return None,
    };
    Some(format!("cli {name}"))
}

/// Records a command's change: the operating-system user, `local`, and the
/// arguments (the settings file and database URL left out: they may hold a
/// password).
async fn record_cli(database: &str, action: &str, args: &[String]) -> Outcome {
    let mut shown = Vec::new();
    let mut skip = false;
    for a in args.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if a == "--database" || a == "--config" {
            skip = true;
            continue;
        }
        if a.starts_with("--database=") || a.starts_with("--config=") {
            continue;
        }
        shown.push(a.as_str());
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let store = Store::open(database).await?;
    store
        .record_audit(&lisens_store::audit::NewAudit {
            actor: format!("cli:{user}"),
            address: "local".into(),
            action: action.to_owned(),
            target: String::new(),
            detail: shown.join(" "),
        })
        .await?;
    store.close().await;
    Ok(())
}

fn report(f: Failure) -> ExitCode {
    if !f.code.is_empty() {
        eprintln!("error[{}]: {}", f.code, f.message);
    }
    ExitCode::FAILURE
}

fn init_tracing(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // log_format = "json": one JSON object per line, for log collectors.
    let _ = if config.log_format == config::LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `lisens config check`: every setting, its effective value (database
/// passwords masked) and its source; exit 1 when any is invalid.
fn config_check(loaded: &config::Loaded) -> ExitCode {
    match &loaded.file {
        Some(f) => println!("settings file: {}", f.display()),
        None => println!("settings file: none (./lisens.toml not found, LISENS_CONFIG not set)"),
    }
    let mut problems = loaded.problems.clone();
    problems.extend(config::check_files(&loaded.config));
    for s in config::SETTINGS {
        let source = match loaded.sources.get(s.key) {
            Some(config::Source::Environment) => format!("environment {}", s.env),
            Some(config::Source::File) => "file".to_owned(),
            _ => "default".to_owned(),
        };
        let value = match loaded.shown.get(s.key).map(String::as_str) {
            None | Some("") => "(none)",
            Some(v) => v,
        };
        let bad: Vec<&str> = problems
            .iter()
            .filter(|(k, _)| *k == s.key)
            .map(|(_, why)| why.as_str())
            .collect();
        if bad.is_empty() {
            println!("{:<24} = {value:<40} # {source}; {}", s.key, s.about);
        } else {
            println!(
                "{:<24} = {value:<40} # {source}; INVALID: {}",
                s.key,
                bad.join("; ")
            );
        }
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        report(Failure::new(
            codes::CONFIG_INVALID,
            format!("{} setting(s) are invalid", problems.len()),
        ))
    }
}

/// `lisens restore`: checks the backup (integrity, migrations, every license
/// row's signature is read) and moves it into place atomically.
async fn restore(database: &str, from: &Path, force: bool) -> Outcome {
    let target = lisens_store::backup::sqlite_path(database).ok_or_else(|| {
        Failure::new(
            codes::RESTORE_UNSUPPORTED,
            "lisens restore puts back SQLite backups; for PostgreSQL use pg_restore (docs/operations.md)",
        )
    })?;
    if !from.is_file() {
        return Err(Failure::new(
            codes::FILE_NOT_FOUND,
            format!("{}: no such file", from.display()),
        ));
    }
    if target.exists() && !force {
        return Err(Failure::new(
            codes::DATABASE_EXISTS,
            format!(
                "{} exists: stop the server and pass --force to replace it",
                target.display()
            ),
        ));
    }
    // Held until the backup is in place: refused while a server uses the
    // database (it would go on writing to the replaced file).
    let _lock = lisens_store::backup::lock_for_restore(&target)?;
    // Check a copy, so the backup itself is never changed (opening applies
    // migrations when the backup is from an older release).
    let staging = target.with_extension("restoring");
    let _ = std::fs::remove_file(&staging);
    std::fs::copy(from, &staging)
        .map_err(|e| Failure::new(codes::FILE_UNREADABLE, format!("{}: {e}", from.display())))?;
    if !lisens_store::backup::is_lisens_database(&staging)
        .await
        .unwrap_or(false)
    {
        let _ = std::fs::remove_file(&staging);
        return Err(Failure::new(
            codes::BACKUP_INVALID,
            format!(
                "{}: not a lisens database (made by lisens backup)",
                from.display()
            ),
        ));
    }
    let checked = async {
        let store = Store::open(&format!("sqlite://{}", staging.display())).await?;
        store.integrity_check().await?;
        let status = store.license_status().await?;
        let users = store.list_associates().await?.len();
        store.close().await;
        Ok::<_, StoreError>((status, users))
    }
    .await;
    let _ = std::fs::remove_file(lisens_store::backup::lock_path(&staging));
    let (status, users) = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(Failure::new(
                codes::BACKUP_INVALID,
                format!("{}: {e}", from.display()),
            ));
        }
    };
    std::fs::rename(&staging, &target)
        .map_err(|e| Failure::new(codes::RESTORE_FAILED, format!("{}: {e}", target.display())))?;
    // The replaced database's write-ahead log must not be applied to the
    // restored file (the server is stopped, so nothing has it open).
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    let modules: usize = status.owners.iter().map(|o| o.modules.len()).sum();
    println!(
        "restored {} from {}: {} owner(s), {modules} module row(s), {users} user(s)",
        target.display(),
        from.display(),
        status.owners.len()
    );
    Ok(())
}

async fn run(cli: Cli, config: config::Config) -> Outcome {
    lisens_store::clock::set_offset_secs(config.clock_offset_secs);
    let db = Db {
        url: config.database.clone(),
        pinned: read_public_keys(&config.public_keys)?,
    };
    match cli.command {
        Command::Demo(args) => demo::run(args, &config).await,
        Command::Serve(args) => serve(&db, args, &config).await,
        Command::Issuer(IssuerCommand::Keygen { dir }) => {
            let key = lisens_issuer::keygen(&dir)?;
            println!(
                "wrote {} (secret, mode 0600) and {}\nkey id {}",
                dir.join(lisens_issuer::SECRET_FILE).display(),
                dir.join(lisens_issuer::PUBLIC_FILE).display(),
                key.public().id()
            );
            Ok(())
        }
        Command::Issuer(IssuerCommand::Serve {
            listen,
            key,
            template,
            db,
        }) => {
            let issuer = open_issuer(&db, key, &config).await?;
            let template = match template {
                Some(p) => read_text(&p)?,
                None => demo::DEMO_SPEC.to_owned(),
            };
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| Failure::new(codes::LISTEN_FAILED, format!("cannot listen on {listen}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Failure::new(codes::LISTEN_FAILED, e.to_string()))?;
            println!("lisens issuer listening on http://{addr}/ (admin pages at /admin)");
            // The internet-facing side: the installation's limits on
            // connections, header time, requests in flight and their time.
            let limits = config.server.limits.clone();
            let app =
                lisens_issuer::http::app(lisens_issuer::http::IssuerState::new(issuer, template)).layer(
                    axum::middleware::from_fn_with_state(limits.clone(), lisens_server::limits::enforce),
                );
            let proxies = Arc::new(config.server.proxies.clone());
            lisens_server::serve_router(listener, app, &limits, proxies, lisens_server::shutdown_signal())
                .await
                .map_err(|e| Failure::new(codes::SERVER_ERROR, e.to_string()))
        }
        Command::Issuer(IssuerCommand::Customer(cmd)) => customer(cmd, &config).await,
        Command::Issuer(IssuerCommand::Set {
            serial,
            module,
            count,
            key,
            db,
        }) => {
            let c = open_issuer(&db, key, &config)
                .await?
                .set_count(&serial, &module, count, "cli")
                .await?;
            println!(
                "{serial}: {module} set to {count}; license v{} signed",
                c.license_version
            );
            Ok(())
        }
        Command::Issuer(IssuerCommand::Dates {
            serial,
            expiration,
            grace_to,
            maintenance_to,
            next_check_date,
            admin_warning_date,
            key,
            db,
        }) => {
            let given = [
                ("expiration", expiration),
                ("grace_to", grace_to),
                ("maintenance_to", maintenance_to),
                ("next_check_date", next_check_date),
                ("admin_warning_date", admin_warning_date),
            ];
            let dates: Vec<(&str, &str)> = given
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
                .collect();
            if dates.is_empty() {
                return Err(Failure::new(codes::INVALID_INPUT, "give at least one date"));
            }
            let c = open_issuer(&db, key, &config)
                .await?
                .set_dates(&serial, &dates, "cli")
                .await?;
            println!("{serial}: dates set; license v{} signed", c.license_version);
            Ok(())
        }
        Command::Issuer(IssuerCommand::Message {
            serial,
            text,
            url,
            clear,
            db,
        }) => {
            let store = lisens_store::IssuerStore::open(db.url(&config)).await?;
            let text = if clear { None } else { text };
            store
                .set_message(&serial, text.as_deref(), url.as_deref(), "cli")
                .await?;
            println!(
                "{serial}: message {}",
                if text.is_some() { "set" } else { "cleared" }
            );
            Ok(())
        }
        Command::Issuer(IssuerCommand::Export { serial, out, db }) => {
            let c = lisens_store::IssuerStore::open(db.url(&config))
                .await?
                .customer(&serial)
                .await?;
            write_atomically(&out, &c.document)?;
            println!(
                "wrote {} (license v{} for {})",
                out.display(),
                c.license_version,
                c.company_name
            );
            Ok(())
        }
        Command::Issuer(IssuerCommand::AdminPassword { db }) => {
            let password = read_password()?;
            let hash = lisens_server::auth::hash_password(&password)
                .map_err(|e| Failure::new(codes::PASSWORD_HASH_FAILED, e.to_string()))?;
            lisens_store::IssuerStore::open(db.url(&config))
                .await?
                .set_admin_password_hash(&hash)
                .await?;
            println!("issuer admin password set (user: admin)");
            Ok(())
        }
        Command::Issuer(IssuerCommand::RotateKey {
            key,
            new_public_key,
            owner,
            out,
        }) => {
            let key = lisens_issuer::read_signing_key(&key)?;
            let new = lisens_issuer::read_public_key(&new_public_key)?;
            let owner = lisens_core::OwnerName::parse(&owner)
                .map_err(|e| Failure::new(codes::INVALID_INPUT, e.to_string()))?;
            let text = lisens_core::statement::KeyRotation::sign(
                owner.clone(),
                &new,
                lisens_store::clock::now(),
                &key,
            );
            std::fs::write(&out, format!("{text}\n"))
                .map_err(|e| Failure::new(codes::FILE_UNWRITABLE, format!("{}: {e}", out.display())))?;
            println!(
                "wrote {}: key {} vouches for key {} for {owner}",
                out.display(),
                key.public().id(),
                new.id()
            );
            Ok(())
        }
        Command::Issuer(IssuerCommand::Issue { key, spec, out }) => {
            let key = lisens_issuer::read_signing_key(&key)?;
            let spec_text = read_text(&spec)?;
            let document = lisens_issuer::issue(&spec_text, &key)?;
            write_atomically(&out, &document)?;
            let license = VerifiedLicense::verify(&document, &[key.public().clone()])?;
            println!("wrote {}: {}", out.display(), output::summary(&license));
            Ok(())
        }
        Command::License(cmd) => license(&db, cmd).await,
        Command::User(cmd) => user(&db, cmd).await,
        Command::Site(cmd) => site(&db, cmd).await,
        Command::Events(cmd) => events(&db, cmd).await,
        Command::Metering(cmd) => metering(&db, cmd, &config.server.zone).await,
        Command::Config(ConfigCommand::Check) => Ok(()),
        Command::Backup { out } => {
            if !config.database.starts_with("sqlite://") {
                return Err(Failure::new(
                    codes::BACKUP_UNSUPPORTED,
                    "lisens backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)",
                ));
            }
            let store = db.open().await?;
            store.backup_to(&out).await?;
            store.close().await;
            println!(
                "wrote a consistent copy of {} to {}",
                config::mask_url(&config.database),
                out.display()
            );
            Ok(())
        }
        Command::Restore { from, force } => restore(&config.database, &from, force).await,
        Command::Audit {
            since,
            actor,
            limit,
            json,
        } => {
            let since = since
                .map(|s| {
                    lisens_store::stamp::parse_rfc3339(&s).ok_or_else(|| {
                        Failure::new(codes::INVALID_INPUT, format!("--since {s:?} is not RFC 3339"))
                    })
                })
                .transpose()?;
            if !(1..=10_000).contains(&limit) {
                return Err(Failure::new(codes::INVALID_INPUT, "--limit is 1 to 10000"));
            }
            let store = db.open().await?;
            let entries = store
                .audit_log(&lisens_store::audit::AuditFilter { since, actor }, 0, limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries).unwrap_or_default());
            } else {
                for e in &entries {
                    println!(
                        "{} {} from {}: {} {} {}",
                        e.at, e.actor, e.address, e.action, e.target, e.detail
                    );
                }
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create { name, admin, scope }) => {
            let scope = match (admin, scope.as_deref()) {
                (true, _) | (false, Some("admin")) => TokenScope::Admin,
                (false, Some(other)) => TokenScope::parse(other)?,
                (false, None) => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give --admin or --scope SCOPE",
                    ));
                }
            };
            let store = db.open().await?;
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let token = store.create_token(&name, scope, secret).await?;
            eprintln!(
                "token {} ({}) created; it is shown once:",
                token.id,
                scope.as_str()
            );
            println!("{}", token.secret);
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            db.open().await?.revoke_token(id).await?;
            println!("token {id} revoked");
            Ok(())
        }
    }
}

async fn open_issuer(
    db: &IssuerDb,
    key: Option<PathBuf>,
    config: &config::Config,
) -> Result<lisens_issuer::service::Issuer, Failure> {
    let key = lisens_issuer::read_signing_key(&issuer_key(key, config)?)?;
    let store = lisens_store::IssuerStore::open(db.url(config)).await?;
    Ok(lisens_issuer::service::Issuer::new(store, key))
}

async fn customer(cmd: CustomerCommand, config: &config::Config) -> Outcome {
    match cmd {
        CustomerCommand::Add {
            serial,
            company,
            contact,
            template,
            key,
            db,
        } => {
            let template = match template {
                Some(p) => read_text(&p)?,
                None => demo::DEMO_SPEC.to_owned(),
            };
            let issuer = open_issuer(&db, key, config).await?;
            let secret = issuer
                .add_customer(&serial, &company, &contact, &template, "cli")
                .await?;
            eprintln!(
                "customer {serial} ({company}) added with license v1; its installation secret, shown once:"
            );
            println!("{secret}");
            Ok(())
        }
        CustomerCommand::List { json, db } => {
            let customers = lisens_store::IssuerStore::open(db.url(config))
                .await?
                .customers()
                .await?;
            output::customers(&customers, json);
            Ok(())
        }
        CustomerCommand::ResetRegistration { serial, db } => {
            lisens_store::IssuerStore::open(db.url(config))
                .await?
                .reset_registration(&serial, "cli")
                .await?;
            println!("{serial}: the installation may register again");
            Ok(())
        }
        CustomerCommand::Show { serial, json, db } => {
            let store = lisens_store::IssuerStore::open(db.url(config)).await?;
            let c = store.customer(&serial).await?;
            let history = store.history(&serial).await?;
            output::customer(&c, &history, json);
            Ok(())
        }
    }
}

fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(codes::INVALID_INPUT, format!("cannot read the password: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < 8 {
        return Err(Failure::new(
            codes::PASSWORD_TOO_SHORT,
            "a password has at least 8 characters",
        ));
    }
    Ok(password)
}

async fn events(database: &Db, cmd: EventsCommand) -> Outcome {
    use lisens_core::events::{EventKey, EventScope, EventStatus};
    let store = database.open().await?;
    let bad = |e: lisens_core::ParseError| Failure::new(codes::INVALID_INPUT, e.to_string());
    match cmd {
        EventsCommand::Add {
            key,
            message,
            scope,
            target,
            description,
            eta,
            by,
        } => {
            let event = lisens_store::NewEvent {
                key: EventKey::parse_admin(&key).map_err(bad)?,
                scope: EventScope::parse(&scope).map_err(bad)?,
                target,
                message,
                description,
                eta,
                activated_by: by,
            };
            let id = store.add_event(&event).await?;
            println!("event {id} ({key}) added");
        }
        EventsCommand::List { status, limit, json } => {
            let filter = lisens_store::EventFilter {
                status: status
                    .as_deref()
                    .map(EventStatus::parse)
                    .transpose()
                    .map_err(bad)?,
                ..Default::default()
            };
            output::events(&store.events(&filter, 0, limit).await?, json);
        }
        EventsCommand::End { id } => {
            store.end_event(id, EventStatus::Finished).await?;
            println!("event {id} ended");
        }
    }
    Ok(())
}

/// Imports users as a job: its event shows progress; if this process dies
/// the next server process marks it failed.
async fn import_users(store: &Store, file: &Path) -> Outcome {
    let text = read_text(file)?;
    let rows = lisens_core::import::parse_users(&text).map_err(import_failure)?;
    // The whole file is checked against what is stored before anything is
    // written; only a plan that is full can still stop the job midway.
    let existing: std::collections::HashSet<String> = store
        .list_associates()
        .await?
        .into_iter()
        .map(|a| lisens_core::LoginName::fold(&a.login_name).into_owned())
        .collect();
    let status = store.license_status().await?;
    let modules: std::collections::HashSet<&str> = status
        .owners
        .iter()
        .flat_map(|o| &o.modules)
        .filter(|m| m.effective())
        .map(|m| m.name.as_str())
        .collect();
    for row in &rows {
        if existing.contains(&*lisens_core::LoginName::fold(row.login.as_str())) {
            return Err(Failure::new(
                codes::ALREADY_EXISTS,
                format!(
                    "{}: line {}: user {} already exists",
                    file.display(),
                    row.line,
                    row.login
                ),
            ));
        }
        if let Some(plan) = row.plan.as_ref().filter(|p| !modules.contains(p.as_str())) {
            return Err(Failure::new(
                codes::MODULE_UNKNOWN,
                format!(
                    "{}: line {}: no module {plan} in the license",
                    file.display(),
                    row.line
                ),
            ));
        }
    }
    let total = rows.len().max(1) as i64;
    let job = store
        .start_job(
            "user-import",
            &format!("importing {} users from {}", rows.len(), file.display()),
            None,
            "cli",
        )
        .await?;
    let mut done = 0i64;
    for row in &rows {
        let login = row.login.as_str();
        let step = async {
            store
                .create_associate(&NewAssociate {
                    login_name: login.to_owned(),
                    full_name: row.full_name.clone(),
                    email: row.email.clone(),
                    is_admin: false,
                    password_hash: None,
                })
                .await?;
            if let Some(plan) = &row.plan {
                store.assign(login, plan.as_str()).await?;
            }
            Ok::<(), StoreError>(())
        };
        if let Err(e) = step.await {
            let why = format!("stopped at {login} after {done} of {total}: {}: {e}", e.code());
            store.finish_job(job, false, &why).await?;
            return Err(Failure::new(e.code(), why));
        }
        done += 1;
        if done % 10 == 0 || done == total {
            store
                .job_progress(job, done * 100 / total, &format!("{done} of {total} users"))
                .await?;
        }
    }
    store
        .finish_job(job, true, &format!("{done} users imported"))
        .await?;
    println!("{done} users imported (job {job})");
    Ok(())
}

async fn metering(database: &Db, cmd: MeteringCommand, zone: &lisens_core::metering::Zone) -> Outcome {
    use lisens_store::metering::UsageEvent;
    let store = database.open().await?;
    let zone = zone.clone();
    let now = || {
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is a valid nanosecond")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339 formats UTC")
    };
    match cmd {
        MeteringCommand::Emit {
            service,
            quantity,
            id,
            at,
        } => {
            let id = id.unwrap_or_else(|| {
                let b: [u8; 16] = rand::random();
                b.iter().map(|x| format!("{x:02x}")).collect()
            });
            let event = UsageEvent {
                id: id.clone(),
                service,
                quantity: quantity.into(),
                occurred_at: at.unwrap_or_else(now),
            };
            let r = store.ingest(&[event], &zone).await.map_err(batch_failure)?;
            store.check_thresholds(&zone).await?;
            println!(
                "{} (id {id})",
                if r.accepted == 1 {
                    "counted"
                } else {
                    "already counted"
                }
            );
        }
        MeteringCommand::Import { file } => {
            let text = read_text(&file)?;
            let (installed, now) = (store.installed_at().await?, time::OffsetDateTime::now_utc());
            let rows = || lisens_core::import::usage_rows(&text, now, installed, &zone);
            // The whole file is checked first: a bad line stores nothing.
            let mut total = 0u64;
            for row in rows() {
                row.map_err(import_failure)?;
                total += 1;
            }
            if total == 0 {
                return Err(Failure::new(
                    codes::CSV_EMPTY,
                    format!("{}: no events after the header line", file.display()),
                ));
            }
            let mut batch = Vec::with_capacity(lisens_store::metering::MAX_BATCH);
            let (mut accepted, mut duplicates) = (0, 0);
            // A bar over the file's bytes on a terminal; nothing otherwise.
            let bar = indicatif::ProgressBar::new(text.len() as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent:>3}% {msg} ({elapsed}, about {eta} left)",
                )
                .expect("a valid template"),
            );
            let mut rows = rows().peekable();
            while let Some(row) = rows.next() {
                let row = row.map_err(import_failure)?;
                batch.push(row.event);
                if batch.len() == lisens_store::metering::MAX_BATCH || rows.peek().is_none() {
                    let res = store
                        .ingest_checked(&std::mem::take(&mut batch))
                        .await
                        .map_err(batch_failure)?;
                    accepted += res.accepted;
                    duplicates += res.duplicates;
                    bar.set_position(row.end_byte);
                    bar.set_message(format!("{} of {total} events", accepted + duplicates));
                }
            }
            bar.finish_and_clear();
            store.check_thresholds(&zone).await?;
            println!("{accepted} events counted, {duplicates} already counted");
        }
        MeteringCommand::Report { month, json } => {
            let month = month
                .unwrap_or_else(|| lisens_core::metering::month_of(time::OffsetDateTime::now_utc(), &zone));
            output::usage(&store.usage_report(&month, &zone).await?, json);
        }
    }
    Ok(())
}

/// A refused batch: every bad item with its code.
fn import_failure(e: lisens_core::import::ImportError) -> Failure {
    Failure::new(e.code, e.to_string())
}

fn batch_failure(e: StoreError) -> Failure {
    match &e {
        StoreError::BatchInvalid(items) => Failure::new(
            codes::BATCH_INVALID,
            items
                .iter()
                .map(|i| format!("item {}: {}: {}", i.index, i.code, i.detail))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => e.into(),
    }
}

async fn site(database: &Db, cmd: SiteCommand) -> Outcome {
    let store = database.open().await?;
    match cmd {
        SiteCommand::Add { name, satellite } => {
            store.add_site(&name, satellite).await?;
            println!(
                "{} site {name} added",
                if satellite { "satellite" } else { "central" }
            );
        }
        SiteCommand::List { json } => output::sites(&store.list_sites().await?, json),
        SiteCommand::Remove { name } => {
            store.remove_site(&name).await?;
            println!("site {name} removed");
        }
        SiteCommand::Enable { site, module } => {
            store.enable_site_module(&site, &module).await?;
            println!("{module} enabled on {site}");
        }
        SiteCommand::Disable { site, module } => {
            store.disable_site_module(&site, &module).await?;
            println!("{module} disabled on {site}");
        }
    }
    Ok(())
}

fn parse_time(s: &str, end_of_day: bool) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    let t = if end_of_day {
        time::macros::time!(23:59:59)
    } else {
        time::Time::MIDNIGHT
    };
    Ok(date.with_time(t).assume_utc())
}

fn parse_from(s: &str) -> Result<time::OffsetDateTime, String> {
    parse_time(s, false)
}

fn parse_to(s: &str) -> Result<time::OffsetDateTime, String> {
    parse_time(s, true)
}

async fn user(database: &Db, cmd: UserCommand) -> Outcome {
    let store = database.open().await?;
    match cmd {
        UserCommand::Add {
            login,
            name,
            email,
            admin,
            password_stdin,
        } => {
            let password_hash = if password_stdin {
                Some(
                    lisens_server::auth::hash_password(&read_password()?)
                        .map_err(|e| Failure::new(codes::PASSWORD_HASH_FAILED, e.to_string()))?,
                )
            } else {
                None
            };
            let full_name = name.unwrap_or_else(|| login.clone());
            let id = store
                .create_associate(&NewAssociate {
                    login_name: login.clone(),
                    full_name,
                    email,
                    is_admin: admin,
                    password_hash,
                })
                .await?;
            println!("user {login} created (id {id})");
            Ok(())
        }
        UserCommand::List { json } => {
            output::users(&store.list_associates().await?, json);
            Ok(())
        }
        UserCommand::Import { file } => import_users(&store, &file).await,
        UserCommand::Deactivate { login } => {
            store.deactivate_associate(&login).await?;
            println!("user {login} deactivated");
            Ok(())
        }
        UserCommand::Activate { login } => {
            store.activate_associate(&login).await?;
            println!("user {login} activated");
            Ok(())
        }
        UserCommand::ResetPassword { login, .. } => {
            store.associate(&login).await?;
            let hash = lisens_server::session::new_password_hash(read_password()?)
                .await
                .map_err(|e| Failure::new(e.code, e.detail))?;
            store.set_password_hash(&login, &hash).await?;
            println!("password of {login} set; their sessions ended");
            Ok(())
        }
    }
}

async fn license(database: &Db, cmd: LicenseCommand) -> Outcome {
    match cmd {
        LicenseCommand::Verify { file, public_key } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let license = VerifiedLicense::verify(&read_text(&file)?, &[key])?;
            println!("OK {}", output::summary(&license));
            Ok(())
        }
        LicenseCommand::Inspect {
            file,
            public_key,
            json,
        } => {
            let text = read_text(&file)?;
            let unverified = UnverifiedLicense::parse(&text)?;
            let verified = match public_key {
                None => None,
                Some(path) => {
                    let key = lisens_issuer::read_public_key(&path)?;
                    Some(VerifiedLicense::verify(&text, &[key]).map_err(|e| e.code()))
                }
            };
            output::inspect(
                &unverified,
                verified.as_ref().map(|r| r.as_ref().map(|_| ()).map_err(|c| *c)),
                json,
            );
            match verified {
                Some(Err(_)) => Err(Failure::new(
                    codes::LICENSE_SIGNATURE_INVALID,
                    "the license does not verify",
                )),
                _ => Ok(()),
            }
        }
        LicenseCommand::Load {
            file,
            public_key,
            actor,
        } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let text = read_text(&file)?;
            let license = VerifiedLicense::verify(&text, std::slice::from_ref(&key))?;
            let store = database.open().await?;
            let actor = Actor {
                name: &actor,
                automatic: false,
            };
            let received = store
                .receive_license(&license, &key, &text, "file", actor)
                .await?;
            output::received(&received, &license);
            Ok(())
        }
        LicenseCommand::Register {
            issuer,
            serial,
            owner,
            public_key,
        } => {
            let key = lisens_issuer::read_public_key(&public_key)?;
            let store = database.open().await?;
            let received = lisens_server::issuer_client::register(
                &store,
                &issuer,
                &serial,
                &owner,
                std::slice::from_ref(&key),
                "cli",
            )
            .await
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
            println!("registered serial {serial} with {issuer}");
            match received {
                Received::Loaded => println!("license loaded"),
                other => println!("{other:?}"),
            }
            Ok(())
        }
        LicenseCommand::TrustKey {
            owner,
            public_key,
            statement,
        } => {
            let store = database.open().await?;
            let (owner, key) = match (owner, public_key, statement) {
                (_, _, Some(file)) => store.trust_key_by_rotation(read_text(&file)?.trim()).await?,
                (Some(owner), Some(file), None) => {
                    let key = lisens_issuer::read_public_key(&file)?;
                    store.trust_key(&owner, &key).await?;
                    (owner, key)
                }
                _ => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give --owner and --public-key, or --statement",
                    ))
                }
            };
            println!("{owner} now also trusts key {}", key.id());
            Ok(())
        }
        LicenseCommand::RetireKey { owner, key_id } => {
            database.open().await?.retire_key(&owner, &key_id).await?;
            println!("{owner} no longer trusts key {key_id}");
            Ok(())
        }
        LicenseCommand::CheckNow { json } => {
            let store = database.open().await?;
            let outcome = lisens_server::issuer_client::check_now(&store)
                .await
                .map_err(|e| Failure::new(e.code(), e.to_string()))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome).expect("outcome serialises")
                );
            } else {
                println!(
                    "issuer answered {}{}",
                    outcome.status,
                    outcome.message.map(|m| format!(": {m}")).unwrap_or_default()
                );
                if let Some(received) = &outcome.received {
                    println!("{received:?}");
                }
            }
            Ok(())
        }
        LicenseCommand::Pending { json } => {
            let store = database.open().await?;
            let mut pending = Vec::new();
            for owner in store.pending_owners().await? {
                pending.extend(store.pending_license(&owner).await?);
            }
            output::pending(&pending, json);
            Ok(())
        }
        LicenseCommand::Activate { owner, actor } => {
            let store = database.open().await?;
            let owner = match owner {
                Some(o) => o,
                None => {
                    let owners = store.pending_owners().await?;
                    match owners.as_slice() {
                        [one] => one.clone(),
                        [] => return Err(Failure::new(codes::LICENSE_NOT_PENDING, "no license is pending")),
                        _ => {
                            return Err(Failure::new(
                                codes::INVALID_INPUT,
                                "several owners have a pending license: give --owner",
                            ))
                        }
                    }
                }
            };
            let diff = store
                .activate_pending(
                    &owner,
                    Actor {
                        name: &actor,
                        automatic: false,
                    },
                )
                .await?;
            println!("New license activated for {owner}");
            output::diff(&diff);
            Ok(())
        }
        LicenseCommand::RemoveExcess {
            module,
            logins,
            actor,
        } => {
            let store = database.open().await?;
            store
                .remove_excess(
                    &module,
                    &logins,
                    Actor {
                        name: &actor,
                        automatic: false,
                    },
                )
                .await?;
            println!("{module} removed from {}", logins.join(", "));
            Ok(())
        }
        LicenseCommand::Holders {
            module,
            offset,
            limit,
            json,
        } => {
            let holders = database
                .open()
                .await?
                .module_holders(&module, offset, limit)
                .await?;
            output::holders(&holders, json);
            Ok(())
        }
        LicenseCommand::History { limit, json } => {
            let events = database.open().await?.license_events(limit).await?;
            output::history(&events, json);
            Ok(())
        }
        LicenseCommand::Assign {
            login,
            module,
            valid_from,
            valid_to,
        } => {
            let window = lisens_store::Window { valid_from, valid_to };
            database
                .open()
                .await?
                .assign_during(&login, &module, &window)
                .await?;
            println!("{module} assigned to {login}");
            Ok(())
        }
        LicenseCommand::Unassign { login, module } => {
            database.open().await?.unassign(&login, &module).await?;
            println!("{module} unassigned from {login}");
            Ok(())
        }
        LicenseCommand::Check {
            login,
            module,
            system,
            owner,
        } => {
            let store = Arc::new(database.open().await?);
            let view = AccessView::new(store).await?;
            let access = &view.get().access;
            let now = lisens_store::clock::now();
            let parse =
                |m: &str| ModuleName::parse(m).map_err(|e| Failure::new(codes::INVALID_INPUT, e.to_string()));
            let owner = owner.as_deref();
            let decision = match (login, module, system) {
                (None, None, Some(s)) => access.has_system_of(owner, &parse(&s)?, now),
                (Some(l), None, None) if owner.is_none() => access.can_login(&l, now),
                (Some(l), Some(m), None) => access.has_module_of(owner, &l, &parse(&m)?, now),
                _ => {
                    return Err(Failure::new(
                        codes::INVALID_INPUT,
                        "give LOGIN [MODULE], or --system MODULE (--owner goes with a module)",
                    ))
                }
            };
            match decision {
                Decision::Granted { warning } => {
                    println!(
                        "granted{}",
                        warning.map(|w| format!(" ({})", w.code())).unwrap_or_default()
                    );
                    Ok(())
                }
                Decision::Denied(d) => {
                    println!("denied {}", d.code());
                    Err(Failure::silent())
                }
            }
        }
        LicenseCommand::Status { json, public_keys } => {
            let status = database
                .pinning(&public_keys)?
                .open()
                .await?
                .license_status()
                .await?;
            output::status(&status, json);
            Ok(())
        }
    }
}

async fn serve(database: &Db, args: ServeArgs, config: &config::Config) -> Outcome {
    let database = database.pinning(&args.public_keys)?;
    let listen = args.listen.as_deref().unwrap_or(&config.listen);
    serve_store(database.open().await?, listen, config, |addr| {
        println!("lisens listening on http://{addr}/")
    })
    .await
}

/// The installation's database and the keys this process pins: every
/// command opens the store through it, so every path that decides (check,
/// status, serve, load) uses the same trusted-key set.
pub(crate) struct Db {
    url: String,
    pinned: Vec<PublicKey>,
}

impl Db {
    /// This database with more keys pinned.
    fn pinning(&self, more: &[PathBuf]) -> Result<Db, Failure> {
        let mut pinned = self.pinned.clone();
        pinned.extend(read_public_keys(more)?);
        Ok(Db {
            url: self.url.clone(),
            pinned,
        })
    }

    async fn open(&self) -> Result<Store, Failure> {
        Ok(Store::open(&self.url)
            .await?
            .with_pinned_keys(self.pinned.clone()))
    }
}

pub(crate) async fn serve_store(
    store: Store,
    listen: &str,
    config: &config::Config,
    announce: impl FnOnce(std::net::SocketAddr),
) -> Outcome {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::new(codes::LISTEN_FAILED, format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(codes::LISTEN_FAILED, e.to_string()))?;
    let store = Arc::new(store);
    let state = lisens_server::AppState::new(store.clone(), config.server.clone()).await?;
    lisens_server::issuer_client::spawn_poller(store, config.issuer_poll);
    announce(addr);
    lisens_server::serve(listener, state, lisens_server::shutdown_signal())
        .await
        .map_err(|e| Failure::new(codes::SERVER_ERROR, e.to_string()))
}

fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| lisens_issuer::read_public_key(p).map_err(Failure::from))
        .collect()
}

/// License files and specs are small; a huge file is a mistake or an attack.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

fn read_text(path: &Path) -> Result<String, Failure> {
    let unreadable =
        |e: &dyn std::fmt::Display| Failure::new(codes::FILE_UNREADABLE, format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| unreadable(&e))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Failure::new(
            codes::FILE_TOO_LARGE,
            format!("{}: larger than {MAX_INPUT_BYTES} bytes", path.display()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(&e))?;
    String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            codes::FILE_NOT_UTF8,
            format!("{}: not UTF-8 text", path.display()),
        )
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves a
/// half-written license file behind.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::new(codes::FILE_UNWRITABLE, format!("{}: {e}", path.display()));
    let tmp = path.with_extension("lic.tmp");
    std::fs::write(&tmp, text).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}
