//! HTTP tests against the real app on 127.0.0.1, port 0.

#![allow(clippy::unwrap_used)]

mod audit;
mod authz;
mod browser;
mod check;
mod events;
mod license_api;
mod limits;
mod lockout;
mod metering;
mod metrics;
mod openapi;
mod scim;
mod ui;
mod words;

use std::sync::Arc;

use lisens_core::{spec::parse_spec, SigningKey, VerifiedLicense};
use lisens_server::AppState;
use lisens_store::{NewAssociate, Store, TokenScope};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Arc<Store>,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn token(&self, scope: TokenScope) -> String {
        self.store
            .create_token("test", scope, rand_bytes())
            .await
            .unwrap()
            .secret
    }

    pub async fn user(&self, login: &str, admin: bool) {
        self.store
            .create_associate(&NewAssociate {
                login_name: login.into(),
                full_name: login.into(),
                email: String::new(),
                is_admin: admin,
                password_hash: None,
            })
            .await
            .unwrap();
    }

    /// Logs in over the session API: the session cookie (`name=value`) and
    /// the CSRF token that state-changing requests with it must carry.
    pub async fn log_in(&self, login: &str, password: &str) -> (String, String) {
        let resp = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let csrf = resp.json::<serde_json::Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (cookie, csrf)
    }

    /// Makes the app see changes now rather than at the next poll.
    pub async fn refresh(&self) {
        self.state.view.refresh().await.unwrap();
    }
}

pub fn rand_bytes() -> [u8; 32] {
    rand::random()
}

pub const SEED_SPEC: &str = r#"
[owner]
name = "SuperOffice"
company_name = "Seed AB"
serial = "S-2"
license_version = 1
license_url = "https://shop.example.com/buy"

[[module]]
name = "essentials"
type = "user"
count = 2
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
name = "saint"
type = "system"
hidden = true
"#;

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Some(SEED_SPEC)).await
}

/// The seed installation with these settings.
pub async fn spawn_app_set(settings: lisens_server::Settings) -> TestApp {
    spawn_app_full(Some(SEED_SPEC), settings).await
}

/// An installation with the license `spec` signed by the vendor's key (seed 5).
pub async fn spawn_app_licensed(spec: &str) -> TestApp {
    spawn_app_with(Some(spec)).await
}

/// A new installation: no license loaded yet, the vendor's key (seed 5)
/// pinned as `serve --public-key` pins it.
pub async fn spawn_unlicensed_app() -> TestApp {
    spawn_app_with(None).await
}

async fn spawn_app_with(spec: Option<&str>) -> TestApp {
    spawn_app_full(spec, Default::default()).await
}

async fn spawn_app_full(spec: Option<&str>, settings: lisens_server::Settings) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lisens.db").display());
    let key = SigningKey::from_seed([5; 32]);
    let mut store = Store::open(&url).await.unwrap();
    if let Some(spec) = spec {
        let content = parse_spec(spec, time::OffsetDateTime::now_utc()).unwrap();
        let license = VerifiedLicense::verify(&content.sign(&key), &[key.public().clone()]).unwrap();
        store.load_license(&license, key.public()).await.unwrap();
    } else {
        store = store.with_pinned_keys(vec![key.public().clone()]);
    }
    let store = Arc::new(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(store.clone(), settings).await.unwrap();
    tokio::spawn(lisens_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    TestApp {
        address,
        client: reqwest::Client::new(),
        store,
        state,
        _dir: dir,
    }
}

#[tokio::test]
async fn healthz_answers_200_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

/// A database outage: readiness says so (503, Retry-After) within the
/// probe's freshness, liveness stays 200 (checks answer from memory), and
/// neither waits on the database.
#[tokio::test]
async fn readiness_follows_the_database_and_liveness_does_not() {
    let app = spawn_app().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.store.close().await;
    let started = std::time::Instant::now();
    loop {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            assert_eq!(ready.headers()["retry-after"], "1");
            let body: serde_json::Value = ready.json().await.unwrap();
            assert_eq!(body["code"], "DATABASE_UNAVAILABLE");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still ready with the database closed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let t = std::time::Instant::now();
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(live.status(), 200);
    let body: serde_json::Value = live.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["database"]),
        (&serde_json::json!("ok"), &serde_json::json!("unavailable"))
    );
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a new UUID: {id}");
    let resp = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "trace-42",
        "the caller's id is kept"
    );
}
