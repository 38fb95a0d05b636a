//! Online backup of an embedded (SQLite) installation: `VACUUM INTO` copies
//! the database as of one read transaction, so the copy is consistent while
//! the server keeps writing. PostgreSQL installations use pg_dump.

use std::path::Path;

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
