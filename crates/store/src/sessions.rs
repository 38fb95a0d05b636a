//! Web sessions for the admin UI and the session API. The cookie carries a
//! random secret; the database holds only its SHA-256 hash, the user, the
//! expiry and the session's CSRF token.

use crate::tokens::token_hash;
use crate::users::{Associate, ASSOCIATE_COLUMNS};
use crate::{Store, StoreError};

/// A live session: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: Associate,
    pub csrf: String,
}

/// Sessions last this long.
pub const SESSION_HOURS: i64 = 12;

impl Store {
    /// Starts a session for a user; `secret` goes into the cookie.
    pub async fn create_session(&self, assoc_id: i64, secret: &str, csrf: &str) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let expires = now + time::Duration::hours(SESSION_HOURS);

        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_session WHERE expires_at < $1")
            .bind(crate::stamp::encode(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_session (id_hash, assoc_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(secret))
        .bind(assoc_id)
        .bind(csrf)
        .bind(crate::stamp::encode(now))
        .bind(crate::stamp::encode(expires))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session for a cookie secret, if any.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT assoc_id, csrf, expires_at FROM web_session WHERE id_hash = $1")
                .bind(token_hash(secret))
                .fetch_optional(&self.pool)
                .await?;
        let Some((assoc_id, csrf, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at < crate::stamp::now() {
            return Ok(None);
        }
        let user: Option<Associate> = sqlx::query_as(&format!(
            "SELECT {ASSOCIATE_COLUMNS} FROM associate WHERE id = $1"
        ))
        .bind(assoc_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(user.map(|user| Session { user, csrf }))
    }

    pub async fn delete_session(&self, secret: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_session WHERE id_hash = $1")
            .bind(token_hash(secret))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a user's password hash and ends their sessions.
    pub async fn set_password_hash(&self, login: &str, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE associate SET password_hash = $2, updated_at = $3 WHERE lower(login_name) = lower($1) RETURNING id",
        )
        .bind(login)
        .bind(hash)
        .bind(crate::stamp::now())
        .fetch_optional(&mut *tx)
        .await?;
        let (id,) = row.ok_or_else(|| StoreError::UnknownUser(login.to_owned()))?;
        sqlx::query("DELETE FROM web_session WHERE assoc_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's preferred UI language (`en`, `sv`, `da`, `nb`), if set.
    pub async fn set_language(&self, login: &str, language: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE associate SET language = $2 WHERE lower(login_name) = lower($1)")
            .bind(login)
            .bind(language)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn language(&self, assoc_id: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as("SELECT language FROM associate WHERE id = $1")
            .bind(assoc_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|(l,)| l))
    }
}
