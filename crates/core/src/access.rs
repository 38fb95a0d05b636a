//! The run-time access check: may this user log in, use this feature, is this
//! system license present. Pure: it answers from an [`AccessSnapshot`] the
//! store builds (and rebuilds whenever anything changes), so a check is a few
//! hash lookups.
//!
//! (Longer than 600 lines: half of it is its tests, which read best beside
//! the rules they pin down.)

use std::collections::{HashMap, HashSet};

pub use crate::model::OwnerDates;

use time::{Date, OffsetDateTime};

use crate::codes;
use crate::model::ModuleType;
use crate::names::ModuleName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub id: i64,
    pub active: bool,
    pub login_rights: bool,
    pub is_admin: bool,
}

/// One module row as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckModule {
    pub module_type: ModuleType,
    /// The row and its owner verified.
    pub valid: bool,
    pub owner: usize,
}

/// One link of a user to a module, with its validity window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkWindow {
    pub valid_from: Option<OffsetDateTime>,
    pub valid_to: Option<OffsetDateTime>,
    /// The owner of the row the link points at: only that row's verdict and
    /// dates count for it, not another owner's row of the same name.
    pub owner: usize,
}

impl LinkWindow {
    fn covers(&self, now: OffsetDateTime) -> bool {
        self.valid_from.is_none_or(|f| now >= f) && self.valid_to.is_none_or(|t| now <= t)
    }
}

/// Everything the check needs, read in one go.
#[derive(Debug, Clone, Default)]
pub struct AccessSnapshot {
    /// By login as [`LoginName::fold`](crate::LoginName::fold) gives it:
    /// lookups fold the asked login once, so any case finds the user.
    pub users: HashMap<String, UserFacts>,
    pub owners: Vec<OwnerDates>,
    /// The index in `owners` of the installation's primary owner (the
    /// vendor): a check that names no owner asks about this one. One
    /// owner's license never grants another owner's module names.
    pub primary: usize,
    /// By name; several rows may share a name (versions, owners): the
    /// module is licensed for an owner when any of its rows is valid.
    pub modules: HashMap<ModuleName, Vec<CheckModule>>,
    /// user id -> module -> the standing links' windows (one per owner
    /// holding a row of that name). Only links that stand by
    /// [`crate::trust::standing_links`] are here.
    pub links: HashMap<i64, HashMap<ModuleName, Vec<LinkWindow>>>,
    /// The latest time this installation has seen: a clock behind it
    /// (beyond [`crate::trust::CLOCK_TOLERANCE`]) counts as expired past grace.
    pub latest_seen: Option<OffsetDateTime>,
    /// The data version this snapshot was read at.
    pub version: i64,
    /// Set while no license is loaded: the built-in demo allowance.
    pub demo: Option<DemoAllowance>,
    /// The active system events (No Login, message of the day, ...).
    pub events: Vec<crate::events::ActiveEvent>,
    /// The user licenses a person needs to log in, from the primary owner's
    /// signed product; None: the CRM's (`user` and `web`), as in a license
    /// of the first format or before any license is loaded.
    pub login: Option<Vec<ModuleName>>,
}

/// What an installation without any license may do: the first few users log
/// in (user + web) until the demo period ends. Clearly marked: every grant
/// carries the DEMO_MODE warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAllowance {
    pub until: OffsetDateTime,
    /// The ids of the users inside the allowance (the first active users
    /// with login rights).
    pub users: HashSet<i64>,
}

/// The demo allowance: this many users, for this many days after installation.
pub const DEMO_USERS: usize = 5;
pub const DEMO_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Past expiration, before grace_to: still works.
    LicenseInGrace,
    /// Past adminWarningDate (shown to administrators).
    LicenseExpiring,
    /// No license yet: the demo allowance granted it.
    DemoMode,
}

