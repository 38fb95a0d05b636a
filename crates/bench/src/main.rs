//! lisens benchmarks. Each measures a baseline in the same run and prints the
//! ratio, as a Markdown table for BENCHMARKS.md.
//!
//! `cargo run --release -p bench` (add `-- --pg URL` to include PostgreSQL).

use std::time::{Duration, Instant};

use anyhow::Result;
use lisens_core::{
    module_signed_bytes, DeploymentType, ExtraFlags, ExtraInfo, LicenseContent, LicenseCount, ModuleLicense,
    ModuleName, ModuleType, Owner, OwnerName, SerialNumber, SigningKey, VerifiedLicense,
};
use lisens_store::Store;

mod overload;

fn license(rows: usize) -> LicenseContent {
    let modules = (0..rows)
        .map(|i| ModuleLicense {
            name: ModuleName::parse(&format!("module-{i}-cal")).expect("valid name"),
            description: format!("Module number {i}, a realistic description"),
            version: 1,
            tooltip: "Shown on hover".into(),
            module_type: ModuleType::User,
            count: LicenseCount::new(10 + i as u32).expect("non-zero"),
            extra_flags: ExtraFlags::None,
            extra_info: ExtraInfo::default(),
            sort_order: (i as u32 + 1) * 10,
            hidden: i % 2 == 0,
            unrestricted: false,
            prerequisite: None,
        })
        .collect();
    let owner = Owner {
        name: OwnerName::parse("Bench Vendor").expect("valid"),
        description: String::new(),
        company_name: "Bench Customer".into(),
        serial: SerialNumber::parse("B-1").expect("valid"),
        deployment_type: DeploymentType::Central,
        license_version: 1,
        license_url: String::new(),
        issued_at: time::OffsetDateTime::UNIX_EPOCH,
        expiration: None,
        grace_to: None,
        maintenance_to: None,
        next_check_date: None,
        admin_warning_date: None,
        max_offline_days: None,
    };
    LicenseContent::new(owner, modules).expect("valid license")
}

/// Runs `f` repeatedly for at least `min` and returns the mean time per run.
fn time_it(min: Duration, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < min || n < 3 {
        f();
        n += 1;
    }
    start.elapsed() / n
}

struct Row {
    what: String,
    ours: Duration,
    baseline_what: String,
    baseline: Duration,
}

impl Row {
    /// Rate of ours relative to the baseline: above 1 means faster.
    fn ratio(&self) -> f64 {
        self.baseline.as_secs_f64() / self.ours.as_secs_f64()
    }
}

/// Resets this process's peak resident set (Linux: `5` to clear_refs) and
/// returns the resident set now, in bytes; `peak_since` then gives how far
/// the peak rose above it.
fn reset_peak() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    proc_status_kb("self", "VmRSS") * 1024
}

fn peak_since(start: u64) -> u64 {
    (proc_status_kb("self", "VmHWM") * 1024).saturating_sub(start)
}

/// A field of `/proc/<process>/status` in kB (`process` is `self` or a pid).
fn proc_status_kb(process: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// 10000000 -> "10,000,000".
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

fn verification(rows: usize) -> Row {
    let key = SigningKey::from_seed([42; 32]);
    let content = license(rows);
    let document = content.sign(&key);
    let trusted = [key.public().clone()];
    let ours = time_it(Duration::from_secs(2), || {
        VerifiedLicense::verify(&document, &trusted).expect("verifies");
    });
    // Baseline: bare ed25519-dalek verify_strict of the same signatures over
    // the same bytes (the owner record + every row).
    let verified = VerifiedLicense::verify(&document, &trusted).expect("verifies");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key.public().as_bytes()).expect("key");
    let mut pairs: Vec<(Vec<u8>, ed25519_dalek::Signature)> = verified
        .verified_modules()
        .iter()
        .map(|m| {
            (
                module_signed_bytes(&m.module),
                ed25519_dalek::Signature::from_bytes(&m.signature),
            )
        })
        .collect();
    pairs.push((
        lisens_core::owner_signed_bytes(verified.record()),
        ed25519_dalek::Signature::from_bytes(verified.owner_signature()),
    ));
    let baseline = time_it(Duration::from_secs(2), || {
        for (m, s) in &pairs {
            vk.verify_strict(m, s).expect("valid");
        }
    });
    Row {
        what: format!("verify a {rows}-row license file"),
        ours,
        baseline_what: format!("{} bare ed25519-dalek verify_strict", rows + 1),
        baseline,
    }
}

