//! What the installation's licenses look like when read back: every owner
//! with every module row, whether its signature still holds, and what is
//! licensed, in use and available (`lisens license status --json`, the
//! Licenses screen, the access view all read this).

use lisens_core::ModuleLicense;
use serde::Serialize;

use crate::StoreError;

/// What `lisens license status --json` prints: every owner with every module
/// row, whether its signature still holds, and what is licensed, in use and
/// available. The shape is documented in `docs/license-format.md`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LicenseStatus {
    /// The primary owner (the vendor) first, then the others in load order.
    pub owners: Vec<OwnerStatus>,
    pub users: UserCounts,
    /// Set while no license is loaded on an installation that never held
    /// one: the demo allowance and its end.
    pub demo: Option<DemoStatus>,
    /// The latest time this installation has seen (RFC 3339, UTC).
    pub latest_seen: Option<String>,
    /// The clock is behind the latest time seen: the installation counts as
    /// expired past grace (read-only) until it is right again.
    pub clock_set_back: bool,
}

impl LicenseStatus {
    /// Past the primary owner's grace period (or with the clock set back)
    /// the installation is read-only: `LICENSE_READ_ONLY` for every change
    /// that needs a license (the rule is `lisens_core::access::read_only`).
    /// Judged at the time of the call, also on a status read a moment ago.
    pub(crate) fn ensure_writable(&self) -> Result<(), StoreError> {
        let now = crate::clock::now();
        let primary = self.owners.first().filter(|o| o.valid).map(|o| &o.dates);
        let seen = self.latest_seen.as_deref().and_then(crate::stamp::parse_rfc3339);
        let set_back = self.clock_set_back || lisens_core::trust::clock_set_back(now, seen);
        if lisens_core::access::read_only(set_back, primary, now.date()) {
            return Err(StoreError::ReadOnly);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DemoStatus {
    pub until: String,
    pub max_users: usize,
}

/// Counting users, both ways the vendor does, plus what pay-per-use
/// customers are billed for.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserCounts {
    /// The capacity: the smallest valid count among the product's login
    /// licenses (the CRM: `user` and `web`).
    pub licensed_logins: i64,
    /// Assigned plans, summed over the plan modules.
    pub plans_in_use: i64,
    /// Active users holding at least one valid plan.
    pub active_users: i64,
}

impl LicenseStatus {
    /// The primary owner's product (the CRM's before any license).
    pub fn product(&self) -> &lisens_core::Product {
        primary_product(&self.owners)
    }

    /// Every valid module row by name, the first valid one when several share a name.
    pub fn module(&self, name: &str) -> Option<(&OwnerStatus, &ModuleStatus)> {
        let mut fallback = None;
        for o in &self.owners {
            for m in o.modules.iter().filter(|m| m.name == name) {
                if m.valid && o.valid {
                    return Some((o, m));
                }
                fallback.get_or_insert((o, m));
            }
        }
        fallback
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OwnerStatus {
    pub owner_name: String,
    pub company_name: String,
    pub serial: String,
    pub deployment_type: String,
    pub license_version: i64,
    pub license_url: String,
    pub expiration: Option<String>,
    pub grace_to: Option<String>,
    pub maintenance_to: Option<String>,
    pub next_check_date: Option<String>,
    pub admin_warning_date: Option<String>,
    pub key_id: String,
    /// The owner row's signature holds and its module rows are exactly the
    /// signed set. When false, none of its modules counts as licensed.
    pub valid: bool,
    pub problem: Option<String>,
    pub modules: Vec<ModuleStatus>,
    /// The vendor's limit on running without hearing from the issuer.
    pub max_offline_days: Option<u32>,
    /// When the issuer's latest signed statement was made (its clock).
    pub last_statement: Option<String>,
    /// With `max_offline_days`: the date the license expires unless the
    /// issuer is heard from before (the earlier of it and `expiration`).
    pub offline_expiration: Option<String>,
    /// The dates that count (signed dates, shortened by the offline limit).
    #[serde(skip)]
    pub dates: lisens_core::access::OwnerDates,
    /// The product the owner's license describes (its name, for status).
    pub product_name: String,
    /// The signed product; None in a license of the first format.
    #[serde(skip)]
    pub product: Option<lisens_core::Product>,
}

/// The product of the primary owner (listed first), or the CRM's before any
/// license.
pub(crate) fn primary_product(owners: &[OwnerStatus]) -> &lisens_core::Product {
    owners
        .first()
        .map_or_else(|| lisens_core::Product::crm(), OwnerStatus::product)
}

impl OwnerStatus {
    /// The product this owner's license describes, or the CRM's.
    pub fn product(&self) -> &lisens_core::Product {
        lisens_core::Product::of(self.product.as_ref())
    }

    /// A module row as a reader of `lang` sees it: the product's name for it
    /// in that language as `description`, and its description (else its
    /// tooltip) as `tooltip`; the row's own (English) words otherwise.
    pub fn in_language(&self, m: &ModuleStatus, lang: &str) -> ModuleStatus {
        let mut m = m.clone();
        if let Some(text) = self.product().text(lang, &m.name) {
            m.description = text.name.clone();
            m.tooltip = if text.description.is_empty() {
                text.tooltip.clone()
            } else {
                text.description.clone()
            };
        }
        m
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ModuleStatus {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub description: String,
    /// A sentence about the license (the row's tooltip).
    pub tooltip: String,
    pub version: i64,
    #[serde(rename = "type")]
    pub module_type: String,
    pub plan: bool,
    pub hidden: bool,
    /// Licensed count; 0 when the row or its owner is not valid.
    pub total: i64,
    pub in_use: i64,
    pub available: i64,
    /// Holders beyond the licensed count (links added behind lisens's back):
    /// they grant nothing, and the row is shown in red.
    pub excess: i64,
    /// The row's own signature holds.
    pub valid: bool,
    pub problem: Option<String>,
    /// The row as parsed from its columns (whether or not it verified).
    #[serde(skip)]
    pub parsed: Option<ModuleLicense>,
    /// The stored signature, to recognise the row later under a lock.
    #[serde(skip)]
    pub signature: String,
}

impl ModuleStatus {
    /// The row and its owner verified, so it counts.
    pub fn effective(&self) -> bool {
        self.valid && self.total > 0
    }
}
