//! Assignments on both backends. (Longer than 600 lines: the racing tests
//! share their fixtures with the rules they race.)

use std::sync::Arc;

use lisens_core::access::Decision;
use lisens_core::ModuleName;
use lisens_store::{AccessView, NewAssociate, Store};

use crate::{backends, key, public, signed};

/// The seeds' example: a plan with set=user,web,chat-cal and count 2.
const SEED_SPEC: &str = r#"
[owner]
name = "SuperOffice"
company_name = "Seed AB"
serial = "S-2"
license_version = 1

[[module]]
name = "essentials"
type = "user"
count = 2
extra_flags = "plan"
set = ["user", "web", "chat-cal"]

[[module]]
name = "user"
type = "user"
count = 10
hidden = true

[[module]]
name = "web"
type = "user"
count = 10
hidden = true
prerequisite = "user"

[[module]]
name = "chat-cal"
type = "user"
count = 10
hidden = true

[[module]]
name = "seats"
type = "user"
count = 10

[[module]]
name = "saint"
type = "system"
hidden = true
"#;

async fn add_users(store: &Store, logins: &[&str]) {
    for login in logins {
        store
            .create_associate(&NewAssociate {
                login_name: (*login).into(),
                full_name: login.to_uppercase(),
                email: format!("{login}@example.com"),
                is_admin: false,
                password_hash: None,
            })
            .await
            .unwrap();
    }
}

fn n(s: &str) -> ModuleName {
    ModuleName::parse(s).unwrap()
}

fn in_use(s: &lisens_store::LicenseStatus, name: &str) -> i64 {
    s.module(name).unwrap().1.in_use
}

