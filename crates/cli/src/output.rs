//! What the commands print: short summaries, tables for people, JSON for programs.

use lisens_core::activation::LicenseDiff;
use lisens_core::codes;
use lisens_core::{ModuleLicense, UnverifiedLicense, VerifiedLicense};
use lisens_store::{
    Associate, Customer, HistoryEntry, Holder, LicenseEvent, LicenseReport, PendingLicense, Received, Site,
};
use serde_json::json;

pub fn summary(license: &VerifiedLicense) -> String {
    let o = license.owner();
    format!(
        "license v{} of {} ({}) for {} (serial {}), {} modules, signed by key {}",
        o.license_version,
        o.name,
        o.product().name,
        o.company_name,
        o.serial,
        license.modules().len(),
        license.key_id()
    )
}

fn module_json(m: &ModuleLicense) -> serde_json::Value {
    json!({
        "name": m.name.as_str(),
        "description": m.description,
        "version": m.version,
        "type": m.module_type.as_str(),
        "count": m.count.get(),
        "plan": m.is_plan(),
        "set": m.extra_info.set().map(|s| s.iter().map(|n| n.as_str()).collect::<Vec<_>>()),
        "extra_info": m.extra_info.to_string(),
        "sort_order": m.sort_order,
        "hidden": m.hidden,
        "unrestricted": m.unrestricted,
        "prerequisite": m.prerequisite.as_ref().map(|p| p.as_str()),
    })
}

/// `verified`: None when no key was given, Some(Err(code)) when it failed.
pub fn inspect(license: &UnverifiedLicense, verified: Option<Result<(), &str>>, as_json: bool) {
    let o = &license.record.owner;
    if as_json {
        let v = json!({
            "verified": verified.map(|r| r.is_ok()),
            "error": verified.and_then(|r| r.err()),
            "key_id": license.record.key_id.as_str(),
            "owner": o,
            "modules": license.modules.iter().map(module_json).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("JSON values serialise")
        );
        return;
    }
    let verdict = match verified {
        None => "NOT VERIFIED (give --public-key to check the signatures)".to_owned(),
        Some(Ok(())) => "verified".to_owned(),
        Some(Err(code)) => format!("INVALID ({code})"),
    };
    println!("license v{} of {} ({verdict})", o.license_version, o.name);
    println!("  company     {}", o.company_name);
    println!("  serial      {} ({})", o.serial, o.deployment_type.as_str());
    println!("  key id      {}", license.record.key_id);
    println!("  issued      {}", o.issued_at);
    for (label, d) in [
        ("expires", o.expiration),
        ("grace to", o.grace_to),
        ("maintenance", o.maintenance_to),
        ("next check", o.next_check_date),
        ("warn from", o.admin_warning_date),
    ] {
        if let Some(d) = d {
            println!("  {label:<11} {d}");
        }
    }
    println!(
        "  {:<24} {:<7} {:>6}  {:<5} {:<6} set / prerequisite",
        "MODULE", "TYPE", "COUNT", "PLAN", "HIDDEN"
    );
    for m in &license.modules {
        let extra = match (m.extra_info.set(), &m.prerequisite) {
            (Some(s), _) => format!("set={s}"),
            (None, Some(p)) => format!("needs {p}"),
            _ => String::new(),
        };
        println!(
            "  {:<24} {:<7} {:>6}  {:<5} {:<6} {extra}",
            m.name.as_str(),
            m.module_type.as_str(),
            m.count.get(),
            yes(m.is_plan()),
            yes(m.hidden)
        );
    }
}

pub fn status(report: &LicenseReport, as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("status serialises")
        );
        return;
    }
    let status = &report.status;
    if let Some(demo) = &status.demo {
        println!(
            "DEMO installation: no license loaded. The first {} users may log in until {}.",
            demo.max_users, demo.until
        );
        println!(
            "Register with `lisens license register` or load a license file with `lisens license load`."
        );
    }
    if !status.owners.is_empty() {
        let u = &status.users;
        println!(
            "users: {} may log in, {} plans assigned, {} active users holding a plan",
            u.licensed_logins, u.plans_in_use, u.active_users
        );
    }
    for o in &status.owners {
        println!(
            "{} ({}) - {}, serial {} ({}), license v{}{}",
            o.owner_name,
            o.product_name,
            o.company_name,
            o.serial,
            o.deployment_type,
            o.license_version,
            if o.valid {
                String::new()
            } else {
                format!("  INVALID: {}", o.problem.as_deref().unwrap_or(""))
            }
        );
        if let Some(exp) = &o.expiration {
            println!(
                "  expires {exp}{}",
                o.grace_to
                    .as_ref()
                    .map(|g| format!(", grace to {g}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "  {:<24} {:<7} {:<5} {:<6} {:>6} {:>7} {:>9}  VALID",
            "MODULE", "TYPE", "PLAN", "HIDDEN", "TOTAL", "IN USE", "AVAILABLE"
        );
        for m in &o.modules {
            println!(
                "  {:<24} {:<7} {:<5} {:<6} {:>6} {:>7} {:>9}  {}",
                m.name,
                m.module_type,
                yes(m.plan),
                yes(m.hidden),
                m.total,
                m.in_use,
                m.available,
                if !m.valid {
                    format!("NO: {}", m.problem.as_deref().unwrap_or(""))
                } else if m.excess > 0 {
                    format!(
                        "yes, but {} over the licensed count: only the first {} holders count",
                        m.excess, m.total
                    )
                } else {
                    "yes".to_owned()
                }
            );
        }
    }
    for p in &report.pending {
        println!(
            "PENDING: {} license v{} (from {}, {}) waits for an administrator: \
             `lisens license pending` shows what it changes, `lisens license activate --owner {}` activates it",
            p.owner_name, p.license_version, p.source, p.received_at, p.owner_name
        );
    }
    if status.clock_set_back {
        println!(
            "CLOCK SET BACK: the clock is behind {}, the latest time this installation has seen; \
             the license counts as expired (read-only) until the clock is right",
            status.latest_seen.as_deref().unwrap_or("?")
        );
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "-"
    }
}

pub fn users(users: &[Associate], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(users).expect("users serialise")
        );
        return;
    }
    println!(
        "{:<24} {:<30} {:<6} {:<6} {:<5}",
        "LOGIN", "NAME", "ACTIVE", "LOGIN", "ADMIN"
    );
    for u in users {
        println!(
            "{:<24} {:<30} {:<6} {:<6} {:<5}",
            u.login_name,
            u.full_name,
            yes(*u.active),
            yes(*u.login_rights),
            yes(*u.is_admin)
        );
    }
}

