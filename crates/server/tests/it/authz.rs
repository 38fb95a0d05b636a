//! The authorisation matrix: every route x every kind of caller -> allowed
//! or refused as the route table says. A route in the router that is missing
//! from the table fails the test, so a new route cannot be forgotten.

use std::collections::BTreeSet;

use lisens_store::{NewAssociate, TokenScope};
use reqwest::{Method, StatusCode};

use crate::spawn_app;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// API: `check` or `admin` token, or an administrator's session.
    Check,
    /// API: `metering` or `admin` token.
    Metering,
    /// API: `admin` token or an administrator's session.
    Admin,
    /// API: any logged-in user (their own data) or an `admin` token.
    User,
    /// Page: an administrator's session.
    UiAdmin,
    /// Page: any logged-in user.
    UiUser,
    /// SCIM: a `scim` or `admin` token (no sessions).
    Scim,
    /// `/metrics`: a `metrics` or `admin` token, or an administrator.
    Metrics,
}

use Access::*;

pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Metrics),
    ("GET", "/api/v1/audit", Admin),
    ("GET", "/api/v1/audit.csv", Admin),
    ("GET", "/api/openapi.json", Public),
    ("GET", "/api/docs", Public),
    ("GET", "/", Public),
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("POST", "/logout", UiUser),
    ("POST", "/language", UiUser),
    ("GET", "/me", UiUser),
    ("GET", "/licenses", UiAdmin),
    ("GET", "/licenses/status", UiAdmin),
    ("GET", "/licenses/modules/{module}", UiAdmin),
    ("GET", "/licenses/activate", UiAdmin),
    ("POST", "/licenses/activate", UiAdmin),
    ("GET", "/licenses/remove-excess/{module}", UiAdmin),
    ("POST", "/licenses/remove-excess/{module}", UiAdmin),
    ("POST", "/licenses/check-now", UiAdmin),
    ("POST", "/licenses/file", UiAdmin),
    ("POST", "/licenses/register", UiAdmin),
    ("POST", "/licenses/events", UiAdmin),
    ("POST", "/licenses/events/{id}/end", UiAdmin),
    ("GET", "/users", UiAdmin),
    ("GET", "/users/licenses", UiAdmin),
    ("POST", "/users/licenses", UiAdmin),
    ("GET", "/metering", UiAdmin),
    ("GET", "/metering/usage.csv", Admin),
    ("POST", "/api/v1/session", Public),
    ("DELETE", "/api/v1/session", Public),
    ("POST", "/api/v1/session/password", User),
    ("GET", "/api/v1/license/check", Check),
    ("GET", "/api/v1/system-events/flags", Check),
    ("POST", "/api/v1/metering/events", Metering),
    ("GET", "/api/v1/metering/usage", Admin),
    ("POST", "/api/v1/license/check-now", Admin),
    ("GET", "/api/v1/license/status", Admin),
    ("POST", "/api/v1/license/file", Admin),
    ("GET", "/api/v1/license/pending", Admin),
    ("POST", "/api/v1/license/register", Admin),
    ("POST", "/api/v1/license/activate", Admin),
    ("POST", "/api/v1/license/remove-excess", Admin),
    ("GET", "/api/v1/license/history", Admin),
    ("GET", "/api/v1/modules/{module}/holders", Admin),
    ("GET", "/api/v1/system-events", Admin),
    ("POST", "/api/v1/system-events", Admin),
    ("POST", "/api/v1/system-events/{id}/end", Admin),
    ("GET", "/api/v1/users", Admin),
    ("POST", "/api/v1/users", Admin),
    ("GET", "/api/v1/users/{login}", User),
    ("POST", "/api/v1/users/{login}/deactivate", Admin),
    ("GET", "/api/v1/users/{login}/licenses", User),
    ("POST", "/api/v1/users/{login}/licenses", Admin),
    ("DELETE", "/api/v1/users/{login}/licenses/{module}", Admin),
    ("POST", "/api/v1/users/{login}/password", Admin),
    ("POST", "/api/v1/assignments", Admin),
    ("GET", "/api/v1/tokens", Admin),
    ("POST", "/api/v1/tokens", Admin),
    ("DELETE", "/api/v1/tokens/{id}", Admin),
    ("GET", "/scim/v2/ServiceProviderConfig", Scim),
    ("GET", "/scim/v2/ResourceTypes", Scim),
    ("GET", "/scim/v2/Schemas", Scim),
    ("GET", "/scim/v2/Schemas/{id}", Scim),
    ("GET", "/scim/v2/ResourceTypes/{id}", Scim),
    ("GET", "/scim/v2/Users", Scim),
    ("POST", "/scim/v2/Users", Scim),
    ("GET", "/scim/v2/Users/{id}", Scim),
    ("PUT", "/scim/v2/Users/{id}", Scim),
    ("PATCH", "/scim/v2/Users/{id}", Scim),
    ("DELETE", "/scim/v2/Users/{id}", Scim),
];

