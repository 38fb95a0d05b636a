//! Replays every seed and every input a fuzzer ever found a crash with
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the fuzz
//! targets' own checks, so a fixed crash stays fixed without running a
//! fuzzer.

#[path = "../../../../fuzz/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/{target}")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|f| f == "README.md") {
                continue;
            }
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn every_seed_and_every_crash_found_passes_the_fuzz_checks() {
    assert!(replay("license_file", checks::license_file) >= 1);
    assert!(replay("license_spec", checks::license_spec) >= 2);
    assert!(replay("fields", checks::fields) >= 8);
    assert!(replay("metering_batch", checks::metering_batch) >= 2);
    assert!(replay("scim_request", checks::scim_request) >= 3);
    assert!(replay("csv_import", checks::csv_import) >= 2);
}

#[test]
fn the_seed_license_verifies_so_the_fuzzer_reaches_the_verified_path() {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/seeds/license_file/seed.lic"
    ))
    .unwrap();
    lisens_core::VerifiedLicense::verify(&seed, &[checks::key().public().clone()]).unwrap();
}

#[test]
fn the_scim_and_csv_seeds_are_accepted_so_the_fuzzer_starts_from_valid_input() {
    let seed =
        |p: &str| std::fs::read(format!("{}/../../fuzz/seeds/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let patch = lisens_core::scim::parse_object(&seed("scim_request/patch.json")).unwrap();
    let f = lisens_core::scim::patch(&patch, &["marketing".into()]).unwrap();
    assert_eq!(f.entitlements.unwrap(), ["crm", "sales"]);
    let filter = String::from_utf8(seed("scim_request/filter.txt")).unwrap();
    assert_eq!(lisens_core::scim::parse_filter(&filter).unwrap(), "al\"iceå");
    let users = String::from_utf8(seed("csv_import/users.csv")).unwrap();
    assert_eq!(lisens_core::import::parse_users(&users).unwrap().len(), 2);
    let usage = String::from_utf8(seed("csv_import/usage.csv")).unwrap();
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let installed = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000);
    let zone = lisens_core::metering::Zone::parse("Europe/Oslo").unwrap();
    let rows: Result<Vec<_>, _> = lisens_core::import::usage_rows(
        &usage,
        lisens_core::metering::EventRules {
            now,
            installed,
            zone: &zone,
            product: lisens_core::Product::crm(),
        },
    )
    .collect();
    assert_eq!(rows.unwrap().len(), 2);
}
