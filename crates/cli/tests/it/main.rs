//! The `lisens` binary driven the way an operator drives it.

mod crash;
mod demo;
mod events;
mod license;
mod lifecycle;
mod operations;
mod scaleout;
mod soak;
mod users;

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
pub fn fails_with(out: &Output, code: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("error[{code}]")),
        "expected {code}, got: {stderr}"
    );
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("lisens.db").display())
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub const DEMO_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo-license.toml");
