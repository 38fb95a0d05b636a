//! Two `lisens serve` processes on one PostgreSQL database, as behind a load
//! balancer: one count for both (no overcommit across processes), sessions
//! and tokens valid on either, and a change on one (a revoked token, No
//! Login) seen by the other within a second.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ok;
use crate::soak::{free_port, serve, wait_healthy};

const SPEC: &str = r#"
[owner]
name = "Scale"
company_name = "Scale AB"
serial = "SCALE-1"
license_version = 1

[[module]]
name = "seats"
type = "user"
count = 5
"#;

#[test]
fn two_servers_on_one_postgresql_database_act_as_one() {
    let Some(pg) = crate::PgDb::create("lisens_scale") else {
        return;
    };
    let db = pg.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lisens = |args: &[&str]| crate::lisens(args, &db);
    ok(&lisens(&["issuer", "keygen", "--dir", crate::p(d)]));
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    let lic = d.join("v1.lic");
    crate::issue(&db, &d.join("issuer.key"), &d.join("spec.toml"), &lic);
    ok(&lisens(&[
        "license",
        "load",
        crate::p(&lic),
        "--public-key",
        crate::p(&d.join("issuer.pub")),
    ]));
    let out = ok(&lisens(&["token", "create", "--admin", "--name", "lb"]));
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("lsn_"))
        .unwrap()
        .to_owned();
    let out = ok(&lisens(&["token", "create", "--scope", "check", "--name", "web"]));
    let check = out
        .split_whitespace()
        .find(|w| w.starts_with("lsn_"))
        .unwrap()
        .to_owned();

    let (pa, pb) = (free_port(), free_port());
    let (mut a, mut b) = (serve(&db, pa), serve(&db, pb));
    let (ua, ub) = (format!("http://127.0.0.1:{pa}"), format!("http://127.0.0.1:{pb}"));
    let client = reqwest::Client::new();
    rt.block_on(async {
        wait_healthy(&client, &ua).await;
        wait_healthy(&client, &ub).await;
        // Users made on one process, assigned alternately through both, all at
        // once: exactly the count is granted.
        for i in 0..12 {
            let r = client
                .post(format!("{ua}/api/v1/users"))
                .bearer_auth(&token)
                .json(&json!({"login": format!("u{i}"), "password": "correct horse"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (client, url, token) = (
                    client.clone(),
                    if i % 2 == 0 { ua.clone() } else { ub.clone() },
                    token.clone(),
                );
                tokio::spawn(async move {
                    client
                        .post(format!("{url}/api/v1/users/u{i}/licenses"))
                        .bearer_auth(&token)
                        .json(&json!({"module": "seats"}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            match t.await.unwrap() {
                204 => granted += 1,
                409 => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(granted, 5, "one count across both processes");

        // An administrator logged in on A is logged in on B.
        let resp = client
            .post(format!("{ua}/api/v1/users"))
            .bearer_auth(&token)
            .json(&json!({"login": "boss", "password": "correct horse", "is_admin": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let resp = client
            .post(format!("{ua}/api/v1/session"))
            .json(&json!({"login": "boss", "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let on_b = client
            .get(format!("{ub}/api/v1/license/status"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(on_b.status(), 200);

        // No Login added through B keeps users out on A within a second.
        let granted = |url: String| {
            let (client, check) = (client.clone(), check.clone());
            async move {
                let v: Value = client
                    .get(format!("{url}/api/v1/license/check?user=u0"))
                    .bearer_auth(&check)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["granted"].as_bool().unwrap()
            }
        };
        let r = client
            .post(format!("{ub}/api/v1/system-events"))
            .bearer_auth(&token)
            .json(&json!({"key": "no-login", "message": "maintenance"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let start = Instant::now();
        while granted(ua.clone()).await {
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "A still lets users in after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let listed = ok(&lisens(&["audit", "--json", "--limit", "1000"]));
    assert!(
        listed.contains("POST /api/v1/system-events"),
        "changes through B are in the one audit log"
    );
    let _ = (a.kill(), b.kill());
    let _ = (a.wait(), b.wait());
}
