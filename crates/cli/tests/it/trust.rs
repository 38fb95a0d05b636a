//! The trust model (docs/trust-model.md), attack by attack, as a hostile
//! customer tries it: the real `lisens` binary, the database edited with SQL
//! behind its back, a key pair of the customer's own, and the clock moved.
//! Each attack runs on SQLite and on PostgreSQL.
//!
//! (Longer than 600 lines: one attack per test, each self-contained.)

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{fails_with, ok, p};

/// The vendor's product in small: logins need `user` and `web` (web needs
/// user), chat needs user, a plan grants them, saint is a system license.
const V1: &str = r#"
[owner]
name = "Vendor"
company_name = "Kund AB"
serial = "TRUST-1"
license_version = 1

[[module]]
name = "saint"
type = "system"

[[module]]
name = "user"
type = "user"
count = 5

[[module]]
name = "web"
type = "user"
count = 5
prerequisite = "user"

[[module]]
name = "chat-cal"
type = "user"
count = 1
prerequisite = "user"
"#;

/// The customer's own "license", signed with its own key pair: the same
/// module names, as many as it likes.
const OWN: &str = r#"
[owner]
name = "Kund Eget"
company_name = "Kund AB"
serial = "OWN-1"
license_version = 1

[[module]]
name = "saint"
type = "system"

[[module]]
name = "user"
type = "user"
count = 999

[[module]]
name = "chat-cal"
type = "user"
count = 999
"#;

/// One installation under attack: a database (SQLite file or a PostgreSQL
/// database of its own), the vendor's key pair and the customer's own.
struct Site {
    db: String,
    dir: tempfile::TempDir,
    _pg: Option<crate::PgDb>,
}

impl Site {
    fn all(name: &str) -> Vec<Site> {
        let mut out = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        out.push(Site {
            db: crate::sqlite_url(dir.path()),
            dir,
            _pg: None,
        });
        if let Some(pg) = crate::PgDb::create(name) {
            out.push(Site {
                db: pg.url.clone(),
                dir: tempfile::tempdir().unwrap(),
                _pg: Some(pg),
            });
        }
        for s in &out {
            s.ok(&["issuer", "keygen", "--dir", p(&s.path("vendor"))]);
            s.ok(&["issuer", "keygen", "--dir", p(&s.path("own"))]);
        }
        out
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::lisens(args, &self.db)
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lisens"));
        c.args(args)
            .env("LISENS_DATABASE_URL", &self.db)
            .env_remove("LISENS_PUBLIC_KEY")
            .env("LISENS_LOG", "warn");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    /// Signs `spec` with the key pair in `keys` ("vendor" or "own").
    fn sign(&self, keys: &str, spec: &str, name: &str) -> PathBuf {
        let spec_file = self.path(&format!("{name}.toml"));
        std::fs::write(&spec_file, spec).unwrap();
        let out = self.path(&format!("{name}.lic"));
        crate::issue(&self.db, &self.path(keys).join("issuer.key"), &spec_file, &out);
        out
    }

    /// `lisens issuer rotate-key`: the key pair `by` vouches for `new`'s
    /// public key for owner Vendor.
    fn rotate(&self, by: &str, new: &str, out: &std::path::Path) {
        self.ok(&[
            "issuer",
            "rotate-key",
            "--key",
            p(&self.path(by).join("issuer.key")),
            "--new-public-key",
            p(&self.public(new)),
            "--owner",
            "Vendor",
            "--out",
            p(out),
        ]);
    }

    fn public(&self, keys: &str) -> PathBuf {
        self.path(keys).join("issuer.pub")
    }

    /// The vendor's license loaded, users anna, bo and cy, anna holding
    /// user, web and chat-cal.
    fn licensed(&self) {
        let lic = self.sign("vendor", V1, "v1");
        self.ok(&[
            "license",
            "load",
            p(&lic),
            "--public-key",
            p(&self.public("vendor")),
        ]);
        for u in ["anna", "bo", "cy"] {
            self.ok(&["user", "add", u]);
        }
        for m in ["user", "web", "chat-cal"] {
            self.ok(&["license", "assign", "anna", m]);
        }
    }

    /// Runs SQL against the database, as the customer would with sqlite3 or psql.
    fn sql(&self, statements: &[&str]) {
        crate::exec_sql(&self.db, statements);
    }

    /// `lisens license check ARGS`: Ok(warning) when granted, Err(reason).
    fn check(&self, args: &[&str]) -> Result<String, String> {
        self.check_env(args, &[])
    }

    fn check_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        let mut all = vec!["license", "check"];
        all.extend_from_slice(args);
        let out = self.run_env(&all, env);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(text)
        } else {
            assert!(
                text.starts_with("denied"),
                "{text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // `denied CODE (why)`: the code.
            let code = text.trim_start_matches("denied ");
            Err(code.split(" (").next().unwrap_or(code).to_owned())
        }
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["license", "status", "--json"])).unwrap()
    }
}

