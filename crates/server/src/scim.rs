//! SCIM 2.0 (RFC 7643/7644) user provisioning for identity providers
//! (Microsoft Entra ID, Okta), with a token of scope `scim`. A user's
//! `entitlements` carry plan names: provisioning assigns them under the same
//! no-overcommit rules; `active: false` blocks login and releases the user's
//! licenses; DELETE releases them too. Administrators are never
//! deactivated or deleted over SCIM (409 `mutability`).
//!
//! (Longer than 600 lines: the handlers and the discovery documents of one
//! protocol; the SCIM issue reshapes it.)

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use lisens_store::{Assignment, Associate, NewAssociate, StoreError, TokenScope, UserEdit, Window};
use serde::Deserialize;
use serde_json::{json, Value};

use lisens_core::scim::{self, ScimFault, UserFields};
use lisens_core::LoginName;

use crate::AppState;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn scim_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/scim+json")],
        body.to_string(),
    )
        .into_response()
}

/// A SCIM error response.
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        scim_json(self.status, body)
    }
}

impl From<ScimFault> for ScimError {
    fn from(f: ScimFault) -> Self {
        Self::new(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
            f.scim_type,
            f.detail,
        )
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        let code = e.code();
        match &e {
            StoreError::Duplicate(_) => Self::new(StatusCode::CONFLICT, Some("uniqueness"), e.to_string()),
            StoreError::UnknownUser(_) => Self::new(StatusCode::NOT_FOUND, None, e.to_string()),
            StoreError::Invalid(_) => Self::invalid(e.to_string()),
            // An entitlement that is no plan of the license, and the like:
            // the value is what is wrong, item by item.
            StoreError::BatchInvalid(items) | StoreError::BulkRefused(items) => Self::invalid(
                items
                    .iter()
                    .map(|i| format!("{}: {}", i.code, i.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            StoreError::Assign(_) | StoreError::ReadOnly => {
                Self::new(StatusCode::CONFLICT, None, format!("{code}: {e}"))
            }
            StoreError::LastAdministrator(_) => {
                Self::new(StatusCode::CONFLICT, Some("mutability"), format!("{code}: {e}"))
            }
            StoreError::DatabaseReadOnly(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, None, format!("{code}: {e}"))
            }
            StoreError::Database(_) | StoreError::Migration(_) => {
                tracing::error!("SCIM: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable",
                )
            }
            _ => Self::new(StatusCode::BAD_REQUEST, None, format!("{code}: {e}")),
        }
    }
}

/// An identity provider: a `scim` or `admin` token.
pub struct ScimCaller;

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let secret = crate::auth::bearer(&parts.headers).ok_or_else(|| {
            ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "a bearer token with scope scim is required",
            )
        })?;
        match state.view.get().token_scope(secret) {
            Some(TokenScope::Scim | TokenScope::Admin) => Ok(ScimCaller),
            Some(_) => Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "this token's scope does not allow SCIM",
            )),
            None => Err(ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "unknown or revoked token",
            )),
        }
    }
}

fn user_json(a: &Associate, plans: &[String], base: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "id": a.id.to_string(),
        "userName": a.login_name,
        "displayName": a.full_name,
        "name": {"formatted": a.full_name},
        "emails": if a.email.is_empty() { json!([]) } else { json!([{"value": a.email, "primary": true}]) },
        "active": *a.active,
        "entitlements": plans.iter().map(|p| json!({"value": p})).collect::<Vec<_>>(),
        "meta": {"resourceType": "User", "created": a.created_at, "lastModified": a.updated_at,
                 "location": format!("{base}/scim/v2/Users/{}", a.id)},
    })
}

async fn plans_of(state: &AppState, login: &str) -> Result<Vec<String>, ScimError> {
    let status = state.store.license_status().await?;
    let plans: Vec<String> = status
        .owners
        .iter()
        .flat_map(|o| &o.modules)
        .filter(|m| m.plan)
        .map(|m| m.name.clone())
        .collect();
    Ok(state
        .store
        .holdings(login)
        .await?
        .into_iter()
        .filter(|h| h.direct && plans.contains(&h.module))
        .map(|h| h.module)
        .collect())
}

