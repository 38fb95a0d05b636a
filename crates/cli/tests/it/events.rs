use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{fails_with, ok, p, sqlite_url};

#[test]
fn operators_add_list_and_end_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let lisens = |args: &[&str]| crate::lisens(args, &db);
    let out = ok(&lisens(&[
        "events",
        "add",
        "no-login",
        "--message",
        "Upgrade tonight",
        "--eta",
        "2026-12-01T22:00:00Z",
    ]));
    assert!(out.starts_with("event 1"), "{out}");
    ok(&lisens(&[
        "events",
        "add",
        "motd",
        "--message",
        "Welcome",
        "--scope",
        "user",
        "--target",
        "anna",
    ]));
    fails_with(
        &lisens(&["events", "add", "reboot", "--message", "x"]),
        "INVALID_INPUT",
    );
    fails_with(
        &lisens(&["events", "add", "custom", "--message", "x", "--scope", "user"]),
        "INVALID_INPUT",
    );
    let list: Value = serde_json::from_str(&ok(&lisens(&["events", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    ok(&lisens(&["events", "end", "1"]));
    fails_with(&lisens(&["events", "end", "1"]), "NOT_FOUND");
    let active: Value =
        serde_json::from_str(&ok(&lisens(&["events", "list", "--status", "active", "--json"]))).unwrap();
    assert_eq!(active[0]["key"], "motd");
}

#[test]
fn an_import_killed_midway_shows_failed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let csv = d.join("users.csv");
    let mut text = String::from("login,name,email\n");
    for i in 0..20_000 {
        text.push_str(&format!("user{i},User {i},user{i}@example.com\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let mut import = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["user", "import", p(&csv)])
        .env("LISENS_DATABASE_URL", &db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the job is running, then kill the process.
    let started = std::time::Instant::now();
    loop {
        let list = crate::lisens(&["events", "list", "--json"], &db);
        if list.status.success() && String::from_utf8_lossy(&list.stdout).contains("job:user-import") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the import job never started: {:?} {}",
            list.status,
            String::from_utf8_lossy(&list.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    import.kill().unwrap();
    import.wait().unwrap();

    // A server starting on the database finds the job's process gone.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LISENS_DATABASE_URL", &db)
        .env("LISENS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(line.contains("listening"), "{line}");
    let list: Value = serde_json::from_str(&ok(&crate::lisens(&["events", "list", "--json"], &db))).unwrap();
    let job = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "job:user-import")
        .unwrap()
        .clone();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["description"].as_str().unwrap().contains("stopped"), "{job}");
}

#[test]
fn a_small_import_finishes_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let csv = dir.path().join("u.csv");
    std::fs::write(
        &csv,
        "login,name,email\nanna,\"Berg, Anna\",anna@example.com\nbo,Bo,bo@example.com\n",
    )
    .unwrap();
    let out = ok(&crate::lisens(&["user", "import", p(&csv)], &db));
    assert!(out.starts_with("2 users imported"), "{out}");
    let users: Value = serde_json::from_str(&ok(&crate::lisens(&["user", "list", "--json"], &db))).unwrap();
    assert_eq!(users[0]["full_name"], "Berg, Anna");
    // A file is checked whole before anything is stored: a bad line, a
    // login twice, or a user who exists already imports nobody.
    for (text, code) in [
        ("login,name\nnew1,x\nbad login,x\n", "CSV_MALFORMED"),
        ("login,name\nnew1,x\nnew1,y\n", "CSV_DUPLICATE"),
        ("login,name\nnew1,x\nanna,x\n", "ALREADY_EXISTS"),
        ("login,name,email,plan\nnew1,x,,no-such-plan\n", "MODULE_UNKNOWN"),
    ] {
        std::fs::write(&csv, text).unwrap();
        let err = fails_with(&crate::lisens(&["user", "import", p(&csv)], &db), code);
        assert!(err.contains("line "), "{err}");
    }
    let users: Value = serde_json::from_str(&ok(&crate::lisens(&["user", "list", "--json"], &db))).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    let list: Value = serde_json::from_str(&ok(&crate::lisens(&["events", "list", "--json"], &db))).unwrap();
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["finished"]);
}

#[test]
fn usage_is_emitted_imported_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let lisens = |args: &[&str]| crate::lisens(args, &db);
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)]));
    let lic = d.join("l.lic");
    crate::issue(
        &db,
        &d.join("issuer.key"),
        std::path::Path::new(crate::DEMO_SPEC),
        &lic,
    );
    ok(&lisens(&[
        "license",
        "load",
        p(&lic),
        "--public-key",
        p(&d.join("issuer.pub")),
    ]));
    assert!(ok(&lisens(&[
        "metering",
        "emit",
        "chat_sessions",
        "40",
        "--id",
        "x1"
    ]))
    .starts_with("counted"));
    assert!(ok(&lisens(&[
        "metering",
        "emit",
        "chat_sessions",
        "40",
        "--id",
        "x1"
    ]))
    .starts_with("already counted"));
    fails_with(&lisens(&["metering", "emit", "telepathy", "1"]), "BATCH_INVALID");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut csv = String::from("id,service,quantity,occurred_at\n");
    for i in 0..2500 {
        csv.push_str(&format!("c{i},mailing_emails,10,{now}\n"));
    }
    // A bad line after 1,500 good ones: nothing is counted.
    let mut bad = csv.clone();
    bad.push_str(&format!(
        "z1,mailing_emails,10,{now}\nz2,mailing_emails,10,last tuesday\n"
    ));
    std::fs::write(d.join("bad.csv"), bad).unwrap();
    let err = fails_with(
        &lisens(&["metering", "import", p(&d.join("bad.csv"))]),
        "TIME_INVALID",
    );
    assert!(err.contains("line 2503"), "{err}");
    std::fs::write(d.join("usage.csv"), &csv).unwrap();
    let out = ok(&lisens(&["metering", "import", p(&d.join("usage.csv"))]));
    assert!(out.starts_with("2500 events counted"), "{out}");
    let report: Value = serde_json::from_str(&ok(&lisens(&["metering", "report", "--json"]))).unwrap();
    let mail = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "mailing_emails")
        .unwrap()
        .clone();
    // base 10000, nobody holds a plan: 25000 - 10000 = 15000 over, 15 units of 1000 at 2.00
    assert_eq!(
        (
            mail["usage"].as_u64(),
            mail["threshold"].as_u64(),
            mail["price"].as_str()
        ),
        (Some(25000), Some(10000), Some("30.00"))
    );
    fails_with(
        &lisens(&["metering", "report", "--month", "2026-13"]),
        "INVALID_INPUT",
    );
}
