//! Associates: the CRM's users, who hold licenses.

use lisens_core::LoginName;
use serde::Serialize;
use sqlx::FromRow;

use crate::{Store, StoreError};

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

/// A change to one user's own fields; `None` leaves a field as it is.
/// Applied with license changes in one transaction (`Store::edit_user`).
#[derive(Debug, Clone)]
pub struct UserEdit {
    pub login: LoginName,
    pub full_name: Option<String>,
    pub email: Option<String>,
    /// `Some(false)` deactivates (and releases every license), `Some(true)`
    /// activates.
    pub active: Option<bool>,
}

impl UserEdit {
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        check_name_and_email(
            self.full_name.as_deref().unwrap_or(""),
            self.email.as_deref().unwrap_or(""),
        )
    }
}

/// The one rule for a user's name and e-mail.
fn check_name_and_email(full_name: &str, email: &str) -> Result<(), StoreError> {
    if full_name.chars().count() > 200
        || email.chars().count() > 254
        || full_name.chars().chain(email.chars()).any(char::is_control)
    {
        return Err(StoreError::Invalid(
            "name or e-mail too long, or with control characters".into(),
        ));
    }
    Ok(())
}

/// A user as the API and CLI show it (never with its password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, FromRow, utoipa::ToSchema)]
pub struct Associate {
    pub id: i64,
    pub login_name: String,
    pub full_name: String,
    pub email: String,
    #[sqlx(try_from = "i64")]
    pub active: IntBool,
    #[sqlx(try_from = "i64")]
    pub login_rights: IntBool,
    #[sqlx(try_from = "i64")]
    pub is_admin: IntBool,
    pub created_at: String,
    pub updated_at: String,
}

/// A boolean stored as 0/1 on both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = bool)]
pub struct IntBool(pub bool);

impl From<i64> for IntBool {
    fn from(v: i64) -> Self {
        IntBool(v != 0)
    }
}

impl std::ops::Deref for IntBool {
    type Target = bool;
    fn deref(&self) -> &bool {
        &self.0
    }
}

pub(crate) const ASSOCIATE_COLUMNS: &str =
    "id, login_name, full_name, email, active, login_rights, is_admin, created_at, updated_at";