#[tokio::test]
async fn a_plan_for_a_third_user_is_refused_and_nothing_changes() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna", "bo", "cy"]).await;
        db.store.assign("anna", "essentials").await.unwrap();
        db.store.assign("bo", "essentials").await.unwrap();
        let before = db.store.license_status().await.unwrap();
        let err = db.store.assign("cy", "essentials").await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_OVERCOMMITTED", "{}", db.name);
        assert!(
            err.to_string().contains("essentials"),
            "the error names the module: {err}"
        );
        let after = db.store.license_status().await.unwrap();
        assert_eq!(before, after, "{}: nothing changed for anyone", db.name);
        assert!(db.store.holdings("cy").await.unwrap().is_empty());
        assert_eq!(
            (
                in_use(&after, "essentials"),
                in_use(&after, "user"),
                in_use(&after, "chat-cal")
            ),
            (2, 2, 2)
        );
        assert_eq!(after.users.plans_in_use, 2);
        assert_eq!(after.users.active_users, 2);
        assert_eq!(after.users.licensed_logins, 10);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_user_with_a_plan_can_log_in_and_one_with_only_user_cannot() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna", "bo"]).await;
        db.store.assign("anna", "essentials").await.unwrap();
        db.store.assign("bo", "user").await.unwrap();
        let store = Arc::new(db.reopen().await);
        let view = AccessView::new(store).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        let v = view.get();
        assert_eq!(
            v.access.can_login("anna", now),
            Decision::Granted { warning: None },
            "{}",
            db.name
        );
        assert_eq!(
            v.access.can_login("bo", now).code().as_deref(),
            Some("MISSING_LICENSE:web")
        );
        assert!(v.access.has_module("anna", &n("chat-cal"), now).is_granted());
        assert!(v.access.has_system(&n("saint"), now).is_granted());

        // Deactivating blocks login once the view has noticed the change.
        db.store.deactivate_associate("anna").await.unwrap();
        assert!(view.refresh().await.unwrap());
        assert_eq!(
            view.get().access.can_login("anna", now).code().as_deref(),
            Some("USER_INACTIVE")
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn unassigning_a_plan_keeps_what_another_grant_still_needs() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna"]).await;
        db.store.assign("anna", "essentials").await.unwrap();
        db.store.assign("anna", "chat-cal").await.unwrap();
        let err = db.store.unassign("anna", "web").await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_GRANTED_BY_PLAN");
        db.store.unassign("anna", "essentials").await.unwrap();
        let held: Vec<_> = db
            .store
            .holdings("anna")
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.module, h.direct))
            .collect();
        assert_eq!(held, vec![("chat-cal".to_owned(), true)], "{}", db.name);
        let err = db.store.assign("anna", "web").await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_PREREQUISITE_MISSING");
        assert_eq!(
            db.store.assign("anna", "saint").await.unwrap_err().code(),
            "NOT_A_USER_LICENSE"
        );
        assert_eq!(
            db.store.assign("anna", "nope").await.unwrap_err().code(),
            "MODULE_UNKNOWN"
        );
        assert_eq!(
            db.store.assign("zed", "user").await.unwrap_err().code(),
            "USER_UNKNOWN"
        );
        assert_eq!(
            db.store.assign("anna", "Bad Name").await.unwrap_err().code(),
            "INVALID_INPUT"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_tampered_row_cannot_be_assigned_or_checked_as_granted() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna", "bo"]).await;
        db.store.assign("anna", "seats").await.unwrap();
        db.exec("UPDATE module_license SET license_count = 99 WHERE module_name = 'seats'")
            .await;
        assert_eq!(
            db.store.assign("bo", "seats").await.unwrap_err().code(),
            "LICENSE_INVALID",
            "{}",
            db.name
        );
        let view = AccessView::new(Arc::new(db.reopen().await)).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(
            view.get()
                .access
                .has_module("anna", &n("seats"), now)
                .code()
                .as_deref(),
            Some("MISSING_LICENSE:seats")
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn sixty_four_concurrent_assigners_get_exactly_the_count() {
    const SPEC: &str = r#"
[owner]
name = "V"
company_name = "Race AB"
serial = "R-1"
license_version = 1

[[module]]
name = "seats"
type = "user"
count = 10
"#;
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        let logins: Vec<String> = (0..64).map(|i| format!("u{i}")).collect();
        add_users(&db.store, &logins.iter().map(String::as_str).collect::<Vec<_>>()).await;
        // Two stores = two connection pools, as two server processes would have.
        let stores = [Arc::new(db.reopen().await), Arc::new(db.reopen().await)];
        let mut tasks = Vec::new();
        for (i, login) in logins.into_iter().enumerate() {
            let store = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move { store.assign(&login, "seats").await }));
        }
        let mut granted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => granted += 1,
                Err(e) => assert_eq!(e.code(), "LICENSE_OVERCOMMITTED", "{}: {e}", db.name),
            }
        }
        assert_eq!(granted, 10, "{}", db.name);
        let s = db.store.license_status().await.unwrap();
        assert_eq!(in_use(&s, "seats"), 10, "{}", db.name);
        for s in stores {
            s.close().await;
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn a_revoked_license_is_denied_by_another_process_view_within_a_second() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna"]).await;
        db.store.assign("anna", "essentials").await.unwrap();
        let other = Arc::new(db.reopen().await);
        let view = AccessView::new(other).await.unwrap();
        let _refresher = view.spawn_refresher(std::time::Duration::from_millis(250));
        let now = time::OffsetDateTime::now_utc();
        assert!(view.get().access.can_login("anna", now).is_granted());
        db.store.unassign("anna", "essentials").await.unwrap();
        let start = std::time::Instant::now();
        while view.get().access.can_login("anna", now).is_granted() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(1),
                "{}: still granted after 1 s",
                db.name
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn sites_are_bounded_by_their_site_licenses() {
    const SPEC: &str = r#"
[owner]
name = "V"
company_name = "Sites AB"
serial = "X-1"
license_version = 1

[[module]]
name = "satellite"
type = "site"
count = 1

[[module]]
name = "reporter-studio"
type = "site"
count = 1

[[module]]
name = "server"
type = "system"
"#;
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        db.store.add_site("hq", false).await.unwrap();
        assert_eq!(
            db.store.add_site("hq2", false).await.unwrap_err().code(),
            "ALREADY_EXISTS"
        );
        db.store.add_site("oslo", true).await.unwrap();
        let err = db.store.add_site("bergen", true).await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_OVERCOMMITTED", "{}", db.name);
        assert!(err.to_string().contains("satellite"));
        db.store
            .enable_site_module("hq", "reporter-studio")
            .await
            .unwrap();
        db.store
            .enable_site_module("hq", "reporter-studio")
            .await
            .unwrap();
        let err = db
            .store
            .enable_site_module("oslo", "reporter-studio")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_OVERCOMMITTED");
        assert_eq!(
            db.store
                .enable_site_module("oslo", "server")
                .await
                .unwrap_err()
                .code(),
            "INVALID_INPUT"
        );
        assert_eq!(
            db.store.add_site("bad name", false).await.unwrap_err().code(),
            "INVALID_INPUT"
        );
        db.store
            .disable_site_module("hq", "reporter-studio")
            .await
            .unwrap();
        db.store
            .enable_site_module("oslo", "reporter-studio")
            .await
            .unwrap();
        db.store.remove_site("oslo").await.unwrap();
        db.store.add_site("bergen", true).await.unwrap();
        let sites = db.store.list_sites().await.unwrap();
        let names: Vec<_> = sites
            .iter()
            .map(|s| (s.name.as_str(), s.kind.as_str(), s.modules.len()))
            .collect();
        assert_eq!(
            names,
            [("hq", "central", 0), ("bergen", "satellite", 0)],
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn assignment_windows_are_honoured_by_the_check() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna", "bo"]).await;
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let later = lisens_store::Window {
            valid_from: Some(now + day),
            valid_to: None,
        };
        db.store
            .assign_during("anna", "essentials", &later)
            .await
            .unwrap();
        let past = lisens_store::Window {
            valid_from: Some(now - day * 2),
            valid_to: Some(now - day),
        };
        db.store.assign_during("bo", "essentials", &past).await.unwrap();
        let backwards = lisens_store::Window {
            valid_from: Some(now),
            valid_to: Some(now - day),
        };
        assert_eq!(
            db.store
                .assign_during("bo", "seats", &backwards)
                .await
                .unwrap_err()
                .code(),
            "INVALID_INPUT"
        );
        let view = AccessView::new(Arc::new(db.reopen().await)).await.unwrap();
        let v = view.get();
        assert_eq!(
            v.access.can_login("anna", now).code().as_deref(),
            Some("MISSING_LICENSE:user"),
            "{}",
            db.name
        );
        assert!(v.access.can_login("anna", now + day * 2).is_granted());
        assert_eq!(
            v.access.can_login("bo", now).code().as_deref(),
            Some("MISSING_LICENSE:user")
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn past_the_grace_period_writes_are_refused_and_checks_deny() {
    let spec = SEED_SPEC.replace(
        "license_version = 1",
        "license_version = 1\nexpiration = 2020-01-01\ngrace_to = 2020-02-01",
    );
    for db in backends().await {
        add_users(&db.store, &["anna"]).await;
        let k = key(1);
        db.store
            .load_license(&signed(&spec, &k), &public(&k))
            .await
            .unwrap();
        assert_eq!(
            db.store.assign("anna", "essentials").await.unwrap_err().code(),
            "LICENSE_READ_ONLY",
            "{}",
            db.name
        );
        assert_eq!(
            db.store.deactivate_associate("anna").await.unwrap_err().code(),
            "LICENSE_READ_ONLY"
        );
        let view = AccessView::new(Arc::new(db.reopen().await)).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(
            view.get().access.has_system(&n("saint"), now).code().as_deref(),
            Some("LICENSE_EXPIRED")
        );
        assert!(view.get().access.is_read_only(now));
        db.finish().await;
    }
}

#[tokio::test]
async fn a_license_whose_maintenance_ended_before_this_release_is_refused_at_load() {
    let spec = SEED_SPEC.replace(
        "license_version = 1",
        "license_version = 1\nmaintenance_to = 2021-06-30",
    );
    for db in backends().await {
        let k = key(1);
        let err = db
            .store
            .load_license(&signed(&spec, &k), &public(&k))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_MAINTENANCE_EXPIRED", "{}", db.name);
        assert!(db.store.license_status().await.unwrap().owners.is_empty());
        db.finish().await;
    }
}

#[tokio::test]
async fn without_a_license_the_installation_runs_as_a_marked_demo() {
    for db in backends().await {
        let logins: Vec<String> = (0..6).map(|i| format!("d{i}")).collect();
        add_users(&db.store, &logins.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let status = db.store.license_status().await.unwrap();
        assert_eq!(status.demo.as_ref().map(|d| d.max_users), Some(5), "{}", db.name);
        let view = AccessView::new(Arc::new(db.reopen().await)).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        let v = view.get();
        assert_eq!(
            v.access.can_login("d0", now).code().as_deref(),
            Some("DEMO_MODE"),
            "{}",
            db.name
        );
        assert!(v.access.can_login("d4", now).is_granted());
        assert!(!v.access.can_login("d5", now).is_granted(), "only the first five");
        assert_eq!(
            v.access
                .can_login("d0", now + time::Duration::days(31))
                .code()
                .as_deref(),
            Some("DEMO_EXPIRED")
        );

        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        view.refresh().await.unwrap();
        assert_eq!(
            view.get().access.can_login("d0", now).code().as_deref(),
            Some("MISSING_LICENSE:user")
        );
        assert!(db.store.license_status().await.unwrap().demo.is_none());
        db.finish().await;
    }
}

fn assign(login: &str, module: &str) -> lisens_store::Assignment {
    lisens_store::Assignment {
        login: login.into(),
        module: module.into(),
        window: Some(lisens_store::Window::default()),
    }
}

fn unassign(login: &str, module: &str) -> lisens_store::Assignment {
    lisens_store::Assignment {
        window: None,
        ..assign(login, module)
    }
}

#[tokio::test]
async fn a_bulk_change_is_applied_whole_or_not_at_all() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SEED_SPEC, &k), &public(&k))
            .await
            .unwrap();
        add_users(&db.store, &["anna", "bo", "cy", "di"]).await;
        db.store.assign("anna", "essentials").await.unwrap();
        let before = db.store.license_status().await.unwrap();

        // The third plan is one too many; the unknown user and the bad
        // module name are refused too; and nothing at all is written.
        let err = db
            .store
            .change_all(&[
                assign("bo", "essentials"),
                assign("cy", "essentials"),
                assign("nobody", "seats"),
                unassign("anna", "essentials"),
            ])
            .await
            .unwrap_err();
        let lisens_store::StoreError::BulkRefused(items) = &err else {
            panic!("{}: {err:?}", db.name)
        };
        let refused: Vec<(usize, &str)> = items.iter().map(|e| (e.index, e.code.as_str())).collect();
        // In order: bo fills the last plan, so cy's is refused; anna's
        // unassign comes after and cannot make room retroactively.
        assert_eq!(
            refused,
            [(1, "LICENSE_OVERCOMMITTED"), (2, "USER_UNKNOWN")],
            "{}",
            db.name
        );
        assert_eq!(db.store.license_status().await.unwrap(), before, "{}", db.name);
        assert!(db.store.holdings("bo").await.unwrap().is_empty());

        let malformed = db
            .store
            .change_all(&[assign("bo", "seats"), assign("bo", "NOT A MODULE")])
            .await
            .unwrap_err();
        assert_eq!(malformed.code(), "BATCH_INVALID", "{}", db.name);
        assert!(db.store.holdings("bo").await.unwrap().is_empty());

        // Freeing a plan first makes room for the rest, in order.
        let applied = db
            .store
            .change_all(&[
                unassign("anna", "essentials"),
                assign("bo", "essentials"),
                assign("cy", "essentials"),
                assign("di", "seats"),
            ])
            .await
            .unwrap();
        assert_eq!(applied, 4);
        let s = db.store.license_status().await.unwrap();
        assert_eq!(
            (in_use(&s, "essentials"), in_use(&s, "user"), in_use(&s, "seats")),
            (2, 2, 1),
            "{}",
            db.name
        );
        assert!(db.store.holdings("anna").await.unwrap().is_empty());
        assert_eq!(
            db.store.change_all(&[]).await.unwrap_err().code(),
            "INVALID_INPUT"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn racing_bulk_changes_never_exceed_a_count() {
    const SPEC: &str = r#"
[owner]
name = "V"
company_name = "Race AB"
serial = "R-1"
license_version = 1

[[module]]
name = "seats"
type = "user"
count = 10
"#;
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        let logins: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
        add_users(&db.store, &logins.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let stores = [Arc::new(db.reopen().await), Arc::new(db.reopen().await)];
        // Eight bulk requests of four users each (overlapping in reverse
        // order, to provoke lock-order cycles) and eight single assigners.
        let mut tasks = Vec::new();
        for b in 0..8 {
            let store = stores[b % 2].clone();
            let mut batch: Vec<_> = (0..4)
                .map(|i| assign(&format!("u{}", (b * 3 + i) % 32), "seats"))
                .collect();
            if b % 2 == 1 {
                batch.reverse();
            }
            tasks.push(tokio::spawn(async move {
                store.change_all(&batch).await.map(|n| n as i64)
            }));
        }
        for i in 32..40 {
            let store = stores[i % 2].clone();
            let login = format!("u{i}");
            tasks.push(tokio::spawn(async move {
                store.assign(&login, "seats").await.map(|()| 1)
            }));
        }
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(e) => assert!(
                    matches!(e.code(), "BULK_REFUSED" | "LICENSE_OVERCOMMITTED"),
                    "{}: {e}",
                    db.name
                ),
            }
        }
        let s = db.store.license_status().await.unwrap();
        assert!(in_use(&s, "seats") <= 10, "{}: {}", db.name, in_use(&s, "seats"));
        for s in stores {
            s.close().await;
        }
        db.finish().await;
    }
}
