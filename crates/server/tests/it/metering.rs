use lisens_store::TokenScope;
use serde_json::{json, Value};

use crate::spawn_app;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn components_report_usage_with_a_metering_token_and_administrators_read_it() {
    let app = spawn_app().await;
    let metering = app.token(TokenScope::Metering).await;
    let check = app.token(TokenScope::Check).await;
    let admin = app.token(TokenScope::Admin).await;
    app.refresh().await;
    let post = |token: &str, body: Value| {
        app.client
            .post(app.url("/api/v1/metering/events"))
            .bearer_auth(token.to_owned())
            .json(&body)
    };

    let batch = json!([{"id": "a1", "service": "chat_sessions", "quantity": 3, "occurred_at": now()},
                       {"id": "a2", "service": "form_submissions", "quantity": 2, "occurred_at": now()}]);
    assert_eq!(
        post(&check, batch.clone()).send().await.unwrap().status(),
        403,
        "a check token may not report usage"
    );
    let r = post(&metering, batch.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 2, "duplicates": 0})
    );
    let r = post(&metering, batch).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 0, "duplicates": 2}),
        "re-sent events count once"
    );

    let r = post(
        &metering,
        json!([{"id": "b", "service": "telepathy", "quantity": 1, "occurred_at": now()}]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["errors"][0]["code"].as_str()),
        (Some("BATCH_INVALID"), Some("SERVICE_UNKNOWN"))
    );
    let r = app
        .client
        .post(app.url("/api/v1/metering/events"))
        .bearer_auth(&metering)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    assert_eq!(
        app.client
            .get(app.url("/api/v1/metering/usage"))
            .bearer_auth(&metering)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let report: Value = app
        .client
        .get(app.url("/api/v1/metering/usage"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "chat_sessions")
        .unwrap()
        .clone();
    assert_eq!(chat["usage"], 3);
    let r = app
        .client
        .get(app.url("/api/v1/metering/usage?month=2026-13"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let csv = app
        .client
        .get(app.url("/metering/usage.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("month,service,usage") && csv.contains(",chat_sessions,3,"),
        "{csv}"
    );
}
