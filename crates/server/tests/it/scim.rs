//! SCIM 2.0 driven over HTTP the way an identity provider does it.

use lisens_store::TokenScope;
use serde_json::{json, Value};

use crate::{spawn_app, TestApp};

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

#[tokio::test]
async fn an_identity_provider_creates_finds_patches_and_deletes_users_with_plans() {
    let app = spawn_app().await;
    let scim = app.token(TokenScope::Scim).await;
    let check = app.token(TokenScope::Check).await;
    app.refresh().await;
    use reqwest::Method as M;

    let (status, spc) = call(&app, &scim, M::GET, "/scim/v2/ServiceProviderConfig", None).await;
    assert_eq!((status, spc["patch"]["supported"].as_bool()), (200, Some(true)));
    assert_eq!(call(&app, &check, M::GET, "/scim/v2/Users", None).await.0, 403);

    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "anna@example.com",
                      "displayName": "Anna Berg", "emails": [{"value": "anna@example.com", "primary": true}],
                      "active": true, "entitlements": [{"value": "essentials"}]});
    let (status, created) = call(&app, &scim, M::POST, "/scim/v2/Users", Some(user.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["entitlements"][0]["value"], "essentials");
    app.refresh().await;
    let now = time::OffsetDateTime::now_utc();
    assert!(
        app.state
            .view
            .get()
            .access
            .can_login("anna@example.com", now)
            .is_granted(),
        "the plan lets her log in"
    );

    let (status, dup) = call(&app, &scim, M::POST, "/scim/v2/Users", Some(user)).await;
    assert_eq!(
        (status, dup["scimType"].as_str()),
        (409, Some("uniqueness")),
        "{dup}"
    );
    assert_eq!(dup["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

    let (_, found) = call(
        &app,
        &scim,
        M::GET,
        "/scim/v2/Users?filter=userName%20eq%20%22anna@example.com%22",
        None,
    )
    .await;
    assert_eq!(
        (
            found["totalResults"].as_u64(),
            found["Resources"][0]["id"].as_str()
        ),
        (Some(1), Some(id.as_str()))
    );
    let (status, bad) = call(
        &app,
        &scim,
        M::GET,
        "/scim/v2/Users?filter=emails%20co%20%22x%22",
        None,
    )
    .await;
    assert_eq!((status, bad["scimType"].as_str()), (400, Some("invalidFilter")));

    // Two more users fill the plan (count 2): the third is refused with a clear detail.
    let (status, _) = call(
        &app,
        &scim,
        M::POST,
        "/scim/v2/Users",
        Some(json!({"userName": "bo", "entitlements": [{"value": "essentials"}]})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = call(
        &app,
        &scim,
        M::POST,
        "/scim/v2/Users",
        Some(json!({"userName": "cy", "entitlements": [{"value": "essentials"}]})),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("LICENSE_OVERCOMMITTED"),
        "{refused}"
    );
    let (_, cy) = call(
        &app,
        &scim,
        M::GET,
        "/scim/v2/Users?filter=userName%20eq%20%22cy%22",
        None,
    )
    .await;
    assert_eq!(
        cy["totalResults"], 0,
        "a refused provisioning leaves nothing behind"
    );

    // active=false blocks login and releases the plan.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, patched) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(
        (status, patched["active"].as_bool()),
        (200, Some(false)),
        "{patched}"
    );
    assert_eq!(patched["entitlements"], json!([]));
    app.refresh().await;
    assert_eq!(
        app.state
            .view
            .get()
            .access
            .can_login("anna@example.com", now)
            .code()
            .as_deref(),
        Some("USER_INACTIVE")
    );
    let status = app.store.license_status().await.unwrap();
    assert_eq!(
        status.module("essentials").unwrap().1.in_use,
        1,
        "her seat was released"
    );

    let (status, _) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(json!({"Operations": []})),
    )
    .await;
    assert_eq!(status, 400, "a PatchOp needs its schema");
    let (status, _) = call(&app, &scim, M::DELETE, &format!("/scim/v2/Users/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        call(&app, &scim, M::GET, &format!("/scim/v2/Users/{id}"), None)
            .await
            .0,
        404
    );
    let (status, _) = call(
        &app,
        &scim,
        M::POST,
        "/scim/v2/Users",
        Some(json!({"displayName": "no userName"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_identity_provider_never_deactivates_or_deletes_an_administrator() {
    let app = spawn_app().await;
    // Two administrators, so the last-administrator rule is not what refuses.
    app.user("boss", true).await;
    app.user("root", true).await;
    app.user("anna", false).await;
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    use reqwest::Method as M;
    let id_of = |login: &str| {
        let login = login.to_owned();
        let store = app.store.clone();
        async move { store.associate(&login).await.unwrap().id.to_string() }
    };
    let boss = id_of("boss").await;
    let patch =
        |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let attacks = [
        // Entra ID.
        (
            M::PATCH,
            patch(json!([{"op": "replace", "path": "active", "value": false}])),
        ),
        (
            M::PATCH,
            patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        ),
        // Okta, and Entra without a path; with a new name the change is refused whole.
        (
            M::PATCH,
            patch(json!([{"op": "Replace", "value": {"active": false}}])),
        ),
        (
            M::PATCH,
            patch(
                json!([{"op": "replace", "path": "displayName", "value": "Ex Boss"},
                         {"op": "replace", "value": {"active": false}}]),
            ),
        ),
        (
            M::PUT,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "boss",
                   "displayName": "Ex Boss", "active": false}),
        ),
    ];
    for (method, body) in attacks {
        let (status, err) = call(
            &app,
            &scim,
            method.clone(),
            &format!("/scim/v2/Users/{boss}"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 409, "{method} {body}: {err}");
        assert_eq!(err["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert_eq!(
            (err["status"].as_str(), err["scimType"].as_str()),
            (Some("409"), Some("mutability")),
            "{err}"
        );
        assert!(
            err["detail"]
                .as_str()
                .unwrap()
                .contains("ADMINISTRATOR_PROTECTED"),
            "{err}"
        );
    }
    let (status, err) = call(&app, &scim, M::DELETE, &format!("/scim/v2/Users/{boss}"), None).await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (409, Some("mutability")),
        "{err}"
    );
    let still = app.store.associate("boss").await.unwrap();
    assert!(*still.active && *still.is_admin, "{still:?}");
    assert_eq!(still.full_name, "boss", "nothing of a refused change is applied");

    // An ordinary user is deactivated and deleted as before.
    let anna = id_of("anna").await;
    let (status, body) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{anna}"),
        Some(patch(json!([{"op": "Replace", "value": {"active": false}}]))),
    )
    .await;
    assert_eq!((status, body["active"].as_bool()), (200, Some(false)), "{body}");
    assert_eq!(
        call(&app, &scim, M::DELETE, &format!("/scim/v2/Users/{anna}"), None)
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn a_patch_with_a_refused_plan_changes_nothing_else() {
    let app = spawn_app().await;
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    use reqwest::Method as M;
    // The plan's two seats are taken; dag holds none.
    for name in ["anna", "bo"] {
        let body = json!({"userName": name, "entitlements": [{"value": "essentials"}]});
        assert_eq!(
            call(&app, &scim, M::POST, "/scim/v2/Users", Some(body)).await.0,
            201
        );
    }
    let (status, dag) = call(
        &app,
        &scim,
        M::POST,
        "/scim/v2/Users",
        Some(json!({"userName": "dag", "displayName": "Dag Old", "emails": [{"value": "dag@old.example"}]})),
    )
    .await;
    assert_eq!(status, 201, "{dag}");
    let id = dag["id"].as_str().unwrap().to_owned();

    // A rename, a new e-mail and the full plan in one PATCH: the plan is
    // refused, so the rename and the e-mail are not kept either.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Dag New"},
        {"op": "replace", "path": "emails", "value": [{"value": "dag@new.example"}]},
        {"op": "add", "path": "entitlements", "value": [{"value": "essentials"}]}]});
    let (status, refused) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("LICENSE_OVERCOMMITTED"),
        "{refused}"
    );
    let (_, now) = call(&app, &scim, M::GET, &format!("/scim/v2/Users/{id}"), None).await;
    assert_eq!(
        (
            &now["displayName"],
            &now["emails"][0]["value"],
            &now["entitlements"]
        ),
        (&json!("Dag Old"), &json!("dag@old.example"), &json!([])),
        "{now}"
    );

    // Without the plan the same rename goes through.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Dag New"}]});
    let (status, renamed) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(
        (status, &renamed["displayName"]),
        (200, &json!("Dag New")),
        "{renamed}"
    );
    assert_eq!(renamed["emails"][0]["value"], "dag@old.example");
}

/// A strict client's discovery: the User schema describes every attribute
/// (and sub-attribute) of the Users the server returns, the schema and the
/// resource type are there by id, and paths the server does not provide
/// (`/Groups`, probed by Entra ID and Okta) answer SCIM errors, not the
/// API's problem documents.
#[tokio::test]
async fn discovery_describes_what_the_server_returns_and_unknown_paths_are_scim_errors() {
    let app = spawn_app().await;
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    use reqwest::Method as M;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bo@example.com",
                      "displayName": "Bo Ek", "emails": [{"value": "bo@example.com", "primary": true}],
                      "active": true, "entitlements": [{"value": "essentials"}]});
    let r = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&scim)
        .header("content-type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        created["meta"]["location"].as_str().unwrap(),
        "Location on 201"
    );
    // Entra ID's path-less PATCH with a string boolean.
    let id = created["id"].as_str().unwrap();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "Replace", "value": {"active": "False"}}]});
    let (status, patched) = call(
        &app,
        &scim,
        M::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(
        (status, patched["active"].as_bool()),
        (200, Some(false)),
        "{patched}"
    );
    // Okta's default PUT has no entitlements: the plan an administrator gave
    // stays; an explicit empty list takes it away.
    let put = |entitlements: Option<Value>| {
        let mut v = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bo@example.com",
                           "displayName": "Bo Ek", "active": true});
        if let Some(e) = entitlements {
            v["entitlements"] = e;
        }
        v
    };
    let one = format!("/scim/v2/Users/{id}");
    let (status, given) = call(
        &app,
        &scim,
        M::PUT,
        &one,
        Some(put(Some(json!([{"value": "essentials"}])))),
    )
    .await;
    assert_eq!(
        (status, given["entitlements"][0]["value"].as_str()),
        (200, Some("essentials")),
        "{given}"
    );
    let (status, kept) = call(&app, &scim, M::PUT, &one, Some(put(None))).await;
    assert_eq!(
        (status, kept["entitlements"][0]["value"].as_str()),
        (200, Some("essentials")),
        "{kept}"
    );
    let (status, none) = call(&app, &scim, M::PUT, &one, Some(put(Some(json!([]))))).await;
    assert_eq!(
        (status, none["entitlements"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{none}"
    );
    // The user principal names directories send: an Entra ID guest, found
    // again by a filter in another case.
    let guest = "john_gmail.com#EXT#@contoso.onmicrosoft.com";
    let (status, g) = call(
        &app,
        &scim,
        M::POST,
        "/scim/v2/Users",
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": guest})),
    )
    .await;
    assert_eq!((status, g["userName"].as_str()), (201, Some(guest)), "{g}");
    let filter: String =
        form_urlencoded::byte_serialize(format!("userName eq \"{}\"", guest.to_uppercase()).as_bytes())
            .collect();
    let (status, found) = call(
        &app,
        &scim,
        M::GET,
        &format!("/scim/v2/Users?filter={filter}"),
        None,
    )
    .await;
    assert_eq!(
        (status, found["totalResults"].as_i64()),
        (200, Some(1)),
        "{found}"
    );
    // An entitlement that is no plan of the license: invalidValue, nothing stored.
    let stranger = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "cy@example.com",
                          "entitlements": [{"value": "no-such-plan"}]});
    let (status, refused) = call(&app, &scim, M::POST, "/scim/v2/Users", Some(stranger)).await;
    assert_eq!(
        (status, refused["scimType"].as_str()),
        (400, Some("invalidValue")),
        "{refused}"
    );
    assert!(
        refused["detail"].as_str().unwrap().contains("no-such-plan"),
        "{refused}"
    );
    assert!(
        app.store.associate("cy@example.com").await.is_err(),
        "nothing stored"
    );
    let urn = "urn:ietf:params:scim:schemas:core:2.0:User";
    let (status, schema) = call(&app, &scim, M::GET, &format!("/scim/v2/Schemas/{urn}"), None).await;
    assert_eq!((status, schema["id"].as_str()), (200, Some(urn)), "{schema}");
    let (_, list) = call(&app, &scim, M::GET, "/scim/v2/Schemas", None).await;
    assert_eq!(list["Resources"][0], schema);
    let described = |name: &str| {
        schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
    };
    for (key, value) in created.as_object().unwrap() {
        if ["schemas", "id", "meta"].contains(&key.as_str()) {
            continue;
        }
        let attr =
            described(key).unwrap_or_else(|| panic!("{key} is returned but not in the schema: {schema}"));
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![value],
            _ => vec![],
        };
        for item in items {
            for sub in item.as_object().unwrap().keys() {
                assert!(
                    attr["subAttributes"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|a| a["name"] == *sub)),
                    "{key}.{sub} is returned but not in the schema: {attr}"
                );
            }
        }
    }
    let (status, rt) = call(&app, &scim, M::GET, "/scim/v2/ResourceTypes/User", None).await;
    assert_eq!((status, rt["schema"].as_str()), (200, Some(urn)), "{rt}");
    for path in [
        "/scim/v2/Groups",
        "/scim/v2/Schemas/urn:x",
        "/scim/v2/ResourceTypes/Group",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(&scim)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/scim+json", "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{path}: {body}"
        );
        assert_eq!(body["status"], "404", "{path}: {body}");
    }
    // Outside SCIM, the API's problem documents as before.
    let r = app.client.get(app.url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// With `public_url` set, the links a SCIM client is given point there, not
/// at whatever Host the request named; a bad setting is refused by name.
#[tokio::test]
async fn locations_use_the_configured_public_address_not_the_host_header() {
    let settings = lisens_server::Settings {
        public_url: Some(lisens_server::public_url("https://crm.example.com/lisens/").unwrap()),
        ..Default::default()
    };
    let app = crate::spawn_app_set(settings).await;
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@example.com"});
    let r = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&scim)
        .header("host", "attacker.example")
        .header("content-type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://crm.example.com/lisens/scim/v2/Users/"),
        "{location}"
    );
    for bad in [
        "crm.example.com",
        "ftp://crm.example.com",
        "https://crm.example.com/?x=1",
        "",
    ] {
        assert!(lisens_server::public_url(bad).is_err(), "{bad}");
    }
}
