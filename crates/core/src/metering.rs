//! Metered services: billed monthly above a threshold that grows with the
//! number of users. The product names its services (key, unit, names; see
//! [`crate::product`]); a customer's policy is part of the signed license: a
//! hidden system row `metered-<service>` whose extraInfo holds
//! `base=N;per_user=N[;unit_size=N;unit_price=D;currency=XYZ]`, so a hand
//! edit breaks it like any row.
//!
//! threshold = base + per_user x billable users; overage = max(0, usage -
//! threshold); price = ceil(overage / unit_size) x unit_price.

use std::fmt;

use time::{Date, OffsetDateTime, UtcOffset};

use crate::codes;
use crate::error::ParseError;
use crate::model::{ModuleLicense, ModuleType};
use crate::names::Month;
use crate::product::{Product, ServiceKey, Unit};

/// An amount of money in millionths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Micros(pub i128);

impl Micros {
    /// Parses a non-negative decimal with at most six fraction digits.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("unit_price", format!("{s:?} is not a price like 0.25"));
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || frac.len() > 6
            || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i128 = whole.parse().map_err(|_| bad())?;
        let frac: i128 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
        Ok(Micros(whole * 1_000_000 + frac))
    }
}

impl fmt::Display for Micros {
    /// Two decimals, rounded half up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = (self.0 + 5_000) / 10_000;
        write!(f, "{}.{:02}", cents / 100, cents % 100)
    }
}

/// One service's policy from the signed license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub service: ServiceKey,
    pub base: u64,
    pub per_user: u64,
    pub unit_size: u64,
    pub unit_price: Option<Micros>,
    pub currency: Option<String>,
}

impl Policy {
    /// The policy a `metered-<service>` row carries for one of the
    /// product's services; None for other rows.
    pub fn from_module(m: &ModuleLicense, product: &Product) -> Option<Result<Policy, ParseError>> {
        let service = product
            .services
            .iter()
            .find(|s| s.key.module_name() == m.name.as_str())?;
        Some(Self::parse(service.key.clone(), m))
    }

    fn parse(service: ServiceKey, m: &ModuleLicense) -> Result<Policy, ParseError> {
        if m.module_type != ModuleType::System {
            return Err(ParseError::new(
                "metering policy",
                format!("{} must be a system license", m.name),
            ));
        }
        let get = |k: &str| m.extra_info.other().find(|(key, _)| *key == k).map(|(_, v)| v);
        let number = |k: &str, default: Option<u64>| -> Result<u64, ParseError> {
            match get(k) {
                Some(v) => v
                    .parse()
                    .map_err(|_| ParseError::new("metering policy", format!("{k}={v:?} is not a count"))),
                None => default
                    .ok_or_else(|| ParseError::new("metering policy", format!("{} lacks {k}=", m.name))),
            }
        };
        let unit_size = number("unit_size", Some(1))?;
        if unit_size == 0 {
            return Err(ParseError::new("metering policy", "unit_size must be at least 1"));
        }
        let unit_price = get("unit_price").map(Micros::parse).transpose()?;
        let currency = get("currency").map(str::to_owned);
        if unit_price.is_some() != currency.is_some() {
            return Err(ParseError::new(
                "metering policy",
                "unit_price and currency go together",
            ));
        }
        Ok(Policy {
            service,
            base: number("base", None)?,
            per_user: number("per_user", Some(0))?,
            unit_size,
            unit_price,
            currency,
        })
    }

    /// What is included for this many billable users.
    pub fn threshold(&self, billable_users: u64) -> u64 {
        self.base
            .saturating_add(self.per_user.saturating_mul(billable_users))
    }

    /// The price of an overage, when the license prices it.
    pub fn price(&self, overage: u64) -> Option<Micros> {
        let units = overage.div_ceil(self.unit_size);
        self.unit_price.map(|p| Micros(p.0 * i128::from(units)))
    }
}

pub fn overage(usage: u64, threshold: u64) -> u64 {
    usage.saturating_sub(threshold)
}

/// Usage as a share of the threshold, in percent (nothing included: any
/// use is 100 %).
pub fn percent(usage: u64, threshold: u64) -> u64 {
    usage
        .saturating_mul(100)
        .checked_div(threshold)
        .unwrap_or(if usage > 0 { 100 } else { 0 })
}

