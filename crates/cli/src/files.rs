//! The files and input the commands read and write: a password from standard
//! input, public key files, license files and specs (read size-capped at
//! `MAX_INPUT_BYTES` and as UTF-8), and license files written atomically.

use std::path::{Path, PathBuf};

use lisens_core::codes;
use lisens_core::PublicKey;

use crate::failure::Failure;

pub(crate) fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(codes::INVALID_INPUT, format!("cannot read the password: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < 8 {
        return Err(Failure::new(
            codes::PASSWORD_TOO_SHORT,
            "a password has at least 8 characters",
        ));
    }
    Ok(password)
}

pub(crate) fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| lisens_issuer::read_public_key(p).map_err(Failure::from))
        .collect()
}

/// License files and specs are small; a huge file is a mistake or an attack.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn read_text(path: &Path) -> Result<String, Failure> {
    let unreadable =
        |e: &dyn std::fmt::Display| Failure::new(codes::FILE_UNREADABLE, format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| unreadable(&e))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Failure::new(
            codes::FILE_TOO_LARGE,
            format!("{}: larger than {MAX_INPUT_BYTES} bytes", path.display()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(&e))?;
    String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            codes::FILE_NOT_UTF8,
            format!("{}: not UTF-8 text", path.display()),
        )
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves a
/// half-written license file behind.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::new(codes::FILE_UNWRITABLE, format!("{}: {e}", path.display()));
    let tmp = path.with_extension("lic.tmp");
    std::fs::write(&tmp, text).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}
