//! Users: the installation always keeps an active administrator, and a
//! database this process may only read serves reads and refuses writes.

use lisens_store::{NewAssociate, Store, StoreError};

use crate::backends;

fn user(login: &str, is_admin: bool) -> NewAssociate {
    NewAssociate {
        login_name: login.into(),
        full_name: login.into(),
        email: String::new(),
        is_admin,
        password_hash: None,
    }
}

async fn active_admins(store: &Store) -> Vec<String> {
    store
        .list_associates()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| *a.is_admin && *a.active)
        .map(|a| a.login_name)
        .collect()
}

#[tokio::test]
async fn the_last_active_administrator_is_never_deactivated_or_deleted() {
    for db in backends().await {
        let s = &db.store;
        for (login, admin) in [("boss", true), ("root", true), ("anna", false)] {
            s.create_associate(&user(login, admin)).await.unwrap();
        }
        s.deactivate_associate("boss").await.unwrap();
        for refused in [
            s.deactivate_associate("root").await,
            s.delete_associate("root").await,
        ] {
            let e = refused.unwrap_err();
            assert!(matches!(e, StoreError::LastAdministrator(_)), "{}: {e}", db.name);
            assert_eq!(e.code(), "LAST_ADMINISTRATOR");
        }
        assert_eq!(active_admins(s).await, ["root"], "{}", db.name);
        // Ordinary users and inactive administrators go as before.
        s.deactivate_associate("anna").await.unwrap();
        s.delete_associate("boss").await.unwrap();
        s.activate_associate("anna").await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn two_administrators_taken_away_at_once_leave_one() {
    for db in backends().await {
        for round in 0..12 {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            for login in [&a, &b] {
                db.store.create_associate(&user(login, true)).await.unwrap();
            }
            // Every earlier pair ended with one left: take it away first.
            if round > 0 {
                let left = active_admins(&db.store).await;
                assert_eq!(left.len(), 3, "{}: {left:?}", db.name);
                let old = left.iter().find(|l| **l != a && **l != b).unwrap().clone();
                db.store.delete_associate(&old).await.unwrap();
            }
            let delete_second = round % 2 == 1;
            let (x, y) = tokio::join!(db.store.deactivate_associate(&a), async {
                if delete_second {
                    db.store.delete_associate(&b).await
                } else {
                    db.store.deactivate_associate(&b).await
                }
            });
            let refused = [&x, &y]
                .iter()
                .filter(|r| matches!(r, Err(StoreError::LastAdministrator(_))))
                .count();
            assert_eq!(
                (x.is_ok() as usize + y.is_ok() as usize, refused),
                (1, 1),
                "{} round {round}: {x:?} {y:?}",
                db.name
            );
            assert_eq!(active_admins(&db.store).await.len(), 1, "{}", db.name);
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn a_database_the_process_may_only_read_serves_reads_and_refuses_writes() {
    for db in backends().await {
        db.store.create_associate(&user("root", true)).await.unwrap();
        db.store.create_associate(&user("anna", false)).await.unwrap();
        assert!(db.store.writable().await.unwrap(), "{}", db.name);
        let (ro_url, role) = match db.name {
            "sqlite" => (format!("{}?mode=ro", db.url), None),
            _ => {
                // A role that may read every table and write none.
                let role = format!("ro_{}", rand::random::<u32>());
                for sql in [
                    format!("CREATE ROLE {role} LOGIN"),
                    format!("GRANT USAGE ON SCHEMA public TO {role}"),
                    format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
                ] {
                    db.exec(&sql).await;
                }
                let url = db.url.replacen("://postgres@", &format!("://{role}@"), 1);
                assert_ne!(url, db.url, "the test URL names the user postgres");
                (url, Some(role))
            }
        };
        let ro = Store::open(&ro_url)
            .await
            .unwrap_or_else(|e| panic!("{}: {} {e}", db.name, e.code()));
        assert!(!ro.writable().await.unwrap(), "{}", db.name);
        assert_eq!(ro.list_associates().await.unwrap().len(), 2);
        ro.license_status().await.unwrap();
        let e = ro.create_associate(&user("bo", false)).await.unwrap_err();
        assert_eq!(e.code(), "DATABASE_READ_ONLY", "{}: {e}", db.name);
        let e = ro.deactivate_associate("anna").await.unwrap_err();
        assert_eq!(e.code(), "DATABASE_READ_ONLY", "{}: {e}", db.name);
        ro.close().await;
        assert_eq!(db.store.list_associates().await.unwrap().len(), 2);
        let admin = db.url.clone();
        db.finish().await;
        if let Some(role) = role {
            let base = admin.rsplit_once('/').unwrap().0;
            let pool = sqlx::AnyPool::connect(&format!("{base}/postgres")).await.unwrap();
            sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}