async fn by_id(state: &AppState, id: &str) -> Result<Associate, ScimError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ScimError::new(StatusCode::NOT_FOUND, None, format!("no user {id:?}")))?;
    state
        .store
        .associate_by_id(id)
        .await?
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("no user {id}")))
}

/// The changes that make the user's plans exactly `wanted`.
async fn plan_changes(
    state: &AppState,
    login: &str,
    wanted: &[String],
) -> Result<Vec<Assignment>, ScimError> {
    let have = plans_of(state, login).await?;
    Ok(wanted
        .iter()
        .filter(|p| !have.contains(p))
        .map(|p| (p, Some(Window::default())))
        .chain(have.iter().filter(|p| !wanted.contains(p)).map(|p| (p, None)))
        .map(|(module, window)| Assignment {
            login: login.to_owned(),
            module: module.clone(),
            window,
        })
        .collect())
}

/// A refused plan change, naming each plan and why: 400 `invalidValue`
/// when an entitlement is no plan of the license, else SCIM's 409 (counts).
fn refused(changes: &[Assignment], e: StoreError) -> ScimError {
    match e {
        StoreError::BulkRefused(items) => {
            let unknown = items.iter().any(|i| i.code == lisens_core::codes::MODULE_UNKNOWN);
            let (status, scim_type) = if unknown {
                (StatusCode::BAD_REQUEST, Some("invalidValue"))
            } else {
                (StatusCode::CONFLICT, None)
            };
            ScimError::new(
                status,
                scim_type,
                items
                    .iter()
                    .map(|i| format!("{}: {}: {}", changes[i.index].module, i.code, i.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        e => e.into(),
    }
}

/// Makes the user's plans exactly `wanted` in one transaction, or nothing
/// changes: a plan that cannot be given refuses the whole change and the
/// error names the plan and why.
async fn sync_plans(state: &AppState, login: &str, wanted: &[String]) -> Result<(), ScimError> {
    let changes = plan_changes(state, login, wanted).await?;
    if changes.is_empty() {
        return Ok(());
    }
    match state.store.change_all(&changes).await {
        Ok(_) => Ok(()),
        Err(e) => Err(refused(&changes, e)),
    }
}

/// Applies kept fields to an existing user; a change that would deactivate
/// an administrator changes nothing (409 `mutability`).
async fn apply(state: &AppState, a: &Associate, f: UserFields) -> Result<(), ScimError> {
    scim::guard_change(*a.is_admin, *a.active, &f)?;
    let login = LoginName::parse(&a.login_name).map_err(|e| ScimError::invalid(e.to_string()))?;
    // Deactivating blocks login and releases the user's licenses, so the
    // plans asked for beside it are not given.
    let changes = match &f.entitlements {
        Some(plans) if f.active != Some(false) => plan_changes(state, &a.login_name, plans).await?,
        _ => Vec::new(),
    };
    let edit = UserEdit {
        login,
        full_name: f.display_name,
        email: f.email,
        active: f.active,
    };
    // One transaction: a refused plan leaves the rename and the rest undone.
    state
        .store
        .edit_user(&edit, &changes)
        .await
        .map_err(|e| refused(&changes, e))?;
    Ok(())
}

/// Where this installation's links point: the `public_url` setting, else
/// (as a client reached it) the request's Host.
fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn parse_body(body: &Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<Value, ScimError> {
    let body = body
        .as_ref()
        .map_err(|e| ScimError::new(e.status(), Some("invalidValue"), e.body_text()))?;
    Ok(scim::parse_object(body)?)
}

async fn respond(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    login: &str,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let a = state.store.associate(login).await?;
    let plans = plans_of(state, login).await?;
    let body = user_json(&a, &plans, &base_url(state, headers));
    let location = body["meta"]["location"].as_str().map(str::to_owned);
    let mut response = scim_json(status, body);
    // A created resource says where it lives (RFC 7644 3.3).
    if status == StatusCode::CREATED {
        if let Some(value) = location.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    Ok(response)
}

#[utoipa::path(
    post, operation_id = "scimCreateUser", path = "/scim/v2/Users", tag = "scim",
    security(("bearer" = [])),
    request_body(content = ScimUserDoc, content_type = "application/scim+json"),
    responses(
        (status = 201, description = "Provisioned (entitlements assigned, all or nothing)", body = ScimUserDoc, content_type = "application/scim+json"),
        ScimBadRequest, ScimAuthErrors, ScimConflicts
    )
)]
pub async fn create(
    _: ScimCaller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ScimError> {
    let v = parse_body(&body)?;
    let login = scim::user_name(&v)?.to_owned();
    let f = scim::user_fields(&v)?;
    let new = NewAssociate {
        login_name: login.clone(),
        full_name: f.display_name.clone().unwrap_or_else(|| login.clone()),
        email: f.email.clone().unwrap_or_default(),
        is_admin: false,
        password_hash: None,
    };
    state.store.create_associate(&new).await?;
    if f.active == Some(false) {
        state.store.deactivate_associate(&login).await?;
    } else if let Some(plans) = &f.entitlements {
        // All or nothing: a refused plan refuses the whole provisioning.
        if let Err(e) = sync_plans(&state, &login, plans).await {
            let _ = state.store.delete_associate(&login).await;
            return Err(e);
        }
    }
    respond(&state, &headers, &login, StatusCode::CREATED).await
}

#[utoipa::path(
    get, operation_id = "scimGetUser", path = "/scim/v2/Users/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = ScimUserDoc, content_type = "application/scim+json"),
        ScimAuthErrors, ScimNotFound
    )
)]
pub async fn get(
    _: ScimCaller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let a = by_id(&state, &id).await?;
    respond(&state, &headers, &a.login_name, StatusCode::OK).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<usize>,
    count: Option<usize>,
}

#[utoipa::path(
    get, operation_id = "scimListUsers", path = "/scim/v2/Users", tag = "scim",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = ScimUserList, content_type = "application/scim+json"),
        ScimBadRequest, ScimAuthErrors
    )
)]
pub async fn list(
    _: ScimCaller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ScimError> {
    let Query(q) = q.map_err(|e| ScimError::invalid(e.body_text()))?;
    let mut users = state.store.list_associates().await?;
    if let Some(f) = &q.filter {
        let name = scim::parse_filter(f)?;
        users.retain(|u| u.login_name.eq_ignore_ascii_case(&name));
    }
    let total = users.len();
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(100).min(1000);
    let base = base_url(&state, &headers);
    let mut resources = Vec::new();
    for a in users.iter().skip(start - 1).take(count) {
        resources.push(user_json(a, &plans_of(&state, &a.login_name).await?, &base));
    }
    Ok(scim_json(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start, "itemsPerPage": resources.len(), "Resources": resources}),
    ))
}

