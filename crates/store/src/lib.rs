//! Persistence for a lisens installation. One small API over two backends:
//! SQLite (embedded, the default) and PostgreSQL (for several application
//! servers on one database), with the same schema and behaviour. Migrations
//! are embedded per backend and applied when the store opens. No module row
//! leaves this crate as licensed before its signature has been re-checked.

mod access;
mod activation;
mod assign;
pub mod audit;
pub mod backup;
pub mod clock;
mod events;
mod issuer_db;
mod issuer_link;
mod keys;
mod license;
mod memory;
pub mod metering;
mod pending;
mod rows;
mod sessions;
mod sites;
pub mod stamp;
mod status;
mod tokens;
mod users;
mod verdicts;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use access::{reverify_after, AccessView, Integrity, REVERIFY_EVERY};
pub use activation::{Actor, Holder, LicenseEvent, PendingLicense, Received};
pub use assign::{Assignment, Holding, Window, BULK_MAX};
pub use events::{EventFilter, NewEvent, SystemEvent, JOB_HEARTBEAT_STALE_SECS};
pub use issuer_db::{Customer, HistoryEntry, IssuerStore, Reissued};
pub use issuer_link::{IssuerCheck, IssuerLink};
pub use license::{DemoStatus, LicenseStatus, ModuleStatus, OwnerStatus, UserCounts};
pub use pending::{LicenseReport, PendingSummary};
pub use sessions::{Session, SESSION_HOURS};
pub use sites::Site;
pub use tokens::{NewToken, TokenInfo, TokenScope};
pub use users::{Associate, NewAssociate, UserEdit};

use lisens_core::codes;
use lisens_core::PublicKey;
use verdicts::VerdictCache;

/// Why an item of a batch (metering events, bulk assignments, imported
/// users) was refused.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ItemError {
    pub index: usize,
    pub code: String,
    pub detail: String,
}

/// Errors of the store, each with a stable machine code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("a license of owner {0:?} is already loaded; a new license for it goes through activation")]
    OwnerExists(String),
    #[error("owner {owner:?} is trusted with key {trusted}, but this license is signed by key {signed}")]
    OwnerKeyMismatch {
        owner: String,
        trusted: String,
        signed: String,
    },
    #[error("key {key} is not trusted here for owner {owner:?}: an administrator trusts it first (lisens license trust-key), or the vendor signs a license with a key already trusted")]
    KeyNotTrusted { owner: String, key: String },
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no issuer is configured: register the installation first")]
    IssuerNotConfigured,
    /// A system message that ends by itself when its cause is gone.
    #[error("the message {0:?} ends by itself once its cause is gone")]
    EndsItself(String),
    #[error("no user {0:?}")]
    UnknownUser(String),
    /// Something else named by id that is not there (an event, a module).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Assign(#[from] lisens_core::assign::AssignError),
    #[error(transparent)]
    Rejected(lisens_core::activation::Rejection),
    #[error(transparent)]
    License(#[from] lisens_core::LicenseError),
    #[error("more users hold these modules than the new license allows: {}; remove excess licenses first", .0.join(", "))]
    TooManyAssigned(Vec<String>),
    #[error("the batch was refused: {} bad item(s)", .0.len())]
    BatchInvalid(Vec<ItemError>),
    /// A bulk change of which some items were refused: nothing was written.
    #[error("nothing was changed: {} of the changes were refused", .0.len())]
    BulkRefused(Vec<ItemError>),
    /// The data changed between reading and locking; the caller retries.
    #[error("the data changed meanwhile; try again")]
    Conflict,
    #[error("no customer with serial {0:?}")]
    UnknownSerial(String),
    #[error("no pending license for owner {0:?}")]
    NoPending(String),
    #[error("the license is past its grace period: the installation is read-only")]
    ReadOnly,
    #[error("maintenance ended {maintenance_to}; this lisens release is from {release}: a license that covers it is needed")]
    MaintenanceExpired { maintenance_to: String, release: String },
    /// Deactivating or deleting this user would leave no active administrator.
    #[error("{0:?} is the last active administrator: make another administrator first")]
    LastAdministrator(String),
    /// The database refuses writes (a read-only file or connection, a role
    /// without write grants, a read-only transaction); reads still work.
    #[error("the database is read-only: {0}")]
    DatabaseReadOnly(String),
    /// Restore and a process using the database exclude each other.
    #[error("{0}")]
    DatabaseInUse(String),
    #[error("cannot lock the database: {0}")]
    LockFailed(String),
    /// An existing database holds logins that differ only in case; the
    /// migration that makes logins unique regardless of case cannot run.
    #[error("the database holds logins that differ only in case: {}; rename or delete one of each pair (docs/operations.md), then start again", .0.join(", "))]
    LoginsCollide(Vec<String>),
}

