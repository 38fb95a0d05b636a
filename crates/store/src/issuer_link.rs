//! The installation's side of the issuer: where to ask for its license, as
//! which serial and with which secret, whether an administrator asked for a
//! check now, and how each check went.

use serde::Serialize;

use crate::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IssuerLink {
    pub issuer_url: String,
    pub serial_number: String,
    pub secret: String,
    pub check_requested: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IssuerCheck {
    pub at: String,
    #[sqlx(try_from = "i64")]
    pub ok: crate::users::IntBool,
    pub status: String,
    pub message: String,
}

impl Store {
    pub async fn issuer_link(&self) -> Result<Option<IssuerLink>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT issuer_url, serial_number, secret, check_requested FROM issuer_link WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn set_issuer_link(&self, url: &str, serial: &str, secret: &str) -> Result<(), StoreError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StoreError::Invalid(format!("issuer URL {url:?} must be http(s)")));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM issuer_link").execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO issuer_link (id, issuer_url, serial_number, secret, check_requested, updated_at) \
             VALUES (1, $1, $2, $3, 0, $4)",
        )
        .bind(url.trim_end_matches('/'))
        .bind(serial)
        .bind(secret)
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// "Check now": the next poll of any server process asks the issuer.
    pub async fn request_issuer_check(&self) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE issuer_link SET check_requested = 1 WHERE id = 1")
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::IssuerNotConfigured);
        }
        Ok(())
    }

    pub async fn record_issuer_check(&self, ok: bool, status: &str, message: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO issuer_check (at, ok, status, message) VALUES ($1, $2, $3, $4)")
            .bind(crate::stamp::now())
            .bind(i64::from(ok))
            .bind(status)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE issuer_link SET check_requested = 0 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        // A connected installation asks every 15 minutes: keep the latest
        // thousand checks (ten days), not every one since it was installed.
        sqlx::query("DELETE FROM issuer_check WHERE id <= (SELECT MAX(id) FROM issuer_check) - 1000")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest checks, newest first.
    pub async fn issuer_checks(&self, limit: i64) -> Result<Vec<IssuerCheck>, StoreError> {
        Ok(
            sqlx::query_as("SELECT at, ok, status, message FROM issuer_check ORDER BY id DESC LIMIT $1")
                .bind(limit.clamp(1, 1000))
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
