//! What every fuzz target checks, shared with the regression replay in
//! `crates/core/tests/it/fuzz_regressions.rs` (which runs every file in
//! `fuzz/seeds/` and `fuzz/regressions/` through the same checks on every
//! `cargo test`). Each parser of outside text must answer with a value or an
//! error, never a panic.

use lisens_core::events::{EventKey, EventScope, EventStatus};
use lisens_core::metering::{check_event, CheckedEvent, EventRules, Micros, Policy, Zone};
use lisens_core::scim;
use lisens_core::spec::parse_spec;
use lisens_core::{
    ExtraInfo, LoginName, ModuleName, OwnerName, SerialNumber, SigningKey, UnverifiedLicense, VerifiedLicense,
};
use time::OffsetDateTime;

/// The key the seed license is signed with.
pub fn key() -> SigningKey {
    SigningKey::from_seed([7; 32])
}

/// License files as installations receive them (upload, issuer, CLI); a
/// document that verifies re-parses to the same rows.
pub fn license_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = UnverifiedLicense::parse(text);
    if let Ok(license) = VerifiedLicense::verify(text, &[key().public().clone()]) {
        let again = UnverifiedLicense::parse(text).expect("a verified document parses");
        assert_eq!(again.modules.len(), license.modules().len());
    }
}

/// License specs (the vendor's TOML) and the extraInfo and metering policies
/// they carry; a spec that parses signs and verifies.
pub fn license_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(content) = parse_spec(text, time::OffsetDateTime::UNIX_EPOCH) else {
        return;
    };
    let document = content.sign(&key());
    let license =
        VerifiedLicense::verify(&document, &[key().public().clone()]).expect("a signed spec verifies");
    for m in license.modules() {
        let _ = Policy::from_module(m, license.owner().product());
    }
}

/// The small parsers: names, extraInfo, time zones, months, prices, event
/// keys, scopes and statuses; parsed values print back to the same value.
pub fn fields(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = ExtraInfo::parse(s) {
        let again = ExtraInfo::parse(&info.to_string()).expect("extraInfo round-trips");
        assert_eq!(again, info);
    }
    if let Ok(m) = ModuleName::parse(s) {
        assert_eq!(ModuleName::parse(m.as_str()).unwrap(), m);
    }
    let _ = LoginName::parse(s);
    let _ = OwnerName::parse(s);
    let _ = SerialNumber::parse(s);
    let _ = Zone::parse(s).map(|z| z.date_of(time::OffsetDateTime::UNIX_EPOCH));
    if let Ok(m) = lisens_core::Month::parse(s) {
        assert_eq!(lisens_core::Month::parse(m.as_str()).unwrap(), m);
        let _ = m.previous();
    }
    if let Ok(n) = lisens_core::SiteName::parse(s) {
        assert_eq!(n.as_str(), s);
    }
    let _ = Micros::parse(s).map(|m| m.to_string());
    if let Ok(k) = lisens_core::ServiceKey::parse(s) {
        assert_eq!(k.as_str(), s);
        assert!(
            ModuleName::parse(&k.module_name()).is_ok(),
            "{k} names a valid row"
        );
    }
    let _ = EventKey::parse_admin(s);
    let _ = EventScope::parse(s);
    let _ = EventStatus::parse(s);
}

/// Metering batches as programs send them (a JSON array of events): each
/// event is accepted in canonical form or refused with a stable code, and an
/// accepted one checks again to the same result.
pub fn metering_batch(data: &[u8]) {
    let Ok(serde_json::Value::Array(events)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let (now, installed, zone) = clock();
    let rules = rules(now, installed, &zone);
    let text = |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    for e in &events {
        let quantity = e.get("quantity").cloned().unwrap_or(serde_json::Value::Null);
        match check_event(
            &text(e, "id"),
            &text(e, "service"),
            &quantity,
            &text(e, "occurred_at"),
            &rules,
        ) {
            Ok(c) => checks_again(&c, &rules),
            Err(err) => assert!(!err.code.is_empty() && !err.detail.is_empty()),
        }
    }
}

/// The fixed "now", installation time and zone the metering checks run with.
fn clock() -> (OffsetDateTime, OffsetDateTime, Zone) {
    (
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000),
        Zone::parse("Europe/Oslo").expect("a zone"),
    )
}

