//! API errors as RFC 7807 `application/problem+json`, each with the same
//! stable `code` the CLI prints.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use lisens_core::codes;
use lisens_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    /// More members of the problem document (e.g. a batch's per-item `errors`).
    pub extra: Option<serde_json::Value>,
    /// Seconds for the `Retry-After` header (429 `RATE_LIMITED`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            extra: None,
            retry_after: None,
        }
    }

    /// 429 `RATE_LIMITED` with `Retry-After`: too many failed passwords.
    pub fn rate_limited(wait_secs: u64) -> Self {
        Self {
            retry_after: Some(wait_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!("too many failed passwords; try again in {wait_secs} s"),
            )
        }
    }

    pub fn unauthenticated(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHENTICATED, detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, detail)
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
}

/// The RFC 7807 problem document every API error is (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// The stable code, the same the CLI prints (`UNKNOWN_USER`, `INVALID_BODY`, ...).
    pub code: String,
    pub detail: String,
    /// A batch's per-item errors (metering ingest, bulk assignment).
    #[schema(nullable = false)]
    pub errors: Option<Vec<lisens_store::ItemError>>,
}

// Responses most API operations share, named once for the OpenAPI
// document (`responses(..., crate::error::AuthProblems)`). Never built.

/// 401 and 403.
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
pub enum AuthProblems {
    /// No or unknown credentials (UNAUTHENTICATED)
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The caller may not do this (FORBIDDEN)
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Bad input (code INVALID_BODY, INVALID_QUERY, INVALID_INPUT, ...)
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct BadInput(Problem);

/// The body is over the limit (BODY_TOO_LARGE)
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
#[response(status = 413, content_type = "application/problem+json")]
pub struct BodyTooLarge(Problem);

/// Unknown user, module or id
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct NotFound(Problem);

/// Refused by the license (count, prerequisite, read-only) or a duplicate
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
#[response(status = 409, content_type = "application/problem+json")]
pub struct Refused(Problem);

/// A body extractor's rejection as a problem: 413 `BODY_TOO_LARGE` past the
/// body limit, 400 `INVALID_BODY` otherwise.
fn body_problem(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::BODY_TOO_LARGE, text)
    } else {
        ApiError::bad_request(codes::INVALID_BODY, text)
    }
}

/// A JSON body, or the problem that explains why it is not one.
pub fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|axum::Json(b)| b)
        .map_err(|e| body_problem(e.status(), e.body_text()))
}

/// A raw body, or the problem that explains why there is none.
pub fn raw_body(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, ApiError> {
    body.map_err(|e| body_problem(e.status(), e.body_text()))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::DatabaseReadOnly(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::DatabaseInUse(_)
            | StoreError::LockFailed(_)
            | StoreError::LoginsCollide(_) => {
                tracing::error!("database error: {e}");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.code(),
                    "the database is unavailable",
                );
            }
            StoreError::UnknownUser(_)
            | StoreError::NotFound(_)
            | StoreError::NoPending(_)
            | StoreError::UnknownSerial(_) => StatusCode::NOT_FOUND,
            StoreError::License(_) | StoreError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::TooManyAssigned(_) | StoreError::Conflict | StoreError::BulkRefused(_) => {
                StatusCode::CONFLICT
            }
            StoreError::Duplicate(_)
            | StoreError::OwnerExists(_)
            | StoreError::Assign(_)
            | StoreError::ReadOnly
            | StoreError::LastAdministrator(_)
            | StoreError::EndsItself(_)
            | StoreError::MaintenanceExpired { .. } => StatusCode::CONFLICT,
            StoreError::BadUrl(_)
            | StoreError::Invalid(_)
            | StoreError::IssuerNotConfigured
            | StoreError::OwnerKeyMismatch { .. }
            | StoreError::BatchInvalid(_) => StatusCode::BAD_REQUEST,
            StoreError::KeyNotTrusted { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let extra = match &e {
            StoreError::BatchInvalid(items) | StoreError::BulkRefused(items) => {
                Some(json!({ "errors": items }))
            }
            _ => None,
        };
        Self {
            extra,
            ..Self::new(status, e.code(), e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let (Some(serde_json::Value::Object(extra)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.extend(extra);
        }
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        // Every 503 (overload, a timeout, a database error) is worth
        // retrying shortly: say when.
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(1));
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