impl Store {
    /// Creates a user; returns its id.
    pub async fn create_associate(&self, new: &NewAssociate) -> Result<i64, StoreError> {
        let login = LoginName::parse(&new.login_name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if new.full_name.chars().count() > 200 || new.email.chars().count() > 254 {
            return Err(StoreError::Invalid("name or e-mail too long".into()));
        }
        if new
            .full_name
            .chars()
            .chain(new.email.chars())
            .any(char::is_control)
        {
            return Err(StoreError::Invalid(
                "name and e-mail must not hold control characters".into(),
            ));
        }
        self.license_status().await?.ensure_writable()?;
        let now = crate::stamp::now();
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM associate WHERE lower(login_name) = lower($1)")
                .bind(login.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::Duplicate(format!("user {login}")));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO associate (login_name, full_name, email, active, login_rights, is_admin, \
             password_hash, created_at, updated_at) VALUES ($1, $2, $3, 1, 1, $4, $5, $6, $6) RETURNING id",
        )
        .bind(login.as_str())
        .bind(&new.full_name)
        .bind(&new.email)
        .bind(i64::from(new.is_admin))
        .bind(new.password_hash.as_deref())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
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

    /// Users by login name.
    pub async fn list_associates(&self) -> Result<Vec<Associate>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ASSOCIATE_COLUMNS} FROM associate ORDER BY login_name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn associate(&self, login: &str) -> Result<Associate, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {ASSOCIATE_COLUMNS} FROM associate WHERE lower(login_name) = lower($1)"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::UnknownUser(login.to_owned()))
    }

    /// The stored Argon2id hash, for the caller to check a password against.
    pub async fn password_hash(&self, login: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT password_hash FROM associate WHERE lower(login_name) = lower($1)")
                .bind(login)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(h,)| h))
    }

    /// Changes a user's name and e-mail.
    pub async fn update_associate(
        &self,
        login: &str,
        full_name: &str,
        email: &str,
    ) -> Result<(), StoreError> {
        check_name_and_email(full_name, email)?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE associate SET full_name = $2, email = $3, updated_at = $4 WHERE lower(login_name) = lower($1)",
        )
        .bind(login)
        .bind(full_name)
        .bind(email)
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownUser(login.to_owned()));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Activates a user again.
    pub async fn activate_associate(&self, login: &str) -> Result<(), StoreError> {
        self.set_active(login, true).await
    }

    /// Takes every license from a user (plans first, then what is left).
    pub async fn release_licenses(&self, login: &str) -> Result<(), StoreError> {
        loop {
            let held = self.holdings(login).await?;
            let Some(h) = held.iter().find(|h| h.direct) else {
                return Ok(());
            };
            self.unassign(login, &h.module).await?;
        }
    }

    /// Deletes a user and their licenses; never the last active
    /// administrator (`LAST_ADMINISTRATOR`).
    pub async fn delete_associate(&self, login: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.keep_an_administrator(&mut tx, login).await?;
        let done = sqlx::query("DELETE FROM associate WHERE lower(login_name) = lower($1)")
            .bind(login)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownUser(login.to_owned()));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user by id.
    pub async fn associate_by_id(&self, id: i64) -> Result<Option<Associate>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ASSOCIATE_COLUMNS} FROM associate WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Marks a user inactive: they can no longer log in. Their licenses stay
    /// assigned (like blocking sign-in elsewhere) until unassigned, but they
    /// no longer count as an active user for billing. Never the last active
    /// administrator (`LAST_ADMINISTRATOR`).
    pub async fn deactivate_associate(&self, login: &str) -> Result<(), StoreError> {
        self.license_status().await?.ensure_writable()?;
        self.set_active(login, false).await
    }

    async fn set_active(&self, login: &str, active: bool) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !active {
            self.keep_an_administrator(&mut tx, login).await?;
        }
        let done = sqlx::query(
            "UPDATE associate SET active = $2, updated_at = $3 WHERE lower(login_name) = lower($1)",
        )
        .bind(login)
        .bind(i64::from(active))
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownUser(login.to_owned()));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies `edit` to the user `id` inside the caller's write
    /// transaction; whether anything changed.
    pub(crate) async fn apply_edit(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
        edit: &UserEdit,
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut changed = false;
        if edit.full_name.is_some() || edit.email.is_some() {
            sqlx::query(
                "UPDATE associate SET full_name = COALESCE($2, full_name), email = COALESCE($3, email), \
                 updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(edit.full_name.as_deref())
            .bind(edit.email.as_deref())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            changed = true;
        }
        if let Some(active) = edit.active {
            let (was,): (i64,) = sqlx::query_as("SELECT active FROM associate WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            if (was != 0) != active {
                if !active {
                    self.keep_an_administrator(tx, edit.login.as_str()).await?;
                    sqlx::query("DELETE FROM license_assoc_link WHERE assoc_id = $1")
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
                sqlx::query("UPDATE associate SET active = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(i64::from(active))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The one place that keeps the installation administrable: inside the
    /// write transaction that deactivates or deletes `login`, refuses when
    /// `login` is the only active administrator. The active administrators'
    /// rows are locked first (in id order, `FOR UPDATE` on PostgreSQL; SQLite
    /// holds the write lock from BEGIN), so of two transactions taking away
    /// the last two administrators at once, the second sees the first's
    /// change and is refused.
    async fn keep_an_administrator(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        login: &str,
    ) -> Result<(), StoreError> {
        let admins: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT login_name FROM associate WHERE is_admin = 1 AND active = 1 ORDER BY id{}",
            self.for_update()
        ))
        .fetch_all(&mut **tx)
        .await?;
        if admins.len() == 1 && admins[0].0.eq_ignore_ascii_case(login) {
            return Err(StoreError::LastAdministrator(login.to_owned()));
        }
        Ok(())
    }
}
