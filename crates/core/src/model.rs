//! The installation's view of a license: its owner (the issuer, with the
//! customer's serial number and the global dates) and its module licenses.
//! Field names follow the vendor's ModuleOwner / ModuleLicense tables.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::error::ParseError;
use crate::names::{LicenseCount, ModuleName, OwnerName, SerialNumber};
use crate::product::Product;

/// How a module is counted (the vendor's `type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleType {
    /// A feature of the whole system, present or absent (type 1).
    System,
    /// Counted per database/site: satellites, Reporter Studio, Audience (type 2).
    Site,
    /// Assigned to users; at most `count` users hold it (type 3).
    User,
}

impl ModuleType {
    /// The vendor's numeric code, as stored in `module_license.module_type`.
    pub fn code(self) -> i64 {
        match self {
            ModuleType::System => 1,
            ModuleType::Site => 2,
            ModuleType::User => 3,
        }
    }

    pub fn from_code(code: i64) -> Result<Self, ParseError> {
        match code {
            1 => Ok(ModuleType::System),
            2 => Ok(ModuleType::Site),
            3 => Ok(ModuleType::User),
            other => Err(ParseError::new("module type", format!("unknown code {other}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModuleType::System => "system",
            ModuleType::Site => "site",
            ModuleType::User => "user",
        }
    }
}

/// The vendor's `extraFlags`: 1 marks a user plan, 2 a marker license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExtraFlags {
    #[default]
    None,
    /// A user plan (Sales/Service/Marketing x Essentials/Premium): what the
    /// customer pays for; its `set=` grants hidden user licenses.
    Plan,
    Marker,
}

impl ExtraFlags {
    pub fn code(self) -> i64 {
        match self {
            ExtraFlags::None => 0,
            ExtraFlags::Plan => 1,
            ExtraFlags::Marker => 2,
        }
    }

    pub fn from_code(code: i64) -> Result<Self, ParseError> {
        match code {
            0 => Ok(ExtraFlags::None),
            1 => Ok(ExtraFlags::Plan),
            2 => Ok(ExtraFlags::Marker),
            other => Err(ParseError::new("extra flags", format!("unknown code {other}"))),
        }
    }
}

/// Whether the installation is the central database or a satellite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentType {
    #[default]
    Central,
    Satellite,
}

impl DeploymentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentType::Central => "central",
            DeploymentType::Satellite => "satellite",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "central" => Ok(DeploymentType::Central),
            "satellite" => Ok(DeploymentType::Satellite),
            other => Err(ParseError::new(
                "deployment type",
                format!("{other:?} is neither \"central\" nor \"satellite\""),
            )),
        }
    }
}

/// The hidden user licenses a plan grants (`set=user,web,chat-cal`): ordered as
/// written, no duplicates, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleSet(Vec<ModuleName>);

impl ModuleSet {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() {
            return Err(ParseError::new("set", "must name at least one module"));
        }
        let mut names: Vec<ModuleName> = Vec::new();
        for part in s.split(',') {
            let name = ModuleName::parse(part)?;
            if names.contains(&name) {
                return Err(ParseError::new("set", format!("{name} is listed twice")));
            }
            names.push(name);
        }
        Ok(Self(names))
    }

    pub fn iter(&self) -> impl Iterator<Item = &ModuleName> {
        self.0.iter()
    }

    pub fn contains(&self, name: &ModuleName) -> bool {
        self.0.contains(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ModuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(n.as_str())?;
        }
        Ok(())
    }
}

/// The vendor's `extraInfo` column: `key=value` entries separated by `;`.
/// `set` is parsed into a [`ModuleSet`]; every other key is kept verbatim, in
/// order, so a newer vendor's keys survive a round trip through an older
/// installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExtraInfo {
    entries: Vec<ExtraEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ExtraEntry {
    Set(ModuleSet),
    Other { key: String, value: String },
}