impl Warning {
    pub fn code(&self) -> &'static str {
        match self {
            Warning::LicenseInGrace => codes::LICENSE_IN_GRACE,
            Warning::LicenseExpiring => codes::LICENSE_EXPIRING,
            Warning::DemoMode => codes::DEMO_MODE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    UnknownUser,
    UserInactive,
    NoLoginRights,
    MissingLicense(ModuleName),
    LicenseExpired,
    NotUserLicense(ModuleName),
    NotSystemLicense(ModuleName),
    /// The demo period is over: register the installation.
    DemoExpired,
    /// An administrator's No Login event is active.
    NoLoginEvent,
    /// The clock is behind the latest time the installation has seen: it
    /// counts as expired past grace until the clock is right again.
    ClockSetBack,
    /// The check named an owner this installation has no license of.
    UnknownOwner,
}

impl Denial {
    pub fn code(&self) -> String {
        match self {
            Denial::UnknownUser => codes::USER_UNKNOWN.into(),
            Denial::UserInactive => codes::USER_INACTIVE.into(),
            Denial::NoLoginRights => codes::NO_LOGIN_RIGHTS.into(),
            Denial::MissingLicense(m) => format!("{}:{m}", codes::MISSING_LICENSE),
            Denial::LicenseExpired => codes::LICENSE_EXPIRED.into(),
            Denial::NotUserLicense(_) => codes::NOT_A_USER_LICENSE.into(),
            Denial::NotSystemLicense(_) => codes::NOT_A_SYSTEM_LICENSE.into(),
            Denial::DemoExpired => codes::DEMO_EXPIRED.into(),
            Denial::NoLoginEvent => codes::NO_LOGIN_EVENT.into(),
            Denial::ClockSetBack => codes::CLOCK_SET_BACK.into(),
            Denial::UnknownOwner => codes::OWNER_UNKNOWN.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Granted { warning: Option<Warning> },
    Denied(Denial),
}

impl Decision {
    pub fn is_granted(&self) -> bool {
        matches!(self, Decision::Granted { .. })
    }

    /// The reason code of a denial, or the warning code of a grant.
    pub fn code(&self) -> Option<String> {
        match self {
            Decision::Granted { warning } => warning.as_ref().map(|w| w.code().to_owned()),
            Decision::Denied(d) => Some(d.code()),
        }
    }
}

/// The installation is read-only when the clock was set back, or once its
/// primary owner's license (`None`: none, or one that did not verify) is
/// past its grace period.
pub fn read_only(clock_set_back: bool, primary: Option<&OwnerDates>, today: Date) -> bool {
    clock_set_back || primary.is_some_and(|o| o.is_past_grace(today))
}

/// The dates of an owner the snapshot does not list: none.
static NO_DATES: OwnerDates = OwnerDates {
    name: String::new(),
    expiration: None,
    grace_to: None,
    admin_warning_date: None,
};

impl AccessSnapshot {
    /// The user licenses a person needs to log in.
    pub fn login_modules(&self) -> &[ModuleName] {
        self.login
            .as_deref()
            .unwrap_or(&crate::product::Product::crm().login)
    }

    /// Logging in: active, login rights, and valid licenses of the primary
    /// owner for each of its product's login modules (the CRM: `user` and
    /// `web`), not past its grace period.
    pub fn can_login(&self, login: &str, now: OffsetDateTime) -> Decision {
        let user = match self.user(login) {
            Ok(u) => u,
            Err(d) => return Decision::Denied(d),
        };
        if !user.login_rights {
            return Decision::Denied(Denial::NoLoginRights);
        }
        if !user.is_admin && crate::events::blocks_login(&self.events, login) {
            return Decision::Denied(Denial::NoLoginEvent);
        }
        let mut warning = None;
        for m in self.login_modules() {
            match self.user_holds(user, m, self.primary, now) {
                Decision::Denied(d) => return Decision::Denied(d),
                Decision::Granted { warning: w } => warning = warning.or(w),
            }
        }
        Decision::Granted { warning }
    }

    /// Whether an active user holds a user license of the primary owner right now.
    pub fn has_module(&self, login: &str, module: &ModuleName, now: OffsetDateTime) -> Decision {
        self.has_module_of(None, login, module, now)
    }

    /// Whether an active user holds a user license of the named owner (the
    /// primary owner when `None`) right now.
    pub fn has_module_of(
        &self,
        owner: Option<&str>,
        login: &str,
        module: &ModuleName,
        now: OffsetDateTime,
    ) -> Decision {
        let owner = match self.owner_index(owner) {
            Ok(o) => o,
            Err(d) => return Decision::Denied(d),
        };
        match self.user(login) {
            Ok(user) => self.user_holds(user, module, owner, now),
            Err(d) => Decision::Denied(d),
        }
    }

    /// Whether a system license (e.g. `saint`) of the primary owner is present and valid.
    pub fn has_system(&self, module: &ModuleName, now: OffsetDateTime) -> Decision {
        self.has_system_of(None, module, now)
    }

    /// Whether a system license of the named owner (the primary owner when
    /// `None`) is present and valid.
    pub fn has_system_of(&self, owner: Option<&str>, module: &ModuleName, now: OffsetDateTime) -> Decision {
        let owner = match self.owner_index(owner) {
            Ok(o) => o,
            Err(d) => return Decision::Denied(d),
        };
        match self.own_rows(module, owner, ModuleType::System) {
            Ok(rows) => self.first_live(rows, module, now, false),
            Err(d) => Decision::Denied(d),
        }
    }

    /// An owner's rows of a module of the wanted type, or why it has none:
    /// no row of that owner is `MissingLicense`, rows of another type only
    /// are `NotSystemLicense` / `NotUserLicense`.
    fn own_rows<'a>(
        &'a self,
        module: &ModuleName,
        owner: usize,
        kind: ModuleType,
    ) -> Result<impl Iterator<Item = &'a CheckModule>, Denial> {
        let rows = self.modules.get(module).map(Vec::as_slice).unwrap_or_default();
        let mut own = rows.iter().filter(|r| r.owner == owner).peekable();
        if own.peek().is_none() {
            return Err(Denial::MissingLicense(module.clone()));
        }
        if own.all(|r| r.module_type != kind) {
            return Err(match kind {
                ModuleType::System => Denial::NotSystemLicense(module.clone()),
                _ => Denial::NotUserLicense(module.clone()),
            });
        }
        Ok(rows
            .iter()
            .filter(move |r| r.owner == owner && r.module_type == kind))
    }

