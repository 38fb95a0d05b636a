//! API tokens over HTTP, for administrators: list (never the secrets),
//! create (the secret is in the answer once, and nowhere else), revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::{TokenInfo, TokenScope};
use serde::{Deserialize, Serialize};

use crate::auth::AdminCaller;
use crate::error::{json_body, ApiError};
use crate::AppState;
use lisens_core::codes;

/// A token to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// What it is for (1 to 100 printable characters).
    name: String,
    /// `admin`, `check`, `metering`, `scim` or `metrics`.
    scope: String,
}

/// A token just created. `secret` is shown here once; only its SHA-256 is kept.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub secret: String,
}

/// Every token, newest first, without secrets.
#[utoipa::path(
    get, operation_id = "listTokens", path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The tokens (never their secrets)", body = Vec<TokenInfo>),
        crate::error::AuthProblems
    )
)]
pub async fn list(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.tokens().await?).into_response())
}

/// Creates a token; the answer carries its secret, once.
#[utoipa::path(
    post, operation_id = "createToken", path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created; keep the secret, it is not shown again", body = CreatedToken),
        (status = 400, description = "Bad name or scope (INVALID_INPUT, INVALID_BODY)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn create(
    _: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<NewTokenBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    let scope = TokenScope::parse(&b.scope)?;
    let token = state.store.create_token(&b.name, scope, rand::random()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: token.id,
            name: b.name,
            scope: scope.as_str().to_owned(),
            secret: token.secret.clone(),
        }),
    )
        .into_response())
}

/// Revokes a token: it stops working on every server process within a second.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Token id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live token with this id (NOT_FOUND)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
pub async fn revoke(
    _: AdminCaller,
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(codes::INVALID_INPUT, e.body_text()))?;
    state.store.revoke_token(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