/// The billable users of a month: the highest count of active users
/// recorded in it, and in the month still running at least those active
/// now (`active_now`).
pub fn billable_users(recorded_max: Option<i64>, active_now: Option<i64>) -> u64 {
    let n = recorded_max.unwrap_or(0).max(active_now.unwrap_or(0)).max(0);
    u64::try_from(n).unwrap_or(0)
}

/// One service in a month's report.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceUsage {
    pub service: String,
    /// `count` or `bytes`.
    pub unit: String,
    pub usage: u64,
    pub threshold: Option<u64>,
    pub overage: u64,
    /// Of the overage, when the license prices it (two decimals).
    pub price: Option<String>,
    pub currency: Option<String>,
    /// Usage as a share of the threshold, in percent.
    pub percent: Option<u64>,
    pub projected: u64,
}

/// A month's usage against the signed policies.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub month: String,
    pub billable_users: u64,
    pub services: Vec<ServiceUsage>,
}

/// The report of `month` for each of the product's services from its totals
/// and the policies in the verified license: threshold for the billable
/// users, overage, price, percent, and the projection at `now`.
pub fn report(
    month: &Month,
    billable_users: u64,
    totals: &std::collections::HashMap<String, u64>,
    policies: &std::collections::HashMap<ServiceKey, Policy>,
    product: &Product,
    now: OffsetDateTime,
    zone: &Zone,
) -> UsageReport {
    let services = product
        .services
        .iter()
        .map(|s| {
            let usage = totals.get(s.key.as_str()).copied().unwrap_or(0);
            let policy = policies.get(&s.key);
            let threshold = policy.map(|p| p.threshold(billable_users));
            let over = threshold.map_or(0, |t| overage(usage, t));
            ServiceUsage {
                service: s.key.to_string(),
                unit: match s.unit {
                    Unit::Count => "count".into(),
                    Unit::Bytes => "bytes".into(),
                },
                usage,
                threshold,
                overage: over,
                price: policy.and_then(|p| p.price(over)).map(|m| m.to_string()),
                currency: policy.and_then(|p| p.currency.clone()),
                percent: threshold.map(|t| percent(usage, t)),
                projected: project(s.gauge, usage, month, now, zone),
            }
        })
        .collect();
    UsageReport {
        month: month.to_string(),
        billable_users,
        services,
    }
}

/// The installation's time zone, in which metering months begin and end:
/// `UTC` (the default), a fixed offset like `+01:00`, or an IANA name like
/// `Europe/Oslo` (daylight saving time included; the time zone database is
/// built into the binary).
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: String,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    pub fn utc() -> Self {
        Zone {
            tz: jiff::tz::TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// `UTC`, `Z`, `+HH:MM` / `-HH:MM`, or an IANA time zone name.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() || s == "UTC" || s == "Z" {
            return Ok(Self::utc());
        }
        let bad = || {
            ParseError::new(
                "time zone",
                format!("{s:?}: use UTC, an offset like +01:00 or a name like Europe/Oslo"),
            )
        };
        if s.starts_with(['+', '-']) {
            let offset = UtcOffset::parse(
                s,
                time::macros::format_description!("[offset_hour]:[offset_minute]"),
            )
            .map_err(|_| bad())?;
            // Real time zones are within UTC-12:00 to UTC+14:00.
            if offset.whole_seconds().abs() > 14 * 3600 {
                return Err(bad());
            }
            let offset = jiff::tz::Offset::from_seconds(offset.whole_seconds()).map_err(|_| bad())?;
            return Ok(Zone {
                tz: jiff::tz::TimeZone::fixed(offset),
                name: s.to_owned(),
            });
        }
        let tz = jiff::tz::TimeZone::get(s).map_err(|_| bad())?;
        Ok(Zone {
            tz,
            name: s.to_owned(),
        })
    }

    /// As configured (`UTC`, `+01:00`, `Europe/Oslo`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local date and time (to the second) of an instant in this zone;
    /// outside jiff's range, UTC's.
    pub fn local(&self, t: OffsetDateTime) -> time::PrimitiveDateTime {
        let local = jiff::Timestamp::from_second(t.unix_timestamp())
            .map(|ts| self.tz.to_datetime(ts))
            .ok()
            .and_then(|d| {
                let time = time::Time::from_hms(
                    u8::try_from(d.hour()).ok()?,
                    u8::try_from(d.minute()).ok()?,
                    u8::try_from(d.second()).ok()?,
                )
                .ok()?;
                Some(time::PrimitiveDateTime::new(self.date_of(t), time))
            });
        local.unwrap_or_else(|| {
            let utc = t.to_offset(UtcOffset::UTC);
            time::PrimitiveDateTime::new(utc.date(), utc.time())
        })
    }

    /// The local calendar date of an instant in this zone.
    pub fn date_of(&self, t: OffsetDateTime) -> Date {
        let local = jiff::Timestamp::from_second(t.unix_timestamp())
            .map(|ts| self.tz.to_datetime(ts))
            .ok()
            .and_then(|d| {
                let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
                Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
            });
        // Outside jiff's range (beyond year 9999): the UTC date.
        local.unwrap_or_else(|| t.to_offset(UtcOffset::UTC).date())
    }
}

