//! Activating a new license for an owner: what changed (the vendor's
//! ExtendedModuleLicense numbers: in use, total, added, new total, new free),
//! and whether it can be applied by itself, must wait for an administrator,
//! or must be refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::codes;
use crate::document::LicenseContent;
use crate::model::{ModuleLicense, Owner};
use crate::names::ModuleName;

/// One changed module. `added` and `new_free` may be negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModuleChange {
    #[schema(value_type = String)]
    pub name: ModuleName,
    pub description: String,
    pub in_use: i64,
    /// The current count (0 when the module is new).
    pub total: i64,
    pub added: i64,
    /// The new count (0 when the module is dropped).
    pub new_total: i64,
    pub new_free: i64,
    /// The new total is below what is in use: shown red, blocks activation
    /// until enough users have been removed.
    pub below_in_use: bool,
}

/// The changes between the current license and a new one, only the changed
/// modules, in the new license's order (dropped modules last).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicenseDiff {
    pub changes: Vec<ModuleChange>,
}

impl LicenseDiff {
    /// The modules whose new total is below what is in use.
    pub fn blocking(&self) -> Vec<&ModuleName> {
        self.changes
            .iter()
            .filter(|c| c.below_in_use)
            .map(|c| &c.name)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Compares the current rows (with their holders) with a new license.
/// A module counts as changed when anything in its row differs.
pub fn diff(
    current: &[ModuleLicense],
    in_use: &BTreeMap<ModuleName, i64>,
    new: &LicenseContent,
) -> LicenseDiff {
    let used = |n: &ModuleName| in_use.get(n).copied().unwrap_or(0);
    let by_name: BTreeMap<&ModuleName, &ModuleLicense> = current.iter().map(|m| (&m.name, m)).collect();
    let mut changes = Vec::new();
    for m in new.modules() {
        let old = by_name.get(&m.name);
        if old.is_some_and(|o| *o == m) {
            continue;
        }
        let total = old.map_or(0, |o| i64::from(o.count.get()));
        let new_total = i64::from(m.count.get());
        changes.push(change(m, used(&m.name), total, new_total));
    }
    for old in current {
        if !new.modules().iter().any(|m| m.name == old.name) {
            changes.push(change(old, used(&old.name), i64::from(old.count.get()), 0));
        }
    }
    LicenseDiff { changes }
}

fn change(m: &ModuleLicense, in_use: i64, total: i64, new_total: i64) -> ModuleChange {
    ModuleChange {
        name: m.name.clone(),
        description: m.description.clone(),
        in_use,
        total,
        added: new_total - total,
        new_total,
        new_free: new_total - in_use,
        below_in_use: crate::assign::over_count(in_use, u32::try_from(new_total).unwrap_or(0)),
    }
}

/// Why a new license is refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the license is for owner {new:?}, this installation's is {current:?}")]
    OtherOwner { current: String, new: String },
    #[error("the license is for serial {new}, this installation's is {current}")]
    OtherSerial { current: String, new: String },
    #[error("license version {new} is older than the current version {current}: a replay of an old license")]
    Older { current: u32, new: u32 },
    #[error("the license expired on {0}")]
    Expired(Date),
    #[error("license version {0} is already active with other content")]
    VersionReused(u32),
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::OtherOwner { .. } => codes::LICENSE_OWNER_MISMATCH,
            Rejection::OtherSerial { .. } => codes::LICENSE_SERIAL_MISMATCH,
            Rejection::Older { .. } => codes::LICENSE_VERSION_OLDER,
            Rejection::Expired(_) => codes::LICENSE_EXPIRED,
            Rejection::VersionReused(_) => codes::LICENSE_VERSION_REUSED,
        }
    }
}

/// A module row as stored, for planning how a new license replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub id: i64,
    pub name: String,
    pub version: i64,
    /// Its holders now (users, or sites for a site license).
    pub in_use: i64,
    /// For a plan: the `set=` it grants now, as written in its row.
    pub plan_set: Option<String>,
}

