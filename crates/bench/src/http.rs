//! The HTTP benchmarks, measured from outside: `lisens serve` and a bare
//! axum server run as their own processes, and `wrk` (its own process too)
//! loads them in paired, interleaved rounds. Where the machine has two
//! cores or more, the servers are pinned to core 0 and `wrk` to core 1, so
//! the load generator does not share the server's core and its cost cannot
//! pull the ratio toward 1.
//!
//! Each round loads lisens and then the bare server (the next round the
//! other way round, so drift falls on both sides) for the same time with
//! the same request, and gives two ratios: throughput (lisens / bare) and
//! server CPU per answered request (lisens / bare), the latter read from
//! `/proc/<pid>/stat` and so independent of the load generator. The table
//! shows min, median and max of the per-round ratios.
//!
//! The bare baseline does the same shape of work as the check: it parses
//! the same query string, reads and compares the bearer token, looks the
//! user up in a hash map and answers the same JSON; for `/healthz` it
//! answers the same JSON from memory.
//!
//! The in-process check is beside a plain hash-map lookup.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lisens_core::ModuleName;

use crate::database::{add_users, loaded_store};
use crate::measure::{median_min_max, Row};
use crate::overload::Server;

/// The bearer token the bare server accepts.
const BARE_TOKEN: &str = "lisens_check_0123456789abcdef0123456789abcdef";

