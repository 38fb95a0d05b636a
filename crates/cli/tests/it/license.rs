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
    fails_with(
        &lisens(&["license", "load", p(&lic), "--public-key", p(&pub_a)], &db),
        "LICENSE_OWNER_EXISTS",
    );
}

#[test]
fn load_and_status_work_the_same_on_postgresql() {
    let Some(admin) = crate::demo::pg_admin_url() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = format!("lisens_cli_{}_{}", std::process::id(), rand::random::<u32>());
    sqlx::any::install_default_drivers();
    let exec = |sql: String| {
        let admin = admin.clone();
        rt.block_on(async move {
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("PostgreSQL reachable");
            sqlx::query(&sql).execute(&pool).await.unwrap();
            pool.close().await;
        })
    };
    exec(format!("CREATE DATABASE {name}"));
    let db = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
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
    assert_eq!(status["owners"][0]["modules"].as_array().unwrap().len(), 40);
    exec(format!("DROP DATABASE {name} WITH (FORCE)"));
}
