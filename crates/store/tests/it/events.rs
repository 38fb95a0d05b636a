use std::sync::Arc;

use lisens_core::events::{EventKey, EventScope, EventStatus, Flags};
use lisens_store::{AccessView, EventFilter, NewEvent};

use crate::backends;

fn event(key: EventKey, scope: EventScope, target: Option<&str>) -> NewEvent {
    NewEvent {
        key,
        scope,
        target: target.map(str::to_owned),
        message: "maintenance tonight".into(),
        description: "longer text".into(),
        eta: Some("2026-12-01T18:00:00Z".into()),
        activated_by: "admin".into(),
    }
}

#[tokio::test]
async fn events_are_added_listed_filtered_and_ended() {
    for db in backends().await {
        let s = &db.store;
        let no_login = s
            .add_event(&event(EventKey::NoLogin, EventScope::System, None))
            .await
            .unwrap();
        s.add_event(&event(EventKey::MessageOfTheDay, EventScope::Database, None))
            .await
            .unwrap();
        let bad = s
            .add_event(&event(EventKey::NoLogin, EventScope::User, None))
            .await
            .unwrap_err();
        assert_eq!(
            bad.code(),
            "INVALID_INPUT",
            "{}: a user event names its user",
            db.name
        );
        let mut late = event(EventKey::Custom, EventScope::System, None);
        late.eta = Some("tomorrow".into());
        assert_eq!(s.add_event(&late).await.unwrap_err().code(), "INVALID_INPUT");

        let view = AccessView::new(Arc::new(db.reopen().await)).await.unwrap();
        assert_eq!(
            Flags::of(&view.get().access.events),
            Flags {
                no_login: true,
                no_freetext: false,
                no_travel: false
            }
        );
        assert_eq!(view.get().access.messages_of_the_day(), ["maintenance tonight"]);

        s.end_event(no_login, EventStatus::Finished).await.unwrap();
        assert_eq!(
            s.end_event(no_login, EventStatus::Finished)
                .await
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );
        let active = EventFilter {
            status: Some(EventStatus::Active),
            ..Default::default()
        };
        let listed = s.events(&active, 0, 10).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", db.name);
        assert_eq!(
            (listed[0].key.as_str(), listed[0].scope.as_str()),
            ("motd", "database")
        );
        let all = s.events(&EventFilter::default(), 0, 10).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[1].finished_at.is_some());
        db.finish().await;
    }
}

#[tokio::test]
async fn a_job_whose_process_died_is_marked_failed() {
    for db in backends().await {
        let s = &db.store;
        let job = s
            .start_job("user-import", "importing", None, "cli")
            .await
            .unwrap();
        s.job_progress(job, 40, "40 of 100").await.unwrap();
        assert_eq!(
            s.fail_dead_jobs().await.unwrap(),
            0,
            "{}: its process (this one) is alive",
            db.name
        );
        // The process that ran it is gone.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        db.exec(&format!(
            "UPDATE system_event SET runner = '{}:3999999' WHERE id = {job}",
            host.trim()
        ))
        .await;
        assert_eq!(s.fail_dead_jobs().await.unwrap(), 1, "{}", db.name);
        let e = s.event(job).await.unwrap().unwrap();
        assert_eq!((e.status.as_str(), e.progress), ("failed", Some(40)));
        // A job on another host whose heartbeat stopped fails too.
        let other = s
            .start_job("reverify", "checking rows", None, "cli")
            .await
            .unwrap();
        db.exec(&format!("UPDATE system_event SET runner = 'elsewhere:1', heartbeat_at = '2020-01-01T00:00:00Z' WHERE id = {other}")).await;
        assert_eq!(s.fail_dead_jobs().await.unwrap(), 1);
        db.finish().await;
    }
}

/// A pending license's message ends when the license is activated, not by
/// hand (EVENT_ENDS_ITSELF), on both backends; an administrator's own
/// message ends by hand.
#[tokio::test]
async fn a_message_that_ends_itself_cannot_be_ended_by_hand() {
    for db in backends().await {
        let s = &db.store;
        let pending = s
            .raise_event("license-pending", "SuperOffice v2: pending", "", true)
            .await
            .unwrap();
        let err = s
            .end_event_by_hand(pending, EventStatus::Finished)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "EVENT_ENDS_ITSELF", "{}", db.name);
        let listed = s
            .events(
                &EventFilter {
                    status: Some(EventStatus::Active),
                    ..Default::default()
                },
                0,
                10,
            )
            .await
            .unwrap();
        assert!(
            listed.iter().any(|e| e.id == pending && !e.ends_by_hand()),
            "{}",
            db.name
        );
        let motd = s
            .add_event(&event(EventKey::MessageOfTheDay, EventScope::System, None))
            .await
            .unwrap();
        s.end_event_by_hand(motd, EventStatus::Finished).await.unwrap();
        db.finish().await;
    }
}
