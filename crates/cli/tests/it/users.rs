use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{fails_with, lisens, ok, p, sqlite_url, DEMO_SPEC};

fn setup(d: &std::path::Path, db: &str) {
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)], db));
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
        db,
    ));
    ok(&lisens(
        &[
            "license",
            "load",
            p(&lic),
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        db,
    ));
}

#[test]
fn an_operator_adds_users_assigns_plans_and_checks_access() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    setup(d, &db);
    ok(&lisens(
        &[
            "user",
            "add",
            "anna",
            "--name",
            "Anna Berg",
            "--email",
            "anna@example.com",
        ],
        &db,
    ));
    ok(&lisens(&["user", "add", "bo"], &db));
    fails_with(&lisens(&["user", "add", "anna"], &db), "ALREADY_EXISTS");
    fails_with(&lisens(&["user", "add", "bad login"], &db), "INVALID_INPUT");

    ok(&lisens(&["license", "assign", "anna", "sales-essentials"], &db));
    ok(&lisens(&["license", "assign", "bo", "user"], &db));
    fails_with(
        &lisens(&["license", "assign", "bo", "server"], &db),
        "NOT_A_USER_LICENSE",
    );
    fails_with(
        &lisens(&["license", "assign", "bo", "remote-travel"], &db),
        "LICENSE_PREREQUISITE_MISSING",
    );
    fails_with(
        &lisens(&["license", "unassign", "anna", "web"], &db),
        "LICENSE_GRANTED_BY_PLAN",
    );

    let out = ok(&lisens(&["license", "check", "anna"], &db));
    assert_eq!(out.trim(), "granted");
    let out = lisens(&["license", "check", "bo"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "denied MISSING_LICENSE:web (web is not licensed for this)"
    );
    ok(&lisens(&["license", "check", "anna", "chat-cal"], &db));
    ok(&lisens(&["license", "check", "--system", "saint"], &db));
    assert_eq!(
        lisens(&["license", "check", "anna", "mktg-auto-cal"], &db)
            .status
            .code(),
        Some(1)
    );

    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(status["users"]["plans_in_use"], 1);
    assert_eq!(status["users"]["active_users"], 1);
    assert_eq!(status["users"]["licensed_logins"], 53);

    ok(&lisens(&["user", "deactivate", "anna"], &db));
    let out = lisens(&["license", "check", "anna"], &db);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "denied USER_INACTIVE (the user is deactivated)"
    );
    let users: Value = serde_json::from_str(&ok(&lisens(&["user", "list", "--json"], &db))).unwrap();
    assert_eq!(users[0]["login_name"], "anna");
    assert_eq!(users[0]["active"], false);
    assert!(users[0].get("password_hash").is_none());

    ok(&lisens(&["license", "unassign", "anna", "sales-essentials"], &db));
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    let web = status["owners"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(web["in_use"], 0, "the plan's implicit modules went with it");
}

#[test]
fn passwords_come_from_stdin_and_tokens_are_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["user", "add", "root", "--admin", "--password-stdin"])
        .env("LISENS_DATABASE_URL", &db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    let raw = std::fs::read(dir.path().join("lisens.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("correct horse"),
        "no clear-text password"
    );

    let token = ok(&lisens(&["token", "create", "--admin", "--name", "ci"], &db));
    assert!(
        token.trim().starts_with("lsn_") && token.trim().len() > 40,
        "{token}"
    );
    fails_with(&lisens(&["token", "create"], &db), "INVALID_INPUT");
    fails_with(
        &lisens(&["token", "create", "--scope", "root"], &db),
        "INVALID_INPUT",
    );
}

#[test]
fn sixty_four_lisens_processes_racing_on_postgresql_get_exactly_the_count() {
    let Some(pg) = crate::PgDb::create("lisens_race") else {
        return;
    };
    let db = pg.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &db);
    for i in 0..64 {
        ok(&lisens(&["user", "add", &format!("u{i}")], &db));
    }
    // marketing-premium has count 3; 64 separate processes race for it.
    let children: Vec<_> = (0..64)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_lisens"))
                .args(["license", "assign", &format!("u{i}"), "marketing-premium"])
                .env("LISENS_DATABASE_URL", &db)
                .env("LISENS_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut granted = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        if out.status.success() {
            granted += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("error[LICENSE_OVERCOMMITTED]"), "{err}");
        }
    }
    assert_eq!(granted, 3);
    let status: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"], &db))).unwrap();
    let m = status["owners"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "mktg-auto-cal")
        .unwrap()
        .clone();
    assert_eq!(m["in_use"], 3);
}

