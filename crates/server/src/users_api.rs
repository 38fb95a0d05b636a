//! Users and their licenses over HTTP. Administrators manage everyone; an
//! ordinary user may read only their own licenses.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::{NewAssociate, Window};
use serde::Deserialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::{AdminCaller, UserCaller};
use crate::error::ApiError;
use crate::AppState;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request("INVALID_BODY", e.body_text()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request("INVALID_QUERY", e.body_text()))?;
    if !(1..=1000).contains(&p.limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit is 1 to 1000"));
    }
    let users = state.store.list_associates().await?;
    let total = users.len();
    let items: Vec<_> = users.into_iter().skip(p.offset).take(p.limit).collect();
    Ok(Json(json!({"offset": p.offset, "limit": p.limit, "total": total, "items": items})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    login: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    is_admin: bool,
    password: Option<String>,
}

pub async fn create(
    _: AdminCaller,
    State(state): State<AppState>,
    b: JsonBody<NewUser>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let password_hash = match b.password {
        None => None,
        Some(p) if p.chars().count() < 8 || p.len() > 1024 => {
            return Err(ApiError::bad_request(
                "PASSWORD_TOO_SHORT",
                "a password has 8 to 1024 characters",
            ))
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || crate::auth::hash_password(&p))
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "PASSWORD_HASH_FAILED",
                        "hashing failed",
                    )
                })?,
        ),
    };
    let full_name = if b.full_name.is_empty() {
        b.login.clone()
    } else {
        b.full_name
    };
    let new = NewAssociate {
        login_name: b.login.clone(),
        full_name,
        email: b.email,
        is_admin: b.is_admin,
        password_hash,
    };
    let id = state.store.create_associate(&new).await?;
    state.view.refresh().await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "login": b.login}))).into_response())
}

fn own(caller: &UserCaller, login: &str) -> Result<(), ApiError> {
    if caller.may_read(login) {
        Ok(())
    } else {
        Err(ApiError::forbidden("you may read only your own licenses"))
    }
}

pub async fn show(
    caller: UserCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    own(&caller, &login)?;
    let user = state.store.associate(&login).await?;
    let licenses = state.store.holdings(&login).await?;
    Ok(Json(json!({"user": user, "licenses": licenses})).into_response())
}

pub async fn licenses(
    caller: UserCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    own(&caller, &login)?;
    Ok(Json(state.store.holdings(&login).await?).into_response())
}

pub async fn deactivate(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    state.store.deactivate_associate(&login).await?;
    state.view.refresh().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    module: String,
    valid_from: Option<String>,
    valid_to: Option<String>,
}

fn time_of(v: Option<String>, what: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| {
        OffsetDateTime::parse(&s, &Rfc3339)
            .map_err(|_| ApiError::bad_request("INVALID_INPUT", format!("{what} is not RFC 3339")))
    })
    .transpose()
}

pub async fn assign(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
    b: JsonBody<AssignBody>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let window = Window {
        valid_from: time_of(b.valid_from, "valid_from")?,
        valid_to: time_of(b.valid_to, "valid_to")?,
    };
    state.store.assign_during(&login, &b.module, &window).await?;
    state.view.refresh().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unassign(
    _: AdminCaller,
    State(state): State<AppState>,
    Path((login, module)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.store.unassign(&login, &module).await?;
    state.view.refresh().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
