//! End to end: a real issuer process and a real installation process on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{fails_with, ok, p, sqlite_url, DEMO_SPEC};

pub(crate) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lisens_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lisens"));
    cmd.args(args)
        .env("LISENS_LOG", "warn")
        .env_remove("LISENS_PUBLIC_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Starts a long-running lisens command and waits for the line with its URL.
pub(crate) fn start(args: &[&str], env: &[(&str, &str)], marker: &str) -> (Running, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lisens"));
    cmd.args(args).env("LISENS_LOG", "warn").stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains(marker) {
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
            return (running, url);
        }
    }
    panic!("{args:?} exited before printing {marker}");
}

fn status(db: &str) -> Value {
    serde_json::from_str(&ok(&lisens_env(
        &["license", "status", "--json"],
        &[("LISENS_DATABASE_URL", db)],
    )))
    .unwrap()
}

fn module_total(status: &Value, name: &str) -> i64 {
    status["owners"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()["total"]
        .as_i64()
        .unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn template(dir: &Path) -> String {
    // next_check_date in the past: the installation's poller is due at once.
    let spec = std::fs::read_to_string(DEMO_SPEC)
        .unwrap()
        .replace("next_check_date = 2026-12-01", "next_check_date = 2020-01-01");
    let path = dir.join("template.toml");
    std::fs::write(&path, spec).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_installation_follows_its_issuer_and_survives_it_being_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let install_db = sqlite_url(d);
    let issuer_db = format!("sqlite://{}", d.join("issuer.db").display());
    let key_path = d.join("issuer.key");
    let ienv = [
        ("LISENS_ISSUER_DATABASE_URL", issuer_db.as_str()),
        ("LISENS_ISSUER_KEY", p(&key_path)),
    ];
    ok(&lisens_env(&["issuer", "keygen", "--dir", p(d)], &[]));
    let tpl = template(d);
    let out = ok(&lisens_env(
        &[
            "issuer",
            "customer",
            "add",
            "--serial",
            "7210-NL-42",
            "--company",
            "Nordlys AS",
            "--template",
            &tpl,
        ],
        &ienv,
    ));
    assert_eq!(out.trim().len(), 64, "the installation secret: {out}");

    let (issuer, issuer_url) = start(
        &["issuer", "serve", "--listen", "127.0.0.1:0"],
        &ienv,
        "listening",
    );

    // A demo installation registers with serial and owner name.
    let env = [
        ("LISENS_DATABASE_URL", install_db.as_str()),
        ("LISENS_ISSUER_POLL_SECS", "1"),
    ];
    let wrong = lisens_env(
        &[
            "license",
            "register",
            "--issuer",
            &issuer_url,
            "--serial",
            "7210-NL-42",
            "--owner",
            "Someone Else",
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        &env,
    );
    fails_with(&wrong, "REGISTRATION_FAILED");
    ok(&lisens_env(
        &[
            "license",
            "register",
            "--issuer",
            &issuer_url,
            "--serial",
            "7210-NL-42",
            "--owner",
            "nordlys as",
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        &env,
    ));
    let s = status(&install_db);
    assert_eq!(
        (
            s["owners"][0]["serial"].as_str(),
            module_total(&s, "sales-essentials")
        ),
        (Some("7210-NL-42"), 20)
    );

    // The vendor sells more; a starting installation asks at once (its
    // nextCheckDate has passed) and applies it by itself.
    ok(&lisens_env(
        &["issuer", "set", "7210-NL-42", "sales-essentials", "30"],
        &ienv,
    ));
    let (_server, server_url) = start(&["serve", "--listen", "127.0.0.1:0"], &env, "listening");
    wait_for("the new count", || {
        module_total(&status(&install_db), "sales-essentials") == 30
    });
    let history = ok(&lisens_env(&["license", "history", "--json"], &env));
    assert!(
        history.contains("\"activated\"") && history.contains("\"issuer\""),
        "{history}"
    );

    // Fewer Marketing Premium than in use: "check now" over the API, and the
    // new license waits for an administrator.
    for u in ["anna", "bo"] {
        ok(&lisens_env(&["user", "add", u], &env));
        ok(&lisens_env(&["license", "assign", u, "marketing-premium"], &env));
    }
    ok(&lisens_env(
        &["issuer", "set", "7210-NL-42", "marketing-premium", "1"],
        &ienv,
    ));
    let token = ok(&lisens_env(&["token", "create", "--admin"], &env))
        .trim()
        .to_owned();
    // A new token reaches the server's access view within 250 ms.
    wait_for("check now accepted", || {
        let answer = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(format!("{server_url}/api/v1/license/check-now"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&answer.stdout) == "202"
    });
    wait_for("the pending license", || {
        ok(&lisens_env(&["license", "pending"], &env)).contains("marketing-premium")
    });
    let out = ok(&lisens_env(&["license", "check-now"], &env));
    assert!(
        out.contains("the issuer sent a new license") && out.contains("Activate new license"),
        "{out}"
    );
    let pending: Value =
        serde_json::from_str(&ok(&lisens_env(&["license", "pending", "--json"], &env))).unwrap();
    assert_eq!(pending[0]["blocking"][0], "marketing-premium");

    // The issuer goes down: checks fail, the license keeps working.
    drop(issuer);
    let out = lisens_env(&["license", "check-now"], &env);
    fails_with(&out, "ISSUER_UNREACHABLE");
    ok(&lisens_env(&["license", "check", "anna"], &env));
    assert_eq!(module_total(&status(&install_db), "sales-essentials"), 30);

    // The vendor mails the file instead; loading it is the same path.
    let lic = d.join("mailed.lic");
    ok(&lisens_env(
        &["issuer", "export", "7210-NL-42", "--out", p(&lic)],
        &ienv,
    ));
    let out = ok(&lisens_env(
        &[
            "license",
            "load",
            p(&lic),
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        &env,
    ));
    assert!(out.starts_with("Activate new license"), "{out}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["issuer", "admin-password"])
        .env("LISENS_ISSUER_DATABASE_URL", &issuer_db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"vendor-secret-pw\n")
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    let shown: Value = serde_json::from_str(&ok(&lisens_env(
        &["issuer", "customer", "show", "7210-NL-42", "--json"],
        &ienv,
    )))
    .unwrap();
    assert_eq!(shown["customer"]["license_version"], 3);
    assert_eq!(shown["history"].as_array().unwrap().len(), 4, "{shown}");
}

/// A connected installation asks its issuer every interval with the entity
/// tag of the last answer: the usual answer is an empty 304, and a vendor's
/// change is active within one interval, long before nextCheckDate (Acme's
/// is a year away).
#[test]
fn a_vendors_change_reaches_a_connected_installation_within_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let install_db = sqlite_url(d);
    let issuer_db = format!("sqlite://{}", d.join("issuer.db").display());
    let key_path = d.join("issuer.key");
    let ienv = [
        ("LISENS_ISSUER_DATABASE_URL", issuer_db.as_str()),
        ("LISENS_ISSUER_KEY", p(&key_path)),
    ];
    ok(&lisens_env(&["issuer", "keygen", "--dir", p(d)], &[]));
    let acme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/acme-books.toml");
    ok(&lisens_env(
        &[
            "issuer",
            "customer",
            "add",
            "--serial",
            "ACME-1",
            "--company",
            "Fjord AB",
            "--spec",
            acme,
        ],
        &ienv,
    ));
    let (_issuer, issuer_url) = start(
        &["issuer", "serve", "--listen", "127.0.0.1:0"],
        &ienv,
        "listening",
    );
    let env = [
        ("LISENS_DATABASE_URL", install_db.as_str()),
        ("LISENS_ISSUER_POLL_SECS", "1"),
        ("LISENS_ISSUER_CHECK_INTERVAL_SECS", "2"),
    ];
    ok(&lisens_env(
        &[
            "license",
            "register",
            "--issuer",
            &issuer_url,
            "--serial",
            "ACME-1",
            "--owner",
            "Fjord AB",
            "--public-key",
            p(&d.join("issuer.pub")),
        ],
        &env,
    ));
    let (_server, _) = start(&["serve", "--listen", "127.0.0.1:0"], &env, "listening");
    wait_for("an empty 304 from the issuer", || {
        ok(&lisens_env(&["license", "checks"], &env)).contains("NotModified")
    });
    assert_eq!(module_total(&status(&install_db), "books-basic"), 15);
    ok(&lisens_env(
        &["issuer", "set", "ACME-1", "books-basic", "12"],
        &ienv,
    ));
    let changed = Instant::now();
    wait_for("the vendor's change", || {
        module_total(&status(&install_db), "books-basic") == 12
    });
    // One interval (2 s) and one look (1 s), with room for a slow machine.
    assert!(
        changed.elapsed() < Duration::from_secs(10),
        "{:?}",
        changed.elapsed()
    );
    let checks: Value =
        serde_json::from_str(&ok(&lisens_env(&["license", "checks", "--json"], &env))).unwrap();
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "NewLicenseAvailable"),
        "{checks}"
    );
}

/// The issuer faces the internet: it is served through the installation's
/// hardened loop, so a client that never finishes its headers is cut off
/// and connections beyond the limit wait.
#[test]
fn the_issuer_disconnects_a_client_that_never_finishes_its_headers() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let issuer_db = format!("sqlite://{}", d.join("issuer.db").display());
    ok(&lisens_env(&["issuer", "keygen", "--dir", p(d)], &[]));
    let key_path = d.join("issuer.key");
    let (_issuer, url) = start(
        &["issuer", "serve", "--listen", "127.0.0.1:0"],
        &[
            ("LISENS_ISSUER_DATABASE_URL", issuer_db.as_str()),
            ("LISENS_ISSUER_KEY", p(&key_path)),
            ("LISENS_HEADER_TIMEOUT_SECS", "1"),
        ],
        "listening",
    );
    let address = url.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let read = slow.read(&mut buf);
    assert!(
        matches!(read, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed after the header timeout, not the test's patience: {:?}",
        started.elapsed()
    );
    // A whole request is answered as before.
    let mut fresh = std::net::TcpStream::connect(&address).unwrap();
    fresh
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fresh.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