/// How a new license replaces an owner's stored rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyPlan {
    /// For each module of the new license, in its order: the stored row it
    /// rewrites (its holders stay), or `None` for a new row.
    pub rows: Vec<Option<i64>>,
    /// Stored rows the new license no longer has: deleted.
    pub dropped: Vec<i64>,
    /// Plans whose `set=` changes: their holders' links follow
    /// (`assign::relink`).
    pub changed_plans: Vec<ModuleName>,
}

/// Plans applying `new` over the stored rows: each new module takes the
/// stored row of the same name and version, else of the same name, else a
/// new row. Refused, naming each, when a module would keep more holders than
/// its new count or a dropped module still has holders (the administrator
/// removes excess licenses first).
pub fn plan_apply(stored: &[StoredRow], new: &[ModuleLicense]) -> Result<ApplyPlan, Vec<String>> {
    let mut unmatched: Vec<&StoredRow> = stored.iter().collect();
    let mut plan = ApplyPlan::default();
    let mut too_many = Vec::new();
    for m in new {
        let pos = unmatched
            .iter()
            .position(|r| r.name == m.name.as_str() && r.version == i64::from(m.version))
            .or_else(|| unmatched.iter().position(|r| r.name == m.name.as_str()));
        let row = pos.map(|p| unmatched.remove(p));
        let used = row.map_or(0, |r| r.in_use);
        if crate::assign::over_count(used, m.count.get()) {
            too_many.push(format!("{} ({used} in use, {} licensed)", m.name, m.count));
        }
        if m.is_plan() {
            let new_set = m.extra_info.set().map(|s| s.to_string()).unwrap_or_default();
            let old_set = row
                .and_then(|r| r.plan_set.as_deref())
                .and_then(|e| crate::model::ExtraInfo::parse(e).ok())
                .and_then(|e| e.set().map(|s| s.to_string()));
            if old_set.is_some_and(|old| old != new_set) {
                plan.changed_plans.push(m.name.clone());
            }
        }
        plan.rows.push(row.map(|r| r.id));
    }
    for r in unmatched {
        if r.in_use > 0 {
            too_many.push(format!("{} ({} in use, dropped)", r.name, r.in_use));
        }
        plan.dropped.push(r.id);
    }
    if too_many.is_empty() {
        Ok(plan)
    } else {
        Err(too_many)
    }
}

/// What to do with a new license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Same version and same rows: nothing to do.
    Unchanged,
    /// Safe: apply now and report "New license activated".
    Apply(LicenseDiff),
    /// Some module would drop below what is in use: keep it pending for an
    /// administrator ("Activate new license").
    Pending(LicenseDiff),
}

/// Decides on a new license for an owner that has one. `today` is the
/// installation's date.
pub fn decide(
    current: &Owner,
    current_rows: &[ModuleLicense],
    in_use: &BTreeMap<ModuleName, i64>,
    new: &LicenseContent,
    today: Date,
) -> Result<Decision, Rejection> {
    let o = new.owner();
    if o.name != current.name {
        return Err(Rejection::OtherOwner {
            current: current.name.to_string(),
            new: o.name.to_string(),
        });
    }
    if o.serial != current.serial {
        return Err(Rejection::OtherSerial {
            current: current.serial.to_string(),
            new: o.serial.to_string(),
        });
    }
    if o.license_version < current.license_version {
        return Err(Rejection::Older {
            current: current.license_version,
            new: o.license_version,
        });
    }
    if let Some(exp) = o.grace_to.or(o.expiration) {
        if exp < today {
            return Err(Rejection::Expired(exp));
        }
    }
    let d = diff(current_rows, in_use, new);
    if o.license_version == current.license_version {
        let same_owner = Owner {
            issued_at: current.issued_at,
            ..o.clone()
        } == *current;
        if d.is_empty() && same_owner {
            return Ok(Decision::Unchanged);
        }
        // The issuer bumps the version with every change; the same version
        // with other content is not a license it issued in order.
        return Err(Rejection::VersionReused(o.license_version));
    }
    Ok(if d.blocking().is_empty() {
        Decision::Apply(d)
    } else {
        Decision::Pending(d)
    })
}
