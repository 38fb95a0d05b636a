//! The license lifecycle over HTTP, for administrators (admin-scope tokens):
//! status, load from file (an upload), the pending license and its diff,
//! activate, remove excess licenses, holders, and the history.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_core::VerifiedLicense;
use lisens_store::{Actor, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::AdminCaller;
use crate::error::ApiError;
use crate::AppState;

pub async fn status(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.license_status().await?).into_response())
}

/// "Load license from file": the body is the license file's text.
pub async fn load(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("FILE_NOT_UTF8", "the license file is not UTF-8 text"))?;
    let keys = state.store.receiving_keys().await?;
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            "LICENSE_KEY_REQUIRED",
            "no trusted key yet: start the server with --public-key, or load the first license with the CLI",
        ));
    }
    let license = VerifiedLicense::verify(text, &keys).map_err(StoreError::from)?;
    let key = keys
        .iter()
        .find(|k| k.id() == license.key_id())
        .cloned()
        .expect("verify found the key");
    let received = state
        .store
        .receive_license(
            &license,
            &key,
            text,
            "file",
            Actor {
                name: &admin.actor,
                automatic: false,
            },
        )
        .await?;
    state.view.refresh().await?;
    Ok(Json(received).into_response())
}

pub async fn pending(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for owner in state.store.pending_owners().await? {
        out.extend(state.store.pending_license(&owner).await?);
    }
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    owner: String,
}

fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", e.body_text()))
}

pub async fn activate(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<OwnerBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    let diff = state
        .store
        .activate_pending(
            &b.owner,
            Actor {
                name: &admin.actor,
                automatic: false,
            },
        )
        .await?;
    state.view.refresh().await?;
    Ok(Json(json!({"result": "activated", "diff": diff})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveExcessBody {
    module: String,
    users: Vec<String>,
}

pub async fn remove_excess(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<RemoveExcessBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    if b.users.is_empty() || b.users.len() > 10_000 {
        return Err(ApiError::bad_request(
            "INVALID_BODY",
            "users: 1 to 10000 login names",
        ));
    }
    state
        .store
        .remove_excess(
            &b.module,
            &b.users,
            Actor {
                name: &admin.actor,
                automatic: false,
            },
        )
        .await?;
    state.view.refresh().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

pub async fn holders(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(module): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = page.map_err(|e| ApiError::bad_request("INVALID_QUERY", e.body_text()))?;
    if !(1..=1000).contains(&p.limit) || p.offset < 0 {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            "limit is 1 to 1000, offset at least 0",
        ));
    }
    let holders = state.store.module_holders(&module, p.offset, p.limit).await?;
    Ok(Json(json!({"offset": p.offset, "limit": p.limit, "items": holders})).into_response())
}

pub async fn history(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.license_events(200).await?).into_response())
}
