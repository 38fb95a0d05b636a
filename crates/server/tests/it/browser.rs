//! The admin UI in a real browser: headless Chromium driven over WebDriver
//! (Debian's chromium and chromium-driver, installed by scripts/test).
//! Every test saves screenshots under target/screenshots/.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use lisens_core::{spec::parse_spec, SigningKey};
use lisens_store::NewAssociate;

use crate::{spawn_app, spawn_unlicensed_app, TestApp, SEED_SPEC};

struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tool(var: &str, name: &str) -> Option<String> {
    let from_env = std::env::var(var).ok().filter(|v| !v.is_empty());
    let found = from_env.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(name))
            .find(|p| p.exists())
            .map(|p| p.display().to_string())
    });
    if found.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {name} is missing: the browser tests must run in CI");
    }
    found
}

async fn browser() -> Option<Browser> {
    browser_sized(None).await
}

/// A browser that emulates a phone `width` CSS pixels wide (Chromium's
/// device emulation: a desktop window cannot be made that narrow).
async fn browser_sized(width: Option<u32>) -> Option<Browser> {
    let Some(driver_path) = tool("LISENS_CHROMEDRIVER", "chromedriver") else {
        eprintln!("NOTE: no chromedriver; skipping a browser test");
        return None;
    };
    let chromium = tool("LISENS_CHROMIUM", "chromium")?;
    // Both rustls backends end up in this test binary; pick one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    let mut options = serde_json::json!({
        "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
    });
    if let Some(width) = width {
        options["mobileEmulation"] =
            serde_json::json!({"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 2.0}});
    }
    caps.insert("goog:chromeOptions".into(), options);
    let mut last = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("TLS")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    driver,
                    _profile: profile,
                })
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not answer: {last:?}");
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn user(app: &TestApp, login: &str, admin: bool) {
    let hash = lisens_server::auth::hash_password("correct horse battery").unwrap();
    app.store
        .create_associate(&NewAssociate {
            login_name: login.into(),
            full_name: format!("{} Testsson", login[..1].to_uppercase() + &login[1..]),
            email: String::new(),
            is_admin: admin,
            password_hash: Some(hash),
        })
        .await
        .unwrap();
}

async fn log_in(b: &Browser, app: &TestApp, login: &str) {
    b.client.goto(&app.url("/login")).await.unwrap();
    find(b, Locator::Css("input[name=login]"))
        .await
        .send_keys(login)
        .await
        .unwrap();
    find(b, Locator::Css("input[name=password]"))
        .await
        .send_keys("correct horse battery")
        .await
        .unwrap();
    find(b, Locator::Id("log-in")).await.click().await.unwrap();
}

/// Waits (up to 10 s) for an element: a click that submits a form returns
/// before the next page is there.
async fn find(b: &Browser, locator: Locator<'_>) -> fantoccini::elements::Element {
    b.client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(locator)
        .await
        .unwrap()
}

