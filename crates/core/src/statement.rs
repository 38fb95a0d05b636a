//! The issuer's signed statement: its answer to each poll says which license
//! version is current for a serial, at what time by the issuer's clock. An
//! installation whose license carries `max_offline_days` needs a statement
//! that recent (see `trust::offline_dates` and `docs/trust-model.md`); the
//! issuer's time also tells the installation the real date, whatever its own
//! clock says.
//!
//! Text form (one line): `lisens-statement 1 <base64 of the canonical JSON>
//! <base64 signature>`. The signature is over a domain tag and the exact JSON
//! bytes, like every license record.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::document::{canonical_json, parse_canonical, tagged};
use crate::error::LicenseError;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::names::{OwnerName, SerialNumber};

const HEADER: &str = "lisens-statement 1";
const TAG: &[u8] = b"lisens-statement-v1\0";
/// A statement is one short line; anything longer is not one.
const MAX_LEN: usize = 4096;

/// What the issuer states about one serial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub key_id: KeyId,
    pub owner: OwnerName,
    pub serial: SerialNumber,
    /// The license version the issuer holds as current for the serial.
    pub license_version: u32,
    /// The issuer's clock when it answered.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

impl Statement {
    /// Signs the statement; `key_id` is taken from the key.
    pub fn sign(
        owner: OwnerName,
        serial: SerialNumber,
        license_version: u32,
        issued_at: OffsetDateTime,
        key: &SigningKey,
    ) -> String {
        let statement = Statement {
            key_id: key.public().id().clone(),
            owner,
            serial,
            license_version,
            issued_at: issued_at
                .replace_nanosecond(0)
                .unwrap_or(issued_at)
                .to_offset(time::UtcOffset::UTC),
        };
        let payload = canonical_json(&statement);
        let sig = key.sign(&tagged(TAG, payload.as_bytes()));
        format!("{HEADER} {} {}", B64.encode(payload), B64.encode(sig))
    }

    /// Verifies a statement's text against the trusted keys.
    pub fn verify(text: &str, trusted: &[PublicKey]) -> Result<Statement, LicenseError> {
        let bad = |m: &str| LicenseError::Malformed(format!("issuer statement: {m}"));
        if text.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let rest = text
            .trim()
            .strip_prefix(HEADER)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("expected a line starting with \"lisens-statement 1\""))?;
        let (payload, sig) = rest.split_once(' ').ok_or_else(|| bad("no signature"))?;
        let payload = B64.decode(payload).map_err(|_| bad("payload is not base64"))?;
        let payload = String::from_utf8(payload).map_err(|_| bad("payload is not UTF-8"))?;
        let sig: [u8; 64] = B64
            .decode(sig)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("signature is not 64 bytes of base64"))?;
        let statement: Statement = parse_canonical(&payload, "issuer statement")?;
        let key = trusted
            .iter()
            .find(|k| k.id() == &statement.key_id)
            .ok_or_else(|| LicenseError::UnknownKey(statement.key_id.to_string()))?;
        if !crate::document::verify_tagged(key, TAG, payload.as_bytes(), &sig) {
            return Err(LicenseError::SignatureInvalid(
                "the issuer statement's signature does not match".into(),
            ));
        }
        Ok(statement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_verifies_with_its_key_and_nothing_else() {
        let key = SigningKey::from_seed([3; 32]);
        let other = SigningKey::from_seed([4; 32]);
        let at = time::macros::datetime!(2026-11-29 12:00:00.5 UTC);
        let text = Statement::sign(
            OwnerName::parse("Vendor").unwrap(),
            SerialNumber::parse("S-1").unwrap(),
            7,
            at,
            &key,
        );
        let s = Statement::verify(&text, &[key.public().clone()]).unwrap();
        assert_eq!(s.license_version, 7);
        assert_eq!(s.issued_at, time::macros::datetime!(2026-11-29 12:00 UTC));
        assert_eq!(
            Statement::verify(&text, &[other.public().clone()])
                .unwrap_err()
                .code(),
            "LICENSE_UNKNOWN_KEY"
        );
        // The customer writes a later time into it: the signature breaks.
        let (head, rest) = text.rsplit_once(' ').unwrap();
        let payload = String::from_utf8(B64.decode(head.rsplit_once(' ').unwrap().1).unwrap()).unwrap();
        let forged = payload.replace("2026-11-29", "2027-11-29");
        let forged = format!("{HEADER} {} {rest}", B64.encode(forged));
        assert_eq!(
            Statement::verify(&forged, &[key.public().clone()])
                .unwrap_err()
                .code(),
            "LICENSE_SIGNATURE_INVALID"
        );
        assert!(Statement::verify("junk", &[key.public().clone()]).is_err());
    }
}
