//! The trust model's rules (see `docs/trust-model.md`): what an installation
//! grants from what is stored, whatever the customer did to the database.
//!
//! Each rule is decided here once and applied by the store when it builds the
//! access view, the status and the CLI's check:
//! - [`standing_links`]: counts and prerequisites hold at read time. Of a
//!   module row's links only the first `count` by link id stand (ids are
//!   handed out by the database in insertion order and never reused), and a
//!   link whose prerequisite the same user does not hold (through a standing
//!   link of the same owner) stands for nothing.
//! - [`rollback`]: a stored license older than one already activated is a
//!   restored copy of old rows.
//! - [`clock_set_back`]: a clock behind the latest time the installation has
//!   seen, beyond [`CLOCK_TOLERANCE`], counts as expired past grace.
//! - [`demo_allowed`]: the demo allowance is only for an installation that
//!   never held a license.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::{Duration, OffsetDateTime};

use crate::model::ModuleType;
use crate::names::ModuleName;

/// How far the clock may fall behind the latest time seen before it counts
/// as set back: covers clocks of several servers that differ a little, and
/// an administrator correcting a clock that ran ahead by a few hours.
pub const CLOCK_TOLERANCE: Duration = Duration::hours(24);

/// One stored module row, as far as holding it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    pub id: i64,
    /// Index of the owner in the installation's owner list.
    pub owner: usize,
    pub name: ModuleName,
    pub module_type: ModuleType,
    /// The signed count; 0 when the row or its owner did not verify.
    pub count: u32,
    pub prerequisite: Option<ModuleName>,
}

/// One stored assignment link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLink {
    pub id: i64,
    pub user: i64,
    pub row: i64,
}

/// What the stored links amount to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The ids of the links that grant.
    pub links: HashSet<i64>,
    /// Rows with more links than their count: row id -> (links, count).
    pub over_count: BTreeMap<i64, (u64, u32)>,
    /// Links that stand for nothing because the user lacks the row's
    /// prerequisite (after counts are applied).
    pub without_prerequisite: Vec<i64>,
}

/// Decides which stored links of user-license rows grant. Links to rows that
/// are not user licenses, or to rows not listed, stand for nothing.
pub fn standing_links(rows: &[HeldRow], links: &[StoredLink]) -> Standing {
    let by_id: HashMap<i64, &HeldRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut ordered: Vec<&StoredLink> = links
        .iter()
        .filter(|l| {
            by_id
                .get(&l.row)
                .is_some_and(|r| r.module_type == ModuleType::User)
        })
        .collect();
    ordered.sort_unstable_by_key(|l| l.id);

    // Counts: the first `count` links of each row, by link id.
    let mut taken: HashMap<i64, u64> = HashMap::new();
    let mut out = Standing::default();
    let mut standing: Vec<&StoredLink> = Vec::with_capacity(ordered.len());
    for l in ordered {
        let row = by_id[&l.row];
        let n = taken.entry(row.id).or_insert(0);
        *n += 1;
        if *n <= u64::from(row.count) {
            standing.push(l);
        }
    }
    for (row, n) in &taken {
        let count = by_id[row].count;
        if excess(*n as i64, i64::from(count)) > 0 {
            out.over_count.insert(*row, (*n, count));
        }
    }

    // Prerequisites: drop links whose user holds no standing link to the
    // prerequisite (same owner), until nothing changes (web needs user, and
    // a dropped user takes web with it).
    loop {
        let held: HashSet<(i64, usize, &ModuleName)> = standing
            .iter()
            .map(|l| {
                let r = by_id[&l.row];
                (l.user, r.owner, &r.name)
            })
            .collect();
        let before = standing.len();
        let mut dropped = Vec::new();
        standing.retain(|l| {
            let r = by_id[&l.row];
            let ok = r
                .prerequisite
                .as_ref()
                .is_none_or(|p| held.contains(&(l.user, r.owner, p)));
            if !ok {
                dropped.push(l.id);
            }
            ok
        });
        out.without_prerequisite.extend(dropped);
        if standing.len() == before {
            break;
        }
    }
    out.without_prerequisite.sort_unstable();
    out.links = standing.iter().map(|l| l.id).collect();
    out
}