/// The CRM's services, as a license of the first format meters them.
fn rules(now: OffsetDateTime, installed: OffsetDateTime, zone: &Zone) -> EventRules<'_> {
    EventRules {
        now,
        installed,
        zone,
        product: lisens_core::Product::crm(),
    }
}

/// An accepted event is canonical: checking it again gives the same event.
fn checks_again(c: &CheckedEvent, rules: &EventRules<'_>) {
    assert!(c.quantity >= 0 && !c.id.is_empty() && c.occurred_at.ends_with('Z'));
    let again = check_event(
        &c.id,
        c.service.as_str(),
        &c.quantity.into(),
        &c.occurred_at,
        rules,
    )
    .expect("a checked event checks again");
    assert_eq!(&again, c);
}

/// SCIM requests as identity providers send them: the bytes as a filter and
/// as a POST, PUT or PATCH body. A parsed filter value prints back (as a
/// JSON string) to the same value; a refusal is a 400 with a scimType; a
/// patch that touches plans gives them sorted and without repeats.
pub fn scim_request(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(login) = scim::parse_filter(s) {
            let again = format!("userName eq {}", serde_json::to_string(&login).unwrap());
            assert_eq!(
                scim::parse_filter(&again).expect("a printed filter parses"),
                login
            );
        }
    }
    let refused =
        |f: scim::ScimFault| assert!(f.status == 400 && f.scim_type.is_some() && !f.detail.is_empty());
    let body = match scim::parse_object(data) {
        Ok(v) => v,
        Err(f) => return refused(f),
    };
    let _ = scim::user_fields(&body).map_err(refused);
    match scim::replacement(&body, "alice") {
        Ok(f) => assert!(f.active.is_some()),
        Err(f) => refused(f),
    }
    let plans = ["crm".to_owned(), "marketing".to_owned()];
    match scim::patch(&body, &plans) {
        Ok(f) => {
            if let Some(e) = f.entitlements {
                assert!(e.windows(2).all(|w| w[0] < w[1]), "{e:?}");
            }
        }
        Err(f) => refused(f),
    }
}

/// CSV files of the command line's imports, as users and as usage events:
/// accepted users are valid and each once, accepted events are canonical,
/// lines go forward, refusals name a line and a code.
pub fn csv_import(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let refused = |e: lisens_core::import::ImportError| assert!(!e.code.is_empty() && !e.detail.is_empty());
    match lisens_core::import::parse_users(text) {
        Ok(rows) => {
            let mut logins = std::collections::HashSet::new();
            // Lines never go back; records ended by a lone CR share a line
            // number (the csv crate counts LF), so they need not go forward.
            for w in rows.windows(2) {
                assert!(w[0].line <= w[1].line);
            }
            for r in &rows {
                assert_eq!(LoginName::parse(r.login.as_str()).unwrap(), r.login);
                assert!(logins.insert(r.login.clone()), "{} twice", r.login);
                assert!(!r.full_name.is_empty());
            }
        }
        Err(e) => refused(e),
    }
    let (now, installed, zone) = clock();
    let rules = rules(now, installed, &zone);
    let mut last = (0, 0);
    for row in lisens_core::import::usage_rows(text, rules) {
        match row {
            Ok(r) => {
                assert!(r.line >= last.0 && r.end_byte > last.1 && r.end_byte <= text.len() as u64);
                last = (r.line, r.end_byte);
                checks_again(&r.event, &rules);
            }
            Err(e) => refused(e),
        }
    }
}
