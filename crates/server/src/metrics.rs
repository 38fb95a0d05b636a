//! Prometheus metrics at `GET /metrics` (OpenMetrics text): request latency
//! per route, access checks, assignment refusals, metering ingest, issuer
//! polls, and licenses in use / total per module (read at scrape time).
//! One registry per process (`global()`), as Prometheus clients keep it.

use std::collections::HashSet;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::auth::MetricsCaller;
use crate::error::ApiError;
use crate::AppState;
use lisens_core::codes;

/// The labels of a request; static strings, so recording a request
/// allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Module {
    owner: String,
    module: String,
}

type HistogramFn = fn() -> Histogram;

pub struct Metrics {
    registry: Registry,
    requests: Family<Route, Histogram, HistogramFn>,
    checks: Family<Outcome, Counter>,
    refusals: Family<Code, Counter>,
    ingested: Family<Outcome, Counter>,
    issuer_polls: Family<Outcome, Counter>,
    in_use: Family<Module, Gauge>,
    total: Family<Module, Gauge>,
    /// Open HTTP connections (`serve` counts them in and out).
    pub connections: Gauge,
}

fn latency() -> Histogram {
    // 100 µs to about 3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("lisens");
    let requests = Family::<Route, Histogram, HistogramFn>::new_with_constructor(latency as HistogramFn);
    registry.register(
        "http_request_duration_seconds",
        "HTTP requests by method, route template and status",
        requests.clone(),
    );
    let checks = Family::default();
    registry.register(
        "access_checks",
        "Access checks answered, by result",
        checks.clone(),
    );
    let refusals = Family::default();
    registry.register(
        "assignment_refusals",
        "Assignments refused, by code (LICENSE_OVERCOMMITTED, ...)",
        refusals.clone(),
    );
    let ingested = Family::default();
    registry.register(
        "metering_events",
        "Metering events received, by result (accepted, duplicate, refused)",
        ingested.clone(),
    );
    let issuer_polls = Family::default();
    registry.register(
        "issuer_polls",
        "Checks with the issuer, by result",
        issuer_polls.clone(),
    );
    let in_use = Family::default();
    registry.register(
        "licenses_in_use",
        "Holders of each module license",
        in_use.clone(),
    );
    let total = Family::default();
    registry.register(
        "licenses_total",
        "Licensed count of each module (0 when not valid)",
        total.clone(),
    );
    let connections = Gauge::default();
    registry.register(
        "http_connections",
        "Open HTTP connections (at most max_connections)",
        connections.clone(),
    );
    Metrics {
        connections,
        registry,
        requests,
        checks,
        refusals,
        ingested,
        issuer_polls,
        in_use,
        total,
    }
});

pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    pub fn check(&self, granted: bool) {
        let result = if granted { "granted" } else { "denied" };
        self.checks.get_or_create(&Outcome { result }).inc();
    }

    pub fn refusal(&self, code: &str) {
        self.refusals.get_or_create(&Code { code: code.into() }).inc();
    }

    pub fn ingested(&self, result: &'static str, n: u64) {
        self.ingested.get_or_create(&Outcome { result }).inc_by(n);
    }

    pub fn issuer_poll(&self, result: &'static str) {
        self.issuer_polls.get_or_create(&Outcome { result }).inc();
    }
}

/// The labels a request's latency is recorded under: its method and route
/// template (never the raw path, so label values stay bounded).
pub(crate) fn labels(req: &Request) -> (&'static str, &'static str) {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| route_label(m.as_str()));
    (method_label(req.method()), route)
}

/// Records a request's latency.
pub(crate) fn observe((method, route): (&'static str, &'static str), status: StatusCode, took: Duration) {
    global()
        .requests
        .get_or_create(&Route {
            method,
            route,
            status: status.as_u16(),
        })
        .observe(took.as_secs_f64());
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A route template as a static string: each template is copied once, the
/// first time it is seen (there are as many as the router has routes).
fn route_label(template: &str) -> &'static str {
    static SEEN: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if let Some(&known) = SEEN.read().unwrap_or_else(PoisonError::into_inner).get(template) {
        return known;
    }
    let mut seen = SEEN.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = seen.get(template) {
        return known;
    }
    let label: &'static str = Box::leak(template.to_owned().into_boxed_str());
    seen.insert(label);
    label
}

/// Prometheus metrics (OpenMetrics text): request latency per route, access
/// checks, assignment refusals, metering events, issuer polls, licenses in
/// use and total per module.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The metrics (a `metrics` or `admin` token, or an administrator)", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "No or unknown credentials (UNAUTHENTICATED)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not read metrics (FORBIDDEN)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn scrape(_: MetricsCaller, State(state): State<AppState>) -> Result<Response, ApiError> {
    let m = global();
    let status = state.store.license_status().await?;
    m.in_use.clear();
    m.total.clear();
    for o in &status.owners {
        for module in &o.modules {
            let labels = Module {
                owner: o.owner_name.clone(),
                module: module.name.clone(),
            };
            m.in_use.get_or_create(&labels).set(module.in_use);
            m.total.get_or_create(&labels).set(module.total);
        }
    }
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &m.registry).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::METRICS_FAILED,
            "encoding the metrics failed",
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
