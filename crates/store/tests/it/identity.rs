//! Users' identity: an id is never given to another user (an identity
//! provider holding an old id must never reach a new person), and a login is
//! one user regardless of case; on both backends, and for a database made by
//! an older release (migrations up to 0010) that migration 0011 upgrades.

use lisens_store::{NewAssociate, Store};
use sqlx::AnyPool;

use crate::{backends, pg_admin_url};

fn user(login: &str) -> NewAssociate {
    NewAssociate {
        login_name: login.into(),
        full_name: login.into(),
        email: String::new(),
        is_admin: false,
        password_hash: None,
    }
}

#[tokio::test]
async fn a_deleted_users_id_is_never_given_to_another_user() {
    for db in backends().await {
        let s = &db.store;
        for login in ["anna", "bo"] {
            s.create_associate(&user(login)).await.unwrap();
        }
        let carl = s.create_associate(&user("carl")).await.unwrap();
        s.delete_associate("carl").await.unwrap();
        let dan = s.create_associate(&user("dan")).await.unwrap();
        assert!(dan > carl, "{}: carl had {carl}, dan got {dan}", db.name);
        assert_eq!(s.associate_by_id(carl).await.unwrap(), None, "{}", db.name);
        // Also across a restart of the process.
        s.delete_associate("dan").await.unwrap();
        let reopened = db.reopen().await;
        let eve = reopened.create_associate(&user("eve")).await.unwrap();
        assert!(eve > dan, "{}: dan had {dan}, eve got {eve}", db.name);
        reopened.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_login_is_one_user_regardless_of_case() {
    for db in backends().await {
        let s = &db.store;
        let id = s.create_associate(&user("Boss")).await.unwrap();
        let e = s.create_associate(&user("boss")).await.unwrap_err();
        assert_eq!(e.code(), "ALREADY_EXISTS", "{}: {e}", db.name);
        // Not even by hand: the index holds.
        let raw = sqlx::query(
            "INSERT INTO associate (login_name, full_name, email, created_at, updated_at) \
             VALUES ('BOSS', 'x', '', 'now', 'now')",
        )
        .execute(&db.raw)
        .await;
        assert!(raw.is_err(), "{}: a second BOSS went in by SQL", db.name);
        // Lookups find the user in any case; the login keeps its case.
        let found = s.associate("bOsS").await.unwrap();
        assert_eq!((found.id, found.login_name.as_str()), (id, "Boss"), "{}", db.name);
        s.update_associate("BOSS", "The Boss", "boss@example.com")
            .await
            .unwrap();
        assert_eq!(s.associate("boss").await.unwrap().full_name, "The Boss");
        s.delete_associate("bOSS").await.unwrap();
        assert_eq!(s.count_associates().await.unwrap(), 0, "{}", db.name);
        db.finish().await;
    }
}

/// A database as an older release left it: migrations 0001-0010 only.
struct OldDb {
    name: &'static str,
    url: String,
    raw: AnyPool,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl OldDb {
    async fn exec(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        sqlx::query_as::<_, (String,)>(sql)
            .fetch_all(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|(t,)| t)
            .collect()
    }

    async fn applied(&self) -> i64 {
        let (v,): (i64,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.raw)
            .await
            .unwrap();
        v
    }

    async fn finish(self) {
        self.raw.close().await;
        if let Some((admin_url, db)) = self.pg {
            let admin = AnyPool::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// The migrations of `backend` before `version`, copied out so sqlx runs
/// exactly those.
async fn migrator_before(backend: &str, version: &str, dir: &std::path::Path) -> sqlx::migrate::Migrator {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let out = dir.join(format!("migrations-{backend}"));
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < version {
            std::fs::copy(entry.path(), out.join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(out).await.unwrap()
}

async fn old_databases() -> Vec<OldDb> {
    sqlx::any::install_default_drivers();
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let raw = AnyPool::connect(&url).await.unwrap();
    migrator_before("sqlite", "0011", dir.path())
        .await
        .run(&raw)
        .await
        .unwrap();
    out.push(OldDb {
        name: "sqlite",
        url: format!("sqlite://{}", dir.path().join("old.db").display()),
        raw,
        pg: None,
        _dir: dir,
    });
    if let Some(admin_url) = pg_admin_url() {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("lisens_old_{}_{}", std::process::id(), rand::random::<u32>());
        let admin = AnyPool::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        let url = format!("{base}/{db}");
        let raw = AnyPool::connect(&url).await.unwrap();
        migrator_before("postgres", "0011", dir.path())
            .await
            .run(&raw)
            .await
            .unwrap();
        out.push(OldDb {
            name: "postgres",
            url,
            raw,
            pg: Some((admin_url, db)),
            _dir: dir,
        });
    }
    out
}

#[tokio::test]
async fn an_older_database_with_logins_differing_only_in_case_is_refused_naming_them() {
    for db in old_databases().await {
        assert_eq!(db.applied().await, 10, "{}", db.name);
        db.exec(
            "INSERT INTO associate (login_name, full_name, email, created_at, updated_at) VALUES \
             ('Boss', '', '', 'c', 'u'), ('anna', '', '', 'c', 'u'), ('boss', '', '', 'c', 'u'), \
             ('carl', '', '', 'c', 'u'), ('ANNA', '', '', 'c', 'u')",
        )
        .await;
        let e = Store::open(&db.url).await.err().expect("refused");
        assert_eq!(e.code(), "LOGINS_COLLIDE", "{}: {e}", db.name);
        let text = e.to_string();
        assert!(
            text.contains("anna/ANNA, Boss/boss") && !text.contains("carl"),
            "{}: {text}",
            db.name
        );
        assert_eq!(db.applied().await, 10, "{}: nothing applied", db.name);

        // The migration itself refuses too (should a pair slip in between
        // the check and the migration), and applies nothing.
        let dir = tempfile::tempdir().unwrap();
        let all = migrator_before(db.name, "9999", dir.path()).await;
        // A pool of its own: a failed PostgreSQL run keeps its advisory
        // lock on the connection until that connection closes.
        let once = AnyPool::connect(&db.url).await.unwrap();
        let e = all.run(&once).await.expect_err("the migration refuses");
        once.close().await;
        if db.name == "postgres" {
            assert!(e.to_string().contains("anna/ANNA, Boss/boss"), "{e}");
        }
        assert_eq!(db.applied().await, 10, "{}: nothing applied", db.name);
        if db.name == "sqlite" {
            let tables = db
                .texts("SELECT name FROM sqlite_master WHERE name LIKE '\\_v11%' ESCAPE '\\'")
                .await;
            assert!(tables.is_empty(), "half applied: {tables:?}");
            let sql = db
                .texts("SELECT sql FROM sqlite_master WHERE name = 'associate'")
                .await;
            assert!(!sql[0].contains("AUTOINCREMENT"), "half applied: {sql:?}");
        }
        assert_eq!(
            db.texts("SELECT login_name FROM associate ORDER BY id").await,
            ["Boss", "anna", "boss", "carl", "ANNA"],
            "{}",
            db.name
        );

        // Renamed, the database opens and every user is there.
        db.exec("UPDATE associate SET login_name = 'boss2' WHERE login_name = 'boss'")
            .await;
        db.exec("DELETE FROM associate WHERE login_name = 'ANNA'").await;
        let store = Store::open(&db.url).await.unwrap();
        assert_eq!(db.applied().await, every_migration(), "{}", db.name);
        assert_eq!(store.count_associates().await.unwrap(), 4);
        assert_eq!(store.associate("BOSS2").await.unwrap().login_name, "boss2");
        store.close().await;
        db.finish().await;
    }
}

/// Every row of `table` as text, in a stable order.
async fn rows(db: &OldDb, table: &str) -> Vec<String> {
    let columns = db
        .texts(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .await;
    let row = columns
        .iter()
        .map(|c| format!("quote({c})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    db.texts(&format!("SELECT {row} FROM {table} ORDER BY 1")).await
}

#[tokio::test]
async fn an_older_sqlite_database_keeps_every_row_and_never_reuses_an_id_after_0011() {
    let db = old_databases().await.into_iter().next().unwrap();
    assert_eq!(db.name, "sqlite");
    // Rows in every recreated table, with children pointing at parents.
    for sql in [
        "INSERT INTO module_owner VALUES (1, 'o', 'd', 'c', 'S-1', 'onsite', 3, 'u', 'i', \
         '2030-01-01', NULL, NULL, NULL, NULL, 1, 'dg', 'k', 'sig', 'l')",
        "INSERT INTO module_license VALUES (7, 1, 'user', 'd', 1, 't', 1, 5, 0, '', 0, 0, 0, NULL, 'sig')",
        "INSERT INTO associate (id, login_name, full_name, email, active, login_rights, is_admin, \
         password_hash, created_at, updated_at, language) VALUES \
         (1, 'anna', 'Anna', 'a@x', 1, 1, 1, '$argon2id$x', 'c', 'u', 'sv'), \
         (2, 'bo', 'Bo', '', 0, 1, 0, NULL, 'c', 'u', NULL), \
         (3, 'carl', 'Carl', '', 1, 0, 0, NULL, 'c', 'u', NULL)",
        "INSERT INTO license_assoc_link (id, module_license_id, assoc_id, valid_from, valid_to, \
         comment, check_value, created_at, direct) VALUES \
         (4, 7, 1, '2026-01-01T00:00:00Z', NULL, 'why', 'cv', 'c', 0), (9, 7, 3, NULL, NULL, '', '', 'c', 1)",
        "INSERT INTO web_session VALUES ('h1', 1, 'csrf', 'c', 'e'), ('h3', 3, 'csrf3', 'c', 'e')",
        "INSERT INTO site VALUES (2, 'hq', 'central', 'c')",
        "INSERT INTO site_module VALUES (2, 'user', 'c')",
        "INSERT INTO api_token VALUES (5, 'idp', 'scim', 'hash', 'c', NULL)",
        "INSERT INTO license_event (owner_name, kind, automatic, actor, at, detail) \
         VALUES ('o', 'loaded', 0, 'cli', 'at', '')",
        "INSERT INTO issuer_check (at, ok, status, message) VALUES ('at', 1, 'ok', '')",
        "INSERT INTO system_event (event_key, scope, status, message, description, kind, \
         activated_at, activated_by) VALUES ('motd', 'system', 'active', 'hi', '', 'admin', 'at', 'anna')",
        "INSERT INTO audit_log (at, actor, address, action, target, detail) \
         VALUES ('at', 'anna', 'local', 'x', '', '')",
    ] {
        db.exec(sql).await;
    }
    let tables = [
        "module_owner",
        "module_license",
        "associate",
        "license_assoc_link",
        "web_session",
        "site",
        "site_module",
        "api_token",
        "license_event",
        "issuer_check",
        "system_event",
        "audit_log",
    ];
    let schema = |what: &'static str| {
        let db = &db;
        async move {
            let mut out = Vec::new();
            for t in tables {
                out.push(match what {
                    "rows" => rows(db, t).await,
                    "keys" => {
                        db.texts(&format!(
                            "SELECT \"table\" || '.' || \"to\" || ' ' || \"from\" || ' ' || on_delete \
                             FROM pragma_foreign_key_list('{t}') ORDER BY 1"
                        ))
                        .await
                    }
                    _ => {
                        db.texts(&format!(
                            "SELECT name || ' ' || \"unique\" || ' ' || partial \
                             FROM pragma_index_list('{t}') ORDER BY 1"
                        ))
                        .await
                    }
                });
            }
            out
        }
    };
    let (rows_before, keys_before, mut indexes_before) = (
        schema("rows").await,
        schema("keys").await,
        schema("indexes").await,
    );

    let store = Store::open(&db.url).await.unwrap();
    assert_eq!(db.applied().await, every_migration());
    // Every row kept as it was; later migrations may append columns.
    let rows_after = schema("rows").await;
    assert_eq!(rows_after.len(), rows_before.len());
    for (after, before) in rows_after.iter().zip(&rows_before) {
        assert_eq!(after.len(), before.len(), "{after:?} / {before:?}");
        for (a, b) in after.iter().zip(before) {
            assert!(a.starts_with(b.as_str()), "every row kept, as it was: {a} / {b}");
        }
    }
    assert_eq!(schema("keys").await, keys_before, "every foreign key kept");
    indexes_before[2].insert(0, "associate_login_lower 1 0".into());
    assert_eq!(schema("indexes").await, indexes_before, "every index kept");
    assert!(db.texts("PRAGMA foreign_key_check").await.is_empty());
    assert_eq!(db.texts("PRAGMA integrity_check").await, ["ok"]);
    for t in tables
        .iter()
        .filter(|t| !matches!(**t, "web_session" | "site_module"))
    {
        let sql = db
            .texts(&format!("SELECT sql FROM sqlite_master WHERE name = '{t}'"))
            .await;
        assert!(sql[0].contains("AUTOINCREMENT"), "{t}: {}", sql[0]);
    }

    // From now on a deleted id stays used. (The made-up license goes
    // first: its rows carry no real signature.)
    db.exec("DELETE FROM module_owner").await;
    store.delete_associate("carl").await.unwrap();
    let dan = store.create_associate(&user("dan")).await.unwrap();
    assert_eq!(dan, 4);
    store.delete_associate("dan").await.unwrap();
    assert_eq!(store.create_associate(&user("eve")).await.unwrap(), 5);
    store.close().await;
    db.finish().await;
}

/// How many migrations this release has (the same number per backend).
fn every_migration() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    std::fs::read_dir(dir).unwrap().count() as i64
}
