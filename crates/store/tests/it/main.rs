//! Store tests. Every test runs on SQLite and on PostgreSQL
//! (LISENS_TEST_PG_URL; under CI=true a missing PostgreSQL fails the run).

#![allow(clippy::unwrap_used)]

mod activation;
mod assign;
mod events;
mod identity;
mod license;
mod metering;
mod users;

use lisens_core::{spec::parse_spec, PublicKey, SigningKey, VerifiedLicense};
use lisens_store::Store;
use sqlx::AnyPool;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DEMO_SPEC: &str = include_str!("../../../../examples/demo-license.toml");

pub struct TestDb {
    pub name: &'static str,
    pub url: String,
    pub store: Store,
    raw: AnyPool,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Runs SQL behind the store's back, like a person editing the database.
    pub async fn exec(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn reopen(&self) -> Store {
        Store::open(&self.url).await.expect("reopen")
    }

    pub async fn finish(self) {
        self.store.close().await;
        self.raw.close().await;
        if let Some((admin_url, db)) = self.pg {
            let admin = AnyPool::connect(&admin_url).await.expect("admin connection");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .expect("drop test database");
            admin.close().await;
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn pg_admin_url() -> Option<String> {
    match std::env::var("LISENS_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but LISENS_TEST_PG_URL is not set: the PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!("NOTE: LISENS_TEST_PG_URL not set; skipping the PostgreSQL half of this test");
            None
        }
    }
}

/// A fresh SQLite file and a fresh PostgreSQL database, each migrated.
pub async fn backends() -> Vec<TestDb> {
    sqlx::any::install_default_drivers();
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lisens.db").display());
    let store = Store::open(&url).await.expect("open sqlite");
    let raw = AnyPool::connect(&url).await.unwrap();
    out.push(TestDb {
        name: "sqlite",
        url,
        store,
        raw,
        pg: None,
        _dir: Some(dir),
    });
    if let Some(admin_url) = pg_admin_url() {
        let db = format!(
            "lisens_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let admin = AnyPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required: {e}"));
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        let url = format!("{base}/{db}");
        let store = Store::open(&url).await.expect("open postgres");
        let raw = AnyPool::connect(&url).await.unwrap();
        out.push(TestDb {
            name: "postgres",
            url,
            store,
            raw,
            pg: Some((admin_url, db)),
            _dir: None,
        });
    }
    out
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

pub fn signed(spec: &str, k: &SigningKey) -> VerifiedLicense {
    let content = parse_spec(spec, time::OffsetDateTime::now_utc()).expect("spec");
    VerifiedLicense::verify(&content.sign(k), &[k.public().clone()]).expect("verify")
}

pub fn public(k: &SigningKey) -> PublicKey {
    k.public().clone()
}
