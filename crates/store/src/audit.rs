//! The audit log: who changed what, when, and from where. Written by the
//! server for every state-changing request that succeeded, by the CLI for
//! every command that changes data, and by the system for what it does by
//! itself (the issuer poller). Append only: nothing updates or deletes rows.

use serde::Serialize;

use crate::{Store, StoreError};

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `anna` (a session), `token:admin` (an API token by scope), `cli:root`,
    /// `issuer` (automatic).
    pub actor: String,
    /// The client's IP address, or `local` for the command line.
    pub address: String,
    /// `POST /api/v1/users/{login}/licenses`, `cli user add`, ...
    pub action: String,
    /// What it acted on (`login=anna module=essentials`), may be empty.
    pub target: String,
    /// The request body with secrets removed, or a digest of a file.
    pub detail: String,
}

/// An entry to record.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    pub actor: String,
    pub address: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At or after.
    pub since: Option<time::OffsetDateTime>,
    pub actor: Option<String>,
}

/// Longest detail kept (a body is cut here).
pub const AUDIT_DETAIL_MAX: usize = 4096;

impl Store {
    pub async fn record_audit(&self, e: &NewAudit) -> Result<(), StoreError> {
        let mut detail = e.detail.clone();
        if detail.len() > AUDIT_DETAIL_MAX {
            let mut cut = AUDIT_DETAIL_MAX;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push_str("...");
        }
        sqlx::query(
            "INSERT INTO audit_log (at, actor, address, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crate::stamp::now())
        .bind(&e.actor)
        .bind(&e.address)
        .bind(&e.action)
        .bind(&e.target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, address, action, target, detail FROM audit_log \
             WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR actor = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .bind(filter.since.map(crate::stamp::encode))
        .bind(filter.actor.as_deref())
        .bind(limit.clamp(1, 10_000))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?)
    }
}
