//! Overload and shutdown: past its limit the server refuses at once with 503
//! OVERLOADED instead of queueing, abandons requests that run too long, keeps
//! answering health checks, and on shutdown finishes what it accepted.

use std::time::Duration;

use lisens_server::limits::Limits;
use serde_json::json;

use crate::{spawn_app, TestApp};

/// Serves the app's state again with other limits; returns the address and a
/// trigger for graceful shutdown.
async fn serve_with(
    app: &TestApp,
    limits: Limits,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let state = app.state.with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        lisens_server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (address, tx, server)
}

async fn with_password(app: &TestApp, login: &str) {
    let hash = lisens_server::auth::hash_password("correct horse battery").unwrap();
    app.store
        .create_associate(&lisens_store::NewAssociate {
            login_name: login.into(),
            full_name: login.into(),
            email: String::new(),
            is_admin: true,
            password_hash: Some(hash),
        })
        .await
        .unwrap();
}

/// A login: an Argon2id verification, the slowest honest request there is.
async fn login(client: &reqwest::Client, address: &str, who: &str) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{address}/api/v1/session"))
        .json(&json!({"login": who, "password": "correct horse battery"}))
        .send()
        .await
}

#[tokio::test]
async fn past_its_limit_the_server_sheds_load_with_503_and_keeps_answering() {
    let app = spawn_app().await;
    for i in 0..24 {
        with_password(&app, &format!("admin{i}")).await;
    }
    let (address, _stop, _server) = serve_with(&app, Limits::new(2, Duration::from_secs(30))).await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (client, address) = (client.clone(), address.clone());
            tokio::spawn(async move { login(&client, &address, &format!("admin{i}")).await.unwrap() })
        })
        .collect();
    let (mut served, mut shed) = (0, 0);
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status().as_u16() {
            201 => served += 1,
            503 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "OVERLOADED");
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(served >= 2 && shed >= 1, "served {served}, shed {shed}");
    // Health checks pass even under load, and the server works after it.
    let health = client.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(login(&client, &address, "admin0").await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_request_past_the_timeout_is_abandoned_with_a_problem() {
    let app = spawn_app().await;
    with_password(&app, "slow").await;
    let (address, _stop, _server) = serve_with(&app, Limits::new(64, Duration::from_millis(1))).await;
    let client = reqwest::Client::new();
    let resp = login(&client, &address, "slow").await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn shutdown_finishes_the_requests_in_flight() {
    let app = spawn_app().await;
    for i in 0..6 {
        with_password(&app, &format!("admin{i}")).await;
    }
    let (address, stop, server) = serve_with(&app, Limits::new(64, Duration::from_secs(30))).await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (client, address) = (client.clone(), address.clone());
            tokio::spawn(async move { login(&client, &address, &format!("admin{i}")).await })
        })
        .collect();
    // Let the requests arrive, then ask the server to stop while they run.
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.send(()).unwrap();
    for t in tasks {
        let resp = t.await.unwrap().expect("an accepted request is answered");
        assert_eq!(resp.status(), 201);
    }
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops once they are done")
        .unwrap();
    assert!(
        client.get(format!("{address}/healthz")).send().await.is_err(),
        "no new connections after shutdown"
    );
}

/// Opens a connection that sends the start of a request and then nothing.
async fn half_a_request(address: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: lisens\r\n")
        .await
        .unwrap();
    s
}

/// A whole GET /healthz on a new connection; the status line.
async fn health_on_new_connection(address: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: lisens\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::AsyncReadExt;
    let app = spawn_app().await;
    let limits = Limits::new(64, Duration::from_secs(30)).with_connections(64, Duration::from_millis(500));
    let (address, stop, server) = serve_with(&app, limits).await;
    // A slowloris: connections that trickle nothing after the first header.
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(half_a_request(&address).await);
    }
    for mut s in slow {
        let mut buf = [0u8; 256];
        // The server closes it (EOF or a reset), well before this test's patience ends.
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the server must close a connection that never sends its headers");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert_eq!(health_on_new_connection(&address).await, "HTTP/1.1 200 OK");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn at_its_connection_limit_the_server_accepts_no_more_until_one_closes() {
    let app = spawn_app().await;
    let limits = Limits::new(64, Duration::from_secs(30)).with_connections(2, Duration::from_secs(60));
    let (address, stop, server) = serve_with(&app, limits).await;
    let first = half_a_request(&address).await;
    let second = half_a_request(&address).await;
    // Both slots are taken: a third connection waits in the backlog.
    let third = tokio::spawn({
        let address = address.clone();
        async move { health_on_new_connection(&address).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served past the limit of 2"
    );
    // One slot frees: the waiting connection is served.
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("the waiting connection is served once a slot frees")
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(second);
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argon2_work_runs_at_most_one_per_cpu_at_a_time_and_survives_a_panic() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (now, peak) = (now.clone(), peak.clone());
            tokio::spawn(lisens_server::auth::argon2_work(move |_| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                now.fetch_sub(1, Ordering::SeqCst);
            }))
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_some());
    }
    let cpus = std::thread::available_parallelism().unwrap().get();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak >= 1 && peak <= cpus, "{peak} at once on {cpus} CPUs");
    // As many panicking jobs as there are threads: every thread lives on.
    for _ in 0..cpus {
        assert!(lisens_server::auth::argon2_work(|_| panic!("a bug in a job"))
            .await
            .is_none());
    }
    assert_eq!(lisens_server::auth::argon2_work(|_| 42).await, Some(42));
}

/// 20 failed logins (the per-address limit) for different accounts, as
/// `forwarded_for` says; the status of the 21st.
async fn twenty_one_failures(address: &str, forwarded_for: &str) -> u16 {
    let client = reqwest::Client::new();
    let mut last = 0;
    for i in 0..21 {
        last = client
            .post(format!("{address}/api/v1/session"))
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"login": format!("someone{i}"), "password": "wrong password"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    last
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_and_the_audit_log_see_the_forwarded_client() {
    let app = spawn_app().await;
    let state = app
        .state
        .with_proxies(lisens_server::client_addr::TrustedProxies::parse("127.0.0.0/8").unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lisens_server::serve(listener, state, std::future::pending()));

    // One client behind the proxy is limited; another behind it is not.
    assert_eq!(twenty_one_failures(&address, "203.0.113.7").await, 429);
    with_password(&app, "root").await;
    let other = reqwest::Client::new()
        .post(format!("{address}/api/v1/session"))
        .header("X-Forwarded-For", "198.51.100.2, 127.0.0.9")
        .json(&json!({"login": "root", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        201,
        "a different client behind the same proxy logs in"
    );

    // The audit log records the forwarded client of a change.
    let token = app.token(lisens_store::TokenScope::Admin).await;
    app.refresh().await;
    let r = reqwest::Client::new()
        .post(format!("{address}/api/v1/users"))
        .bearer_auth(&token)
        .header("X-Forwarded-For", "192.0.2.44")
        .json(&json!({"login": "viaproxy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let log = app.store.audit_log(&Default::default(), 0, 100).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "POST /api/v1/users")
        .expect("the user creation is audited");
    assert_eq!(entry.address, "192.0.2.44", "{entry:?}");
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_is_ignored() {
    let app = spawn_app().await;
    let (address, stop, server) = serve_with(&app, Limits::default()).await;
    // Changing the header does not escape the per-address limit.
    assert_eq!(twenty_one_failures(&address, "203.0.113.7").await, 429);
    assert_eq!(twenty_one_failures(&address, "203.0.113.8").await, 429);
    stop.send(()).unwrap();
    server.await.unwrap();
}
