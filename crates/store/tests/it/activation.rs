use std::sync::Arc;

use lisens_store::{Actor, Received, Store};

use crate::{backends, key, public, signed, TestDb};

const SPEC: &str = r#"
[owner]
name = "SuperOffice"
company_name = "Act AB"
serial = "A-1"
license_version = 1

[[module]]
name = "essentials"
type = "user"
count = 3
extra_flags = "plan"
set = ["user", "web"]

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
name = "seats"
type = "user"
count = 5
"#;

const ADMIN: Actor<'static> = Actor {
    name: "admin",
    automatic: false,
};

fn version(spec: &str, v: u32) -> String {
    spec.replace("license_version = 1", &format!("license_version = {v}"))
}

async fn receive(db: &TestDb, spec: &str) -> Result<Received, lisens_store::StoreError> {
    let k = key(1);
    let lic = signed(spec, &k);
    let doc = lic_document(spec);
    db.store
        .receive_license(&lic, &public(&k), &doc, "file", ADMIN)
        .await
}

fn lic_document(spec: &str) -> String {
    lisens_core::spec::parse_spec(spec, time::OffsetDateTime::now_utc())
        .unwrap()
        .sign(&key(1))
}

async fn users(store: &Store, n: usize) {
    for i in 0..n {
        store
            .create_associate(&lisens_store::NewAssociate {
                login_name: format!("u{i}"),
                full_name: format!("User {i}"),
                email: String::new(),
                is_admin: false,
                password_hash: None,
            })
            .await
            .unwrap();
    }
}

fn total(s: &lisens_store::LicenseStatus, name: &str) -> (i64, i64) {
    let m = s.module(name).unwrap().1;
    (m.total, m.in_use)
}

