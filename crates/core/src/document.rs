//! The license document: what the issuer signs and mails, and the only way to
//! obtain a [`VerifiedLicense`].
//!
//! Layout (see `docs/license-format.md`): an armored block whose base64 body
//! decodes to UTF-8 lines `lisens-license 1`, then `owner <json>` and
//! `owner-sig <base64>`, then `module <json>` and `module-sig <base64>` per
//! row. Each JSON payload is verified as the exact bytes found in the file,
//! prefixed with a per-record domain-separation tag; only afterwards is it
//! parsed, and it must be canonical (re-encoding gives the same bytes) so the
//! installation can re-check a stored row from its columns. The owner record
//! carries SHA-256 over the module signatures in order, which binds the row
//! set: adding, dropping or reordering rows breaks the owner signature.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LicenseError;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::model::{ModuleLicense, ModuleType, Owner};
use crate::names::ModuleName;

const ARMOR_BEGIN: &str = "-----BEGIN LISENS LICENSE-----";
const ARMOR_END: &str = "-----END LISENS LICENSE-----";
const ARMOR_WIDTH: usize = 64;
const HEADER: &str = "lisens-license 1";
const OWNER_TAG: &[u8] = b"lisens-license-v1/owner\0";
const MODULE_TAG: &[u8] = b"lisens-license-v1/module\0";
/// Upper bound on rows in one license: far above any real product, low enough
/// that a hostile file cannot make verification run for minutes.
pub const MAX_MODULES: usize = 100_000;

/// An owner and its module rows that satisfy every rule of a license, not yet
/// signed. The issuer builds one from a spec; [`VerifiedLicense`] derefs to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseContent {
    owner: Owner,
    modules: Vec<ModuleLicense>,
}