fn module<'a>(status: &'a Value, owner: &str, name: &str) -> &'a Value {
    status["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner_name"] == owner)
        .and_then(|o| {
            o["modules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
        })
        .unwrap_or_else(|| panic!("no {owner}/{name} in {status}"))
}

#[test]
fn hand_added_links_grant_at_most_the_count_and_nothing_without_the_prerequisite() {
    for s in Site::all("lisens_trust_links") {
        s.licensed();
        // chat-cal is licensed once and anna holds it; the customer adds
        // bo and cy by hand, and gives cy web without user.
        s.sql(&[
            "INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) \
             SELECT m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m, associate a \
             WHERE m.module_name = 'chat-cal' AND a.login_name IN ('bo', 'cy')",
            "INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) \
             SELECT m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m, associate a \
             WHERE m.module_name IN ('user', 'web') AND a.login_name = 'bo'",
            "INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) \
             SELECT m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m, associate a \
             WHERE m.module_name = 'web' AND a.login_name = 'cy'",
        ]);
        assert!(s.check(&["anna", "chat-cal"]).is_ok(), "{}", s.db);
        assert_eq!(
            s.check(&["bo", "chat-cal"]),
            Err("MISSING_LICENSE:chat-cal".into()),
            "{}: over the count",
            s.db
        );
        assert!(
            s.check(&["bo"]).is_ok(),
            "bo's user and web are within the counts"
        );
        assert_eq!(
            s.check(&["cy", "web"]),
            Err("MISSING_LICENSE:web".into()),
            "no user"
        );
        let status = s.status();
        let chat = module(&status, "Vendor", "chat-cal");
        assert_eq!(
            (chat["total"].as_i64(), chat["in_use"].as_i64()),
            (Some(1), Some(3))
        );
        assert_eq!(chat["excess"], 2, "{}: reported", s.db);
        let text = s.ok(&["license", "status"]);
        assert!(text.contains("2 over the licensed count"), "{text}");

        // A link slipped in with a low id takes the place of anna's: still
        // only one holder.
        s.sql(&["DELETE FROM license_assoc_link WHERE assoc_id = (SELECT id FROM associate WHERE login_name = 'bo') \
             AND module_license_id = (SELECT id FROM module_license WHERE module_name = 'chat-cal')",
            "INSERT INTO license_assoc_link (id, module_license_id, assoc_id, created_at) \
             SELECT -5, m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m, associate a \
             WHERE m.module_name = 'chat-cal' AND a.login_name = 'bo'"]);
        let granted = ["anna", "bo", "cy"]
            .iter()
            .filter(|u| s.check(&[**u, "chat-cal"]).is_ok())
            .count();
        assert_eq!(granted, 1, "{}: never more holders than the count", s.db);
    }
}

/// Copies the owner's signed rows aside, so they can be put back later.
const SAVE_ROWS: [&str; 2] = [
    "CREATE TABLE saved_owner AS SELECT * FROM module_owner",
    "CREATE TABLE saved_module AS SELECT * FROM module_license",
];

