//! Metered services over HTTP: usage ingest for the CRM's components, and
//! the monthly report for administrators (JSON and CSV).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lisens_store::metering::{UsageEvent, UsageReport};
use serde::Deserialize;

use crate::auth::{AdminCaller, MeteringCaller};
use crate::error::ApiError;
use crate::AppState;
use lisens_core::codes;

/// `POST /api/v1/metering/events`: a JSON array of up to 1,000
/// `{id, service, quantity, occurred_at}`, all or nothing.
#[utoipa::path(
    post, path = "/api/v1/metering/events", tag = "metering", security(("bearer" = []), ("session" = [])),
    request_body(content = Vec<lisens_store::metering::UsageEvent>, description = "Up to 1,000 events, all or nothing"),
    responses(
        (status = 200, description = "Accepted (re-sent ids are counted once)", body = lisens_store::metering::IngestResult),
        crate::error::BadInput, crate::error::AuthProblems, crate::error::BodyTooLarge
    )
)]
pub async fn ingest(
    _: MeteringCaller,
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = crate::error::raw_body(body)?;
    let batch: Vec<UsageEvent> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            codes::INVALID_BODY,
            format!("expected a JSON array of events: {e}"),
        )
    })?;
    let m = crate::metrics::global();
    let result = state.store.ingest(&batch, &state.zone).await.inspect_err(|_| {
        m.ingested("refused", batch.len() as u64);
    })?;
    m.ingested("accepted", result.accepted as u64);
    m.ingested("duplicate", result.duplicates as u64);
    Ok(Json(result).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    month: Option<String>,
}

pub(crate) async fn report(state: &AppState, month: Option<String>) -> Result<UsageReport, ApiError> {
    let month = match month {
        Some(m) => lisens_core::Month::parse(&m)
            .map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.to_string()))?,
        None => lisens_core::metering::month_of(lisens_store::clock::now(), &state.zone),
    };
    Ok(state.store.usage_report(&month, &state.zone).await?)
}

#[utoipa::path(
    get, path = "/api/v1/metering/usage", tag = "metering", params(MonthQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Usage, threshold, overage and price per service", body = lisens_store::metering::UsageReport),
        crate::error::BadInput, crate::error::AuthProblems
    )
)]
pub async fn usage(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    Ok(Json(report(&state, q.month).await?).into_response())
}

/// The report as CSV (for the dashboard's export).
#[utoipa::path(
    get, path = "/metering/usage.csv", tag = "metering", params(MonthQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The month's report as CSV", body = String, content_type = "text/csv"),
        crate::error::BadInput, crate::error::AuthProblems
    )
)]
pub async fn usage_csv(
    _: AdminCaller,
    State(state): State<AppState>,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    let r = report(&state, q.month).await?;
    let csv = lisens_core::export::csv_table(
        &[
            "month",
            "service",
            "usage",
            "threshold",
            "overage",
            "price",
            "currency",
            "billable_users",
            "projected",
        ],
        r.services.iter().map(|s| {
            vec![
                r.month.clone(),
                s.service.clone(),
                s.usage.to_string(),
                s.threshold.map(|t| t.to_string()).unwrap_or_default(),
                s.overage.to_string(),
                s.price.clone().unwrap_or_default(),
                s.currency.clone().unwrap_or_default(),
                r.billable_users.to_string(),
                s.projected.to_string(),
            ]
        }),
    );
    let disposition = format!("attachment; filename=\"metering-{}.csv\"", r.month);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}