#[utoipa::path(
    put, operation_id = "scimReplaceUser", path = "/scim/v2/Users/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body(content = ScimUserDoc, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Replaced", body = ScimUserDoc, content_type = "application/scim+json"),
        ScimBadRequest, ScimAuthErrors, ScimNotFound, ScimConflicts
    )
)]
pub async fn replace(
    _: ScimCaller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ScimError> {
    let a = by_id(&state, &id).await?;
    let v = parse_body(&body)?;
    let f = scim::replacement(&v, &a.login_name)?;
    apply(&state, &a, f).await?;
    respond(&state, &headers, &a.login_name, StatusCode::OK).await
}

#[utoipa::path(
    patch, operation_id = "scimPatchUser", path = "/scim/v2/Users/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body(content = ScimPatchDoc, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Patched", body = ScimUserDoc, content_type = "application/scim+json"),
        ScimBadRequest, ScimAuthErrors, ScimNotFound, ScimConflicts
    )
)]
pub async fn patch(
    _: ScimCaller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ScimError> {
    let a = by_id(&state, &id).await?;
    let v = parse_body(&body)?;
    let f = scim::patch(&v, &plans_of(&state, &a.login_name).await?)?;
    apply(&state, &a, f).await?;
    respond(&state, &headers, &a.login_name, StatusCode::OK).await
}

#[utoipa::path(
    delete, operation_id = "scimDeleteUser", path = "/scim/v2/Users/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted; licenses released"),
        (status = 409, description = "An administrator is not deleted over SCIM (mutability)", body = ScimErrorDoc, content_type = "application/scim+json"),
        ScimAuthErrors, ScimNotFound
    )
)]
pub async fn delete(
    _: ScimCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let a = by_id(&state, &id).await?;
    scim::guard_delete(*a.is_admin)?;
    // Releasing first keeps the license history of who lost what.
    state.store.release_licenses(&a.login_name).await?;
    state.store.delete_associate(&a.login_name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get, path = "/scim/v2/ServiceProviderConfig", tag = "scim",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RFC 7643 section 5", body = Object, content_type = "application/scim+json"),
        ScimAuthErrors
    )
)]
pub async fn service_provider_config(_: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": 1000},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "Bearer token", "description": "An API token with scope scim"}],
        }),
    )
}

