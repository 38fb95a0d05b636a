//! Logging in and out (`/api/v1/session`) and passwords. Shared by the JSON
//! API and the login page.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::{Associate, StoreError};
use serde::{Deserialize, Serialize};

use crate::auth::{self, AdminCaller, UserCaller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::AppState;
use lisens_core::codes;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub login: String,
    pub password: String,
}

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password("not a password anyone has").unwrap_or_default())
}

pub(crate) fn random_hex() -> String {
    let b: [u8; 32] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a login and starts a session. Administrators may always log in
/// (so a broken license never locks them out); everyone else needs what the
/// web client needs: active, login rights, `user` and `web`.
pub async fn log_in(
    state: &AppState,
    login: &str,
    password: &str,
    addr: Option<IpAddr>,
) -> Result<(Associate, String, String), ApiError> {
    let attempt = state
        .limiter
        .attempt(login, addr)
        .map_err(ApiError::rate_limited)?;
    let hash = match state.store.password_hash(login).await {
        Ok(h) => h,
        Err(StoreError::Invalid(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let password = password.to_owned();
    // An unknown login costs the same Argon2 work as a known one, so the
    // time of the answer does not tell which logins exist.
    let ok = auth::argon2_work(move |v| match hash {
        Some(h) => v.verify(&password, &h),
        None => {
            v.verify(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    if !ok {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::LOGIN_FAILED,
            "wrong login name or password",
        ));
    }
    attempt.succeeded();
    let user = state.store.associate(login).await?;
    if !*user.active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::USER_INACTIVE,
            "this user is deactivated",
        ));
    }
    if !*user.is_admin {
        let decision = state
            .view
            .get()
            .access
            .can_login(login, lisens_store::clock::now());
        if !decision.is_granted() {
            let code = decision.code().unwrap_or_default();
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                &code,
                "this user may not log in: see the code",
            ));
        }
    }
    let (secret, csrf) = (random_hex(), random_hex());
    state.store.create_session(user.id, &secret, &csrf).await?;
    Ok((user, secret, csrf))
}

pub fn session_cookie(state: &AppState, secret: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let max_age = lisens_store::SESSION_HOURS * 3600;
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("hex and fixed text make a valid header")
}

pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("lisens_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[utoipa::path(
    post, operation_id = "logIn", path = "/api/v1/session", tag = "session", request_body = LoginBody,
    responses(
        (status = 201, description = "Logged in; the session cookie is set", body = SessionInfo),
        (status = 429, description = "Too many failed logins from this address (RATE_LIMITED; Retry-After)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = crate::error::json_body(body)?;
    let (user, secret, csrf) = log_in(&state, &b.login, &b.password, Some(addr.ip())).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(&state, &secret));
    let body = SessionInfo {
        login: user.login_name,
        full_name: user.full_name,
        is_admin: *user.is_admin,
        csrf_token: csrf,
    };
    Ok((StatusCode::CREATED, headers, Json(body)).into_response())
}

#[utoipa::path(
    delete, operation_id = "logOut", path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Logged out; the cookie is cleared"))
)]
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(secret) = auth::cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(secret).await?;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear_cookie())]).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

fn check_new_password(p: &str) -> Result<(), ApiError> {
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(ApiError::bad_request(
            codes::PASSWORD_TOO_SHORT,
            "a password has 8 to 1024 characters",
        ));
    }
    Ok(())
}

/// A new password's hash: 8 to 1024 characters (400 `PASSWORD_TOO_SHORT`),
/// hashed in the Argon2 pool.
pub async fn new_password_hash(password: String) -> Result<String, ApiError> {
    check_new_password(&password)?;
    auth::argon2_work(move |_| auth::hash_password(&password))
        .await
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::PASSWORD_HASH_FAILED,
                "hashing failed",
            )
        })
}

async fn set_password(state: &AppState, login: &str, password: String) -> Result<(), ApiError> {
    let hash = new_password_hash(password).await?;
    state.store.set_password_hash(login, &hash).await?;
    Ok(())
}

/// A user changes their own password (and every session of theirs ends).
/// Wrong current passwords are throttled like logins, per the session's
/// account and the client's address, so a stolen session cannot guess it.
#[utoipa::path(
    post, path = "/api/v1/session/password", tag = "session", request_body = PasswordChange, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Changed; every session of the user ends"),
        (status = 429, description = "Too many wrong passwords (RATE_LIMITED; Retry-After)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn change_password(
    caller: UserCaller,
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Result<Json<PasswordChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = crate::error::json_body(body)?;
    let Some(session) = caller.session else {
        return Err(ApiError::bad_request(
            codes::SESSION_REQUIRED,
            "log in to change your own password",
        ));
    };
    let login = session.user.login_name.clone();
    let attempt = state
        .limiter
        .attempt(&login, Some(addr.ip()))
        .map_err(ApiError::rate_limited)?;
    let hash = state.store.password_hash(&login).await?;
    let current = b.current_password;
    let ok = auth::argon2_work(move |v| hash.is_some_and(|h| v.verify(&current, &h)))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::LOGIN_FAILED,
            "the current password is wrong",
        ));
    }
    attempt.succeeded();
    set_password(&state, &login, b.new_password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    password: String,
}

/// An administrator sets a user's password.
#[utoipa::path(
    post, path = "/api/v1/users/{login}/password", tag = "users", request_body = PasswordReset, security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name")),
    responses(
        (status = 204, description = "The password is set"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::BodyTooLarge
    )
)]
pub async fn reset_password(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
    body: Result<Json<PasswordReset>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = crate::error::json_body(body)?;
    set_password(&state, &login, b.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The session just started. Send `csrf_token` as `X-CSRF-Token` with every
/// state-changing request made with the session cookie.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub login: String,
    pub full_name: String,
    pub is_admin: bool,
    pub csrf_token: String,
}