/// The calendar month (YYYY-MM) of a time in the installation's time zone.
pub fn month_of(t: OffsetDateTime, zone: &Zone) -> Month {
    Month::from_date(zone.date_of(t))
}

/// How far in the future an event may say it happened (clock skew).
pub const FUTURE_SLACK_MINUTES: i64 = 5;

/// A usage event that passed every check, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEvent {
    pub id: String,
    pub service: ServiceKey,
    /// The service keeps its highest reading rather than a sum.
    pub gauge: bool,
    pub quantity: i64,
    /// RFC 3339 in UTC.
    pub occurred_at: String,
    /// The calendar month (YYYY-MM) in the installation's time zone.
    pub month: Month,
}

/// What a usage event is checked against.
#[derive(Debug, Clone, Copy)]
pub struct EventRules<'a> {
    pub now: OffsetDateTime,
    /// When the installation was made: no event is older.
    pub installed: OffsetDateTime,
    pub zone: &'a Zone,
    /// The primary owner's product: its services are the ones metered.
    pub product: &'a Product,
}

/// Why one usage event is refused: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub code: &'static str,
    pub detail: String,
}

/// Checks one reported usage event: an id of 1 to 200 printable
/// characters, a service of the product, a non-negative integer quantity, an RFC 3339
/// time neither more than `FUTURE_SLACK_MINUTES` ahead of `now` nor before
/// the installation existed (a day's slack).
pub fn check_event(
    id: &str,
    service: &str,
    quantity: &serde_json::Value,
    occurred_at: &str,
    rules: &EventRules<'_>,
) -> Result<CheckedEvent, EventError> {
    let EventRules {
        now,
        installed,
        zone,
        product,
    } = *rules;
    let fail = |code: &'static str, detail: String| Err(EventError { code, detail });
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return fail(
            codes::EVENT_ID_INVALID,
            "id: 1 to 200 printable characters".into(),
        );
    }
    let Some(def) = product.service(service) else {
        let known: Vec<&str> = product.services.iter().map(|s| s.key.as_str()).collect();
        return fail(
            codes::SERVICE_UNKNOWN,
            format!(
                "unknown service {service:?}; {} meters: {}",
                product.name,
                known.join(", ")
            ),
        );
    };
    let Some(quantity) = quantity.as_i64().filter(|q| *q >= 0) else {
        return fail(
            codes::QUANTITY_INVALID,
            format!("quantity {quantity} is not a non-negative integer"),
        );
    };
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let Ok(at) = OffsetDateTime::parse(occurred_at, rfc3339) else {
        return fail(
            codes::TIME_INVALID,
            format!("occurred_at {occurred_at:?} is not RFC 3339"),
        );
    };
    if at > now + time::Duration::minutes(FUTURE_SLACK_MINUTES) {
        return fail(codes::TIME_IN_FUTURE, format!("{occurred_at} is in the future"));
    }
    if at < installed - time::Duration::days(1) {
        return fail(
            codes::TIME_BEFORE_INSTALLATION,
            format!("{occurred_at} is before this installation existed"),
        );
    }
    let Ok(occurred_at) = at.to_offset(UtcOffset::UTC).format(rfc3339) else {
        return fail(
            codes::TIME_INVALID,
            format!("occurred_at {occurred_at:?} cannot be written in UTC"),
        );
    };
    Ok(CheckedEvent {
        id: id.to_owned(),
        service: def.key.clone(),
        gauge: def.gauge,
        quantity,
        month: month_of(at, zone),
        occurred_at,
    })
}