impl From<sqlx::Error> for StoreError {
    /// A unique constraint that a concurrent writer won is a duplicate, not
    /// a broken database; a refused write to a read-only database says so.
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Duplicate(d.message().to_owned())
            }
            sqlx::Error::Database(d) if is_read_only(d.as_ref()) => {
                StoreError::DatabaseReadOnly(format!("the change cannot be stored ({})", d.message()))
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Whether a database error is a write refused because the database may
/// only be read: SQLite's `SQLITE_READONLY` (and its extended codes), or
/// PostgreSQL's `read_only_sql_transaction` (25006) and
/// `insufficient_privilege` (42501, a role without write grants).
fn is_read_only(d: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return matches!(pg.code(), "25006" | "42501");
    }
    d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && d.code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 8)
}

/// A migration that failed only because the database is read-only.
fn migration_read_only(e: &sqlx::migrate::MigrateError) -> bool {
    matches!(e, sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d)) if is_read_only(d.as_ref()))
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::BadUrl(_) => codes::DATABASE_URL_INVALID,
            StoreError::Database(_) | StoreError::Migration(_) => codes::DATABASE_ERROR,
            StoreError::OwnerExists(_) => codes::LICENSE_OWNER_EXISTS,
            StoreError::OwnerKeyMismatch { .. } => codes::LICENSE_OWNER_KEY_MISMATCH,
            StoreError::KeyNotTrusted { .. } => codes::LICENSE_KEY_NOT_TRUSTED,
            StoreError::Duplicate(_) => codes::ALREADY_EXISTS,
            StoreError::Invalid(_) => codes::INVALID_INPUT,
            StoreError::IssuerNotConfigured => codes::ISSUER_NOT_CONFIGURED,
            StoreError::EndsItself(_) => codes::EVENT_ENDS_ITSELF,
            StoreError::UnknownUser(_) => codes::USER_UNKNOWN,
            StoreError::NotFound(_) => codes::NOT_FOUND,
            StoreError::Assign(e) => e.code(),
            StoreError::ReadOnly => codes::LICENSE_READ_ONLY,
            StoreError::Rejected(r) => r.code(),
            StoreError::License(e) => e.code(),
            StoreError::TooManyAssigned(_) => codes::LICENSE_TOO_MANY_ASSIGNED,
            StoreError::NoPending(_) => codes::LICENSE_NOT_PENDING,
            StoreError::UnknownSerial(_) => codes::SERIAL_UNKNOWN,
            StoreError::Conflict => codes::CONFLICT,
            StoreError::BatchInvalid(_) => codes::BATCH_INVALID,
            StoreError::BulkRefused(_) => codes::BULK_REFUSED,
            StoreError::MaintenanceExpired { .. } => codes::LICENSE_MAINTENANCE_EXPIRED,
            StoreError::LastAdministrator(_) => codes::LAST_ADMINISTRATOR,
            StoreError::DatabaseReadOnly(_) => codes::DATABASE_READ_ONLY,
            StoreError::DatabaseInUse(_) => codes::DATABASE_IN_USE,
            StoreError::LockFailed(_) => codes::DATABASE_LOCK_FAILED,
            StoreError::LoginsCollide(_) => codes::LOGINS_COLLIDE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The installation's database.
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    verdicts: VerdictCache,
    pinned: Vec<PublicKey>,
    installed: std::sync::OnceLock<time::OffsetDateTime>,
    /// Write transactions this process has made that move the data version
    /// (see [`Store::writes`]).
    writes: std::sync::atomic::AtomicU64,
    /// The verified license rows as last read, and when (see
    /// [`Store::verified_rows`]).
    rows_kept: std::sync::Mutex<Option<(std::time::Instant, std::sync::Arc<LicenseStatus>)>>,
    /// SQLite: the shared lock on the database's lock file, held for the
    /// store's life so `lisens restore` refuses meanwhile (see `backup`).
    _lock: Option<std::fs::File>,
}

