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
        };
        let content = LicenseContent::new(owner, modules).unwrap();
        let k = crate::key(3);
        let v = VerifiedLicense::verify(&content.sign(&k), &[k.public().clone()]).unwrap();
        prop_assert_eq!(&*v, &content);
    }
}
