//! The HTTP benchmarks: license-check throughput over keep-alive
//! connections beside a bare axum handler, and the in-process check beside
//! a plain hash-map lookup.

use std::time::{Duration, Instant};

use anyhow::Result;
use lisens_core::ModuleName;

use crate::database::{add_users, loaded_store};
use crate::measure::Row;

/// Requests per second from `clients` keep-alive connections for `secs`.
async fn http_rate(url: String, clients: usize, secs: u64, auth: Option<String>) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if let Some(a) = &auth {
                    req = req.bearer_auth(a);
                }
                let resp = req.send().await.expect("request");
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await.expect("body");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total as f64 / secs as f64)
}

/// HTTP check throughput beside a bare axum handler, and the in-process check.
pub(crate) async fn check_benchmarks(dir: &std::path::Path) -> Result<Vec<Row>> {
    let store = loaded_store(&format!("sqlite://{}", dir.join("check.db").display())).await?;
    add_users(&store, 100).await?;
    for i in 0..100 {
        store.assign(&format!("u{i}"), "essentials").await?;
    }
    let token = store
        .create_token("bench", lisens_store::TokenScope::Check, rand::random())
        .await?
        .secret;
    let state = lisens_server::AppState::new(store.clone(), Default::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(lisens_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));

    let bare = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = bare_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(bare_listener, bare).await });

    let clients = 32;
    // Best of three interleaved 3 s runs each: the load generator shares the
    // 2 cores with the server, and the best run is the least disturbed one.
    let (mut ours, mut base) = (0f64, 0f64);
    for _ in 0..3 {
        let url = format!("http://{addr}/api/v1/license/check?user=u7&module=web");
        ours = ours.max(http_rate(url, clients, 3, Some(token.clone())).await?);
        base = base.max(http_rate(format!("http://{bare_addr}/"), clients, 3, None).await?);
    }

    let view = state.view.get();
    let now = time::OffsetDateTime::now_utc();
    let web = ModuleName::parse("web")?;
    let iterations = 2_000_000u32;
    let start = Instant::now();
    for i in 0..iterations {
        let login = if i % 2 == 0 { "u7" } else { "u8" };
        std::hint::black_box(view.access.has_module(std::hint::black_box(login), &web, now));
    }
    let per_check = start.elapsed() / iterations;
    let keys: std::collections::HashMap<String, u32> = (0..100).map(|i| (format!("u{i}"), i)).collect();
    let start = Instant::now();
    for i in 0..iterations {
        let login = if i % 2 == 0 { "u7" } else { "u8" };
        std::hint::black_box(keys.get(std::hint::black_box(login)));
    }
    let per_lookup = start.elapsed() / iterations;
    Ok(vec![
        Row {
            what: format!("HTTP check, {clients} keep-alive clients (time per request, best of 3)"),
            ours: Duration::from_secs_f64(1.0 / ours),
            baseline_what: "bare axum handler returning a constant".into(),
            baseline: Duration::from_secs_f64(1.0 / base),
        },
        Row {
            what: "in-process has_module (user + module)".into(),
            ours: per_check,
            baseline_what: "one HashMap<String, _> lookup".into(),
            baseline: per_lookup,
        },
    ])
}
