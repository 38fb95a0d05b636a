//! Assignment rules: what giving a user license to (or taking it from) one
//! user changes, and whether it is allowed. Pure: the store feeds in the
//! facts it read inside its write transaction and applies the plan it gets
//! back in that same transaction.
//!
//! A user's links are always: the modules assigned directly (plans included)
//! plus every module in the `set=` of a plan they hold. A module granted by
//! two plans is one link. No module is ever given past its count, and no
//! module is held without its prerequisite.

use std::collections::{BTreeMap, BTreeSet};

use crate::codes;
use crate::model::ModuleType;
use crate::names::ModuleName;

/// What the store knows about one module when planning a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFacts {
    pub module_type: ModuleType,
    /// The licensed count; 0 when the row or its owner failed verification.
    pub count: u32,
    /// Links that exist now, for all users.
    pub in_use: u32,
    /// Whether the row (and its owner) verified.
    pub valid: bool,
    /// `Some` for a plan: the modules its `set=` grants.
    pub plan_set: Option<Vec<ModuleName>>,
    pub prerequisite: Option<ModuleName>,
}

/// The one count rule: `holders` is more than a module with `count`
/// licenses allows. Every path that adds a holder asks it with the holders
/// it would have (`in_use + 1`), every path that lowers a count with the
/// holders there are: assignment, activation, the plans' `set=`, sites.
pub fn over_count(holders: i64, count: u32) -> bool {
    holders > i64::from(count)
}

/// The one `set=` rule: the modules a user holds given the ones they hold
/// directly: those, and every module in the `set=` of a plan among them
/// (`set_of` gives a plan's set, `None` for a module that is not a plan).
pub fn with_plan_sets<'a>(
    direct: &BTreeSet<ModuleName>,
    set_of: impl Fn(&ModuleName) -> Option<&'a [ModuleName]>,
) -> BTreeSet<ModuleName> {
    let mut out = direct.clone();
    for d in direct {
        if let Some(set) = set_of(d) {
            out.extend(set.iter().cloned());
        }
    }
    out
}

/// How one user's links follow plans whose `set=` changed (`sets`: every
/// plan's new set): a link that only plans gave and no plan they hold gives
/// any more goes, a module their plans now grant comes (not direct). The
/// caller checks the counts of what is added with [`over_count`].
pub fn relink(held: &Holdings, sets: &BTreeMap<ModuleName, Vec<ModuleName>>) -> AssignmentPlan {
    let direct: BTreeSet<ModuleName> = held.iter().filter(|(_, d)| **d).map(|(m, _)| m.clone()).collect();
    let required = with_plan_sets(&direct, |m| sets.get(m).map(Vec::as_slice));
    AssignmentPlan {
        add: required
            .iter()
            .filter(|m| !held.contains_key(*m))
            .map(|m| (m.clone(), false))
            .collect(),
        set_direct: Vec::new(),
        remove: held
            .iter()
            .filter(|(m, direct)| !**direct && !required.contains(*m))
            .map(|(m, _)| m.clone())
            .collect(),
    }
}

/// The modules of the installation, by name.
pub type Facts = BTreeMap<ModuleName, ModuleFacts>;

/// One user's links: module -> assigned directly (true) or only through plans.
pub type Holdings = BTreeMap<ModuleName, bool>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Assign(ModuleName),
    Unassign(ModuleName),
}

/// What to write: links to add (module, direct), links whose `direct` flag
/// changes, links to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentPlan {
    pub add: Vec<(ModuleName, bool)>,
    pub set_direct: Vec<(ModuleName, bool)>,
    pub remove: Vec<ModuleName>,
}

impl AssignmentPlan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set_direct.is_empty() && self.remove.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    #[error("no module {0} in the license")]
    UnknownModule(ModuleName),
    #[error("module {0} failed its signature check and cannot be assigned")]
    ModuleInvalid(ModuleName),
    #[error("{0} is a {1} license; only user licenses are assigned to users")]
    NotUserLicense(ModuleName, &'static str),
    #[error("all {count} licenses of {module} are in use")]
    Overcommitted { module: ModuleName, count: u32 },
    #[error("{module} needs {prerequisite}, which the user does not hold")]
    PrerequisiteMissing {
        module: ModuleName,
        prerequisite: ModuleName,
    },
    #[error("{prerequisite} is still needed by {}", join(.dependents))]
    PrerequisiteInUse {
        prerequisite: ModuleName,
        dependents: Vec<ModuleName>,
    },
    #[error("the user does not hold {0}")]
    NotAssigned(ModuleName),
    #[error("{module} comes with {}; unassign the plan instead", join(.plans))]
    GrantedByPlan {
        module: ModuleName,
        plans: Vec<ModuleName>,
    },
}

