//! Who is calling: an API token (by scope) or a web session (by role), and
//! the extractors that say in a handler's signature who may call it.
//! Passwords are Argon2id; session cookies are HttpOnly, SameSite=Lax and
//! Secure when configured; a state-changing request made with a session
//! cookie must carry the session's CSRF token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use lisens_store::{Session, TokenScope};

use crate::error::ApiError;
use crate::AppState;
use lisens_core::codes;

/// Hashes a password with Argon2id and a fresh random salt. CPU-heavy: call
/// it off the async executor.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    lisens_core::password::hash_password(password, rand::random())
}

pub use lisens_core::password::{verify_password, Verifier};

type Argon2Job = Box<dyn FnOnce(&mut Verifier) + Send>;

/// Runs Argon2 work (a hash or a verification: tens of milliseconds of CPU
/// and 19 MiB of memory each) on a few dedicated threads, one per CPU, each
/// keeping its `Verifier`'s memory. A burst of logins waits its turn
/// instead of taking 19 MiB each at once, so memory stays bounded however
/// many arrive (the request timeout bounds the wait). `None` if the work
/// panicked.
pub async fn argon2_work<T: Send + 'static>(
    work: impl FnOnce(&mut Verifier) -> T + Send + 'static,
) -> Option<T> {
    static POOL: std::sync::LazyLock<std::sync::mpsc::Sender<Argon2Job>> = std::sync::LazyLock::new(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Argon2Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut verifier = Verifier::default();
                    loop {
                        let job = rx.lock().expect("argon2 queue").recv();
                        let Ok(job) = job else { return };
                        // A panicking job answers None; the thread stays.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut verifier)));
                    }
                })
                .expect("an argon2 thread");
        }
        tx
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    POOL.send(Box::new(move |v| {
        let _ = tx.send(work(v));
    }))
    .ok()?;
    rx.await.ok()
}

pub const SESSION_COOKIE: &str = "lisens_session";

/// The caller of a request.
pub enum Principal {
    Token(TokenScope),
    Session(Box<Session>),
}

/// The secret of an `Authorization: Bearer TOKEN` header, trimmed.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session behind the request's cookie, if it is live and its user
/// active. A user kept out by an active No Login event is logged out here,
/// at their next request.
pub(crate) async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.store.session(secret).await?.filter(|s| *s.user.active) else {
        return Ok(None);
    };
    if !*session.user.is_admin && state.view.get().access.login_blocked(&session.user.login_name) {
        state.store.delete_session(secret).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::NO_LOGIN_EVENT,
            "logins are closed by an administrator (No Login); you have been logged out",
        ));
    }
    Ok(Some(session))
}

async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        let secret = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthenticated("the Authorization header must be: Bearer TOKEN"))?;
        return state
            .view
            .get()
            .token_scope(secret)
            .map(Principal::Token)
            .ok_or_else(|| ApiError::unauthenticated("unknown or revoked API token"));
    }
    let session = session_of(parts, state).await?.ok_or_else(|| {
        ApiError::unauthenticated("log in, or send an API token (Authorization: Bearer TOKEN)")
    })?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(sent, &session.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::CSRF_FAILED,
                "a request made with the session cookie needs the X-CSRF-Token header",
            ));
        }
    }
    Ok(Principal::Session(Box::new(session)))
}

pub(crate) use lisens_core::constant_time_eq;

/// A caller allowed to run access checks: a `check` or `admin` token, or an
/// administrator's session.
pub struct CheckCaller;

impl FromRequestParts<AppState> for CheckCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Token(TokenScope::Admin | TokenScope::Check) => Ok(CheckCaller),
            Principal::Session(s) if *s.user.is_admin => Ok(CheckCaller),
            _ => Err(ApiError::forbidden(
                "access checks need a check or admin token, or an administrator",
            )),
        }
    }
}

/// A program reporting usage: a `metering` or `admin` token.
pub struct MeteringCaller;

