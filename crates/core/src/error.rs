//! Errors of the domain, each with a stable machine code that the CLI prints and
//! the HTTP API returns, so scripts can match on them.

use crate::codes;

/// A value from outside did not parse into a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ParseError {
    pub what: &'static str,
    pub reason: String,
}

impl ParseError {
    pub fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}

/// Why a license document or spec was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// The bytes are not a well-formed license document (armor, base64, record
    /// layout, JSON, or a value that does not parse).
    #[error("malformed license: {0}")]
    Malformed(String),
    /// A signature does not verify with the trusted key.
    #[error("license signature invalid: {0}")]
    SignatureInvalid(String),
    /// The document was signed by a key the caller does not trust.
    #[error("license signed by an unknown key {0}")]
    UnknownKey(String),
    /// The spec a vendor wrote is not a valid license (duplicate module,
    /// unknown prerequisite, plan set naming a missing module, ...).
    #[error("invalid license spec: {0}")]
    InvalidSpec(String),
}

impl LicenseError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            LicenseError::Malformed(_) => codes::LICENSE_MALFORMED,
            LicenseError::SignatureInvalid(_) => codes::LICENSE_SIGNATURE_INVALID,
            LicenseError::UnknownKey(_) => codes::LICENSE_UNKNOWN_KEY,
            LicenseError::InvalidSpec(_) => codes::LICENSE_SPEC_INVALID,
        }
    }
}

impl From<ParseError> for LicenseError {
    fn from(e: ParseError) -> Self {
        LicenseError::Malformed(e.to_string())
    }
}
