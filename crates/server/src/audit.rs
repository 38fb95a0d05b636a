//! The audit trail of the HTTP side: every state-changing request (POST,
//! PUT, PATCH, DELETE) that succeeded is recorded with who (the session's
//! user or the token's scope), from where (the client address), what (the
//! route template and its parameters) and the body with its secrets
//! removed. Being a layer over the whole router, a new route cannot be
//! forgotten. Metering batches are usage data, not changes, and are left out
//! (their raw events are kept for audit); so is the UI language choice.
//! `GET /api/v1/audit` reads it, `GET /api/v1/audit.csv` exports it.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::audit::{AuditEntry, AuditFilter, NewAudit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::{AdminCaller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::AppState;
use lisens_core::codes;

/// Routes whose writes are not changes worth a record.
const NOT_AUDITED: &[&str] = &["/api/v1/metering/events", "/language"];

/// Body members that are never stored.
const SECRET_KEYS: &[&str] = &[
    "password",
    "current_password",
    "new_password",
    "secret",
    "csrf",
    "token",
];

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    *val = Value::String("***".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// What of a body is kept: JSON and forms without their secrets; anything
/// else (a license file, an upload) by size and SHA-256.
fn describe(content_type: &str, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    if content_type.contains("json") {
        if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
            redact(&mut v);
            return v.to_string();
        }
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let fields: Vec<String> = form_urlencoded(body)
            .into_iter()
            .map(|(k, v)| {
                if SECRET_KEYS.contains(&k.as_str()) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        return fields.join("&");
    }
    format!(
        "{} bytes of {}, sha256 {:x}",
        body.len(),
        if content_type.is_empty() {
            "data"
        } else {
            content_type
        },
        Sha256::digest(body)
    )
}

fn form_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

/// Who is calling, for the record (never the secret itself).
async fn actor(headers: &axum::http::HeaderMap, state: &AppState) -> String {
    if let Some(secret) = crate::auth::bearer(headers) {
        return match state.view.get().token_scope(secret) {
            Some(scope) => format!("token:{}", scope.as_str()),
            None => "token:unknown".into(),
        };
    }
    if let Some(secret) = crate::auth::cookie(headers, SESSION_COOKIE) {
        if let Ok(Some(s)) = state.store.session(secret).await {
            return s.user.login_name;
        }
    }
    "anonymous".into()
}

/// Runs the request (`run` hands it to the route) and records it when it
/// changed something.
pub(crate) async fn record<F>(state: &AppState, req: Request, run: impl FnOnce(Request) -> F) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(route) = route.filter(|r| writes && !NOT_AUDITED.contains(&r.as_str())) else {
        return run(req).await;
    };
    let (parts, body) = req.into_parts();
    // The body is read here (within the server's limit) so it can be
    // recorded, then handed on unchanged.
    let bytes = match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::BODY_TOO_LARGE,
                "the body is over the limit",
            )
            .into_response()
        }
    };
    let who = actor(&parts.headers, state).await;
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let action = format!("{} {route}", parts.method);
    // The route's parameters, from the actual path against the template.
    let target = route
        .split('/')
        .zip(parts.uri.path().split('/'))
        .filter(|(t, _)| t.starts_with('{'))
        .map(|(t, v)| format!("{}={v}", t.trim_matches(['{', '}'])))
        .collect::<Vec<_>>()
        .join(" ");
    let detail = describe(&content_type, &bytes);
    let resp = run(Request::from_parts(parts, Body::from(bytes))).await;
    // A redirect after a form post (the UI's pattern) is a success too.
    if resp.status().is_success() || resp.status().is_redirection() {
        let entry = NewAudit {
            actor: who,
            address,
            action,
            target,
            detail,
        };
        if let Err(e) = state.store.record_audit(&entry).await {
            tracing::error!("recording the audit log: {e}");
        }
    }
    resp
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// At or after (RFC 3339).
    since: Option<String>,
    /// Only this actor (`anna`, `token:admin`, `cli:root`, `issuer`).
    actor: Option<String>,
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

/// A page of the audit log, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<AuditEntry>,
}

/// The page asked for and its filter (`since` parsed: any offset is compared
/// as the instant it names).
fn query(
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
    max: i64,
) -> Result<(AuditQuery, AuditFilter), ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    if !(1..=max).contains(&q.limit) || q.offset < 0 {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            format!("limit is 1 to {max}, offset at least 0"),
        ));
    }
    let since = q
        .since
        .as_deref()
        .map(|s| {
            lisens_store::stamp::parse_rfc3339(s)
                .ok_or_else(|| ApiError::bad_request(codes::INVALID_QUERY, "since is not RFC 3339"))
        })
        .transpose()?;
    let filter = AuditFilter {
        since,
        actor: q.actor.clone(),
    };
    Ok((q, filter))
}

/// Who changed what, when and from where: licenses, assignments, users,
/// tokens, system events.
#[utoipa::path(
    get, operation_id = "listAuditEntries", path = "/api/v1/audit", tag = "operations", params(AuditQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the audit log, newest first", body = AuditPage),
        (status = 400, description = "Bad query (INVALID_QUERY)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (q, filter) = query(q, 1000)?;
    let items = state.store.audit_log(&filter, q.offset, q.limit).await?;
    Ok(Json(AuditPage {
        offset: q.offset,
        limit: q.limit,
        items,
    })
    .into_response())
}

/// The audit log as CSV (up to 10,000 entries per request; page with offset).
#[utoipa::path(
    get, path = "/api/v1/audit.csv", tag = "operations", params(AuditQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "id,at,actor,address,action,target,detail", body = String, content_type = "text/csv"),
        (status = 400, description = "Bad query (INVALID_QUERY)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
pub async fn export(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (q, filter) = query(q, 10_000)?;
    let items = state.store.audit_log(&filter, q.offset, q.limit).await?;
    let csv = lisens_core::export::csv_table(
        &["id", "at", "actor", "address", "action", "target", "detail"],
        items.iter().map(|e| {
            vec![
                e.id.to_string(),
                e.at.clone(),
                e.actor.clone(),
                e.address.clone(),
                e.action.clone(),
                e.target.clone(),
                e.detail.clone(),
            ]
        }),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"lisens-audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
