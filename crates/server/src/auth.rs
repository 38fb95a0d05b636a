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
            "NO_LOGIN_EVENT",
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
                "CSRF_FAILED",
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

/// Failed logins per account and per address in a sliding window; past the
/// limit, logins answer 429 until the window moves on.
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_FAILURES_PER_ACCOUNT: usize = 5;
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl LoginLimiter {
    fn keys(login: &str, addr: Option<IpAddr>) -> [(String, usize); 2] {
        [
            (
                format!("account:{}", login.to_lowercase()),
                MAX_FAILURES_PER_ACCOUNT,
            ),
            (
                format!("addr:{}", addr.map(|a| a.to_string()).unwrap_or_default()),
                MAX_FAILURES_PER_ADDRESS,
            ),
        ]
    }

    /// Seconds to wait when either key is over its limit.
    pub fn blocked(&self, login: &str, addr: Option<IpAddr>) -> Option<u64> {
        let mut map = self.failures.lock().expect("limiter lock");
        let now = Instant::now();
        let mut wait = None;
        for (key, max) in Self::keys(login, addr) {
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < LOGIN_WINDOW);
                if times.len() >= max {
                    let oldest = times[0];
                    let secs = (LOGIN_WINDOW - now.duration_since(oldest)).as_secs().max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn failed(&self, login: &str, addr: Option<IpAddr>) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() > 100_000 {
            // Forget only what has left the window: clearing everything would
            // let a flood of made-up logins reset real accounts' counters.
            let now = Instant::now();
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < LOGIN_WINDOW));
        }
        for (key, _) in Self::keys(login, addr) {
            map.entry(key).or_default().push(Instant::now());
        }
    }

    pub fn succeeded(&self, login: &str) {
        let key = format!("account:{}", login.to_lowercase());
        self.failures.lock().expect("limiter lock").remove(&key);
    }
}
