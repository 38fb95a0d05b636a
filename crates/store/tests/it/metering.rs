use std::sync::Arc;

use lisens_core::metering::Zone;
use lisens_store::metering::UsageEvent;

use crate::{backends, key, public, signed};

const SPEC: &str = r#"
[owner]
name = "V"
company_name = "Meter AB"
serial = "M-1"
license_version = 1

[[module]]
name = "plan"
type = "user"
count = 100
extra_flags = "plan"
set = ["user"]

[[module]]
name = "user"
type = "user"
count = 100
hidden = true

[[module]]
name = "metered-chat-sessions"
type = "system"
hidden = true
extra_info = "base=100;per_user=10;unit_size=10;unit_price=1.50;currency=EUR"

[[module]]
name = "metered-storage"
type = "system"
hidden = true
extra_info = "base=1000;per_user=0"
"#;

fn ev(id: &str, service: &str, quantity: i64) -> UsageEvent {
    UsageEvent {
        id: id.into(),
        service: service.into(),
        quantity: quantity.into(),
        occurred_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    }
}

fn this_month() -> lisens_core::Month {
    lisens_core::metering::month_of(time::OffsetDateTime::now_utc(), &Zone::utc())
}

#[tokio::test]
async fn usage_is_counted_once_per_id_against_the_signed_threshold() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        for u in ["a", "b"] {
            db.store
                .create_associate(&lisens_store::NewAssociate {
                    login_name: u.into(),
                    full_name: u.into(),
                    email: String::new(),
                    is_admin: false,
                    password_hash: None,
                })
                .await
                .unwrap();
            db.store.assign(u, "plan").await.unwrap();
        }
        let r = db
            .store
            .ingest(
                &[
                    ev("e1", "chat_sessions", 70),
                    ev("e2", "chat_sessions", 60),
                    ev("e1", "chat_sessions", 70),
                ],
                &Zone::utc(),
            )
            .await
            .unwrap();
        assert_eq!((r.accepted, r.duplicates), (2, 1), "{}", db.name);
        let r = db
            .store
            .ingest(
                &[
                    ev("e2", "chat_sessions", 60),
                    ev("g1", "storage", 900),
                    ev("g2", "storage", 1200),
                    ev("g3", "storage", 500),
                ],
                &Zone::utc(),
            )
            .await
            .unwrap();
        assert_eq!((r.accepted, r.duplicates), (3, 1));
        db.store.check_thresholds(&Zone::utc()).await.unwrap();
        let report = db.store.usage_report(&this_month(), &Zone::utc()).await.unwrap();
        assert_eq!(report.billable_users, 2);
        let chat = report
            .services
            .iter()
            .find(|s| s.service == "chat_sessions")
            .unwrap();
        // threshold 100 + 10 x 2 = 120; usage 130; overage 10 -> 1 unit of 10 at 1.50
        assert_eq!(
            (chat.usage, chat.threshold, chat.overage, chat.price.as_deref()),
            (130, Some(120), 10, Some("1.50")),
            "{}",
            db.name
        );
        let storage = report.services.iter().find(|s| s.service == "storage").unwrap();
        assert_eq!(
            (storage.usage, storage.overage),
            (1200, 200),
            "a gauge keeps the highest reading"
        );
        let forms = report
            .services
            .iter()
            .find(|s| s.service == "form_submissions")
            .unwrap();
        assert_eq!(
            (forms.usage, forms.threshold),
            (0, None),
            "no policy, no threshold"
        );

        // Passing 80 % and 100 % raised a message each, once.
        let events = db.store.events(&Default::default(), 0, 50).await.unwrap();
        let alerts = events.iter().filter(|e| e.key == "metering-threshold").count();
        assert_eq!(
            alerts, 4,
            "{}: chat and storage, 80 % and 100 % each, once: {events:?}",
            db.name
        );
        db.store
            .ingest(&[ev("e3", "chat_sessions", 5)], &Zone::utc())
            .await
            .unwrap();
        db.store.check_thresholds(&Zone::utc()).await.unwrap();
        let again = db.store.events(&Default::default(), 0, 50).await.unwrap();
        assert_eq!(
            again.iter().filter(|e| e.key == "metering-threshold").count(),
            4,
            "not raised twice in a month"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_batch_with_a_bad_item_changes_nothing_and_says_which() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        let mut future = ev("f", "chat_sessions", 1);
        future.occurred_at = "2099-01-01T00:00:00Z".into();
        let mut ancient = ev("o", "chat_sessions", 1);
        ancient.occurred_at = "2001-01-01T00:00:00Z".into();
        let mut fraction = ev("q", "chat_sessions", 1);
        fraction.quantity = serde_json::json!(1.5);
        let batch = [
            ev("ok", "chat_sessions", 5),
            ev("x", "telepathy", 1),
            ev("n", "chat_sessions", -3),
            future,
            ancient,
            fraction,
        ];
        let err = db.store.ingest(&batch, &Zone::utc()).await.unwrap_err();
        let lisens_store::StoreError::BatchInvalid(items) = err else {
            panic!("{err}")
        };
        let codes: Vec<_> = items.iter().map(|i| (i.index, i.code.as_str())).collect();
        assert_eq!(
            codes,
            [
                (1, "SERVICE_UNKNOWN"),
                (2, "QUANTITY_INVALID"),
                (3, "TIME_IN_FUTURE"),
                (4, "TIME_BEFORE_INSTALLATION"),
                (5, "QUANTITY_INVALID")
            ],
            "{}",
            db.name
        );
        let report = db.store.usage_report(&this_month(), &Zone::utc()).await.unwrap();
        assert!(
            report.services.iter().all(|s| s.usage == 0),
            "{}: nothing counted",
            db.name
        );
        let too_many: Vec<_> = (0..1001)
            .map(|i| ev(&format!("b{i}"), "chat_sessions", 1))
            .collect();
        assert_eq!(
            db.store.ingest(&too_many, &Zone::utc()).await.unwrap_err().code(),
            "BATCH_INVALID"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn two_copies_of_a_batch_racing_are_counted_once() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        let batch: Vec<UsageEvent> = (0..200)
            .map(|i| ev(&format!("race-{i}"), "chat_sessions", 1))
            .collect();
        let stores = [Arc::new(db.reopen().await), Arc::new(db.reopen().await)];
        let mut tasks = Vec::new();
        for copy in 0..8 {
            let store = stores[copy % 2].clone();
            let batch = batch.clone();
            tasks.push(tokio::spawn(
                async move { store.ingest(&batch, &Zone::utc()).await },
            ));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await.unwrap().unwrap().accepted;
        }
        assert_eq!(accepted, 200, "{}", db.name);
        let report = db.store.usage_report(&this_month(), &Zone::utc()).await.unwrap();
        assert_eq!(
            report
                .services
                .iter()
                .find(|s| s.service == "chat_sessions")
                .unwrap()
                .usage,
            200,
            "{}",
            db.name
        );
        for s in stores {
            s.close().await;
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn a_tampered_policy_row_gives_no_threshold() {
    for db in backends().await {
        let k = key(1);
        db.store
            .load_license(&signed(SPEC, &k), &public(&k))
            .await
            .unwrap();
        db.exec("UPDATE module_license SET extra_info = 'base=999999999;per_user=10' WHERE module_name = 'metered-chat-sessions'").await;
        let report = db.store.usage_report(&this_month(), &Zone::utc()).await.unwrap();
        let chat = report
            .services
            .iter()
            .find(|s| s.service == "chat_sessions")
            .unwrap();
        assert_eq!(
            chat.threshold, None,
            "{}: a hand-edited policy is not honoured",
            db.name
        );
        db.finish().await;
    }
}
