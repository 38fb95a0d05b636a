//! Receiving a new license for an owner (from a file or from the issuer):
//! decide with `lisens_core::activation`, then apply it at once, keep it
//! pending for an administrator, or refuse it; activate a pending one; remove
//! excess licenses. Applying replaces the owner's rows in one transaction
//! that first locks every row of the owner and re-counts the holders, so a
//! crash leaves the old license or the new one, never a mix, and no
//! concurrent assignment can slip past the new counts.

use std::collections::BTreeMap;

use lisens_core::activation::{decide, plan_apply, Decision, LicenseDiff, Rejection, StoredRow};
use lisens_core::{ModuleLicense, ModuleName, PublicKey, VerifiedLicense};
use serde::Serialize;
use time::OffsetDateTime;

use crate::license::LicenseStatus;
use crate::rows::{stored_owner, update_owner_row, write_module_row};
use crate::{Store, StoreError};

/// What happened to a received license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Received {
    /// The owner's first license, loaded.
    Loaded,
    /// Applied by itself: "New license activated".
    Activated { diff: LicenseDiff },
    /// Waiting for an administrator: "Activate new license".
    Pending { diff: LicenseDiff },
    /// The same license as the active one.
    Unchanged,
}

/// A license waiting for an administrator, with its diff against the live counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingLicense {
    pub owner_name: String,
    pub license_version: i64,
    pub source: String,
    pub received_at: String,
    pub diff: LicenseDiff,
    /// Modules whose new total is below what is in use; Activate is refused
    /// until they are empty.
    pub blocking: Vec<String>,
}

/// One record of the license's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LicenseEvent {
    pub id: i64,
    pub owner_name: String,
    pub kind: String,
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub automatic: crate::users::IntBool,
    pub actor: String,
    pub at: String,
    pub code: Option<String>,
    pub detail: String,
}

/// A holder of a module, for "Remove excess licenses".
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Holder {
    pub login_name: String,
    pub full_name: String,
    /// Holds it directly rather than only through a plan.
    pub direct: bool,
}

/// Where a license that must wait is kept from.
pub(crate) struct Pending<'a> {
    document: &'a str,
    source: &'a str,
}

/// Who or what made a change, for the record.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub automatic: bool,
}

pub(crate) fn rows_and_use(
    status: &LicenseStatus,
    owner: &str,
) -> (Vec<ModuleLicense>, BTreeMap<ModuleName, i64>) {
    let mut rows = Vec::new();
    let mut in_use = BTreeMap::new();
    for o in status.owners.iter().filter(|o| o.owner_name == owner) {
        for m in &o.modules {
            if let Some(p) = &m.parsed {
                *in_use.entry(p.name.clone()).or_insert(0) += m.in_use;
                rows.push(p.clone());
            }
        }
    }
    (rows, in_use)
}

