//! The command line's shape: the clap `Cli` struct, every subcommand enum and
//! argument group (`ServeArgs`, `IssuerDb`), and the parsers of the
//! `--valid-from`/`--valid-to` times. Nothing here runs a command: `run` in
//! `lib.rs` hands each parsed command to its function in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{config, demo};

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
    pub(crate) database: Option<String>,

    /// The vendor's public key file(s) this installation pins. When given,
    /// an owner signed by any other key is invalid, whatever the database
    /// says, for every command (check, status, serve, load...).
    /// `serve` and `license status` also take them as --public-key
    /// [setting: public_keys, LISENS_PUBLIC_KEY].
    #[arg(long = "pin-key", global = true, value_delimiter = ',')]
    pub(crate) pinned_keys: Vec<PathBuf>,

    /// Moves this process's clock by this many seconds (negative: back).
    /// For tests: it gives nothing that moving the system clock does not.
    #[arg(long, global = true, hide = true, allow_hyphen_values = true)]
    pub(crate) clock_offset_secs: Option<i64>,

    /// Settings file (default ./lisens.toml when it exists; LISENS_CONFIG).
    /// Flags and environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Print shell completions, e.g. `lisens completions bash > /etc/bash_completion.d/lisens`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `lisens man > /usr/local/share/man/man1/lisens.1`.
    Man,
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
pub(crate) enum ConfigCommand {
    /// Print every setting's effective value and where it came from (secrets masked); fail on invalid ones.
    Check,
}

#[derive(Subcommand)]
pub(crate) enum MeteringCommand {
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
pub(crate) enum EventsCommand {
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
pub(crate) enum SiteCommand {
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
pub(crate) enum UserCommand {
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
pub(crate) enum TokenCommand {
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
pub(crate) struct ServeArgs {
    /// Address to listen on [setting: listen, LISENS_LISTEN; default 127.0.0.1:8080].
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Public key file(s) to pin, besides --pin-key / LISENS_PUBLIC_KEY.
    #[arg(long = "public-key", value_delimiter = ',')]
    pub(crate) public_keys: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum IssuerCommand {
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
        /// The license spec that customers added on the admin pages start from
        /// (without it, add them with `issuer customer add --spec`).
        #[arg(long)]
        template: Option<PathBuf>,
        #[command(flatten)]
        db: IssuerDb,
    },
    /// Customers: add, list, show.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Set a module's count for a customer (0 removes it; a module the
    /// license lacks is added with --type); signs a new license version.
    Set {
        serial: String,
        module: String,
        count: u32,
        /// For a module the license does not hold yet: system, site or user.
        #[arg(long = "type", value_parser = ["system", "site", "user"])]
        module_type: Option<String>,
        /// For a module the license does not hold yet: its name on screen.
        #[arg(long, default_value = "")]
        description: String,
        /// Sign even an expired license or plans beyond their modules' counts.
        #[arg(long)]
        force: bool,
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
        /// Sign even an expired license or plans beyond their modules' counts.
        #[arg(long)]
        force: bool,
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
        /// Sign even an expired license or plans beyond their modules' counts.
        #[arg(long)]
        force: bool,
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
    pub(crate) fn url<'a>(&'a self, config: &'a config::Config) -> &'a str {
        self.url.as_deref().unwrap_or(&config.issuer_database)
    }
}

/// The issuer's own database.
#[derive(Args)]
pub(crate) struct IssuerDb {
    /// The issuer's database: sqlite://PATH or postgres://...
    /// [setting: issuer_database, LISENS_ISSUER_DATABASE_URL; default sqlite://issuer.db]
    #[arg(long = "issuer-database", id = "issuer_database")]
    url: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum CustomerCommand {
    /// Add a customer with the license a spec describes (its serial and
    /// company set from the flags), signed as version 1; prints its
    /// installation secret once.
    Add {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        company: String,
        #[arg(long, default_value = "")]
        contact: String,
        /// The license spec to start from, e.g. examples/acme-books.toml.
        #[arg(long, alias = "template")]
        spec: PathBuf,
        /// Sign even an expired license or plans beyond their modules' counts.
        #[arg(long)]
        force: bool,
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
    /// Replace a customer's spec (its serial and company kept) as the next
    /// license version: prints what changes, and signs it with --yes.
    Spec {
        serial: String,
        #[arg(long)]
        spec: PathBuf,
        /// Sign it; without, only print what would change.
        #[arg(long)]
        yes: bool,
        /// Sign even an expired license or plans beyond their modules' counts.
        #[arg(long)]
        force: bool,
        /// The issuer's private key file [setting: issuer_key, LISENS_ISSUER_KEY].
        #[arg(long)]
        key: Option<PathBuf>,
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
pub(crate) enum LicenseCommand {
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
    /// The latest checks with the issuer (by `serve` and `check-now`), newest first.
    Checks {
        #[arg(long, default_value_t = 20)]
        limit: i64,
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

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every command (two arguments with
    /// one id made `issuer message` fail on every call).
    #[test]
    fn the_command_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
