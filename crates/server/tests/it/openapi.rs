//! The OpenAPI document against the running server: every API route is in
//! it, every response a scenario provokes (successes and errors) has a
//! documented status and matches its schema, and every documented body
//! refuses bad input (malformed, wrong type, unknown field, bad UTF-8,
//! oversized) with a 4xx problem, leaving stored data unchanged.
//!
//! (Longer than 600 lines: one scenario walks every operation in order, each
//! step using the state the previous ones made.)

use std::cell::RefCell;
use std::collections::BTreeSet;

use lisens_core::{spec::parse_spec, SigningKey};
use lisens_store::TokenScope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{spawn_app, TestApp, SEED_SPEC};

/// Sends requests and checks each answer against the document.
struct Api<'a> {
    app: &'a TestApp,
    doc: Value,
    /// (method, template) that answered 2xx at least once.
    succeeded: RefCell<BTreeSet<(String, String)>>,
}

enum Body {
    Empty,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

struct Answer {
    status: u16,
    body: Value,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Api<'a> {
        let resp = app.client.get(app.url("/api/openapi.json")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Api {
            app,
            doc,
            succeeded: RefCell::default(),
        }
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        let op = &self.doc["paths"][template][method.to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {template} is not in the OpenAPI document"
        );
        op
    }

    /// Sends `method path` (an instance of `template`) with `auth` as the
    /// bearer token and checks the answer against the document.
    async fn call(&self, auth: Option<&str>, method: &str, template: &str, path: &str, body: Body) -> Answer {
        let op = self.operation(method, template).clone();
        let mut req = self
            .app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), self.app.url(path));
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, bytes) => req.header("content-type", ct).body(bytes),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().trim().to_owned());
        let text = resp.text().await.unwrap();
        let documented = &op["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which the document does not list: {text}"
        );
        let body = match documented.get("content").and_then(Value::as_object) {
            None => {
                assert!(
                    text.is_empty(),
                    "{method} {path} {status}: documented without a body, got {text}"
                );
                Value::Null
            }
            Some(content) => {
                let ct = ct.unwrap_or_else(|| panic!("{method} {path} {status}: no content type"));
                let media = content.get(&ct).unwrap_or_else(|| {
                    panic!("{method} {path} {status}: content type {ct} is not documented")
                });
                if ct.ends_with("json") {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    let mut schema = media["schema"].clone();
                    schema["components"] = self.doc["components"].clone();
                    if let Err(e) = jsonschema::validate(&schema, &body) {
                        panic!("{method} {path} {status} does not match its schema: {e}\n{body:#}");
                    }
                    body
                } else {
                    Value::String(text)
                }
            }
        };
        if (200..300).contains(&status) {
            self.succeeded
                .borrow_mut()
                .insert((method.to_lowercase(), template.to_owned()));
        }
        Answer { status, body }
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn every_api_route_is_in_the_document_and_nothing_else() {
    let doc = serde_json::to_value(<lisens_server::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let api: BTreeSet<(String, String)> = crate::authz::ROUTES
        .iter()
        .filter(|(_, p, access)| crate::authz::is_api(p, *access))
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = api.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "API routes missing from the OpenAPI document: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&api).collect();
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
}

#[tokio::test]
async fn the_docs_page_lists_every_operation() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let resp = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    for (path, item) in api.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let shown = format!(
                "<span class=\"method\">{}</span> <span class=\"path\">{}</span>",
                method.to_uppercase(),
                path
            );
            assert!(html.contains(&shown), "/api/docs does not show {method} {path}");
        }
    }
    assert!(html.contains("id=\"schema-Problem\""));
}

