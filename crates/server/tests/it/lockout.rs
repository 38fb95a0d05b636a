//! Nobody locks the administrators out: not an identity provider's token,
//! not the last administrator's own colleagues, not someone guessing
//! passwords from elsewhere. Client addresses are simulated the way a
//! reverse proxy reports them (X-Forwarded-For from a trusted proxy).

use std::time::Duration;

use lisens_store::{NewAssociate, TokenScope};
use serde_json::json;

use crate::{spawn_app, TestApp};

async fn admin_with_password(app: &TestApp, login: &str) {
    let hash = lisens_server::auth::hash_password("correct horse battery").unwrap();
    app.store
        .create_associate(&NewAssociate {
            login_name: login.into(),
            full_name: login.into(),
            email: String::new(),
            is_admin: true,
            password_hash: Some(hash),
        })
        .await
        .unwrap();
}

/// The app served again behind a "proxy" on 127.0.0.0/8, so each request
/// names its client in X-Forwarded-For.
async fn behind_proxy(app: &TestApp) -> String {
    let state = app
        .state
        .with_proxies(lisens_server::client_addr::TrustedProxies::parse("127.0.0.0/8").unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lisens_server::serve(listener, state, std::future::pending()));
    address
}

async fn log_in_from(address: &str, client: &str, login: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{address}/api/v1/session"))
        .header("X-Forwarded-For", client)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_passwords_from_one_address_never_block_the_right_one_from_another() {
    let app = spawn_app().await;
    admin_with_password(&app, "admin").await;
    let address = behind_proxy(&app).await;
    const A: &str = "203.0.113.7";
    const B: &str = "198.51.100.2";
    for _ in 0..lisens_server::auth::FREE_PER_PAIR {
        assert_eq!(log_in_from(&address, A, "admin", "guess").await.status(), 401);
    }
    // A is delayed, even with the right password...
    let r = log_in_from(&address, A, "admin", "correct horse battery").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "RATE_LIMITED"
    );
    // ...while the administrator logs in from B at once.
    let r = log_in_from(&address, B, "admin", "correct horse battery").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // Hammering A while it waits costs nothing more; each further failure
    // doubles its delay.
    for _ in 0..20 {
        assert_eq!(log_in_from(&address, A, "admin", "guess").await.status(), 429);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(log_in_from(&address, A, "admin", "guess").await.status(), 401);
    let r = log_in_from(&address, A, "admin", "guess").await;
    assert_eq!(
        (r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()),
        (429, "2")
    );
    assert_eq!(
        log_in_from(&address, B, "admin", "correct horse battery")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn guesses_sent_at_once_are_throttled_like_guesses_in_a_row() {
    let app = spawn_app().await;
    admin_with_password(&app, "admin").await;
    let address = behind_proxy(&app).await;
    let guesses: Vec<_> = (0..30)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                log_in_from(&address, "203.0.113.9", "admin", "guess")
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut checked = 0;
    for g in guesses {
        match g.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("{other}"),
        }
    }
    assert!(
        checked <= lisens_server::auth::FREE_PER_PAIR as usize,
        "{checked} passwords checked at once"
    );
}

#[tokio::test]
async fn a_stolen_session_cannot_guess_the_current_password() {
    let app = spawn_app().await;
    admin_with_password(&app, "admin").await;
    let (cookie, csrf) = app.log_in("admin", "correct horse battery").await;
    let change = |current: &'static str| {
        app.client
            .post(app.url("/api/v1/session/password"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"current_password": current, "new_password": "a brand new secret"}))
            .send()
    };
    for _ in 0..lisens_server::auth::FREE_PER_PAIR {
        assert_eq!(change("guess").await.unwrap().status(), 403);
    }
    let r = change("correct horse battery").await.unwrap();
    assert_eq!(r.status(), 429, "even the right password waits");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "RATE_LIMITED"
    );
    let still = app.store.password_hash("admin").await.unwrap().unwrap();
    assert!(lisens_server::auth::verify_password(
        "correct horse battery",
        &still
    ));
}

#[tokio::test]
async fn the_last_active_administrator_is_never_deactivated_over_the_api() {
    let app = spawn_app().await;
    app.user("boss", true).await;
    app.user("root", true).await;
    let token = app.token(TokenScope::Admin).await;
    app.refresh().await;
    let deactivate = |login: &str| {
        app.client
            .post(app.url(&format!("/api/v1/users/{login}/deactivate")))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(deactivate("boss").await.unwrap().status(), 204);
    let r = deactivate("root").await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "LAST_ADMINISTRATOR"
    );
    assert!(*app.store.associate("root").await.unwrap().active);
    // SCIM cannot delete the last one either (nor any administrator).
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    let id = app.store.associate("root").await.unwrap().id;
    let r = app
        .client
        .delete(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&scim)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(app.store.associate("root").await.is_ok());
}