impl ExtraInfo {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let what = "extraInfo";
        let mut entries = Vec::new();
        if s.is_empty() {
            return Ok(Self { entries });
        }
        let mut seen: Vec<&str> = Vec::new();
        for part in s.split(';') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ParseError::new(what, format!("{part:?} is not key=value")))?;
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                return Err(ParseError::new(what, format!("bad key {key:?}")));
            }
            if seen.contains(&key) {
                return Err(ParseError::new(what, format!("key {key:?} given twice")));
            }
            seen.push(key);
            if value.chars().any(char::is_control) {
                return Err(ParseError::new(
                    what,
                    format!("value of {key:?} holds a control character"),
                ));
            }
            entries.push(if key == "set" {
                ExtraEntry::Set(ModuleSet::parse(value)?)
            } else {
                ExtraEntry::Other {
                    key: key.to_owned(),
                    value: value.to_owned(),
                }
            });
        }
        Ok(Self { entries })
    }

    /// The plan's `set=`, when there is one.
    pub fn set(&self) -> Option<&ModuleSet> {
        self.entries.iter().find_map(|e| match e {
            ExtraEntry::Set(s) => Some(s),
            ExtraEntry::Other { .. } => None,
        })
    }

    /// The entries this version does not interpret, in order.
    pub fn other(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|e| match e {
            ExtraEntry::Other { key, value } => Some((key.as_str(), value.as_str())),
            ExtraEntry::Set(_) => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for ExtraInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            match e {
                ExtraEntry::Set(s) => write!(f, "set={s}")?,
                ExtraEntry::Other { key, value } => write!(f, "{key}={value}")?,
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for ExtraInfo {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<ExtraInfo> for String {
    fn from(e: ExtraInfo) -> String {
        e.to_string()
    }
}

/// One module license row. Serialised with serde_json in this field order,
/// it is the exact byte string that the issuer signs (see
/// `docs/license-format.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleLicense {
    pub name: ModuleName,
    pub description: String,
    pub version: u32,
    pub tooltip: String,
    #[serde(rename = "type")]
    pub module_type: ModuleType,
    pub count: LicenseCount,
    pub extra_flags: ExtraFlags,
    pub extra_info: ExtraInfo,
    pub sort_order: u32,
    pub hidden: bool,
    pub unrestricted: bool,
    pub prerequisite: Option<ModuleName>,
}

impl ModuleLicense {
    pub fn is_plan(&self) -> bool {
        self.extra_flags == ExtraFlags::Plan
    }
}

/// The owner of a set of module licenses: the issuer, the customer it licensed
/// and the global dates of the license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub name: OwnerName,
    pub description: String,
    pub company_name: String,
    pub serial: SerialNumber,
    pub deployment_type: DeploymentType,
    /// Grows with every license the issuer signs for this serial; an older
    /// version is a replay.
    pub license_version: u32,
    /// Where "Buy new licenses" goes.
    pub license_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The license ends here (None: not time-limited).
    pub expiration: Option<Date>,
    /// After expiration the system works until here, then goes read-only.
    pub grace_to: Option<Date>,
    /// No upgrades after this date.
    pub maintenance_to: Option<Date>,
    /// When the installation asks the issuer again.
    pub next_check_date: Option<Date>,
    /// From when administrators are warned.
    pub admin_warning_date: Option<Date>,
    /// The vendor's choice for installations that reach the issuer: without
    /// a signed statement from the issuer this many days old or newer, the
    /// license counts as expired (and then past grace after the license's
    /// own grace length). Left out of the signed bytes when unset, so older
    /// licenses verify unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_offline_days: Option<u32>,
    /// The vendor's product: its login licenses, site license, metered
    /// services and texts. Absent from the signed bytes in a license of the
    /// first format, which means the CRM's rules ([`Product::crm`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
}

impl Owner {
    /// The product this owner's license describes, or the CRM's.
    pub fn product(&self) -> &Product {
        Product::of(self.product.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_info_keeps_unknown_keys_in_order() {
        let e = ExtraInfo::parse("color=blue;set=user,web,chat-cal;x-new=1,2").unwrap();
        assert_eq!(e.set().unwrap().to_string(), "user,web,chat-cal");
        assert_eq!(
            e.other().collect::<Vec<_>>(),
            vec![("color", "blue"), ("x-new", "1,2")]
        );
        assert_eq!(e.to_string(), "color=blue;set=user,web,chat-cal;x-new=1,2");
    }

    #[test]
    fn extra_info_rejects_junk() {
        for bad in [
            "set=",
            "set=User",
            "set=a,,b",
            "noequals",
            "set=a;set=b",
            "=v",
            "set=a,a",
            "K=v",
        ] {
            assert!(ExtraInfo::parse(bad).is_err(), "{bad}");
        }
        assert!(ExtraInfo::parse("").unwrap().is_empty());
    }

    #[test]
    fn codes_round_trip() {
        for t in [ModuleType::System, ModuleType::Site, ModuleType::User] {
            assert_eq!(ModuleType::from_code(t.code()).unwrap(), t);
        }
        for f in [ExtraFlags::None, ExtraFlags::Plan, ExtraFlags::Marker] {
            assert_eq!(ExtraFlags::from_code(f.code()).unwrap(), f);
        }
        assert!(ModuleType::from_code(4).is_err());
    }
}

/// The global dates of one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerDates {
    /// The owner's name: a check may name the owner it asks about.
    pub name: String,
    pub expiration: Option<Date>,
    pub grace_to: Option<Date>,
    pub admin_warning_date: Option<Date>,
}

impl OwnerDates {
    /// After the grace period (or after expiration when there is none).
    pub fn is_past_grace(&self, today: Date) -> bool {
        match (self.expiration, self.grace_to) {
            (_, Some(g)) => today > g,
            (Some(e), None) => today > e,
            (None, None) => false,
        }
    }

    pub(crate) fn in_grace(&self, today: Date) -> bool {
        self.expiration.is_some_and(|e| today > e) && !self.is_past_grace(today)
    }

    pub(crate) fn warn_admins(&self, today: Date) -> bool {
        self.admin_warning_date.is_some_and(|w| today >= w)
    }
}