    /// The index of the named owner, or the primary owner's.
    fn owner_index(&self, owner: Option<&str>) -> Result<usize, Denial> {
        match owner {
            None => Ok(self.primary),
            Some(name) => self
                .owners
                .iter()
                .position(|o| o.name == name)
                .ok_or(Denial::UnknownOwner),
        }
    }

    /// A user by login, in any case.
    pub fn user_facts(&self, login: &str) -> Option<&UserFacts> {
        self.users.get(&*crate::LoginName::fold(login))
    }

    fn user(&self, login: &str) -> Result<&UserFacts, Denial> {
        let user = self.user_facts(login).ok_or(Denial::UnknownUser)?;
        if !user.active {
            return Err(Denial::UserInactive);
        }
        Ok(user)
    }

    fn user_holds(
        &self,
        user: &UserFacts,
        module: &ModuleName,
        owner: usize,
        now: OffsetDateTime,
    ) -> Decision {
        if let Some(demo) = &self.demo {
            if now > demo.until {
                return Decision::Denied(Denial::DemoExpired);
            }
            if self.login_modules().contains(module) && demo.users.contains(&user.id) {
                return Decision::Granted {
                    warning: Some(Warning::DemoMode),
                };
            }
            return Decision::Denied(Denial::MissingLicense(module.clone()));
        }
        let rows = match self.own_rows(module, owner, ModuleType::User) {
            Ok(rows) => rows,
            Err(d) => return Decision::Denied(d),
        };
        let held = self
            .links
            .get(&user.id)
            .and_then(|l| l.get(module))
            .is_some_and(|ws| ws.iter().any(|w| w.owner == owner && w.covers(now)));
        if !held {
            return Decision::Denied(Denial::MissingLicense(module.clone()));
        }
        self.first_live(rows, module, now, user.is_admin)
    }