/// Puts the saved rows back over the current ones (ids kept, so the
/// assignments stay attached).
const RESTORE_ROWS: [&str; 2] = [
    "UPDATE module_owner SET license_version = s.license_version, issued_at = s.issued_at, \
     expiration = s.expiration, grace_to = s.grace_to, module_count = s.module_count, \
     modules_digest = s.modules_digest, key_id = s.key_id, signature = s.signature \
     FROM saved_owner s WHERE s.id = module_owner.id",
    "UPDATE module_license SET license_count = s.license_count, module_version = s.module_version, \
     signature = s.signature FROM saved_module s WHERE s.id = module_license.id",
];

#[test]
fn restoring_an_older_licenses_rows_is_detected_as_a_rollback() {
    for s in Site::all("lisens_trust_rollback") {
        // Version 1 was a generous trial (chat for 5); version 2 what was bought (1).
        let trial = V1.replace(
            "count = 1\nprerequisite = \"user\"",
            "count = 5\nprerequisite = \"user\"",
        );
        let lic1 = s.sign("vendor", &trial, "trial");
        s.ok(&[
            "license",
            "load",
            p(&lic1),
            "--public-key",
            p(&s.public("vendor")),
        ]);
        s.sql(&SAVE_ROWS);
        let lic2 = s.sign(
            "vendor",
            &V1.replace("license_version = 1", "license_version = 2"),
            "v2",
        );
        s.ok(&[
            "license",
            "load",
            p(&lic2),
            "--public-key",
            p(&s.public("vendor")),
        ]);
        s.ok(&["user", "add", "anna"]);
        s.ok(&["license", "assign", "anna", "user"]);
        assert!(s.check(&["--system", "saint"]).is_ok());

        s.sql(&RESTORE_ROWS);
        // Every signature in the restored rows holds, but version 2 was
        // activated here: the restored license is invalid.
        assert_eq!(
            s.check(&["--system", "saint"]),
            Err("MISSING_LICENSE:saint".into()),
            "{}",
            s.db
        );
        let status = s.status();
        let owner = &status["owners"][0];
        assert_eq!(owner["license_version"], 1);
        assert_eq!(owner["valid"], false, "{}", s.db);
        assert!(
            owner["problem"]
                .as_str()
                .unwrap()
                .contains("version 2 was already activated"),
            "{owner}"
        );
        assert_eq!(module(&status, "Vendor", "chat-cal")["total"], 0);

        // Deleting everything and loading the old file again is refused too.
        s.sql(&["DELETE FROM module_owner"]);
        let out = s.run(&[
            "license",
            "load",
            p(&lic1),
            "--public-key",
            p(&s.public("vendor")),
        ]);
        fails_with(&out, "LICENSE_VERSION_OLDER");
    }
}

#[test]
fn a_pinned_key_holds_for_the_cli_check_from_the_environment_and_the_settings_file() {
    for s in Site::all("lisens_trust_pinned") {
        s.licensed();
        // The customer trusts its own key (it is the administrator) and
        // signs "Vendor" itself, with chat for everyone.
        let forged = s.sign(
            "own",
            &V1.replace("license_version = 1", "license_version = 7")
                .replace("count = 1\n", "count = 99\n"),
            "forged",
        );
        s.ok(&[
            "license",
            "trust-key",
            "--owner",
            "Vendor",
            "--public-key",
            p(&s.public("own")),
        ]);
        s.ok(&["license", "load", p(&forged), "--public-key", p(&s.public("own"))]);
        s.ok(&["license", "assign", "bo", "user"]);
        s.ok(&["license", "assign", "bo", "chat-cal"]);
        // Without the vendor's key pinned the database is all there is
        // (docs/trust-model.md says so); with it pinned, the forgery is void
        // for every command, wherever the pin comes from.
        assert!(
            s.check(&["bo", "chat-cal"]).is_ok(),
            "unpinned: the admin's trust-key stands"
        );
        let vendor_pub = s.public("vendor");
        let pin_env = [("LISENS_PUBLIC_KEY", p(&vendor_pub))];
        assert_eq!(
            s.check_env(&["bo", "chat-cal"], &pin_env),
            Err("MISSING_LICENSE:chat-cal".into()),
            "{}",
            s.db
        );
        let config = s.path("lisens.toml");
        std::fs::write(&config, format!("public_keys = [{:?}]\n", p(&vendor_pub))).unwrap();
        assert_eq!(
            s.check(&["--config", p(&config), "bo", "chat-cal"]),
            Err("MISSING_LICENSE:chat-cal".into())
        );
        let out = s.run_env(&["license", "status", "--json"], &pin_env);
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["owners"][0]["valid"], false);
    }
}

