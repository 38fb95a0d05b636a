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
//!
//! A [`KeyRotation`] is the vendor's other signed line: a key already trusted
//! for an owner vouches for the vendor's next key, so installations can trust
//! it without an administrator choosing a key file
//! (`lisens license trust-key --statement FILE`).

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
            issued_at: whole_seconds(issued_at),
        };
        sign_line(HEADER, TAG, &statement, key)
    }

    /// Verifies a statement's text against the trusted keys.
    pub fn verify(text: &str, trusted: &[PublicKey]) -> Result<Statement, LicenseError> {
        verify_line(HEADER, TAG, "issuer statement", text, trusted, |s: &Statement| {
            &s.key_id
        })
    }
}

const ROTATION_HEADER: &str = "lisens-key-rotation 1";
const ROTATION_TAG: &[u8] = b"lisens-key-rotation-v1\0";

/// A key trusted for an owner vouches for the vendor's next key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// The key that signed this rotation (already trusted).
    pub key_id: KeyId,
    pub owner: OwnerName,
    /// The next key, in its one-line text form.
    pub new_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

impl KeyRotation {
    /// Signs, with the current key, that `new_key` signs `owner`'s licenses too.
    pub fn sign(
        owner: OwnerName,
        new_key: &PublicKey,
        issued_at: OffsetDateTime,
        key: &SigningKey,
    ) -> String {
        let rotation = KeyRotation {
            key_id: key.public().id().clone(),
            owner,
            new_key: new_key.to_text().trim().to_owned(),
            issued_at: whole_seconds(issued_at),
        };
        sign_line(ROTATION_HEADER, ROTATION_TAG, &rotation, key)
    }

    /// Verifies a rotation against the keys trusted for its owner; returns
    /// it with the new key.
    pub fn verify(text: &str, trusted: &[PublicKey]) -> Result<(KeyRotation, PublicKey), LicenseError> {
        let r = verify_line(
            ROTATION_HEADER,
            ROTATION_TAG,
            "key rotation",
            text,
            trusted,
            |r: &KeyRotation| &r.key_id,
        )?;
        let key = PublicKey::parse(&r.new_key)?;
        Ok((r, key))
    }
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .to_offset(time::UtcOffset::UTC)
}

fn sign_line<T: Serialize>(header: &str, tag: &[u8], value: &T, key: &SigningKey) -> String {
    let payload = canonical_json(value);
    let sig = key.sign(&tagged(tag, payload.as_bytes()));
    format!("{header} {} {}", B64.encode(payload), B64.encode(sig))
}

fn verify_line<T: Serialize + for<'de> Deserialize<'de>>(
    header: &str,
    tag: &[u8],
    what: &str,
    text: &str,
    trusted: &[PublicKey],
    key_id: impl Fn(&T) -> &KeyId,
) -> Result<T, LicenseError> {
    let bad = |m: &str| LicenseError::Malformed(format!("{what}: {m}"));
    if text.len() > MAX_LEN {
        return Err(bad("too long"));
    }
    let rest = text
        .trim()
        .strip_prefix(header)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| bad(&format!("expected a line starting with {header:?}")))?;
    let (payload, sig) = rest.split_once(' ').ok_or_else(|| bad("no signature"))?;
    let payload = B64.decode(payload).map_err(|_| bad("payload is not base64"))?;
    let payload = String::from_utf8(payload).map_err(|_| bad("payload is not UTF-8"))?;
    let sig: [u8; 64] = B64
        .decode(sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("signature is not 64 bytes of base64"))?;
    let value: T = parse_canonical(&payload, what)?;
    let id = key_id(&value);
    let key = trusted
        .iter()
        .find(|k| k.id() == id)
        .ok_or_else(|| LicenseError::UnknownKey(id.to_string()))?;
    if !crate::document::verify_tagged(key, tag, payload.as_bytes(), &sig) {
        return Err(LicenseError::SignatureInvalid(format!(
            "the {what}'s signature does not match"
        )));
    }
    Ok(value)
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
            crate::codes::LICENSE_UNKNOWN_KEY
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
            crate::codes::LICENSE_SIGNATURE_INVALID
        );
        assert!(Statement::verify("junk", &[key.public().clone()]).is_err());
    }

    #[test]
    fn a_trusted_key_vouches_for_the_next_and_a_statement_is_not_a_rotation() {
        let old = SigningKey::from_seed([3; 32]);
        let new = SigningKey::from_seed([4; 32]);
        let owner = OwnerName::parse("Vendor").unwrap();
        let at = time::macros::datetime!(2026-11-29 12:00 UTC);
        let text = KeyRotation::sign(owner.clone(), new.public(), at, &old);
        let (r, key) = KeyRotation::verify(&text, &[old.public().clone()]).unwrap();
        assert_eq!((&r.owner, &key), (&owner, new.public()));
        // Signed by the new key itself: not trusted yet, so worth nothing.
        let selfmade = KeyRotation::sign(owner.clone(), new.public(), at, &new);
        assert_eq!(
            KeyRotation::verify(&selfmade, &[old.public().clone()])
                .unwrap_err()
                .code(),
            crate::codes::LICENSE_UNKNOWN_KEY
        );
        // The tags keep the two kinds of line apart.
        let statement = Statement::sign(owner, SerialNumber::parse("S-1").unwrap(), 1, at, &old);
        assert!(KeyRotation::verify(&statement, &[old.public().clone()]).is_err());
    }
}
