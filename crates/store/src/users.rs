//! Associates: the CRM's users, who hold licenses.

use crate::{now_rfc3339, Store, StoreError};

/// A user to create. The password hash is an Argon2id PHC string made by the
/// caller; the store never sees a password.
#[derive(Debug, Clone)]
pub struct NewAssociate {
    pub login_name: String,
    pub full_name: String,
    pub email: String,
    pub is_admin: bool,
    pub password_hash: Option<String>,
}

impl Store {
    /// Creates a user; returns its id.
    pub async fn create_associate(&self, new: &NewAssociate) -> Result<i64, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM associate WHERE login_name = $1")
            .bind(&new.login_name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Duplicate(format!("user {:?}", new.login_name)));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO associate (login_name, full_name, email, active, login_rights, is_admin, \
             password_hash, created_at, updated_at) VALUES ($1, $2, $3, 1, 1, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&new.login_name)
        .bind(&new.full_name)
        .bind(&new.email)
        .bind(i64::from(new.is_admin))
        .bind(new.password_hash.as_deref())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The number of users.
    pub async fn count_associates(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM associate")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }
}