async fn status(url: &str, label: &str, rows: usize) -> Result<Vec<Row>> {
    let key = SigningKey::from_seed([42; 32]);
    let document = license(rows).sign(&key);
    let verified = VerifiedLicense::verify(&document, &[key.public().clone()])?;
    let store = Store::open(url).await?;
    store.load_license(&verified, key.public()).await?;
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(url).await?;

    // Cold: a new store (empty verdict cache) reads and checks every row.
    let mut cold_total = Duration::ZERO;
    let cold_runs = 5;
    for _ in 0..cold_runs {
        let fresh = Store::open(url).await?;
        let start = Instant::now();
        fresh.license_status().await?;
        cold_total += start.elapsed();
        assert_eq!(fresh.signature_checks(), rows as u64 + 1);
        fresh.close().await;
    }
    let cold = cold_total / cold_runs;

    store.license_status().await?;
    let checks_before = store.signature_checks();
    let mut warm_total = Duration::ZERO;
    let mut n = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        store.license_status().await?;
        warm_total += t.elapsed();
        n += 1;
    }
    let warm = warm_total / n;
    assert_eq!(
        store.signature_checks(),
        checks_before,
        "unchanged rows are never re-verified"
    );

    let mut scan_total = Duration::ZERO;
    let mut m = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        let rows: Vec<sqlx::any::AnyRow> = sqlx::query("SELECT * FROM module_license")
            .fetch_all(&raw)
            .await?;
        std::hint::black_box(rows);
        scan_total += t.elapsed();
        m += 1;
    }
    let scan = scan_total / m;
    raw.close().await;
    store.close().await;
    Ok(vec![
        Row {
            what: format!("{label}: license status, {rows} rows, cold (every row verified)"),
            ours: cold,
            baseline_what: "bare SELECT * FROM module_license".into(),
            baseline: scan,
        },
        Row {
            what: format!("{label}: license status, {rows} rows, warm (0 signature checks)"),
            ours: warm,
            baseline_what: "bare SELECT * FROM module_license".into(),
            baseline: scan,
        },
    ])
}

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

const CHECK_SPEC: &str = r#"
[owner]
name = "Bench"
company_name = "Bench AB"
serial = "B-2"
license_version = 1

[[module]]
name = "essentials"
type = "user"
count = 1000000
extra_flags = "plan"
set = ["user", "web"]

[[module]]
name = "user"
type = "user"
count = 1000000
hidden = true

[[module]]
name = "web"
type = "user"
count = 1000000
hidden = true
"#;

async fn loaded_store(url: &str) -> Result<std::sync::Arc<Store>> {
    let key = SigningKey::from_seed([7; 32]);
    let content = lisens_core::spec::parse_spec(CHECK_SPEC, time::OffsetDateTime::now_utc())?;
    let verified = VerifiedLicense::verify(&content.sign(&key), &[key.public().clone()])?;
    let store = Store::open(url).await?;
    store.load_license(&verified, key.public()).await?;
    Ok(std::sync::Arc::new(store))
}

async fn add_users(store: &Store, n: usize) -> Result<()> {
    for i in 0..n {
        store
            .create_associate(&lisens_store::NewAssociate {
                login_name: format!("u{i}"),
                full_name: format!("User {i}"),
                email: String::new(),
                is_admin: false,
                password_hash: None,
            })
            .await?;
    }
    Ok(())
}