/// A new license version signed by the test key: `essentials` drops to 1.
fn smaller_license() -> String {
    let spec = SEED_SPEC
        .replace("license_version = 1", "license_version = 2")
        .replacen("count = 2", "count = 1", 1);
    let content = parse_spec(&spec, time::OffsetDateTime::now_utc()).unwrap();
    content.sign(&SigningKey::from_seed([5; 32]))
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let admin = app.token(TokenScope::Admin).await;
    let check = app.token(TokenScope::Check).await;
    let metering = app.token(TokenScope::Metering).await;
    let scim = app.token(TokenScope::Scim).await;
    app.refresh().await;
    let a = Some(admin.as_str());
    use Body::*;

    assert_eq!(
        api.call(None, "GET", "/healthz", "/healthz", Empty).await.status,
        200
    );
    assert_eq!(
        api.call(None, "GET", "/readyz", "/readyz", Empty).await.status,
        200
    );
    assert_eq!(
        api.call(a, "GET", "/metrics", "/metrics", Empty).await.status,
        200
    );
    assert_eq!(
        api.call(None, "GET", "/metrics", "/metrics", Empty).await.status,
        401
    );
    // Users.
    for login in ["alice", "bob", "carol"] {
        let r = api
            .call(
                a,
                "POST",
                "/api/v1/users",
                "/api/v1/users",
                Json(json!({"login": login, "password": "correct horse"})),
            )
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["login"], login);
    }
    let root = json!({"login": "root", "password": "correct horse", "is_admin": true, "full_name": "Root"});
    assert_eq!(
        api.call(a, "POST", "/api/v1/users", "/api/v1/users", Json(root.clone()))
            .await
            .status,
        201
    );
    let dup = api
        .call(a, "POST", "/api/v1/users", "/api/v1/users", Json(root))
        .await;
    assert_eq!(
        (dup.status, dup.body["code"].as_str()),
        (409, Some("ALREADY_EXISTS"))
    );
    assert_eq!(
        api.call(None, "GET", "/api/v1/users", "/api/v1/users", Empty)
            .await
            .status,
        401
    );
    assert_eq!(
        api.call(Some(&check), "GET", "/api/v1/users", "/api/v1/users", Empty)
            .await
            .status,
        403
    );
    let page = api
        .call(a, "GET", "/api/v1/users", "/api/v1/users?limit=2", Empty)
        .await;
    assert_eq!((page.status, page.body["total"].as_u64()), (200, Some(4)));
    assert_eq!(
        api.call(a, "GET", "/api/v1/users", "/api/v1/users?limit=0", Empty)
            .await
            .status,
        400
    );
    assert_eq!(
        api.call(a, "GET", "/api/v1/users/{login}", "/api/v1/users/alice", Empty)
            .await
            .status,
        200
    );
    assert_eq!(
        api.call(a, "GET", "/api/v1/users/{login}", "/api/v1/users/nobody", Empty)
            .await
            .status,
        404
    );

    // Assignments: two essentials, the third is refused.
    let lic = "/api/v1/users/{login}/licenses";
    for login in ["alice", "bob"] {
        let path = format!("/api/v1/users/{login}/licenses");
        let r = api
            .call(a, "POST", lic, &path, Json(json!({"module": "essentials"})))
            .await;
        assert_eq!(r.status, 204);
    }
    let refused = api
        .call(
            a,
            "POST",
            lic,
            "/api/v1/users/carol/licenses",
            Json(json!({"module": "essentials"})),
        )
        .await;
    assert_eq!(refused.status, 409);
    let held = api
        .call(a, "GET", lic, "/api/v1/users/alice/licenses", Empty)
        .await;
    assert_eq!(held.body.as_array().unwrap().len(), 3);
    let c = Some(check.as_str());
    let granted = api
        .call(
            c,
            "GET",
            "/api/v1/license/check",
            "/api/v1/license/check?user=alice",
            Empty,
        )
        .await;
    assert_eq!(granted.body["granted"], true);
    let denied = api
        .call(
            c,
            "GET",
            "/api/v1/license/check",
            "/api/v1/license/check?user=carol",
            Empty,
        )
        .await;
    assert_eq!(denied.body["granted"], false);
    assert_eq!(
        api.call(
            c,
            "GET",
            "/api/v1/license/check",
            "/api/v1/license/check?module=web",
            Empty
        )
        .await
        .status,
        400
    );

    // The license lifecycle.
    let status = api
        .call(
            a,
            "GET",
            "/api/v1/license/status",
            "/api/v1/license/status",
            Empty,
        )
        .await;
    assert_eq!(status.body["owners"][0]["owner_name"], "SuperOffice");
    let holders = "/api/v1/modules/{module}/holders";
    let h = api
        .call(a, "GET", holders, "/api/v1/modules/essentials/holders", Empty)
        .await;
    assert_eq!(h.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.call(
            a,
            "GET",
            holders,
            "/api/v1/modules/essentials/holders?limit=5000",
            Empty
        )
        .await
        .status,
        400
    );
    let nope = api
        .call(a, "GET", holders, "/api/v1/modules/nope/holders", Empty)
        .await;
    assert_eq!(
        (nope.status, nope.body["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let pending = api
        .call(
            a,
            "GET",
            "/api/v1/license/pending",
            "/api/v1/license/pending",
            Empty,
        )
        .await;
    assert_eq!(pending.body, json!([]));
    let activate = "/api/v1/license/activate";
    let none = api
        .call(
            a,
            "POST",
            activate,
            activate,
            Json(json!({"owner": "SuperOffice"})),
        )
        .await;
    assert_eq!(none.status, 404);
    let file = "/api/v1/license/file";
    let bad = api
        .call(
            a,
            "POST",
            file,
            file,
            Raw("text/plain", b"not a license".to_vec()),
        )
        .await;
    assert_eq!(bad.status, 422);
    let loaded = api
        .call(
            a,
            "POST",
            file,
            file,
            Raw("text/plain", smaller_license().into_bytes()),
        )
        .await;
    assert_eq!((loaded.status, &loaded.body["result"]), (200, &json!("pending")));
    let pending = api
        .call(
            a,
            "GET",
            "/api/v1/license/pending",
            "/api/v1/license/pending",
            Empty,
        )
        .await;
    assert_eq!(pending.body[0]["blocking"], json!(["essentials"]));
    let blocked = api
        .call(
            a,
            "POST",
            activate,
            activate,
            Json(json!({"owner": "SuperOffice"})),
        )
        .await;
    assert_eq!(blocked.status, 409);
    let excess = "/api/v1/license/remove-excess";
    let unknown = api
        .call(
            a,
            "POST",
            excess,
            excess,
            Json(json!({"module": "essentials", "users": ["nobody"]})),
        )
        .await;
    assert!(
        unknown.status == 404 || unknown.status == 409,
        "{}",
        unknown.status
    );
    let removed = api
        .call(
            a,
            "POST",
            excess,
            excess,
            Json(json!({"module": "essentials", "users": ["bob"]})),
        )
        .await;
    assert_eq!(removed.status, 204);
    let activated = api
        .call(
            a,
            "POST",
            activate,
            activate,
            Json(json!({"owner": "SuperOffice"})),
        )
        .await;
    assert_eq!(
        (activated.status, &activated.body["result"]),
        (200, &json!("activated"))
    );
    let history = api
        .call(
            a,
            "GET",
            "/api/v1/license/history",
            "/api/v1/license/history",
            Empty,
        )
        .await;
    assert!(!history.body["items"].as_array().unwrap().is_empty());
    let bad_page = "/api/v1/license/history?offset=-1";
    assert_eq!(
        api.call(a, "GET", "/api/v1/license/history", bad_page, Empty)
            .await
            .status,
        400
    );

    // Bulk: all or nothing.
    let bulk = "/api/v1/assignments";
    let refused = api
        .call(
            a,
            "POST",
            bulk,
            bulk,
            Json(json!({"changes": [
            {"login": "alice", "module": "essentials", "action": "unassign"},
            {"login": "carol", "module": "essentials", "action": "assign"},
            {"login": "bob", "module": "essentials", "action": "assign"}]})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (409, Some("BULK_REFUSED"))
    );
    assert_eq!(
        refused.body["errors"],
        json!([{"index": 2, "code": "LICENSE_OVERCOMMITTED",
        "detail": refused.body["errors"][0]["detail"]}])
    );
    let still = api
        .call(a, "GET", lic, "/api/v1/users/alice/licenses", Empty)
        .await;
    assert_eq!(
        still.body.as_array().unwrap().len(),
        3,
        "nothing of a refused bulk change is applied"
    );
    let malformed = api
        .call(
            a,
            "POST",
            bulk,
            bulk,
            Json(json!({"changes": [
            {"login": "carol", "module": "essentials", "action": "assign", "valid_to": "tomorrow"}]})),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.body["code"].as_str()),
        (400, Some("BATCH_INVALID"))
    );
    let applied = api
        .call(
            a,
            "POST",
            bulk,
            bulk,
            Json(json!({"changes": [
            {"login": "alice", "module": "essentials", "action": "unassign"},
            {"login": "carol", "module": "essentials", "action": "assign"}]})),
        )
        .await;
    assert_eq!(applied.body["applied"], 2);
    let back = json!({"changes": [
        {"login": "carol", "module": "essentials", "action": "unassign"},
        {"login": "alice", "module": "essentials", "action": "assign"}]});
    assert_eq!(api.call(a, "POST", bulk, bulk, Json(back)).await.status, 200);

    let now_check = "/api/v1/license/check-now";
    assert_eq!(
        api.call(a, "POST", now_check, now_check, Empty).await.status,
        400,
        "not registered yet"
    );
    // Registration with a real issuer (in this process), signing with the
    // key this installation already trusts.
    let issuer = spawn_issuer().await;
    let reg = "/api/v1/license/register";
    let register =
        |serial: &str, url: &str| json!({"issuer_url": url, "serial": serial, "company_name": "Seed AB"});
    let unknown = api
        .call(a, "POST", reg, reg, Json(register("S-404", &issuer)))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (422, Some("REGISTRATION_FAILED"))
    );
    let down = api
        .call(a, "POST", reg, reg, Json(register("S-2", "http://127.0.0.1:9")))
        .await;
    assert_eq!(
        (down.status, down.body["code"].as_str()),
        (502, Some("ISSUER_UNREACHABLE"))
    );
    let bad_key =
        json!({"issuer_url": issuer, "serial": "S-2", "company_name": "Seed AB", "public_key": "nope"});
    assert_eq!(api.call(a, "POST", reg, reg, Json(bad_key)).await.status, 400);
    let registered = api
        .call(a, "POST", reg, reg, Json(register("S-2", &issuer)))
        .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert_eq!(registered.body["result"], "activated");
    assert_eq!(api.call(a, "POST", now_check, now_check, Empty).await.status, 202);

    // Unassign, passwords, deactivate.
    let un = "/api/v1/users/{login}/licenses/{module}";
    assert_eq!(
        api.call(a, "DELETE", un, "/api/v1/users/alice/licenses/essentials", Empty)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call(a, "DELETE", un, "/api/v1/users/nobody/licenses/essentials", Empty)
            .await
            .status,
        404
    );
    let pw = "/api/v1/users/{login}/password";
    let short = api
        .call(
            a,
            "POST",
            pw,
            "/api/v1/users/alice/password",
            Json(json!({"password": "x"})),
        )
        .await;
    assert_eq!(
        (short.status, short.body["code"].as_str()),
        (400, Some("PASSWORD_TOO_SHORT"))
    );
    let set = json!({"password": "battery staple"});
    assert_eq!(
        api.call(a, "POST", pw, "/api/v1/users/alice/password", Json(set))
            .await
            .status,
        204
    );
    let deact = "/api/v1/users/{login}/deactivate";
    assert_eq!(
        api.call(a, "POST", deact, "/api/v1/users/carol/deactivate", Empty)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call(a, "POST", deact, "/api/v1/users/nobody/deactivate", Empty)
            .await
            .status,
        404
    );

    // Sessions (the cookie and CSRF token by hand).
    let session = "/api/v1/session";
    let wrong = api
        .call(
            None,
            "POST",
            session,
            session,
            Json(json!({"login": "root", "password": "nope nope"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["code"].as_str()),
        (401, Some("LOGIN_FAILED"))
    );
    let (cookie, csrf) = app.log_in("root", "correct horse").await;
    let no_session = api
        .call(
            a,
            "POST",
            "/api/v1/session/password",
            "/api/v1/session/password",
            Json(json!({"current_password": "a", "new_password": "b"})),
        )
        .await;
    assert_eq!(no_session.status, 400);
    let changed = app
        .client
        .post(app.url("/api/v1/session/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"current_password": "correct horse", "new_password": "correct horse 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    api.succeeded
        .borrow_mut()
        .insert(("post".into(), "/api/v1/session/password".into()));
    let login = json!({"login": "root", "password": "correct horse 2"});
    assert_eq!(
        api.call(None, "POST", session, session, Json(login)).await.status,
        201
    );
    assert_eq!(
        api.call(None, "DELETE", session, session, Empty).await.status,
        204
    );

    // System events.
    let flags = api
        .call(
            c,
            "GET",
            "/api/v1/system-events/flags",
            "/api/v1/system-events/flags",
            Empty,
        )
        .await;
    assert_eq!(flags.body["no_login"], false);
    let events = "/api/v1/system-events";
    let added = api
        .call(
            a,
            "POST",
            events,
            events,
            Json(json!({"key": "motd", "message": "Backups at 02:00"})),
        )
        .await;
    assert_eq!(added.status, 201);
    let bad_key = api
        .call(
            a,
            "POST",
            events,
            events,
            Json(json!({"key": "reboot", "message": "x"})),
        )
        .await;
    assert_eq!(bad_key.status, 400);
    let list = api
        .call(a, "GET", events, "/api/v1/system-events?status=active", Empty)
        .await;
    assert!(!list.body["items"].as_array().unwrap().is_empty());
    let end = "/api/v1/system-events/{id}/end";
    let id = added.body["id"].as_i64().unwrap();
    assert_eq!(
        api.call(a, "POST", end, &format!("/api/v1/system-events/{id}/end"), Empty)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call(a, "POST", end, "/api/v1/system-events/999999/end", Empty)
            .await
            .status,
        404
    );

    // Metering.
    let m = Some(metering.as_str());
    let ingest = "/api/v1/metering/events";
    let batch = json!([{"id": "e1", "service": "chat_sessions", "quantity": 3, "occurred_at": now()}]);
    let ok = api.call(m, "POST", ingest, ingest, Json(batch)).await;
    assert_eq!(ok.body["accepted"], 1);
    let bad = json!([{"id": "e2", "service": "telepathy", "quantity": -1, "occurred_at": now()}]);
    let refused = api.call(m, "POST", ingest, ingest, Json(bad)).await;
    assert_eq!(refused.status, 400);
    assert!(!refused.body["errors"].as_array().unwrap().is_empty());
    let usage = api
        .call(
            a,
            "GET",
            "/api/v1/metering/usage",
            "/api/v1/metering/usage",
            Empty,
        )
        .await;
    assert!(usage.body["services"].is_array());
    assert_eq!(
        api.call(
            a,
            "GET",
            "/api/v1/metering/usage",
            "/api/v1/metering/usage?month=13",
            Empty
        )
        .await
        .status,
        400
    );
    let csv = api
        .call(a, "GET", "/metering/usage.csv", "/metering/usage.csv", Empty)
        .await;
    assert!(csv.body.as_str().unwrap().starts_with("month,service"));

    // SCIM, as an identity provider.
    let s = Some(scim.as_str());
    for p in [
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/ResourceTypes",
        "/scim/v2/Schemas",
    ] {
        assert_eq!(api.call(s, "GET", p, p, Empty).await.status, 200);
    }
    for (template, path) in [
        ("/scim/v2/ResourceTypes/{id}", "/scim/v2/ResourceTypes/User"),
        (
            "/scim/v2/Schemas/{id}",
            "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        ),
    ] {
        assert_eq!(api.call(s, "GET", template, path, Empty).await.status, 200);
    }
    let users = "/scim/v2/Users";
    let new = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dave",
                     "displayName": "Dave", "emails": [{"value": "dave@example.com", "primary": true}],
                     "entitlements": [{"value": "essentials"}]});
    let created = api
        .call(
            s,
            "POST",
            users,
            users,
            Raw("application/scim+json", new.to_string().into_bytes()),
        )
        .await;
    assert_eq!(created.status, 201);
    let dup = api.call(s, "POST", users, users, Json(new.clone())).await;
    assert_eq!(
        (dup.status, dup.body["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    let found = api
        .call(
            s,
            "GET",
            users,
            "/scim/v2/Users?filter=userName%20eq%20%22dave%22",
            Empty,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(
        api.call(
            s,
            "GET",
            users,
            "/scim/v2/Users?filter=title%20sw%20%22x%22",
            Empty
        )
        .await
        .status,
        400
    );
    let one = "/scim/v2/Users/{id}";
    let path = format!("/scim/v2/Users/{}", created.body["id"].as_str().unwrap());
    assert_eq!(api.call(s, "GET", one, &path, Empty).await.status, 200);
    assert_eq!(
        api.call(s, "GET", one, "/scim/v2/Users/999999", Empty)
            .await
            .status,
        404
    );
    let mut replaced = new.clone();
    replaced["displayName"] = json!("David");
    assert_eq!(api.call(s, "PUT", one, &path, Json(replaced)).await.status, 200);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let patched = api.call(s, "PATCH", one, &path, Json(patch)).await;
    assert_eq!(patched.body["active"], false);
    assert_eq!(api.call(s, "DELETE", one, &path, Empty).await.status, 204);
    assert_eq!(
        api.call(Some(&check), "GET", users, users, Empty).await.status,
        403
    );

    // Tokens: created with the secret shown once, listed without it, revoked.
    let tokens = "/api/v1/tokens";
    let made = api
        .call(
            a,
            "POST",
            tokens,
            tokens,
            Json(json!({"name": "crm-backend", "scope": "check"})),
        )
        .await;
    assert_eq!(made.status, 201);
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    let bad_scope = api
        .call(
            a,
            "POST",
            tokens,
            tokens,
            Json(json!({"name": "x", "scope": "root"})),
        )
        .await;
    assert_eq!(bad_scope.status, 400);
    let listed = api.call(a, "GET", tokens, tokens, Empty).await;
    assert!(
        !listed.body.to_string().contains(&secret),
        "secrets are never listed"
    );
    app.refresh().await;
    let works = app
        .client
        .get(app.url("/api/v1/license/check?user=alice"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), 200);
    let one = "/api/v1/tokens/{id}";
    let path = format!("/api/v1/tokens/{}", made.body["id"]);
    assert_eq!(api.call(a, "DELETE", one, &path, Empty).await.status, 204);
    assert_eq!(api.call(a, "DELETE", one, &path, Empty).await.status, 404);
    assert_eq!(
        api.call(a, "DELETE", one, "/api/v1/tokens/x", Empty).await.status,
        400
    );
    let revoked = app
        .client
        .get(app.url("/api/v1/license/check?user=alice"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401, "a revoked token stops working");

    // The audit log of all of the above.
    let audit = api
        .call(a, "GET", "/api/v1/audit", "/api/v1/audit?limit=1000", Empty)
        .await;
    assert!(audit.body["items"].as_array().unwrap().len() > 20);
    let csv = api
        .call(a, "GET", "/api/v1/audit.csv", "/api/v1/audit.csv", Empty)
        .await;
    assert!(csv.body.as_str().unwrap().starts_with("id,at,actor"));
    assert_eq!(
        api.call(a, "GET", "/api/v1/audit", "/api/v1/audit?limit=0", Empty)
            .await
            .status,
        400
    );

    // Every documented operation answered 2xx at least once above.
    let mut missing = Vec::new();
    for (path, item) in api.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !api.succeeded.borrow().contains(&(method.clone(), path.clone())) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations the scenario never ran successfully: {missing:?}"
    );
}

/// What the stored data looks like through the API, to compare before and after.
async fn snapshot(app: &TestApp, admin: &str) -> Value {
    let mut out = json!({});
    for p in [
        "/api/v1/users?limit=1000",
        "/api/v1/license/status",
        "/api/v1/license/pending",
        "/api/v1/license/history",
        "/api/v1/system-events?limit=1000",
        "/api/v1/users/alice/licenses",
        "/api/v1/metering/usage",
    ] {
        let v: Value = app
            .client
            .get(app.url(p))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out[p] = v;
    }
    out
}

#[tokio::test]
async fn every_documented_body_refuses_bad_input_and_changes_nothing() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let admin = app.token(TokenScope::Admin).await;
    app.user("alice", false).await;
    app.refresh().await;
    app.store.assign("alice", "essentials").await.unwrap();
    let scim_id = app.store.associate("alice").await.unwrap().id;
    app.refresh().await;
    let before = snapshot(&app, &admin).await;

    let oversized = {
        let mut v = b"[\"".to_vec();
        v.extend(std::iter::repeat_n(b'x', lisens_server::BODY_LIMIT + 10));
        v.extend(b"\"]");
        v
    };
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"{\"login\": ".to_vec()),
        ("wrong type", b"42".to_vec()),
        (
            "wrong member types",
            br#"{"login": 5, "module": [], "owner": {}, "key": 1, "password": null}"#.to_vec(),
        ),
        (
            "unknown field",
            br#"{"zz_unknown": "x'; DROP TABLE associate; --"}"#.to_vec(),
        ),
        ("bad UTF-8", b"{\"login\": \"\xff\xfe\"}".to_vec()),
        ("empty array", b"[]".to_vec()),
        (
            "path traversal",
            br#"{"login": "../../etc/passwd", "module": "../x"}"#.to_vec(),
        ),
        ("oversized", oversized),
    ];
    let mut tried = 0;
    for (template, item) in api.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(content) = op["requestBody"]["content"].as_object() else {
                continue;
            };
            let ct = content.keys().next().unwrap().clone();
            let path = template
                .replace("{login}", "alice")
                .replace("{module}", "essentials")
                .replace("{id}", &scim_id.to_string());
            for (what, bytes) in &hostile {
                let resp = app
                    .client
                    .request(
                        Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                        app.url(&path),
                    )
                    .bearer_auth(&admin)
                    .header("content-type", &ct)
                    .body(bytes.clone())
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let rct = resp
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = resp.text().await.unwrap();
                // A body that happens to be acceptable (an empty event
                // list, an optional body) may succeed, but must not change data.
                if (200..300).contains(&status) {
                    assert!(
                        *what == "empty array" || (template.ends_with("/end") && *what != "oversized"),
                        "{method} {path} accepted {what}: {status} {body}"
                    );
                    continue;
                }
                assert!(
                    (400..500).contains(&status),
                    "{method} {path} with {what}: {status} {body}"
                );
                let rct = rct.unwrap_or_default();
                assert!(
                    rct.starts_with("application/problem+json") || rct.starts_with("application/scim+json"),
                    "{method} {path} with {what}: content type {rct}"
                );
                let v: Value = serde_json::from_str(&body)
                    .unwrap_or_else(|_| panic!("{method} {path} with {what}: not JSON: {body}"));
                assert!(
                    v["code"].is_string() || v["schemas"][0] == "urn:ietf:params:scim:api:messages:2.0:Error",
                    "{method} {path} with {what}: no code: {v}"
                );
                if *what == "oversized" {
                    assert_eq!(status, 413, "{method} {path}: {body}");
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 100, "only {tried} hostile requests were refused");
    assert_eq!(
        snapshot(&app, &admin).await,
        before,
        "a refused request changed stored data"
    );
}

/// The vendor's issuer in this process: customer S-2 ("Seed AB") at license
/// version 3 (a larger essentials count than the installation's), signed
/// with the installation's trusted test key.
pub(crate) async fn spawn_issuer() -> String {
    use lisens_issuer::http::{app, IssuerState};
    use lisens_issuer::service::Issuer;
    let dir = tempfile::tempdir().unwrap();
    let db = lisens_store::IssuerStore::open(&format!("sqlite://{}", dir.path().join("issuer.db").display()))
        .await
        .unwrap();
    std::mem::forget(dir);
    let issuer = Issuer::new(db, SigningKey::from_seed([5; 32]));
    issuer
        .add_customer("S-2", "Seed AB", "", SEED_SPEC, "test")
        .await
        .unwrap();
    issuer
        .set_count("S-2", "essentials", 4, None, "test")
        .await
        .unwrap();
    issuer
        .set_count("S-2", "essentials", 5, None, "test")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = app(IssuerState::new(issuer, Some(SEED_SPEC.to_owned())));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Client generators name a method after each operation's `operationId`:
/// every operation has one, and no two share it.
#[tokio::test]
async fn every_operation_has_its_own_operation_id() {
    let app = crate::spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut twice = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            if let Some(first) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                twice.push(format!("{id}: {first} and {method} {path}"));
            }
        }
    }
    assert!(twice.is_empty(), "operationIds used twice:\n{}", twice.join("\n"));
}
