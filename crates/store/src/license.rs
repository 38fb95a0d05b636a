//! Signed license rows: loading a verified license, and reading the licenses
//! back with every row's signature re-checked (through the verdict cache).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lisens_core::statement::Statement;
use lisens_core::{
    module_signed_bytes, modules_digest, owner_signed_bytes, verify_module_rows, verify_owner_row,
    ExtraFlags, ModuleLicense, ModuleType, PublicKey, VerifiedLicense,
};

use crate::memory::{raise_high_water, trust_memory};
use crate::rows::{
    format_date, insert_owner_row, parse_module, parse_owner, write_module_row, ModuleRow, OwnerRow,
    MODULE_COLUMNS, OWNER_COLUMNS,
};
pub use crate::status::{DemoStatus, LicenseStatus, ModuleStatus, OwnerStatus, UserCounts};
use crate::verdicts::VerdictCache;
use crate::{Store, StoreError};

/// How long the verified rows an assignment plans from are remembered (see
/// [`Store::verified_rows`]); the access view re-verifies every 3 s.
pub(crate) const ROWS_KEPT: std::time::Duration = std::time::Duration::from_secs(1);

impl Store {
    /// Stores a verified license as the first license of its owner, and
    /// trusts `key` for that owner from now on.
    pub async fn load_license(&self, license: &VerifiedLicense, key: &PublicKey) -> Result<(), StoreError> {
        if key.id() != license.key_id() {
            return Err(StoreError::OwnerKeyMismatch {
                owner: license.owner().name.to_string(),
                trusted: key.id().to_string(),
                signed: license.key_id().to_string(),
            });
        }
        let owner = license.owner();
        if let Some(m) = owner.maintenance_to {
            if m < lisens_core::RELEASE_DATE {
                return Err(StoreError::MaintenanceExpired {
                    maintenance_to: format_date(m),
                    release: format_date(lisens_core::RELEASE_DATE),
                });
            }
        }
        let now = crate::stamp::now();
        let mut tx = self.begin_write().await?;
        let trusted: Vec<(String, String)> = sqlx::query_as("SELECT owner_name, key_id FROM trusted_key")
            .fetch_all(&mut *tx)
            .await?;
        let own: Vec<&String> = trusted
            .iter()
            .filter(|(o, _)| o == owner.name.as_str())
            .map(|(_, k)| k)
            .collect();
        if !own.is_empty() && !own.iter().any(|k| *k == key.id().as_str()) {
            return Err(StoreError::OwnerKeyMismatch {
                owner: owner.name.to_string(),
                trusted: own.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
                signed: key.id().to_string(),
            });
        }
        // Keys are pinned by default: the first key this installation
        // accepts is trusted from then on; any other key (a new owner's, or a
        // customer's own) only after an administrator's trust-key, or when
        // this process was started with it pinned.
        let pinned_here = self.pinned.contains(key);
        let first_key = trusted.is_empty();
        if !pinned_here && (!self.pinned.is_empty() || (own.is_empty() && !first_key)) {
            return Err(StoreError::KeyNotTrusted {
                owner: owner.name.to_string(),
                key: key.id().to_string(),
            });
        }
        let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM module_owner WHERE owner_name = $1")
            .bind(owner.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Err(StoreError::OwnerExists(owner.name.to_string()));
        }
        // A restored copy of an older license than one already activated
        // is refused, even when the owner's rows were deleted first.
        let memory = trust_memory(&mut tx).await?;
        let high = memory.high_water.get(owner.name.as_str()).copied();
        if lisens_core::trust::rollback(owner.license_version, high).is_some() {
            return Err(StoreError::Rejected(lisens_core::activation::Rejection::Older {
                current: high.unwrap_or(0),
                new: owner.license_version,
            }));
        }
        sqlx::query(
            "UPDATE installation SET primary_owner = COALESCE(primary_owner, $1), \
             licensed_at = COALESCE(licensed_at, $2) WHERE id = 1",
        )
        .bind(owner.name.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        raise_high_water(&mut tx, owner.name.as_str(), owner.license_version).await?;
        if own.is_empty() {
            sqlx::query(
                "INSERT INTO trusted_key (owner_name, key_id, public_key, added_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(owner.name.as_str())
            .bind(key.id().as_str())
            .bind(key.to_text().trim())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        let owner_id = insert_owner_row(&mut tx, license, &now).await?;
        for vm in license.verified_modules() {
            write_module_row(&mut tx, owner_id, None, vm).await?;
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every owner and module with its verdict and counts. Each row's
    /// signature is re-checked; unchanged rows hit the verdict cache.
    pub async fn license_status(&self) -> Result<LicenseStatus, StoreError> {
        self.read_status(true).await
    }

    /// The primary owner's product (the CRM's before any license), from the
    /// license rows kept for a second.
    pub async fn product(&self) -> Result<lisens_core::Product, StoreError> {
        Ok(self.verified_rows(false).await?.product().clone())
    }

    /// The rows and their verdicts without counting holders (in_use is 0
    /// everywhere): for callers that count under their own locks.
    pub(crate) async fn license_rows(&self) -> Result<LicenseStatus, StoreError> {
        self.read_status(false).await
    }

    /// The rows and their verdicts as [`Store::license_rows`], remembered
    /// for up to [`ROWS_KEPT`] unless `fresh`: assignments plan from them and
    /// then check, under their locks, that the rows they lock are these.
    pub(crate) async fn verified_rows(
        &self,
        fresh: bool,
    ) -> Result<std::sync::Arc<LicenseStatus>, StoreError> {
        if !fresh {
            let kept = self
                .rows_kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, rows)) = kept.as_ref() {
                if at.elapsed() < ROWS_KEPT {
                    return Ok(rows.clone());
                }
            }
        }
        let rows = std::sync::Arc::new(self.license_rows().await?);
        *self
            .rows_kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), rows.clone()));
        Ok(rows)
    }

