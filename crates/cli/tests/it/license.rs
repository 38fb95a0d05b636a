use serde_json::Value;

use crate::{fails_with, lisens, ok, p, sqlite_url, DEMO_SPEC};

#[test]
fn a_vendor_signs_and_a_customer_loads_and_sees_the_license() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let keys = d.join("keys");
    let out = ok(&lisens(&["issuer", "keygen", "--dir", p(&keys)], &db));
    assert!(out.contains("key id"), "{out}");
    let lic = d.join("customer.lic");
    let out = ok(&lisens(
        &[
            "issuer",
            "issue",
            "--key",
            p(&keys.join("issuer.key")),
            "--spec",
            DEMO_SPEC,
            "--out",
            p(&lic),
        ],
        &db,
    ));
    assert!(out.contains("Nordlys Demo AS"), "{out}");
    let pubkey = keys.join("issuer.pub");

    let out = ok(&lisens(
        &["license", "verify", p(&lic), "--public-key", p(&pubkey)],
        &db,
    ));
    assert!(out.starts_with("OK license v1 of SuperOffice"), "{out}");

    let inspected: Value = serde_json::from_str(&ok(&lisens(
        &[
            "license",
            "inspect",
            p(&lic),
            "--json",
            "--public-key",
            p(&pubkey),
        ],
        &db,
    )))
    .unwrap();
    assert_eq!(inspected["verified"], true);
    assert_eq!(inspected["owner"]["serial"], "7210-DEMO-0001");
    let plan = inspected["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "sales-essentials")
        .unwrap();
    assert_eq!(plan["plan"], true);
    assert_eq!(plan["set"][1], "web");

    ok(&lisens(
        &["license", "load", p(&lic), "--public-key", p(&pubkey)],
        &db,
    ));
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    let owner = &status["owners"][0];
    for field in [
        "owner_name",
        "company_name",
        "serial",
        "deployment_type",
        "expiration",
        "grace_to",
        "maintenance_to",
        "valid",
        "modules",
    ] {
        assert!(owner.get(field).is_some(), "status JSON lacks owners[].{field}");
    }
    assert_eq!(owner["valid"], true);
    let web = owner["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "web")
        .unwrap();
    for field in [
        "name",
        "type",
        "plan",
        "hidden",
        "total",
        "in_use",
        "available",
        "valid",
    ] {
        assert!(web.get(field).is_some(), "status JSON lacks modules[].{field}");
    }
    assert_eq!(
        (
            web["total"].as_i64(),
            web["hidden"].as_bool(),
            web["valid"].as_bool()
        ),
        (Some(53), Some(true), Some(true))
    );

    // Someone raises a count by hand: the row stops working.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db).await.unwrap();
        sqlx::query("UPDATE module_license SET license_count = 500 WHERE module_name = 'web'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    let web = status["owners"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(
        (web["valid"].as_bool(), web["total"].as_i64()),
        (Some(false), Some(0))
    );
    let table = ok(&lisens(&["license", "status"], &db));
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("web ") && l.contains("NO:")),
        "{table}"
    );

    // Pinning another key makes the whole owner invalid.
    let other = d.join("other");
    ok(&lisens(&["issuer", "keygen", "--dir", p(&other)], &db));
    let status: Value = serde_json::from_str(&ok(&lisens(
        &[
            "license",
            "status",
            "--json",
            "--public-key",
            p(&other.join("issuer.pub")),
        ],
        &db,
    )))
    .unwrap();
    assert_eq!(status["owners"][0]["valid"], false);
}