/// A projection of a month's final value from what it has so far: counters
/// grow at their average daily rate; a gauge stays at its highest reading.
pub fn project(gauge: bool, usage: u64, month: &Month, now: OffsetDateTime, zone: &Zone) -> u64 {
    let first = month.first_day();
    let local = zone.date_of(now);
    if gauge || month_of(now, zone) != *month {
        return usage;
    }
    let days = time::util::days_in_month(first.month(), first.year());
    let elapsed = u64::from(local.day());
    usage.saturating_mul(u64::from(days)) / elapsed.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_follow_the_installation_time_zone() {
        let zone = |s: &str| Zone::parse(s).unwrap();
        let t = datetime!(2026-11-30 23:30 UTC);
        assert_eq!(month_of(t, &Zone::utc()), "2026-11");
        assert_eq!(month_of(t, &zone("+01:00")), "2026-12");
        assert_eq!(
            month_of(datetime!(2027-01-01 00:30 UTC), &zone("-02:00")),
            "2026-12"
        );
        // Oslo is UTC+1 in winter and UTC+2 in summer: 22:30 UTC on 31 March
        // is already April there, which no fixed +01:00 gets right.
        let oslo = zone("Europe/Oslo");
        assert_eq!(month_of(datetime!(2026-03-31 22:30 UTC), &oslo), "2026-04");
        assert_eq!(
            month_of(datetime!(2026-03-31 22:30 UTC), &zone("+01:00")),
            "2026-03"
        );
        assert_eq!(month_of(datetime!(2026-01-31 22:30 UTC), &oslo), "2026-01");
        assert_eq!(month_of(datetime!(2026-01-31 23:30 UTC), &oslo), "2026-02");
        assert_eq!(
            month_of(datetime!(2026-12-01 04:59 UTC), &zone("America/New_York")),
            "2026-11"
        );
        assert!(Zone::parse("Mars/Olympus").is_err() && Zone::parse("+25:00").is_err());
        assert_eq!(oslo.name(), "Europe/Oslo");
        let m = |s: &str| Month::parse(s);
        assert_eq!(m("2027-01").unwrap().previous().unwrap(), "2026-12");
        assert!(
            m("2026-13").is_err() && m("26-01").is_err() && m("2026-1x").is_err() && m("+026-01").is_err()
        );
    }

    #[test]
    fn prices_are_exact_decimals() {
        assert_eq!(Micros::parse("0.25").unwrap(), Micros(250_000));
        assert_eq!(Micros::parse("12").unwrap().to_string(), "12.00");
        assert!(
            Micros::parse("-1").is_err()
                && Micros::parse("0.1234567").is_err()
                && Micros::parse("1e3").is_err()
        );
        let p = Policy {
            service: ServiceKey::parse("storage").unwrap(),
            base: 100,
            per_user: 10,
            unit_size: 50,
            unit_price: Some(Micros(2_000_000)),
            currency: Some("EUR".into()),
        };
        assert_eq!(p.threshold(3), 130);
        assert_eq!(
            p.price(overage(181, p.threshold(3))),
            Some(Micros(4_000_000)),
            "51 over -> 2 units of 50"
        );
    }

    #[test]
    fn projection_scales_counters_not_gauges() {
        let now = datetime!(2026-11-10 12:00 UTC);
        assert_eq!(
            project(false, 100, &Month::parse("2026-11").unwrap(), now, &Zone::utc()),
            300
        );
        assert_eq!(
            project(true, 100, &Month::parse("2026-11").unwrap(), now, &Zone::utc()),
            100
        );
        assert_eq!(
            project(false, 100, &Month::parse("2026-10").unwrap(), now, &Zone::utc()),
            100,
            "a past month is final"
        );
    }
}
