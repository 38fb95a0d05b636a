//! Ed25519 keys in the text form lisens stores them in: one line,
//! `lisens-ed25519-public <base64>` or `lisens-ed25519-secret <base64>`.
//! A key id (the first 8 bytes of SHA-256 of the public key, in hex) names a
//! key in license documents so keys can be rotated.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ParseError;

const PUBLIC_TAG: &str = "lisens-ed25519-public";
const SECRET_TAG: &str = "lisens-ed25519-secret";

/// 16 lowercase hex digits naming a public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new("key id", "must be 16 lowercase hex digits"))
        }
    }

    fn of(key: &ed25519_dalek::VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        Self(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        k.0
    }
}

/// A public key an installation trusts to sign one owner's licenses.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ParseError::new("public key", "must be 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|_| ParseError::new("public key", "not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(ParseError::new("public key", "weak Ed25519 key"));
        }
        Ok(Self {
            id: KeyId::of(&key),
            key,
        })
    }

    /// Parses the one-line text form written by `lisens issuer keygen`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let b = parse_tagged(text, PUBLIC_TAG, "public key")?;
        Self::from_bytes(&b)
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    pub(crate) fn dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.key
    }

    /// The one-line text form.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_TAG} {}\n", B64.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// The issuer's private signing key. Its Debug output never shows the secret.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let vk = key.verifying_key();
        Self {
            public: PublicKey {
                id: KeyId::of(&vk),
                key: vk,
            },
            key,
        }
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let b = parse_tagged(text, SECRET_TAG, "secret key")?;
        let seed: [u8; 32] = b
            .as_slice()
            .try_into()
            .map_err(|_| ParseError::new("secret key", "must be 32 bytes"))?;
        Ok(Self::from_seed(seed))
    }

    pub fn to_text(&self) -> String {
        format!("{SECRET_TAG} {}\n", B64.encode(self.key.to_bytes()))
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, secret hidden)", self.public.id)
    }
}

fn parse_tagged(text: &str, tag: &str, what: &'static str) -> Result<Vec<u8>, ParseError> {
    let line = text.trim();
    let rest = line
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| ParseError::new(what, format!("expected a line starting with {tag:?}")))?;
    B64.decode(rest.trim())
        .map_err(|e| ParseError::new(what, format!("bad base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        let sk = SigningKey::from_seed([7; 32]);
        let again = SigningKey::parse(&sk.to_text()).unwrap();
        assert_eq!(again.public(), sk.public());
        let pk = PublicKey::parse(&sk.public().to_text()).unwrap();
        assert_eq!(&pk, sk.public());
        assert_eq!(pk.id().as_str().len(), 16);
        assert!(!format!("{sk:?}").contains(&sk.to_text()[22..40]));
    }

    #[test]
    fn a_secret_key_is_not_a_public_key() {
        let sk = SigningKey::from_seed([7; 32]);
        assert!(PublicKey::parse(&sk.to_text()).is_err());
        assert!(PublicKey::parse("lisens-ed25519-public AAAA").is_err());
    }
}
