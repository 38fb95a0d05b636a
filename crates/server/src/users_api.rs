//! Users and their licenses over HTTP. Administrators manage everyone; an
//! ordinary user may read only their own licenses.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::{Assignment, NewAssociate, Window};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::{AdminCaller, UserCaller};
use crate::error::ApiError;
use crate::AppState;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

use crate::error::json_body as body;
use lisens_core::codes;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(
    get, operation_id = "listUsers", path = "/api/v1/users", tag = "users", params(Page), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        crate::error::BadInput, crate::error::AuthProblems
    )
)]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    if !(1..=1000).contains(&p.limit) {
        return Err(ApiError::bad_request(codes::INVALID_QUERY, "limit is 1 to 1000"));
    }
    let users = state.store.list_associates().await?;
    let total = users.len();
    let items: Vec<_> = users.into_iter().skip(p.offset).take(p.limit).collect();
    Ok(Json(UserPage {
        offset: p.offset,
        limit: p.limit,
        total,
        items,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
    post, operation_id = "createUser", path = "/api/v1/users", tag = "users", request_body = NewUser, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created", body = Created),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::Refused, crate::error::BodyTooLarge
    )
)]
pub async fn create(
    _: AdminCaller,
    State(state): State<AppState>,
    b: JsonBody<NewUser>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let password_hash = match b.password {
        None => None,
        Some(p) => Some(crate::session::new_password_hash(p).await?),
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
    Ok((StatusCode::CREATED, Json(Created { id, login: b.login })).into_response())
}

fn own(caller: &UserCaller, login: &str) -> Result<(), ApiError> {
    if caller.may_read(login) {
        Ok(())
    } else {
        Err(ApiError::forbidden("you may read only your own licenses"))
    }
}

#[utoipa::path(
    get, path = "/api/v1/users/{login}", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name")),
    responses(
        (status = 200, description = "The user and the licenses they hold", body = UserDetail),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound
    )
)]
pub async fn show(
    caller: UserCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    own(&caller, &login)?;
    let user = state.store.associate(&login).await?;
    let licenses = state.store.holdings(&login).await?;
    Ok(Json(UserDetail { user, licenses }).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/users/{login}/licenses", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name")),
    responses(
        (status = 200, description = "The licenses the user holds", body = Vec<lisens_store::Holding>),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound
    )
)]
pub async fn licenses(
    caller: UserCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    own(&caller, &login)?;
    Ok(Json(state.store.holdings(&login).await?).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/users/{login}/deactivate", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name")),
    responses(
        (status = 204, description = "Deactivated: may not log in; licenses released"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound
    )
)]
pub async fn deactivate(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    state.store.deactivate_associate(&login).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    module: String,
    valid_from: Option<String>,
    valid_to: Option<String>,
}

fn time_of(v: Option<String>, what: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| {
        OffsetDateTime::parse(&s, &Rfc3339)
            .map_err(|_| ApiError::bad_request(codes::INVALID_INPUT, format!("{what} is not RFC 3339")))
    })
    .transpose()
}

#[utoipa::path(
    post, path = "/api/v1/users/{login}/licenses", tag = "users", request_body = AssignBody, security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name")),
    responses(
        (status = 204, description = "Assigned (with the plan's set= modules)"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::Refused, crate::error::BodyTooLarge
    )
)]
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
    state
        .store
        .assign_during(&login, &b.module, &window)
        .await
        .inspect_err(|e| crate::metrics::global().refusal(e.code()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    delete, path = "/api/v1/users/{login}/licenses/{module}", tag = "users", security(("bearer" = []), ("session" = [])),
    params(("login" = String, Path, description = "Login name"), ("module" = String, Path, description = "Module name")),
    responses(
        (status = 204, description = "Unassigned (with plan-implied modules no longer needed)"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::Refused
    )
)]
pub async fn unassign(
    _: AdminCaller,
    State(state): State<AppState>,
    Path((login, module)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.store.unassign(&login, &module).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A page of users.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub offset: usize,
    pub limit: usize,
    pub total: usize,
    pub items: Vec<lisens_store::Associate>,
}

/// A created user.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Created {
    pub id: i64,
    pub login: String,
}

/// A user with the licenses they hold.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserDetail {
    pub user: lisens_store::Associate,
    pub licenses: Vec<lisens_store::Holding>,
}

/// What a bulk change does.
#[derive(Deserialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Assign,
    Unassign,
}

/// One change of a bulk request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    login: String,
    module: String,
    action: Action,
    /// RFC 3339; assign only.
    valid_from: Option<String>,
    /// RFC 3339; assign only.
    valid_to: Option<String>,
}

/// Up to 1,000 assign / unassign changes, applied in order, all or nothing.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    changes: Vec<BulkItem>,
}

/// How many changes a bulk request applied.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub applied: usize,
}

/// Assigns and unassigns licenses for many users in one transaction: either
/// every change is applied, or none is and each refused change is listed
/// (by index, with its code) in the problem's `errors`.
#[utoipa::path(
    post, path = "/api/v1/assignments", tag = "users", request_body = BulkBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Every change was applied", body = BulkResult),
        (status = 400, description = "Bad input; a malformed item is listed in errors (BATCH_INVALID)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Some changes were refused (BULK_REFUSED, listed in errors) or the license is read-only; nothing was changed", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn bulk(
    _: AdminCaller,
    State(state): State<AppState>,
    b: JsonBody<BulkBody>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let mut changes = Vec::with_capacity(b.changes.len());
    let mut errors = Vec::new();
    for (index, c) in b.changes.into_iter().enumerate() {
        let window = match c.action {
            Action::Unassign if c.valid_from.is_some() || c.valid_to.is_some() => Err(ApiError::bad_request(
                codes::INVALID_INPUT,
                "valid_from and valid_to are for assign",
            )),
            Action::Unassign => Ok(None),
            Action::Assign => time_of(c.valid_from, "valid_from")
                .and_then(|from| time_of(c.valid_to, "valid_to").map(|to| (from, to)))
                .map(|(valid_from, valid_to)| Some(Window { valid_from, valid_to })),
        };
        match window {
            Ok(window) => changes.push(Assignment {
                login: c.login,
                module: c.module,
                window,
            }),
            Err(e) => errors.push(lisens_store::ItemError {
                index,
                code: e.code,
                detail: e.detail,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(lisens_store::StoreError::BatchInvalid(errors).into());
    }
    let applied = state.store.change_all(&changes).await.inspect_err(|e| {
        if let lisens_store::StoreError::BulkRefused(items) = e {
            for item in items {
                crate::metrics::global().refusal(&item.code);
            }
        }
    })?;
    Ok(Json(BulkResult { applied }).into_response())
}
