//! The pure licensing domain of lisens: the typed model of owners and module
//! licenses, the license spec a vendor writes, the signed license document and
//! its verification. Nothing here does I/O, async or SQL, so every rule can be
//! tested (and fuzzed) in microseconds and every other crate builds on it.

pub mod access;
pub mod activation;
pub mod assign;
pub mod codes;
pub mod document;
pub mod error;
pub mod events;
pub mod export;
pub mod import;
pub mod keys;
pub mod metering;
pub mod model;
pub mod names;
pub mod password;
pub mod product;
pub mod scim;
pub mod spec;
pub mod statement;
pub mod trust;

pub use document::{
    module_signed_bytes, modules_digest, owner_signed_bytes, verify_module_row, verify_module_rows,
    verify_owner_row, LicenseContent, OwnerRecord, UnverifiedLicense, VerifiedLicense, VerifiedModule,
};
pub use error::{LicenseError, ParseError};
pub use keys::{KeyId, PublicKey, SigningKey};
pub use model::{DeploymentType, ExtraFlags, ExtraInfo, ModuleLicense, ModuleSet, ModuleType, Owner};
pub use names::{LicenseCount, LoginName, ModuleName, Month, OwnerName, SerialNumber, SiteName};
pub use product::{Lang, Product, ServiceDef, ServiceKey, Unit};

/// The date of this lisens release. A license whose maintenance ended before
/// it (`maintenanceTo`) does not cover this version: no upgrades after
/// maintenance ends, so such a license is refused at load.
pub const RELEASE_DATE: time::Date = time::macros::date!(2026 - 11 - 25);

/// Compares two secrets (tokens, CSRF tokens, hashes) without stopping at the
/// first difference, so the time taken does not reveal how much matched.
/// (`subtle`; only the length, which is not secret, ends it early.)
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
