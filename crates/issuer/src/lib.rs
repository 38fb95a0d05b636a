//! The vendor's side of lisens: the signing key on disk and issuing signed
//! licenses from a spec. The private key never leaves this crate's files
//! except as a signature.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub mod admin_auth;
pub mod http;
pub mod service;

use lisens_core::codes;
use lisens_core::{spec::parse_spec, LicenseError, PublicKey, SigningKey};
use rand::RngCore;

pub const SECRET_FILE: &str = "issuer.key";
pub const PUBLIC_FILE: &str = "issuer.pub";

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} already exists; refusing to overwrite a signing key")]
    KeyExists(PathBuf),
    #[error("{path}: {reason}")]
    KeyMalformed { path: PathBuf, reason: String },
    #[error(transparent)]
    License(#[from] LicenseError),
    #[error(transparent)]
    Store(lisens_store::StoreError),
}

impl IssuerError {
    pub fn code(&self) -> &'static str {
        match self {
            IssuerError::Io { .. } => codes::FILE_UNREADABLE,
            IssuerError::KeyExists(_) => codes::ISSUER_KEY_EXISTS,
            IssuerError::KeyMalformed { .. } => codes::KEY_MALFORMED,
            IssuerError::License(e) => e.code(),
            IssuerError::Store(e) => e.code(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IssuerError + '_ {
    move |source| IssuerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates a new key pair in `dir`: `issuer.key` (mode 0600, never
/// overwritten) and `issuer.pub`.
pub fn keygen(dir: &Path) -> Result<SigningKey, IssuerError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let secret_path = dir.join(SECRET_FILE);
    let public_path = dir.join(PUBLIC_FILE);
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_seed(seed);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                IssuerError::KeyExists(secret_path.clone())
            } else {
                io(&secret_path)(e)
            }
        })?;
    file.write_all(key.to_text().as_bytes())
        .map_err(io(&secret_path))?;
    file.sync_all().map_err(io(&secret_path))?;
    fs::write(&public_path, key.public().to_text()).map_err(io(&public_path))?;
    Ok(key)
}

pub fn read_signing_key(path: &Path) -> Result<SigningKey, IssuerError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    SigningKey::parse(&text).map_err(|e| IssuerError::KeyMalformed {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

pub fn read_public_key(path: &Path) -> Result<PublicKey, IssuerError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    PublicKey::parse(&text).map_err(|e| IssuerError::KeyMalformed {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Signs the license a spec describes, issued now; without `force`, not a
/// license that has expired or plans beyond their modules' counts.
pub fn issue(spec: &str, key: &SigningKey, force: bool) -> Result<String, IssuerError> {
    Ok(content(spec, force)?.sign(key))
}

/// The license a spec describes, issued now, checked as [`issue`] checks it.
pub fn content(spec: &str, force: bool) -> Result<lisens_core::LicenseContent, IssuerError> {
    let now = time::OffsetDateTime::now_utc();
    let content = parse_spec(spec, now)?;
    let warnings = lisens_core::spec::issue_warnings(&content, now.date());
    if !warnings.is_empty() && !force {
        return Err(LicenseError::InvalidSpec(format!(
            "not signed: {}; sign it anyway with --force",
            warnings.join("; ")
        ))
        .into());
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let key = keygen(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            read_public_key(&dir.path().join(PUBLIC_FILE)).unwrap(),
            *key.public()
        );
        assert_eq!(
            read_signing_key(&dir.path().join(SECRET_FILE)).unwrap().public(),
            key.public()
        );
        let err = keygen(dir.path()).unwrap_err();
        assert_eq!(err.code(), codes::ISSUER_KEY_EXISTS);
        assert_eq!(
            read_signing_key(&dir.path().join(SECRET_FILE)).unwrap().public(),
            key.public()
        );
    }

    #[test]
    fn a_public_key_file_is_not_a_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        keygen(dir.path()).unwrap();
        let err = read_signing_key(&dir.path().join(PUBLIC_FILE)).unwrap_err();
        assert_eq!(err.code(), codes::KEY_MALFORMED);
        let err = read_signing_key(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.code(), codes::FILE_UNREADABLE);
    }
}
