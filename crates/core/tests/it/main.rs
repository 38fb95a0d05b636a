//! Integration tests of the pure domain: specs, the signed document, tampering.

#![allow(clippy::unwrap_used)]

mod activation;
mod codes;
mod document;
mod properties;
mod spec;

use lisens_core::{spec::parse_spec, LicenseContent, SigningKey};
use time::macros::datetime;

pub const DEMO_SPEC: &str = include_str!("../../../../examples/demo-license.toml");

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

pub fn demo_content() -> LicenseContent {
    parse_spec(DEMO_SPEC, datetime!(2026-11-25 08:00 UTC)).expect("demo spec is valid")
}

pub const SMALL_SPEC: &str = r#"
[owner]
name = "Acme"
company_name = "Small Co"
serial = "S-1"
license_version = 3

[[module]]
name = "user"
type = "user"
count = 2
hidden = true

[[module]]
name = "web"
type = "user"
count = 2
hidden = true
prerequisite = "user"

[[module]]
name = "basic"
type = "user"
count = 2
extra_flags = "plan"
set = ["user", "web"]
"#;

pub fn small_content() -> LicenseContent {
    parse_spec(SMALL_SPEC, datetime!(2026-11-25 08:00 UTC)).expect("small spec is valid")
}
mod fuzz_regressions;