    fn first_live<'a>(
        &self,
        rows: impl Iterator<Item = &'a CheckModule>,
        module: &ModuleName,
        now: OffsetDateTime,
        admin: bool,
    ) -> Decision {
        let today = now.date();
        let mut expired = false;
        let set_back = crate::trust::clock_set_back(now, self.latest_seen);
        for r in rows.filter(|r| r.valid) {
            if set_back {
                return Decision::Denied(Denial::ClockSetBack);
            }
            let dates = self.owners.get(r.owner).unwrap_or(&NO_DATES);
            if dates.is_past_grace(today) {
                expired = true;
                continue;
            }
            let warning = if dates.in_grace(today) {
                Some(Warning::LicenseInGrace)
            } else if admin && dates.warn_admins(today) {
                Some(Warning::LicenseExpiring)
            } else {
                None
            };
            return Decision::Granted { warning };
        }
        Decision::Denied(if expired {
            Denial::LicenseExpired
        } else {
            Denial::MissingLicense(module.clone())
        })
    }

    /// Whether a No Login event keeps this user out (administrators never).
    pub fn login_blocked(&self, login: &str) -> bool {
        let admin = self.user_facts(login).is_some_and(|u| u.is_admin);
        !admin && crate::events::blocks_login(&self.events, login)
    }