#[test]
fn keys_are_pinned_by_default_and_one_owner_never_grants_anothers_module_names() {
    for s in Site::all("lisens_trust_owners") {
        s.licensed();
        let own = s.sign("own", OWN, "own");
        // The first key was pinned when the vendor's license loaded.
        let out = s.run(&["license", "load", p(&own), "--public-key", p(&s.public("own"))]);
        fails_with(&out, "LICENSE_KEY_NOT_TRUSTED");
        assert_eq!(
            s.status()["owners"].as_array().unwrap().len(),
            1,
            "nothing stored"
        );

        // An administrator may trust it (a third party's add-on)...
        s.ok(&[
            "license",
            "trust-key",
            "--owner",
            "Kund Eget",
            "--public-key",
            p(&s.public("own")),
        ]);
        s.ok(&["license", "load", p(&own), "--public-key", p(&s.public("own"))]);
        // ... and links bo to its own chat-cal, user and saint by hand.
        s.sql(&[
            "INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) \
             SELECT m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m \
             JOIN module_owner o ON o.id = m.owner_id, associate a \
             WHERE o.owner_name = 'Kund Eget' AND m.module_name IN ('user', 'chat-cal') AND a.login_name = 'bo'",
        ]);
        // The vendor's chat-cal, user and saint are the vendor's alone.
        assert_eq!(
            s.check(&["bo", "chat-cal"]),
            Err("MISSING_LICENSE:chat-cal".into()),
            "{}",
            s.db
        );
        assert_eq!(s.check(&["bo"]), Err("MISSING_LICENSE:user".into()));
        assert!(s.check(&["--system", "saint"]).is_ok(), "the vendor's own saint");
        s.sql(&[
            "DELETE FROM module_license WHERE module_name = 'saint' AND owner_id = \
                 (SELECT id FROM module_owner WHERE owner_name = 'Vendor')",
        ]);
        assert_eq!(
            s.check(&["--system", "saint"]),
            Err("MISSING_LICENSE:saint".into())
        );
        // Asked by name, the customer's owner answers for itself only.
        assert!(s.check(&["--owner", "Kund Eget", "bo", "chat-cal"]).is_ok());
        assert!(s.check(&["--owner", "Kund Eget", "--system", "saint"]).is_ok());
        assert_eq!(
            s.check(&["--owner", "Nobody", "--system", "saint"]),
            Err("OWNER_UNKNOWN".into())
        );
    }
}

#[test]
fn a_clock_set_back_counts_as_expired_past_grace() {
    for s in Site::all("lisens_trust_clock") {
        s.licensed();
        assert!(s.check(&["anna"]).is_ok());
        // Time passes: a month from now the administrator adds a user.
        let month = (30 * 86_400).to_string();
        let later = [("LISENS_CLOCK_OFFSET_SECS", month.as_str())];
        ok(&s.run_env(&["user", "add", "dan"], &later));
        // Then the customer sets the clock back (to today).
        assert_eq!(s.check(&["anna"]), Err("CLOCK_SET_BACK".into()), "{}", s.db);
        assert_eq!(s.check(&["--system", "saint"]), Err("CLOCK_SET_BACK".into()));
        assert_eq!(s.status()["clock_set_back"], true);
        // Read-only: no assignment while the clock is behind.
        fails_with(&s.run(&["license", "assign", "bo", "user"]), "LICENSE_READ_ONLY");
        // A clock a little behind (within the tolerance) is fine.
        let nearly = (30 * 86_400 - 3_600).to_string();
        assert!(s
            .check_env(&["anna"], &[("LISENS_CLOCK_OFFSET_SECS", nearly.as_str())])
            .is_ok());
        // Removing the remembered time from the installation row is not
        // enough: the audit log and license history remember it too.
        s.sql(&["UPDATE installation SET latest_seen = NULL"]);
        assert_eq!(s.check(&["anna"]), Err("CLOCK_SET_BACK".into()));
    }
}

