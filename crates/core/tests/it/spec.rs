use lisens_core::{spec::parse_spec, ExtraFlags, ModuleType};
use time::macros::datetime;

use crate::{demo_content, SMALL_SPEC};

fn parse(text: &str) -> Result<lisens_core::LicenseContent, lisens_core::LicenseError> {
    parse_spec(text, datetime!(2026-11-25 08:00 UTC))
}

#[test]
fn demo_spec_mirrors_the_vendor_product() {
    let c = demo_content();
    let plans: Vec<_> = c
        .modules()
        .iter()
        .filter(|m| m.is_plan())
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(plans.len(), 6, "{plans:?}");
    let find = |n: &str| c.modules().iter().find(|m| m.name.as_str() == n).unwrap();
    assert!(find("user").hidden && find("web").hidden && find("saint").hidden);
    assert_eq!(find("web").prerequisite.as_ref().unwrap().as_str(), "user");
    assert_eq!(find("satellite").module_type, ModuleType::Site);
    assert_eq!(find("server").module_type, ModuleType::System);
    assert_eq!(find("server").count.get(), 1);
    assert_eq!(find("sales-essentials").extra_flags, ExtraFlags::Plan);
    assert!(find("sales-essentials")
        .extra_info
        .set()
        .unwrap()
        .iter()
        .any(|m| m.as_str() == "web"));
}

#[test]
fn spec_errors_name_the_problem() {
    let cases = [
        (
            SMALL_SPEC.replace(
                "count = 2\nhidden = true\n\n[[module]]\nname = \"web\"",
                "count = 0\nhidden = true\n\n[[module]]\nname = \"web\"",
            ),
            "at least 1",
        ),
        (
            SMALL_SPEC.replace("prerequisite = \"user\"", "prerequisite = \"nope\""),
            "prerequisite nope",
        ),
        (
            SMALL_SPEC.replace("set = [\"user\", \"web\"]", "set = [\"user\", \"chat-cal\"]"),
            "chat-cal",
        ),
        (
            SMALL_SPEC.replace(
                "hidden = true\nprerequisite",
                "hidden = true\ncolour = 1\nprerequisite",
            ),
            "colour",
        ),
        (
            SMALL_SPEC.replace("name = \"web\"", "name = \"Web Client\""),
            "module name",
        ),
        (
            SMALL_SPEC.replace("name = \"web\"", "name = \"user\""),
            "listed twice",
        ),
        (
            SMALL_SPEC.replace("serial = \"S-1\"", "serial = \"S 1\""),
            "serial",
        ),
        (
            format!("{SMALL_SPEC}\n[[module]]\nname = \"x\"\ntype = \"user\"\n"),
            "needs a count",
        ),
        (
            SMALL_SPEC.replace(
                "license_version = 3",
                "license_version = 3\nexpiration = 2027-01-01\ngrace_to = 2026-01-01",
            ),
            "grace_to",
        ),
    ];
    for (text, needle) in cases {
        let err = parse(&text).expect_err(needle);
        assert_eq!(
            err.code(),
            match err {
                lisens_core::LicenseError::InvalidSpec(_) => "LICENSE_SPEC_INVALID",
                _ => unreachable!("spec errors are InvalidSpec: {err}"),
            }
        );
        assert!(err.to_string().contains(needle), "{err} should mention {needle}");
    }
}

#[test]
fn unknown_extra_info_keys_are_kept_through_signing() {
    let text = SMALL_SPEC.replace(
        "set = [\"user\", \"web\"]",
        "set = [\"user\", \"web\"]\nextra_info = \"vendor-tier=gold\"",
    );
    let c = parse(&text).unwrap();
    let plan = c.modules().iter().find(|m| m.is_plan()).unwrap();
    assert_eq!(plan.extra_info.to_string(), "set=user,web;vendor-tier=gold");
    let k = crate::key(1);
    let v = lisens_core::VerifiedLicense::verify(&c.sign(&k), &[k.public().clone()]).unwrap();
    let plan = v.modules().iter().find(|m| m.is_plan()).unwrap();
    assert_eq!(
        plan.extra_info.other().collect::<Vec<_>>(),
        vec![("vendor-tier", "gold")]
    );
}
