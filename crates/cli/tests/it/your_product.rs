//! `docs/your-product.md` run as written: every command of its `sh` blocks,
//! in order, in an empty directory with `lisens` on the PATH and a copy of
//! `examples/`, each output line shown after `#>` looked for in what the
//! command printed, each `#! CODE` expecting that refusal. A second product
//! licensed end to end, with no CRM module name in what it prints.

use std::path::Path;
use std::process::Command;

const WALK_THROUGH: &str = include_str!("../../../../docs/your-product.md");

/// A command of the walk-through and what it must print or be refused with.
struct Step {
    command: String,
    expect: Vec<String>,
    refused: Option<String>,
}

fn steps(doc: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_sh = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh || line.trim().is_empty() {
            continue;
        }
        if let Some(out) = line.strip_prefix("#> ") {
            steps
                .last_mut()
                .expect("output after a command")
                .expect
                .push(out.into());
        } else if let Some(code) = line.strip_prefix("#! ") {
            steps.last_mut().expect("refusal after a command").refused = Some(code.into());
        } else if !line.starts_with('#') {
            steps.push(Step {
                command: line.into(),
                expect: Vec::new(),
                refused: None,
            });
        }
    }
    steps
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_acme_walk_through_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        &dir.path().join("examples"),
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_lisens")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let steps = steps(WALK_THROUGH);
    assert!(steps.len() > 20, "the walk-through has its commands");
    let mut printed = String::new();
    for step in &steps {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&step.command)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("LISENS_DATABASE_URL", crate::sqlite_url(dir.path()))
            .env_remove("LISENS_PUBLIC_KEY")
            .env("LISENS_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match &step.refused {
            None => assert!(
                out.status.success(),
                "{}\nexit {:?}\n{stdout}\n{stderr}",
                step.command,
                out.status
            ),
            Some(code) => {
                assert_eq!(out.status.code(), Some(1), "{}: {stdout}{stderr}", step.command);
                let said = format!("{stdout}{stderr}");
                assert!(
                    said.contains(code.as_str()),
                    "{}: wanted {code}, got {said}",
                    step.command
                );
            }
        }
        for want in &step.expect {
            assert!(
                stdout.contains(want.as_str()),
                "{}: wanted {want:?} in\n{stdout}",
                step.command
            );
        }
        printed.push_str(&stdout);
        printed.push_str(&stderr);
    }
    // Acme's installation never speaks of the CRM's licenses or services
    // ("satellite" is lisens's own word for a site that is not the central one).
    for crm in ["SuperOffice", "mailing", "storage", " web ", "user+web"] {
        let hits: Vec<&str> = printed.lines().filter(|l| l.contains(crm)).collect();
        let allowed = |l: &&str| l.contains("mailing_emails") && l.contains("SERVICE_UNKNOWN");
        assert!(hits.iter().all(allowed), "{crm:?} printed: {hits:#?}");
    }
    // What the walk-through says the installation holds.
    let status = crate::ok(&crate::lisens(
        &["license", "status", "--json"],
        &crate::sqlite_url(dir.path()),
    ));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["owners"][0]["product_name"], "Acme Books");
    let module = |name: &str| {
        status["owners"][0]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(module("branch-office")["in_use"], 2);
    assert_eq!(
        module("payroll")["in_use"],
        1,
        "the plan holder holds what its plan grants"
    );
    assert_eq!(module("books-pro")["in_use"], 1);
}