/// An API route (JSON or CSV for programs), not a page of the admin UI.
/// (The OpenAPI document and its page describe the API; they are not in it.)
pub fn is_api(path: &str, access: Access) -> bool {
    !matches!(access, UiAdmin | UiUser) && !matches!(path, "/" | "/login" | "/api/openapi.json" | "/api/docs")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    UserSession,
    AdminSession,
    AdminToken,
    CheckToken,
    MeteringToken,
    ScimToken,
}

/// What the table says a caller gets: allowed, 401, 403, or sent to the login page.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthenticated,
    Forbidden,
    ToLogin,
}

fn expect(access: Access, caller: Caller) -> Expect {
    use Caller::*;
    use Expect::*;
    match (access, caller) {
        (Public, _) => Allowed,
        (Scim, ScimToken) => Allowed,
        (UiAdmin | UiUser, Anonymous | AdminToken | CheckToken | MeteringToken | ScimToken) => ToLogin,
        (UiAdmin, UserSession) => Forbidden,
        (UiAdmin | UiUser, _) => Allowed,
        (Scim, AdminToken) => Allowed,
        (Scim, Anonymous | UserSession | AdminSession) => Unauthenticated,
        (_, Anonymous) => Unauthenticated,
        (Check, AdminSession | AdminToken | CheckToken) => Allowed,
        (Metering, AdminToken | MeteringToken) => Allowed,
        (Admin | Metrics, AdminSession | AdminToken) => Allowed,
        (User, UserSession | AdminSession | AdminToken) => Allowed,
        _ => Forbidden,
    }
}

#[test]
fn every_route_of_the_router_is_in_the_table() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let mut in_router = BTreeSet::new();
    for part in source.split(".route(").skip(1) {
        let path = part
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split('"').next())
            .unwrap();
        in_router.insert(path.to_owned());
    }
    let in_table: BTreeSet<String> = ROUTES.iter().map(|(_, p, _)| (*p).to_owned()).collect();
    let missing: Vec<_> = in_router.difference(&in_table).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the authorisation table: {missing:?}"
    );
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let app = spawn_app().await;
    for (login, admin) in [("boss", true), ("anna", false), ("zed", false)] {
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
    app.store.assign("anna", "essentials").await.unwrap();
    let tokens = [
        (Caller::ScimToken, app.token(TokenScope::Scim).await),
        (Caller::AdminToken, app.token(TokenScope::Admin).await),
        (Caller::CheckToken, app.token(TokenScope::Check).await),
        (Caller::MeteringToken, app.token(TokenScope::Metering).await),
    ];
    app.refresh().await;
    let no_redirects = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let mut sessions = Vec::new();
    for (caller, login) in [(Caller::AdminSession, "boss"), (Caller::UserSession, "anna")] {
        let c = no_redirects();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&serde_json::json!({"login": login, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{login} logs in");
        let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        sessions.push((caller, c, csrf));
    }

    let mut failures = Vec::new();
    for (method, path, access) in ROUTES {
        // Logging out would end the sessions the other rows use.
        if path.contains("session") && *method == "DELETE" || *path == "/logout" {
            continue;
        }
        // Writes about a user aim at someone else than the callers, so they
        // cannot end the sessions the other rows use.
        let who = if *access == Access::User { "anna" } else { "zed" };
        let url = app.url(
            &path
                .replace("{login}", who)
                .replace("{module}", "essentials")
                .replace("{id}", "999999"),
        );
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut requests = vec![(Caller::Anonymous, no_redirects().request(method.clone(), &url))];
        for (caller, token) in &tokens {
            requests.push((
                *caller,
                no_redirects().request(method.clone(), &url).bearer_auth(token),
            ));
        }
        for (caller, client, csrf) in &sessions {
            let mut req = client
                .request(method.clone(), &url)
                .header("x-csrf-token", csrf.as_str());
            if method == Method::POST && !path.starts_with("/api/") {
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("csrf={csrf}"));
            }
            requests.push((*caller, req));
        }
        for (caller, req) in requests {
            let status = req.send().await.unwrap().status();
            let got = match status {
                StatusCode::UNAUTHORIZED => Expect::Unauthenticated,
                StatusCode::FORBIDDEN => Expect::Forbidden,
                StatusCode::SEE_OTHER if *access == Access::UiAdmin || *access == Access::UiUser => {
                    // A redirect to the login page, or (for an allowed form) back to a page.
                    if caller == Caller::Anonymous
                        || matches!(
                            caller,
                            Caller::AdminToken
                                | Caller::CheckToken
                                | Caller::MeteringToken
                                | Caller::ScimToken
                        )
                    {
                        Expect::ToLogin
                    } else {
                        Expect::Allowed
                    }
                }
                _ => Expect::Allowed,
            };
            let want = expect(*access, caller);
            if got != want {
                failures.push(format!(
                    "{method} {path} as {caller:?}: {status} ({got:?}), expected {want:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