#[test]
fn bad_input_gets_a_stable_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    ok(&lisens(&["issuer", "keygen", "--dir", p(&d.join("a"))], &db));
    ok(&lisens(&["issuer", "keygen", "--dir", p(&d.join("b"))], &db));
    let (key_a, pub_a, pub_b) = (
        d.join("a/issuer.key"),
        d.join("a/issuer.pub"),
        d.join("b/issuer.pub"),
    );
    let lic = d.join("x.lic");
    ok(&lisens(
        &[
            "issuer",
            "issue",
            "--key",
            p(&key_a),
            "--spec",
            DEMO_SPEC,
            "--out",
            p(&lic),
        ],
        &db,
    ));

    fails_with(
        &lisens(&["license", "verify", p(&lic), "--public-key", p(&pub_b)], &db),
        "LICENSE_SIGNATURE_INVALID",
    );
    fails_with(
        &lisens(&["license", "load", p(&lic), "--public-key", p(&pub_b)], &db),
        "LICENSE_SIGNATURE_INVALID",
    );
    fails_with(
        &lisens(&["license", "inspect", p(&lic), "--public-key", p(&pub_b)], &db),
        "LICENSE_SIGNATURE_INVALID",
    );

    let mut flipped = std::fs::read(&lic).unwrap();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let bad = d.join("flipped.lic");
    std::fs::write(&bad, &flipped).unwrap();
    let out = lisens(&["license", "verify", p(&bad), "--public-key", p(&pub_a)], &db);
    assert_eq!(out.status.code(), Some(1));

    let junk = d.join("junk.lic");
    std::fs::write(&junk, "hello").unwrap();
    fails_with(
        &lisens(&["license", "verify", p(&junk), "--public-key", p(&pub_a)], &db),
        "LICENSE_MALFORMED",
    );
    std::fs::write(&junk, [0xff, 0xfe, 0x00]).unwrap();
    fails_with(
        &lisens(&["license", "verify", p(&junk), "--public-key", p(&pub_a)], &db),
        "FILE_NOT_UTF8",
    );
    fails_with(
        &lisens(
            &[
                "license",
                "verify",
                p(&d.join("missing.lic")),
                "--public-key",
                p(&pub_a),
            ],
            &db,
        ),
        "FILE_UNREADABLE",
    );
    fails_with(
        &lisens(&["license", "verify", p(&lic), "--public-key", p(&key_a)], &db),
        "KEY_MALFORMED",
    );

    let spec = d.join("bad.toml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(DEMO_SPEC)
            .unwrap()
            .replace("count = 20", "count = 0"),
    )
    .unwrap();
    let out_file = d.join("never.lic");
    fails_with(
        &lisens(
            &[
                "issuer",
                "issue",
                "--key",
                p(&key_a),
                "--spec",
                p(&spec),
                "--out",
                p(&out_file),
            ],
            &db,
        ),
        "LICENSE_SPEC_INVALID",
    );
    assert!(!out_file.exists(), "a refused spec writes no file");
    fails_with(
        &lisens(&["issuer", "keygen", "--dir", p(&d.join("a"))], &db),
        "ISSUER_KEY_EXISTS",
    );

    fails_with(
        &lisens(&["license", "status"], "mysql://nope"),
        "DATABASE_URL_INVALID",
    );
    let status = ok(&lisens(&["license", "status", "--json"], &db));
    assert_eq!(
        serde_json::from_str::<Value>(&status).unwrap()["owners"],
        serde_json::json!([]),
        "nothing was loaded"
    );

    ok(&lisens(
        &["license", "load", p(&lic), "--public-key", p(&pub_a)],
        &db,
    ));
    let again = ok(&lisens(
        &["license", "load", p(&lic), "--public-key", p(&pub_a)],
        &db,
    ));
    assert!(again.starts_with("unchanged"), "{again}");
}

#[test]
fn load_and_status_work_the_same_on_postgresql() {
    let Some(pg) = crate::PgDb::create("lisens_cli") else {
        return;
    };
    let db = pg.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)], &db));
    let lic = d.join("c.lic");
    ok(&lisens(
        &[
            "issuer",
            "issue",
            "--key",
            p(&d.join("issuer.key")),
            "--spec",
            DEMO_SPEC,
            "--out",
            p(&lic),
        ],
        &db,
    ));
    ok(&lisens(
        &[
            "license",
            "load",
            p(&lic),
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        &db,
    ));
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(status["owners"][0]["valid"], true);
    assert_eq!(status["owners"][0]["modules"].as_array().unwrap().len(), 46);
}

