//! The soak: rounds of `lisens serve` killed with SIGKILL at a different
//! moment each round while clients assign licenses and report usage over
//! HTTP and an administrator loads a new license version beside them; after
//! every kill, on SQLite and on PostgreSQL:
//! - every row's signature is valid and no module has more holders than its count,
//! - the license is wholly the old version or wholly the new one,
//! - no accepted write is lost (answered assignments and usage batches are there),
//! - nothing is counted twice (re-sending every batch after the last round
//!   leaves usage at exactly the number of distinct events sent).
//!
//! CI runs LISENS_SOAK_ROUNDS (default 3) rounds; `LISENS_SOAK_ROUNDS=50
//! cargo test -p lisens-cli --test it soak -- --nocapture` is the long run.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{ok, p};

/// Filler rows make each activation long enough (hundreds of milliseconds
/// in a test build) that some kills land inside it.
const FILLER_ROWS: usize = 1500;

fn spec(version: u32) -> String {
    let mut filler = String::new();
    for i in 0..FILLER_ROWS {
        filler.push_str(&format!(
            "\n[[module]]\nname = \"filler-{i}\"\ntype = \"user\"\ncount = {version}\n"
        ));
    }
    format!(
        r#"
[owner]
name = "Soak"
company_name = "Soak AB"
serial = "SOAK-1"
license_version = {version}

[[module]]
name = "seats"
type = "user"
count = {seats}

[[module]]
name = "user"
type = "user"
count = {marker}
"#,
        seats = 20 + version,
        marker = 100 + version
    ) + &filler
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn serve(db: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("LISENS_DATABASE_URL", db)
        .env("LISENS_LOG", "error")
        .env_remove("LISENS_PUBLIC_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

fn usage(db: &str) -> u64 {
    let report: Value =
        serde_json::from_str(&ok(&crate::lisens(&["metering", "report", "--json"], db))).unwrap();
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "chat_sessions")
        .map_or(0, |s| s["usage"].as_u64().unwrap())
}

fn soak(db: &str, label: &str) {
    let rounds: u32 = std::env::var("LISENS_SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lisens = |args: &[&str]| crate::lisens(args, db);
    ok(&lisens(&["issuer", "keygen", "--dir", p(d)]));
    let mut files = Vec::new();
    for v in 1..=rounds + 1 {
        let spec_path = d.join(format!("v{v}.toml"));
        std::fs::write(&spec_path, spec(v)).unwrap();
        let lic = d.join(format!("v{v}.lic"));
        crate::issue(db, &d.join("issuer.key"), &spec_path, &lic);
        files.push(lic);
    }
    let public = d.join("issuer.pub");
    ok(&lisens(&[
        "license",
        "load",
        p(&files[0]),
        "--public-key",
        p(&public),
    ]));
    let users: Vec<String> = (0..(20 * rounds + 20)).map(|i| format!("u{i}")).collect();
    for u in &users {
        ok(&lisens(&["user", "add", u]));
    }
    let out = ok(&lisens(&["token", "create", "--admin", "--name", "soak"]));
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("lsn_"))
        .unwrap()
        .to_owned();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let month = time::OffsetDateTime::now_utc();
    let now = month
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut assigned_ok: BTreeSet<String> = BTreeSet::new();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut sent: Vec<Value> = Vec::new();
    let mut sent_ids: BTreeSet<String> = BTreeSet::new();
    let mut killed_activating = 0u32;

    for round in 0..rounds {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut server = serve(db, port);
        rt.block_on(wait_healthy(&client, &base));
        let before: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"]))).unwrap();
        let old = before["owners"][0]["license_version"].as_i64().unwrap();
        // An administrator activates the next version beside the traffic.
        let mut load = Command::new(env!("CARGO_BIN_EXE_lisens"))
            .args([
                "license",
                "load",
                p(&files[round as usize + 1]),
                "--public-key",
                p(&public),
            ])
            .env("LISENS_DATABASE_URL", db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round.
        let kill_after = Duration::from_millis(150 + u64::from(round * 97 % 400));
        let (done_assign, done_batches, killed_during_activation) = rt.block_on(async {
            let deadline = Instant::now() + kill_after;
            let assign = {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                let logins: Vec<String> = users[(round * 20) as usize..(round * 20 + 30) as usize].to_vec();
                tokio::spawn(async move {
                    let mut ok = Vec::new();
                    for login in logins {
                        if Instant::now() > deadline {
                            break;
                        }
                        let r = client
                            .post(format!("{base}/api/v1/users/{login}/licenses"))
                            .bearer_auth(&token)
                            .json(&json!({"module": "seats"}))
                            .send()
                            .await;
                        if r.is_ok_and(|r| r.status() == 204) {
                            ok.push(login);
                        }
                    }
                    ok
                })
            };
            let ingest = {
                let (client, base, token, now) = (client.clone(), base.clone(), token.clone(), now.clone());
                tokio::spawn(async move {
                    let mut batches = Vec::new();
                    for b in 0.. {
                        if Instant::now() > deadline {
                            break;
                        }
                        let batch: Vec<Value> = (0..50)
                            .map(|i| json!({"id": format!("r{round}-b{b}-{i}"), "service": "chat_sessions", "quantity": 1, "occurred_at": now}))
                            .collect();
                        let r = client
                            .post(format!("{base}/api/v1/metering/events"))
                            .bearer_auth(&token)
                            .json(&batch)
                            .send()
                            .await;
                        let accepted = r.is_ok_and(|r| r.status() == 200);
                        batches.push((batch, accepted));
                    }
                    batches
                })
            };
            tokio::time::sleep_until(deadline.into()).await;
            // SIGKILL to the server and to the activation, if it still runs.
            let activating = load.try_wait().unwrap().is_none();
            let _ = load.kill();
            let _ = server.kill();
            let _ = server.wait();
            (assign.await.unwrap(), ingest.await.unwrap(), activating)
        });
        let _ = load.wait();
        killed_activating += u32::from(killed_during_activation);
        assigned_ok.extend(done_assign);
        for (batch, ok_) in done_batches {
            for e in &batch {
                let id = e["id"].as_str().unwrap().to_owned();
                sent_ids.insert(id.clone());
                if ok_ {
                    accepted.insert(id);
                }
            }
            sent.push(Value::Array(batch));
        }

        // The invariants, read after the kill.
        let after: Value = serde_json::from_str(&ok(&lisens(&["license", "status", "--json"]))).unwrap();
        let owner = &after["owners"][0];
        let version = owner["license_version"].as_i64().unwrap();
        assert!(
            version == old || version == old + 1,
            "{label} round {round}: v{version} after v{old}"
        );
        assert_eq!(owner["valid"], true, "{label} round {round}: {owner}");
        let mut seats_in_use = 0;
        for m in owner["modules"].as_array().unwrap() {
            assert_eq!(m["valid"], true, "{label} round {round}: {m}");
            assert!(
                m["in_use"].as_i64() <= m["total"].as_i64(),
                "{label} round {round}: {m}"
            );
            if m["name"] == "user" {
                assert_eq!(
                    m["total"].as_i64().unwrap(),
                    100 + version,
                    "{label}: rows of one version"
                );
            }
            if m["name"] == "seats" {
                seats_in_use = m["in_use"].as_i64().unwrap();
            }
        }
        assert!(
            seats_in_use >= assigned_ok.len() as i64,
            "{label} round {round}: {} answered assignments, {seats_in_use} held",
            assigned_ok.len()
        );
        let used = usage(db);
        assert!(
            used >= accepted.len() as u64 && used <= sent_ids.len() as u64,
            "{label} round {round}: usage {used}, accepted {}, sent {}",
            accepted.len(),
            sent_ids.len()
        );
        eprintln!(
            "{label} round {round}: killed after {kill_after:?}{}; v{version} (was v{old}); seats {seats_in_use}; usage {used} of {} sent",
            if killed_during_activation { " during the activation" } else { "" },
            sent_ids.len()
        );
        // Finish this round's activation so the next starts from it.
        ok(&lisens(&[
            "license",
            "load",
            p(&files[round as usize + 1]),
            "--public-key",
            p(&public),
        ]));
    }

    eprintln!("{label}: {killed_activating} of {rounds} kills landed during an activation");

    // Re-send everything: each event counts once, the lost ones now too.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(db, port);
    rt.block_on(async {
        wait_healthy(&client, &base).await;
        for batch in &sent {
            let r = client
                .post(format!("{base}/api/v1/metering/events"))
                .bearer_auth(&token)
                .json(batch)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        usage(db),
        sent_ids.len() as u64,
        "{label}: nothing counted twice, nothing lost"
    );
}

#[test]
fn killed_servers_keep_every_invariant_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    soak(&crate::sqlite_url(dir.path()), "SQLite");
}

#[test]
fn killed_servers_keep_every_invariant_on_postgresql() {
    let Some(pg) = crate::PgDb::create("lisens_soak") else {
        return;
    };
    soak(&pg.url, "PostgreSQL");
}