#[utoipa::path(
    get, path = "/scim/v2/ResourceTypes", tag = "scim",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The User resource type", body = ScimListDoc, content_type = "application/scim+json"),
        ScimAuthErrors
    )
)]
pub async fn resource_types(_: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": 1, "Resources": [user_resource_type()]}),
    )
}

/// The one resource type: User.
fn user_resource_type() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User",
           "endpoint": "/Users", "schema": USER_SCHEMA,
           "meta": {"resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/User"}})
}

#[utoipa::path(
    get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "`User`")),
    responses(
        (status = 200, description = "The resource type", content_type = "application/scim+json"),
        (status = 404, description = "No such resource type", body = ScimErrorDoc, content_type = "application/scim+json"),
        ScimAuthErrors
    )
)]
pub async fn resource_type(_: ScimCaller, Path(id): Path<String>) -> Response {
    if id == "User" {
        scim_json(StatusCode::OK, user_resource_type())
    } else {
        ScimError::new(StatusCode::NOT_FOUND, None, "the one resource type is User").into_response()
    }
}

#[utoipa::path(
    get, path = "/scim/v2/Schemas", tag = "scim",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The User schema", body = ScimListDoc, content_type = "application/scim+json"),
        ScimAuthErrors
    )
)]
pub async fn schemas(_: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": 1, "Resources": [user_schema()]}),
    )
}

/// The User schema as RFC 7643 describes one, with every attribute a User
/// of this server carries (and the sub-attributes of the complex ones), so
/// a strict client accepts the Users it gets.
fn user_schema() -> Value {
    let attr = |name: &str, kind: &str, multi: bool, mutability: &str| {
        json!({"name": name, "type": kind, "multiValued": multi, "required": name == "userName",
               "caseExact": false, "mutability": mutability, "returned": "default",
               "uniqueness": if name == "userName" { "server" } else { "none" }})
    };
    let complex = |name: &str, multi: bool, subs: Vec<Value>| {
        let mut a = attr(name, "complex", multi, "readWrite");
        a["subAttributes"] = json!(subs);
        a
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "A user; entitlements are the plans they hold",
        "attributes": [
            attr("userName", "string", false, "readWrite"),
            attr("displayName", "string", false, "readWrite"),
            complex("name", false, vec![attr("formatted", "string", false, "readWrite")]),
            complex("emails", true, vec![
                attr("value", "string", false, "readWrite"),
                attr("type", "string", false, "readWrite"),
                attr("primary", "boolean", false, "readWrite"),
            ]),
            attr("active", "boolean", false, "readWrite"),
            complex("entitlements", true, vec![attr("value", "string", false, "readWrite")]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("/scim/v2/Schemas/{USER_SCHEMA}")},
    })
}

#[utoipa::path(
    get, path = "/scim/v2/Schemas/{id}", tag = "scim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The schema's URN")),
    responses(
        (status = 200, description = "The schema", content_type = "application/scim+json"),
        (status = 404, description = "No such schema", body = ScimErrorDoc, content_type = "application/scim+json"),
        ScimAuthErrors
    )
)]
pub async fn schema(_: ScimCaller, Path(id): Path<String>) -> Response {
    if id == USER_SCHEMA {
        scim_json(StatusCode::OK, user_schema())
    } else {
        ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            format!("the one schema is {USER_SCHEMA}"),
        )
        .into_response()
    }
}