impl FromRequestParts<AppState> for MeteringCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Token(TokenScope::Admin | TokenScope::Metering) => Ok(MeteringCaller),
            _ => Err(ApiError::forbidden(
                "usage ingest needs a metering or admin token",
            )),
        }
    }
}

/// A metrics scraper: a `metrics` or `admin` token, or an administrator.
pub struct MetricsCaller;

impl FromRequestParts<AppState> for MetricsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Token(TokenScope::Admin | TokenScope::Metrics) => Ok(MetricsCaller),
            Principal::Session(s) if *s.user.is_admin => Ok(MetricsCaller),
            _ => Err(ApiError::forbidden(
                "metrics need a metrics or admin token, or an administrator",
            )),
        }
    }
}

/// An administrator: an `admin` token, or an administrator's session.
pub struct AdminCaller {
    /// Who, for the record ("api" for tokens).
    pub actor: String,
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Token(TokenScope::Admin) => Ok(AdminCaller { actor: "api".into() }),
            Principal::Session(s) if *s.user.is_admin => Ok(AdminCaller {
                actor: s.user.login_name.clone(),
            }),
            Principal::Token(other) => Err(ApiError::forbidden(&format!(
                "a token with scope {} may not do this",
                other.as_str()
            ))),
            Principal::Session(_) => Err(ApiError::forbidden("only administrators may do this")),
        }
    }
}

/// Any logged-in user (their own data only), or an admin token.
pub struct UserCaller {
    /// None for an admin token.
    pub session: Option<Box<Session>>,
}

impl UserCaller {
    pub fn is_admin(&self) -> bool {
        self.session.as_ref().is_none_or(|s| *s.user.is_admin)
    }

    /// May this caller read `login`'s data?
    pub fn may_read(&self, login: &str) -> bool {
        self.is_admin()
            || self
                .session
                .as_ref()
                .is_some_and(|s| s.user.login_name.eq_ignore_ascii_case(login))
    }
}

impl FromRequestParts<AppState> for UserCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state).await? {
            Principal::Token(TokenScope::Admin) => Ok(UserCaller { session: None }),
            Principal::Token(other) => Err(ApiError::forbidden(&format!(
                "a token with scope {} may not do this",
                other.as_str()
            ))),
            Principal::Session(s) => Ok(UserCaller { session: Some(s) }),
        }
    }
}

/// Password guesses, throttled without locking anyone out. Failures are
/// counted per (account, client address) pair and per address across
/// accounts; past a few free failures each key waits a delay that doubles
/// with every further failure (1 s, 2 s, 4 s, ... at most
/// [`MAX_DELAY`]). A key is forgotten [`FORGET_AFTER`] after its last
/// failure, and a right password clears its pair. There is no per-account
/// key, so failures from one address never delay the right password for
/// the same account from another address.
///
/// An attempt counts as a failure from the moment it is let through until
/// it is known to have succeeded ([`Attempt::succeeded`]), so guesses sent
/// in parallel are throttled like guesses sent one after another. Memory is
/// bounded: each map holds at most [`MAX_KEYS`] keys, and when one is full
/// the forgotten keys go first, then those with the fewest failures (a
/// flood of made-up logins cannot push out the keys that are throttling).
pub struct LoginLimiter {
    keys: Mutex<Keys>,
}

/// Failures per (account, address) pair that cost nothing.
pub const FREE_PER_PAIR: u32 = 5;
/// Failures per address, over all accounts, that cost nothing.
pub const FREE_PER_ADDRESS: u32 = 20;
/// The first delay; each further failure doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// A key without a failure for this long starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most keys each map holds.
pub const MAX_KEYS: usize = 50_000;

/// A client address as throttled: an IPv6 client usually holds a whole
/// /64, so its addresses count as one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct AddrKey(u128);

impl AddrKey {
    fn of(addr: Option<IpAddr>) -> Self {
        match addr.map(|a| a.to_canonical()) {
            None => Self(0),
            Some(IpAddr::V4(v4)) => Self(u128::from(u32::from(v4))),
            Some(IpAddr::V6(v6)) => Self(u128::from(v6) & !((1u128 << 64) - 1)),
        }
    }
}