impl LicenseContent {
    /// Checks the rules that span rows: unique (name, version), sort order
    /// strictly rising, prerequisites and plan sets naming modules present,
    /// plans being user licenses, dates in order.
    pub fn new(owner: Owner, modules: Vec<ModuleLicense>) -> Result<Self, LicenseError> {
        let bad = |m: String| Err(LicenseError::InvalidSpec(m));
        if modules.is_empty() {
            return bad("a license needs at least one module".into());
        }
        if modules.len() > MAX_MODULES {
            return bad(format!("more than {MAX_MODULES} modules"));
        }
        let mut keys = HashSet::new();
        let mut by_name: HashMap<&ModuleName, &ModuleLicense> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            if !keys.insert((&m.name, m.version)) {
                return bad(format!("module {} version {} is listed twice", m.name, m.version));
            }
            by_name.entry(&m.name).or_insert(m);
            if i > 0 && modules[i - 1].sort_order >= m.sort_order {
                return bad(format!(
                    "sort order must rise: {} ({}) follows {} ({})",
                    m.name,
                    m.sort_order,
                    modules[i - 1].name,
                    modules[i - 1].sort_order
                ));
            }
        }
        for m in &modules {
            if let Some(p) = &m.prerequisite {
                if p == &m.name {
                    return bad(format!("module {} cannot be its own prerequisite", m.name));
                }
                if !by_name.contains_key(p) {
                    return bad(format!("prerequisite {p} of {} is not in the license", m.name));
                }
            }
            if m.is_plan() && m.module_type != ModuleType::User {
                return bad(format!("plan {} must be a user license", m.name));
            }
            if let Some(set) = m.extra_info.set() {
                if !m.is_plan() {
                    return bad(format!("{} has set= but is not a plan", m.name));
                }
                for granted in set.iter() {
                    match by_name.get(granted) {
                        None => {
                            return bad(format!(
                                "plan {} grants {granted}, which is not in the license",
                                m.name
                            ))
                        }
                        Some(g) if g.module_type != ModuleType::User => {
                            return bad(format!(
                                "plan {} grants {granted}, which is not a user license",
                                m.name
                            ))
                        }
                        Some(g) if g.is_plan() => {
                            return bad(format!("plan {} grants another plan {granted}", m.name))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        let o = &owner;
        if let (Some(exp), Some(grace)) = (o.expiration, o.grace_to) {
            if grace < exp {
                return bad(format!(
                    "grace_to ({grace}) must not be before expiration ({exp}): move grace_to too"
                ));
            }
        }
        if o.grace_to.is_some() && o.expiration.is_none() {
            return bad("grace_to needs an expiration".into());
        }
        if let (Some(exp), Some(warn)) = (o.expiration, o.admin_warning_date) {
            if warn > exp {
                return bad(format!(
                    "admin_warning_date ({warn}) must not be after expiration ({exp}): move admin_warning_date too"
                ));
            }
        }
        if let Some(product) = &owner.product {
            product.check(&modules).map_err(LicenseError::InvalidSpec)?;
        }
        Ok(Self { owner, modules })
    }

    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    pub fn modules(&self) -> &[ModuleLicense] {
        &self.modules
    }

    /// Signs every row and the owner record, and returns the armored document.
    pub fn sign(&self, key: &SigningKey) -> String {
        let mut body = String::with_capacity(256 * (self.modules.len() + 1));
        let mut module_lines = String::new();
        let mut sigs = Vec::with_capacity(self.modules.len());
        for m in &self.modules {
            let payload = canonical_json(m);
            let sig = key.sign(&tagged(MODULE_TAG, payload.as_bytes()));
            module_lines.push_str(&format!("module {payload}\nmodule-sig {}\n", B64.encode(sig)));
            sigs.push(sig);
        }
        let record = OwnerRecord {
            key_id: key.public().id().clone(),
            module_count: self.modules.len() as u32,
            modules_digest: modules_digest(sigs.iter()),
            owner: self.owner.clone(),
        };
        let payload = canonical_json(&record);
        let sig = key.sign(&tagged(OWNER_TAG, payload.as_bytes()));
        body.push_str(HEADER);
        body.push('\n');
        body.push_str(&format!("owner {payload}\nowner-sig {}\n", B64.encode(sig)));
        body.push_str(&module_lines);
        armor(body.as_bytes())
    }
}

/// The signed owner record: the owner, the key that signed, and the binding
/// of the module rows (their count and SHA-256 over their signatures in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRecord {
    pub key_id: KeyId,
    pub module_count: u32,
    pub modules_digest: String,
    pub owner: Owner,
}

/// A module row whose signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedModule {
    pub module: ModuleLicense,
    pub signature: [u8; 64],
}

/// A license whose every signature verified against a trusted key. Only
/// [`VerifiedLicense::verify`] constructs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicense {
    record: OwnerRecord,
    owner_signature: [u8; 64],
    modules: Vec<VerifiedModule>,
    content: LicenseContent,
}

impl VerifiedLicense {
    /// Verifies an armored license document against the trusted keys.
    pub fn verify(document: &str, trusted: &[PublicKey]) -> Result<Self, LicenseError> {
        let body = dearmor(document)?;
        let (owner_payload, owner_sig, pairs) = split_records(&body)?;

        // Find the key before checking signatures; the id is a hint, the
        // signature below is the proof.
        let record: OwnerRecord = parse_canonical(owner_payload, "owner")?;
        let key = trusted.iter().find(|k| k.id() == &record.key_id).ok_or_else(|| {
            LicenseError::SignatureInvalid(format!(
                "signed by key {}, which is not a trusted key ({})",
                record.key_id,
                trusted
                    .iter()
                    .map(|k| k.id().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;

        let mut messages = Vec::with_capacity(pairs.len() + 1);
        let mut signatures = Vec::with_capacity(pairs.len() + 1);
        messages.push(tagged(OWNER_TAG, owner_payload.as_bytes()));
        signatures.push(owner_sig);
        for (payload, sig) in &pairs {
            messages.push(tagged(MODULE_TAG, payload.as_bytes()));
            signatures.push(*sig);
        }
        verify_all(key, &messages, &signatures)?;

        let mut modules = Vec::with_capacity(pairs.len());
        for (payload, sig) in &pairs {
            modules.push(VerifiedModule {
                module: parse_canonical(payload, "module")?,
                signature: *sig,
            });
        }
        if record.module_count as usize != modules.len()
            || record.modules_digest != modules_digest(modules.iter().map(|m| &m.signature))
        {
            return Err(LicenseError::SignatureInvalid(
                "the module rows are not the set the owner signed".into(),
            ));
        }
        let content = LicenseContent::new(
            record.owner.clone(),
            modules.iter().map(|m| m.module.clone()).collect(),
        )
        .map_err(|e| malformed(&e.to_string()))?;
        Ok(Self {
            record,
            owner_signature: owner_sig,
            modules,
            content,
        })
    }

    pub fn record(&self) -> &OwnerRecord {
        &self.record
    }

    pub fn owner_signature(&self) -> &[u8; 64] {
        &self.owner_signature
    }

    pub fn verified_modules(&self) -> &[VerifiedModule] {
        &self.modules
    }

    pub fn key_id(&self) -> &KeyId {
        &self.record.key_id
    }
}

impl std::ops::Deref for VerifiedLicense {
    type Target = LicenseContent;
    fn deref(&self) -> &LicenseContent {
        &self.content
    }
}

/// A license document's content read WITHOUT checking any signature, for
/// `lisens license inspect`: what a file claims, never what is licensed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedLicense {
    pub record: OwnerRecord,
    pub modules: Vec<ModuleLicense>,
}

impl UnverifiedLicense {
    pub fn parse(document: &str) -> Result<Self, LicenseError> {
        let body = dearmor(document)?;
        let (owner_payload, _, pairs) = split_records(&body)?;
        Ok(Self {
            record: parse_canonical(owner_payload, "owner")?,
            modules: pairs
                .iter()
                .map(|(p, _)| parse_canonical(p, "module"))
                .collect::<Result<_, _>>()?,
        })
    }
}

type Records<'a> = (&'a str, [u8; 64], Vec<(&'a str, [u8; 64])>);

/// Splits a decoded body into the owner record and the module records,
/// each as its exact payload bytes and its signature.
fn split_records(body: &[u8]) -> Result<Records<'_>, LicenseError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("body is not UTF-8"))?;
    let rest = text
        .strip_prefix(HEADER)
        .and_then(|r| r.strip_prefix('\n'))
        .ok_or_else(|| malformed("unknown format header"))?;
    let rest = rest
        .strip_suffix('\n')
        .ok_or_else(|| malformed("body must end with a newline"))?;
    let mut lines = rest.split('\n');
    let (owner_payload, owner_sig) = record_pair(&mut lines, "owner")?;
    let mut pairs = Vec::new();
    while let Some(line) = lines.next() {
        if pairs.len() >= MAX_MODULES {
            return Err(malformed("too many module rows"));
        }
        let mut one = std::iter::once(line).chain(lines.next());
        pairs.push(record_pair(&mut one, "module")?);
    }
    Ok((owner_payload, owner_sig, pairs))
}

/// The bytes signed for a module row. The store recomputes them from a row's
/// columns to re-check the stored signature.
pub fn module_signed_bytes(module: &ModuleLicense) -> Vec<u8> {
    tagged(MODULE_TAG, canonical_json(module).as_bytes())
}

/// The bytes signed for an owner record.
pub fn owner_signed_bytes(record: &OwnerRecord) -> Vec<u8> {
    tagged(OWNER_TAG, canonical_json(record).as_bytes())
}

/// Checks a stored module row against its stored signature.
pub fn verify_module_row(key: &PublicKey, module: &ModuleLicense, signature: &[u8]) -> bool {
    verify_one(key, &module_signed_bytes(module), signature)
}

/// Checks many stored module rows signed by one key, in one batch when all
/// are good (the common case), one by one to find the bad ones otherwise.
/// Returns a verdict per row, in order.
pub fn verify_module_rows(key: &PublicKey, rows: &[(&ModuleLicense, &[u8])]) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = rows.iter().map(|(m, _)| module_signed_bytes(m)).collect();
    let parsed: Option<Vec<ed25519_dalek::Signature>> = rows
        .iter()
        .map(|(_, s)| ed25519_dalek::Signature::from_slice(s).ok())
        .collect();
    if let Some(sigs) = parsed {
        let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let keys = vec![*key.dalek(); sigs.len()];
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return vec![true; rows.len()];
        }
    }
    messages
        .iter()
        .zip(rows)
        .map(|(m, (_, s))| verify_one(key, m, s))
        .collect()
}

/// Checks a stored owner row against its stored signature.
pub fn verify_owner_row(key: &PublicKey, record: &OwnerRecord, signature: &[u8]) -> bool {
    verify_one(key, &owner_signed_bytes(record), signature)
}

/// SHA-256 over the module signatures in order, in hex: what the owner
/// record signs to bind its row set.
pub fn modules_digest<'a>(signatures: impl Iterator<Item = &'a [u8; 64]>) -> String {
    let mut h = Sha256::new();
    for s in signatures {
        h.update(s);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a signature over a domain tag and a payload.
pub(crate) fn verify_tagged(key: &PublicKey, tag: &[u8], payload: &[u8], signature: &[u8]) -> bool {
    verify_one(key, &tagged(tag, payload), signature)
}

fn verify_one(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    key.dalek().verify_strict(message, &sig).is_ok()
}

fn verify_all(key: &PublicKey, messages: &[Vec<u8>], signatures: &[[u8; 64]]) -> Result<(), LicenseError> {
    let sigs: Vec<ed25519_dalek::Signature> = signatures
        .iter()
        .map(ed25519_dalek::Signature::from_bytes)
        .collect();
    let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let keys = vec![*key.dalek(); sigs.len()];
    if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
        // Batch verification is probabilistic over the batch but sound: it
        // accepts only if every signature is valid (cofactored equation, the
        // same acceptance set as verify_strict for non-malleable signatures).
        return Ok(());
    }
    for (i, (m, s)) in msgs.iter().zip(&sigs).enumerate() {
        if key.dalek().verify_strict(m, s).is_err() {
            let what = if i == 0 {
                "the owner record".to_string()
            } else {
                format!("module row {i}")
            };
            return Err(LicenseError::SignatureInvalid(format!(
                "signature of {what} does not verify"
            )));
        }
    }
    Err(LicenseError::SignatureInvalid(
        "batch signature check failed".into(),
    ))
}

pub(crate) fn tagged(tag: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tag.len() + payload.len());
    v.extend_from_slice(tag);
    v.extend_from_slice(payload);
    v
}

pub(crate) fn canonical_json<T: Serialize>(value: &T) -> String {
    // Serialising our own structs cannot fail: no maps with non-string keys.
    serde_json::to_string(value).expect("license records serialise")
}

pub(crate) fn parse_canonical<T: Serialize + for<'de> Deserialize<'de>>(
    payload: &str,
    what: &str,
) -> Result<T, LicenseError> {
    let value: T = serde_json::from_str(payload).map_err(|e| malformed(&format!("{what} record: {e}")))?;
    if canonical_json(&value) != payload {
        return Err(malformed(&format!("{what} record is not in canonical form")));
    }
    Ok(value)
}

fn record_pair<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    kind: &str,
) -> Result<(&'a str, [u8; 64]), LicenseError> {
    let line = lines
        .next()
        .ok_or_else(|| malformed(&format!("missing {kind} record")))?;
    let payload = line
        .strip_prefix(kind)
        .and_then(|l| l.strip_prefix(' '))
        .ok_or_else(|| malformed(&format!("expected a {kind} record")))?;
    let sig_line = lines
        .next()
        .ok_or_else(|| malformed(&format!("missing {kind}-sig")))?;
    let sig_b64 = sig_line
        .strip_prefix(kind)
        .and_then(|l| l.strip_prefix("-sig "))
        .ok_or_else(|| malformed(&format!("expected {kind}-sig after a {kind} record")))?;
    let sig: [u8; 64] = B64
        .decode(sig_b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| malformed(&format!("{kind}-sig is not 64 bytes of base64")))?;
    Ok((payload, sig))
}

fn malformed(m: &str) -> LicenseError {
    LicenseError::Malformed(m.to_owned())
}

fn armor(body: &[u8]) -> String {
    let encoded = B64.encode(body);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / ARMOR_WIDTH + 80);
    out.push_str(ARMOR_BEGIN);
    out.push('\n');
    for chunk in encoded.as_bytes().chunks(ARMOR_WIDTH) {
        // base64 output is ASCII, so any byte chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(ARMOR_END);
    out.push('\n');
    out
}

/// Strict on the body so that no byte of it can change without the result
/// changing: 64-column lines (the last may be shorter), no other whitespace;
/// a trailing `\r` is allowed because mail clients add them. Text before the
/// BEGIN line and after the END line is ignored (mail quoting, notes).
fn dearmor(text: &str) -> Result<Vec<u8>, LicenseError> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    lines
        .by_ref()
        .find(|l| *l == ARMOR_BEGIN)
        .ok_or_else(|| malformed("no -----BEGIN LISENS LICENSE----- line"))?;
    let mut encoded = String::new();
    let mut last_short = false;
    let mut ended = false;
    for line in lines.by_ref() {
        if line == ARMOR_END {
            ended = true;
            break;
        }
        if last_short || line.is_empty() || line.len() > ARMOR_WIDTH {
            return Err(malformed(
                "armor lines must be 64 base64 characters (the last may be shorter)",
            ));
        }
        last_short = line.len() < ARMOR_WIDTH;
        encoded.push_str(line);
    }
    if !ended {
        return Err(malformed("no -----END LISENS LICENSE----- line"));
    }
    B64.decode(encoded.as_bytes())
        .map_err(|e| malformed(&format!("armor body is not base64: {e}")))
}
