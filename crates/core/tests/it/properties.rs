use lisens_core::{
    DeploymentType, ExtraFlags, ExtraInfo, LicenseContent, LicenseCount, ModuleLicense, ModuleName,
    ModuleSet, ModuleType, Owner, OwnerName, SerialNumber, VerifiedLicense,
};
use proptest::prelude::*;
use time::macros::datetime;

fn module_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,20}"
}

proptest! {
    #[test]
    fn set_parsing_round_trips(names in proptest::collection::hash_set(module_name(), 1..12)) {
        let names: Vec<String> = names.into_iter().collect();
        let text = names.join(",");
        let set = ModuleSet::parse(&text).unwrap();
        prop_assert_eq!(set.to_string(), text);
        prop_assert_eq!(set.len(), names.len());
        let info = ExtraInfo::parse(&format!("set={}", set)).unwrap();
        prop_assert_eq!(info.set(), Some(&set));
    }

    #[test]
    fn extra_info_parse_never_panics_and_round_trips_when_accepted(s in "\\PC{0,60}") {
        if let Ok(info) = ExtraInfo::parse(&s) {
            prop_assert_eq!(info.to_string(), s);
        }
    }

    #[test]
    fn format_round_trips(
        counts in proptest::collection::vec(1u32..10_000, 1..25),
        hidden in proptest::collection::vec(any::<bool>(), 25),
        company in "[\\PC]{1,40}",
        version in 1u32..1000,
    ) {
        let modules: Vec<ModuleLicense> = counts.iter().enumerate().map(|(i, c)| ModuleLicense {
            name: ModuleName::parse(&format!("m{i}-cal")).unwrap(),
            description: format!("Module \"{i}\" ✓"),
            version: 1,
            tooltip: String::new(),
            module_type: if i % 3 == 0 { ModuleType::System } else { ModuleType::User },
            count: LicenseCount::new(*c).unwrap(),
            extra_flags: ExtraFlags::None,
            extra_info: ExtraInfo::default(),
            sort_order: (i as u32 + 1) * 10,
            hidden: hidden[i],
            unrestricted: false,
            prerequisite: None,
        }).collect();
        let owner = Owner {
            name: OwnerName::parse("Vendor").unwrap(),
            description: String::new(),
            company_name: company,
            serial: SerialNumber::parse("P-1").unwrap(),
            deployment_type: DeploymentType::Satellite,
            license_version: version,
            license_url: String::new(),
            issued_at: datetime!(2026-01-02 03:04:05 UTC),
            expiration: None,
            grace_to: None,
            maintenance_to: None,
            next_check_date: None,
            admin_warning_date: None,
            max_offline_days: None,
            product: None,
        };
        let content = LicenseContent::new(owner, modules).unwrap();
        let k = crate::key(3);
        let v = VerifiedLicense::verify(&content.sign(&k), &[k.public().clone()]).unwrap();
        prop_assert_eq!(&*v, &content);
    }
}

mod assignment {
    use std::collections::{BTreeMap, BTreeSet};

    use lisens_core::assign::{apply, plan_change, required_links, Change, Facts, Holdings, ModuleFacts};
    use lisens_core::{ModuleName, ModuleType};
    use proptest::prelude::*;

    fn n(s: &str) -> ModuleName {
        ModuleName::parse(s).unwrap()
    }

    const MODULES: [&str; 7] = [
        "user",
        "web",
        "chat-cal",
        "app",
        "essentials",
        "premium",
        "server",
    ];

    fn facts(counts: &[u32]) -> Facts {
        let mut f = Facts::new();
        for (i, name) in MODULES.iter().enumerate() {
            let (plan_set, prerequisite, module_type) = match *name {
                "web" | "app" => (None, Some(n("user")), ModuleType::User),
                "essentials" => (Some(vec![n("user"), n("web")]), None, ModuleType::User),
                "premium" => (
                    Some(vec![n("user"), n("web"), n("chat-cal")]),
                    None,
                    ModuleType::User,
                ),
                "server" => (None, None, ModuleType::System),
                _ => (None, None, ModuleType::User),
            };
            f.insert(
                n(name),
                ModuleFacts {
                    module_type,
                    count: counts[i],
                    in_use: 0,
                    valid: true,
                    plan_set,
                    prerequisite,
                },
            );
        }
        f
    }

    proptest! {
        #[test]
        fn random_changes_never_overcommit_and_links_follow_plans(
            counts in proptest::collection::vec(1u32..5, MODULES.len()),
            ops in proptest::collection::vec((0usize..6, 0usize..MODULES.len(), any::<bool>()), 1..80),
        ) {
            let mut f = facts(&counts);
            let mut users: Vec<Holdings> = vec![BTreeMap::new(); 6];
            for (user, module, assign) in ops {
                let m = n(MODULES[module]);
                let change = if assign { Change::Assign(m) } else { Change::Unassign(m) };
                let before = users[user].clone();
                match plan_change(&f, &users[user], &change) {
                    Ok(plan) => {
                        apply(&mut users[user], &plan);
                        for (added, _) in &plan.add { f.get_mut(added).unwrap().in_use += 1; }
                        for removed in &plan.remove { f.get_mut(removed).unwrap().in_use -= 1; }
                    }
                    Err(_) => prop_assert_eq!(&users[user], &before, "a refused change changes nothing"),
                }
                for (name, facts) in &f {
                    let holders = users.iter().filter(|h| h.contains_key(name)).count() as u32;
                    prop_assert_eq!(holders, facts.in_use);
                    prop_assert!(holders <= facts.count, "{} has {} holders, count {}", name, holders, facts.count);
                }
                for held in &users {
                    let direct: BTreeSet<ModuleName> = held.iter().filter(|(_, d)| **d).map(|(m, _)| m.clone()).collect();
                    let links: BTreeSet<ModuleName> = held.keys().cloned().collect();
                    prop_assert_eq!(&links, &required_links(&f, &direct), "links = direct + plan sets");
                    for m in &links {
                        if let Some(p) = &f[m].prerequisite {
                            prop_assert!(links.contains(p), "{} held without {}", m, p);
                        }
                    }
                }
            }
        }
    }
}

mod metering {
    use lisens_core::metering::{overage, Micros, Policy};
    use lisens_core::ServiceKey;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn threshold_grows_with_users_and_overage_is_never_negative(
            base in 0u64..1u64 << 40, per_user in 0u64..1u64 << 20, users in 0u64..100_000,
            usage in 0u64..1u64 << 50, unit in 1u64..1_000_000, price in 0i128..10_000_000,
        ) {
            let p = Policy { service: ServiceKey::parse("chat_sessions").unwrap(), base, per_user, unit_size: unit, unit_price: Some(Micros(price)), currency: Some("EUR".into()) };
            let t = p.threshold(users);
            prop_assert!(p.threshold(users + 1) >= t);
            prop_assert_eq!(t, base + per_user * users);
            let o = overage(usage, t);
            prop_assert_eq!(o, usage.saturating_sub(t));
            prop_assert!(o == 0 || usage > t);
            let cost = p.price(o).unwrap();
            prop_assert!(cost.0 >= 0);
            prop_assert_eq!(cost.0 == 0, o == 0 || price == 0);
        }
    }
}