/// The page once it shows `needle` (pages arrive after the click returns).
async fn page_with(b: &Browser, needle: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let html = b.client.source().await.unwrap();
        if html.contains(needle) {
            return html;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the page never showed {needle:?}:\n{html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_administrator_reads_licenses_assigns_in_the_matrix_and_switches_to_swedish() {
    let Some(b) = browser().await else { return };
    let app = spawn_app().await;
    user(&app, "admin", true).await;
    for u in ["anna", "bo", "cy"] {
        user(&app, u, false).await;
    }
    log_in(&b, &app, "admin").await;
    let html = page_with(&b, "User plans").await;
    assert!(html.contains("Seed AB"), "the licenses tab");
    shot(&b.client, "licenses-tab").await;

    find(&b, Locator::Css("a[href='/licenses/modules/essentials']"))
        .await
        .click()
        .await
        .unwrap();
    page_with(&b, "Users who hold it").await;
    shot(&b.client, "module-holders").await;

    b.client.goto(&app.url("/users/licenses")).await.unwrap();
    // Each click reloads the matrix: wait for the new page before the next
    // click, or the next button found may belong to the page going away.
    for (u, count) in [("anna", "1/2"), ("bo", "2/2")] {
        find(&b, Locator::Id(&format!("cell-{u}-essentials")))
            .await
            .click()
            .await
            .unwrap();
        page_with(&b, count).await;
    }
    find(&b, Locator::Id("cell-cy-essentials"))
        .await
        .click()
        .await
        .unwrap();
    page_with(&b, "All licenses of this kind are in use").await;
    shot(&b.client, "user-licenses-refused").await;

    // System messages: add a message of the day on the Status tab, see the
    // seeds' columns, open its description.
    b.client.goto(&app.url("/licenses/status")).await.unwrap();
    find(&b, Locator::Id("event-key"))
        .await
        .select_by_value("motd")
        .await
        .unwrap();
    find(&b, Locator::Id("event-message"))
        .await
        .send_keys("Backups run at 02:00")
        .await
        .unwrap();
    find(&b, Locator::Id("add-event")).await.click().await.unwrap();
    let html = page_with(&b, "Backups run at 02:00").await;
    for column in [
        "Event",
        "Status",
        "Message",
        "Activated",
        "Activated by",
        "Finished",
        "Type",
    ] {
        assert!(html.contains(&format!(">{column}</th>")), "column {column}");
    }
    find(&b, Locator::LinkText("Message of the day"))
        .await
        .click()
        .await
        .unwrap();
    page_with(&b, "id=\"description\"").await;
    shot(&b.client, "system-messages").await;

    // Metered services: the button on the Status tab opens the dashboard.
    app.store
        .ingest(
            &[lisens_store::metering::UsageEvent {
                id: "m1".into(),
                service: "chat_sessions".into(),
                quantity: 12.into(),
                occurred_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            }],
            &lisens_core::metering::Zone::utc(),
        )
        .await
        .unwrap();
    b.client.goto(&app.url("/licenses/status")).await.unwrap();
    find(&b, Locator::Id("metered-services"))
        .await
        .click()
        .await
        .unwrap();
    let html = page_with(&b, "Chat sessions started").await;
    assert!(
        html.contains("<svg") && html.contains("Last 12 months"),
        "the 12-month chart"
    );
    shot(&b.client, "metered-services").await;

    b.client.goto(&app.url("/licenses")).await.unwrap();
    find(&b, Locator::Css("select[name=language]"))
        .await
        .select_by_value("sv")
        .await
        .unwrap();
    find(&b, Locator::Id("set-language")).await.click().await.unwrap();
    let html = page_with(&b, "Köp nya licenser").await;
    assert!(html.contains("Läs in licens från fil"), "Swedish labels");
    shot(&b.client, "licenses-swedish").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_license_file_with_fewer_plans_goes_through_remove_excess_and_activate() {
    // The help page "Aktivera licens", step by step, as a Swedish and as a
    // Danish administrator reads it.
    for lang in ["sv", "da"] {
        walk_the_activation(lang).await;
    }
}

/// Load a license file with fewer plans than in use, see the plan in red,
/// remove the excess, activate: every step in `lang`'s words.
async fn walk_the_activation(lang: &str) {
    let Some(b) = browser().await else { return };
    let t = lisens_server::i18n::Tr::new(lang);
    let app = spawn_app().await;
    user(&app, "admin", true).await;
    app.store.set_language("admin", Some(lang)).await.unwrap();
    for u in ["anna", "bo"] {
        user(&app, u, false).await;
        app.store.assign(u, "essentials").await.unwrap();
    }
    let spec = SEED_SPEC
        .replace("license_version = 1", "license_version = 2")
        .replace("count = 2\nextra_flags", "count = 1\nextra_flags");
    let doc = parse_spec(&spec, time::OffsetDateTime::now_utc())
        .unwrap()
        .sign(&SigningKey::from_seed([5; 32]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fewer.lic");
    std::fs::write(&file, doc).unwrap();

    log_in(&b, &app, "admin").await;
    find(&b, Locator::Id("license-file"))
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    find(&b, Locator::Id("upload")).await.click().await.unwrap();
    let activate = find(&b, Locator::Id("activate")).await;
    page_with(&b, &t.t("below-in-use")).await;
    page_with(&b, &t.t("activate-new-license")).await;
    assert!(!activate.is_enabled().await.unwrap(), "Activate is disabled");
    no_codes_or_english(&b, lang).await;
    shot(&b.client, &format!("activate-blocked-{lang}")).await;

    find(&b, Locator::Css("td.below a")).await.click().await.unwrap();
    find(&b, Locator::Id("remove-ok")).await;
    page_with(&b, &t.t("remove-excess-licenses")).await;
    find(&b, Locator::Id("remove-cancel")).await;
    find(&b, Locator::Id("u-bo")).await.click().await.unwrap();
    no_codes_or_english(&b, lang).await;
    shot(&b.client, &format!("remove-excess-{lang}")).await;
    find(&b, Locator::Id("remove-ok")).await.click().await.unwrap();
    let activate = find(&b, Locator::Id("activate")).await;
    assert!(
        activate.is_enabled().await.unwrap(),
        "Activate is enabled after the removal"
    );
    activate.click().await.unwrap();
    page_with(&b, &t.t("new-license-activated")).await;
    no_codes_or_english(&b, lang).await;
    shot(&b.client, &format!("new-license-activated-{lang}")).await;
    assert_eq!(
        app.store.license_status().await.unwrap().owners[0].license_version,
        2
    );
    b.client.clone().close().await.unwrap();
}

/// What a person reads on the page in `lang`: no error code, no raw time,
/// no English label.
async fn no_codes_or_english(b: &Browser, lang: &str) {
    let text = b
        .client
        .execute("return document.body.innerText;", vec![])
        .await
        .unwrap();
    let text = text.as_str().unwrap_or_default();
    let codes: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.len() > 4 && w.contains('_'))
        .collect();
    assert!(codes.is_empty(), "{lang}: codes on the page: {codes:?}\n{text}");
    let raw_time = text
        .split_whitespace()
        .any(|w| w.len() >= 20 && w.contains('T') && w.ends_with('Z'));
    assert!(!raw_time, "{lang}: a raw time: {text}");
    for english in [
        "Licenses",
        "Users",
        "Log out",
        "Refused",
        "Total",
        "In use",
        "Available",
        "Activate",
        "Cancel",
    ] {
        assert!(
            !text.lines().any(|l| l.trim() == english),
            "{lang}: the English label {english:?}:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_non_administrator_is_refused_the_license_pages() {
    let Some(b) = browser().await else { return };
    let app = spawn_app().await;
    user(&app, "anna", false).await;
    app.store.assign("anna", "essentials").await.unwrap();
    app.refresh().await;
    log_in(&b, &app, "anna").await;
    page_with(&b, "My licenses").await;
    b.client.goto(&app.url("/licenses")).await.unwrap();
    page_with(&b, "Only administrators manage licenses").await;
    shot(&b.client, "non-admin-refused").await;
    b.client.clone().close().await.unwrap();
}

/// On a phone 390 px wide, in Swedish, Danish and Norwegian, no screen of the help
/// pages scrolls sideways (wide tables scroll inside their own box, the page
/// does not), and none shows a code, a raw time or an English label.
#[tokio::test]
async fn every_screen_fits_a_phone_390_px_wide_in_swedish_danish_and_norwegian() {
    let Some(b) = browser_sized(Some(390)).await else {
        return;
    };
    let app = spawn_app().await;
    user(&app, "admin", true).await;
    app.store.set_language("admin", Some("sv")).await.unwrap();
    for u in ["anna", "bo"] {
        user(&app, u, false).await;
        app.store.assign(u, "essentials").await.unwrap();
    }
    app.store
        .ingest(
            &[lisens_store::metering::UsageEvent {
                id: "m1".into(),
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
    app.refresh().await;
    log_in(&b, &app, "admin").await;
    page_with(&b, "Licenser").await;
    for (lang, path, name) in ["sv", "da", "nb"].into_iter().flat_map(|lang| {
        [
            ("/licenses", "phone-licenses"),
            ("/licenses/status", "phone-status"),
            ("/licenses/modules/essentials", "phone-module"),
            ("/users/licenses", "phone-user-licenses"),
            ("/users", "phone-users"),
            ("/metering", "phone-metering"),
            ("/me", "phone-me"),
        ]
        .map(|(path, name)| (lang, path, format!("{name}-{lang}")))
    }) {
        app.store.set_language("admin", Some(lang)).await.unwrap();
        b.client.goto(&app.url(path)).await.unwrap();
        find(&b, Locator::Css("main h1")).await;
        let widths = b
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, client) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        shot(&b.client, &name).await;
        no_codes_or_english(&b, lang).await;
        assert!(
            client <= 400,
            "{path}: the page is {client} px wide, not a phone's"
        );
        assert!(
            scroll <= client,
            "{path} scrolls sideways: {scroll} px of content in {client} px"
        );
    }
    b.client.clone().close().await.unwrap();
}

/// A fresh installation in Swedish and Danish: the Licenses page offers the
/// way in (the demo's end, Load license from file, Register), and loading the
/// vendor's file licenses it; no step shows a code or English.
#[tokio::test]
async fn a_fresh_installation_is_licensed_in_swedish_and_danish() {
    for lang in ["sv", "da"] {
        let Some(b) = browser().await else { return };
        let t = lisens_server::i18n::Tr::new(lang);
        let app = spawn_unlicensed_app().await;
        user(&app, "admin", true).await;
        app.store.set_language("admin", Some(lang)).await.unwrap();
        let doc = parse_spec(SEED_SPEC, time::OffsetDateTime::now_utc())
            .unwrap()
            .sign(&SigningKey::from_seed([5; 32]));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("license.lic");
        std::fs::write(&file, doc).unwrap();
        log_in(&b, &app, "admin").await;
        page_with(&b, &t.t("no-license-yet")).await;
        find(&b, Locator::Id("register")).await;
        no_codes_or_english(&b, lang).await;
        shot(&b.client, &format!("fresh-installation-{lang}")).await;
        find(&b, Locator::Id("license-file"))
            .await
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        find(&b, Locator::Id("upload")).await.click().await.unwrap();
        page_with(&b, "Seed AB").await;
        no_codes_or_english(&b, lang).await;
        shot(&b.client, &format!("fresh-installation-licensed-{lang}")).await;
        b.client.clone().close().await.unwrap();
    }
}
