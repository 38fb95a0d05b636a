//! Assigning user licenses to users, in one write transaction per change:
//! the user's row and the modules that may gain a holder are locked, their
//! holders counted, the change planned by `lisens_core::assign` and written.
//! So the count is never exceeded, whatever runs beside it.

use std::collections::BTreeMap;

use lisens_core::assign::{plan_change, Change, Facts, Holdings, ModuleFacts};
use lisens_core::{LoginName, ModuleName, ModuleType};
use serde::Serialize;
use time::OffsetDateTime;

use crate::license::LicenseStatus;
use crate::users::UserEdit;
use crate::{ItemError, Store, StoreError};

/// One license a user holds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Holding {
    pub module: String,
    /// Assigned directly (plans are), rather than only through a plan's set=.
    pub direct: bool,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

impl Store {
    /// Gives `module` (a user license or plan) to a user.
    pub async fn assign(&self, login: &str, module: &str) -> Result<(), StoreError> {
        self.change(login, module, Some(&Window::default())).await
    }

    /// Gives `module` to a user for a time window; the links this adds hold
    /// only inside it (the check honours it).
    pub async fn assign_during(&self, login: &str, module: &str, window: &Window) -> Result<(), StoreError> {
        if let (Some(from), Some(to)) = (window.valid_from, window.valid_to) {
            if to < from {
                return Err(StoreError::Invalid("valid_to is before valid_from".into()));
            }
        }
        self.change(login, module, Some(window)).await
    }

    /// Takes `module` from a user, with the plan-implied modules no longer needed.
    pub async fn unassign(&self, login: &str, module: &str) -> Result<(), StoreError> {
        self.change(login, module, None).await
    }

    /// `window`: Some to assign (links added hold inside it), None to unassign.
    async fn change(&self, login: &str, module: &str, window: Option<&Window>) -> Result<(), StoreError> {
        let one = [Assignment {
            login: login.to_owned(),
            module: module.to_owned(),
            window: window.cloned(),
        }];
        match self.changes_retrying(None, &one).await?.pop() {
            Some(result) => result,
            None => Ok(()),
        }
    }

    /// Applies every change in order in one transaction, or none: when any
    /// is refused, nothing is written and every refusal is listed by index
    /// (`BatchInvalid` when an item is malformed, `BulkRefused` otherwise).
    /// Returns how many changes were applied.
    pub async fn change_all(&self, changes: &[Assignment]) -> Result<usize, StoreError> {
        if changes.is_empty() {
            return Err(StoreError::Invalid(format!(
                "a bulk change has 1 to {BULK_MAX} items"
            )));
        }
        self.edit_and_change(None, changes).await
    }

    /// Changes a user's own fields (`edit`) and their licenses (`changes`)
    /// in one transaction, or nothing: a refused license change leaves the
    /// user's name, e-mail and state as they were (`BulkRefused`), and a
    /// refused edit (the last administrator) writes no license change.
    /// Deactivating a user releases every license they hold.
    pub async fn edit_user(&self, edit: &UserEdit, changes: &[Assignment]) -> Result<(), StoreError> {
        self.edit_and_change(Some(edit), changes).await.map(|_| ())
    }