fn spec_with(version: u32, replace: &[(&str, &str)]) -> String {
    let mut s = std::fs::read_to_string(DEMO_SPEC)
        .unwrap()
        .replace("license_version = 1", &format!("license_version = {version}"));
    for (a, b) in replace {
        assert!(s.contains(a), "{a}");
        s = s.replacen(a, b, 1);
    }
    s
}

#[test]
fn a_new_license_file_is_activated_or_kept_pending_until_excess_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)], &db));
    let (key, pubkey) = (d.join("issuer.key"), d.join("issuer.pub"));
    let issue = |version: u32, replace: &[(&str, &str)], name: &str| {
        let spec = d.join(format!("{name}.toml"));
        std::fs::write(&spec, spec_with(version, replace)).unwrap();
        let lic = d.join(format!("{name}.lic"));
        ok(&lisens(
            &[
                "issuer",
                "issue",
                "--key",
                p(&key),
                "--spec",
                p(&spec),
                "--out",
                p(&lic),
            ],
            &db,
        ));
        lic
    };
    let v1 = issue(1, &[], "v1");
    ok(&lisens(
        &["license", "load", p(&v1), "--public-key", p(&pubkey)],
        &db,
    ));
    for u in ["anna", "bo", "cy"] {
        ok(&lisens(&["user", "add", u], &db));
        ok(&lisens(&["license", "assign", u, "marketing-premium"], &db));
    }

    // More Sales Essentials: applied by itself.
    let v2 = issue(2, &[("count = 20", "count = 25")], "v2");
    let out = ok(&lisens(
        &["license", "load", p(&v2), "--public-key", p(&pubkey)],
        &db,
    ));
    assert!(out.starts_with("New license activated"), "{out}");
    assert!(out.contains("sales-essentials") && out.contains("+5"), "{out}");

    // Marketing Premium down from 3 to 1 with 3 in use: pending.
    let v3 = issue(
        3,
        &[
            ("count = 20", "count = 25"),
            ("count = 3\nextra_flags", "count = 1\nextra_flags"),
        ],
        "v3",
    );
    let out = ok(&lisens(
        &["license", "load", p(&v3), "--public-key", p(&pubkey)],
        &db,
    ));
    assert!(out.starts_with("Activate new license"), "{out}");
    assert!(out.contains("BELOW IN USE"), "{out}");
    let pending: Value = serde_json::from_str(&ok(&lisens(&["license", "pending", "--json"], &db))).unwrap();
    assert_eq!(pending[0]["blocking"][0], "marketing-premium");
    let change = &pending[0]["diff"]["changes"][0];
    let numbers = ["in_use", "total", "new_total", "new_free"].map(|k| change[k].as_i64().unwrap());
    assert_eq!(numbers, [3, 3, 1, -2], "{change}");
    fails_with(
        &lisens(&["license", "activate"], &db),
        "LICENSE_TOO_MANY_ASSIGNED",
    );

    let holders: Value = serde_json::from_str(&ok(&lisens(
        &["license", "holders", "marketing-premium", "--json"],
        &db,
    )))
    .unwrap();
    assert_eq!(holders.as_array().unwrap().len(), 3);
    ok(&lisens(
        &["license", "remove-excess", "marketing-premium", "bo", "cy"],
        &db,
    ));
    let out = lisens(&["license", "check", "bo", "mktg-auto-cal"], &db);
    assert_eq!(out.status.code(), Some(1), "bo lost the plan's modules at once");
    let out = ok(&lisens(&["license", "activate"], &db));
    assert!(out.starts_with("New license activated"), "{out}");
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(status["owners"][0]["license_version"], 3);
    let modules = status["owners"][0]["modules"].as_array().unwrap();
    let mp = modules.iter().find(|m| m["name"] == "marketing-premium").unwrap();
    assert_eq!((mp["total"].as_i64(), mp["in_use"].as_i64()), (Some(1), Some(1)));

    // Replaying the old file is refused and recorded.
    fails_with(
        &lisens(&["license", "load", p(&v1), "--public-key", p(&pubkey)], &db),
        "LICENSE_VERSION_OLDER",
    );
    let history: Value = serde_json::from_str(&ok(&lisens(&["license", "history", "--json"], &db))).unwrap();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "rejected",
            "activated",
            "excess_removed",
            "pending",
            "activated",
            "loaded"
        ]
    );
}

