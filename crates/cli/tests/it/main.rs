//! The `lisens` binary driven the way an operator drives it.

#![allow(clippy::unwrap_used)]

mod crash;
mod demo;
mod events;
mod hostile;
mod license;
mod lifecycle;
mod operations;
mod scaleout;
mod soak;
mod trust;
mod users;
mod your_product;

use std::path::Path;
use std::process::{Command, Output};

pub fn lisens(args: &[&str], db: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lisens"))
        .args(args)
        .env("LISENS_DATABASE_URL", db)
        .env_remove("LISENS_PUBLIC_KEY")
        .env("LISENS_LOG", "warn")
        .output()
        .expect("run lisens")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts a failure with the given stable code on stderr.
/// Asserts the command failed with `code`; its standard error.
pub fn fails_with(out: &Output, code: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("error[{code}]")),
        "expected {code}, got: {stderr}"
    );
    stderr.into_owned()
}

/// Signs the license spec `spec` with the issuer key `key` into `out`.
pub fn issue(db: &str, key: &Path, spec: &Path, out: &Path) {
    ok(&lisens(
        &[
            "issuer",
            "issue",
            "--key",
            p(key),
            "--spec",
            p(spec),
            "--out",
            p(out),
        ],
        db,
    ));
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("lisens.db").display())
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub const DEMO_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo-license.toml");

/// A fresh PostgreSQL database for one test, dropped when the test ends;
/// `None` when PostgreSQL is not configured (never under CI=true).
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

fn pg_exec(admin: &str, sql: &str) {
    exec_sql(admin, &[sql]);
}

/// Runs SQL statements against a database URL behind lisens's back, as a
/// customer would with sqlite3 or psql. A thread of its own, so tests inside
/// a runtime can call it too.
pub fn exec_sql(url: &str, statements: &[&str]) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    sqlx::any::install_default_drivers();
                    let pool = sqlx::AnyPool::connect(url).await.expect("database reachable");
                    for s in statements {
                        sqlx::query(s)
                            .execute(&pool)
                            .await
                            .unwrap_or_else(|e| panic!("{s}: {e}"));
                    }
                    pool.close().await;
                });
            })
            .join()
            .unwrap();
    });
}

impl PgDb {
    pub fn create(prefix: &str) -> Option<PgDb> {
        let admin = demo::pg_admin_url()?;
        let name = format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>());
        pg_exec(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Some(PgDb { url, admin, name })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        pg_exec(&self.admin, &format!("DROP DATABASE {} WITH (FORCE)", self.name));
    }
}

/// The secret of a token `lisens token create` printed.
pub fn token_secret(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("lsn_"))
        .unwrap_or_else(|| panic!("no token in {out}"))
        .to_owned()
}
