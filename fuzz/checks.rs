//! What every fuzz target checks, shared with the regression replay in
//! `crates/core/tests/it/fuzz_regressions.rs` (which runs every file in
//! `fuzz/seeds/` and `fuzz/regressions/` through the same checks on every
//! `cargo test`). Each parser of outside text must answer with a value or an
//! error, never a panic.

use lisens_core::events::{EventKey, EventScope, EventStatus};
use lisens_core::metering::{check_event, parse_month, Micros, Policy, Service, Zone};
use lisens_core::spec::parse_spec;
use lisens_core::{
    ExtraInfo, LoginName, ModuleName, OwnerName, SerialNumber, SigningKey, UnverifiedLicense, VerifiedLicense,
};

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
        let _ = Policy::from_module(m);
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
    let _ = parse_month(s);
    let _ = Micros::parse(s).map(|m| m.to_string());
    let _ = Service::parse(s);
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
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let installed = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000);
    let zone = Zone::parse("Europe/Oslo").expect("a zone");
    let text = |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    for e in &events {
        let quantity = e.get("quantity").cloned().unwrap_or(serde_json::Value::Null);
        match check_event(
            &text(e, "id"),
            &text(e, "service"),
            &quantity,
            &text(e, "occurred_at"),
            now,
            installed,
            &zone,
        ) {
            Ok(c) => {
                assert!(c.quantity >= 0 && !c.id.is_empty() && c.occurred_at.ends_with('Z'));
                let again = check_event(
                    &c.id,
                    c.service.as_str(),
                    &c.quantity.into(),
                    &c.occurred_at,
                    now,
                    installed,
                    &zone,
                )
                .expect("a checked event checks again");
                assert_eq!(again, c);
            }
            Err(err) => assert!(!err.code.is_empty() && !err.detail.is_empty()),
        }
    }
}
