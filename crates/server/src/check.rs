//! `GET /api/v1/license/check?user=LOGIN[&module=NAME]` and
//! `?system=NAME`: the run-time access check, answered from the in-memory
//! access view.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use lisens_core::access::Decision;
use lisens_core::codes;
use lisens_core::ModuleName;
use serde::{Deserialize, Serialize};

use crate::auth::CheckCaller;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    user: Option<String>,
    module: Option<String>,
    system: Option<String>,
    /// Whose license (a third party's add-on); default: the installation's
    /// primary owner (the vendor). One owner never grants another's modules.
    owner: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckAnswer {
    granted: bool,
    /// Why it was denied (`MISSING_LICENSE:web`, `USER_INACTIVE`, ...).
    reason: Option<String>,
    /// A grant's warning (`LICENSE_IN_GRACE`, `LICENSE_EXPIRING`).
    warning: Option<String>,
}

impl From<Decision> for CheckAnswer {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Granted { warning } => CheckAnswer {
                granted: true,
                reason: None,
                warning: warning.map(|w| w.code().to_owned()),
            },
            Decision::Denied(denial) => CheckAnswer {
                granted: false,
                reason: Some(denial.code()),
                warning: None,
            },
        }
    }
}

fn module(name: &str) -> Result<ModuleName, ApiError> {
    ModuleName::parse(name).map_err(|e| ApiError::bad_request(codes::INVALID_INPUT, e.to_string()))
}

#[utoipa::path(
    get, path = "/api/v1/license/check", tag = "access",
    params(CheckParams), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The decision", body = CheckAnswer),
        crate::error::BadInput, crate::error::AuthProblems
    )
)]
pub async fn check(
    _caller: CheckCaller,
    State(state): State<AppState>,
    params: Result<Query<CheckParams>, QueryRejection>,
) -> Result<Json<CheckAnswer>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    let now = lisens_store::clock::now();
    let view = state.view.get();
    let owner = p.owner.as_deref();
    let decision = match (p.user.as_deref(), p.module.as_deref(), p.system.as_deref()) {
        (Some(user), None, None) if owner.is_none() => view.access.can_login(user, now),
        (Some(user), Some(m), None) => view.access.has_module_of(owner, user, &module(m)?, now),
        (None, None, Some(s)) => view.access.has_system_of(owner, &module(s)?, now),
        _ => {
            return Err(ApiError::bad_request(
                codes::INVALID_QUERY,
                "give user (login check), user and module (user license), or system (system license); \
                 owner goes with module or system",
            ))
        }
    };
    crate::metrics::global().check(decision.is_granted());
    Ok(Json(decision.into()))
}
