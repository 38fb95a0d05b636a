//! How a command fails: `Failure` (a stable code and a message), its
//! conversions from the libraries' errors (`failure_from!`) and from a
//! refused import, the `Outcome` every command returns, and `report`, which
//! prints a failure as `error[CODE]: message` on stderr and exits 1.

use std::process::ExitCode;

use lisens_core::LicenseError;
use lisens_issuer::IssuerError;
use lisens_store::StoreError;

/// A failure with its stable code.
#[derive(Debug)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    /// A negative answer already printed (exit 1, nothing on stderr).
    pub(crate) fn silent() -> Self {
        Self::new("", "")
    }

    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

macro_rules! failure_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::new(e.code(), e.to_string())
            }
        }
    )*};
}
failure_from!(StoreError, IssuerError, LicenseError);

pub(crate) type Outcome = Result<(), Failure>;

pub(crate) fn report(f: Failure) -> ExitCode {
    if !f.code.is_empty() {
        eprintln!("error[{}]: {}", f.code, f.message);
    }
    ExitCode::FAILURE
}

/// A refused batch: every bad item with its code.
pub(crate) fn import_failure(e: lisens_core::import::ImportError) -> Failure {
    Failure::new(e.code, e.to_string())
}
