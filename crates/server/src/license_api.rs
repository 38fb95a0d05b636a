//! The license lifecycle over HTTP, for administrators (admin-scope tokens):
//! status, load from file (an upload), the pending license and its diff,
//! activate, remove excess licenses, holders, and the history.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_core::codes;
use lisens_core::VerifiedLicense;
use lisens_store::{Actor, StoreError};
use serde::Deserialize;
use serde::Serialize;

use crate::auth::AdminCaller;
use crate::error::ApiError;
use crate::AppState;

#[utoipa::path(
    get, path = "/api/v1/license/status", tag = "license", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Owners, modules with in use / available, user counts, and the licenses waiting for an administrator", body = lisens_store::LicenseReport),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
pub async fn status(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.license_report().await?).into_response())
}

/// "Load license from file": the body is the license file's text.
#[utoipa::path(
    post, path = "/api/v1/license/file", tag = "license", security(("bearer" = []), ("session" = [])),
    request_body(content = String, content_type = "text/plain", description = "The license file's text (armored)"),
    responses(
        (status = 200, description = "Activated, or pending an administrator's confirmation", body = lisens_store::Received),
        (status = 422, description = "The license file or the license itself is refused", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::Refused, crate::error::BodyTooLarge
    )
)]
pub async fn load(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = crate::error::raw_body(body)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request(codes::FILE_NOT_UTF8, "the license file is not UTF-8 text"))?;
    let keys = state.store.receiving_keys().await?;
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            codes::LICENSE_KEY_REQUIRED,
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
    Ok(Json(received).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/license/pending", tag = "license", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Licenses waiting for activation, with their diffs", body = Vec<lisens_store::PendingLicense>),
        crate::error::AuthProblems
    )
)]
pub async fn pending(_: AdminCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for owner in state.store.pending_owners().await? {
        out.extend(state.store.pending_license(&owner).await?);
    }
    Ok(Json(out).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    owner: String,
}

use crate::error::json_body;

#[utoipa::path(
    post, path = "/api/v1/license/activate", tag = "license", security(("bearer" = []), ("session" = [])),
    request_body = OwnerBody,
    responses(
        (status = 200, description = "The pending license is now active", body = Activated),
        (status = 422, description = "The license file or the license itself is refused", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::Refused, crate::error::BodyTooLarge
    )
)]
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
    Ok(Json(Activated {
        result: "activated".into(),
        diff,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveExcessBody {
    module: String,
    users: Vec<String>,
}

#[utoipa::path(
    post, path = "/api/v1/license/remove-excess", tag = "license", security(("bearer" = []), ("session" = [])),
    request_body = RemoveExcessBody,
    responses(
        (status = 204, description = "The users no longer hold the module (all or none)"),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound, crate::error::Refused, crate::error::BodyTooLarge
    )
)]
pub async fn remove_excess(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<RemoveExcessBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    if b.users.is_empty() || b.users.len() > 10_000 {
        return Err(ApiError::bad_request(
            codes::INVALID_BODY,
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
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

/// A valid page: limit 1 to 1000, offset at least 0 (400 `INVALID_QUERY`).
fn page_of(page: Result<Query<Page>, axum::extract::rejection::QueryRejection>) -> Result<Page, ApiError> {
    let Query(p) = page.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    if !(1..=1000).contains(&p.limit) || p.offset < 0 {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            "limit is 1 to 1000, offset at least 0",
        ));
    }
    Ok(p)
}

fn default_limit() -> i64 {
    100
}

#[utoipa::path(
    get, path = "/api/v1/modules/{module}/holders", tag = "license", security(("bearer" = []), ("session" = [])),
    params(("module" = String, Path, description = "Module name"), Page),
    responses(
        (status = 200, description = "A page of the module's holders", body = HolderPage),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::NotFound
    )
)]
pub async fn holders(
    _: AdminCaller,
    State(state): State<AppState>,
    Path(module): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = page_of(page)?;
    if state.store.license_status().await?.module(&module).is_none() {
        return Err(
            lisens_store::StoreError::NotFound(format!("no module {module:?} in the license")).into(),
        );
    }
    let holders = state.store.module_holders(&module, p.offset, p.limit).await?;
    Ok(Json(HolderPage {
        offset: p.offset,
        limit: p.limit,
        items: holders,
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/license/history", tag = "license", params(Page), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the license events, newest first", body = HistoryPage),
        (status = 400, description = "Bad query (INVALID_QUERY)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
pub async fn history(
    _: AdminCaller,
    State(state): State<AppState>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = page_of(page)?;
    let items = state.store.license_events_page(p.offset, p.limit).await?;
    Ok(Json(HistoryPage {
        offset: p.offset,
        limit: p.limit,
        items,
    })
    .into_response())
}

/// A pending license that is now active.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Activated {
    /// Always `activated`.
    pub result: String,
    pub diff: lisens_core::activation::LicenseDiff,
}

/// A page of the license history, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<lisens_store::LicenseEvent>,
}

/// A page of a module's holders.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HolderPage {
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<lisens_store::Holder>,
}

/// Registration with the vendor's issuer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The issuer's address, `https://...` (or `http://` on a private network).
    issuer_url: String,
    /// The serial number the vendor gave on purchase.
    serial: String,
    /// The owner (company) name the vendor registered.
    company_name: String,
    /// The vendor's public key (the text of its `.pub` file); needed only
    /// while this installation trusts no key yet.
    public_key: Option<String>,
}

/// Registers this installation with the issuer by serial number and company
/// name: the issuer answers with the license (activated, or pending an
/// administrator's confirmation) and a secret for later checks.
#[utoipa::path(
    post, path = "/api/v1/license/register", tag = "license", request_body = RegisterBody,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Registered; the license is activated or pending", body = lisens_store::Received),
        (status = 400, description = "Bad input, a malformed key, or no trusted key (LICENSE_KEY_REQUIRED)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The license is refused here (a different owner, read-only, ...)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The issuer refused (unknown serial, company mismatch, already registered) or its license is refused", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The issuer could not be reached (ISSUER_UNREACHABLE)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn register(
    admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<RegisterBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    if !(b.issuer_url.starts_with("https://") || b.issuer_url.starts_with("http://")) {
        return Err(ApiError::bad_request(
            codes::INVALID_INPUT,
            "issuer_url must be an http:// or https:// address",
        ));
    }
    let keys = match &b.public_key {
        Some(text) => vec![lisens_core::PublicKey::parse(text)
            .map_err(|e| ApiError::bad_request(codes::KEY_MALFORMED, e.to_string()))?],
        None => state.store.receiving_keys().await?,
    };
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            codes::LICENSE_KEY_REQUIRED,
            "this installation trusts no key yet: send the vendor's public_key",
        ));
    }
    let received = crate::issuer_client::register(
        &state.store,
        &b.issuer_url,
        &b.serial,
        &b.company_name,
        &keys,
        &admin.actor,
    )
    .await?;
    Ok(Json(received).into_response())
}
