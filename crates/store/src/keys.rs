//! Which keys an installation trusts for each owner: the first key accepted
//! is pinned, others only by an administrator (`trust-key`) or the issuer's
//! signed rotation statement; keys pinned in the process override the
//! database (`docs/trust-model.md`).

use lisens_core::PublicKey;

use crate::{Store, StoreError};

impl Store {
    pub(crate) async fn ensure_trusted(&self, owner: &str, key: &PublicKey) -> Result<(), StoreError> {
        let trusted: Vec<(String,)> = sqlx::query_as("SELECT key_id FROM trusted_key WHERE owner_name = $1")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        if trusted.iter().any(|(k,)| k == key.id().as_str()) {
            return Ok(());
        }
        Err(StoreError::OwnerKeyMismatch {
            owner: owner.to_owned(),
            trusted: trusted.into_iter().map(|(k,)| k).collect::<Vec<_>>().join(", "),
            signed: key.id().to_string(),
        })
    }

    /// Trusts one more key for an owner: the vendor rotates keys by signing
    /// with a new one; licenses signed by either verify until one is retired.
    pub async fn trust_key(&self, owner: &str, key: &PublicKey) -> Result<(), StoreError> {
        // An owner not loaded yet may be trusted ahead of its first license
        // (a third party's add-on): keys are pinned, so its load needs it.
        lisens_core::OwnerName::parse(owner).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO trusted_key (owner_name, key_id, public_key, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner_name, key_id) DO NOTHING",
        )
        .bind(owner)
        .bind(key.id().as_str())
        .bind(key.to_text().trim())
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Trusts the next key of an owner on the word of a key already trusted
    /// for it (a key rotation the vendor signed). Returns the owner and key.
    pub async fn trust_key_by_rotation(&self, text: &str) -> Result<(String, PublicKey), StoreError> {
        let candidates = self.receiving_keys().await?;
        let (rotation, _) = lisens_core::statement::KeyRotation::verify(text, &candidates)?;
        let owner = rotation.owner.to_string();
        // Only a key trusted for this very owner may vouch for its next one.
        let (_, key) = lisens_core::statement::KeyRotation::verify(text, &self.owner_keys(&owner).await?)?;
        self.trust_key(&owner, &key).await?;
        Ok((owner, key))
    }

    /// Stops trusting a key for an owner. The key that signed the active
    /// license cannot be retired (the license would stop counting).
    pub async fn retire_key(&self, owner: &str, key_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let active: Option<(String,)> =
            sqlx::query_as("SELECT key_id FROM module_owner WHERE owner_name = $1")
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
        if active.as_ref().is_some_and(|(k,)| k == key_id) {
            return Err(StoreError::Invalid(format!(
                "key {key_id} signed the active license of {owner}: load a license signed by the new key first"
            )));
        }
        let done = sqlx::query("DELETE FROM trusted_key WHERE owner_name = $1 AND key_id = $2")
            .bind(owner)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "{owner} does not trust a key {key_id}"
            )));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key a received license may be checked with: the pinned keys,
    /// else every key trusted for an owner.
    pub async fn receiving_keys(&self) -> Result<Vec<PublicKey>, StoreError> {
        if !self.pinned.is_empty() {
            return Ok(self.pinned.clone());
        }
        let rows: Vec<(String,)> = sqlx::query_as("SELECT public_key FROM trusted_key")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().filter_map(|(t,)| PublicKey::parse(t).ok()).collect())
    }

    /// The trusted keys of an owner (and the pinned ones, when any are pinned).
    pub async fn owner_keys(&self, owner: &str) -> Result<Vec<PublicKey>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT public_key FROM trusted_key WHERE owner_name = $1")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|(t,)| PublicKey::parse(t).ok())
            .filter(|k| self.pinned.is_empty() || self.pinned.contains(k))
            .collect())
    }
}