#[test]
fn the_vendor_rotates_its_key_and_the_installation_follows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let (old, new) = (d.join("old"), d.join("new"));
    ok(&lisens(&["issuer", "keygen", "--dir", p(&old)], &db));
    ok(&lisens(&["issuer", "keygen", "--dir", p(&new)], &db));
    let sign = |key: &std::path::Path, version: u32, name: &str| {
        let spec = d.join(format!("{name}.toml"));
        std::fs::write(&spec, spec_with(version, &[])).unwrap();
        let lic = d.join(format!("{name}.lic"));
        ok(&lisens(
            &[
                "issuer",
                "issue",
                "--key",
                p(&key.join("issuer.key")),
                "--spec",
                p(&spec),
                "--out",
                p(&lic),
            ],
            &db,
        ));
        lic
    };
    let v1 = sign(&old, 1, "v1");
    ok(&lisens(
        &[
            "license",
            "load",
            p(&v1),
            "--public-key",
            p(&old.join("issuer.pub")),
        ],
        &db,
    ));
    let v2 = sign(&new, 2, "v2");
    fails_with(
        &lisens(
            &[
                "license",
                "load",
                p(&v2),
                "--public-key",
                p(&new.join("issuer.pub")),
            ],
            &db,
        ),
        "LICENSE_OWNER_KEY_MISMATCH",
    );
    ok(&lisens(
        &[
            "license",
            "trust-key",
            "--owner",
            "SuperOffice",
            "--public-key",
            p(&new.join("issuer.pub")),
        ],
        &db,
    ));
    let out = ok(&lisens(
        &[
            "license",
            "load",
            p(&v2),
            "--public-key",
            p(&new.join("issuer.pub")),
        ],
        &db,
    ));
    assert!(out.starts_with("New license activated"), "{out}");
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(
        (
            status["owners"][0]["valid"].as_bool(),
            status["owners"][0]["license_version"].as_i64()
        ),
        (Some(true), Some(2))
    );

    let active_id = status["owners"][0]["key_id"].as_str().unwrap().to_owned();
    fails_with(
        &lisens(
            &[
                "license",
                "retire-key",
                "--owner",
                "SuperOffice",
                "--key-id",
                &active_id,
            ],
            &db,
        ),
        "INVALID_INPUT",
    );
    let out = ok(&lisens(&["license", "inspect", p(&v1), "--json"], &db));
    let v1_key = serde_json::from_str::<Value>(&out).unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&lisens(
        &[
            "license",
            "retire-key",
            "--owner",
            "SuperOffice",
            "--key-id",
            &v1_key,
        ],
        &db,
    ));
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(
        status["owners"][0]["valid"], true,
        "the active license is signed by the new key"
    );
    let v3_old = sign(&old, 3, "v3-old");
    fails_with(
        &lisens(
            &[
                "license",
                "load",
                p(&v3_old),
                "--public-key",
                p(&old.join("issuer.pub")),
            ],
            &db,
        ),
        "LICENSE_OWNER_KEY_MISMATCH",
    );
}