    async fn read_status(&self, counts: bool) -> Result<LicenseStatus, StoreError> {
        // One snapshot for all four reads, so an activation committing
        // meanwhile is seen wholly or not at all.
        let mut tx = self.begin_read().await?;
        let keys: Vec<(String, String, String)> =
            sqlx::query_as("SELECT owner_name, key_id, public_key FROM trusted_key")
                .fetch_all(&mut *tx)
                .await?;
        let owners: Vec<OwnerRow> =
            sqlx::query_as(&format!("SELECT {OWNER_COLUMNS} FROM module_owner ORDER BY id"))
                .fetch_all(&mut *tx)
                .await?;
        let modules: Vec<ModuleRow> = sqlx::query_as(&format!(
            "SELECT {MODULE_COLUMNS} FROM module_license ORDER BY owner_id, sort_order, id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let in_use: HashMap<i64, i64> = if counts {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT module_license_id, COUNT(*) FROM license_assoc_link GROUP BY module_license_id",
            )
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        } else {
            HashMap::new()
        };
        let site_use = if counts {
            // The primary owner is the first row; its product names the
            // license that counts satellites.
            let primary = owners.first().and_then(|o| parse_owner(o).ok());
            let product = lisens_core::Product::of(primary.as_ref().and_then(|r| r.owner.product.as_ref()));
            site_usage(&mut tx, product.sites.as_ref()).await?
        } else {
            HashMap::new()
        };
        let memory = trust_memory(&mut tx).await?;

        tx.commit().await?;

        let mut by_owner: HashMap<i64, Vec<ModuleRow>> = HashMap::new();
        for m in modules {
            by_owner.entry(m.owner_id).or_default().push(m);
        }
        let mut out = Vec::with_capacity(owners.len());
        // Site licenses are used by sites, not users: count those.
        let mut in_use = in_use;
        for rows in by_owner.values() {
            for r in rows.iter().filter(|r| r.module_type == ModuleType::Site.code()) {
                if let Some(n) = site_use.get(&r.module_name) {
                    in_use.insert(r.id, *n);
                }
            }
        }
        for o in owners {
            let rows = by_owner.remove(&o.id).unwrap_or_default();
            let key = self.owner_key(&keys, &o);
            let high = memory.high_water.get(&o.owner_name).copied();
            let statement = memory.statements.get(&o.owner_name);
            out.push(self.owner_status(o, rows, key, &in_use, high, statement).await);
        }
        // The primary owner first: the one signed by the first key this
        // process pins, else the one recorded at the first load.
        let primary = match self.pinned.first() {
            Some(k) => out.iter().position(|o| o.valid && o.key_id == k.id().as_str()),
            None => memory
                .primary_owner
                .as_ref()
                .and_then(|p| out.iter().position(|o| &o.owner_name == p)),
        };
        if let Some(i) = primary {
            let o = out.remove(i);
            out.insert(0, o);
        }
        let users = if counts {
            self.user_counts(&out).await?
        } else {
            UserCounts::default()
        };
        // A verified statement is the issuer's clock: the time is at least that.
        let heard = out
            .iter()
            .filter_map(|o| o.last_statement.as_deref())
            .filter_map(crate::stamp::parse_rfc3339)
            .max();
        let latest_seen = memory.latest_seen.max(heard);
        let clock_set_back = lisens_core::trust::clock_set_back(crate::clock::now(), latest_seen);
        let demo = if lisens_core::trust::demo_allowed(out.len(), memory.ever_licensed) {
            let until = self.installed_at().await? + time::Duration::days(lisens_core::access::DEMO_DAYS);
            Some(DemoStatus {
                until: crate::stamp::encode(until),
                max_users: lisens_core::access::DEMO_USERS,
            })
        } else {
            None
        };
        Ok(LicenseStatus {
            owners: out,
            users,
            demo,
            latest_seen: latest_seen.map(crate::stamp::encode),
            clock_set_back,
        })
    }