pub fn sites(sites: &[Site], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(sites).expect("sites serialise")
        );
        return;
    }
    println!("{:<24} {:<10} FEATURES", "SITE", "KIND");
    for s in sites {
        println!("{:<24} {:<10} {}", s.name, s.kind, s.modules.join(", "));
    }
}

pub fn diff(diff: &LicenseDiff) {
    if diff.changes.is_empty() {
        println!("  (no module changed)");
        return;
    }
    println!(
        "  {:<24} {:>7} {:>6} {:>6} {:>9} {:>8}",
        "MODULE", "IN USE", "TOTAL", "ADDED", "NEW TOTAL", "NEW FREE"
    );
    for c in &diff.changes {
        println!(
            "  {:<24} {:>7} {:>6} {:>+6} {:>9} {:>8}{}",
            c.name.as_str(),
            c.in_use,
            c.total,
            c.added,
            c.new_total,
            c.new_free,
            if c.below_in_use {
                "  BELOW IN USE: remove excess licenses first"
            } else {
                ""
            }
        );
    }
}

pub fn received(received: &Received, license: &VerifiedLicense) {
    received_as(received, &summary(license));
}

/// What became of a license (`what`: its summary, or "the license"), as a
/// sentence, and its changes.
fn received_as(received: &Received, what: &str) {
    match received {
        Received::Loaded => println!("loaded {what}"),
        Received::Unchanged => println!("unchanged: {what} is already active"),
        Received::Activated { diff: d } => {
            println!("New license activated: {what}");
            diff(d);
        }
        Received::Pending { diff: d } => {
            println!(
                "Activate new license: {what} is pending; an administrator must activate it \
                 (`lisens license pending`, `lisens license activate`)"
            );
            diff(d);
        }
    }
}

