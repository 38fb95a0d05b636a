//! What the installation remembers apart from the signed rows, for the
//! trust model (`docs/trust-model.md`): the primary owner, whether it was
//! ever licensed, the latest time seen, each owner's highest license version
//! (`license_high_water`) and the issuer's latest signed statement.

use std::collections::HashMap;

use lisens_core::statement::Statement;
use time::OffsetDateTime;

use crate::{Store, StoreError};

/// What the installation remembers apart from the signed rows (see
/// `docs/trust-model.md`).
pub(crate) struct TrustMemory {
    pub primary_owner: Option<String>,
    pub ever_licensed: bool,
    /// The latest of: the time recorded by running servers, the newest
    /// license event and the newest audit row (each append-only as far as
    /// lisens goes, so one edited row does not wind the time back).
    pub latest_seen: Option<OffsetDateTime>,
    /// Per owner, the highest license version ever loaded or activated.
    pub high_water: HashMap<String, u32>,
    /// Per owner, the issuer's latest statement as stored (verified later).
    pub statements: HashMap<String, String>,
}

pub(crate) async fn trust_memory(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> Result<TrustMemory, StoreError> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT primary_owner, licensed_at, latest_seen FROM installation WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await?;
    let (primary_owner, licensed_at, seen) = row.unwrap_or((None, None, None));
    let (events, last_event): (i64, Option<String>) =
        sqlx::query_as("SELECT COUNT(*), MAX(at) FROM license_event WHERE kind IN ('loaded', 'activated')")
            .fetch_one(&mut **tx)
            .await?;
    let (last_audit,): (Option<String>,) = sqlx::query_as("SELECT MAX(at) FROM audit_log")
        .fetch_one(&mut **tx)
        .await?;
    let latest_seen = [seen, last_event, last_audit]
        .into_iter()
        .flatten()
        .filter_map(|t| crate::stamp::parse_rfc3339(&t))
        .max();
    let mut high_water: HashMap<String, u32> = HashMap::new();
    let marks: Vec<(String, i64)> =
        sqlx::query_as("SELECT owner_name, license_version FROM license_high_water")
            .fetch_all(&mut **tx)
            .await?;
    let activated: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT owner_name, MAX(to_version) FROM license_event WHERE kind IN ('loaded', 'activated') \
         GROUP BY owner_name",
    )
    .fetch_all(&mut **tx)
    .await?;
    for (owner, v) in marks
        .into_iter()
        .chain(activated.into_iter().filter_map(|(o, v)| v.map(|v| (o, v))))
    {
        let v = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let e = high_water.entry(owner).or_insert(v);
        *e = (*e).max(v);
    }
    let statements =
        sqlx::query_as::<_, (String, String)>("SELECT owner_name, statement FROM issuer_statement")
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    Ok(TrustMemory {
        statements,
        primary_owner,
        ever_licensed: licensed_at.is_some() || events > 0,
        latest_seen,
        high_water,
    })
}

/// Remembers that this license version of an owner was loaded or activated.
pub(crate) async fn raise_high_water(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner: &str,
    version: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO license_high_water (owner_name, license_version, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (owner_name) DO UPDATE SET license_version = excluded.license_version, \
         updated_at = excluded.updated_at WHERE license_high_water.license_version < excluded.license_version",
    )
    .bind(owner)
    .bind(i64::from(version))
    .bind(crate::stamp::now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Keeps an issuer's signed statement (its answer to a poll) when it
    /// verifies with a key trusted for its owner, names the stored owner's
    /// serial, and is newer than the one kept. Returns it.
    pub async fn record_statement(&self, text: &str) -> Result<Statement, StoreError> {
        let keys = self.receiving_keys().await?;
        let statement = Statement::verify(text, &keys)?;
        let owner = statement.owner.as_str();
        let trusted = self.owner_keys(owner).await?;
        Statement::verify(text, &trusted)?;
        match crate::rows::stored_owner(self, owner).await? {
            Some((_, Some(r))) if r.owner.serial == statement.serial => {}
            _ => {
                return Err(StoreError::Invalid(format!(
                    "the issuer's statement is for {owner} serial {}, which this installation does not hold",
                    statement.serial
                )))
            }
        }
        let at = crate::stamp::encode(statement.issued_at);
        sqlx::query(
            "INSERT INTO issuer_statement (owner_name, statement, issued_at, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner_name) DO UPDATE SET statement = excluded.statement, issued_at = excluded.issued_at, \
             received_at = excluded.received_at WHERE issuer_statement.issued_at < excluded.issued_at",
        )
        .bind(owner)
        .bind(text)
        .bind(&at)
        .bind(crate::stamp::now())
        .execute(&self.pool)
        .await?;
        Ok(statement)
    }
}
