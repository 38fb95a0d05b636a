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

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let pg = args
        .iter()
        .position(|a| a == "--pg")
        .and_then(|i| args.get(i + 1).cloned());
    let mut rows = vec![verification(1000), verification(10_000)];
    let dir = tempfile::tempdir()?;
    rows.extend(
        status(
            &format!("sqlite://{}", dir.path().join("b.db").display()),
            "SQLite",
            1000,
        )
        .await?,
    );
    if let Some(admin) = pg {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await?;
        let name = format!("lisens_bench_{}", std::process::id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        let url = format!(
            "{}/{name}",
            admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
        );
        let result = status(&url, "PostgreSQL", 1000).await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&pool)
            .await?;
        rows.extend(result?);
    }
    println!("| benchmark | lisens | baseline | baseline time | ratio (baseline time / lisens time) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.3} ms | {} | {:.3} ms | {:.2}x |",
            r.what,
            r.ours.as_secs_f64() * 1e3,
            r.baseline_what,
            r.baseline.as_secs_f64() * 1e3,
            r.ratio()
        );
    }
    Ok(())
}
