//! The vendor admin's HTTP Basic check. Browsers send the credentials with
//! every request, so a pair that verified is remembered for ten minutes (as
//! SHA-256 over the pair and the stored hash, so a changed password misses)
//! instead of running Argon2id (19 MiB, tens of milliseconds) for every page.
//! Verifications run at most one per CPU, each with a `Verifier` that keeps
//! its memory, so a flood of wrong passwords waits its turn instead of
//! taking 19 MiB each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lisens_core::password::Verifier;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long a verified pair is believed without Argon2.
pub const REMEMBER: Duration = Duration::from_secs(600);
/// Pairs remembered at most (one admin; a few browsers).
const REMEMBERED: usize = 64;

pub struct AdminCheck {
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    verifiers: Mutex<Vec<Verifier>>,
    slots: Semaphore,
    argon2_runs: AtomicU64,
}

impl Default for AdminCheck {
    fn default() -> Self {
        Self {
            verified: Mutex::default(),
            verifiers: Mutex::default(),
            slots: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            argon2_runs: AtomicU64::new(0),
        }
    }
}

impl AdminCheck {
    /// Whether `user`/`password` is the admin with the stored `hash`.
    pub async fn check(&self, user: &str, password: &str, hash: &str) -> bool {
        if user != "admin" {
            return false;
        }
        let mut digest = Sha256::new();
        for part in [password, hash] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        let key: [u8; 32] = digest.finalize().into();
        let remembered = self
            .verified
            .lock()
            .expect("admin cache")
            .get(&key)
            .is_some_and(|at| at.elapsed() < REMEMBER);
        if remembered {
            return true;
        }
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        let mut verifier = self
            .verifiers
            .lock()
            .expect("verifiers")
            .pop()
            .unwrap_or_default();
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let Ok((verifier, ok)) = tokio::task::spawn_blocking(move || {
            let ok = verifier.verify(&password, &hash);
            (verifier, ok)
        })
        .await
        else {
            return false;
        };
        self.verifiers.lock().expect("verifiers").push(verifier);
        if ok {
            let mut verified = self.verified.lock().expect("admin cache");
            if verified.len() >= REMEMBERED {
                verified.retain(|_, at| at.elapsed() < REMEMBER);
                if verified.len() >= REMEMBERED {
                    verified.clear();
                }
            }
            verified.insert(key, Instant::now());
        }
        ok
    }

    /// Argon2 verifications run so far (for tests).
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }

    /// Verifiers kept (at most one per CPU).
    pub fn verifiers_kept(&self) -> usize {
        self.verifiers.lock().expect("verifiers").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verified_pair_is_remembered_until_the_password_changes() {
        let check = AdminCheck::default();
        let hash = lisens_core::password::hash_password("vendor secret", [1; 16]).unwrap();
        for _ in 0..10 {
            assert!(check.check("admin", "vendor secret", &hash).await);
        }
        assert_eq!(check.argon2_runs(), 1, "one Argon2 run for ten pages");
        assert!(!check.check("admin", "wrong", &hash).await);
        assert!(!check.check("root", "vendor secret", &hash).await);
        assert_eq!(
            check.argon2_runs(),
            2,
            "a wrong password is checked; a wrong user is not"
        );
        // The password changed: the stored hash differs, the old pair fails.
        let new_hash = lisens_core::password::hash_password("new secret", [2; 16]).unwrap();
        assert!(!check.check("admin", "vendor secret", &new_hash).await);
        assert!(check.check("admin", "new secret", &new_hash).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_passwords_keeps_one_verifier_per_cpu() {
        let check = std::sync::Arc::new(AdminCheck::default());
        let hash = lisens_core::password::hash_password("vendor secret", [1; 16]).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (check, hash) = (check.clone(), hash.clone());
                tokio::spawn(async move { check.check("admin", &format!("guess {i}"), &hash).await })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.unwrap());
        }
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert!(
            check.verifiers_kept() <= cpus,
            "{} verifiers",
            check.verifiers_kept()
        );
        assert_eq!(check.argon2_runs(), 16);
    }
}