/// HTTP check throughput beside a bare axum handler, and the in-process check.
async fn check_benchmarks(dir: &std::path::Path) -> Result<Vec<Row>> {
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

/// 64 clients assigning one module to distinct users, beside 64 clients
/// running a bare guarded UPDATE ... WHERE used < max on the same database.
async fn contention(url: &str, label: &str) -> Result<Row> {
    let store = loaded_store(url).await?;
    let per_client = 5;
    let clients = 64;
    add_users(&store, clients * per_client).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                store
                    .assign(&format!("u{}", c * per_client + i), "user")
                    .await
                    .expect("assign");
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let ours = start.elapsed() / (clients * per_client) as u32;

    sqlx::any::install_default_drivers();
    let raw = sqlx::any::AnyPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?;
    sqlx::query(
        "CREATE TABLE bench_counter (id BIGINT PRIMARY KEY, used BIGINT NOT NULL, max_used BIGINT NOT NULL)",
    )
    .execute(&raw)
    .await?;
    sqlx::query("INSERT INTO bench_counter VALUES (1, 0, 1000000)")
        .execute(&raw)
        .await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
                sqlx::query("UPDATE bench_counter SET used = used + 1 WHERE id = 1 AND used < max_used")
                    .execute(&raw)
                    .await
                    .expect("update");
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let base = start.elapsed() / (clients * per_client) as u32;
    raw.close().await;
    store.close().await;
    Ok(Row {
        what: format!("{label}: assignment, 64 concurrent clients (time per assignment)"),
        ours,
        baseline_what: "bare guarded UPDATE ... WHERE used < max".into(),
        baseline: base,
    })
}

/// Activation for an installation with 100,000 users and 300,000
/// assignments, beside a bare GROUP BY of the holders plus rewriting the
/// module rows.
async fn activation(url: &str, label: &str, users: usize) -> Result<Row> {
    let store = loaded_store(url).await?;
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(url).await?;
    for chunk in (0..users).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('a{i}', 'User {i}', '', 1, 1, 0, 'now', 'now')"))
            .collect();
        sqlx::query(&format!(
            "INSERT INTO associate (login_name, full_name, email, active, login_rights, is_admin, created_at, updated_at) VALUES {}",
            values.join(",")
        ))
        .execute(&raw)
        .await?;
    }
    sqlx::query(
        "INSERT INTO license_assoc_link (module_license_id, assoc_id, direct, created_at) \
         SELECT m.id, a.id, CASE WHEN m.module_name = 'essentials' THEN 1 ELSE 0 END, 'now' FROM module_license m, associate a",
    )
    .execute(&raw)
    .await?;
    let key = SigningKey::from_seed([7; 32]);
    let mut ours = Duration::ZERO;
    let runs = 3;
    for v in 2..2 + runs {
        let spec = CHECK_SPEC
            .replace("license_version = 1", &format!("license_version = {v}"))
            .replace("count = 1000000", &format!("count = {}", 1_000_000 + v));
        let doc = lisens_core::spec::parse_spec(&spec, time::OffsetDateTime::now_utc())?.sign(&key);
        let verified = VerifiedLicense::verify(&doc, &[key.public().clone()])?;
        let start = Instant::now();
        let received = store
            .receive_license(
                &verified,
                key.public(),
                &doc,
                "bench",
                lisens_store::Actor {
                    name: "bench",
                    automatic: true,
                },
            )
            .await?;
        ours += start.elapsed();
        assert!(
            matches!(received, lisens_store::Received::Activated { .. }),
            "{received:?}"
        );
    }
    let ours = ours / runs;
    let mut base = Duration::ZERO;
    for v in 0..runs {
        let start = Instant::now();
        let counts: Vec<(i64, i64)> =
            sqlx::query_as("SELECT module_license_id, count(*) FROM license_assoc_link GROUP BY 1")
                .fetch_all(&raw)
                .await?;
        let mut tx = raw.begin().await?;
        for (id, _) in &counts {
            sqlx::query("UPDATE module_license SET license_count = license_count + $2 WHERE id = $1")
                .bind(id)
                .bind(i64::from(v))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        base += start.elapsed();
    }
    let base = base / runs;
    raw.close().await;
    store.close().await;
    Ok(Row {
        what: format!(
            "{label}: activate a license, {} users, {} assignments",
            thousands(users as i64),
            thousands(3 * users as i64)
        ),
        ours,
        baseline_what: "bare GROUP BY of the holders + rewriting the module rows".into(),
        baseline: base,
    })
}

/// Usage ingest over HTTP in batches of 1,000 beside the same rows in a bare
/// multi-row INSERT; and a month's report from the totals beside the scan of
/// raw events it replaces.
async fn metering(url: &str, label: &str, rows: i64) -> Result<Vec<Row>> {
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
            .usage_report("2026-06", &lisens_core::metering::Zone::utc())
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

fn main() -> Result<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    // The overload benchmark runs this binary again as the server under test.
    match args.get(1).map(String::as_str) {
        Some("serve") => return Ok(lisens_cli::main()),
        Some("bare-serve") => {
            overload::bare_serve(args.get(2).map_or("127.0.0.1:0", String::as_str))?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        _ => {}
    }
    tokio::runtime::Runtime::new()?.block_on(bench(args))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn bench(args: Vec<String>) -> Result<()> {
    let pg = args
        .iter()
        .position(|a| a == "--pg")
        .and_then(|i| args.get(i + 1).cloned());
    // --only a,b runs a subset: verification, status, check, contention, growth,
    // activation, metering, overload.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(str::to_owned).collect());
    let runs = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let report_events: i64 = args
        .iter()
        .position(|a| a == "--report-events")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let mut rows = Vec::new();
    if runs("verification") {
        rows.extend([verification(1000), verification(10_000)]);
    }
    let dir = tempfile::tempdir()?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    if runs("status") {
        rows.extend(status(&sqlite("b.db"), "SQLite", 1000).await?);
    }
    if runs("check") {
        rows.extend(check_benchmarks(dir.path()).await?);
    }
    if runs("contention") {
        rows.push(contention(&sqlite("c.db"), "SQLite").await?);
    }
    if runs("activation") {
        rows.push(activation(&sqlite("a.db"), "SQLite", 100_000).await?);
    }
    if runs("metering") {
        rows.extend(metering(&sqlite("m.db"), "SQLite", report_events).await?);
    }
    // Cost growth: the same operations at 1x, 10x and 100x the data (SQLite).
    let mut growth: Vec<(String, [Duration; 3])> = Vec::new();
    let mut memory: Vec<(&str, [u64; 3])> = Vec::new();
    if runs("growth") {
        let sizes = [100usize, 1_000, 10_000];
        // Peak memory above the resident set at the start of each run.
        let mut peaks = [[0u64; 3]; 4];
        let mut verify = [Duration::ZERO; 3];
        let mut warm = [Duration::ZERO; 3];
        for (i, n) in sizes.iter().enumerate() {
            let m = reset_peak();
            verify[i] = verification(*n).ours;
            peaks[0][i] = peak_since(m);
            let m = reset_peak();
            warm[i] = status(&sqlite(&format!("g{n}.db")), "SQLite", *n).await?[1].ours;
            peaks[1][i] = peak_since(m);
        }
        growth.push((
            "verify a license file of 100 / 1,000 / 10,000 rows".into(),
            verify,
        ));
        growth.push((
            "SQLite: license status (warm), 100 / 1,000 / 10,000 rows".into(),
            warm,
        ));
        let mut activate = [Duration::ZERO; 3];
        for (i, n) in [1_000usize, 10_000, 100_000].iter().enumerate() {
            let m = reset_peak();
            activate[i] = activation(&sqlite(&format!("ga{n}.db")), "SQLite", *n)
                .await?
                .ours;
            peaks[2][i] = peak_since(m);
        }
        growth.push((
            "SQLite: activate a license, 1,000 / 10,000 / 100,000 users".into(),
            activate,
        ));
        let (mut report, mut scan) = ([Duration::ZERO; 3], [Duration::ZERO; 3]);
        for (i, n) in [100_000i64, 1_000_000, 10_000_000].iter().enumerate() {
            let m = reset_peak();
            let r = metering(&sqlite(&format!("gm{n}.db")), "SQLite", *n).await?;
            peaks[3][i] = peak_since(m);
            report[i] = r[1].ours;
            scan[i] = r[1].baseline;
        }
        growth.push((
            "SQLite: monthly report from totals, 100,000 / 1M / 10M events".into(),
            report,
        ));
        growth.push((
            "SQLite: the scan it replaces (baseline), 100,000 / 1M / 10M events".into(),
            scan,
        ));
        memory = vec![
            ("verify a license file (ours, then the bare baseline)", peaks[0]),
            ("SQLite: license status, cold and warm", peaks[1]),
            (
                "SQLite: set up and activate (users, links, 3 activations)",
                peaks[2],
            ),
            (
                "SQLite: ingest 55 batches over HTTP, fill the raw events, report",
                peaks[3],
            ),
        ];
    }
    if let Some(admin) = pg {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await?;
        for bench in ["status", "contention", "activation", "metering"] {
            if !runs(bench) {
                continue;
            }
            let name = format!("lisens_bench_{}_{bench}", std::process::id());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await?;
            let url = format!(
                "{}/{name}",
                admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
            );
            let result = match bench {
                "status" => status(&url, "PostgreSQL", 1000).await,
                "contention" => contention(&url, "PostgreSQL").await.map(|r| vec![r]),
                "metering" => metering(&url, "PostgreSQL", report_events).await,
                _ => activation(&url, "PostgreSQL", 100_000).await.map(|r| vec![r]),
            };
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&pool)
                .await?;
            rows.extend(result?);
        }
    }
    if runs("overload") {
        let db = sqlite("overload.db");
        let load = {
            let store = loaded_store(&db).await?;
            add_users(&store, 100).await?;
            for i in 0..100 {
                store.assign(&format!("u{i}"), "essentials").await?;
            }
            let token = |scope| store.create_token("bench", scope, rand::random());
            let load = overload::Load {
                check_token: token(lisens_store::TokenScope::Check).await?.secret,
                metering_token: token(lisens_store::TokenScope::Metering).await?.secret,
            };
            store.close().await;
            load
        };
        let report = overload::run(&db, load, &[100, 800], 10).await?;
        println!("| server | connections | answers/s | served | 503 OVERLOADED | 429 | other | failed | idle RSS | peak RSS | slowest /healthz |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for (name, levels) in [("lisens serve", &report.lisens), ("bare axum", &report.bare)] {
            for l in levels {
                println!(
                    "| {name} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    l.connections,
                    l.requests_per_sec,
                    thousands(l.served as i64),
                    thousands(l.overloaded as i64),
                    thousands(l.limited as i64),
                    l.other,
                    l.failed,
                    mib(l.idle_rss),
                    mib(l.peak_rss),
                    if l.slowest_health == Duration::MAX {
                        "FAILED".to_owned()
                    } else {
                        human(l.slowest_health)
                    }
                );
            }
        }
        for (ours, bare) in report.lisens.iter().zip(&report.bare) {
            println!(
                "peak RSS at {} connections: lisens {} vs bare axum {} ({:.2}x)",
                ours.connections,
                mib(ours.peak_rss),
                mib(bare.peak_rss),
                bare.peak_rss as f64 / ours.peak_rss.max(1) as f64
            );
        }
        println!("graceful shutdown after the flood: {}", human(report.shutdown));
        println!();
    }
    if !growth.is_empty() {
        println!("| operation | 1x | 10x | 100x | 100x / 1x |");
        println!("|---|---|---|---|---|");
        for (what, t) in &growth {
            println!(
                "| {what} | {} | {} | {} | {:.1} |",
                human(t[0]),
                human(t[1]),
                human(t[2]),
                t[2].as_secs_f64() / t[0].as_secs_f64().max(1e-12)
            );
        }
        println!();
        println!("| peak memory above the start of the run (same sizes) | 1x | 10x | 100x |");
        println!("|---|---|---|---|");
        for (what, m) in &memory {
            println!("| {what} | {} | {} | {} |", mib(m[0]), mib(m[1]), mib(m[2]));
        }
        println!();
    }
    if rows.is_empty() {
        return Ok(());
    }
    println!("| benchmark | lisens | baseline | baseline time | ratio (baseline time / lisens time) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.2}x |",
            r.what,
            human(r.ours),
            r.baseline_what,
            human(r.baseline),
            r.ratio()
        );
    }
    Ok(())
}
