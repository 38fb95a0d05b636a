use lisens_core::{spec::parse_spec, SigningKey};
use lisens_store::TokenScope;
use serde_json::{json, Value};

use crate::{spawn_app, SEED_SPEC};

fn document(version: u32, essentials: u32) -> String {
    let spec = SEED_SPEC
        .replace("license_version = 1", &format!("license_version = {version}"))
        .replace(
            "count = 2\nextra_flags",
            &format!("count = {essentials}\nextra_flags"),
        );
    parse_spec(&spec, time::OffsetDateTime::now_utc())
        .unwrap()
        .sign(&SigningKey::from_seed([5; 32]))
}

#[tokio::test]
async fn an_administrator_drives_activation_over_the_api() {
    let app = spawn_app().await;
    for u in ["anna", "bo"] {
        app.user(u, false).await;
        app.store.assign(u, "essentials").await.unwrap();
    }
    let admin = app.token(TokenScope::Admin).await;
    let check = app.token(TokenScope::Check).await;
    app.refresh().await;
    let post = |path: &str, token: &str| app.client.post(app.url(path)).bearer_auth(token.to_owned());

    let r = post("/api/v1/license/file", &check)
        .body(document(2, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a check token may not load licenses");
    let r = post("/api/v1/license/file", &admin)
        .body(document(2, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], "activated", "{body}");
    assert_eq!(body["diff"]["changes"][0]["new_total"], 5);

    let r = post("/api/v1/license/file", &admin)
        .body(document(3, 1))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], "pending", "{body}");
    let pending: Value = app
        .client
        .get(app.url("/api/v1/license/pending"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending[0]["blocking"], json!(["essentials"]));

    // A newer license that also waits replaces the first: the status names
    // the one waiting, and one system message stands for it.
    let r = post("/api/v1/license/file", &admin)
        .body(document(4, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "pending");
    let get = |path: &str| {
        let request = app.client.get(app.url(path)).bearer_auth(admin.clone());
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let status = get("/api/v1/license/status").await;
    assert_eq!(status["owners"][0]["license_version"], 2, "{status}");
    assert_eq!(status["pending"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["pending"][0]["owner_name"], "SuperOffice");
    assert_eq!(status["pending"][0]["license_version"], 4);
    let waiting = get("/api/v1/system-events?status=active&limit=100").await;
    let waiting: Vec<&Value> = waiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key"] == "license-pending")
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0]["message"].as_str().unwrap().contains("v4"),
        "{waiting:?}"
    );

    let r = post("/api/v1/license/activate", &admin)
        .json(&json!({"owner": "SuperOffice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "LICENSE_TOO_MANY_ASSIGNED"
    );

    let holders: Value = app
        .client
        .get(app.url("/api/v1/modules/essentials/holders?limit=10"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(holders["items"].as_array().unwrap().len(), 2);
    let r = post("/api/v1/license/remove-excess", &admin)
        .json(&json!({"module": "essentials", "users": ["bo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = post("/api/v1/license/activate", &admin)
        .json(&json!({"owner": "SuperOffice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = app
        .client
        .get(app.url("/api/v1/license/status"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["owners"][0]["license_version"], 4);
    assert_eq!(status["pending"], json!([]), "{status}");

    // Bad input: a clear code, nothing changed.
    for (path, body) in [
        ("/api/v1/license/activate", "{\"owner\": 7}"),
        ("/api/v1/license/activate", "not json"),
        (
            "/api/v1/license/remove-excess",
            "{\"module\": \"essentials\", \"users\": [], \"x\": 1}",
        ),
    ] {
        let r = post(path, &admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path} {body}");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "INVALID_BODY");
    }
    let r = post("/api/v1/license/file", &admin)
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["code"]
                .as_str()
                .map(str::to_owned)
        ),
        (422, Some("LICENSE_MALFORMED".into()))
    );
    let r = post("/api/v1/license/file", &admin)
        .body(document(1, 9))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "LICENSE_VERSION_OLDER");
    let after: Value = app
        .client
        .get(app.url("/api/v1/license/status"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, status);
}

#[tokio::test]
async fn administrators_manage_users_and_licenses_and_users_read_their_own() {
    let app = spawn_app().await;
    let admin = app.token(TokenScope::Admin).await;
    app.refresh().await;
    let c = &app.client;
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"login": "anna", "full_name": "Anna Berg", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"login": "anna"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["code"]
                .as_str()
                .map(str::to_owned)
        ),
        (409, Some("ALREADY_EXISTS".into()))
    );
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"login": "bad name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    c.post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"login": "bo"}))
        .send()
        .await
        .unwrap();

    let r = c
        .post(app.url("/api/v1/users/anna/licenses"))
        .bearer_auth(&admin)
        .json(&json!({"module": "essentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(app.url("/api/v1/users/anna/licenses"))
        .bearer_auth(&admin)
        .json(&json!({"module": "essentials", "valid_to": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(app.url("/api/v1/users/bo/licenses"))
        .bearer_auth(&admin)
        .json(&json!({"module": "saint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "NOT_A_USER_LICENSE");

    let anna = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let r = anna
        .post(app.url("/api/v1/session"))
        .json(&json!({"login": "anna", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let own: Value = anna
        .get(app.url("/api/v1/users/anna/licenses"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own.as_array().unwrap().len(), 3, "the plan and its set: {own}");
    assert_eq!(
        anna.get(app.url("/api/v1/users/bo/licenses"))
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "only her own"
    );
    let list: Value = c
        .get(app.url("/api/v1/users?limit=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (list["total"].as_u64(), list["items"].as_array().unwrap().len()),
        (Some(2), 1)
    );

    let r = c
        .delete(app.url("/api/v1/users/anna/licenses/essentials"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(app.url("/api/v1/users/anna/deactivate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .get(app.url("/api/v1/users/nobody"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