/// Holders beyond a row's licensed count. A row that did not verify (count
/// 0) has no excess: it grants nothing to anyone.
pub fn excess(holders: i64, count: i64) -> i64 {
    if count > 0 {
        (holders - count).max(0)
    } else {
        0
    }
}

/// Why a stored owner counts as a restored copy of an older license: its
/// version is below the highest version this installation has activated.
pub fn rollback(stored_version: u32, highest_activated: Option<u32>) -> Option<String> {
    match highest_activated {
        Some(high) if stored_version < high => Some(format!(
            "license version {stored_version} is stored, but version {high} was already activated here: \
             old rows were restored"
        )),
        _ => None,
    }
}

/// The dates an owner's license keeps when it carries `max_offline_days`:
/// counted from the issuer's latest signed statement (or, before the first
/// one, from when the license was issued), the license expires that many days
/// later, and is past grace after the license's own grace length (0 days
/// when it has none). The earlier of these and the signed dates count.
pub fn offline_dates(
    dates: &crate::model::OwnerDates,
    issued_at: OffsetDateTime,
    last_statement: Option<OffsetDateTime>,
    max_offline_days: Option<u32>,
) -> crate::model::OwnerDates {
    let Some(days) = max_offline_days else {
        return dates.clone();
    };
    let heard = last_statement.map_or(issued_at, |s| s.max(issued_at));
    let deadline = (heard + Duration::days(i64::from(days))).date();
    let grace = match (dates.expiration, dates.grace_to) {
        (Some(e), Some(g)) => g - e,
        _ => Duration::ZERO,
    };
    let earlier = |a: Option<time::Date>, b: time::Date| Some(a.map_or(b, |a| a.min(b)));
    let expiration = earlier(dates.expiration, deadline);
    let grace_to = match (dates.expiration, dates.grace_to) {
        // No grace before: none after.
        (Some(_), None) => expiration,
        _ => earlier(dates.grace_to, deadline + grace),
    };
    crate::model::OwnerDates {
        name: dates.name.clone(),
        expiration,
        grace_to,
        admin_warning_date: dates.admin_warning_date,
    }
}

/// Whether `now` is behind the latest time seen by more than the tolerance.
pub fn clock_set_back(now: OffsetDateTime, latest_seen: Option<OffsetDateTime>) -> bool {
    latest_seen.is_some_and(|seen| now < seen - CLOCK_TOLERANCE)
}