impl Store {
    /// Takes a verified license for an owner: loads it when the owner has
    /// none, else applies, parks or refuses it. `document` is kept while pending.
    pub async fn receive_license(
        &self,
        license: &VerifiedLicense,
        key: &PublicKey,
        document: &str,
        source: &str,
        actor: Actor<'_>,
    ) -> Result<Received, StoreError> {
        let owner = license.owner().name.to_string();
        let Some((_, current)) = stored_owner(self, &owner).await? else {
            self.load_license(license, key).await?;
            self.record(&owner, "loaded", None, Some(license), actor, None, "")
                .await?;
            return Ok(Received::Loaded);
        };
        self.ensure_trusted(&owner, key).await?;
        if current.is_none() {
            return Err(StoreError::Invalid(format!(
                "the stored owner row of {owner} does not parse"
            )));
        }
        let mut attempt = 0;
        let (from, outcome) = loop {
            let current = match stored_owner(self, &owner).await? {
                Some((_, Some(current))) => current,
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "the stored owner row of {owner} does not parse"
                    )))
                }
            };
            let status = self.license_rows().await?;
            let (rows, _) = rows_and_use(&status, &owner);
            let from = Some(i64::from(current.owner.license_version));
            let pending = Pending { document, source };
            match self.apply(license, Some((&current.owner, &rows, pending))).await {
                Err(StoreError::Conflict) if attempt < 5 => attempt += 1,
                outcome => break (from, outcome),
            }
        };
        match outcome {
            Err(StoreError::Rejected(rejection)) => {
                self.record(
                    &owner,
                    "rejected",
                    from,
                    Some(license),
                    actor,
                    Some(rejection.code()),
                    &rejection.to_string(),
                )
                .await?;
                Err(StoreError::Rejected(rejection))
            }
            Err(e) => Err(e),
            Ok(Decision::Unchanged) => Ok(Received::Unchanged),
            Ok(Decision::Apply(diff)) => {
                self.record(
                    &owner,
                    "activated",
                    from,
                    Some(license),
                    actor,
                    None,
                    &json(&diff),
                )
                .await?;
                Ok(Received::Activated { diff })
            }
            Ok(Decision::Pending(diff)) => {
                self.record(&owner, "pending", from, Some(license), actor, None, &json(&diff))
                    .await?;
                Ok(Received::Pending { diff })
            }
        }
    }

    /// Replaces an owner's rows with a license's, in one transaction that
    /// locks every row of the owner and re-counts the holders first.
    /// With `decide_with` (the current owner and rows), first decides under
    /// the locks: applies, parks it as pending, or refuses it. Without, applies
    /// (an administrator's "Activate").
    pub(crate) async fn apply(
        &self,
        license: &VerifiedLicense,
        decide_with: Option<(&lisens_core::Owner, &[ModuleLicense], Pending<'_>)>,
    ) -> Result<Decision, StoreError> {
        let owner = license.owner().name.as_str();
        let mut tx = self.begin_write().await?;
        let (owner_id,): (i64,) = sqlx::query_as(&format!(
            "SELECT id FROM module_owner WHERE owner_name = $1{}",
            self.for_update()
        ))
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        let existing: Vec<(i64, String, i64)> = sqlx::query_as(&format!(
            "SELECT id, module_name, module_version FROM module_license WHERE owner_id = $1 ORDER BY id{}",
            self.for_update()
        ))
        .bind(owner_id)
        .fetch_all(&mut *tx)
        .await?;
        // The ids are our own integers: listing them lets the database count
        // from the link index alone.
        let ids = existing
            .iter()
            .map(|(id, _, _)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let counts: BTreeMap<i64, i64> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            sqlx::query_as::<_, (i64, i64)>(&format!(
                "SELECT module_license_id, COUNT(*) FROM license_assoc_link WHERE module_license_id IN ({ids}) \
                 GROUP BY module_license_id"
            ))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        };
        // Site licenses are held by sites, not users.
        let site_use = crate::license::site_usage(&mut tx, license.owner().product().sites.as_ref()).await?;
        let site_rows: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT id, module_name FROM module_license WHERE owner_id = $1 AND module_type = {}",
            lisens_core::ModuleType::Site.code()
        ))
        .bind(owner_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut counts = counts;
        for (id, name) in site_rows {
            if let Some(n) = site_use.get(&name) {
                counts.insert(id, *n);
            }
        }
        if decide_with.is_none() {
            let pending: Option<(i64,)> =
                sqlx::query_as("SELECT license_version FROM pending_license WHERE owner_name = $1")
                    .bind(owner)
                    .fetch_optional(&mut *tx)
                    .await?;
            if pending.map(|(v,)| v) != Some(i64::from(license.owner().license_version)) {
                return Err(StoreError::Conflict);
            }
        }
        let mut decision = Decision::Apply(LicenseDiff::default());
        if let Some((current, rows, pending)) = decide_with {
            // Decide against the license as it is now, under the lock, not
            // as it was read before: two licenses arriving together must not
            // let the older one win.
            let (locked_version,): (i64,) =
                sqlx::query_as("SELECT license_version FROM module_owner WHERE id = $1")
                    .bind(owner_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if locked_version != i64::from(current.license_version) {
                return Err(StoreError::Conflict);
            }
            let mut in_use: BTreeMap<ModuleName, i64> = BTreeMap::new();
            for (id, name, _) in &existing {
                if let (Ok(name), Some(n)) = (ModuleName::parse(name), counts.get(id)) {
                    *in_use.entry(name).or_insert(0) += n;
                }
            }
            decision = decide(current, rows, &in_use, license, OffsetDateTime::now_utc().date())?;
            match &decision {
                Decision::Apply(_) => {}
                Decision::Unchanged => return Ok(decision),
                Decision::Pending(_) => {
                    sqlx::query("DELETE FROM pending_license WHERE owner_name = $1")
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO pending_license (owner_name, document, license_version, source, received_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(owner)
                    .bind(pending.document)
                    .bind(i64::from(license.owner().license_version))
                    .bind(pending.source)
                    .bind(crate::stamp::now())
                    .execute(&mut *tx)
                    .await?;
                    self.bump_version(&mut tx).await?;
                    tx.commit().await?;
                    return Ok(decision);
                }
            }
        }

        // Which stored row each new module rewrites, which go, and the
        // count refusal: decided by core, applied here under the locks.
        let old_sets: std::collections::HashMap<String, String> =
            sqlx::query_as::<_, (String, String)>(&format!(
                "SELECT module_name, extra_info FROM module_license WHERE owner_id = $1 AND extra_flags = {}",
                lisens_core::ExtraFlags::Plan.code()
            ))
            .bind(owner_id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let stored: Vec<StoredRow> = existing
            .iter()
            .map(|(id, name, version)| StoredRow {
                id: *id,
                name: name.clone(),
                version: *version,
                in_use: counts.get(id).copied().unwrap_or(0),
                plan_set: old_sets.get(name).cloned(),
            })
            .collect();
        let apply_plan = plan_apply(&stored, license.modules()).map_err(StoreError::TooManyAssigned)?;
        for id in &apply_plan.dropped {
            sqlx::query("DELETE FROM module_license WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let plan: Vec<(Option<i64>, &lisens_core::VerifiedModule)> = apply_plan
            .rows
            .iter()
            .copied()
            .zip(license.verified_modules())
            .collect();
        // Move updated rows out of the way of the unique (name, version)
        // index first, then write them.
        for (id, _) in plan.iter().filter(|(id, _)| id.is_some()) {
            sqlx::query("UPDATE module_license SET module_version = -id WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (id, vm) in &plan {
            write_module_row(&mut tx, owner_id, *id, vm).await?;
        }
        update_owner_row(&mut tx, owner_id, license).await?;
        crate::memory::raise_high_water(&mut tx, owner, license.owner().license_version).await?;
        if !apply_plan.changed_plans.is_empty() {
            reconcile_plan_links(&mut tx, owner_id, license, &apply_plan.changed_plans).await?;
        }
        sqlx::query("DELETE FROM pending_license WHERE owner_name = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// The license history, newest first.
    pub async fn license_events(&self, limit: i64) -> Result<Vec<LicenseEvent>, StoreError> {
        self.license_events_page(0, limit).await
    }

    /// A page of the license history, newest first.
    pub async fn license_events_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<LicenseEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, owner_name, kind, from_version, to_version, automatic, actor, at, code, detail \
             FROM license_event ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit.clamp(1, 1000))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record(
        &self,
        owner: &str,
        kind: &str,
        from_version: Option<i64>,
        license: Option<&VerifiedLicense>,
        actor: Actor<'_>,
        code: Option<&str>,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO license_event (owner_name, kind, from_version, to_version, automatic, actor, at, code, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(owner)
        .bind(kind)
        .bind(from_version)
        .bind(license.map(|l| i64::from(l.owner().license_version)))
        .bind(i64::from(actor.automatic))
        .bind(actor.name)
        .bind(crate::stamp::now())
        .bind(code)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        // Shown as system messages too: what happened, by whom, to which version.
        let version = license
            .map(|l| format!(" v{}", l.owner().license_version))
            .unwrap_or_default();
        let message = format!("{owner}{version}: {kind} by {}", actor.name);
        let description = match code {
            Some(code) => format!("{code}: {detail}"),
            None => detail.to_owned(),
        };
        // One message for the license waiting: a newer pending license
        // replaces the older one's message, and activation ends it.
        if kind == "activated" || kind == "pending" {
            self.end_system_events("license-pending").await?;
        }
        // Done by the system (the issuer poller, an automatic activation),
        // or by the person named.
        let by = if actor.automatic { "system" } else { actor.name };
        let what = format!("{owner}{version}");
        self.raise_event_by(
            &format!("license-{}", kind.replace('_', "-")),
            &message,
            Some(&[("what", what.as_str()), ("by", by)]),
            &description,
            kind == "pending",
            by,
        )
        .await?;
        Ok(())
    }
}

/// After new rows are written, bring plan holders' implied links in line with
/// the plans' new `set=`: links no longer granted go, newly granted modules are
/// linked, within their counts (else the activation is refused). Runs in the
/// activation's transaction, under its locks.
async fn reconcile_plan_links(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    owner_id: i64,
    license: &VerifiedLicense,
    changed_plans: &[ModuleName],
) -> Result<(), StoreError> {
    use std::collections::HashMap;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, module_name FROM module_license WHERE owner_id = $1")
            .bind(owner_id)
            .fetch_all(&mut **tx)
            .await?;
    let id_of: HashMap<ModuleName, i64> = rows
        .iter()
        .filter_map(|(id, n)| ModuleName::parse(n).ok().map(|n| (n, *id)))
        .collect();
    let name_of: HashMap<i64, &ModuleName> = id_of.iter().map(|(n, id)| (*id, n)).collect();
    let sets: BTreeMap<ModuleName, Vec<ModuleName>> = license
        .modules()
        .iter()
        .filter(|m| m.is_plan())
        .map(|m| {
            (
                m.name.clone(),
                m.extra_info
                    .set()
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let ids = rows
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let plan_ids = changed_plans
        .iter()
        .filter_map(|p| id_of.get(p))
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if sets.is_empty() || plan_ids.is_empty() {
        return Ok(());
    }
    let holders: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT assoc_id FROM license_assoc_link WHERE direct = 1 AND module_license_id IN ({plan_ids})"
    ))
    .fetch_all(&mut **tx)
    .await?;
    if holders.is_empty() {
        return Ok(());
    }
    let users = holders
        .iter()
        .map(|(u,)| u.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let links: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT assoc_id, module_license_id, direct FROM license_assoc_link \
         WHERE module_license_id IN ({ids}) AND assoc_id IN ({users})"
    ))
    .fetch_all(&mut **tx)
    .await?;
    // Holders per module, for the count check of newly granted modules.
    let counts_now: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT module_license_id, COUNT(*) FROM license_assoc_link WHERE module_license_id IN ({ids}) GROUP BY module_license_id"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let mut by_user: HashMap<i64, lisens_core::assign::Holdings> = HashMap::new();
    for (user, module, direct) in &links {
        if let Some(name) = name_of.get(module) {
            by_user
                .entry(*user)
                .or_default()
                .insert((*name).clone(), *direct != 0);
        }
    }
    let mut in_use: HashMap<i64, i64> = counts_now.into_iter().collect();
    let counts: HashMap<&ModuleName, u32> = license
        .modules()
        .iter()
        .map(|m| (&m.name, m.count.get()))
        .collect();
    let now = crate::stamp::now();
    for (user, held) in by_user {
        // What the user's links become is core's (`relink`); the count of
        // each module it adds is checked with the one count rule.
        let change = lisens_core::assign::relink(&held, &sets);
        for module in &change.remove {
            sqlx::query("DELETE FROM license_assoc_link WHERE assoc_id = $1 AND module_license_id = $2")
                .bind(user)
                .bind(id_of[module])
                .execute(&mut **tx)
                .await?;
            *in_use.entry(id_of[module]).or_insert(1) -= 1;
        }
        for (module, _) in &change.add {
            let Some(&id) = id_of.get(module) else { continue };
            let used = in_use.entry(id).or_insert(0);
            if lisens_core::assign::over_count(*used + 1, counts.get(module).copied().unwrap_or(0)) {
                return Err(StoreError::TooManyAssigned(vec![format!(
                    "{module} (the plans' new set= grants it to more users than its count)"
                )]));
            }
            *used += 1;
            sqlx::query(
                "INSERT INTO license_assoc_link (module_license_id, assoc_id, direct, created_at) VALUES ($1, $2, 0, $3)",
            )
            .bind(id)
            .bind(user)
            .bind(&now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

pub(crate) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("diffs serialise")
}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        StoreError::Rejected(r)
    }
}
