//! The audit log: every change over HTTP is recorded with who, when, what
//! and from where, without secrets; refused requests and reads are not; it
//! reads back in the API and exports as CSV.

use lisens_store::TokenScope;
use serde_json::{json, Value};

use crate::spawn_app;

#[tokio::test]
async fn changes_are_recorded_with_who_what_and_where_and_without_secrets() {
    let app = spawn_app().await;
    let admin = app.token(TokenScope::Admin).await;
    app.refresh().await;
    let post = |path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let r = post(
        "/api/v1/users",
        json!({"login": "anna", "password": "correct horse", "full_name": "=HYPERLINK(\"x\")"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    post(
        "/api/v1/users",
        json!({"login": "root", "password": "correct horse", "is_admin": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        post("/api/v1/users/anna/licenses", json!({"module": "essentials"}))
            .await
            .unwrap()
            .status(),
        204
    );
    // Refused and read-only requests change nothing and are not recorded.
    assert_eq!(
        post("/api/v1/users/anna/licenses", json!({"module": "nope"}))
            .await
            .unwrap()
            .status(),
        409
    );
    app.client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    // A session login: the user is the actor of what follows.
    let (cookie, csrf) = app.log_in("root", "correct horse").await;
    let r = app
        .client
        .delete(app.url("/api/v1/users/anna/licenses/essentials"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let page: Value = app
        .client
        .get(app.url("/api/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "root",
                "DELETE /api/v1/users/{login}/licenses/{module}",
                "login=anna module=essentials"
            ),
            ("anonymous", "POST /api/v1/session", ""),
            ("token:admin", "POST /api/v1/users/{login}/licenses", "login=anna"),
            ("token:admin", "POST /api/v1/users", ""),
            ("token:admin", "POST /api/v1/users", ""),
        ],
        "newest first; the refused assignment and the reads are not there"
    );
    assert!(items
        .iter()
        .all(|e| e["address"] == "127.0.0.1" && e["at"].as_str().unwrap().ends_with('Z')));
    let text = page.to_string();
    assert!(!text.contains("correct horse"), "no password is stored: {text}");
    assert!(items[1]["detail"]
        .as_str()
        .unwrap()
        .contains("\"login\":\"root\""));
    assert!(items[3]["detail"]
        .as_str()
        .unwrap()
        .contains("\"password\":\"***\""));

    // Filter by actor, and export as CSV with formulas defused.
    let mine: Value = app
        .client
        .get(app.url("/api/v1/audit?actor=root"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let csv = app
        .client
        .get(app.url("/api/v1/audit.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("id,at,actor,address,action,target,detail\n"));
    assert_eq!(csv.lines().count(), 6);
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");
    let bad = app
        .client
        .get(app.url("/api/v1/audit?since=yesterday"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // `since` names an instant whatever its offset: a minute ago written at
    // +02:00 takes every entry, a minute ahead written at -05:00 none.
    let at = |minutes: i64, offset: time::UtcOffset| {
        (time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes))
            .to_offset(offset)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    for (since, expected) in [
        (at(-1, time::macros::offset!(+02:00)), 5),
        (at(1, time::macros::offset!(-05:00)), 0),
    ] {
        let page: Value = app
            .client
            .get(app.url("/api/v1/audit"))
            .query(&[("since", &since)])
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            expected,
            "since={since}: {page}"
        );
    }
}