/// The demo allowance is for a new installation only: once a license was
/// held, removing it gives no allowance back.
pub fn demo_allowed(owners_stored: usize, ever_licensed: bool) -> bool {
    owners_stored == 0 && !ever_licensed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> ModuleName {
        ModuleName::parse(s).unwrap()
    }

    fn row(id: i64, owner: usize, name: &str, count: u32, pre: Option<&str>) -> HeldRow {
        HeldRow {
            id,
            owner,
            name: n(name),
            module_type: ModuleType::User,
            count,
            prerequisite: pre.map(n),
        }
    }

    fn link(id: i64, user: i64, row: i64) -> StoredLink {
        StoredLink { id, user, row }
    }

    #[test]
    fn only_the_first_links_by_id_stand_up_to_the_count() {
        let rows = [row(1, 0, "user", 1, None)];
        let s = standing_links(&rows, &[link(7, 3, 1), link(5, 2, 1), link(9, 4, 1)]);
        assert_eq!(s.links, [5].into());
        assert_eq!(s.over_count, [(1, (3, 1))].into());
    }

    #[test]
    fn a_link_without_its_prerequisite_grants_nothing_and_takes_its_dependants() {
        let rows = [
            row(1, 0, "user", 1, None),
            row(2, 0, "web", 5, Some("user")),
            row(3, 0, "chat-cal", 5, Some("web")),
        ];
        // User 10 holds user (first), user 11 holds only web and chat-cal by
        // hand; user 12 holds user too, but past the count.
        let links = [
            link(1, 10, 1),
            link(2, 10, 2),
            link(3, 11, 2),
            link(4, 11, 3),
            link(5, 12, 1),
            link(6, 12, 2),
        ];
        let s = standing_links(&rows, &links);
        assert_eq!(s.links, [1, 2].into());
        assert_eq!(s.without_prerequisite, vec![3, 4, 6]);
    }

    #[test]
    fn a_prerequisite_counts_only_within_the_same_owner() {
        let rows = [row(1, 1, "user", 5, None), row(2, 0, "web", 5, Some("user"))];
        let s = standing_links(&rows, &[link(1, 10, 1), link(2, 10, 2)]);
        assert_eq!(s.links, [1].into());
    }

    #[test]
    fn an_invalid_row_grants_nothing_and_is_not_reported_as_over_count() {
        let rows = [row(1, 0, "user", 0, None)];
        let s = standing_links(&rows, &[link(1, 10, 1)]);
        assert!(s.links.is_empty());
        assert!(s.over_count.is_empty());
    }

    #[test]
    fn an_installation_that_does_not_hear_from_its_issuer_expires_then_goes_read_only() {
        use crate::model::OwnerDates;
        use time::macros::{date, datetime};
        let signed = OwnerDates {
            name: "Vendor".into(),
            expiration: Some(date!(2027 - 12 - 31)),
            grace_to: Some(date!(2028 - 01 - 30)),
            admin_warning_date: None,
        };
        let issued = datetime!(2026-11-01 00:00 UTC);
        assert_eq!(offline_dates(&signed, issued, None, None), signed);
        let d = offline_dates(&signed, issued, Some(datetime!(2026-11-29 10:00 UTC)), Some(10));
        assert_eq!(d.expiration, Some(date!(2026 - 12 - 09)));
        assert_eq!(
            d.grace_to,
            Some(date!(2027 - 01 - 08)),
            "the license's 30 days of grace"
        );
        assert!(!d.is_past_grace(date!(2026 - 12 - 09)));
        assert!(d.is_past_grace(date!(2027 - 01 - 09)));
        // Never heard from it: counted from issue. A statement older than
        // the license counts as the license.
        let d = offline_dates(&signed, issued, Some(datetime!(2026-01-01 00:00 UTC)), Some(10));
        assert_eq!(d.expiration, Some(date!(2026 - 11 - 11)));
        // The signed dates still win when earlier.
        let d = offline_dates(&signed, issued, Some(datetime!(2027-12-30 00:00 UTC)), Some(10));
        assert_eq!((d.expiration, d.grace_to), (signed.expiration, signed.grace_to));
        // A license without dates and without grace.
        let none = OwnerDates::default();
        let d = offline_dates(&none, issued, None, Some(3));
        assert_eq!(
            (d.expiration, d.grace_to),
            (Some(date!(2026 - 11 - 04)), Some(date!(2026 - 11 - 04)))
        );
    }

    #[test]
    fn rollback_and_clock_rules() {
        assert!(rollback(3, Some(4)).is_some());
        assert!(rollback(4, Some(4)).is_none());
        assert!(rollback(1, None).is_none());
        let seen = time::macros::datetime!(2026-11-29 12:00 UTC);
        assert!(!clock_set_back(seen - Duration::hours(23), Some(seen)));
        assert!(clock_set_back(seen - Duration::hours(25), Some(seen)));
        assert!(!clock_set_back(seen, None));
        assert!(demo_allowed(0, false));
        assert!(!demo_allowed(0, true));
        assert!(!demo_allowed(1, false));
    }
}