    async fn user_counts(&self, owners: &[OwnerStatus]) -> Result<UserCounts, StoreError> {
        let valid_total = |name: &str| {
            owners
                .iter()
                .flat_map(|o| &o.modules)
                .filter(|m| m.name == name && m.effective())
                .map(|m| m.total)
                .max()
                .unwrap_or(0)
        };
        let plans: std::collections::HashSet<i64> = owners
            .iter()
            .flat_map(|o| &o.modules)
            .filter(|m| m.plan && m.effective())
            .map(|m| m.id)
            .collect();
        // Count in the database: the ids are our own integers, so listing
        // them in the statement is safe, and no row leaves the database.
        let active = if plans.is_empty() {
            0
        } else {
            let ids = plans.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let (n,): (i64,) = sqlx::query_as(&format!(
                "SELECT COUNT(DISTINCT l.assoc_id) FROM license_assoc_link l \
                 JOIN associate a ON a.id = l.assoc_id WHERE a.active = 1 AND l.module_license_id IN ({ids})"
            ))
            .fetch_one(&self.pool)
            .await?;
            n
        };
        Ok(UserCounts {
            licensed_logins: crate::status::primary_product(owners)
                .login
                .iter()
                .map(|m| valid_total(m.as_str()))
                .min()
                .unwrap_or(0),
            plans_in_use: owners
                .iter()
                .flat_map(|o| &o.modules)
                .filter(|m| plans.contains(&m.id))
                .map(|m| m.in_use)
                .sum(),
            active_users: active,
        })
    }

    fn owner_key(&self, keys: &[(String, String, String)], o: &OwnerRow) -> Result<PublicKey, String> {
        let (_, _, text) = keys
            .iter()
            .find(|(owner, id, _)| owner == &o.owner_name && id == &o.key_id)
            .ok_or_else(|| format!("no trusted key {} for owner {}", o.key_id, o.owner_name))?;
        let key = PublicKey::parse(text).map_err(|e| format!("trusted key {}: {e}", o.key_id))?;
        if key.id().as_str() != o.key_id {
            return Err(format!("trusted key row {} holds another key", o.key_id));
        }
        if !self.pinned.is_empty() && !self.pinned.contains(&key) {
            return Err(format!(
                "key {} is not among the keys this server was started with",
                o.key_id
            ));
        }
        Ok(key)
    }