/// The vendor keeps Acme's customers in the issuer: adding one needs a
/// spec (no silent CRM license), a module can be added, dates say which
/// other date must move, an expired license or plans beyond their
/// modules are signed only when forced, a replaced spec shows what it
/// changes before it is signed, and the message for the installation is set.
#[test]
fn the_vendor_keeps_acme_customers_in_the_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let issuer_db = format!("sqlite://{}", d.join("issuer.db").display());
    let key = d.join("issuer.key");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lisens"))
            .args(args)
            .env("LISENS_ISSUER_DATABASE_URL", &issuer_db)
            .env("LISENS_ISSUER_KEY", &key)
            .env("LISENS_LOG", "warn")
            .output()
            .unwrap()
    };
    let acme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme-books.toml");
    crate::ok(&run(&["issuer", "keygen", "--dir", crate::p(d)]));
    let add = [
        "issuer",
        "customer",
        "add",
        "--serial",
        "ACME-7",
        "--company",
        "Lund Revision AB",
    ];
    let out = run(&add);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spec"));
    let secret = crate::ok(&run(&[&add[..], &["--spec", acme]].concat()));
    assert_eq!(secret.trim().len(), 64);

    let out = run(&["issuer", "set", "ACME-7", "inventory", "5"]);
    let err = crate::fails_with(&out, "LICENSE_SPEC_INVALID");
    assert!(err.contains("--type"), "{err}");
    crate::ok(&run(&[
        "issuer",
        "set",
        "ACME-7",
        "inventory",
        "5",
        "--type",
        "user",
        "--description",
        "Inventory",
    ]));

    let err = crate::fails_with(
        &run(&["issuer", "dates", "ACME-7", "--expiration", "2029-12-31"]),
        "LICENSE_SPEC_INVALID",
    );
    assert!(
        err.contains("grace_to (2029-01-31) must not be before expiration (2029-12-31)"),
        "{err}"
    );
    crate::ok(&run(&[
        "issuer",
        "dates",
        "ACME-7",
        "--expiration",
        "2029-12-31",
        "--grace-to",
        "2030-01-31",
        "--admin-warning-date",
        "2029-12-01",
    ]));
    let expired = [
        "issuer",
        "dates",
        "ACME-7",
        "--expiration",
        "2020-01-31",
        "--grace-to",
        "2020-02-29",
        "--admin-warning-date",
        "",
    ];
    let err = crate::fails_with(&run(&expired), "LICENSE_SPEC_INVALID");
    assert!(
        err.contains("expired on 2020-01-31") && err.contains("--force"),
        "{err}"
    );
    let err = crate::fails_with(
        &run(&["issuer", "set", "ACME-7", "books-pro", "30"]),
        "LICENSE_SPEC_INVALID",
    );
    assert!(
        err.contains("the plan books-pro (30) grants payroll, of which the license has 5"),
        "{err}"
    );
    crate::ok(&run(&["issuer", "set", "ACME-7", "payroll", "20", "--force"]));

    // A new spec: printed first, signed only with --yes.
    let next = std::fs::read_to_string(acme)
        .unwrap()
        .replace("count = 15\nextra_flags", "count = 12\nextra_flags");
    let next_path = d.join("next.toml");
    std::fs::write(&next_path, next).unwrap();
    let spec = [
        "issuer",
        "customer",
        "spec",
        "ACME-7",
        "--spec",
        crate::p(&next_path),
    ];
    let shown = crate::ok(&run(&spec));
    assert!(
        shown.contains("license v4 -> v5")
            && shown.contains("books-basic")
            && shown.contains("15 -> 12")
            && shown.contains("inventory")
            && shown.contains("removed (was 5)")
            && shown.contains("nothing signed"),
        "{shown}"
    );
    let customer = |run: &dyn Fn(&[&str]) -> std::process::Output| -> serde_json::Value {
        serde_json::from_str(&crate::ok(&run(&[
            "issuer", "customer", "show", "ACME-7", "--json",
        ])))
        .unwrap()
    };
    assert_eq!(customer(&run)["customer"]["license_version"], 4);
    let signed = crate::ok(&run(&[&spec[..], &["--yes"]].concat()));
    assert!(signed.contains("license v5 signed"), "{signed}");
    assert_eq!(customer(&run)["customer"]["license_version"], 5);

    crate::ok(&run(&[
        "issuer",
        "message",
        "ACME-7",
        "--text",
        "Acme Books 5 is out",
        "--url",
        "https://acme.example/5",
    ]));
    let c = customer(&run);
    assert_eq!(c["customer"]["message"], "Acme Books 5 is out", "{c}");
    assert_eq!(c["customer"]["message_url"], "https://acme.example/5", "{c}");
    crate::ok(&run(&["issuer", "message", "ACME-7", "--clear"]));
    assert!(customer(&run)["customer"]["message"].is_null());
}