/// An account name as throttled: a fixed-size digest of the lower-case
/// name, so a key's size does not depend on what a client sends.
type AccountKey = [u8; 16];

fn account_key(login: &str) -> AccountKey {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(lisens_core::LoginName::fold(login).as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[derive(Clone, Copy)]
struct Count {
    failures: u32,
    /// Let through, not yet known to have succeeded: counted as failures.
    pending: u32,
    last: Instant,
}

impl Count {
    /// How long from `now` until the next attempt may go through.
    fn wait(&self, free: u32, now: Instant) -> Duration {
        let n = self.failures.saturating_add(self.pending);
        if n < free {
            return Duration::ZERO;
        }
        let delay = FIRST_DELAY
            .checked_mul(1u32 << (n - free).min(20))
            .map_or(MAX_DELAY, |d| d.min(MAX_DELAY));
        delay.saturating_sub(now.saturating_duration_since(self.last))
    }

    fn forgotten(&self, now: Instant) -> bool {
        self.pending == 0 && now.saturating_duration_since(self.last) >= FORGET_AFTER
    }
}

struct Keys {
    pairs: HashMap<(AccountKey, AddrKey), Count>,
    addresses: HashMap<AddrKey, Count>,
}

/// Makes room for one more key: the forgotten ones go, then (down to
/// three quarters full) those with the fewest failures, oldest first.
fn make_room<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Count>, now: Instant) {
    if map.len() < MAX_KEYS {
        return;
    }
    map.retain(|_, c| !c.forgotten(now));
    if map.len() < MAX_KEYS * 3 / 4 {
        return;
    }
    let mut idle: Vec<(u32, Instant, K)> = map
        .iter()
        .filter(|(_, c)| c.pending == 0)
        .map(|(k, c)| (c.failures, c.last, k.clone()))
        .collect();
    idle.sort_unstable_by_key(|(failures, last, _)| (*failures, *last));
    let excess = map.len() - MAX_KEYS * 3 / 4;
    for (_, _, k) in idle.into_iter().take(excess) {
        map.remove(&k);
    }
}

fn entry<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Count>, key: K, now: Instant) -> &mut Count {
    if !map.contains_key(&key) {
        make_room(map, now);
    }
    let count = map.entry(key).or_insert(Count {
        failures: 0,
        pending: 0,
        last: now,
    });
    if count.forgotten(now) {
        count.failures = 0;
    }
    count
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            keys: Mutex::new(Keys {
                pairs: HashMap::new(),
                addresses: HashMap::new(),
            }),
        }
    }
}

/// One password check let through by [`LoginLimiter::attempt`]. Dropped
/// without [`Attempt::succeeded`] (a wrong password, or a request that
/// ended early), it counts as a failure.
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    pair: (AccountKey, AddrKey),
    succeeded: bool,
}

impl Attempt<'_> {
    /// The password was right: the pair starts afresh, and the attempt
    /// does not count against the address.
    pub fn succeeded(mut self) {
        self.succeeded = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut guard = self.limiter.lock();
        let keys = &mut *guard;
        if let Some(c) = keys.pairs.get_mut(&self.pair) {
            c.pending = c.pending.saturating_sub(1);
            if self.succeeded {
                c.failures = 0;
            } else {
                c.failures = c.failures.saturating_add(1);
                c.last = now;
            }
        }
        if let Some(c) = keys.addresses.get_mut(&self.pair.1) {
            c.pending = c.pending.saturating_sub(1);
            if !self.succeeded {
                c.failures = c.failures.saturating_add(1);
                c.last = now;
            }
        }
    }
}

