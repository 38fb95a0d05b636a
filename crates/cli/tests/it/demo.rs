use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub fn pg_admin_url() -> Option<String> {
    match std::env::var("LISENS_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but LISENS_TEST_PG_URL is not set: the PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!("NOTE: LISENS_TEST_PG_URL not set; skipping a PostgreSQL test");
            None
        }
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lisens demo` and returns it with the lines it printed up to "Stop with".
fn start_demo(dir: &std::path::Path) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["demo", "--listen", "127.0.0.1:0", "--dir", dir.to_str().unwrap()])
        .env("LISENS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Stop with");
        lines.push(line);
        if done {
            return (running, lines);
        }
    }
    panic!("demo exited early: {lines:?}");
}

fn field<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {lines:?}"))
        .trim()
}

#[tokio::test]
async fn demo_serves_a_signed_license_and_reuses_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (first, lines) = start_demo(dir.path());
    let url = field(&lines, "URL:").to_owned();
    assert_eq!(field(&lines, "Login:"), "admin");
    let password = field(&lines, "Password:")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 20, "{lines:?}");
    let health = reqwest::get(format!("{url}healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // The printed login works in the web UI and shows the demo license.
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let form = browser
        .get(format!("{url}login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = form.find("name=\"csrf\" value=\"").unwrap() + 19;
    let page = browser
        .post(format!("{url}login"))
        .form(&[
            ("login", "admin"),
            ("password", password.as_str()),
            ("csrf", &form[i..i + 64]),
        ])
        .send()
        .await
        .unwrap();
    assert!(page.url().path().ends_with("/licenses"), "{}", page.url());
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Nordlys Demo AS") && html.contains("7210-DEMO-0001"),
        "{html}"
    );
    drop(first);

    let (_second, lines) = start_demo(dir.path());
    assert!(
        field(&lines, "Password:").starts_with("as printed"),
        "no new password on reuse: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("loaded")),
        "the license is not loaded twice: {lines:?}"
    );
    let db = crate::sqlite_url(dir.path());
    let status: serde_json::Value =
        serde_json::from_str(&crate::ok(&crate::lisens(&["license", "status", "--json"], &db))).unwrap();
    assert_eq!(status["owners"].as_array().unwrap().len(), 1);
    assert_eq!(status["owners"][0]["valid"], true);
    assert!(
        !String::from_utf8_lossy(&std::fs::read(dir.path().join("lisens.db")).unwrap()).contains(&password),
        "the password is not stored in clear"
    );
}
