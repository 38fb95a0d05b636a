//! Passwords (Argon2id) and API token callers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lisens_store::TokenScope;

use crate::error::ApiError;
use crate::AppState;

/// Hashes a password with Argon2id and a fresh random salt. CPU-heavy: call
/// it off the async executor.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    lisens_core::password::hash_password(password, rand::random())
}

pub use lisens_core::password::verify_password;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("an API token is required (Authorization: Bearer TOKEN)"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthenticated("the Authorization header must be: Bearer TOKEN"))
}

fn token_scope(parts: &Parts, state: &AppState) -> Result<TokenScope, ApiError> {
    let secret = bearer(parts)?;
    state
        .view
        .get()
        .token_scope(secret)
        .ok_or_else(|| ApiError::unauthenticated("unknown or revoked API token"))
}

/// A caller allowed to run access checks: a token with scope `check` or `admin`.
pub struct CheckCaller;

impl FromRequestParts<AppState> for CheckCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match token_scope(parts, state)? {
            TokenScope::Admin | TokenScope::Check => Ok(CheckCaller),
        }
    }
}

/// A caller with administrator rights: a token with scope `admin`.
pub struct AdminCaller;

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match token_scope(parts, state)? {
            TokenScope::Admin => Ok(AdminCaller),
            other => Err(ApiError::forbidden(&format!(
                "a token with scope {} may not do this",
                other.as_str()
            ))),
        }
    }
}