impl LoginLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        // The maps stay consistent whatever panicked while holding them.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets one password check for `login` from `addr` through, or says
    /// how many seconds to wait first (at least 1).
    pub fn attempt(&self, login: &str, addr: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let pair = (account_key(login), AddrKey::of(addr));
        let mut guard = self.lock();
        let keys = &mut *guard;
        let wait = entry(&mut keys.pairs, pair, now)
            .wait(FREE_PER_PAIR, now)
            .max(entry(&mut keys.addresses, pair.1, now).wait(FREE_PER_ADDRESS, now));
        if !wait.is_zero() {
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        for c in [keys.pairs.get_mut(&pair), keys.addresses.get_mut(&pair.1)]
            .into_iter()
            .flatten()
        {
            c.pending = c.pending.saturating_add(1);
            c.last = now;
        }
        Ok(Attempt {
            limiter: self,
            pair,
            succeeded: false,
        })
    }

    /// How many keys are held (pairs, addresses).
    pub fn held(&self) -> (usize, usize) {
        let keys = self.lock();
        (keys.pairs.len(), keys.addresses.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn delays_grow_per_pair_and_never_block_another_address() {
        let l = LoginLimiter::default();
        for _ in 0..FREE_PER_PAIR {
            drop(l.attempt("admin", ip("192.0.2.1")).unwrap());
        }
        assert_eq!(l.attempt("Admin", ip("192.0.2.1")).err(), Some(1));
        l.attempt("admin", ip("198.51.100.7")).unwrap().succeeded();
        drop(l.attempt("someone", ip("192.0.2.1")).unwrap());
        // Each further failure doubles the delay, up to the most.
        let mut c = Count {
            failures: FREE_PER_PAIR,
            pending: 0,
            last: Instant::now(),
        };
        let now = c.last;
        assert_eq!(c.wait(FREE_PER_PAIR, now), Duration::from_secs(1));
        c.failures += 3;
        assert_eq!(c.wait(FREE_PER_PAIR, now), Duration::from_secs(8));
        c.failures = u32::MAX;
        assert_eq!(c.wait(FREE_PER_PAIR, now), MAX_DELAY);
        assert_eq!(c.wait(FREE_PER_PAIR, now + MAX_DELAY), Duration::ZERO);
    }

    #[test]
    fn attempts_in_flight_count_and_a_right_password_clears_the_pair() {
        let l = LoginLimiter::default();
        let held: Vec<_> = (0..FREE_PER_PAIR)
            .map(|_| l.attempt("admin", ip("192.0.2.1")).unwrap())
            .collect();
        assert!(l.attempt("admin", ip("192.0.2.1")).is_err(), "in flight counts");
        for a in held {
            a.succeeded();
        }
        for _ in 0..FREE_PER_PAIR {
            drop(l.attempt("admin", ip("192.0.2.1")).unwrap());
        }
        assert!(l.attempt("admin", ip("192.0.2.1")).is_err());
    }

    #[test]
    fn an_address_is_capped_across_accounts_and_ipv6_counts_per_64() {
        let l = LoginLimiter::default();
        for i in 0..FREE_PER_ADDRESS {
            drop(
                l.attempt(&format!("u{i}"), ip(&format!("2001:db8::{i:x}")))
                    .unwrap(),
            );
        }
        assert!(l.attempt("new", ip("2001:db8::ffff")).is_err());
        assert!(l.attempt("new", ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn a_flood_of_made_up_logins_stays_bounded_and_keeps_the_throttled_keys() {
        let l = LoginLimiter::default();
        // An attack well under way: its pair waits half a minute.
        l.lock().pairs.insert(
            (account_key("admin"), AddrKey::of(ip("192.0.2.1"))),
            Count {
                failures: FREE_PER_PAIR + 5,
                pending: 0,
                last: Instant::now(),
            },
        );
        for i in 0..(MAX_KEYS as u32 * 2) {
            drop(l.attempt(&format!("x{i}"), Some(IpAddr::from(((i + 1) << 8).to_be_bytes()))));
        }
        let (pairs, addresses) = l.held();
        assert!(pairs <= MAX_KEYS && addresses <= MAX_KEYS, "{pairs} {addresses}");
        assert!(l.attempt("admin", ip("192.0.2.1")).is_err(), "still throttled");
    }
}
