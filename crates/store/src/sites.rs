//! Sites: the central database and its satellites, and the site-counted
//! features (type 2 licenses such as Reporter Studio or Audience) each site
//! uses. Satellites count against the `satellite` site license; a feature
//! counts the sites that enable it. Same locking as user assignments, so the
//! counts hold under concurrency too.

use lisens_core::assign::AssignError;
use lisens_core::{ModuleName, ModuleType, SiteName};
use serde::Serialize;

use crate::license::LicenseStatus;
use crate::{Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    /// `central` or `satellite`.
    pub kind: String,
    /// Site-counted features enabled on this site.
    pub modules: Vec<String>,
}

/// The one site-name rule is `SiteName::parse` in core.
fn site_name(name: &str) -> Result<SiteName, StoreError> {
    SiteName::parse(name).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The valid site license `name`: its id, count and stored signature.
fn site_license(status: &LicenseStatus, name: &ModuleName) -> Result<(i64, i64, String), StoreError> {
    let (_, m) = status
        .module(name.as_str())
        .ok_or_else(|| AssignError::UnknownModule(name.clone()))?;
    if !m.effective() {
        return Err(AssignError::ModuleInvalid(name.clone()).into());
    }
    if m.parsed.as_ref().map(|p| p.module_type) != Some(ModuleType::Site) {
        return Err(StoreError::Invalid(format!("{name} is not a site license")));
    }
    Ok((m.id, m.total, m.signature.clone()))
}

/// Locks a site license row and makes sure it is still the verified row
/// with the count we are about to enforce.
async fn lock_site_license(
    store: &Store,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    count: i64,
    signature: &str,
) -> Result<(), StoreError> {
    let locked: Option<(i64, String)> = sqlx::query_as(&format!(
        "SELECT license_count, signature FROM module_license WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if locked.as_ref().map(|(c, s)| (*c, s.as_str())) != Some((count, signature)) {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

impl Store {
    /// Defines a site. A satellite needs a free `satellite` site license.
    pub async fn add_site(&self, name: &str, satellite: bool) -> Result<(), StoreError> {
        let name = site_name(name)?;
        let name = name.as_str();
        let status = self.license_status().await?;
        status.ensure_writable()?;
        let mut tx = self.begin_write().await?;
        if satellite {
            let Some(module) = status.product().sites.clone() else {
                return Err(StoreError::Invalid(format!(
                    "{} has no satellite sites",
                    status.product().name
                )));
            };
            let (id, count, signature) = site_license(&status, &module)?;
            lock_site_license(self, &mut tx, id, count, &signature).await?;
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM site WHERE kind = 'satellite'")
                .fetch_one(&mut *tx)
                .await?;
            let count = u32::try_from(count).unwrap_or(0);
            if lisens_core::assign::over_count(n + 1, count) {
                return Err(AssignError::Overcommitted { module, count }.into());
            }
        } else {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM site WHERE kind = 'central'")
                .fetch_one(&mut *tx)
                .await?;
            if n > 0 {
                return Err(StoreError::Duplicate("a central site".into()));
            }
        }
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM site WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Duplicate(format!("site {name}")));
        }
        sqlx::query("INSERT INTO site (name, kind, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(if satellite { "satellite" } else { "central" })
            .bind(crate::stamp::now())
            .execute(&mut *tx)
            .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_site(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM site WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!("no site {name:?}")));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enables a site-counted feature on a site, within the feature's count.
    pub async fn enable_site_module(&self, site: &str, module: &str) -> Result<(), StoreError> {
        let module = ModuleName::parse(module).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let status = self.license_status().await?;
        if status.product().sites.as_ref() == Some(&module) {
            return Err(StoreError::Invalid(format!(
                "{module} is counted by adding satellite sites"
            )));
        }
        status.ensure_writable()?;
        let (id, count, signature) = site_license(&status, &module)?;
        let mut tx = self.begin_write().await?;
        lock_site_license(self, &mut tx, id, count, &signature).await?;
        let site: Option<(i64,)> = sqlx::query_as("SELECT id FROM site WHERE name = $1")
            .bind(site)
            .fetch_optional(&mut *tx)
            .await?;
        let (site_id,) = site.ok_or_else(|| StoreError::Invalid(format!("no site {site:?}")))?;
        let enabled: Vec<(i64,)> = sqlx::query_as("SELECT site_id FROM site_module WHERE module_name = $1")
            .bind(module.as_str())
            .fetch_all(&mut *tx)
            .await?;
        if enabled.iter().any(|(s,)| *s == site_id) {
            return Ok(());
        }
        let count = u32::try_from(count).unwrap_or(0);
        if lisens_core::assign::over_count(i64::try_from(enabled.len()).unwrap_or(i64::MAX) + 1, count) {
            return Err(AssignError::Overcommitted { module, count }.into());
        }
        sqlx::query("INSERT INTO site_module (site_id, module_name, created_at) VALUES ($1, $2, $3)")
            .bind(site_id)
            .bind(module.as_str())
            .bind(crate::stamp::now())
            .execute(&mut *tx)
            .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn disable_site_module(&self, site: &str, module: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM site_module WHERE module_name = $2 AND site_id = (SELECT id FROM site WHERE name = $1)",
        )
        .bind(site)
        .bind(module)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "{module} is not enabled on site {site:?}"
            )));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>, StoreError> {
        let sites: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, kind FROM site ORDER BY kind, name")
                .fetch_all(&self.pool)
                .await?;
        let modules: Vec<(i64, String)> =
            sqlx::query_as("SELECT site_id, module_name FROM site_module ORDER BY module_name")
                .fetch_all(&self.pool)
                .await?;
        Ok(sites
            .into_iter()
            .map(|(id, name, kind)| Site {
                name,
                kind,
                modules: modules
                    .iter()
                    .filter(|(s, _)| *s == id)
                    .map(|(_, m)| m.clone())
                    .collect(),
            })
            .collect())
    }
}
