//! System events over HTTP: the flags the CRM's components read, and the
//! events administrators list, add and end.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_core::codes;
use lisens_core::events::{EventKey, EventScope, EventStatus, Flags};
use lisens_store::{EventFilter, NewEvent};
use serde::{Deserialize, Serialize};

use crate::auth::{AdminCaller, CheckCaller};
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/v1/system-events/flags`: No Login, No Freetext, No Travel.
#[utoipa::path(
    get, path = "/api/v1/system-events/flags", tag = "system events", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "No Login, No Freetext, No Travel", body = lisens_core::events::Flags),
        crate::error::AuthProblems
    )
)]
pub async fn flags(_: CheckCaller, State(state): State<AppState>) -> Json<Flags> {
    Json(Flags::of(&state.view.get().access.events))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    scope: Option<String>,
    since: Option<String>,
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(codes::INVALID_INPUT, e.to_string())
}

#[utoipa::path(
    get, operation_id = "listSystemEvents", path = "/api/v1/system-events", tag = "system events", params(ListQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of system events", body = EventPage),
        crate::error::BadInput, crate::error::AuthProblems
    )
)]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    if !(1..=1000).contains(&q.limit) || q.offset < 0 {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "limit is 1 to 1000, offset at least 0",
        ));
    }
    let filter = EventFilter {
        status: q
            .status
            .as_deref()
            .map(EventStatus::parse)
            .transpose()
            .map_err(bad)?,
        scope: q
            .scope
            .as_deref()
            .map(EventScope::parse)
            .transpose()
            .map_err(bad)?,
        since: q
            .since
            .as_deref()
            .map(|s| {
                lisens_store::stamp::parse_rfc3339(s)
                    .ok_or_else(|| ApiError::bad_request(codes::INVALID_QUERY, "since is not RFC 3339"))
            })
            .transpose()?,
    };
    let items = state.store.events(&filter, q.offset, q.limit).await?;
    Ok(Json(EventPage {
        offset: q.offset,
        limit: q.limit,
        items,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    key: String,
    #[serde(default = "system_scope")]
    scope: String,
    target: Option<String>,
    message: String,
    #[serde(default)]
    description: String,
    eta: Option<String>,
}

fn system_scope() -> String {
    "system".into()
}

#[utoipa::path(
    post, path = "/api/v1/system-events", tag = "system events", request_body = AddBody, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Added", body = CreatedId),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn add(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<AddBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = crate::error::json_body(body)?;
    let event = NewEvent {
        key: EventKey::parse_admin(&b.key).map_err(bad)?,
        scope: EventScope::parse(&b.scope).map_err(bad)?,
        target: b.target,
        message: b.message,
        description: b.description,
        eta: b.eta,
        activated_by: admin.actor,
    };
    let id = state.store.add_event(&event).await?;
    Ok((StatusCode::CREATED, Json(CreatedId { id })).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndBody {
    #[serde(default = "finished")]
    status: String,
}

fn finished() -> String {
    "finished".into()
}

#[utoipa::path(
    post, path = "/api/v1/system-events/{id}/end", tag = "system events", security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "Event id")),
    request_body(content = Option<EndBody>, description = "Optional; the default status is finished"),
    responses(
        (status = 204, description = "Ended"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::BodyTooLarge,
        crate::error::Refused
    )
)]
pub async fn end(
    _: AdminCaller,
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(codes::INVALID_INPUT, e.body_text()))?;
    // The body is optional; when given it must be an EndBody.
    let body = crate::error::raw_body(body)?;
    let status = if body.iter().all(u8::is_ascii_whitespace) {
        finished()
    } else {
        serde_json::from_slice::<EndBody>(&body)
            .map_err(|e| ApiError::bad_request(codes::INVALID_BODY, e.to_string()))?
            .status
    };
    let status = EventStatus::parse(&status).map_err(bad)?;
    state.store.end_event_by_hand(id, status).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A page of system events.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<lisens_store::SystemEvent>,
}

/// The id of what was created.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedId {
    pub id: i64,
}
