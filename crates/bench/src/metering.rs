//! The metering benchmarks: ingesting usage events over HTTP in batches of
//! 1,000 beside a bare multi-row INSERT, and a month's usage report from the
//! totals beside a scan of a year of raw events.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::database::loaded_store;
use crate::measure::{thousands, Row};

/// Usage ingest over HTTP in batches of 1,000 beside the same rows in a bare
/// multi-row INSERT; and a month's report from the totals beside the scan of
/// raw events it replaces.
pub(crate) async fn metering(url: &str, label: &str, rows: i64) -> Result<Vec<Row>> {
    let store = loaded_store(url).await?;
    let token = store
        .create_token("bench", lisens_store::TokenScope::Metering, rand::random())
        .await?
        .secret;
    let state = lisens_server::AppState::new(store.clone(), Default::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(lisens_server::serve(listener, state, std::future::pending()));
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let batches = 50u32;
    let warmup = 5u32;
    let client = reqwest::Client::new();
    let mut start = Instant::now();
    // The load generator's JSON is built before the clock starts: what is
    // timed is the server's work (and the round trip).
    let bodies: Vec<Vec<u8>> = (0..warmup + batches)
        .map(|b| {
            let events: Vec<serde_json::Value> = (0..1000)
                .map(|i| serde_json::json!({"id": format!("h{b}-{i}"), "service": "chat_sessions", "quantity": 1, "occurred_at": now}))
                .collect();
            serde_json::to_vec(&events).expect("JSON")
        })
        .collect();
    for (b, body) in bodies.into_iter().enumerate() {
        if b == warmup as usize {
            start = Instant::now();
        }
        let r = client
            .post(format!("http://{addr}/api/v1/metering/events"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "ingest failed: {}", r.status());
    }
    let ours = start.elapsed() / batches;
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(url).await?;
    // The baseline table has the shape and indexes of metering_event (its
    // primary key only).
    sqlx::query(
        "CREATE TABLE bench_event (id TEXT PRIMARY KEY, service TEXT, quantity BIGINT, occurred_at TEXT, month TEXT, received_at TEXT)",
    )
    .execute(&raw)
    .await?;
    let mut bare = Vec::new();
    for table in ["bench_event"] {
        let mut start = Instant::now();
        for b in 0..warmup + batches {
            if b == warmup {
                start = Instant::now();
            }
            let mut sql = format!("INSERT INTO {table} VALUES ");
            for i in 0..1000 {
                if i > 0 {
                    sql.push(',');
                }
                let k = i * 6;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    k + 1,
                    k + 2,
                    k + 3,
                    k + 4,
                    k + 5,
                    k + 6
                ));
            }
            let mut q = sqlx::query(&sql);
            for i in 0..1000 {
                q = q
                    .bind(format!("r{b}-{i}"))
                    .bind("chat_sessions")
                    .bind(1i64)
                    .bind(now.clone())
                    .bind("2026-11")
                    .bind(now.clone());
            }
            q.execute(&raw).await?;
        }
        bare.push(start.elapsed() / batches);
    }

    // A year of raw events (10 million unless --report-events says) for the
    // report comparison.
    let fill = if url.starts_with("sqlite") {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
             INSERT INTO metering_event (id, service, quantity, occurred_at, month, received_at) \
             SELECT 'y' || i, 'mailing_emails', 1, '2026-01-01T00:00:00Z', '2026-' || printf('%02d', 1 + i % 12), '2026-01-01T00:00:00Z' FROM n",
            rows - 1
        )
    } else {
        format!(
            "INSERT INTO metering_event (id, service, quantity, occurred_at, month, received_at) \
             SELECT 'y' || i, 'mailing_emails', 1, '2026-01-01T00:00:00Z', '2026-' || lpad((1 + i % 12)::text, 2, '0'), '2026-01-01T00:00:00Z' \
             FROM generate_series(0, {}) AS i",
            rows - 1
        )
    };
    sqlx::query(&fill).execute(&raw).await?;
    sqlx::query(
        "INSERT INTO metering_month (service, month, value) VALUES ('mailing_emails', '2026-06', 83333)",
    )
    .execute(&raw)
    .await?;
    let mut report = Duration::ZERO;
    let mut scan = Duration::ZERO;
    let runs = 10u32;
    for _ in 0..runs {
        let t = Instant::now();
        store
            .usage_report(
                &lisens_core::Month::parse("2026-06")?,
                &lisens_core::metering::Zone::utc(),
            )
            .await?;
        report += t.elapsed();
        let t = Instant::now();
        let _: Vec<(String, i64)> =
            sqlx::query_as("SELECT service, CAST(SUM(quantity) AS BIGINT) FROM metering_event WHERE month = '2026-06' GROUP BY service")
                .fetch_all(&raw)
                .await?;
        scan += t.elapsed();
    }
    raw.close().await;
    Ok(vec![
        Row {
            what: format!("{label}: ingest a 1,000-event batch over HTTP"),
            ours,
            baseline_what: "bare multi-row INSERT of the same 1,000 rows".into(),
            baseline: bare[0],
        },
        Row {
            what: format!(
                "{label}: monthly usage report, {} raw events in a year",
                thousands(rows)
            ),
            ours: report / runs,
            baseline_what: "SUM over the raw events of the month".into(),
            baseline: scan / runs,
        },
    ])
}
