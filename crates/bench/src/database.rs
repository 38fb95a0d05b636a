//! The license and database benchmarks: verifying a signed license file,
//! the license status read (cold and warm), concurrent assignment against a
//! bare guarded UPDATE, and activating a license for a large installation.
//! It also holds the store fixtures the other benchmarks share: the
//! generated license, the `CHECK_SPEC` license, a loaded store and its users.

use std::time::{Duration, Instant};

use anyhow::Result;
use lisens_core::{
    module_signed_bytes, DeploymentType, ExtraFlags, ExtraInfo, LicenseContent, LicenseCount, ModuleLicense,
    ModuleName, ModuleType, Owner, OwnerName, SerialNumber, SigningKey, VerifiedLicense,
};
use lisens_store::Store;

use crate::measure::{thousands, time_it, Row};

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
        product: None,
    };
    LicenseContent::new(owner, modules).expect("valid license")
}

/// Verifying a license file beside bare ed25519-dalek over the same
/// signatures: one by one with `verify_strict`, and (what lisens itself
/// uses) `verify_batch`, which is where most of the gap to the first comes
/// from; the second row is the honest baseline.
pub(crate) fn verification(rows: usize) -> Row {
    verification_rows(rows).swap_remove(0)
}

pub(crate) fn verification_rows(rows: usize) -> Vec<Row> {
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
    let messages: Vec<&[u8]> = pairs.iter().map(|(m, _)| m.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> = pairs.iter().map(|(_, s)| *s).collect();
    let keys = vec![vk; pairs.len()];
    let batch = time_it(Duration::from_secs(2), || {
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).expect("valid");
    });
    vec![
        Row {
            what: format!("verify a {rows}-row license file"),
            ours,
            baseline_what: format!("{} bare ed25519-dalek verify_strict", rows + 1),
            baseline,
        },
        Row {
            what: format!("verify a {rows}-row license file"),
            ours,
            baseline_what: format!("one bare ed25519-dalek verify_batch of {}", rows + 1),
            baseline: batch,
        },
    ]
}

pub(crate) async fn status(url: &str, label: &str, rows: usize) -> Result<Vec<Row>> {
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

pub(crate) async fn loaded_store(url: &str) -> Result<std::sync::Arc<Store>> {
    let key = SigningKey::from_seed([7; 32]);
    let content = lisens_core::spec::parse_spec(CHECK_SPEC, time::OffsetDateTime::now_utc())?;
    let verified = VerifiedLicense::verify(&content.sign(&key), &[key.public().clone()])?;
    let store = Store::open(url).await?;
    store.load_license(&verified, key.public()).await?;
    Ok(std::sync::Arc::new(store))
}

pub(crate) async fn add_users(store: &Store, n: usize) -> Result<()> {
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

/// 64 clients assigning one module to distinct users, beside 64 clients
/// running a bare guarded UPDATE ... WHERE used < max on the same database.
pub(crate) async fn contention(url: &str, label: &str) -> Result<Row> {
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
pub(crate) async fn activation(url: &str, label: &str, users: usize) -> Result<Row> {
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