pub fn pending(pending: &[PendingLicense], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(pending).expect("pending serialises")
        );
        return;
    }
    if pending.is_empty() {
        println!("no license is pending");
    }
    for p in pending {
        println!(
            "{}: license v{} from {} received {}",
            p.owner_name, p.license_version, p.source, p.received_at
        );
        diff(&p.diff);
        if !p.blocking.is_empty() {
            println!(
                "  Activate is refused until excess licenses are removed from: {}",
                p.blocking.join(", ")
            );
        }
    }
}

pub fn holders(holders: &[Holder], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(holders).expect("holders serialise")
        );
        return;
    }
    for h in holders {
        println!(
            "{:<24} {:<30} {}",
            h.login_name,
            h.full_name,
            if h.direct { "direct" } else { "through a plan" }
        );
    }
}

pub fn history(events: &[LicenseEvent], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(events).expect("events serialise")
        );
        return;
    }
    for e in events {
        println!(
            "{} {:<15} {:<12} v{} -> v{} by {}{} {}",
            e.at,
            e.kind,
            e.owner_name,
            e.from_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            e.to_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            e.actor,
            if *e.automatic { " (automatic)" } else { "" },
            e.code.as_deref().unwrap_or("")
        );
    }
}

pub fn customers(customers: &[Customer], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(customers).expect("customers serialise")
        );
        return;
    }
    println!("{:<20} {:<30} {:>8}  UPDATED", "SERIAL", "COMPANY", "VERSION");
    for c in customers {
        println!(
            "{:<20} {:<30} {:>8}  {}",
            c.serial_number, c.company_name, c.license_version, c.updated_at
        );
    }
}

pub fn customer(c: &Customer, history: &[HistoryEntry], as_json: bool) {
    if as_json {
        let v = json!({"customer": c, "history": history});
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("customer serialises")
        );
        return;
    }
    println!(
        "{} ({}), license v{}, contact {}",
        c.serial_number, c.company_name, c.license_version, c.contact
    );
    if let Some(m) = &c.message {
        println!("message: {m} {}", c.message_url.as_deref().unwrap_or(""));
    }
    for h in history {
        println!("  {} {:<14} {}", h.at, h.actor, h.what);
    }
}

pub fn events(events: &[lisens_store::SystemEvent], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(events).expect("events serialise")
        );
        return;
    }
    println!(
        "{:>5} {:<22} {:<9} {:<9} {:<21} {:<12} MESSAGE",
        "ID", "EVENT", "STATUS", "SCOPE", "ACTIVATED", "BY"
    );
    for e in events {
        println!(
            "{:>5} {:<22} {:<9} {:<9} {:<21} {:<12} {}{}",
            e.id,
            e.key,
            e.status,
            e.scope,
            e.activated_at,
            e.activated_by,
            e.message,
            e.progress.map(|p| format!(" ({p}%)")).unwrap_or_default()
        );
    }
}

pub fn usage(r: &lisens_store::metering::UsageReport, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(r).expect("reports serialise"));
        return;
    }
    println!("{}: {} billable users", r.month, r.billable_users);
    println!(
        "  {:<24} {:>14} {:>14} {:>12} {:>14} {:>14}",
        "SERVICE",
        codes::USAGE,
        "THRESHOLD",
        "OVERAGE",
        "PRICE",
        "PROJECTED"
    );
    for s in &r.services {
        println!(
            "  {:<24} {:>14} {:>14} {:>12} {:>14} {:>14}",
            s.service,
            s.usage,
            s.threshold.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            s.overage,
            s.price
                .as_ref()
                .map(|p| format!("{p} {}", s.currency.clone().unwrap_or_default()))
                .unwrap_or_default(),
            s.projected
        );
    }
}