/// Any other path under `/scim/v2` (`/Groups`, `/Users/.search`, ...):
/// a SCIM error, as SCIM clients read one, not the API's problem document.
pub fn unknown_path(path: &str) -> Response {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        format!("{path}: this server provides /Users, /Schemas, /ResourceTypes and /ServiceProviderConfig"),
    )
    .into_response()
}

/// 401 and 403: every SCIM operation needs a `scim` or `admin` token.
#[allow(dead_code)] // Never built: it only describes responses in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum ScimAuthErrors {
    /// No or unknown bearer token
    #[response(status = 401, content_type = "application/scim+json")]
    Unauthenticated(ScimErrorDoc),
    /// The token's scope does not allow SCIM
    #[response(status = 403, content_type = "application/scim+json")]
    Forbidden(ScimErrorDoc),
}

// 400 for a request SCIM cannot take.
#[allow(dead_code)] // Never built: it only describes responses in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[response(status = 400, content_type = "application/scim+json")]
/// invalidSyntax, invalidFilter, invalidValue or mutability
pub struct ScimBadRequest(ScimErrorDoc);

// 404 for an unknown user id.
#[allow(dead_code)] // Never built: it only describes responses in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, content_type = "application/scim+json")]
/// No such user
pub struct ScimNotFound(ScimErrorDoc);

/// 409 and 413 for writes.
#[allow(dead_code)] // Never built: it only describes responses in the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum ScimConflicts {
    /// uniqueness (userName taken), a refused plan, or mutability (an
    /// administrator is not deactivated over SCIM)
    #[response(status = 409, content_type = "application/scim+json")]
    Conflict(ScimErrorDoc),
    /// The body is over the limit
    #[response(status = 413, content_type = "application/scim+json")]
    TooLarge(ScimErrorDoc),
}

/// A SCIM error (RFC 7644 section 3.12), for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScimErrorDoc {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    #[serde(rename = "scimType")]
    #[schema(nullable = false)]
    pub scim_type: Option<String>,
    pub detail: String,
}

/// A SCIM e-mail address.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScimEmail {
    pub value: String,
    #[schema(nullable = false)]
    pub primary: Option<bool>,
}

/// A plan name carried as an entitlement.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScimValue {
    pub value: String,
}

/// A SCIM User (RFC 7643 section 4.1) as lisens reads and writes it:
/// `entitlements` carry plan names.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct ScimUserDoc {
    pub schemas: Vec<String>,
    /// Set by lisens (read only).
    #[schema(nullable = false)]
    pub id: Option<String>,
    pub userName: String,
    #[schema(nullable = false)]
    pub displayName: Option<String>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
    #[schema(nullable = false)]
    pub emails: Option<Vec<ScimEmail>>,
    #[schema(nullable = false)]
    pub entitlements: Option<Vec<ScimValue>>,
    #[schema(nullable = false, value_type = Object)]
    pub meta: Option<Value>,
}

/// A SCIM list response of users.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct ScimUserList {
    pub schemas: Vec<String>,
    pub totalResults: usize,
    pub startIndex: usize,
    pub itemsPerPage: usize,
    pub Resources: Vec<ScimUserDoc>,
}

/// A SCIM list response of resource types or schemas.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct ScimListDoc {
    pub schemas: Vec<String>,
    pub totalResults: usize,
    #[schema(value_type = Vec<Object>)]
    pub Resources: Vec<Value>,
}

/// One PATCH operation: `add`, `replace` or `remove`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScimPatchOp {
    pub op: String,
    #[schema(nullable = false)]
    pub path: Option<String>,
    #[schema(nullable = false, value_type = Object)]
    pub value: Option<Value>,
}

/// A SCIM PATCH request (RFC 7644 section 3.5.2).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct ScimPatchDoc {
    pub schemas: Vec<String>,
    pub Operations: Vec<ScimPatchOp>,
}