    async fn owner_status(
        &self,
        o: OwnerRow,
        rows: Vec<ModuleRow>,
        key: Result<PublicKey, String>,
        in_use: &HashMap<i64, i64>,
        high_water: Option<u32>,
        statement: Option<&String>,
    ) -> OwnerStatus {
        // Each module: parse its columns back into the signed type, then
        // check the signature (cached by the exact bytes).
        let parsed: Vec<Result<(ModuleLicense, Vec<u8>), String>> = rows.iter().map(parse_module).collect();
        let verdicts: Vec<Result<(), String>> = match &key {
            Err(e) => parsed.iter().map(|_| Err(e.clone())).collect(),
            Ok(key) => {
                let ok: Vec<Option<(&ModuleLicense, &[u8])>> = parsed
                    .iter()
                    .map(|p| p.as_ref().ok().map(|(m, s)| (m, s.as_slice())))
                    .collect();
                let checked = check_modules(&self.verdicts, key, &ok).await;
                parsed
                    .iter()
                    .zip(checked)
                    .map(|(p, good)| match p {
                        Err(e) => Err(e.clone()),
                        Ok(_) if good => Ok(()),
                        Ok(_) => Err("signature does not match the row".to_owned()),
                    })
                    .collect()
            }
        };

        let owner_problem = match &key {
            Err(e) => Some(e.clone()),
            Ok(key) => self.check_owner(key, &o, &rows).err(),
        }
        .or_else(|| {
            let version = u32::try_from(o.license_version).unwrap_or(0);
            lisens_core::trust::rollback(version, high_water)
        });
        let owner_valid = owner_problem.is_none();
        let parsed_rows: HashMap<i64, ModuleLicense> = rows
            .iter()
            .zip(&parsed)
            .filter_map(|(r, p)| p.as_ref().ok().map(|(m, _)| (r.id, m.clone())))
            .collect();
        let modules = rows
            .iter()
            .zip(verdicts)
            .map(|(r, verdict)| {
                let valid = verdict.is_ok();
                let total = if valid && owner_valid { r.license_count } else { 0 };
                let used = in_use.get(&r.id).copied().unwrap_or(0);
                let excess = if r.module_type == ModuleType::User.code() {
                    lisens_core::trust::excess(used, total)
                } else {
                    0
                };
                ModuleStatus {
                    id: r.id,
                    name: r.module_name.clone(),
                    description: r.module_description.clone(),
                    tooltip: r.tooltip.clone(),
                    version: r.module_version,
                    module_type: ModuleType::from_code(r.module_type)
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_else(|_| format!("unknown({})", r.module_type)),
                    plan: r.extra_flags == ExtraFlags::Plan.code(),
                    hidden: r.hidden != 0,
                    total,
                    in_use: used,
                    available: (total - used).max(0),
                    excess,
                    valid,
                    problem: verdict.err(),
                    parsed: parsed_rows.get(&r.id).cloned(),
                    signature: r.signature.clone(),
                }
            })
            .collect();
        let record = parse_owner(&o).ok();
        // The issuer's latest statement counts only when it verifies with
        // this owner's key and speaks of this owner and serial.
        let last_statement = match (statement, &key, &record) {
            (Some(text), Ok(key), Some(r)) => Statement::verify(text, std::slice::from_ref(key))
                .ok()
                .filter(|s| s.owner == r.owner.name && s.serial == r.owner.serial)
                .map(|s| s.issued_at),
            _ => None,
        };
        let dates = record
            .as_ref()
            .map(|r| {
                let signed = lisens_core::access::OwnerDates {
                    name: r.owner.name.to_string(),
                    expiration: r.owner.expiration,
                    grace_to: r.owner.grace_to,
                    admin_warning_date: r.owner.admin_warning_date,
                };
                lisens_core::trust::offline_dates(
                    &signed,
                    r.owner.issued_at,
                    last_statement,
                    r.owner.max_offline_days,
                )
            })
            .unwrap_or_default();
        OwnerStatus {
            product_name: record.as_ref().map_or_else(
                || lisens_core::Product::crm().name.clone(),
                |r| r.owner.product().name.clone(),
            ),
            product: record.as_ref().and_then(|r| r.owner.product.clone()),
            max_offline_days: record.as_ref().and_then(|r| r.owner.max_offline_days),
            last_statement: last_statement.map(crate::stamp::encode),
            offline_expiration: record
                .as_ref()
                .filter(|r| r.owner.max_offline_days.is_some())
                .and(dates.expiration)
                .map(format_date),
            dates,
            owner_name: o.owner_name,
            company_name: o.company_name,
            serial: o.serial_number,
            deployment_type: o.deployment_type,
            license_version: o.license_version,
            license_url: o.license_url,
            expiration: o.expiration,
            grace_to: o.grace_to,
            maintenance_to: o.maintenance_to,
            next_check_date: o.next_check_date,
            admin_warning_date: o.admin_warning_date,
            key_id: o.key_id,
            valid: owner_valid,
            problem: owner_problem,
            modules,
        }
    }