#[test]
fn sites_and_assignment_windows_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    setup(d, &db);
    ok(&lisens(&["site", "add", "hq"], &db));
    ok(&lisens(&["site", "add", "oslo", "--satellite"], &db));
    ok(&lisens(&["site", "add", "bergen", "--satellite"], &db));
    fails_with(
        &lisens(&["site", "add", "tromso", "--satellite"], &db),
        "LICENSE_OVERCOMMITTED",
    );
    ok(&lisens(&["site", "enable", "hq", "reporter-studio"], &db));
    fails_with(
        &lisens(&["site", "enable", "oslo", "reporter-studio"], &db),
        "LICENSE_OVERCOMMITTED",
    );
    let sites: Value = serde_json::from_str(&ok(&lisens(&["site", "list", "--json"], &db))).unwrap();
    assert_eq!(sites.as_array().unwrap().len(), 3);

    ok(&lisens(&["user", "add", "anna"], &db));
    ok(&lisens(
        &[
            "license",
            "assign",
            "anna",
            "sales-essentials",
            "--valid-from",
            "2099-01-01",
        ],
        &db,
    ));
    let out = lisens(&["license", "check", "anna"], &db);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "denied MISSING_LICENSE:user (user is not licensed for this)"
    );
    let bad = lisens(
        &["license", "assign", "anna", "user", "--valid-to", "tomorrow"],
        &db,
    );
    assert_eq!(bad.status.code(), Some(2), "a malformed time is a usage error");
}

/// Runs `lisens ARGS` with `input` on standard input.
fn with_stdin(args: &[&str], db: &str, input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(args)
        .env("LISENS_DATABASE_URL", db)
        .env("LISENS_LOG", "warn")
        .env_remove("LISENS_PUBLIC_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn active(db: &str, login: &str) -> bool {
    let users: Value = serde_json::from_str(&ok(&lisens(&["user", "list", "--json"], db))).unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login_name"] == login)
        .unwrap_or_else(|| panic!("no {login} in {users}"))["active"]
        .as_bool()
        .unwrap()
}

#[test]
fn the_last_administrator_is_never_deactivated_and_one_is_recovered_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    setup(d, &db);
    ok(&with_stdin(
        &["user", "add", "root", "--admin", "--password-stdin"],
        &db,
        "correct horse battery\n",
    ));
    ok(&lisens(&["user", "add", "boss", "--admin"], &db));
    ok(&lisens(&["user", "add", "anna"], &db));

    ok(&lisens(&["user", "deactivate", "boss"], &db));
    let refused = fails_with(
        &lisens(&["user", "deactivate", "root"], &db),
        "LAST_ADMINISTRATOR",
    );
    assert!(refused.contains("root"), "{refused}");
    assert!(active(&db, "root"), "the refusal changed nothing");
    ok(&lisens(&["user", "deactivate", "anna"], &db));

    // The deactivated administrator comes back; then either may go, not both.
    ok(&lisens(&["user", "activate", "boss"], &db));
    assert!(active(&db, "boss"));
    ok(&lisens(&["user", "deactivate", "root"], &db));
    fails_with(
        &lisens(&["user", "deactivate", "boss"], &db),
        "LAST_ADMINISTRATOR",
    );
    ok(&lisens(&["user", "activate", "root"], &db));
    fails_with(&lisens(&["user", "activate", "nobody"], &db), "USER_UNKNOWN");

    // A forgotten password is set again from standard input, never an argument.
    fails_with(
        &with_stdin(
            &["user", "reset-password", "root", "--password-stdin"],
            &db,
            "short\n",
        ),
        "PASSWORD_TOO_SHORT",
    );
    fails_with(
        &with_stdin(
            &["user", "reset-password", "nobody", "--password-stdin"],
            &db,
            "a new secret phrase\n",
        ),
        "USER_UNKNOWN",
    );
    assert_eq!(
        lisens(&["user", "reset-password", "root"], &db).status.code(),
        Some(2)
    );
    ok(&with_stdin(
        &["user", "reset-password", "root", "--password-stdin"],
        &db,
        "a new secret phrase\n",
    ));
    let raw = std::fs::read(d.join("lisens.db")).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("a new secret phrase"));

    let audit: Value =
        serde_json::from_str(&ok(&lisens(&["audit", "--json", "--limit", "100"], &db))).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "cli user activate").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(actions.first(), Some(&"cli user reset-password"), "{actions:?}");
    assert!(!audit.to_string().contains("a new secret phrase"));

    // The new password logs in over HTTP; the old one does not.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = crate::soak::free_port();
    let mut server = crate::soak::serve(&db, port);
    let base = format!("http://127.0.0.1:{port}");
    let statuses = rt.block_on(async {
        let client = reqwest::Client::new();
        crate::soak::wait_healthy(&client, &base).await;
        let mut out = Vec::new();
        for password in ["correct horse battery", "a new secret phrase"] {
            let r = client
                .post(format!("{base}/api/v1/session"))
                .json(&serde_json::json!({"login": "root", "password": password}))
                .send()
                .await
                .unwrap();
            out.push(r.status().as_u16());
        }
        out
    });
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(statuses, [401, 201]);
}