/// Runs the bare baseline of the check and health endpoints until killed.
pub fn bare_check_serve(listen: &str) -> Result<()> {
    use axum::extract::Query;
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::Json;
    use std::collections::HashMap;

    #[derive(serde::Deserialize)]
    struct Params {
        user: Option<String>,
        module: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Answer {
        granted: bool,
        reason: Option<String>,
        warning: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Health {
        status: &'static str,
        database: &'static str,
    }
    let holders: std::sync::Arc<HashMap<String, Vec<String>>> = std::sync::Arc::new(
        (0..100)
            .map(|i| (format!("u{i}"), vec!["user".to_owned(), "web".to_owned()]))
            .collect(),
    );
    let check = move |headers: HeaderMap, Query(p): Query<Params>| {
        let holders = holders.clone();
        async move {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if presented != Some(BARE_TOKEN) {
                return Err(StatusCode::UNAUTHORIZED);
            }
            let (Some(user), Some(module)) = (p.user, p.module) else {
                return Err(StatusCode::BAD_REQUEST);
            };
            let granted = holders.get(&user).is_some_and(|m| m.contains(&module));
            Ok(Json(Answer {
                granted,
                reason: None,
                warning: None,
            }))
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = axum::Router::new()
            .route("/api/v1/license/check", axum::routing::get(check))
            .route(
                "/healthz",
                axum::routing::get(|| async {
                    Json(Health {
                        status: "ok",
                        database: "ok",
                    })
                }),
            );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("bare listening on http://{}/", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// One side of a round.
#[derive(Clone, Copy)]
struct Sample {
    per_sec: f64,
    cpu_per_request: Duration,
}

/// CPU time a process has used (user + system), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(") ").context("/proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The cores the servers and the load generator run on, when there are two.
fn pinning() -> (Option<&'static str>, Option<&'static str>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 && Command::new("taskset").arg("-V").output().is_ok() {
        (Some("0"), Some("1"))
    } else {
        (None, None)
    }
}

/// `wrk` against `url` for `secs` with `connections` connections; the
/// server's CPU time is read before and after.
fn load(server: &Server, url: &str, token: &str, connections: usize, secs: u64) -> Result<Sample> {
    let (_, load_core) = pinning();
    let mut cmd = match load_core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", core, "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "-H",
        &format!("Authorization: Bearer {token}"),
        url,
    ]);
    let cpu_before = cpu_time(server.pid())?;
    let out = cmd
        .output()
        .context("running wrk (Debian: apt-get install wrk)")?;
    let cpu = cpu_time(server.pid())? - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("not every answer was a success:\n{text}");
    }
    // "  123456 requests in 5.00s, 17.3MB read"
    let line = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .with_context(|| format!("no request count in wrk's output:\n{text}"))?;
    let mut words = line.split_whitespace();
    let requests: u64 = words.next().context("count")?.parse()?;
    let elapsed: f64 = words
        .nth(2)
        .and_then(|s| s.trim_end_matches(',').strip_suffix('s'))
        .context("duration")?
        .parse()?;
    Ok(Sample {
        per_sec: requests as f64 / elapsed,
        cpu_per_request: cpu / requests.max(1) as u32,
    })
}

/// Paired rounds of one request against lisens and the bare server.
struct Paired {
    route: &'static str,
    rounds: Vec<(Sample, Sample)>,
}

/// HTTP check and health throughput beside the bare server (printed as a
/// table with the ratios' spread), and the in-process check beside a
/// hash-map lookup (returned as a row).
pub(crate) async fn check_benchmarks(dir: &std::path::Path, rounds: usize) -> Result<Vec<Row>> {
    let db = format!("sqlite://{}", dir.join("check.db").display());
    let store = loaded_store(&db).await?;
    add_users(&store, 100).await?;
    for i in 0..100 {
        store.assign(&format!("u{i}"), "essentials").await?;
    }
    let token = store
        .create_token("bench", lisens_store::TokenScope::Check, rand::random())
        .await?
        .secret;
    let in_process = in_process_check(&store).await?;
    store.close().await;

    let (server_core, _) = pinning();
    // The default log filter, as an operator runs it.
    let ours = Server::start_on(
        server_core,
        &["serve", "--listen", "127.0.0.1:0"],
        &[("LISENS_DATABASE_URL", db.clone())],
    )?;
    let bare = Server::start_on(server_core, &["bare-check-serve", "127.0.0.1:0"], &[])?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let connections = 32;
    let secs = 5;
    let mut results = Vec::new();
    for (route, path) in [
        ("check", "/api/v1/license/check?user=u7&module=web"),
        ("/healthz", "/healthz"),
    ] {
        let ours_url = format!("http://{}{path}", ours.addr);
        let bare_url = format!("http://{}{path}", bare.addr);
        // Warm both up.
        load(&ours, &ours_url, &token, connections, 1)?;
        load(&bare, &bare_url, BARE_TOKEN, connections, 1)?;
        let mut pairs = Vec::new();
        for round in 0..rounds {
            let (o, b) = if round % 2 == 0 {
                let o = load(&ours, &ours_url, &token, connections, secs)?;
                (o, load(&bare, &bare_url, BARE_TOKEN, connections, secs)?)
            } else {
                let b = load(&bare, &bare_url, BARE_TOKEN, connections, secs)?;
                (load(&ours, &ours_url, &token, connections, secs)?, b)
            };
            pairs.push((o, b));
        }
        results.push(Paired { route, rounds: pairs });
    }
    ours.terminate()?;
    bare.terminate()?;

    let pinned = if server_core.is_some() {
        "servers on core 0, wrk on core 1"
    } else {
        "not pinned (one core)"
    };
    println!(
        "HTTP from outside: wrk -t1 -c{connections} -d{secs}s, {rounds} paired interleaved rounds, {pinned}"
    );
    println!();
    println!("| route | lisens answers/s (median) | bare answers/s (median) | throughput lisens/bare: median (min-max) | lisens CPU/request | bare CPU/request | CPU lisens/bare: median (min-max) |");
    println!("|---|---|---|---|---|---|---|");
    for p in &results {
        let ours_rate: Vec<f64> = p.rounds.iter().map(|(o, _)| o.per_sec).collect();
        let bare_rate: Vec<f64> = p.rounds.iter().map(|(_, b)| b.per_sec).collect();
        let rate: Vec<f64> = p.rounds.iter().map(|(o, b)| o.per_sec / b.per_sec).collect();
        let ours_cpu: Vec<f64> = p
            .rounds
            .iter()
            .map(|(o, _)| o.cpu_per_request.as_secs_f64() * 1e6)
            .collect();
        let bare_cpu: Vec<f64> = p
            .rounds
            .iter()
            .map(|(_, b)| b.cpu_per_request.as_secs_f64() * 1e6)
            .collect();
        let cpu: Vec<f64> = p
            .rounds
            .iter()
            .map(|(o, b)| o.cpu_per_request.as_secs_f64() / b.cpu_per_request.as_secs_f64())
            .collect();
        let (r, rmin, rmax) = median_min_max(&rate);
        let (c, cmin, cmax) = median_min_max(&cpu);
        println!(
            "| {} | {:.0} | {:.0} | {r:.2}x ({rmin:.2}-{rmax:.2}) | {:.1} µs | {:.1} µs | {c:.2}x ({cmin:.2}-{cmax:.2}) |",
            p.route,
            median_min_max(&ours_rate).0,
            median_min_max(&bare_rate).0,
            median_min_max(&ours_cpu).0,
            median_min_max(&bare_cpu).0,
        );
    }
    println!();
    Ok(vec![in_process])
}

/// The access decision in this process beside one hash-map lookup.
async fn in_process_check(store: &std::sync::Arc<lisens_store::Store>) -> Result<Row> {
    let view = lisens_store::AccessView::new(store.clone()).await?;
    let view = view.get();
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
    Ok(Row {
        what: "in-process has_module (user + module)".into(),
        ours: per_check,
        baseline_what: "one HashMap<String, _> lookup".into(),
        baseline: per_lookup,
    })
}
