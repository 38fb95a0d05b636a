//! API tokens: random secrets shown once, stored only as SHA-256 hashes (a
//! token has 256 bits of entropy, so a fast hash is enough and a database
//! leak reveals no usable token), with a scope each and revocable.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Store, StoreError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Everything.
    Admin,
    /// Access checks only.
    Check,
    /// Usage ingest only.
    Metering,
    /// SCIM provisioning only.
    Scim,
    /// Reading `/metrics` only (for Prometheus).
    Metrics,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Check => "check",
            TokenScope::Metering => "metering",
            TokenScope::Scim => "scim",
            TokenScope::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(TokenScope::Admin),
            "check" => Ok(TokenScope::Check),
            "metering" => Ok(TokenScope::Metering),
            "scim" => Ok(TokenScope::Scim),
            "metrics" => Ok(TokenScope::Metrics),
            other => Err(StoreError::Invalid(format!(
                "unknown token scope {other:?}: use admin, check, metering, scim or metrics"
            ))),
        }
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A token just created: the secret is here and nowhere else.
pub struct NewToken {
    pub id: i64,
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewToken({}, secret hidden)", self.id)
    }
}

/// SHA-256 of a secret: what is stored (as hex) and looked up.
pub(crate) fn token_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The stored form of a secret: its SHA-256 in lower-case hex.
pub(crate) fn token_hash(secret: &str) -> String {
    hex::encode(token_digest(secret))
}

impl Store {
    /// Creates a token; its secret is returned once.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        secret_bytes: [u8; 32],
    ) -> Result<NewToken, StoreError> {
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a token name is 1 to 100 printable characters".into(),
            ));
        }
        let secret = format!("lsn_{}", B64URL.encode(secret_bytes));
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_token (name, scope, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(scope.as_str())
        .bind(token_hash(&secret))
        .bind(crate::stamp::now())
        .fetch_one(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(NewToken { id, secret })
    }

    /// Every token, newest first (never the secrets; only hashes are stored).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, name, scope, created_at, revoked_at FROM api_token ORDER BY id DESC")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE api_token SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(crate::stamp::now())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no active token {id}")));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hash -> scope of every live token, for the access view.
    pub(crate) async fn live_tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT token_hash, scope FROM api_token WHERE revoked_at IS NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
