//! The issuer service over HTTP: the installation endpoints and the vendor pages.

#![allow(clippy::unwrap_used)]

use lisens_core::SigningKey;
use lisens_issuer::http::{app, IssuerState};
use lisens_issuer::service::Issuer;
use lisens_store::IssuerStore;
use serde_json::{json, Value};

const TEMPLATE: &str = include_str!("../../../../examples/demo-license.toml");

struct App {
    url: String,
    client: reqwest::Client,
    state: IssuerState,
    _dir: tempfile::TempDir,
}

async fn spawn() -> App {
    spawn_with(Some(TEMPLATE)).await
}

async fn spawn_with(template: Option<&str>) -> App {
    let dir = tempfile::tempdir().unwrap();
    let db = IssuerStore::open(&format!("sqlite://{}", dir.path().join("issuer.db").display()))
        .await
        .unwrap();
    db.set_admin_password_hash(&lisens_core::password::hash_password("vendor-pw-123", [1; 16]).unwrap())
        .await
        .unwrap();
    let state = IssuerState::new(
        Issuer::new(db, SigningKey::from_seed([9; 32])),
        template.map(str::to_owned),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        url,
        client: reqwest::Client::new(),
        state,
        _dir: dir,
    }
}

#[tokio::test]
async fn an_installation_gets_its_license_only_with_its_secret() {
    let app = spawn().await;
    let secret = app
        .state
        .issuer
        .add_customer("S-1", "Acme", "ops@acme", TEMPLATE, "test")
        .await
        .unwrap();
    let ask = |secret: String, version: i64| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/license", app.url);
        async move {
            let r = client
                .post(url)
                .json(&json!({"serial": "S-1", "secret": secret, "license_version": version}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ask(secret.clone(), 0).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("NewLicenseAvailable"))
    );
    assert!(body["license"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN LISENS LICENSE-----"));
    let (_, body) = ask(secret.clone(), 1).await;
    assert_eq!(body["status"], "Ok");
    assert!(body["license"].is_null());
    let (status, body) = ask("wrong".into(), 0).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("ISSUER_AUTH_FAILED")));
    app.state
        .issuer
        .db
        .set_message(
            "S-1",
            Some("Renew before 2027"),
            Some("https://shop.example.com"),
            "t",
        )
        .await
        .unwrap();
    let (_, body) = ask(secret, 1).await;
    assert_eq!(
        (body["status"].as_str(), body["url"].as_str()),
        (Some("Message"), Some("https://shop.example.com"))
    );
    let r = app
        .client
        .post(format!("{}/api/v1/license", app.url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Asked with the entity tag of its last answer, an installation gets an
/// empty 304 while nothing changed, and the whole answer once the vendor
/// changes its license or message; a wrong secret is never a 304.
#[tokio::test]
async fn an_unchanged_answer_is_an_empty_304() {
    let app = spawn().await;
    let secret = app
        .state
        .issuer
        .add_customer("S-5", "Acme", "", TEMPLATE, "test")
        .await
        .unwrap();
    let ask = |secret: String, etag: Option<String>| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/license", app.url);
        async move {
            let mut r = client
                .post(url)
                .json(&json!({"serial": "S-5", "secret": secret, "license_version": 1}));
            if let Some(tag) = etag {
                r = r.header("if-none-match", tag);
            }
            let r = r.send().await.unwrap();
            let tag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), tag, r.text().await.unwrap())
        }
    };
    let (status, tag, body) = ask(secret.clone(), None).await;
    assert!(status == 200 && body.contains("\"Ok\""), "{body}");
    let tag = tag.expect("an entity tag");
    let (status, again, body) = ask(secret.clone(), Some(tag.clone())).await;
    assert_eq!(
        (status, again.as_deref(), body.as_str()),
        (304, Some(tag.as_str()), "")
    );
    let (status, _, _) = ask("wrong".into(), Some(tag.clone())).await;
    assert_eq!(status, 401);
    app.state
        .issuer
        .set_count("S-5", "sales-essentials", 25, None, "test")
        .await
        .unwrap();
    let (status, _, body) = ask(secret, Some(tag)).await;
    assert!(
        status == 200 && body.contains("NewLicenseAvailable"),
        "{status} {body}"
    );
}

#[tokio::test]
async fn vendor_pages_need_the_admin_password_and_a_csrf_token() {
    let app = spawn().await;
    app.state
        .issuer
        .add_customer("S-2", "Bolt AB", "", TEMPLATE, "test")
        .await
        .unwrap();
    let r = app.client.get(format!("{}/admin", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(format!("{}/admin", app.url))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let page = app
        .client
        .get(format!("{}/admin/customers/S-2", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Bolt AB") && html.contains("sales-essentials"),
        "{html}"
    );

    let form = [
        ("csrf", "forged"),
        ("module", "sales-essentials"),
        ("count", "40"),
    ];
    let r = app
        .client
        .post(format!("{}/admin/customers/S-2/count", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.state.issuer.db.customer("S-2").await.unwrap().license_version,
        1
    );

    let csrf = app.state.csrf.to_string();
    // More Sales Essentials than the pocket-crm-cal it grants (30): not
    // signed, and the page says why.
    let form = [
        ("csrf", csrf.as_str()),
        ("module", "sales-essentials"),
        ("count", "40"),
    ];
    let r = app
        .client
        .post(format!("{}/admin/customers/S-2/count", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(
        page.contains("grants pocket-crm-cal, of which the license has 30"),
        "{page}"
    );
    assert_eq!(
        app.state.issuer.db.customer("S-2").await.unwrap().license_version,
        1
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("module", "sales-essentials"),
        ("count", "25"),
    ];
    let r = app
        .client
        .post(format!("{}/admin/customers/S-2/count", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let c = app.state.issuer.db.customer("S-2").await.unwrap();
    assert_eq!(c.license_version, 2);
    let license = app.state.issuer.verify(&c.document).unwrap();
    assert_eq!(
        license
            .modules()
            .iter()
            .find(|m| m.name.as_str() == "sales-essentials")
            .unwrap()
            .count
            .get(),
        25
    );

    let form = [
        ("csrf", csrf.as_str()),
        ("module", "sales-essentials"),
        ("count", "lots"),
    ];
    let r = app
        .client
        .post(format!("{}/admin/customers/S-2/count", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("is not a count"));
    assert_eq!(
        app.state.issuer.db.customer("S-2").await.unwrap().license_version,
        2,
        "bad input changes nothing"
    );
}

#[tokio::test]
async fn registration_works_once_until_the_vendor_resets_it() {
    let app = spawn().await;
    app.state
        .issuer
        .add_customer("S-3", "Cobalt AS", "", TEMPLATE, "test")
        .await
        .unwrap();
    let register = || {
        app.client
            .post(format!("{}/api/v1/register", app.url))
            .json(&json!({"serial": "S-3", "company_name": "cobalt as"}))
            .send()
    };
    let first = register().await.unwrap();
    assert_eq!(first.status(), 200);
    let secret = first.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = register().await.unwrap();
    assert_eq!(
        again.status(),
        401,
        "someone who knows serial and name cannot take over the installation"
    );
    let r = app
        .client
        .post(format!("{}/api/v1/license", app.url))
        .json(&json!({"serial": "S-3", "secret": secret, "license_version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the first installation's secret still works");
    app.state
        .issuer
        .db
        .reset_registration("S-3", "vendor")
        .await
        .unwrap();
    assert_eq!(register().await.unwrap().status(), 200);
}

/// Started without a license spec, the issuer's admin pages add no customer
/// (they would have to give it some license silently): the vendor is told
/// how to add one, and nothing is stored.
#[tokio::test]
async fn without_a_template_the_admin_pages_add_no_customer() {
    let app = spawn_with(None).await;
    let csrf = app.state.csrf.to_string();
    let r = app
        .client
        .post(format!("{}/admin/customers", app.url))
        .basic_auth("admin", Some("vendor-pw-123"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("serial", "S-9"),
            ("company", "Nine AB"),
            ("contact", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "TEMPLATE_MISSING");
    assert!(body["detail"].as_str().unwrap().contains("--spec"), "{body}");
    assert!(app.state.issuer.db.customers().await.unwrap().is_empty());
}