    async fn edit_and_change(
        &self,
        edit: Option<&UserEdit>,
        changes: &[Assignment],
    ) -> Result<usize, StoreError> {
        if changes.len() > BULK_MAX {
            return Err(StoreError::Invalid(format!(
                "a bulk change has 1 to {BULK_MAX} items"
            )));
        }
        if let Some(edit) = edit {
            edit.check()?;
        }
        let results = self.changes_retrying(edit, changes).await?;
        let errors: Vec<ItemError> = results
            .iter()
            .enumerate()
            .filter_map(|(index, r)| {
                r.as_ref().err().map(|e| ItemError {
                    index,
                    code: e.code().to_owned(),
                    detail: e.to_string(),
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(changes.len())
        } else if results.iter().any(|r| matches!(r, Err(StoreError::Invalid(_)))) {
            Err(StoreError::BatchInvalid(errors))
        } else {
            Err(StoreError::BulkRefused(errors))
        }
    }

    async fn changes_retrying(
        &self,
        edit: Option<&UserEdit>,
        changes: &[Assignment],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        // The first attempt plans from the verified rows as last read (at
        // most a second old): the rows locked in the transaction must be
        // those rows, so a success from them is a success from the stored
        // rows. When they are not (a license activated meanwhile, a hand
        // edit), or when a change is refused, the rows are read again and
        // the changes decided from them.
        let mut fresh = false;
        for _ in 0..5 {
            match self.try_changes(edit, changes, fresh).await? {
                Some(done) if fresh || done.iter().all(Result::is_ok) => return Ok(done),
                _ => fresh = true,
            }
        }
        Err(StoreError::Invalid(
            "the license kept changing during the assignment; try again".into(),
        ))
    }

    /// `Ok(None)`: the locked rows are not the ones the plan was made from.
    /// Otherwise each change's outcome; written only when all are `Ok`.
    async fn try_changes(
        &self,
        edit: Option<&UserEdit>,
        changes: &[Assignment],
        fresh: bool,
    ) -> Result<Option<Vec<Result<(), StoreError>>>, StoreError> {
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(changes.len());
        let mut parsed: Vec<Option<(LoginName, ModuleName)>> = Vec::with_capacity(changes.len());
        for c in changes {
            let item = LoginName::parse(&c.login)
                .and_then(|l| ModuleName::parse(&c.module).map(|m| (l, m)))
                .map_err(|e| StoreError::Invalid(e.to_string()))
                .and_then(|lm| match &c.window {
                    Some(Window {
                        valid_from: Some(from),
                        valid_to: Some(to),
                    }) if to < from => Err(StoreError::Invalid("valid_to is before valid_from".into())),
                    _ => Ok(lm),
                });
            match item {
                Ok(lm) => {
                    parsed.push(Some(lm));
                    results.push(Ok(()));
                }
                Err(e) => {
                    parsed.push(None);
                    results.push(Err(e));
                }
            }
        }
        // Which rows are intact is a matter of signatures, not of this
        // transaction; counts are read below, under the locks.
        let status = self.verified_rows(fresh).await?;
        status.ensure_writable()?;
        let ids = module_ids(&status);
        let mut facts = facts(&status);

        let mut tx = self.begin_write().await?;
        // Lock the users (in id order, so two bulk changes never wait on
        // each other in a cycle), then every module a change may add a
        // holder to, in id order, then count.
        let edited = edit.map(|e| &e.login);
        let mut logins: Vec<&LoginName> = parsed.iter().flatten().map(|(l, _)| l).chain(edited).collect();
        logins.sort();
        logins.dedup();
        let mut user_ids: BTreeMap<&LoginName, i64> = BTreeMap::new();
        if let [login] = logins[..] {
            let user: Option<(i64,)> = sqlx::query_as(&format!(
                "SELECT id FROM associate WHERE lower(login_name) = lower($1){}",
                self.for_update()
            ))
            .bind(login.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = user {
                user_ids.insert(login, id);
            }
        } else {
            for login in &logins {
                let user: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM associate WHERE lower(login_name) = lower($1)")
                        .bind(login.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some((id,)) = user {
                    user_ids.insert(login, id);
                }
            }
            let mut order: Vec<i64> = user_ids.values().copied().collect();
            order.sort_unstable();
            for id in order {
                sqlx::query(&format!(
                    "SELECT id FROM associate WHERE id = $1{}",
                    self.for_update()
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            }
        }

        let mut candidates: Vec<&ModuleName> = Vec::new();
        for (_, module) in parsed.iter().flatten() {
            candidates.push(module);
            if let Some(set) = facts.get(module).and_then(|f| f.plan_set.as_ref()) {
                candidates.extend(set.iter());
            }
        }
        let mut lock_ids: Vec<i64> = candidates.iter().filter_map(|m| ids.get(*m).copied()).collect();
        lock_ids.sort_unstable();
        lock_ids.dedup();
        for id in &lock_ids {
            let locked: Option<(i64, String)> = sqlx::query_as(&format!(
                "SELECT license_count, signature FROM module_license WHERE id = $1{}",
                self.for_update()
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            // The row must still be the one whose signature was checked.
            let verified = status
                .owners
                .iter()
                .flat_map(|o| &o.modules)
                .find(|m| m.id == *id);
            let planned = verified.and_then(|m| {
                m.parsed
                    .as_ref()
                    .map(|p| (i64::from(p.count.get()), &m.signature))
            });
            if locked.as_ref().map(|(c, sig)| (*c, sig)) != planned {
                return Ok(None);
            }
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM license_assoc_link WHERE module_license_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(f) = ids
                .iter()
                .find(|(_, v)| *v == id)
                .and_then(|(name, _)| facts.get_mut(name))
            {
                f.in_use = u32::try_from(n).unwrap_or(u32::MAX);
            }
        }

        let by_id: BTreeMap<i64, &ModuleName> = ids.iter().map(|(n, id)| (*id, n)).collect();
        let now = crate::stamp::now();
        let mut added: Vec<ModuleName> = Vec::new();
        let mut wrote = false;
        if let Some(edit) = edit {
            let Some(&user_id) = user_ids.get(&edit.login) else {
                return Err(StoreError::UnknownUser(edit.login.to_string()));
            };
            wrote |= self.apply_edit(&mut tx, user_id, edit, &now).await?;
        }
        for (i, item) in parsed.iter().enumerate() {
            let Some((login, module)) = item else { continue };
            let Some(&user_id) = user_ids.get(login) else {
                results[i] = Err(StoreError::UnknownUser(login.to_string()));
                continue;
            };
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT module_license_id, direct FROM license_assoc_link WHERE assoc_id = $1",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            let held: Holdings = rows
                .iter()
                .filter_map(|(id, direct)| by_id.get(id).map(|n| ((*n).clone(), *direct != 0)))
                .collect();
            let change = match &changes[i].window {
                Some(_) => Change::Assign(module.clone()),
                None => Change::Unassign(module.clone()),
            };
            let plan = match plan_change(&facts, &held, &change) {
                Ok(plan) => plan,
                Err(e) => {
                    results[i] = Err(e.into());
                    continue;
                }
            };
            wrote |= !plan.is_empty();
            let window = changes[i].window.clone().unwrap_or_default();
            for (m, direct) in &plan.add {
                sqlx::query(
                    "INSERT INTO license_assoc_link (module_license_id, assoc_id, direct, valid_from, valid_to, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ids[m])
                .bind(user_id)
                .bind(i64::from(*direct))
                .bind(window.valid_from.map(crate::stamp::encode))
                .bind(window.valid_to.map(crate::stamp::encode))
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                if let Some(f) = facts.get_mut(m) {
                    f.in_use = f.in_use.saturating_add(1);
                }
                added.push(m.clone());
            }
            for (m, direct) in &plan.set_direct {
                sqlx::query(
                    "UPDATE license_assoc_link SET direct = $3 WHERE module_license_id = $1 AND assoc_id = $2",
                )
                .bind(ids[m])
                .bind(user_id)
                .bind(i64::from(*direct))
                .execute(&mut *tx)
                .await?;
            }
            for m in &plan.remove {
                sqlx::query("DELETE FROM license_assoc_link WHERE module_license_id = $1 AND assoc_id = $2")
                    .bind(ids[m])
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(f) = facts.get_mut(m) {
                    f.in_use = f.in_use.saturating_sub(1);
                }
            }
        }
        if results.iter().any(Result::is_err) {
            // Dropping the transaction rolls back what the others wrote.
            return Ok(Some(results));
        }
        if !wrote {
            return Ok(Some(results));
        }
        // Never trust the plan alone: re-count what the changes added to.
        added.sort();
        added.dedup();
        for m in &added {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM license_assoc_link WHERE module_license_id = $1")
                    .bind(ids[m])
                    .fetch_one(&mut *tx)
                    .await?;
            let count = facts.get(m).map_or(0, |f| f.count);
            if lisens_core::assign::over_count(n, count) {
                tracing::error!("refusing a change that would put {m} at {n} of {count}");
                return Err(lisens_core::assign::AssignError::Overcommitted {
                    module: m.clone(),
                    count,
                }
                .into());
            }
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(results))
    }

    /// The licenses a user holds, by module name.
    pub async fn holdings(&self, login: &str) -> Result<Vec<Holding>, StoreError> {
        let user = self.associate(login).await?;
        let rows: Vec<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT m.module_name, l.direct, l.valid_from, l.valid_to FROM license_assoc_link l \
             JOIN module_license m ON m.id = l.module_license_id WHERE l.assoc_id = $1 ORDER BY m.sort_order",
        )
        .bind(user.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(module, direct, valid_from, valid_to)| Holding {
                module,
                direct: direct != 0,
                valid_from,
                valid_to,
            })
            .collect())
    }
}

/// The most changes one bulk request may carry.
pub const BULK_MAX: usize = 1000;

/// One change of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub login: String,
    pub module: String,
    /// `Some`: assign, holding inside this window; `None`: unassign.
    pub window: Option<Window>,
}

/// When an assignment holds; `None` is open-ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub valid_from: Option<OffsetDateTime>,
    pub valid_to: Option<OffsetDateTime>,
}

/// The row to act on for each module name: the first valid one.
pub(crate) fn module_ids(status: &LicenseStatus) -> BTreeMap<ModuleName, i64> {
    let mut out: BTreeMap<ModuleName, (i64, bool)> = BTreeMap::new();
    for m in status.owners.iter().flat_map(|o| &o.modules) {
        let Ok(name) = ModuleName::parse(&m.name) else {
            continue;
        };
        let effective = m.effective();
        match out.get(&name) {
            Some((_, true)) => {}
            Some((_, false)) if !effective => {}
            _ => {
                out.insert(name, (m.id, effective));
            }
        }
    }
    out.into_iter().map(|(n, (id, _))| (n, id)).collect()
}

fn facts(status: &LicenseStatus) -> Facts {
    let ids = module_ids(status);
    let mut out = Facts::new();
    for o in &status.owners {
        for m in &o.modules {
            let Ok(name) = ModuleName::parse(&m.name) else {
                continue;
            };
            if ids.get(&name) != Some(&m.id) {
                continue;
            }
            let parsed = m.parsed.as_ref();
            out.insert(
                name,
                ModuleFacts {
                    module_type: parsed.map_or(ModuleType::System, |p| p.module_type),
                    count: u32::try_from(m.total).unwrap_or(0),
                    in_use: u32::try_from(m.in_use).unwrap_or(u32::MAX),
                    valid: m.effective(),
                    plan_set: parsed.filter(|p| p.is_plan()).map(|p| {
                        p.extra_info
                            .set()
                            .map(|s| s.iter().cloned().collect())
                            .unwrap_or_default()
                    }),
                    prerequisite: parsed.and_then(|p| p.prerequisite.clone()),
                },
            );
        }
    }
    out
}
