//! A license waiting for an administrator: the pending license and its diff
//! against the live counts, activating it ("Activate new license"), and
//! "Remove excess licenses" (who holds a module, and taking it from some).

use lisens_core::activation::LicenseDiff;
use lisens_core::{ModuleName, VerifiedLicense};

use crate::activation::{json, rows_and_use, Actor, Holder, PendingLicense};
use crate::rows::stored_owner;
use crate::{Store, StoreError};

/// A license waiting for an administrator, in short: what the status shows.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PendingSummary {
    pub owner_name: String,
    pub license_version: i64,
    /// `file`, `issuer`, ...: how it arrived.
    pub source: String,
    /// When it arrived (RFC 3339, UTC).
    pub received_at: String,
}

/// The license status with the licenses waiting for an administrator (the
/// status endpoint's and `license status`'s answer).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LicenseReport {
    #[serde(flatten)]
    pub status: crate::LicenseStatus,
    /// Licenses received but not active: each waits for "Activate new
    /// license" (`lisens license pending` shows what it changes).
    pub pending: Vec<PendingSummary>,
}

impl Store {
    /// The license status and the pending licenses.
    pub async fn license_report(&self) -> Result<LicenseReport, StoreError> {
        let status = self.license_status().await?;
        let pending = sqlx::query_as(
            "SELECT owner_name, license_version, source, received_at FROM pending_license ORDER BY owner_name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(LicenseReport { status, pending })
    }

    /// The pending license of an owner, with its diff against the live counts.
    pub async fn pending_license(&self, owner: &str) -> Result<Option<PendingLicense>, StoreError> {
        let row: Option<(String, i64, String, String)> = sqlx::query_as(
            "SELECT document, license_version, source, received_at FROM pending_license WHERE owner_name = $1",
        )
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        let Some((document, license_version, source, received_at)) = row else {
            return Ok(None);
        };
        let license = VerifiedLicense::verify(&document, &self.owner_keys(owner).await?)?;
        let status = self.license_status().await?;
        let (rows, in_use) = rows_and_use(&status, owner);
        let diff = lisens_core::activation::diff(&rows, &in_use, &license);
        let blocking = diff.blocking().into_iter().map(|n| n.to_string()).collect();
        Ok(Some(PendingLicense {
            owner_name: owner.to_owned(),
            license_version,
            source,
            received_at,
            diff,
            blocking,
        }))
    }

    /// Owners that have a pending license.
    pub async fn pending_owners(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT owner_name FROM pending_license ORDER BY owner_name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(o,)| o).collect())
    }

    /// "Activate": applies the pending license once no module is below what
    /// is in use (re-checked under the locks).
    pub async fn activate_pending(&self, owner: &str, actor: Actor<'_>) -> Result<LicenseDiff, StoreError> {
        let document: Option<(String,)> =
            sqlx::query_as("SELECT document FROM pending_license WHERE owner_name = $1")
                .bind(owner)
                .fetch_optional(&self.pool)
                .await?;
        let (document,) = document.ok_or_else(|| StoreError::NoPending(owner.to_owned()))?;
        let license = VerifiedLicense::verify(&document, &self.owner_keys(owner).await?)?;
        let status = self.license_status().await?;
        let (rows, in_use) = rows_and_use(&status, owner);
        let diff = lisens_core::activation::diff(&rows, &in_use, &license);
        let from = stored_owner(self, owner)
            .await?
            .and_then(|(_, r)| r)
            .map(|r| i64::from(r.owner.license_version));
        self.apply(&license, None).await.map_err(|e| match e {
            StoreError::Conflict => StoreError::NoPending(owner.to_owned()),
            other => other,
        })?;
        self.record(
            owner,
            "activated",
            from,
            Some(&license),
            actor,
            None,
            &json(&diff),
        )
        .await?;
        Ok(diff)
    }

    /// Who holds a module (directly or through a plan), paged.
    pub async fn module_holders(
        &self,
        module: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Holder>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT a.login_name, a.full_name, l.direct FROM license_assoc_link l \
             JOIN associate a ON a.id = l.assoc_id JOIN module_license m ON m.id = l.module_license_id \
             WHERE m.module_name = $1 ORDER BY a.login_name LIMIT $2 OFFSET $3",
        )
        .bind(module)
        .bind(limit.clamp(1, 1000))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(login_name, full_name, direct)| Holder {
                login_name,
                full_name,
                direct: direct != 0,
            })
            .collect())
    }

    /// "Remove excess licenses": takes `module` from each user, directly held
    /// or through the plans that grant it (with what only those plans gave).
    pub async fn remove_excess(
        &self,
        module: &str,
        logins: &[String],
        actor: Actor<'_>,
    ) -> Result<(), StoreError> {
        let status = self.license_status().await?;
        let owner = status
            .module(module)
            .map(|(o, _)| o.owner_name.clone())
            .unwrap_or_default();
        let plans_granting: Vec<String> = status
            .owners
            .iter()
            .flat_map(|o| &o.modules)
            .filter_map(|m| m.parsed.as_ref())
            .filter(|p| {
                p.is_plan()
                    && p.extra_info
                        .set()
                        .is_some_and(|s| s.iter().any(|n| n.as_str() == module))
            })
            .map(|p| p.name.to_string())
            .collect();
        // Work out every removal first, so a typo in the list refuses the
        // whole request before anyone loses a license.
        let name = ModuleName::parse(module).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut removals: Vec<(&String, Vec<String>)> = Vec::new();
        for login in logins {
            let held = self.holdings(login).await?;
            let take = match held.iter().find(|h| h.module == module) {
                None => return Err(lisens_core::assign::AssignError::NotAssigned(name.clone()).into()),
                Some(h) if h.direct => vec![module.to_owned()],
                Some(_) => held
                    .iter()
                    .filter(|h| h.direct && plans_granting.contains(&h.module))
                    .map(|h| h.module.clone())
                    .collect(),
            };
            removals.push((login, take));
        }
        for (login, take) in removals {
            for m in take {
                self.unassign(login, &m).await?;
            }
        }
        self.record(
            &owner,
            "excess_removed",
            None,
            None,
            actor,
            None,
            &format!("{module}: {}", logins.join(", ")),
        )
        .await?;
        Ok(())
    }
}
