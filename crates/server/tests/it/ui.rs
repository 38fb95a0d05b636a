//! The web UI driven over HTTP like a browser without JavaScript would.

use lisens_core::{spec::parse_spec, SigningKey};
use lisens_store::NewAssociate;

use crate::{spawn_app, spawn_unlicensed_app, TestApp, SEED_SPEC};

async fn user_with_password(app: &TestApp, login: &str, admin: bool) {
    let hash = lisens_server::auth::hash_password("correct horse battery").unwrap();
    app.store
        .create_associate(&NewAssociate {
            login_name: login.into(),
            full_name: format!("{login} Person"),
            email: String::new(),
            is_admin: admin,
            password_hash: Some(hash),
        })
        .await
        .unwrap();
}

fn browser(lang: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT_LANGUAGE, lang.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap()
}

/// The login form's CSRF token, as a browser gets it with the form (the
/// client keeps the cookie that goes with it).
pub async fn login_token(app: &TestApp, c: &reqwest::Client) -> String {
    csrf(
        &c.get(app.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
}

async fn log_in(app: &TestApp, c: &reqwest::Client, login: &str) -> reqwest::Response {
    let token = login_token(app, c).await;
    c.post(app.url("/login"))
        .form(&[
            ("login", login),
            ("password", "correct horse battery"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap()
}

/// A page's HTML, as the browser `c` gets it.
async fn page(app: &TestApp, c: &reqwest::Client, path: &str) -> String {
    c.get(app.url(path)).send().await.unwrap().text().await.unwrap()
}

/// "Load license from file" with `file`, as the browser `c` posts the form
/// (its CSRF token taken from `html`, the page the form is on).
async fn upload(app: &TestApp, c: &reqwest::Client, html: &str, file: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().text("csrf", csrf(html)).part(
        "license",
        reqwest::multipart::Part::bytes(file).file_name("license.lic"),
    );
    c.post(app.url("/licenses/file"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The CSRF token of the current session, as the pages carry it.
fn csrf(html: &str) -> String {
    let i = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf token")
        + 19;
    html[i..i + 64].to_owned()
}

#[tokio::test]
async fn an_administrator_logs_in_and_reads_the_licenses_screen() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("en");
    let first = c.get(app.url("/")).send().await.unwrap();
    assert!(first.url().path().ends_with("/login"));
    let token = csrf(&first.text().await.unwrap());
    let r = c
        .post(app.url("/login"))
        .form(&[("login", "admin"), ("password", "wrong"), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Wrong login name or password"));

    let r = log_in(&app, &c, "admin").await;
    assert!(r.url().path().ends_with("/licenses"), "{}", r.url());
    let html = r.text().await.unwrap();
    for needle in [
        "Seed AB",
        "S-2",
        "Buy new licenses",
        "Load license from file",
        "User plans",
        "essentials",
        "Status",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(
        html.contains("https://shop.example.com/buy?serial=S-2"),
        "Buy new licenses carries the serial"
    );
    let status = page(&app, &c, "/licenses/status").await;
    for needle in [
        "Database",
        "Central",
        "System messages",
        "Activated by",
        "admin Person",
    ] {
        assert!(status.contains(needle), "{needle} missing on the Status tab");
    }
    let module = c
        .get(app.url("/licenses/modules/essentials"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(module.contains("Users who hold it"));
}

#[tokio::test]
async fn the_screens_speak_swedish_danish_and_norwegian() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("sv-SE,sv;q=0.9");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    assert!(
        html.contains("Licenser")
            && html.contains("Läs in licens från fil")
            && html.contains("Användarplaner")
    );
    assert!(html.contains("lang=\"sv\""));

    // The help pages' words for the system messages' columns, and the
    // messages by name, not by key.
    let pending = app
        .store
        .raise_event("license-pending", "SuperOffice v2: pending", "", true)
        .await
        .unwrap();
    app.store
        .start_job("user-import", "importing users", None, "admin")
        .await
        .unwrap();
    let status = page(&app, &c, "/licenses/status").await;
    assert!(
        status.contains(">Aktiverat<") && status.contains(">Aktiverad av<") && status.contains(">Avslutat<"),
        "{status}"
    );
    assert!(
        status.contains(">Aktivera ny licens</a>") && status.contains(">Jobb: user-import</a>"),
        "{status}"
    );
    assert!(!status.contains(">license-pending<"), "{status}");
    // Times in the reader's format (the installation's zone: UTC here),
    // never the stored RFC 3339 text.
    let stored = app
        .store
        .events(&Default::default(), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == pending)
        .unwrap()
        .activated_at;
    let shown = lisens_server::i18n::Tr::new("sv").when_stored(&stored, &lisens_core::metering::Zone::utc());
    assert!(
        status.contains(&format!("<td>{shown}</td>")) && !status.contains(&stored),
        "{stored}: {status}"
    );
    // The pending license's message ends when the license is activated:
    // it has no End button.
    assert!(
        !status.contains(&format!("/licenses/events/{pending}/end")),
        "{status}"
    );
    let token = csrf(&html);
    let r = c
        .post(app.url("/language"))
        .form(&[("csrf", token.as_str()), ("language", "da")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Indlæs licens fra fil"),
        "the user's setting wins over the browser"
    );
    let metering = page(&app, &c, "/metering").await;
    assert!(
        metering.contains("Logon på kundecenter"),
        "the help pages' words: {metering}"
    );
    let r = c
        .post(app.url("/language"))
        .form(&[("csrf", token.as_str()), ("language", "nb")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Last inn lisens fra fil"));
}

#[tokio::test]
async fn the_user_licenses_matrix_assigns_and_shows_refusals() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    for u in ["anna", "bo", "cy"] {
        app.user(u, false).await;
    }
    let c = browser("en");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    let token = csrf(&html);
    for u in ["anna", "bo"] {
        let r = c
            .post(app.url("/users/licenses"))
            .form(&[
                ("csrf", token.as_str()),
                ("login", u),
                ("module", "essentials"),
                ("action", "assign"),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let r = c
        .post(app.url("/users/licenses"))
        .form(&[
            ("csrf", token.as_str()),
            ("login", "cy"),
            ("module", "essentials"),
            ("action", "assign"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Refused (cy / essentials): All licenses of this kind are in use"),
        "the refusal names the person and the license, with its reason: {html}"
    );
    // The names come from the installation: words made up in a link do not
    // reach the page.
    let forged = page(
        &app,
        &c,
        "/users/licenses?error=LICENSE_OVERCOMMITTED&user=Call+support&license=%3Cb%3Efree%3C%2Fb%3E",
    )
    .await;
    assert!(
        forged.contains("Refused: All licenses")
            && !forged.contains("Call support")
            && !forged.contains("free</b>"),
        "{forged}"
    );
    assert!(!html.contains("LICENSE_OVERCOMMITTED"), "no code on the page");
    assert!(html.contains("2/2"), "the in-use count changed");
    let r = c
        .post(app.url("/users/licenses"))
        .form(&[
            ("csrf", "forged"),
            ("login", "cy"),
            ("module", "essentials"),
            ("action", "assign"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no change");
    assert!(app.store.holdings("cy").await.unwrap().is_empty());
}

#[tokio::test]
async fn activation_dialog_red_module_remove_excess_then_activate() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    for u in ["anna", "bo"] {
        app.user(u, false).await;
        app.store.assign(u, "essentials").await.unwrap();
    }
    let c = browser("en");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    let token = csrf(&html);
    let spec = SEED_SPEC
        .replace("license_version = 1", "license_version = 2")
        .replace("count = 2\nextra_flags", "count = 1\nextra_flags");
    let doc = parse_spec(&spec, time::OffsetDateTime::now_utc())
        .unwrap()
        .sign(&SigningKey::from_seed([5; 32]));
    let form = reqwest::multipart::Form::new().text("csrf", token.clone()).part(
        "license",
        reqwest::multipart::Part::text(doc).file_name("new.lic"),
    );
    let r = c
        .post(app.url("/licenses/file"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.url().path().ends_with("/licenses/activate"), "{}", r.url());
    let html = r.text().await.unwrap();
    assert!(
        html.contains("class=\"below\"") && html.contains("fewer than in use"),
        "red, with text"
    );
    assert!(html.contains("id=\"activate\" disabled"), "Activate is disabled");
    assert!(html.contains(">1 fewer<"), "a negative change in words: {html}");
    assert!(
        html.contains("&#9888; essentials</a>"),
        "the license is named: {html}"
    );

    let excess = c
        .get(app.url("/licenses/remove-excess/essentials"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(excess.contains("id=\"to-remove\">1<"), "one to remove");
    assert!(
        excess.contains("id=\"remove-cancel\"")
            && excess.contains("<h1>Remove excess licenses: essentials</h1>"),
        "the dialog has Cancel: {excess}"
    );
    // OK with nobody ticked says what to do.
    let none = c
        .post(app.url("/licenses/remove-excess/essentials"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        none.contains("Tick the users whose license is to be removed"),
        "{none}"
    );
    let r = c
        .post(app.url("/licenses/remove-excess/essentials"))
        .form(&[("csrf", token.as_str()), ("user:bo", "on")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"activate\">"), "Activate is enabled now");
    let r = c
        .post(app.url("/licenses/activate"))
        .form(&[("csrf", token.as_str()), ("owner", "SuperOffice")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("New license activated"));
    assert_eq!(
        app.store.license_status().await.unwrap().owners[0].license_version,
        2
    );
}

#[tokio::test]
async fn an_ordinary_user_sees_only_their_own_licenses() {
    let app = spawn_app().await;
    user_with_password(&app, "anna", false).await;
    app.store.assign("anna", "essentials").await.unwrap();
    app.refresh().await;
    let c = browser("en");
    let r = log_in(&app, &c, "anna").await;
    assert!(r.url().path().ends_with("/me"));
    let html = r.text().await.unwrap();
    assert!(html.contains("<td>essentials</td>"), "{html}");
    // The plan's hidden licenses are not shown.
    assert!(
        !html.contains("<td>user</td>") && !html.contains("<td>web</td>"),
        "{html}"
    );
    let r = c.get(app.url("/licenses")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Only administrators manage licenses"));

    // Without user + web, an ordinary user may not log in at all.
    user_with_password(&app, "bo", false).await;
    app.refresh().await;
    let r = log_in(&app, &browser("en"), "bo").await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("You may not log in: your account does not hold the license “user”"),
        "{html}"
    );
    assert!(!html.contains("MISSING_LICENSE"), "no code on the page: {html}");
    // In Swedish too.
    let r = log_in(&app, &browser("sv"), "bo").await;
    let html = r.text().await.unwrap();
    assert!(html.contains("ditt konto har inte licensen ”user”"), "{html}");
}

#[tokio::test]
async fn the_session_api_logs_in_limits_failures_and_needs_csrf() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("en");
    for _ in 0..5 {
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&serde_json::json!({"login": "admin", "password": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"login": "admin", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "five failures from one address delay it a while");
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.json::<serde_json::Value>().await.unwrap()["code"] == "RATE_LIMITED");

    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"login": "admin", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    let token = body["csrf_token"].as_str().unwrap().to_owned();
    let r = c.get(app.url("/api/v1/license/status")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the session cookie authenticates API reads");
    let r = c.post(app.url("/api/v1/license/check-now")).send().await.unwrap();
    assert_eq!(r.status(), 403, "a write with the cookie needs the CSRF header");
    let r = c.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(app.url("/api/v1/license/status")).send().await.unwrap();
    assert_eq!(r.status(), 401, "logged out");
    let _ = token;
}

#[tokio::test]
async fn a_module_with_more_holders_than_licensed_is_shown_in_red_in_the_readers_language() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    for u in ["a", "b", "c"] {
        app.user(u, false).await;
    }
    app.store.assign("a", "essentials").await.unwrap();
    app.store.assign("b", "essentials").await.unwrap();
    // The plan is licensed twice and held twice; the customer adds a
    // third holder with SQL, behind lisens's back.
    let db = format!("sqlite://{}", app._dir.path().join("lisens.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    sqlx::query(
        "INSERT INTO license_assoc_link (module_license_id, assoc_id, created_at) \
         SELECT m.id, a.id, '2026-01-01T00:00:00Z' FROM module_license m, associate a \
         WHERE m.module_name = 'essentials' AND a.login_name = 'c'",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    app.refresh().await;

    let c = browser("sv");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    assert!(
        html.contains("class=\"below\">&#9888; Fler innehavare än licensierat"),
        "the row is marked red in Swedish: {html}"
    );
    assert!(html.contains("Vissa licenser har fler innehavare än licensen tillåter"));
    assert!(html.contains("(essentials)"));
}

#[tokio::test]
async fn a_login_form_post_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    // Another site posting the form: no cookie, or a token of its own.
    let attacker = browser("sv");
    let r = attacker
        .post(app.url("/login"))
        .form(&[("login", "admin"), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(!html.contains("LOGIN_CSRF_FAILED"), "no code on the page: {html}");
    assert!(
        html.contains("Inloggningsformuläret har gått ut"),
        "explained in Swedish"
    );
    let own = csrf(&html);
    let victim = browser("en");
    let _ = login_token(&app, &victim).await;
    let r = victim
        .post(app.url("/login"))
        .form(&[
            ("login", "admin"),
            ("password", "correct horse battery"),
            ("csrf", own.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a token that is not the browser's own");
    assert!(!r.url().path().ends_with("/licenses"));
    let r = victim.get(app.url("/licenses")).send().await.unwrap();
    assert!(r.url().path().ends_with("/login"), "no session was started");

    // With the form's own token the same browser logs in, and the cookie
    // carrying it is strict and ends with the login.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = c.get(app.url("/login")).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("lisens_login_csrf=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = csrf(&form.text().await.unwrap());
    assert!(cookie.contains(&token));
    let r = c
        .post(app.url("/login"))
        .header("cookie", format!("lisens_login_csrf={token}"))
        .form(&[
            ("login", "admin"),
            ("password", "correct horse battery"),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(set.iter().any(|c| c.starts_with("lisens_session=")), "{set:?}");
    assert!(
        set.iter()
            .any(|c| c.starts_with("lisens_login_csrf=;") && c.contains("Max-Age=0")),
        "{set:?}"
    );
}

/// A link can put no words on a page: a redirect carries only a code or a
/// notice key, and the page shows its own sentence for it, in the reader's
/// language; made-up text in the URL shows the general sentence or nothing.
#[tokio::test]
async fn a_link_cannot_put_words_on_a_page() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("sv");
    log_in(&app, &c, "admin").await;
    let html = page(
        &app,
        &c,
        "/licenses?error=Ring%20supporten%20p%C3%A5%20070-123%2045&notice=Ring%20oss%20nu",
    )
    .await;
    assert!(
        !html.contains("Ring supporten") && !html.contains("Ring oss"),
        "{html}"
    );
    assert!(html.contains("Nekad: Åtgärden kunde inte slutföras."), "{html}");
    let html = page(&app, &c, "/users/licenses?error=%3Cb%3Ephish%3C%2Fb%3E").await;
    assert!(!html.contains("phish"), "{html}");
    let html = page(&app, &c, "/licenses?error=LICENSE_MALFORMED").await;
    assert!(html.contains("Nekad: Filen är ingen licensfil."), "{html}");
    assert!(!html.contains("LICENSE_MALFORMED"), "{html}");
    let html = page(&app, &c, "/licenses?notice=check-requested").await;
    assert!(
        !html.contains("check-requested"),
        "the notice's sentence, not its key: {html}"
    );

    // A bad upload lands on the same sentence.
    let licenses = page(&app, &c, "/licenses").await;
    let html = upload(&app, &c, &licenses, b"not a license".to_vec())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Nekad: Filen är ingen licensfil."), "{html}");
    // "Check for a new license now" without an issuer says why, in Swedish.
    let token = csrf(&html);
    let html = c
        .post(app.url("/licenses/check-now"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("inte registrerad hos licenstjänsten"), "{html}");
}

/// A new installation has a way in: the Licenses page says there is no
/// license yet, when the demo ends, and offers "Load license from file";
/// loading the vendor's file there licenses the installation.
#[tokio::test]
async fn a_new_installation_is_licensed_from_the_licenses_page() {
    let app = spawn_unlicensed_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("sv");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    assert!(html.contains("Ingen licens ännu"), "{html}");
    assert!(html.contains("Demoperioden slutar"), "{html}");
    let until = app.store.license_status().await.unwrap().demo.unwrap().until;
    let shown = lisens_server::i18n::Tr::new("sv").date(&until[..10]);
    assert!(
        html.contains(&format!("id=\"demo-until\">{shown}<")) && !html.contains(&until[..10]),
        "the demo's end in Swedish ({shown}): {html}"
    );
    assert!(html.contains("id=\"license-file\""), "the upload form: {html}");
    let file = parse_spec(SEED_SPEC, time::OffsetDateTime::now_utc())
        .unwrap()
        .sign(&SigningKey::from_seed([5; 32]));
    let html = upload(&app, &c, &html, file.into_bytes())
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Ingen licens ännu"), "{html}");
    assert!(html.contains("id=\"serial\""), "the owner's tab: {html}");
    assert!(html.contains("Seed AB"), "{html}");

    // A newer license with more seats is activated by itself; "Ny licens
    // aktiverad" opens the message that lists the changes, in Swedish, and
    // names the administrator who loaded it.
    let more = parse_spec(
        &SEED_SPEC
            .replace("license_version = 1", "license_version = 2")
            .replace("count = 2\nextra_flags", "count = 5\nextra_flags"),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
    .sign(&SigningKey::from_seed([5; 32]));
    let html = upload(&app, &c, &html, more.into_bytes())
        .await
        .text()
        .await
        .unwrap();
    let link = html
        .split("id=\"activated-link\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link to the changes: {html}"))
        .replace("&amp;", "&");
    assert!(link.contains("?event="), "{link}");
    let html = page(&app, &c, &link).await;
    let pane = html
        .split("id=\"description\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{html}"));
    assert!(pane.contains("Ny licens aktiverad"), "{pane}");
    assert!(
        pane.contains("Ny licens aktiverad (Hela systemet, admin Person)"),
        "the administrator, not system: {pane}"
    );
    assert!(
        pane.contains("<th scope=\"col\" class=\"num\">Tidigare</th>")
            && pane.contains("<td>essentials</td><td class=\"num\">2</td><td class=\"num\">5</td><td class=\"num\">+3</td>"),
        "the changed licenses as a table: {pane}"
    );
    assert!(!pane.contains("\"new_total\""), "no JSON: {pane}");
    // The system's own message in Swedish, not the stored English text.
    assert!(pane.contains("SuperOffice v2: aktiverad av admin"), "{pane}");
    assert!(!pane.contains("activated by"), "{pane}");
}

/// Storage is read in GB on the metering dashboard, not in bytes.
#[tokio::test]
async fn storage_is_shown_in_gb() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    app.store
        .ingest(
            &[lisens_store::metering::UsageEvent {
                id: "s1".into(),
                service: "storage".into(),
                quantity: 5_905_580_032u64.into(),
                occurred_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            }],
            &lisens_core::metering::Zone::utc(),
        )
        .await
        .unwrap();
    let c = browser("sv");
    log_in(&app, &c, "admin").await;
    let html = c
        .get(app.url("/metering"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Använt förvaringsutrymme") && html.contains("5,5 GB"),
        "{html}"
    );
    assert!(!html.contains("5\u{a0}905\u{a0}580\u{a0}032"), "{html}");
    assert!(
        html.contains("<input type=\"month\" name=\"month\""),
        "a month picker: {html}"
    );
}

/// A second product, Acme Books (`examples/acme-books.toml`): its plan
/// holder logs in by its own login license, its metered service is on the
/// dashboard under its own names in Swedish and English against its own
/// threshold, its licenses carry its words, and no screen speaks of the
/// CRM's licenses or services.
#[tokio::test]
async fn acme_books_speaks_its_own_words_on_every_screen() {
    let app = crate::spawn_app_licensed(include_str!("../../../../examples/acme-books.toml")).await;
    user_with_password(&app, "anna", true).await;
    app.store.assign("anna", "books-pro").await.unwrap();
    let check = app.token(lisens_store::TokenScope::Check).await;
    app.refresh().await;
    let ask = |q: &'static str| {
        app.client
            .get(app.url(&format!("/api/v1/license/check?{q}")))
            .bearer_auth(&check)
            .send()
    };
    let granted = |v: serde_json::Value| {
        assert_eq!(v["granted"], true, "{v}");
        true
    };
    assert!(granted(ask("user=anna").await.unwrap().json().await.unwrap()));
    assert!(granted(
        ask("user=anna&module=payroll")
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    ));
    app.store
        .ingest(
            &[lisens_store::metering::UsageEvent {
                id: "inv-1".into(),
                service: "invoices_sent".into(),
                quantity: 620u64.into(),
                occurred_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            }],
            &lisens_core::metering::Zone::utc(),
        )
        .await
        .unwrap();
    app.store
        .check_thresholds(&lisens_core::metering::Zone::utc())
        .await
        .unwrap();
    let month = lisens_core::metering::month_of(
        time::OffsetDateTime::now_utc(),
        &lisens_core::metering::Zone::utc(),
    );
    let crm_words = [
        "SuperOffice",
        "förvaringsutrymme",
        "Utskick",
        "kundcentret",
        "storage",
        "mailing",
        "satellite",
    ];
    for (lang, service, plan) in [
        ("sv", "Skickade fakturor", "Acme Books Pro"),
        ("en", "Invoices sent", "Acme Books Pro"),
    ] {
        let c = browser(lang);
        let r = log_in(&app, &c, "anna").await;
        assert_eq!(r.status(), 200);
        let licenses = r.text().await.unwrap();
        let metering = page(&app, &c, "/metering").await;
        // 500 included and 50 per billable user (anna): 620 of 550.
        assert!(
            metering.contains(service) && metering.contains("620"),
            "{metering}"
        );
        assert!(
            metering.contains("550"),
            "the threshold grows with users: {metering}"
        );
        assert!(licenses.contains(plan), "{licenses}");
        if lang == "sv" {
            assert!(
                licenses.contains("API-åtkomst"),
                "the product's Swedish name: {licenses}"
            );
        }
        // 70 over: one started 100 at 2.50 SEK, in the reader's number format.
        let price = if lang == "sv" { "2,50 SEK" } else { "2.50 SEK" };
        assert!(metering.contains(price), "{metering}");
        let pro = page(&app, &c, "/licenses/modules/books-pro").await;
        if lang == "sv" {
            assert!(
                pro.contains("Bokföring, huvudbok och lön för en användare"),
                "{pro}"
            );
        } else {
            assert!(
                pro.contains("Bookkeeping, ledger and payroll for one user"),
                "{pro}"
            );
        }
        // The matrix heads its columns with the plans' names, not their codes.
        let users = page(&app, &c, "/users/licenses").await;
        assert!(users.contains(">Acme Books Pro<br>"), "{users}");
        // Her own page: the plan by its name; what it grants is hidden.
        let me = page(&app, &c, "/me").await;
        assert!(me.contains("<td>Acme Books Pro</td>"), "{me}");
        assert!(
            !me.contains("books-user") && !me.contains("payroll") && !me.contains("books-pro"),
            "{me}"
        );
        // The threshold message in the reader's words, the service by its name.
        let status_page = page(&app, &c, "/licenses/status").await;
        let reached = if lang == "sv" {
            format!("Skickade fakturor har nått 100 % av tröskeln i {month}")
        } else {
            format!("Invoices sent reached 100 % of its threshold in {month}")
        };
        assert!(status_page.contains(&reached), "{status_page}");
        assert!(!status_page.contains("invoices_sent"), "{status_page}");
        for page_html in [&licenses, &metering, &pro, &users, &me, &status_page] {
            for w in crm_words {
                assert!(
                    !page_html.contains(w),
                    "{lang}: {w:?} on an Acme screen:\n{page_html}"
                );
            }
        }
    }
}

/// A refusal page speaks the reader's language: "Nekad" and the code's
/// Swedish sentence, the code only small for support, no English.
#[tokio::test]
async fn a_refusal_page_reads_as_a_sentence_in_the_readers_language() {
    let app = spawn_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("sv");
    log_in(&app, &c, "admin").await;
    let r = c
        .post(app.url("/language"))
        .form(&[("csrf", "stale"), ("language", "da")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    let sentence = lisens_server::i18n::Tr::new("sv").error("CSRF_FAILED").unwrap();
    assert!(
        html.contains("<h1>Nekad</h1>") && html.contains(&sentence),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"tag\"") && html.contains(">CSRF_FAILED</span>"),
        "{html}"
    );
    assert!(!html.contains("The form is stale"), "{html}");
}

/// A new installation registers from the Licenses page with the serial
/// number and license owner the vendor gave: a wrong owner is refused in
/// the reader's words (nothing stored), the right one loads the license.
#[tokio::test]
async fn a_new_installation_registers_with_its_issuer_from_the_licenses_page() {
    let issuer = crate::openapi::spawn_issuer().await;
    let app = spawn_unlicensed_app().await;
    user_with_password(&app, "admin", true).await;
    let c = browser("sv");
    let html = log_in(&app, &c, "admin").await.text().await.unwrap();
    assert!(
        html.contains("id=\"register\"") && html.contains("Licensägare"),
        "{html}"
    );
    let token = csrf(&html);
    let register = |owner: &'static str| {
        c.post(app.url("/licenses/register"))
            .form(&[
                ("csrf", token.as_str()),
                ("issuer", issuer.as_str()),
                ("serial", "S-2"),
                ("owner", owner),
            ])
            .send()
    };
    let html = register("Someone Else").await.unwrap().text().await.unwrap();
    let sentence = lisens_server::i18n::Tr::new("sv")
        .error("REGISTRATION_FAILED")
        .unwrap();
    assert!(html.contains(&format!("Nekad: {sentence}")), "{html}");
    assert!(app.store.license_status().await.unwrap().owners.is_empty());
    let html = register("seed ab").await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Installationen är registrerad hos licenstjänsten"),
        "{html}"
    );
    assert!(
        html.contains("Seed AB") && html.contains("id=\"serial\">S-2<") && !html.contains("id=\"register\""),
        "{html}"
    );
    // A made-up address is refused before anything is asked.
    let r = c
        .post(app.url("/licenses/register"))
        .form(&[
            ("csrf", token.as_str()),
            ("issuer", "file:///etc/passwd"),
            ("serial", "S-2"),
            ("owner", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.url().query().unwrap_or_default().contains("INVALID_INPUT"),
        "{}",
        r.url()
    );
}
