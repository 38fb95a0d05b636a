//! The vendor's issuer database (its own database, not the installation's):
//! customers with their serial numbers and installation secrets, the license
//! spec each bought with the latest signed document, and a history of every
//! change. Same backends and rules as the installation store.

use serde::Serialize;
use sqlx::AnyPool;

use crate::tokens::token_hash;
use crate::{connect, Backend, StoreError};

pub struct IssuerStore {
    pool: AnyPool,
    backend: Backend,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Customer {
    pub serial_number: String,
    pub company_name: String,
    pub contact: String,
    /// The license spec (TOML) the latest document was signed from.
    pub spec: String,
    pub license_version: i64,
    /// The latest signed license document.
    #[serde(skip)]
    pub document: String,
    /// A message for the installation (status `Message`), with a link.
    pub message: Option<String>,
    pub message_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A re-signed license for a customer.
#[derive(Debug, Clone)]
pub struct Reissued {
    pub spec: String,
    pub license_version: i64,
    pub document: String,
    pub company_name: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub actor: String,
    pub at: String,
    pub what: String,
}

const CUSTOMER_COLUMNS: &str =
    "serial_number, company_name, contact, spec, license_version, document, message, \
    message_url, created_at, updated_at";

impl IssuerStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let (pool, backend) = connect(url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/issuer/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/issuer/postgres").run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Adds a customer with its first signed license. `secret` is the
    /// installation secret (stored hashed).
    pub async fn add_customer(
        &self,
        customer: &Customer,
        secret: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM customer WHERE serial_number = $1")
            .bind(&customer.serial_number)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Duplicate(format!(
                "serial {}",
                customer.serial_number
            )));
        }
        let now = crate::stamp::now();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO customer (serial_number, company_name, contact, secret_hash, spec, license_version, \
             document, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(&customer.serial_number)
        .bind(&customer.company_name)
        .bind(&customer.contact)
        .bind(token_hash(secret))
        .bind(&customer.spec)
        .bind(customer.license_version)
        .bind(&customer.document)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        history(
            &mut tx,
            id,
            actor,
            &format!("customer created with license v{}", customer.license_version),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customer ORDER BY serial_number"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn customer(&self, serial: &str) -> Result<Customer, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customer WHERE serial_number = $1"
        ))
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::UnknownSerial(serial.to_owned()))
    }

    /// The customer whose serial and installation secret match, if any.
    pub async fn authenticate(&self, serial: &str, secret: &str) -> Result<Option<Customer>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT secret_hash FROM customer WHERE serial_number = $1")
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?;
        let presented = token_hash(secret);
        let matches = row.is_some_and(|(stored,)| lisens_core::constant_time_eq(&stored, &presented));
        if !matches {
            return Ok(None);
        }
        self.customer(serial).await.map(Some)
    }

    /// Stores a re-signed license, only if nobody changed the customer since
    /// `expected_version` was read (two vendor staff editing at once).
    pub async fn update_license(
        &self,
        serial: &str,
        expected_version: i64,
        new: &Reissued,
        actor: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE customer SET spec = $3, license_version = $4, document = $5, company_name = $6, updated_at = $7 \
             WHERE serial_number = $1 AND license_version = $2 RETURNING id",
        )
        .bind(serial)
        .bind(expected_version)
        .bind(&new.spec)
        .bind(new.license_version)
        .bind(&new.document)
        .bind(&new.company_name)
        .bind(crate::stamp::now())
        .fetch_optional(&mut *tx)
        .await?;
        let (id,) = row.ok_or_else(|| {
            StoreError::Invalid(format!(
                "customer {serial} changed meanwhile (or is unknown); reload and retry"
            ))
        })?;
        history(&mut tx, id, actor, what).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with None clears) the message installations are shown.
    pub async fn set_message(
        &self,
        serial: &str,
        message: Option<&str>,
        url: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE customer SET message = $2, message_url = $3 WHERE serial_number = $1 RETURNING id",
        )
        .bind(serial)
        .bind(message)
        .bind(url)
        .fetch_optional(&mut *tx)
        .await?;
        let (id,) = row.ok_or_else(|| StoreError::UnknownSerial(serial.to_owned()))?;
        history(&mut tx, id, actor, &format!("message set to {message:?}")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registers an installation: replaces the secret, once. Returns false
    /// when the customer is already registered.
    pub async fn register(&self, serial: &str, secret: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE customer SET secret_hash = $2, registered = 1 WHERE serial_number = $1 AND registered = 0 RETURNING id",
        )
        .bind(serial)
        .bind(token_hash(secret))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id,)) = row else { return Ok(false) };
        history(
            &mut tx,
            id,
            "registration",
            "installation registered; secret issued",
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Lets the customer's installation register again (a reinstall).
    pub async fn reset_registration(&self, serial: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> =
            sqlx::query_as("UPDATE customer SET registered = 0 WHERE serial_number = $1 RETURNING id")
                .bind(serial)
                .fetch_optional(&mut *tx)
                .await?;
        let (id,) = row.ok_or_else(|| StoreError::UnknownSerial(serial.to_owned()))?;
        history(&mut tx, id, actor, "registration reset").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the installation secret.
    pub async fn set_secret(&self, serial: &str, secret: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> =
            sqlx::query_as("UPDATE customer SET secret_hash = $2 WHERE serial_number = $1 RETURNING id")
                .bind(serial)
                .bind(token_hash(secret))
                .fetch_optional(&mut *tx)
                .await?;
        let (id,) = row.ok_or_else(|| StoreError::UnknownSerial(serial.to_owned()))?;
        history(&mut tx, id, actor, "installation secret replaced").await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn history(&self, serial: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT h.actor, h.at, h.what FROM customer_history h JOIN customer c ON c.id = h.customer_id \
             WHERE c.serial_number = $1 ORDER BY h.id DESC",
        )
        .bind(serial)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_admin_password_hash(&self, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM issuer_admin").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO issuer_admin (id, password_hash) VALUES (1, $1)")
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn admin_password_hash(&self) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT password_hash FROM issuer_admin WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(h,)| h))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn history(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    customer_id: i64,
    actor: &str,
    what: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO customer_history (customer_id, actor, at, what) VALUES ($1, $2, $3, $4)")
        .bind(customer_id)
        .bind(actor)
        .bind(crate::stamp::now())
        .bind(what)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