#[test]
fn a_read_only_database_serves_reads_and_refuses_writes_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    setup(d, &db);
    ok(&with_stdin(
        &["user", "add", "root", "--admin", "--password-stdin"],
        &db,
        "correct horse battery\n",
    ));
    ok(&lisens(&["user", "add", "anna"], &db));
    ok(&lisens(&["license", "assign", "anna", "sales-essentials"], &db));
    let token = ok(&lisens(&["token", "create", "--admin", "--name", "ops"], &db))
        .trim()
        .to_owned();
    // The file may only be read: by its mode (which root ignores) and by
    // the connection (SQLite's read-only mode, which binds root too).
    let file = d.join("lisens.db");
    let mut mode = std::fs::metadata(&file).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o444);
    std::fs::set_permissions(&file, mode).unwrap();
    let ro = format!("{db}?mode=ro");
    let before = std::fs::read(&file).unwrap();

    // The command line reads, and refuses a change with the code.
    assert_eq!(ok(&lisens(&["license", "check", "anna"], &ro)).trim(), "granted");
    ok(&lisens(&["license", "status"], &ro));
    fails_with(&lisens(&["user", "add", "bo"], &ro), "DATABASE_READ_ONLY");
    fails_with(
        &lisens(&["user", "deactivate", "anna"], &ro),
        "DATABASE_READ_ONLY",
    );

    // So does the server: it starts, checks and reports, and refuses writes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = crate::soak::free_port();
    let mut server = crate::soak::serve(&ro, port);
    let base = format!("http://127.0.0.1:{port}");
    let result = rt.block_on(async {
        let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
        crate::soak::wait_healthy(&client, &base).await;
        let check = client
            .get(format!(
                "{base}/api/v1/license/check?user=anna&module=sales-essentials"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let check = (check.status().as_u16(), check.text().await.unwrap());
        let status = client
            .get(format!("{base}/api/v1/license/status"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let write = client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"login": "bo"}))
            .send()
            .await
            .unwrap();
        let write = (write.status().as_u16(), write.text().await.unwrap());
        // Logging in stores a session: refused too, with the code shown.
        let form = client
            .get(format!("{base}/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let i = form.find("name=\"csrf\" value=\"").unwrap() + 19;
        let login = client
            .post(format!("{base}/login"))
            .form(&[
                ("login", "root"),
                ("password", "correct horse battery"),
                ("csrf", &form[i..i + 64]),
            ])
            .send()
            .await
            .unwrap();
        let login = (login.status().as_u16(), login.text().await.unwrap());
        (check, status, write, login)
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let (check, status, write, login) = result;
    assert_eq!(check.0, 200, "{check:?}");
    assert!(check.1.contains("\"granted\":true"), "{check:?}");
    assert_eq!(status, 200);
    assert_eq!(write.0, 503, "{write:?}");
    assert!(write.1.contains("\"code\":\"DATABASE_READ_ONLY\""), "{write:?}");
    assert_eq!(login.0, 503, "{login:?}");
    assert!(
        login.1.contains("The database is read-only just now"),
        "{login:?}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before, "nothing was written");
}

#[test]
fn ids_are_never_reused_and_a_login_is_one_user_regardless_of_case() {
    use crate::soak::{free_port, serve, wait_healthy};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let pg = crate::PgDb::create("lisens_ids");
    let mut dbs = vec![sqlite_url(dir.path())];
    dbs.extend(pg.as_ref().map(|pg| pg.url.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for db in &dbs {
        let scim = crate::token_secret(&ok(&lisens(
            &["token", "create", "--scope", "scim", "--name", "idp"],
            db,
        )));
        let admin = crate::token_secret(&ok(&lisens(&["token", "create", "--admin", "--name", "ops"], db)));
        // The command line: add and import.
        ok(&lisens(&["user", "add", "Boss"], db));
        fails_with(&lisens(&["user", "add", "boss"], db), "ALREADY_EXISTS");
        let csv = dir.path().join("users.csv");
        std::fs::write(&csv, "login\nnewcomer\nBOSS\n").unwrap();
        fails_with(&lisens(&["user", "import", p(&csv)], db), "ALREADY_EXISTS");
        let listed = ok(&lisens(&["user", "list"], db));
        assert!(
            !listed.contains("newcomer"),
            "a refused import adds nobody: {listed}"
        );

        let port = free_port();
        let mut server = serve(db, port);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        rt.block_on(async {
            wait_healthy(&client, &base).await;
            let scim_call = |method: reqwest::Method, path: &str, body: Option<Value>| {
                let mut req = client
                    .request(method, format!("{base}/scim/v2/Users{path}"))
                    .bearer_auth(&scim);
                if let Some(b) = body {
                    req = req
                        .header("content-type", "application/scim+json")
                        .body(b.to_string());
                }
                async move {
                    let r = req.send().await.unwrap();
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap();
                    (
                        status,
                        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                    )
                }
            };
            use reqwest::Method as M;
            let (status, body) = scim_call(M::POST, "", Some(json!({"userName": "boss"}))).await;
            assert_eq!(
                (status, body["scimType"].as_str()),
                (409, Some("uniqueness")),
                "{db}: {body}"
            );
            let (_, found) = scim_call(M::GET, "?filter=userName%20eq%20%22BOSS%22", None).await;
            assert_eq!(found["totalResults"], 1, "{db}: {found}");
            assert_eq!(found["Resources"][0]["userName"], "Boss");

            // The newest user deleted: the next one gets another id, and
            // the old id is gone for good.
            let (status, carl) = scim_call(M::POST, "", Some(json!({"userName": "carl"}))).await;
            assert_eq!(status, 201, "{db}: {carl}");
            let carl_id = carl["id"].as_str().unwrap().to_owned();
            let (status, _) = scim_call(M::DELETE, &format!("/{carl_id}"), None).await;
            assert_eq!(status, 204);
            let (status, dan) = scim_call(M::POST, "", Some(json!({"userName": "dan"}))).await;
            assert_eq!(status, 201, "{db}: {dan}");
            let dan_id = dan["id"].as_str().unwrap();
            assert_ne!(dan_id, carl_id, "{db}: the deleted user's id was given to dan");
            let (status, _) = scim_call(M::GET, &format!("/{carl_id}"), None).await;
            assert_eq!(status, 404, "{db}");
            let (status, _) = scim_call(
                M::PUT,
                &format!("/{carl_id}"),
                Some(json!({"userName": "carl", "displayName": "Not Dan"})),
            )
            .await;
            assert_eq!(status, 404, "{db}: the old id edits nobody");

            // The API, and logging in with the login in another case.
            let api = |login: &str| {
                client
                    .post(format!("{base}/api/v1/users"))
                    .bearer_auth(&admin)
                    .json(&json!({"login": login, "password": "correct horse", "is_admin": true}))
                    .send()
            };
            assert_eq!(api("Eve").await.unwrap().status(), 201);
            let r = api("EVE").await.unwrap();
            assert_eq!(r.status(), 409);
            let problem: Value = r.json().await.unwrap();
            assert_eq!(problem["code"], "ALREADY_EXISTS", "{db}: {problem}");
            let r = client
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"login": "eVE", "password": "correct horse"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{db}");
            let session: Value = r.json().await.unwrap();
            assert_eq!(session["login"], "Eve");
        });
        server.kill().unwrap();
        server.wait().unwrap();
        let listed = ok(&lisens(&["user", "list"], db));
        assert!(
            listed.contains("Boss") && listed.contains("dan") && !listed.contains("carl"),
            "{db}: {listed}"
        );
    }
}