impl Store {
    /// Opens (creating a SQLite file when missing) and migrates the database.
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`. A database this
    /// process may only read (`sqlite://PATH?mode=ro`, a read-only file, a
    /// PostgreSQL role without write grants) opens when it is already
    /// migrated to this release: reads work and every write is refused with
    /// `DATABASE_READ_ONLY`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let (pool, backend) = connect(url).await?;
        // Before anything writes: restore must not replace the file under us.
        let lock = match backup::sqlite_path(url) {
            Some(path) => backup::hold_shared(&path)?,
            None => None,
        };
        refuse_colliding_logins(&pool, backend).await?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        // PostgreSQL migrations take an advisory lock; SQLite's do not, so
        // two processes creating one file at once may collide: the loser
        // retries and finds the migrations applied.
        let mut attempt = 0;
        loop {
            let mut conn = pool.acquire().await?;
            let run = migrator.run(&mut *conn).await;
            if run.is_err() && backend == Backend::Postgres {
                // A failed run keeps its advisory lock; the connection goes
                // back to the pool, so let go of it here.
                sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(&mut *conn)
                    .await?;
            }
            drop(conn);
            match run {
                Ok(()) => break,
                Err(e) if migration_read_only(&e) => {
                    ensure_migrated(&pool, &migrator).await?;
                    break;
                }
                Err(_) if backend == Backend::Sqlite && attempt < 10 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Read first: a read-only database already has its row.
        let (installed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM installation WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        if installed == 0 {
            sqlx::query(
                "INSERT INTO installation (id, created_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            )
            .bind(crate::stamp::now())
            .execute(&pool)
            .await?;
        }
        Ok(Self {
            pool,
            backend,
            verdicts: VerdictCache::default(),
            installed: std::sync::OnceLock::new(),
            writes: Default::default(),
            rows_kept: Default::default(),
            pinned: Vec::new(),
            _lock: lock,
        })
    }

    /// Whether this process may write to the database: a write that changes
    /// nothing, rolled back. False for a database it may only read.
    pub async fn writable(&self) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let probe = sqlx::query("UPDATE data_version SET version = version WHERE id = 1")
            .execute(&mut *tx)
            .await;
        tx.rollback().await?;
        match probe.map_err(StoreError::from) {
            Ok(_) => Ok(true),
            Err(StoreError::DatabaseReadOnly(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pins the keys this process trusts. When any are pinned, an owner
    /// whose key is not among them is invalid, whatever the database says:
    /// someone able to edit the database cannot slip in a key of their own.
    pub fn with_pinned_keys(mut self, keys: Vec<PublicKey>) -> Self {
        self.pinned = keys;
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// When this installation's database was created.
    pub async fn installed_at(&self) -> Result<time::OffsetDateTime, StoreError> {
        // It never changes: read it once.
        if let Some(at) = self.installed.get() {
            return Ok(*at);
        }
        let (at,): (String,) = sqlx::query_as("SELECT created_at FROM installation WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let at = crate::stamp::decode("installation.created_at", &at)?;
        Ok(*self.installed.get_or_init(|| at))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// How many signatures this store has checked for real (cache misses).
    pub fn signature_checks(&self) -> u64 {
        self.verdicts.checks()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Every write transaction bumps the data version, so every process
    /// sharing the database (and this one) rebuilds its access view.
    pub(crate) async fn bump_version(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE data_version SET version = version + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await?;
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// How many changes this process has written (counted as each write
    /// transaction moves the data version; one that then rolls back counts
    /// too). The server compares it before and after a request to rebuild
    /// the access view after the request's own changes.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Remembers that the installation has seen this time (the clock
    /// never goes back in what is stored). Running servers call it
    /// periodically; a clock set back behind it counts as expired past grace.
    pub async fn remember_time(&self) -> Result<(), StoreError> {
        let now = crate::stamp::now();
        sqlx::query(
            "UPDATE installation SET latest_seen = $1 WHERE id = 1 AND (latest_seen IS NULL OR latest_seen < $1)",
        )
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The current data version.
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        let (v,): (i64,) = sqlx::query_as("SELECT version FROM data_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    /// `FOR UPDATE` where the backend has it. SQLite needs none: a write
    /// transaction there holds the database's write lock from BEGIN.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// A read transaction with one snapshot for all its statements.
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// A write transaction. On SQLite it takes the write lock at BEGIN
    /// (`BEGIN IMMEDIATE`) so two writers never deadlock upgrading read locks.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// For a database that refused the migrations' writes: every migration of
/// this release must already be applied, unchanged; otherwise it cannot be
/// served read-only.
async fn ensure_migrated(pool: &AnyPool, migrator: &sqlx::migrate::Migrator) -> Result<(), StoreError> {
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::DatabaseReadOnly(format!("it cannot be migrated ({e})")))?;
    for m in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        if !applied
            .iter()
            .any(|(v, sum)| *v == m.version && sum.as_slice() == &*m.checksum)
        {
            return Err(StoreError::DatabaseReadOnly(format!(
                "migration {} of this release is not applied: open it once with write access",
                m.version
            )));
        }
    }
    Ok(())
}

/// Logins are unique regardless of case since migration 0011; before it
/// runs on an older database, two that differ only in case stop the opening
/// with the pairs named (the index 0011 creates would refuse them anyway,
/// but without saying which). One grouping pass over the logins (an index
/// scan once 0011 made the index).
async fn refuse_colliding_logins(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let exists = match backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'associate'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'associate'"
        }
    };
    let (n,): (i64,) = sqlx::query_as(exists).fetch_one(pool).await?;
    if n == 0 {
        return Ok(());
    }
    // Grouped, not a self-join: before 0011's index exists a join on
    // lower() compares every pair (hours for 100,000 users).
    let colliding: Vec<(String, String)> = sqlx::query_as(
        "SELECT lower(login_name), login_name FROM associate WHERE lower(login_name) IN \
         (SELECT lower(login_name) FROM associate GROUP BY lower(login_name) HAVING COUNT(*) > 1) \
         ORDER BY lower(login_name), id",
    )
    .fetch_all(pool)
    .await?;
    if colliding.is_empty() {
        return Ok(());
    }
    let mut pairs = Vec::new();
    for group in colliding.chunk_by(|a, b| a.0 == b.0) {
        for (i, (_, a)) in group.iter().enumerate() {
            for (_, b) in &group[i + 1..] {
                pairs.push(format!("{a}/{b}"));
            }
        }
    }
    Err(StoreError::LoginsCollide(pairs))
}

/// A database URL with its password replaced by `***` (for messages and logs).
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?..."),
        None => (rest, ""),
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{query}"),
            None => format!("{scheme}://{userinfo}@{host}{query}"),
        },
        None => format!("{scheme}://{rest}{query}"),
    }
}

/// The one rule for a database URL: `sqlite://PATH` (a file, not
/// `:memory:`) or `postgres://...` / `postgresql://...`
/// (`DATABASE_URL_INVALID` otherwise, the password masked).
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    match url.strip_prefix("sqlite://") {
        Some(rest) if rest.is_empty() || rest.contains(":memory:") => Err(StoreError::BadUrl(url.to_owned())),
        Some(_) => Ok(Backend::Sqlite),
        None if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(Backend::Postgres),
        None => Err(StoreError::BadUrl(mask_url(url))),
    }
}

/// Connects to `sqlite://PATH` (created when missing; WAL, busy timeout,
/// foreign keys) or `postgres://...`.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(url)?;
    let (backend, url) = if let Some(rest) = url
        .strip_prefix("sqlite://")
        .filter(|_| backend == Backend::Sqlite)
    {
        let sep = if rest.contains('?') { '&' } else { '?' };
        let url = if rest.contains("mode=") {
            url.to_owned()
        } else {
            format!("{url}{sep}mode=rwc")
        };
        (Backend::Sqlite, url)
    } else {
        (backend, url.to_owned())
    };
    let options = AnyConnectOptions::from_str(&url)?;
    let pool_options = match backend {
        Backend::Sqlite => AnyPoolOptions::new().max_connections(8).after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the one writer; writers
                // queue on the busy timeout instead of failing at once.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .await?;
                Ok(())
            })
        }),
        Backend::Postgres => AnyPoolOptions::new().max_connections(16),
    };
    let pool = pool_options.connect_with(options).await?;
    Ok((pool, backend))
}
