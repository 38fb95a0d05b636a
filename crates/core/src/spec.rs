//! The license spec: the TOML file in which a vendor writes down what a
//! customer bought (see `examples/demo-license.toml`). Parsing it yields a
//! [`LicenseContent`] ready to be signed.

use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::document::LicenseContent;
use crate::error::LicenseError;
use crate::model::{DeploymentType, ExtraFlags, ExtraInfo, ModuleLicense, ModuleSet, ModuleType, Owner};
use crate::names::{LicenseCount, ModuleName, OwnerName, SerialNumber};
use crate::product::{Product, METERED_PREFIX};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    owner: OwnerSpec,
    /// The vendor's product; none: the CRM's rules (a license of the first
    /// format).
    product: Option<Product>,
    #[serde(default, rename = "module")]
    modules: Vec<ModuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerSpec {
    name: OwnerName,
    #[serde(default)]
    description: String,
    company_name: String,
    serial: SerialNumber,
    #[serde(default)]
    deployment_type: DeploymentType,
    license_version: u32,
    #[serde(default)]
    license_url: String,
    expiration: Option<toml::value::Datetime>,
    grace_to: Option<toml::value::Datetime>,
    maintenance_to: Option<toml::value::Datetime>,
    next_check_date: Option<toml::value::Datetime>,
    admin_warning_date: Option<toml::value::Datetime>,
    max_offline_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleSpec {
    name: ModuleName,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    version: u32,
    #[serde(default)]
    tooltip: String,
    #[serde(rename = "type")]
    module_type: ModuleType,
    count: Option<LicenseCount>,
    #[serde(default)]
    extra_flags: ExtraFlags,
    /// Convenience for `extra_info = "set=..."`.
    set: Option<Vec<ModuleName>>,
    #[serde(default)]
    extra_info: ExtraInfo,
    sort_order: Option<u32>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    unrestricted: bool,
    prerequisite: Option<ModuleName>,
}

fn one() -> u32 {
    1
}

/// Parses a spec and checks it is a valid license. `issued_at` is the time
/// the issuer signs it (truncated to whole seconds, UTC).
pub fn parse_spec(text: &str, issued_at: OffsetDateTime) -> Result<LicenseContent, LicenseError> {
    let spec: SpecFile =
        toml::from_str(text).map_err(|e| LicenseError::InvalidSpec(e.message().to_owned()))?;
    let o = spec.owner;
    let date = |d: Option<toml::value::Datetime>, field: &str| -> Result<Option<Date>, LicenseError> {
        d.map(|d| toml_date(d, field)).transpose()
    };
    let owner = Owner {
        name: o.name,
        description: o.description,
        company_name: o.company_name,
        serial: o.serial,
        deployment_type: o.deployment_type,
        license_version: o.license_version,
        license_url: o.license_url,
        issued_at: issued_at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .expect("0 is a valid nanosecond"),
        expiration: date(o.expiration, "expiration")?,
        grace_to: date(o.grace_to, "grace_to")?,
        maintenance_to: date(o.maintenance_to, "maintenance_to")?,
        next_check_date: date(o.next_check_date, "next_check_date")?,
        admin_warning_date: date(o.admin_warning_date, "admin_warning_date")?,
        max_offline_days: o.max_offline_days,
        product: spec.product,
    };
    if owner.max_offline_days == Some(0) {
        return Err(LicenseError::InvalidSpec(
            "max_offline_days must be at least 1".into(),
        ));
    }
    if !(owner.license_url.is_empty()
        || owner.license_url.starts_with("https://")
        || owner.license_url.starts_with("http://"))
    {
        return Err(LicenseError::InvalidSpec(
            "license_url must be an http(s) URL".into(),
        ));
    }
    let mut modules = Vec::with_capacity(spec.modules.len());
    let mut next_sort = 10;
    for m in spec.modules {
        let mut extra_info = m.extra_info;
        if let Some(set) = m.set {
            if extra_info.set().is_some() {
                return Err(LicenseError::InvalidSpec(format!(
                    "{}: give set or extra_info set=, not both",
                    m.name
                )));
            }
            let joined = set.iter().map(ModuleName::as_str).collect::<Vec<_>>().join(",");
            let set = ModuleSet::parse(&joined)
                .map_err(|e| LicenseError::InvalidSpec(format!("{}: {e}", m.name)))?;
            let mut text = format!("set={set}");
            if !extra_info.is_empty() {
                text = format!("{text};{extra_info}");
            }
            extra_info = ExtraInfo::parse(&text).map_err(|e| LicenseError::InvalidSpec(e.to_string()))?;
        }
        let count = match (m.module_type, m.count) {
            (_, Some(c)) => c,
            (ModuleType::System, None) => LicenseCount::ONE,
            (_, None) => {
                return Err(LicenseError::InvalidSpec(format!(
                    "{}: a {} license needs a count",
                    m.name,
                    m.module_type.as_str()
                )))
            }
        };
        let sort_order = m.sort_order.unwrap_or(next_sort);
        next_sort = sort_order.saturating_add(10);
        modules.push(ModuleLicense {
            name: m.name,
            description: m.description,
            version: m.version,
            tooltip: m.tooltip,
            module_type: m.module_type,
            count,
            extra_flags: m.extra_flags,
            extra_info,
            sort_order,
            hidden: m.hidden,
            unrestricted: m.unrestricted,
            prerequisite: m.prerequisite,
        });
    }
    // A metering row must be one of the product's services and its policy
    // must read; a license of the first format keeps verifying with rows
    // the CRM does not meter, but the issuer no longer signs new ones.
    let product = owner.product();
    for m in &modules {
        if !m.name.as_str().starts_with(METERED_PREFIX) {
            continue;
        }
        match crate::metering::Policy::from_module(m, product) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(LicenseError::InvalidSpec(format!("{}: {e}", m.name))),
            None => {
                return Err(LicenseError::InvalidSpec(format!(
                    "{} is a metering row, but {} has no service {}; add it to [[product.services]]",
                    m.name,
                    product.name,
                    m.name.as_str()[METERED_PREFIX.len()..].replace('-', "_")
                )))
            }
        }
    }
    LicenseContent::new(owner, modules)
}

