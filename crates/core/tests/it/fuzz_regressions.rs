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
