use lisens_server::AppState;
use lisens_store::{NewAssociate, TokenScope};
use serde_json::{json, Value};

use crate::{spawn_app, TestApp};

async fn user(app: &TestApp, login: &str, admin: bool) {
    let hash = lisens_server::auth::hash_password("correct horse battery").unwrap();
    app.store
        .create_associate(&NewAssociate {
            login_name: login.into(),
            full_name: login.into(),
            email: String::new(),
            is_admin: admin,
            password_hash: Some(hash),
        })
        .await
        .unwrap();
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

async fn login(app: &TestApp, c: &reqwest::Client, who: &str) -> reqwest::Response {
    c.post(app.url("/api/v1/session"))
        .json(&json!({"login": who, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_login_keeps_users_out_everywhere_within_a_second_but_not_administrators() {
    let app = spawn_app().await;
    user(&app, "admin", true).await;
    user(&app, "anna", false).await;
    app.store.assign("anna", "essentials").await.unwrap();
    app.refresh().await;
    let anna = client();
    assert_eq!(login(&app, &anna, "anna").await.status(), 201);

    // A second server process on the same database adds No Login.
    let other = AppState::new(app.store.clone(), Default::default())
        .await
        .unwrap();
    let admin_token = app
        .store
        .create_token("ops", TokenScope::Admin, rand::random())
        .await
        .unwrap()
        .secret;
    other.view.refresh().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lisens_server::serve(listener, other, std::future::pending()));
    let r = reqwest::Client::new()
        .post(format!("{other_url}/api/v1/system-events"))
        .bearer_auth(&admin_token)
        .json(&json!({"key": "no-login", "message": "upgrade in progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let start = std::time::Instant::now();
    loop {
        let r = anna.get(app.url("/api/v1/license/status")).send().await.unwrap();
        if r.status() == 401 {
            assert_eq!(
                r.json::<Value>().await.unwrap()["code"],
                "NO_LOGIN_EVENT",
                "told why"
            );
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "still in after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let r = login(&app, &anna, "anna").await;
    assert_eq!(
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["code"]
                .as_str()
                .map(str::to_owned)
        ),
        (403, Some("NO_LOGIN_EVENT".into()))
    );
    assert_eq!(
        login(&app, &client(), "admin").await.status(),
        201,
        "administrators still log in"
    );
    let flags: Value = reqwest::Client::new()
        .get(app.url("/api/v1/system-events/flags"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        flags,
        json!({"no_login": true, "no_freetext": false, "no_travel": false})
    );

    // An id too large for a 64-bit integer is refused as bad input, in
    // problem+json like every other refusal.
    for bad in ["99999999999999999999", "x"] {
        let r = reqwest::Client::new()
            .post(app.url(&format!("/api/v1/system-events/{bad}/end")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{bad}");
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["code"],
            "INVALID_INPUT"
        );
    }
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/system-events/{id}/end")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    app.refresh().await;
    assert_eq!(
        login(&app, &anna, "anna").await.status(),
        201,
        "ending it restores login"
    );
}

#[tokio::test]
async fn the_message_of_the_day_appears_after_login() {
    let app = spawn_app().await;
    user(&app, "admin", true).await;
    let token = app.token(TokenScope::Admin).await;
    app.refresh().await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/system-events"))
        .bearer_auth(&token)
        .json(&json!({"key": "motd", "message": "Backups run at 02:00", "scope": "system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c = client();
    let form = c
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = form.find("name=\"csrf\" value=\"").unwrap() + 19;
    let page = c
        .post(app.url("/login"))
        .form(&[
            ("login", "admin"),
            ("password", "correct horse battery"),
            ("csrf", &form[i..i + 64]),
        ])
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Message of the day") && html.contains("Backups run at 02:00"),
        "{html}"
    );
    let events: Value = reqwest::Client::new()
        .get(app.url("/api/v1/system-events?status=active&limit=10"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["key"], "motd");
    for bad in ["status=maybe", "limit=0", "scope=planet", "colour=red"] {
        let r = reqwest::Client::new()
            .get(app.url(&format!("/api/v1/system-events?{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/system-events"))
        .bearer_auth(&token)
        .json(&json!({"key": "reboot", "message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