fn join(names: &[ModuleName]) -> String {
    names
        .iter()
        .map(ModuleName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl AssignError {
    pub fn code(&self) -> &'static str {
        match self {
            AssignError::UnknownModule(_) => codes::MODULE_UNKNOWN,
            AssignError::ModuleInvalid(_) => codes::LICENSE_INVALID,
            AssignError::NotUserLicense(..) => codes::NOT_A_USER_LICENSE,
            AssignError::Overcommitted { .. } => codes::LICENSE_OVERCOMMITTED,
            AssignError::PrerequisiteMissing { .. } | AssignError::PrerequisiteInUse { .. } => {
                codes::LICENSE_PREREQUISITE_MISSING
            }
            AssignError::NotAssigned(_) => codes::LICENSE_NOT_ASSIGNED,
            AssignError::GrantedByPlan { .. } => codes::LICENSE_GRANTED_BY_PLAN,
        }
    }
}

/// Plans one change for one user, all or nothing.
pub fn plan_change(facts: &Facts, held: &Holdings, change: &Change) -> Result<AssignmentPlan, AssignError> {
    match change {
        Change::Assign(m) => plan_assign(facts, held, m),
        Change::Unassign(m) => plan_unassign(facts, held, m),
    }
}

fn user_module<'a>(facts: &'a Facts, m: &ModuleName) -> Result<&'a ModuleFacts, AssignError> {
    let f = facts
        .get(m)
        .ok_or_else(|| AssignError::UnknownModule(m.clone()))?;
    if !f.valid {
        return Err(AssignError::ModuleInvalid(m.clone()));
    }
    if f.module_type != ModuleType::User {
        return Err(AssignError::NotUserLicense(m.clone(), f.module_type.as_str()));
    }
    Ok(f)
}

fn plan_assign(facts: &Facts, held: &Holdings, m: &ModuleName) -> Result<AssignmentPlan, AssignError> {
    let f = user_module(facts, m)?;
    if held.get(m) == Some(&true) {
        return Ok(AssignmentPlan::default());
    }
    let mut plan = AssignmentPlan::default();
    let mut after = held.clone();
    if held.contains_key(m) {
        plan.set_direct.push((m.clone(), true));
    } else {
        plan.add.push((m.clone(), true));
    }
    after.insert(m.clone(), true);
    for granted in f.plan_set.iter().flatten() {
        if !after.contains_key(granted) {
            user_module(facts, granted)?;
            plan.add.push((granted.clone(), false));
            after.insert(granted.clone(), false);
        }
    }
    for (added, _) in &plan.add {
        let f = &facts[added];
        if over_count(i64::from(f.in_use) + 1, f.count) {
            return Err(AssignError::Overcommitted {
                module: added.clone(),
                count: f.count,
            });
        }
    }
    for name in after.keys() {
        if let Some(p) = facts.get(name).and_then(|f| f.prerequisite.as_ref()) {
            if !after.contains_key(p) {
                return Err(AssignError::PrerequisiteMissing {
                    module: name.clone(),
                    prerequisite: p.clone(),
                });
            }
        }
    }
    Ok(plan)
}

/// The links a user must have given the modules they hold directly.
pub fn required_links(facts: &Facts, direct: &BTreeSet<ModuleName>) -> BTreeSet<ModuleName> {
    with_plan_sets(direct, |d| facts.get(d).and_then(|f| f.plan_set.as_deref()))
}

fn plan_unassign(facts: &Facts, held: &Holdings, m: &ModuleName) -> Result<AssignmentPlan, AssignError> {
    match held.get(m) {
        None => return Err(AssignError::NotAssigned(m.clone())),
        Some(false) => {
            let plans = held
                .iter()
                .filter(|(p, direct)| {
                    **direct
                        && facts
                            .get(*p)
                            .and_then(|f| f.plan_set.as_ref())
                            .is_some_and(|s| s.contains(m))
                })
                .map(|(p, _)| p.clone())
                .collect();
            return Err(AssignError::GrantedByPlan {
                module: m.clone(),
                plans,
            });
        }
        Some(true) => {}
    }
    let direct: BTreeSet<ModuleName> = held
        .iter()
        .filter(|(n, d)| **d && *n != m)
        .map(|(n, _)| n.clone())
        .collect();
    let required = required_links(facts, &direct);
    let mut plan = AssignmentPlan::default();
    for name in held.keys() {
        if !required.contains(name) {
            plan.remove.push(name.clone());
        }
    }
    if required.contains(m) {
        plan.set_direct.push((m.clone(), false));
    }
    for removed in &plan.remove {
        let dependents: Vec<ModuleName> = required
            .iter()
            .filter(|n| facts.get(*n).and_then(|f| f.prerequisite.as_ref()) == Some(removed))
            .cloned()
            .collect();
        if !dependents.is_empty() {
            return Err(AssignError::PrerequisiteInUse {
                prerequisite: removed.clone(),
                dependents,
            });
        }
    }
    Ok(plan)
}