/// What a new spec changes in a customer's license, one line per change.
pub fn spec_change(current: &VerifiedLicense, next: &lisens_core::LicenseContent) {
    let (old, new) = (current.owner(), next.owner());
    println!(
        "{}: license v{} -> v{}",
        new.serial, old.license_version, new.license_version
    );
    let diff = lisens_core::activation::diff(current.modules(), &Default::default(), next);
    for c in &diff.changes {
        let line = match (c.total, c.new_total) {
            (0, n) => format!("added, {n}"),
            (t, 0) => format!("removed (was {t})"),
            (t, n) if t == n => "changed (same count)".to_owned(),
            (t, n) => format!("{t} -> {n}"),
        };
        println!("  {:<24} {line}", c.name);
    }
    let date = |d: Option<time::Date>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
    for (field, a, b) in [
        ("expiration", old.expiration, new.expiration),
        ("grace_to", old.grace_to, new.grace_to),
        ("maintenance_to", old.maintenance_to, new.maintenance_to),
        ("next_check_date", old.next_check_date, new.next_check_date),
        (
            "admin_warning_date",
            old.admin_warning_date,
            new.admin_warning_date,
        ),
    ] {
        if a != b {
            println!("  {field:<24} {} -> {}", date(a), date(b));
        }
    }
    if old.product != new.product {
        println!(
            "  {:<24} {} -> {} (its rules or words change)",
            "product",
            old.product().name,
            new.product().name
        );
    }
    if diff.changes.is_empty() && old.expiration == new.expiration && old.product == new.product {
        println!("  (no module, date or product changes)");
    }
}

/// What the issuer said to `lisens license check-now`, as sentences.
pub fn check_outcome(o: &lisens_server::issuer_client::CheckOutcome) {
    let said = match o.status.as_str() {
        "Ok" | lisens_server::issuer_client::NOT_MODIFIED => "the issuer has nothing new",
        "NewLicenseAvailable" => "the issuer sent a new license",
        "NewCompanyNameAvailable" => "the issuer sent a new license under a new company name",
        "NewSerialAvailable" => "the issuer has a new serial number for this installation",
        "Message" => "the issuer has a message",
        "ProblemWithLicense" => "the issuer reports a problem with this installation's license",
        other => other,
    };
    println!(
        "{said}{}",
        o.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    );
    if let Some(url) = &o.url {
        println!("  more: {url}");
    }
    if let Some(r) = &o.received {
        taken(r);
    }
}

/// What became of a license the issuer sent, as a sentence (and its changes).
pub fn taken(received: &Received) {
    received_as(received, "the license");
}

/// The latest checks with the issuer, newest first.
pub fn issuer_checks(checks: &[lisens_store::IssuerCheck], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(checks).expect("checks serialise")
        );
        return;
    }
    if checks.is_empty() {
        println!("the issuer has not been asked yet");
    }
    for c in checks {
        let ok = c.ok.0;
        println!(
            "{}  {:<8} {}{}",
            c.at,
            if ok { "answered" } else { "FAILED" },
            c.status,
            if c.message.is_empty() {
                String::new()
            } else {
                format!(": {}", c.message)
            }
        );
    }
}

/// Why a check was denied, as a sentence.
pub fn denial(d: &lisens_core::access::Denial) -> String {
    use lisens_core::access::Denial;
    match d {
        Denial::UnknownUser => "no user of that login".into(),
        Denial::UserInactive => "the user is deactivated".into(),
        Denial::NoLoginRights => "the user has no login rights".into(),
        Denial::MissingLicense(m) => format!("{m} is not licensed for this"),
        Denial::LicenseExpired => "the license has expired".into(),
        Denial::NotUserLicense(m) => format!("{m} is not a user license"),
        Denial::NotSystemLicense(m) => format!("{m} is not a system license"),
        Denial::DemoExpired => "the demo period is over: register the installation or load a license".into(),
        Denial::NoLoginEvent => "a No Login event is active: only administrators may log in".into(),
        Denial::ClockSetBack => "the clock is behind the latest time this installation has seen".into(),
        Denial::UnknownOwner => "no license of that owner is loaded".into(),
    }
}
