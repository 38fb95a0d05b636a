use lisens_store::TokenScope;
use serde_json::Value;

use crate::spawn_app;

async fn get(app: &crate::TestApp, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(app.url(&format!("/api/v1/license/check?{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn the_check_answers_login_module_and_system_questions() {
    let app = spawn_app().await;
    app.user("anna", false).await;
    app.user("bo", false).await;
    app.store.assign("anna", "essentials").await.unwrap();
    app.store.assign("bo", "user").await.unwrap();
    let token = app.token(TokenScope::Check).await;
    app.refresh().await;

    let (status, body) = get(&app, "user=anna", Some(&token)).await;
    assert_eq!((status, body["granted"].as_bool()), (200, Some(true)), "{body}");
    let (_, body) = get(&app, "user=bo", Some(&token)).await;
    assert_eq!(body["granted"], false);
    assert_eq!(body["reason"], "MISSING_LICENSE:web");
    let (_, body) = get(&app, "user=anna&module=web", Some(&token)).await;
    assert_eq!(body["granted"], true);
    let (_, body) = get(&app, "system=saint", Some(&token)).await;
    assert_eq!(body["granted"], true);
    let (_, body) = get(&app, "user=nobody", Some(&token)).await;
    assert_eq!(body["reason"], "USER_UNKNOWN");

    // Revoked at once everywhere: the next refresh (at most 250 ms) denies.
    app.store.unassign("anna", "essentials").await.unwrap();
    let start = std::time::Instant::now();
    loop {
        let (_, body) = get(&app, "user=anna", Some(&token)).await;
        if body["granted"] == false {
            assert_eq!(body["reason"], "MISSING_LICENSE:user");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "still granted after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_check_needs_a_live_token_and_a_well_formed_query() {
    let app = spawn_app().await;
    let (status, body) = get(&app, "user=anna", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let (status, _) = get(&app, "user=anna", Some("lsn_not-a-token")).await;
    assert_eq!(status, 401);

    let admin = app.token(TokenScope::Admin).await;
    app.refresh().await;
    for bad in [
        "",
        "module=web",
        "user=a&system=saint",
        "system=Not%20A%20Name",
        "user=a&colour=red",
    ] {
        let (status, body) = get(&app, bad, Some(&admin)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["code"].as_str().unwrap().starts_with("INVALID_"),
            "{bad}: {body}"
        );
    }

    let list = app
        .store
        .create_token("gone", TokenScope::Check, crate::rand_bytes())
        .await
        .unwrap();
    app.store.revoke_token(list.id).await.unwrap();
    app.refresh().await;
    let (status, _) = get(&app, "user=anna", Some(&list.secret)).await;
    assert_eq!(status, 401, "a revoked token is refused");
}

/// A change made through this server is visible to the very next request:
/// the access view is rebuilt before the changing request's response
/// leaves (not up to 250 ms later by the refresher).
#[tokio::test]
async fn a_change_made_here_is_seen_by_the_next_request() {
    let app = spawn_app().await;
    app.user("anna", false).await;
    let admin = app.token(TokenScope::Admin).await;
    let check = app.token(TokenScope::Check).await;
    app.refresh().await;
    for round in 0..10 {
        let assigned = app
            .client
            .post(app.url("/api/v1/users/anna/licenses"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"module": "essentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(assigned.status(), 204, "{}", assigned.text().await.unwrap());
        let (_, body) = get(&app, "user=anna", Some(&check)).await;
        assert_eq!(body["granted"], true, "round {round}: {body}");
        let removed = app
            .client
            .delete(app.url("/api/v1/users/anna/licenses/essentials"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 204, "{}", removed.text().await.unwrap());
        let (_, body) = get(&app, "user=anna", Some(&check)).await;
        assert_eq!(body["granted"], false, "round {round}: {body}");
    }
}