/// Applies a plan to holdings (what the store does in SQL), for tests and
/// for callers that keep holdings in memory.
pub fn apply(held: &mut Holdings, plan: &AssignmentPlan) {
    for (m, d) in plan.add.iter().chain(&plan.set_direct) {
        held.insert(m.clone(), *d);
    }
    for m in &plan.remove {
        held.remove(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> ModuleName {
        ModuleName::parse(s).unwrap()
    }

    fn step(f: &Facts, held: &mut Holdings, change: &Change) {
        let plan = plan_change(f, held, change).unwrap();
        apply(held, &plan);
    }

    pub(crate) fn facts() -> Facts {
        let user = |count, prereq: Option<&str>| ModuleFacts {
            module_type: ModuleType::User,
            count,
            in_use: 0,
            valid: true,
            plan_set: None,
            prerequisite: prereq.map(n),
        };
        let mut f = Facts::new();
        f.insert(n("user"), user(3, None));
        f.insert(n("web"), user(3, Some("user")));
        f.insert(n("chat-cal"), user(2, None));
        f.insert(n("windows-app"), user(3, Some("user")));
        let mut plan = user(2, None);
        plan.plan_set = Some(vec![n("user"), n("web"), n("chat-cal")]);
        f.insert(n("essentials"), plan.clone());
        plan.plan_set = Some(vec![n("user"), n("web")]);
        f.insert(n("lite"), plan);
        f.insert(
            n("server"),
            ModuleFacts {
                module_type: ModuleType::System,
                ..user(1, None)
            },
        );
        f
    }

    #[test]
    fn a_plan_grants_its_set_all_or_nothing() {
        let mut f = facts();
        let p = plan_change(&f, &Holdings::new(), &Change::Assign(n("essentials"))).unwrap();
        assert_eq!(p.add.len(), 4);
        f.get_mut(&n("chat-cal")).unwrap().in_use = 2;
        let err = plan_change(&f, &Holdings::new(), &Change::Assign(n("essentials"))).unwrap_err();
        assert_eq!(
            err,
            AssignError::Overcommitted {
                module: n("chat-cal"),
                count: 2
            }
        );
        assert_eq!(err.code(), codes::LICENSE_OVERCOMMITTED);
    }

    #[test]
    fn only_user_licenses_are_assigned() {
        let err = plan_change(&facts(), &Holdings::new(), &Change::Assign(n("server"))).unwrap_err();
        assert_eq!(err.code(), codes::NOT_A_USER_LICENSE);
        let err = plan_change(&facts(), &Holdings::new(), &Change::Assign(n("nope"))).unwrap_err();
        assert_eq!(err.code(), codes::MODULE_UNKNOWN);
    }

    #[test]
    fn prerequisites_are_kept() {
        let err = plan_change(&facts(), &Holdings::new(), &Change::Assign(n("web"))).unwrap_err();
        assert_eq!(
            err,
            AssignError::PrerequisiteMissing {
                module: n("web"),
                prerequisite: n("user")
            }
        );
        let mut held = Holdings::new();
        for m in ["user", "windows-app"] {
            step(&facts(), &mut held, &Change::Assign(n(m)));
        }
        let err = plan_change(&facts(), &held, &Change::Unassign(n("user"))).unwrap_err();
        assert_eq!(
            err,
            AssignError::PrerequisiteInUse {
                prerequisite: n("user"),
                dependents: vec![n("windows-app")]
            }
        );
    }

    #[test]
    fn a_module_from_two_plans_is_one_link_and_stays_while_one_plan_remains() {
        let f = facts();
        let mut held = Holdings::new();
        step(&f, &mut held, &Change::Assign(n("essentials")));
        let p = plan_change(&f, &held, &Change::Assign(n("lite"))).unwrap();
        assert_eq!(p.add, vec![(n("lite"), true)], "user and web are not added twice");
        apply(&mut held, &p);
        let p = plan_change(&f, &held, &Change::Unassign(n("essentials"))).unwrap();
        assert_eq!(p.remove, vec![n("chat-cal"), n("essentials")]);
        apply(&mut held, &p);
        assert_eq!(
            held.keys().map(ModuleName::as_str).collect::<Vec<_>>(),
            ["lite", "user", "web"]
        );
        let err = plan_change(&f, &held, &Change::Unassign(n("web"))).unwrap_err();
        assert_eq!(err.code(), codes::LICENSE_GRANTED_BY_PLAN);
    }

    #[test]
    fn a_direct_module_outlives_the_plan_that_also_granted_it() {
        let f = facts();
        let mut held = Holdings::new();
        step(&f, &mut held, &Change::Assign(n("essentials")));
        let p = plan_change(&f, &held, &Change::Assign(n("chat-cal"))).unwrap();
        assert_eq!(p.set_direct, vec![(n("chat-cal"), true)]);
        apply(&mut held, &p);
        step(&f, &mut held, &Change::Unassign(n("essentials")));
        assert_eq!(held.get(&n("chat-cal")), Some(&true));
        assert!(!held.contains_key(&n("user")));
    }
}
