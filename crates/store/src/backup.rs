//! Online backup of an embedded (SQLite) installation: `VACUUM INTO` copies
//! the database as of one read transaction, so the copy is consistent while
//! the server keeps writing. PostgreSQL installations use pg_dump.
//!
//! Restore replaces the file, which a process that has it open would never
//! notice: it would go on writing to the replaced file, and those writes
//! would be lost. So every process that opens a SQLite database through the
//! store holds a shared lock on `<database>.lock` for as long as it has the
//! store (several servers and commands share it), and restore takes the lock
//! exclusively, refusing with `DATABASE_IN_USE` while anyone holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::{Backend, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the database to `out` (which must not exist).
    pub async fn backup_to(&self, out: &Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Invalid(
                "lisens backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)"
                    .into(),
            ));
        }
        if out.exists() {
            return Err(StoreError::Duplicate(format!("{}", out.display())));
        }
        let target = out
            .to_str()
            .ok_or_else(|| StoreError::Invalid("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Checks a database file's integrity (`PRAGMA integrity_check`).
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!("the database is damaged: {verdict}")))
        }
    }
}

/// Whether `path` holds a lisens SQLite database (a backup): the SQLite
/// header, then lisens's migration history and license table, read without
/// migrating anything. An empty file or another program's database is not
/// one: opening it as a store would quietly make it an empty lisens database.
pub async fn is_lisens_database(path: &Path) -> Result<bool, StoreError> {
    use sqlx::Connection;
    use std::io::Read;
    let mut head = [0u8; 16];
    if std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_err()
        || &head != b"SQLite format 3\0"
    {
        return Ok(false);
    }
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await?;
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'module_license')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(tables == 2)
}

/// The file path of a `sqlite://PATH[?params]` URL; `None` for other URLs.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// The lock file beside a database: `lisens.db` -> `lisens.db.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut p = database.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

fn lock_failed(database: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::LockFailed(format!("{}: {e}", lock_path(database).display()))
}

/// The shared lock a process holds while it has `database` open (released
/// when the file is dropped, or the process ends however it ends). `None`
/// when the lock file can be neither created nor opened for lack of
/// permission: a process that may not create files beside the database
/// only reads it, and restore, which must, cannot run there either.
pub(crate) fn hold_shared(database: &Path) -> Result<Option<File>, StoreError> {
    use std::io::ErrorKind;
    let path = lock_path(database);
    let file = match open_lock_file(&path) {
        Ok(f) => f,
        Err(e) => match File::open(&path) {
            Ok(f) => f,
            Err(_)
                if matches!(
                    e.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                tracing::warn!(
                    "{}: {e}; lisens restore cannot tell that this process uses the database",
                    path.display()
                );
                return Ok(None);
            }
            // No directory: opening the database fails and says so.
            Err(_) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(lock_failed(database, e)),
        },
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(StoreError::DatabaseInUse(format!(
            "lisens restore is replacing {}: start again when it has finished",
            database.display()
        ))),
        Err(TryLockError::Error(e)) => Err(lock_failed(database, e)),
    }
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Held by restore while it puts a backup in place: no process has the
/// database open meanwhile, and none can open it until this is dropped.
#[derive(Debug)]
pub struct RestoreLock {
    _file: File,
}

/// Takes `database`'s lock exclusively, or refuses with `DATABASE_IN_USE`
/// while a server (or any other lisens process) has the database open.
pub fn lock_for_restore(database: &Path) -> Result<RestoreLock, StoreError> {
    let file = open_lock_file(&lock_path(database)).map_err(|e| lock_failed(database, e))?;
    match file.try_lock() {
        Ok(()) => Ok(RestoreLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(StoreError::DatabaseInUse(format!(
            "{} is in use by a running lisens server (or another lisens command): \
             stop it first, then restore again",
            database.display()
        ))),
        Err(TryLockError::Error(e)) => Err(lock_failed(database, e)),
    }
}
