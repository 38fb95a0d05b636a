//! lisens benchmarks. Each measures a baseline in the same run and prints the
//! ratio, as a Markdown table for BENCHMARKS.md.
//!
//! `cargo run --release -p bench` (add `-- --pg URL` to include PostgreSQL;
//! the HTTP benchmark, `--only check`, loads the servers with `wrk`, which
//! Debian installs with `apt-get install wrk`; `--rounds N` sets its paired
//! rounds, 5 by default).
//!
//! This file holds the argument handling and the list of benchmarks run;
//! the benchmarks themselves are in `database`, `http`, `metering` and
//! `overload`, and the timing, memory and formatting helpers in `measure`.

use std::time::Duration;

use anyhow::Result;

mod database;
mod http;
mod measure;
mod metering;
mod overload;

use database::{activation, add_users, contention, loaded_store, status, verification, verification_rows};
use http::check_benchmarks;
// `proc_status_kb` is imported for overload.rs, which reads it as `crate::proc_status_kb`.
use measure::{human, mib, peak_since, proc_status_kb, reset_peak, thousands};
use metering::metering;

fn main() -> Result<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    // The overload benchmark runs this binary again as the server under test.
    match args.get(1).map(String::as_str) {
        Some("serve") => return Ok(lisens_cli::main()),
        Some("bare-check-serve") => {
            http::bare_check_serve(args.get(2).map_or("127.0.0.1:0", String::as_str))?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
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
    // --rounds N: paired rounds of each HTTP benchmark (default 5).
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5);
    let mut rows = Vec::new();
    if runs("verification") {
        rows.extend(verification_rows(1000));
        rows.extend(verification_rows(10_000));
    }
    let dir = tempfile::tempdir()?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    if runs("status") {
        rows.extend(status(&sqlite("b.db"), "SQLite", 1000).await?);
    }
    if runs("check") {
        rows.extend(check_benchmarks(dir.path(), rounds).await?);
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
