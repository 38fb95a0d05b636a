//! Liveness and readiness, answered from memory. A background probe asks
//! the database every second (with a timeout) and keeps the result, so
//! neither endpoint waits behind the database or the write pool:
//!
//! - `/healthz` (liveness): 200 while the process serves. The access check
//!   answers from memory during a database outage, so a load balancer that
//!   routes checks keeps every node; the body says what the database's last
//!   probe found.
//! - `/readyz` (readiness): 200 while the last probe succeeded and is fresh,
//!   503 `DATABASE_UNAVAILABLE` with `Retry-After` otherwise: for routing
//!   what needs the database (the admin UI, changes).

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use lisens_store::Store;

/// How often the database is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// The longest a probe may take before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A probe older than this no longer counts as ready.
pub const PROBE_FRESH: Duration = Duration::from_secs(5);

/// The database's last probe.
#[derive(Debug, Clone)]
struct Last {
    ok: bool,
    at: Instant,
}

/// What the probe found, shared by every request.
#[derive(Debug)]
pub struct Probe {
    last: RwLock<Last>,
}

impl Probe {
    /// Probes once now, then every [`PROBE_EVERY`] until the store is gone.
    pub async fn start(store: &Arc<Store>) -> Arc<Self> {
        let probe = Arc::new(Probe {
            last: RwLock::new(Last {
                ok: false,
                at: Instant::now(),
            }),
        });
        probe.probe(store).await;
        let (weak_store, weak_probe): (Weak<Store>, Weak<Probe>) =
            (Arc::downgrade(store), Arc::downgrade(&probe));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(store), Some(probe)) = (weak_store.upgrade(), weak_probe.upgrade()) else {
                    return;
                };
                probe.probe(&store).await;
            }
        });
        probe
    }

    async fn probe(&self, store: &Store) {
        let ok = match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!("readiness: the database does not answer: {e}");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: the database took longer than {PROBE_TIMEOUT:?} to answer");
                false
            }
        };
        let mut last = self
            .last
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Last {
            ok,
            at: Instant::now(),
        };
    }

    /// Whether the database answered its last probe, lately.
    pub fn ready(&self) -> bool {
        let last = self
            .last
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        last.ok && last.at.elapsed() <= PROBE_FRESH
    }
}
