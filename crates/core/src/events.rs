//! System events (the CRM's SystemEvent): what administrators add (No Login,
//! No Freetext, No Travel, Message of the day, custom messages) and what the
//! system raises itself (license activations, pending licenses, rejections,
//! issuer unreachable, excess removals, long jobs). Events are not ended by
//! time: someone, or the job that raised them, ends them.

use std::fmt;

use crate::error::ParseError;

/// What an event is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKey {
    /// Nobody but administrators may log in.
    NoLogin,
    /// Free-text search is off.
    NoFreetext,
    /// Travel (offline) clients may not go out or come back.
    NoTravel,
    /// Shown to every user after login.
    MessageOfTheDay,
    /// A message with scope and ETA.
    Custom,
    /// Raised by the system: license-activated, license-pending, issuer-unreachable, job:user-import, ...
    System(String),
}

impl EventKey {
    /// Parses what an administrator may add.
    pub fn parse_admin(s: &str) -> Result<Self, ParseError> {
        match s {
            "no-login" => Ok(EventKey::NoLogin),
            "no-freetext" => Ok(EventKey::NoFreetext),
            "no-travel" => Ok(EventKey::NoTravel),
            "motd" => Ok(EventKey::MessageOfTheDay),
            "custom" => Ok(EventKey::Custom),
            other => Err(ParseError::new(
                "event key",
                format!("{other:?}: use no-login, no-freetext, no-travel, motd or custom"),
            )),
        }
    }

    /// Parses a stored key (any of the above, or a system key).
    pub fn from_stored(s: &str) -> Self {
        Self::parse_admin(s).unwrap_or_else(|_| EventKey::System(s.to_owned()))
    }

    /// Whether a person may end it. A pending license's message ends when
    /// the license is activated, a tampered license's when its rows are
    /// right again: ending them by hand would hide what is still true.
    pub fn ends_by_hand(&self) -> bool {
        !matches!(self, EventKey::System(k) if k == "license-pending" || k == "license-integrity")
    }

    pub fn as_str(&self) -> &str {
        match self {
            EventKey::NoLogin => "no-login",
            EventKey::NoFreetext => "no-freetext",
            EventKey::NoTravel => "no-travel",
            EventKey::MessageOfTheDay => "motd",
            EventKey::Custom => "custom",
            EventKey::System(s) => s,
        }
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who an event is about (the vendor's scope 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventScope {
    System,
    Database,
    Group,
    User,
}

impl EventScope {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "system" => Ok(EventScope::System),
            "database" => Ok(EventScope::Database),
            "group" => Ok(EventScope::Group),
            "user" => Ok(EventScope::User),
            other => Err(ParseError::new(
                "event scope",
                format!("{other:?}: use system, database, group or user"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventScope::System => "system",
            EventScope::Database => "database",
            EventScope::Group => "group",
            EventScope::User => "user",
        }
    }

    /// Group and user events name who they are about; system and database ones do not.
    pub fn needs_target(self) -> bool {
        matches!(self, EventScope::Group | EventScope::User)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    Active,
    Finished,
    Failed,
}

impl EventStatus {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "active" => Ok(EventStatus::Active),
            "finished" => Ok(EventStatus::Finished),
            "failed" => Ok(EventStatus::Failed),
            other => Err(ParseError::new(
                "event status",
                format!("{other:?}: use active, finished or failed"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Active => "active",
            EventStatus::Finished => "finished",
            EventStatus::Failed => "failed",
        }
    }
}

/// An active event as the access check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveEvent {
    pub key: EventKey,
    pub scope: EventScope,
    pub target: Option<String>,
    pub message: String,
}

/// The flags the CRM's components read, from the active events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Flags {
    pub no_login: bool,
    pub no_freetext: bool,
    pub no_travel: bool,
}

impl Flags {
    pub fn of(events: &[ActiveEvent]) -> Self {
        let whole = |k: &EventKey| {
            events
                .iter()
                .any(|e| &e.key == k && matches!(e.scope, EventScope::System | EventScope::Database))
        };
        Flags {
            no_login: whole(&EventKey::NoLogin),
            no_freetext: whole(&EventKey::NoFreetext),
            no_travel: whole(&EventKey::NoTravel),
        }
    }
}

/// Whether an active No Login keeps this (non-administrator) user out: a
/// system- or database-wide one, or one aimed at this user.
pub fn blocks_login(events: &[ActiveEvent], login: &str) -> bool {
    events.iter().any(|e| {
        e.key == EventKey::NoLogin
            && match e.scope {
                EventScope::System | EventScope::Database => true,
                EventScope::User => e.target.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(login)),
                EventScope::Group => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: EventKey, scope: EventScope, target: Option<&str>) -> ActiveEvent {
        ActiveEvent {
            key,
            scope,
            target: target.map(str::to_owned),
            message: String::new(),
        }
    }

    #[test]
    fn no_login_blocks_everyone_or_its_user() {
        let all = [ev(EventKey::NoLogin, EventScope::System, None)];
        assert!(blocks_login(&all, "anna"));
        let one = [ev(EventKey::NoLogin, EventScope::User, Some("bo"))];
        assert!(blocks_login(&one, "bo") && !blocks_login(&one, "anna"));
        assert!(blocks_login(&one, "BO"), "a login in any case is the same user");
        assert!(Flags::of(&all).no_login && !Flags::of(&one).no_login);
    }

    #[test]
    fn keys_and_scopes_parse_or_say_why_not() {
        assert_eq!(EventKey::parse_admin("motd").unwrap(), EventKey::MessageOfTheDay);
        assert!(EventKey::parse_admin("reboot").is_err());
        assert_eq!(
            EventKey::from_stored("job:user-import"),
            EventKey::System("job:user-import".into())
        );
        assert!(EventScope::parse("planet").is_err());
        assert!(EventScope::User.needs_target() && !EventScope::System.needs_target());
        let flags = Flags::of(&[ev(EventKey::NoFreetext, EventScope::Database, None)]);
        assert_eq!(
            flags,
            Flags {
                no_login: false,
                no_freetext: true,
                no_travel: false
            }
        );
    }
}
