use std::collections::BTreeMap;

use lisens_core::activation::{decide, diff, Decision};
use lisens_core::{spec::parse_spec, LicenseContent, ModuleName};
use time::macros::{date, datetime};

use crate::SMALL_SPEC;

fn content(spec: &str) -> LicenseContent {
    parse_spec(spec, datetime!(2026-11-25 08:00 UTC)).unwrap()
}

fn n(s: &str) -> ModuleName {
    ModuleName::parse(s).unwrap()
}

fn v(spec: &str, version: u32) -> String {
    spec.replace("license_version = 3", &format!("license_version = {version}"))
}

const TODAY: time::Date = date!(2026 - 11 - 25);

#[test]
fn the_diff_lists_only_changed_modules_with_the_vendor_numbers() {
    let cur = content(SMALL_SPEC);
    let new = content(&v(SMALL_SPEC, 4).replace("count = 2\nextra_flags", "count = 5\nextra_flags"));
    let in_use = BTreeMap::from([(n("basic"), 2), (n("user"), 2)]);
    let d = diff(cur.modules(), &in_use, &new);
    assert_eq!(d.changes.len(), 1, "{d:?}");
    let c = &d.changes[0];
    assert_eq!(
        (
            c.name.as_str(),
            c.in_use,
            c.total,
            c.added,
            c.new_total,
            c.new_free
        ),
        ("basic", 2, 2, 3, 5, 3)
    );
    assert!(!c.below_in_use);
}

#[test]
fn raising_counts_applies_lowering_below_in_use_waits_for_an_administrator() {
    let cur = content(SMALL_SPEC);
    let in_use = BTreeMap::from([(n("basic"), 2), (n("user"), 2), (n("web"), 2)]);
    let more = content(&v(SMALL_SPEC, 4).replace("count = 2\nextra_flags", "count = 9\nextra_flags"));
    assert!(matches!(
        decide(cur.owner(), cur.modules(), &in_use, &more, TODAY),
        Ok(Decision::Apply(_))
    ));
    let fewer = content(&v(SMALL_SPEC, 4).replace("count = 2\nextra_flags", "count = 1\nextra_flags"));
    match decide(cur.owner(), cur.modules(), &in_use, &fewer, TODAY) {
        Ok(Decision::Pending(d)) => {
            assert_eq!(d.blocking(), vec![&n("basic")]);
            assert_eq!(d.changes[0].new_free, -1);
        }
        other => panic!("{other:?}"),
    }
    let unused = BTreeMap::new();
    assert!(matches!(
        decide(cur.owner(), cur.modules(), &unused, &fewer, TODAY),
        Ok(Decision::Apply(_))
    ));
}

#[test]
fn replays_other_serials_and_expired_licenses_are_refused() {
    let cur = content(&v(SMALL_SPEC, 5));
    let none = BTreeMap::new();
    let code = |spec: &str| {
        decide(cur.owner(), cur.modules(), &none, &content(spec), TODAY)
            .unwrap_err()
            .code()
    };
    assert_eq!(code(&v(SMALL_SPEC, 4)), "LICENSE_VERSION_OLDER");
    assert_eq!(
        code(&v(SMALL_SPEC, 6).replace("S-1", "S-2")),
        "LICENSE_SERIAL_MISMATCH"
    );
    assert_eq!(
        code(&v(SMALL_SPEC, 6).replace("\"Acme\"", "\"Other\"")),
        "LICENSE_OWNER_MISMATCH"
    );
    assert_eq!(
        code(&v(SMALL_SPEC, 6).replace(
            "license_version = 6",
            "license_version = 6\nexpiration = 2025-01-01"
        )),
        "LICENSE_EXPIRED"
    );
    assert_eq!(
        code(&v(SMALL_SPEC, 5).replace("count = 2\nextra_flags", "count = 7\nextra_flags")),
        "LICENSE_VERSION_REUSED"
    );
    let same = content(&v(SMALL_SPEC, 5));
    assert_eq!(
        decide(cur.owner(), cur.modules(), &none, &same, TODAY),
        Ok(Decision::Unchanged)
    );
}

#[test]
fn a_dropped_module_in_use_blocks() {
    let cur = content(SMALL_SPEC);
    let text = v(SMALL_SPEC, 4);
    let dropped = text[..text.find("[[module]]\nname = \"basic\"").unwrap()].to_owned();
    let in_use = BTreeMap::from([(n("basic"), 1)]);
    match decide(cur.owner(), cur.modules(), &in_use, &content(&dropped), TODAY).unwrap() {
        Decision::Pending(d) => {
            let c = &d.changes[0];
            assert_eq!(
                (c.name.as_str(), c.new_total, c.new_free, c.below_in_use),
                ("basic", 0, -1, true)
            );
        }
        other => panic!("{other:?}"),
    }
}

fn row(
    id: i64,
    name: &str,
    version: i64,
    in_use: i64,
    plan_set: Option<&str>,
) -> lisens_core::activation::StoredRow {
    lisens_core::activation::StoredRow {
        id,
        name: name.into(),
        version,
        in_use,
        plan_set: plan_set.map(str::to_owned),
    }
}

#[test]
fn a_new_license_rewrites_the_rows_of_the_same_name_and_drops_the_rest() {
    use lisens_core::activation::plan_apply;
    let new = content(&v(SMALL_SPEC, 4));
    // user, web, basic are stored (ids 1-3) plus a module the new license drops.
    let stored = [
        row(1, "user", 1, 2, None),
        row(2, "web", 1, 2, None),
        row(3, "basic", 1, 2, Some("set=user,web")),
        row(4, "old-addon", 1, 0, None),
    ];
    let plan = plan_apply(&stored, new.modules()).unwrap();
    assert_eq!(plan.rows, vec![Some(1), Some(2), Some(3)]);
    assert_eq!(plan.dropped, vec![4]);
    assert!(plan.changed_plans.is_empty(), "{plan:?}");

    // The plan now grants only user: its holders' links follow.
    let narrower = content(&v(SMALL_SPEC, 4).replace("set = [\"user\", \"web\"]", "set = [\"user\"]"));
    let plan = plan_apply(&stored, narrower.modules()).unwrap();
    assert_eq!(plan.changed_plans, vec![n("basic")]);

    // The count rule: more holders than the new count, or holders of a
    // dropped module, refuse it, naming each.
    let fewer = content(&v(SMALL_SPEC, 4).replace("count = 2\nextra_flags", "count = 1\nextra_flags"));
    let mut held = stored.clone();
    held[3].in_use = 1;
    assert_eq!(
        plan_apply(&held, fewer.modules()).unwrap_err(),
        vec![
            "basic (2 in use, 1 licensed)".to_owned(),
            "old-addon (1 in use, dropped)".to_owned()
        ]
    );
}

#[test]
fn links_follow_a_plans_new_set_and_the_count_rule_is_one_function() {
    use lisens_core::assign::{over_count, relink, Holdings};
    let held: Holdings = [
        (n("basic"), true),
        (n("user"), false),
        (n("web"), false),
        (n("extra"), true),
    ]
    .into_iter()
    .collect();
    let sets = BTreeMap::from([(n("basic"), vec![n("user"), n("chat")])]);
    let change = relink(&held, &sets);
    assert_eq!(change.add, vec![(n("chat"), false)]);
    assert_eq!(change.remove, vec![n("web")], "directly held modules stay");
    assert!(!over_count(2, 2) && over_count(3, 2) && over_count(1, 0));
}
