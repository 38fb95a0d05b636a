//! kill -9 during activation: every restart finds the old license or the new
//! one, wholly, never a mix, and no module above its count.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{ok, p, sqlite_url, DEMO_SPEC};

#[test]
fn a_process_killed_during_activation_leaves_the_old_or_the_new_license() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let lisens = |args: &[&str]| crate::lisens(args, &db);
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)]));
    let base = std::fs::read_to_string(DEMO_SPEC).unwrap();
    let mut files = Vec::new();
    for v in 1..=12u32 {
        // Every version changes many rows, so a torn write would show.
        let spec = base
            .replace("license_version = 1", &format!("license_version = {v}"))
            .replace("count = 53", &format!("count = {}", 50 + v))
            .replace("count = 30", &format!("count = {}", 30 + v))
            .replace("count = 10\nhidden", &format!("count = {}\nhidden", 10 + v));
        let spec_path = d.join(format!("v{v}.toml"));
        std::fs::write(&spec_path, spec).unwrap();
        let lic = d.join(format!("v{v}.lic"));
        crate::issue(&db, &d.join("issuer.key"), &spec_path, &lic);
        files.push(lic);
    }
    ok(&lisens(&[
        "license",
        "load",
        p(&files[0]),
        "--public-key",
        p(&d.join("issuer.pub")),
    ]));
    ok(&lisens(&["user", "add", "anna"]));
    ok(&lisens(&["license", "assign", "anna", "sales-premium"]));

    let (mut kept, mut applied) = (0, 0);
    for (round, lic) in files.iter().enumerate().skip(1) {
        let before: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"]))).unwrap();
        let old = before["owners"][0]["license_version"].as_i64().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
            .args([
                "license",
                "load",
                p(lic),
                "--public-key",
                p(&d.join("issuer.pub")),
            ])
            .env("LISENS_DATABASE_URL", &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round: before, during and after the write.
        std::thread::sleep(Duration::from_millis(2 + (round as u64 * 7) % 40));
        let _ = child.kill();
        let _ = child.wait();

        let after: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"]))).unwrap();
        let owner = &after["owners"][0];
        let version = owner["license_version"].as_i64().unwrap();
        assert!(
            version == old || version == round as i64 + 1,
            "round {round}: v{version} after v{old}"
        );
        assert_eq!(
            owner["valid"], true,
            "round {round}: the row set is whole: {owner}"
        );
        for m in owner["modules"].as_array().unwrap() {
            assert_eq!(m["valid"], true, "round {round}: {m}");
            assert!(m["in_use"].as_i64() <= m["total"].as_i64(), "round {round}: {m}");
        }
        let user = owner["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "user")
            .unwrap();
        assert_eq!(
            user["total"].as_i64().unwrap(),
            50 + version,
            "round {round}: rows match the owner's version"
        );
        if version == old {
            kept += 1;
        } else {
            applied += 1;
        }
        // Finish the round's activation so the next one starts from it.
        ok(&lisens(&[
            "license",
            "load",
            p(lic),
            "--public-key",
            p(&d.join("issuer.pub")),
        ]));
    }
    let check = lisens(&["license", "check", "anna"]);
    assert!(check.status.success(), "anna still holds her plan");
    eprintln!("kill -9 rounds: old license kept {kept} time(s), new one applied {applied} time(s)");
}
