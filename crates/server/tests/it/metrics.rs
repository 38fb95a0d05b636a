//! `/metrics` as Prometheus scrapes it: a `metrics` token, the series an
//! operator alerts on, and nobody else's tokens.

use lisens_store::TokenScope;
use serde_json::json;

use crate::spawn_app;

/// The value of the first sample line that starts with `prefix`.
fn sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{body}"))
}

#[tokio::test]
async fn a_metrics_token_scrapes_latency_checks_refusals_ingest_and_licenses_in_use() {
    let app = spawn_app().await;
    let scraper = app.token(TokenScope::Metrics).await;
    let admin = app.token(TokenScope::Admin).await;
    let check = app.token(TokenScope::Check).await;
    let metering = app.token(TokenScope::Metering).await;
    for login in ["anna", "bo", "cy"] {
        app.user(login, false).await;
    }
    app.refresh().await;
    let scrape = || async {
        let r = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(&scraper)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        r.text().await.unwrap()
    };
    let before = scrape().await;

    for login in ["anna", "bo", "cy"] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/users/{login}/licenses")))
            .bearer_auth(&admin)
            .json(&json!({"module": "essentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), if login == "cy" { 409 } else { 204 });
    }
    for login in ["anna", "cy"] {
        app.client
            .get(app.url(&format!("/api/v1/license/check?user={login}")))
            .bearer_auth(&check)
            .send()
            .await
            .unwrap();
    }
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let batch = json!([{"id": "m-1", "service": "chat_sessions", "quantity": 1, "occurred_at": now}]);
    for _ in 0..2 {
        let r = app
            .client
            .post(app.url("/api/v1/metering/events"))
            .bearer_auth(&metering)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let after = scrape().await;
    let grew = |prefix: &str| {
        let was = before
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        sample(&after, prefix) - was
    };
    // Counters are per process and other tests run beside this one, so
    // they grew at least by what this test did.
    assert!(
        grew("lisens_access_checks_total{result=\"granted\"}") >= 1.0,
        "{after}"
    );
    assert!(grew("lisens_access_checks_total{result=\"denied\"}") >= 1.0);
    assert!(grew("lisens_assignment_refusals_total{code=\"LICENSE_OVERCOMMITTED\"}") >= 1.0);
    assert!(grew("lisens_metering_events_total{result=\"accepted\"}") >= 1.0);
    assert!(grew("lisens_metering_events_total{result=\"duplicate\"}") >= 1.0);
    // Licenses in use are read from this installation at scrape time.
    assert_eq!(
        sample(
            &after,
            "lisens_licenses_in_use{owner=\"SuperOffice\",module=\"essentials\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &after,
            "lisens_licenses_total{owner=\"SuperOffice\",module=\"essentials\"}"
        ),
        2.0
    );
    // Latency by route template, never by raw path (bounded labels).
    assert!(
        after.contains("route=\"/api/v1/users/{login}/licenses\""),
        "{after}"
    );
    assert!(!after.contains("/api/v1/users/anna/licenses"));
    assert!(after.contains("lisens_http_request_duration_seconds_bucket{"));
    assert!(after.trim_end().ends_with("# EOF"));

    // Least privilege: the metrics token reads nothing else; other scopes
    // and anonymous callers may not read metrics.
    let r = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&scraper)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    for (token, status) in [(Some(&check), 403), (Some(&metering), 403), (None, 401)] {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status(), status);
    }
}
