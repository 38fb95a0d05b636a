//! The installation's clock: the system clock plus an offset the process may
//! be started with (`clock_offset_secs`, LISENS_CLOCK_OFFSET_SECS). Anyone who
//! runs the installation can move the system clock, so the offset gives an
//! attacker nothing new; the tests use it to move the clock the way an
//! attacker would, and the trust model (`lisens_core::trust`) must hold
//! either way.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

static OFFSET_SECS: AtomicI64 = AtomicI64::new(0);

/// Moves this process's clock by `secs` (negative: back).
pub fn set_offset_secs(secs: i64) {
    OFFSET_SECS.store(secs, Ordering::Relaxed);
}

/// The time now, as this installation sees it.
pub fn now() -> OffsetDateTime {
    let offset = OFFSET_SECS.load(Ordering::Relaxed);
    let now = OffsetDateTime::now_utc();
    if offset == 0 {
        now
    } else {
        now.saturating_add(time::Duration::seconds(offset))
    }
}