#[test]
fn demo_mode_cannot_be_entered_again_by_deleting_the_license() {
    for s in Site::all("lisens_trust_demo") {
        s.ok(&["user", "add", "anna"]);
        assert_eq!(s.check(&["anna"]), Ok("granted (DEMO_MODE)".into()), "{}", s.db);
        let lic = s.sign("vendor", V1, "v1");
        s.ok(&["license", "load", p(&lic), "--public-key", p(&s.public("vendor"))]);
        s.sql(&[
            "DELETE FROM module_owner",
            "DELETE FROM trusted_key",
            "DELETE FROM license_high_water",
        ]);
        assert_eq!(s.check(&["anna"]), Err("MISSING_LICENSE:user".into()), "{}", s.db);
        assert!(s.status()["demo"].is_null());
    }
}

#[test]
fn a_running_server_notices_a_hand_edit_within_5_seconds() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for s in Site::all("lisens_trust_live") {
        s.licensed();
        let out = s.ok(&["token", "create", "--scope", "check", "--name", "app"]);
        let token = out
            .split_whitespace()
            .find(|w| w.starts_with("lsn_"))
            .unwrap()
            .to_owned();
        let port = crate::soak::free_port();
        let mut server = crate::soak::serve(&s.db, port);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let granted = |user: &'static str, module: &'static str| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                let r: Value = client
                    .get(format!("{base}/api/v1/license/check?user={user}&module={module}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                r["granted"].as_bool().unwrap()
            }
        };
        rt.block_on(async {
            crate::soak::wait_healthy(&client, &base).await;
            assert!(granted("anna", "chat-cal").await);
            // A hand edit no write of lisens accompanies: the row's count
            // raised (its signature no longer matches).
            s.sql(&["UPDATE module_license SET license_count = 50 WHERE module_name = 'chat-cal'"]);
            let start = Instant::now();
            while granted("anna", "chat-cal").await {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{}: still granted after 5 s",
                    s.db
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // A deleted link, likewise.
            assert!(granted("anna", "web").await);
            s.sql(&["DELETE FROM license_assoc_link WHERE module_license_id = \
                     (SELECT id FROM module_license WHERE module_name = 'web')"]);
            let start = Instant::now();
            while granted("anna", "web").await {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{}: deleted link after 5 s",
                    s.db
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        // The finding reaches the system messages and the audit log.
        let start = Instant::now();
        loop {
            let events: Value = serde_json::from_str(&s.ok(&["events", "list", "--json"])).unwrap();
            let found = events.as_array().unwrap().iter().any(|e| {
                e["key"] == "license-integrity" && e["message"].as_str().unwrap().contains("chat-cal")
            });
            if found {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{}: no system message: {events}",
                s.db
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let audit = s.ok(&["audit", "--json"]);
        assert!(audit.contains("license integrity"), "{audit}");
        server.kill().unwrap();
        server.wait().unwrap();
    }
}

#[test]
fn a_license_with_a_maximum_offline_period_needs_the_issuers_signed_statements() {
    const DAY: i64 = 86_400;
    for s in Site::all("lisens_trust_offline") {
        let spec = V1.replace(
            "license_version = 1",
            "license_version = 1\nexpiration = 2027-12-31\ngrace_to = 2028-01-30\nmax_offline_days = 10",
        );
        let template = s.path("template.toml");
        std::fs::write(&template, spec).unwrap();
        let issuer_db = format!("sqlite://{}", s.path("issuer.db").display());
        let key = s.path("vendor").join("issuer.key");
        let ienv = [
            ("LISENS_ISSUER_DATABASE_URL", issuer_db.as_str()),
            ("LISENS_ISSUER_KEY", p(&key)),
        ];
        ok(&s.run_env(
            &[
                "issuer",
                "customer",
                "add",
                "--serial",
                "TRUST-1",
                "--company",
                "Kund AB",
                "--template",
                p(&template),
            ],
            &ienv,
        ));
        let port = crate::soak::free_port();
        let listen = format!("127.0.0.1:{port}");
        let (issuer, url) =
            crate::lifecycle::start(&["issuer", "serve", "--listen", &listen], &ienv, "listening");
        s.ok(&[
            "license",
            "register",
            "--issuer",
            &url,
            "--serial",
            "TRUST-1",
            "--owner",
            "Kund AB",
            "--public-key",
            p(&s.public("vendor")),
        ]);
        drop(issuer);
        s.ok(&["user", "add", "anna"]);
        s.ok(&["license", "assign", "anna", "user"]);
        s.ok(&["license", "assign", "anna", "web"]);
        let status = s.status();
        assert_eq!(status["owners"][0]["max_offline_days"], 10);
        assert!(status["owners"][0]["last_statement"].is_string(), "{status}");

        let at = |days: i64| (days * DAY).to_string();
        let check_at = |days: i64| s.check_env(&["anna"], &[("LISENS_CLOCK_OFFSET_SECS", at(days).as_str())]);
        assert_eq!(check_at(9), Ok("granted".into()), "{}", s.db);
        // Ten days without the issuer: in grace (the license's own 30 days),
        // then expired and read-only.
        assert_eq!(check_at(12), Ok("granted (LICENSE_IN_GRACE)".into()));
        assert_eq!(check_at(45), Err("LICENSE_EXPIRED".into()));

        // The issuer is heard from again on day 40: a fresh statement.
        let later = at(40);
        let (_issuer, _) = crate::lifecycle::start(
            &["issuer", "serve", "--listen", &listen],
            &[ienv[0], ienv[1], ("LISENS_CLOCK_OFFSET_SECS", later.as_str())],
            "listening",
        );
        ok(&s.run_env(
            &["license", "check-now"],
            &[("LISENS_CLOCK_OFFSET_SECS", later.as_str())],
        ));
        assert_eq!(check_at(45), Ok("granted".into()), "{}", s.db);
        // A forged statement (any text the customer writes) counts for nothing.
        s.sql(&["UPDATE issuer_statement SET statement = 'lisens-statement 1 e30= AAAA'"]);
        assert_eq!(check_at(45), Err("LICENSE_EXPIRED".into()));
    }
}

#[test]
fn a_new_key_is_trusted_on_the_word_of_a_trusted_key_and_of_nothing_else() {
    for s in Site::all("lisens_trust_rotation") {
        s.licensed();
        s.ok(&["issuer", "keygen", "--dir", p(&s.path("next"))]);
        // The customer's own key vouching for its own: worth nothing.
        let forged = s.path("forged.txt");
        s.rotate("own", "own", &forged);
        fails_with(
            &s.run(&["license", "trust-key", "--statement", p(&forged)]),
            "LICENSE_UNKNOWN_KEY",
        );
        // The vendor's current key vouches for its next one.
        let rotation = s.path("rotation.txt");
        s.rotate("vendor", "next", &rotation);
        let out = s.ok(&["license", "trust-key", "--statement", p(&rotation)]);
        assert!(out.contains("Vendor now also trusts key"), "{out}");
        let v2 = s.sign(
            "next",
            &V1.replace("license_version = 1", "license_version = 2"),
            "v2",
        );
        s.ok(&["license", "load", p(&v2), "--public-key", p(&s.public("next"))]);
        assert_eq!(s.status()["owners"][0]["license_version"], 2, "{}", s.db);
        assert!(s.check(&["anna", "chat-cal"]).is_ok());
        let audit = s.ok(&["audit", "--json"]);
        assert!(audit.contains("license trust-key"), "{audit}");
    }
}