fn toml_date(d: toml::value::Datetime, field: &str) -> Result<Date, LicenseError> {
    match (d.date, d.time, d.offset) {
        (Some(date), None, None) => {
            let month = time::Month::try_from(date.month)
                .map_err(|_| LicenseError::InvalidSpec(format!("{field}: bad month")))?;
            Date::from_calendar_date(i32::from(date.year), month, date.day)
                .map_err(|e| LicenseError::InvalidSpec(format!("{field}: {e}")))
        }
        _ => Err(LicenseError::InvalidSpec(format!(
            "{field} must be a plain date like 2027-12-31"
        ))),
    }
}

/// What an issuer should not sign without being told to (`--force`): a
/// license that has already expired on `today`, and a plan with more
/// licenses than a module it grants (its holders beyond that module's count
/// could not be given the plan). One sentence per finding.
pub fn issue_warnings(content: &LicenseContent, today: Date) -> Vec<String> {
    let mut out = Vec::new();
    let owner = content.owner();
    if let Some(exp) = owner.expiration.filter(|e| *e < today) {
        out.push(format!(
            "the license expired on {exp}, before today ({today}): give a later --expiration"
        ));
    }
    // Per plan: one person may hold several plans that grant the same
    // module and still needs one of it, so plans' counts do not add up.
    let modules = content.modules();
    for plan in modules.iter().filter(|m| m.is_plan()) {
        for name in plan.extra_info.set().into_iter().flat_map(|s| s.iter()) {
            let Some(granted) = modules.iter().find(|m| &m.name == name) else {
                continue;
            };
            if plan.count > granted.count {
                out.push(format!(
                    "the plan {} ({}) grants {name}, of which the license has {}: at most {} of its holders can be given it",
                    plan.name,
                    plan.count.get(),
                    granted.count.get(),
                    granted.count.get()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod warnings {
    use super::*;

    #[test]
    fn expired_licenses_and_plans_beyond_their_modules_are_named() {
        let acme = include_str!("../../../examples/acme-books.toml");
        let today = time::macros::date!(2026 - 11 - 30);
        let ok = parse_spec(acme, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(issue_warnings(&ok, today).is_empty());
        let demo = parse_spec(
            include_str!("../../../examples/demo-license.toml"),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert!(
            issue_warnings(&demo, today).is_empty(),
            "{:?}",
            issue_warnings(&demo, today)
        );
        let more = acme.replacen(
            "count = 5\nextra_flags = \"plan\"",
            "count = 30\nextra_flags = \"plan\"",
            1,
        );
        let w = issue_warnings(&parse_spec(&more, OffsetDateTime::UNIX_EPOCH).unwrap(), today);
        assert!(
            w.iter()
                .any(|w| w.contains("the plan books-pro (30) grants payroll, of which the license has 5")),
            "{w:?}"
        );
        let w = issue_warnings(&ok, time::macros::date!(2029 - 01 - 01));
        assert!(w[0].contains("expired on 2028-12-31"), "{w:?}");
    }
}
