//! Password hashing with Argon2id (the argon2 crate's defaults: 19 MiB,
//! 2 passes, 1 lane), as PHC strings. Pure: the caller supplies the random
//! salt. CPU-heavy: async callers run these off the executor.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;

/// Hashes a password with a 16-byte random salt from the caller.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a PHC hash; false for a malformed hash. Takes
/// the hash's working memory afresh; a [`Verifier`] keeps it.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Verifier::default().verify(password, hash)
}

/// The most working memory a stored hash may ask for: 256 MiB (the default
/// is 19 MiB), so an edited hash cannot make a login exhaust memory.
const MAX_BLOCKS: usize = 256 * 1024;

/// Verifies passwords, keeping Argon2's working memory (19 MiB with the
/// default parameters) from one call to the next. Allocating it per login
/// lets the allocator keep freed 19 MiB chunks around, fragmented, once a
/// flood of logins has passed (hundreds of MiB measured); a few long-lived
/// verifiers hold exactly their own.
#[derive(Default)]
pub struct Verifier {
    memory: Vec<argon2::Block>,
}

impl Verifier {
    /// Checks a password against a PHC hash (any Argon2 variant and
    /// version); false for a malformed hash. The comparison is constant-time.
    pub fn verify(&mut self, password: &str, hash: &str) -> bool {
        let Ok(h) = PasswordHash::new(hash) else {
            return false;
        };
        let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else {
            return false;
        };
        let Ok(params) = argon2::Params::try_from(&h) else {
            return false;
        };
        let version = match h.version.map(argon2::Version::try_from) {
            None => argon2::Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let blocks = params.block_count();
        if blocks > MAX_BLOCKS {
            return false;
        }
        if self.memory.len() < blocks {
            self.memory.resize(blocks, argon2::Block::default());
        }
        let mut out = [0u8; 64];
        let out = &mut out[..expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut self.memory[..blocks])
            .is_ok()
            && argon2::password_hash::Output::new(out).is_ok_and(|o| o == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse", [7; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn a_verifier_reuses_its_memory_and_agrees_with_the_argon2_crate() {
        let mut v = Verifier::default();
        for (i, pw) in ["correct horse", "åäö ünïcödé", ""].iter().enumerate() {
            let h = hash_password(pw, [i as u8; 16]).unwrap();
            let parsed = PasswordHash::new(&h).unwrap();
            assert!(Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok());
            assert!(v.verify(pw, &h));
            assert!(!v.verify("wrong", &h));
        }
        // Other variants and parameters from the PHC string, as the crate reads them.
        let argon2i =
            "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$Zj1vPXJNX8sZVcpbu9ZHIhQ/8G3e46tnp37/LRxaN4M";
        let crate_says = Argon2::default()
            .verify_password(b"password", &PasswordHash::new(argon2i).unwrap())
            .is_ok();
        assert_eq!(v.verify("password", argon2i), crate_says);
        // A hash asking for more than 256 MiB is refused, not computed.
        assert!(!v.verify(
            "x",
            "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
        assert!(v.memory.len() <= MAX_BLOCKS);
    }
}