    /// The messages of the day to show after login.
    pub fn messages_of_the_day(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.key == crate::events::EventKey::MessageOfTheDay)
            .map(|e| e.message.as_str())
            .collect()
    }

    /// The installation is read-only once its primary owner (the vendor) is
    /// past its grace period, or the clock was set back.
    pub fn is_read_only(&self, now: OffsetDateTime) -> bool {
        read_only(
            crate::trust::clock_set_back(now, self.latest_seen),
            self.owners.get(self.primary),
            now.date(),
        )
    }

    /// Modules of the primary owner a user holds right now (a standing link
    /// whose window covers now, to a valid row).
    pub fn held_modules(&self, login: &str, now: OffsetDateTime) -> HashSet<ModuleName> {
        let Some(user) = self.user_facts(login) else {
            return HashSet::new();
        };
        self.links
            .get(&user.id)
            .map(|l| {
                l.keys()
                    .filter(|m| self.user_holds(user, m, self.primary, now).is_granted())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn n(s: &str) -> ModuleName {
        ModuleName::parse(s).unwrap()
    }

    fn snapshot() -> AccessSnapshot {
        let mut s = AccessSnapshot::default();
        s.owners.push(OwnerDates {
            name: "vendor".into(),
            expiration: Some(date!(2027 - 12 - 31)),
            grace_to: Some(date!(2028 - 01 - 31)),
            admin_warning_date: Some(date!(2027 - 12 - 01)),
        });
        for (name, t) in [
            ("user", ModuleType::User),
            ("web", ModuleType::User),
            ("saint", ModuleType::System),
        ] {
            s.modules.insert(
                n(name),
                vec![CheckModule {
                    module_type: t,
                    valid: true,
                    owner: 0,
                }],
            );
        }
        for (login, id) in [("anna", 1), ("bo", 2)] {
            s.users.insert(
                login.into(),
                UserFacts {
                    id,
                    active: true,
                    login_rights: true,
                    is_admin: false,
                },
            );
        }
        let open = LinkWindow {
            valid_from: None,
            valid_to: None,
            owner: 0,
        };
        s.links.insert(
            1,
            [(n("user"), vec![open.clone()]), (n("web"), vec![open.clone()])].into(),
        );
        s.links.insert(2, [(n("user"), vec![open])].into());
        s
    }

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

    #[test]
    fn login_needs_user_and_web() {
        let s = snapshot();
        assert_eq!(s.can_login("anna", NOW), Decision::Granted { warning: None });
        assert_eq!(
            s.can_login("bo", NOW).code().as_deref(),
            Some("MISSING_LICENSE:web")
        );
        assert_eq!(
            s.can_login("nobody", NOW).code().as_deref(),
            Some(codes::USER_UNKNOWN)
        );
    }

    #[test]
    fn a_login_finds_its_user_in_any_case() {
        let s = snapshot();
        assert_eq!(s.can_login("ANNA", NOW), Decision::Granted { warning: None });
        assert_eq!(s.user_facts("Bo").map(|u| u.id), Some(2));
        assert!(s.held_modules("AnNa", NOW).contains(&n("web")));
    }

    #[test]
    fn inactive_users_and_users_without_login_rights_are_refused() {
        let mut s = snapshot();
        s.users.get_mut("anna").unwrap().login_rights = false;
        assert_eq!(
            s.can_login("anna", NOW).code().as_deref(),
            Some(codes::NO_LOGIN_RIGHTS)
        );
        s.users.get_mut("anna").unwrap().active = false;
        assert_eq!(
            s.can_login("anna", NOW).code().as_deref(),
            Some(codes::USER_INACTIVE)
        );
    }

    #[test]
    fn time_rules_grace_then_expired_then_read_only() {
        let s = snapshot();
        let in_grace = datetime!(2028-01-10 00:00 UTC);
        assert_eq!(
            s.can_login("anna", in_grace),
            Decision::Granted {
                warning: Some(Warning::LicenseInGrace)
            }
        );
        assert!(!s.is_read_only(in_grace));
        let after = datetime!(2028-02-01 00:00 UTC);
        assert_eq!(
            s.can_login("anna", after).code().as_deref(),
            Some(codes::LICENSE_EXPIRED)
        );
        assert_eq!(
            s.has_system(&n("saint"), after).code().as_deref(),
            Some(codes::LICENSE_EXPIRED)
        );
        assert!(s.is_read_only(after));
    }

    #[test]
    fn administrators_are_warned_from_the_warning_date() {
        let mut s = snapshot();
        s.users.get_mut("anna").unwrap().is_admin = true;
        let warned = datetime!(2027-12-05 00:00 UTC);
        assert_eq!(
            s.can_login("anna", warned).code().as_deref(),
            Some(codes::LICENSE_EXPIRING)
        );
    }

    #[test]
    fn link_windows_and_invalid_rows_are_honoured() {
        let mut s = snapshot();
        s.links.get_mut(&1).unwrap().get_mut(&n("web")).unwrap()[0].valid_to =
            Some(datetime!(2026-11-01 00:00 UTC));
        assert_eq!(
            s.can_login("anna", NOW).code().as_deref(),
            Some("MISSING_LICENSE:web")
        );
        let mut s = snapshot();
        s.modules.get_mut(&n("web")).unwrap()[0].valid = false;
        assert_eq!(
            s.can_login("anna", NOW).code().as_deref(),
            Some("MISSING_LICENSE:web")
        );
        assert!(s.has_system(&n("saint"), NOW).is_granted());
        assert_eq!(
            s.has_system(&n("web"), NOW).code().as_deref(),
            Some(codes::NOT_A_SYSTEM_LICENSE)
        );
        assert_eq!(
            s.has_module("anna", &n("saint"), NOW).code().as_deref(),
            Some(codes::NOT_A_USER_LICENSE)
        );
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn without_a_license_the_first_users_log_in_as_a_demo_until_it_ends() {
        let mut s = AccessSnapshot::default();
        for (login, id) in [("anna", 1), ("bo", 2)] {
            s.users.insert(
                login.into(),
                UserFacts {
                    id,
                    active: true,
                    login_rights: true,
                    is_admin: false,
                },
            );
        }
        s.demo = Some(DemoAllowance {
            until: datetime!(2026-12-25 00:00 UTC),
            users: [1].into(),
        });
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(
            s.can_login("anna", now),
            Decision::Granted {
                warning: Some(Warning::DemoMode)
            }
        );
        assert_eq!(
            s.can_login("bo", now).code().as_deref(),
            Some("MISSING_LICENSE:user")
        );
        assert_eq!(
            s.can_login("anna", datetime!(2027-01-01 00:00 UTC))
                .code()
                .as_deref(),
            Some(codes::DEMO_EXPIRED)
        );
        let saint = ModuleName::parse("saint").unwrap();
        assert!(!s.has_system(&saint, now).is_granted());
    }
}

#[cfg(test)]
mod owner_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_link_counts_only_through_the_row_it_points_at() {
        let n = |s: &str| ModuleName::parse(s).unwrap();
        let mut s = AccessSnapshot {
            owners: vec![OwnerDates::default(), OwnerDates::default()],
            ..Default::default()
        };
        s.modules.insert(
            n("crm"),
            vec![
                CheckModule {
                    module_type: ModuleType::User,
                    valid: true,
                    owner: 0,
                },
                CheckModule {
                    module_type: ModuleType::User,
                    valid: false,
                    owner: 1,
                },
            ],
        );
        s.users.insert(
            "anna".into(),
            UserFacts {
                id: 1,
                active: true,
                login_rights: true,
                is_admin: false,
            },
        );
        s.links.insert(
            1,
            [(
                n("crm"),
                vec![LinkWindow {
                    valid_from: None,
                    valid_to: None,
                    owner: 1,
                }],
            )]
            .into(),
        );
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(
            s.has_module("anna", &n("crm"), now).code().as_deref(),
            Some("MISSING_LICENSE:crm")
        );
        s.links.get_mut(&1).unwrap().get_mut(&n("crm")).unwrap()[0].owner = 0;
        assert!(s.has_module("anna", &n("crm"), now).is_granted());
    }

    #[test]
    fn one_owner_never_grants_another_owners_module_names() {
        let n = |s: &str| ModuleName::parse(s).unwrap();
        let owner = |name: &str| OwnerDates {
            name: name.into(),
            ..Default::default()
        };
        let mut s = AccessSnapshot {
            owners: vec![owner("vendor"), owner("self-signed")],
            ..Default::default()
        };
        let row = |owner, module_type| CheckModule {
            module_type,
            valid: true,
            owner,
        };
        // The vendor sells chat-cal and saint; the customer's own owner
        // "licenses" the same names.
        s.modules.insert(
            n("chat-cal"),
            vec![row(0, ModuleType::User), row(1, ModuleType::User)],
        );
        s.modules.insert(n("saint"), vec![row(1, ModuleType::System)]);
        s.users.insert(
            "anna".into(),
            UserFacts {
                id: 1,
                active: true,
                login_rights: true,
                is_admin: false,
            },
        );
        let own_link = LinkWindow {
            valid_from: None,
            valid_to: None,
            owner: 1,
        };
        s.links.insert(1, [(n("chat-cal"), vec![own_link])].into());
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(
            s.has_module("anna", &n("chat-cal"), now).code().as_deref(),
            Some("MISSING_LICENSE:chat-cal")
        );
        assert!(s
            .has_module_of(Some("self-signed"), "anna", &n("chat-cal"), now)
            .is_granted());
        assert_eq!(
            s.has_system(&n("saint"), now).code().as_deref(),
            Some("MISSING_LICENSE:saint")
        );
        assert!(s
            .has_system_of(Some("self-signed"), &n("saint"), now)
            .is_granted());
        assert_eq!(
            s.has_system_of(Some("nobody"), &n("saint"), now)
                .code()
                .as_deref(),
            Some(codes::OWNER_UNKNOWN)
        );
    }

    #[test]
    fn a_clock_set_back_counts_as_expired_past_grace() {
        let n = |s: &str| ModuleName::parse(s).unwrap();
        let now = datetime!(2026-11-25 12:00 UTC);
        let mut s = AccessSnapshot {
            owners: vec![OwnerDates::default()],
            latest_seen: Some(now + time::Duration::days(30)),
            ..Default::default()
        };
        s.modules.insert(
            n("saint"),
            vec![CheckModule {
                module_type: ModuleType::System,
                valid: true,
                owner: 0,
            }],
        );
        assert_eq!(
            s.has_system(&n("saint"), now).code().as_deref(),
            Some(codes::CLOCK_SET_BACK)
        );
        assert!(s.is_read_only(now));
        assert!(s
            .has_system(&n("saint"), now + time::Duration::days(30))
            .is_granted());
        assert!(!s.is_read_only(now + time::Duration::days(30)));
    }
}