    /// The owner row's own signature, and that its module rows are exactly
    /// the signed set (count, and digest over the signatures in order).
    fn check_owner(&self, key: &PublicKey, o: &OwnerRow, rows: &[ModuleRow]) -> Result<(), String> {
        let record = parse_owner(o)?;
        let sig = B64
            .decode(&o.signature)
            .map_err(|_| "owner signature is not base64".to_owned())?;
        let signed = owner_signed_bytes(&record);
        let cache_key = VerdictCache::key(key.as_bytes(), &signed, &sig);
        let good = match self.verdicts.get(&cache_key) {
            Some(v) => v,
            None => {
                self.verdicts.count_checks(1);
                let v = verify_owner_row(key, &record, &sig);
                self.verdicts.put_all([(cache_key, v)]);
                v
            }
        };
        if !good {
            return Err("owner signature does not match the owner row".into());
        }
        let sigs: Vec<[u8; 64]> = rows
            .iter()
            .map(|r| {
                B64.decode(&r.signature)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or([0; 64])
            })
            .collect();
        if sigs.len() != record.module_count as usize || modules_digest(sigs.iter()) != record.modules_digest
        {
            return Err(format!(
                "the module rows are not the set the owner signed ({} rows stored, {} signed): a row was added, removed or reordered",
                sigs.len(),
                record.module_count
            ));
        }
        Ok(())
    }
}

/// Checks module signatures through the cache; misses are verified together
/// off the async executor. `None` entries (rows that did not parse) are false.
async fn check_modules(
    cache: &VerdictCache,
    key: &PublicKey,
    rows: &[Option<(&ModuleLicense, &[u8])>],
) -> Vec<bool> {
    let mut out = vec![false; rows.len()];
    let mut misses: Vec<(usize, [u8; 32], ModuleLicense, Vec<u8>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some((m, sig)) = row else { continue };
        let k = VerdictCache::key(key.as_bytes(), &module_signed_bytes(m), sig);
        match cache.get(&k) {
            Some(v) => out[i] = v,
            None => misses.push((i, k, (*m).clone(), sig.to_vec())),
        }
    }
    if misses.is_empty() {
        return out;
    }
    cache.count_checks(misses.len());
    let key = key.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let refs: Vec<(&ModuleLicense, &[u8])> =
            misses.iter().map(|(_, _, m, s)| (m, s.as_slice())).collect();
        let verdicts = verify_module_rows(&key, &refs);
        misses
            .into_iter()
            .zip(verdicts)
            .map(|((i, k, _, _), v)| (i, k, v))
            .collect::<Vec<_>>()
    })
    .await;
    match checked {
        Ok(checked) => {
            for (i, _, v) in &checked {
                out[*i] = *v;
            }
            cache.put_all(checked.into_iter().map(|(_, k, v)| (k, v)));
        }
        // A panic while verifying is a bug; treat the rows as unverified.
        Err(e) => tracing::error!("signature check task failed: {e}"),
    }
    out
}

/// How many sites use each site license: satellites count against the
/// product's site license (`sites`; the CRM's is `satellite`), features
/// against their own.
pub(crate) async fn site_usage(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    sites: Option<&lisens_core::ModuleName>,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT module_name, COUNT(*) FROM site_module GROUP BY module_name",
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let (satellites,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM site WHERE kind = 'satellite'")
        .fetch_one(&mut **tx)
        .await?;
    if let Some(sites) = sites {
        out.insert(sites.to_string(), satellites);
    }
    Ok(out)
}
