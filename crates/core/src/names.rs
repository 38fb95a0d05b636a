//! Small value types that cannot hold a bad value: parsed once at the edge,
//! trusted everywhere after.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The name of a module license, e.g. `user`, `web`, `pocket-crm-cal`, `saint`.
/// Lowercase ASCII letters, digits, `-`, `_` and `.`; starts with a letter;
/// at most 64 bytes. Names are identifiers checked in code, so no spaces and no
/// case folding surprises.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleName(String);

impl ModuleName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = "module name";
        if s.is_empty() || s.len() > 64 {
            return Err(ParseError::new(what, format!("{s:?} must be 1 to 64 characters")));
        }
        if !s.as_bytes()[0].is_ascii_lowercase() {
            return Err(ParseError::new(
                what,
                format!("{s:?} must start with a lowercase letter"),
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
        {
            return Err(ParseError::new(
                what,
                format!("{s:?} contains {c:?}; use a-z, 0-9, '-', '_' or '.'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(ModuleName);

/// The name of a license owner (the issuer of a set of module licenses), e.g.
/// `SuperOffice` or a third-party add-on vendor. Shown as a tab title.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerName(String);

impl OwnerName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = "owner name";
        if s.trim().is_empty() || s.len() > 100 {
            return Err(ParseError::new(what, "must be 1 to 100 characters"));
        }
        if s.trim() != s {
            return Err(ParseError::new(what, "must not start or end with whitespace"));
        }
        if s.chars().any(char::is_control) {
            return Err(ParseError::new(what, "must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(OwnerName);

/// A customer's serial number, as the vendor hands it out on purchase.
/// ASCII letters, digits and `-`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber(String);

impl SerialNumber {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = "serial number";
        if s.is_empty() || s.len() > 64 {
            return Err(ParseError::new(what, "must be 1 to 64 characters"));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ParseError::new(
                what,
                format!("{s:?} may hold only A-Z, a-z, 0-9 and '-'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(SerialNumber);

/// A user's login name: 1 to 256 ASCII characters of letters, digits and
/// `.`, `_`, `@`, `-`, `+`, `'`, `#`: the user principal names directories
/// send (`first.last+tag@contoso.com`, `o'brien@contoso.com`, Entra ID's
/// guests `john_gmail.com#EXT#@contoso.onmicrosoft.com`). ASCII, so that
/// comparing without case is the same on SQLite and PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginName(String);

impl LoginName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = "login name";
        if s.is_empty() || s.len() > 256 {
            return Err(ParseError::new(what, "must be 1 to 256 characters"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-' | '+' | '\'' | '#')))
        {
            return Err(ParseError::new(
                what,
                format!(
                    "{s:?} contains {c:?}; use ASCII letters, digits, '.', '_', '@', '-', '+', an apostrophe or '#'"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The form in which logins are compared: without regard to case, so
    /// `Boss` and `boss` are one user (SCIM's userName is caseExact=false).
    /// Logins are ASCII, so ASCII folding is exact and matches the stores'
    /// `lower()`. Borrowed when there is nothing to fold: a lookup
    /// allocates only for a login with capitals.
    pub fn fold(login: &str) -> std::borrow::Cow<'_, str> {
        if login.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(login.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(login)
        }
    }
}
string_newtype!(LoginName);

/// The number of licenses of a module. Never zero: a module that is not bought
/// has no row at all, and a system license is present with count 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct LicenseCount(NonZeroU32);

impl LicenseCount {
    pub const ONE: LicenseCount = LicenseCount(NonZeroU32::MIN);

    pub fn new(n: u32) -> Result<Self, ParseError> {
        NonZeroU32::new(n).map(Self).ok_or_else(|| {
            ParseError::new(
                "license count",
                "must be at least 1 (leave the module out instead)",
            )
        })
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for LicenseCount {
    type Error = ParseError;
    fn try_from(n: u32) -> Result<Self, ParseError> {
        Self::new(n)
    }
}

impl From<LicenseCount> for u32 {
    fn from(c: LicenseCount) -> u32 {
        c.get()
    }
}

impl fmt::Display for LicenseCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_follow_the_vendor_style() {
        for ok in [
            "user",
            "web",
            "pocket-crm-cal",
            "saint",
            "mktg-auto-cal",
            "a1.b_c",
        ] {
            assert!(ModuleName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "User",
            "1abc",
            "has space",
            "semi;colon",
            "a,b",
            &"x".repeat(65),
        ] {
            assert!(ModuleName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_are_the_names_directories_send() {
        for ok in [
            "anna",
            "first.last+tag@contoso.com",
            "o'brien@contoso.com",
            "john_gmail.com#EXT#@contoso.onmicrosoft.com",
            &format!("{}@contoso.com", "a".repeat(200)),
        ] {
            assert_eq!(LoginName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "has space", "tab\there", "a/b", "x<y", &"a".repeat(257)] {
            assert!(LoginName::parse(bad).is_err(), "{bad}");
        }
        let e = LoginName::parse("åsa.ström@contoso.se").unwrap_err().to_string();
        assert!(e.contains("ASCII"), "{e}");
    }

    #[test]
    fn a_count_is_never_zero() {
        assert!(LicenseCount::new(0).is_err());
        assert_eq!(LicenseCount::new(7).unwrap().get(), 7);
        assert!(serde_json::from_str::<LicenseCount>("0").is_err());
    }

    #[test]
    fn serials_and_owner_names_reject_junk() {
        assert!(SerialNumber::parse("1234-ABCD").is_ok());
        assert!(SerialNumber::parse("12 34").is_err());
        assert!(OwnerName::parse("SuperOffice").is_ok());
        assert!(OwnerName::parse(" padded").is_err());
        assert!(OwnerName::parse("tab\there").is_err());
    }
}

/// A site's name (the central database's or a satellite's): 1 to 64 of
/// A-Z, a-z, 0-9, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteName(String);

impl SiteName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty()
            || s.len() > 64
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ParseError::new(
                "site name",
                format!("{s:?}: 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(SiteName);

/// A metering month, `YYYY-MM` (a calendar month in the installation's time
/// zone). Text order is time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month(String);

impl Month {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::first_day_of(s).map(Self::from_date)
    }

    fn first_day_of(s: &str) -> Result<time::Date, ParseError> {
        let bad = || ParseError::new("month", format!("{s:?} is not YYYY-MM"));
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let month = time::Month::try_from(m.parse::<u8>().map_err(|_| bad())?).map_err(|_| bad())?;
        time::Date::from_calendar_date(y.parse().map_err(|_| bad())?, month, 1).map_err(|_| bad())
    }

    /// The month a date falls in.
    pub fn from_date(d: time::Date) -> Self {
        Self(format!("{:04}-{:02}", d.year(), u8::from(d.month())))
    }

    /// Its first day.
    pub fn first_day(&self) -> time::Date {
        Self::first_day_of(&self.0).expect("a Month holds a valid month")
    }

    /// The month before; `None` before the calendar.
    pub fn previous(&self) -> Option<Self> {
        self.first_day().previous_day().map(Self::from_date)
    }
}
string_newtype!(Month);

impl PartialEq<&str> for Month {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
