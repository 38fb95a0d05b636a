//! A cache of signature verdicts keyed by SHA-256 of (public key, signed
//! bytes, signature): re-reading unchanged rows costs a hash, not a signature
//! check, and any change to a row's bytes is a new key, so it is checked anew.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

#[derive(Default)]
pub(crate) struct VerdictCache {
    map: Mutex<HashMap<[u8; 32], bool>>,
    checks: AtomicU64,
}

/// Bounded so a database that changes all the time cannot grow it forever.
const MAX_ENTRIES: usize = 1_000_000;

impl VerdictCache {
    pub(crate) fn key(public_key: &[u8], signed: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [public_key, signed, signature] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<bool> {
        self.map.lock().expect("verdict cache lock").get(key).copied()
    }

    pub(crate) fn put_all(&self, entries: impl IntoIterator<Item = ([u8; 32], bool)>) {
        let mut map = self.map.lock().expect("verdict cache lock");
        for (k, v) in entries {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(k, v);
        }
    }

    pub(crate) fn count_checks(&self, n: usize) {
        self.checks.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}