#[tokio::test]
async fn raising_counts_is_activated_automatically_and_keeps_assignments() {
    for db in backends().await {
        assert_eq!(receive(&db, SPEC).await.unwrap(), Received::Loaded);
        users(&db.store, 2).await;
        db.store.assign("u0", "essentials").await.unwrap();
        let more = version(SPEC, 2).replace("count = 3", "count = 8");
        match receive(&db, &more).await.unwrap() {
            Received::Activated { diff } => {
                assert_eq!(
                    diff.changes.len(),
                    1,
                    "{}: only the changed module: {diff:?}",
                    db.name
                );
                let c = &diff.changes[0];
                assert_eq!(
                    (
                        c.name.as_str(),
                        c.in_use,
                        c.total,
                        c.added,
                        c.new_total,
                        c.new_free
                    ),
                    ("essentials", 1, 3, 5, 8, 7)
                );
            }
            other => panic!("{}: {other:?}", db.name),
        }
        let s = db.store.license_status().await.unwrap();
        assert!(s.owners[0].valid, "{}: {:?}", db.name, s.owners[0].problem);
        assert_eq!(s.owners[0].license_version, 2);
        assert_eq!(total(&s, "essentials"), (8, 1), "the assignment survived");
        assert_eq!(receive(&db, &more).await.unwrap(), Received::Unchanged);
        let kinds: Vec<_> = db
            .store
            .license_events(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["activated", "loaded"], "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn lowering_below_in_use_waits_until_excess_is_removed() {
    for db in backends().await {
        receive(&db, SPEC).await.unwrap();
        users(&db.store, 3).await;
        for u in ["u0", "u1", "u2"] {
            db.store.assign(u, "essentials").await.unwrap();
        }
        let fewer = version(SPEC, 2)
            .replace("count = 3", "count = 1")
            .replace("count = 5", "count = 6");
        match receive(&db, &fewer).await.unwrap() {
            Received::Pending { diff } => assert_eq!(diff.blocking().len(), 1, "{diff:?}"),
            other => panic!("{}: {other:?}", db.name),
        }
        assert_eq!(
            db.store.license_status().await.unwrap().owners[0].license_version,
            1,
            "pending is not active"
        );
        let pending = db.store.pending_license("SuperOffice").await.unwrap().unwrap();
        assert_eq!(pending.blocking, ["essentials"]);
        assert_eq!(pending.diff.changes.len(), 2, "essentials and seats changed");

        let err = db.store.activate_pending("SuperOffice", ADMIN).await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_TOO_MANY_ASSIGNED", "{}", db.name);
        assert!(err.to_string().contains("essentials"));

        let holders = db.store.module_holders("essentials", 0, 10).await.unwrap();
        assert_eq!(holders.len(), 3);
        db.store
            .remove_excess("essentials", &["u1".into(), "u2".into()], ADMIN)
            .await
            .unwrap();
        assert!(
            db.store.holdings("u1").await.unwrap().is_empty(),
            "the plan's modules went with it"
        );
        let pending = db.store.pending_license("SuperOffice").await.unwrap().unwrap();
        assert!(pending.blocking.is_empty());
        db.store.activate_pending("SuperOffice", ADMIN).await.unwrap();
        let s = db.store.license_status().await.unwrap();
        assert_eq!(
            (
                s.owners[0].license_version,
                total(&s, "essentials"),
                total(&s, "seats")
            ),
            (2, (1, 1), (6, 0))
        );
        assert!(db.store.pending_license("SuperOffice").await.unwrap().is_none());
        assert_eq!(
            db.store
                .activate_pending("SuperOffice", ADMIN)
                .await
                .unwrap_err()
                .code(),
            "LICENSE_NOT_PENDING"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn replays_and_foreign_licenses_are_refused_and_recorded() {
    for db in backends().await {
        receive(&db, &version(SPEC, 3)).await.unwrap();
        let before = db.store.license_status().await.unwrap();
        let err = receive(&db, &version(SPEC, 2)).await.unwrap_err();
        assert_eq!(err.code(), "LICENSE_VERSION_OLDER", "{}", db.name);
        let err = receive(&db, &version(SPEC, 4).replace("A-1", "A-2"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_SERIAL_MISMATCH");
        let expired = version(SPEC, 4).replace(
            "license_version = 4",
            "license_version = 4\nexpiration = 2024-01-01",
        );
        assert_eq!(
            receive(&db, &expired).await.unwrap_err().code(),
            "LICENSE_EXPIRED"
        );
        let other = key(2);
        let lic = signed(&version(SPEC, 5), &other);
        let err = db
            .store
            .receive_license(&lic, &public(&other), "", "file", ADMIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_OWNER_KEY_MISMATCH");
        assert_eq!(
            db.store.license_status().await.unwrap(),
            before,
            "{}: the current license is untouched",
            db.name
        );
        let events = db.store.license_events(10).await.unwrap();
        let rejected: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "rejected")
            .filter_map(|e| e.code.clone())
            .collect();
        assert_eq!(
            rejected,
            [
                "LICENSE_EXPIRED",
                "LICENSE_SERIAL_MISMATCH",
                "LICENSE_VERSION_OLDER"
            ]
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn activation_racing_with_assignments_never_leaves_a_module_above_its_count() {
    for db in backends().await {
        receive(&db, &SPEC.replace("count = 5", "count = 10"))
            .await
            .unwrap();
        users(&db.store, 20).await;
        for i in 0..3 {
            db.store.assign(&format!("u{i}"), "seats").await.unwrap();
        }
        let store = Arc::new(db.reopen().await);
        let mut tasks = Vec::new();
        for i in 3..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.assign(&format!("u{i}"), "seats").await
            }));
        }
        let lower = version(SPEC, 2);
        let outcome = receive(&db, &lower).await;
        for t in tasks {
            let _ = t.await.unwrap();
        }
        let s = db.store.license_status().await.unwrap();
        let (count, used) = total(&s, "seats");
        assert!(
            used <= count,
            "{}: {used} in use of {count} ({outcome:?})",
            db.name
        );
        assert!(s.owners[0].valid);
        store.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn sites_in_use_hold_back_a_license_with_fewer_site_licenses() {
    let spec = format!("{SPEC}\n[[module]]\nname = \"satellite\"\ntype = \"site\"\ncount = 3\n");
    for db in backends().await {
        receive(&db, &spec).await.unwrap();
        db.store.add_site("oslo", true).await.unwrap();
        db.store.add_site("bergen", true).await.unwrap();
        let s = db.store.license_status().await.unwrap();
        assert_eq!(
            total(&s, "satellite"),
            (3, 2),
            "{}: sites are counted as in use",
            db.name
        );
        let fewer = version(&spec, 2).replace("count = 3\n", "count = 1\n");
        match receive(&db, &fewer).await.unwrap() {
            Received::Pending { diff } => assert_eq!(diff.blocking()[0].as_str(), "satellite", "{}", db.name),
            other => panic!("{}: {other:?}", db.name),
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn remove_excess_with_an_unknown_user_changes_nobody() {
    for db in backends().await {
        receive(&db, SPEC).await.unwrap();
        users(&db.store, 2).await;
        db.store.assign("u0", "essentials").await.unwrap();
        db.store.assign("u1", "essentials").await.unwrap();
        let err = db
            .store
            .remove_excess("essentials", &["u0".into(), "nobody".into()], ADMIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "USER_UNKNOWN", "{}", db.name);
        assert_eq!(
            db.store.holdings("u0").await.unwrap().len(),
            3,
            "{}: u0 kept the plan and its set",
            db.name
        );
        db.store.assign("u1", "seats").await.unwrap();
        let err = db
            .store
            .remove_excess("seats", &["u1".into(), "u0".into()], ADMIN)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "LICENSE_NOT_ASSIGNED", "u0 does not hold seats");
        assert!(
            db.store
                .holdings("u1")
                .await
                .unwrap()
                .iter()
                .any(|h| h.module == "seats"),
            "u1 kept seats"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_plan_whose_set_changes_moves_its_holders_implied_licenses() {
    let spec = SPEC.replace(
        "count = 5\n",
        "count = 5\n\n[[module]]\nname = \"chat-cal\"\ntype = \"user\"\ncount = 5\nhidden = true\n",
    );
    for db in backends().await {
        receive(&db, &spec).await.unwrap();
        users(&db.store, 2).await;
        db.store.assign("u0", "essentials").await.unwrap();
        db.store.assign("u1", "essentials").await.unwrap();
        db.store.assign("u1", "web").await.unwrap();
        let changed =
            version(&spec, 2).replace("set = [\"user\", \"web\"]", "set = [\"user\", \"chat-cal\"]");
        assert!(
            matches!(receive(&db, &changed).await.unwrap(), Received::Activated { .. }),
            "{}",
            db.name
        );
        let held = |login: &'static str| {
            let store = &db.store;
            async move {
                let mut h: Vec<String> = store
                    .holdings(login)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|h| h.module)
                    .collect();
                h.sort();
                h
            }
        };
        assert_eq!(
            held("u0").await,
            ["chat-cal", "essentials", "user"],
            "{}: web went, chat-cal came",
            db.name
        );
        assert_eq!(
            held("u1").await,
            ["chat-cal", "essentials", "user", "web"],
            "{}: a direct web stays",
            db.name
        );
        let s = db.store.license_status().await.unwrap();
        assert_eq!(total(&s, "chat-cal"), (5, 2));
        db.finish().await;
    }
}

/// An assignment plans from the verified rows as read a moment ago: a
/// module that a license activated just now adds, and a count it raises,
/// are there for the very next assignment all the same.
#[tokio::test]
async fn the_first_assignment_after_an_activation_sees_the_new_rows() {
    for db in backends().await {
        assert_eq!(receive(&db, SPEC).await.unwrap(), Received::Loaded);
        users(&db.store, 3).await;
        // Read the rows (and remember them) with a first assignment.
        db.store.assign("u0", "seats").await.unwrap();
        let more = version(SPEC, 2).replace("count = 5", "count = 6").replace(
            "[[module]]\nname = \"seats\"",
            "[[module]]\nname = \"reports\"\ntype = \"user\"\ncount = 1\n\n[[module]]\nname = \"seats\"",
        );
        assert!(
            matches!(receive(&db, &more).await.unwrap(), Received::Activated { .. }),
            "{}",
            db.name
        );
        db.store.assign("u1", "reports").await.unwrap();
        assert_eq!(
            db.store.assign("u2", "reports").await.unwrap_err().code(),
            "LICENSE_OVERCOMMITTED",
            "{}",
            db.name
        );
        db.finish().await;
    }
}
