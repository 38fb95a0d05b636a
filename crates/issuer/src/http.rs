//! The issuer's HTTP service: the JSON endpoints installations call
//! (`POST /api/v1/license`, `POST /api/v1/register`) and simple vendor admin
//! pages (customers, counts, dates, history) behind HTTP Basic auth with the
//! issuer's admin password, with a CSRF token on every form.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use lisens_store::{Customer, HistoryEntry};
use serde::Deserialize;
use serde_json::json;

use crate::service::{FetchRequest, Issuer, RegisterRequest};
use crate::IssuerError;
use lisens_core::codes;

#[derive(Clone)]
pub struct IssuerState {
    pub issuer: Arc<Issuer>,
    /// The license spec new customers start from.
    /// None: customers are added with `lisens issuer customer add --spec`,
    /// not on the admin pages (no license is given silently).
    pub template: Option<Arc<String>>,
    /// Per-process CSRF token for the admin forms.
    pub csrf: Arc<String>,
    /// The admin's Basic credentials, checked and remembered.
    pub admin: Arc<crate::admin_auth::AdminCheck>,
}

impl IssuerState {
    pub fn new(issuer: Issuer, template: Option<String>) -> Self {
        let csrf: [u8; 16] = rand::random();
        Self {
            issuer: Arc::new(issuer),
            template: template.map(Arc::new),
            csrf: Arc::new(csrf.iter().map(|b| format!("{b:02x}")).collect()),
            admin: Arc::default(),
        }
    }
}

pub fn app(state: IssuerState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/license", post(fetch))
        .route("/api/v1/register", post(register))
        .route("/admin", get(customers_page))
        .route("/admin/customers", post(add_customer))
        .route("/admin/customers/{serial}", get(customer_page))
        .route("/admin/customers/{serial}/count", post(set_count))
        .route("/admin/customers/{serial}/dates", post(set_dates))
        .route("/admin/customers/{serial}/license.lic", get(download))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({"type": "about:blank", "status": status.as_u16(), "code": code, "detail": detail});
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for IssuerError {
    fn into_response(self) -> Response {
        let status = match &self {
            IssuerError::Store(lisens_store::StoreError::UnknownSerial(_)) => StatusCode::NOT_FOUND,
            IssuerError::Store(lisens_store::StoreError::Database(_)) => StatusCode::SERVICE_UNAVAILABLE,
            IssuerError::Io { .. } | IssuerError::KeyExists(_) | IssuerError::KeyMalformed { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        problem(status, self.code(), &self.to_string())
    }
}

async fn healthz(State(state): State<IssuerState>) -> Response {
    match state.issuer.db.ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::DATABASE_UNAVAILABLE,
            "the database is unavailable",
        ),
    }
}

/// An installation asks for its license. With the entity tag of its last
/// answer in `If-None-Match` and nothing new since, the answer is an empty
/// `304 Not Modified`: the usual answer to a connected installation's poll.
async fn fetch(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    body: Result<Json<FetchRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(req)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            codes::INVALID_BODY,
            "expected {serial, secret, license_version}",
        );
    };
    match state.issuer.fetch(&req).await {
        Ok(Some(answer)) => {
            let etag = answer.etag();
            let asked = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
            let tag = [(header::ETAG, etag)];
            if asked {
                (StatusCode::NOT_MODIFIED, tag).into_response()
            } else {
                (tag, Json(answer)).into_response()
            }
        }
        Ok(None) => problem(
            StatusCode::UNAUTHORIZED,
            codes::ISSUER_AUTH_FAILED,
            "unknown serial or wrong installation secret",
        ),
        Err(e) => e.into_response(),
    }
}

async fn register(
    State(state): State<IssuerState>,
    body: Result<Json<RegisterRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(req)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            codes::INVALID_BODY,
            "expected {serial, company_name}",
        );
    };
    match state.issuer.register(&req).await {
        Ok(Some(answer)) => Json(answer).into_response(),
        Ok(None) => problem(
            StatusCode::UNAUTHORIZED,
            codes::REGISTRATION_FAILED,
            "this serial number and owner name do not belong together, or the installation is already registered (the vendor can reset it)",
        ),
        Err(e) => e.into_response(),
    }
}

/// The vendor admin: HTTP Basic, user `admin`, the password set with
/// `lisens issuer admin-password`.
struct VendorAdmin;

impl axum::extract::FromRequestParts<IssuerState> for VendorAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &IssuerState,
    ) -> Result<Self, Response> {
        let challenge = || {
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"lisens issuer\"")],
                "log in",
            )
                .into_response()
        };
        let creds = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(challenge)?;
        let (user, password) = creds.split_once(':').ok_or_else(challenge)?;
        let hash = state
            .issuer
            .db
            .admin_password_hash()
            .await
            .map_err(|_| challenge())?
            .ok_or_else(challenge)?;
        if state.admin.check(user, password, &hash).await {
            Ok(VendorAdmin)
        } else {
            Err(challenge())
        }
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    customers: Vec<Customer>,
    csrf: String,
    notice: Option<String>,
}

struct ModuleRow {
    name: String,
    description: String,
    kind: String,
    count: u32,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    customer: Customer,
    modules: Vec<ModuleRow>,
    history: Vec<HistoryEntry>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    expiration: String,
    grace_to: String,
    maintenance_to: String,
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("template: {e}");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::TEMPLATE_ERROR,
                "the page could not be rendered",
            )
        }
    }
}

async fn customers_page(_: VendorAdmin, State(state): State<IssuerState>) -> Response {
    match state.issuer.db.customers().await {
        Ok(customers) => render(&CustomersPage {
            customers,
            csrf: state.csrf.to_string(),
            notice: None,
        }),
        Err(e) => IssuerError::from(e).into_response(),
    }
}

async fn customer_view(
    state: &IssuerState,
    serial: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let customer = match state.issuer.db.customer(serial).await {
        Ok(c) => c,
        Err(e) => return IssuerError::from(e).into_response(),
    };
    let license = match state.issuer.verify(&customer.document) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let modules = license
        .modules()
        .iter()
        .map(|m| ModuleRow {
            name: m.name.to_string(),
            description: m.description.clone(),
            kind: format!(
                "{}{}",
                m.module_type.as_str(),
                if m.is_plan() { " (plan)" } else { "" }
            ),
            count: m.count.get(),
        })
        .collect();
    let date = |d: Option<time::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    let o = license.owner();
    let history = state.issuer.db.history(serial).await.unwrap_or_default();
    render(&CustomerPage {
        expiration: date(o.expiration),
        grace_to: date(o.grace_to),
        maintenance_to: date(o.maintenance_to),
        customer,
        modules,
        history,
        csrf: state.csrf.to_string(),
        notice,
        error,
    })
}

async fn customer_page(
    _: VendorAdmin,
    State(state): State<IssuerState>,
    Path(serial): Path<String>,
) -> Response {
    customer_view(&state, &serial, None, None).await
}

fn csrf_ok(state: &IssuerState, token: &str) -> bool {
    lisens_core::constant_time_eq(token, &state.csrf)
}

#[derive(Deserialize)]
struct AddForm {
    csrf: String,
    serial: String,
    company: String,
    #[serde(default)]
    contact: String,
}

async fn add_customer(_: VendorAdmin, State(state): State<IssuerState>, Form(f): Form<AddForm>) -> Response {
    if !csrf_ok(&state, &f.csrf) {
        return problem(
            StatusCode::FORBIDDEN,
            codes::CSRF_FAILED,
            "the form is stale: reload the page",
        );
    }
    let Some(template) = &state.template else {
        return problem(
            StatusCode::CONFLICT,
            codes::TEMPLATE_MISSING,
            "no license spec to start new customers from: start the issuer with `--template FILE`, \
             or add the customer with `lisens issuer customer add --spec FILE`",
        );
    };
    match state
        .issuer
        .add_customer(&f.serial, &f.company, &f.contact, template, "vendor admin")
        .await
    {
        Ok(secret) => {
            let notice = format!(
                "Customer {} added. Installation secret (shown once): {secret}",
                f.serial
            );
            customer_view(&state, &f.serial, Some(notice), None).await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CountForm {
    csrf: String,
    module: String,
    count: String,
}

async fn set_count(
    _: VendorAdmin,
    State(state): State<IssuerState>,
    Path(serial): Path<String>,
    Form(f): Form<CountForm>,
) -> Response {
    if !csrf_ok(&state, &f.csrf) {
        return problem(
            StatusCode::FORBIDDEN,
            codes::CSRF_FAILED,
            "the form is stale: reload the page",
        );
    }
    let Ok(count) = f.count.trim().parse::<u32>() else {
        return customer_view(
            &state,
            &serial,
            None,
            Some(format!("{:?} is not a count", f.count)),
        )
        .await;
    };
    match state
        .issuer
        .set_count(&serial, &f.module, count, None, "vendor admin")
        .await
    {
        Ok(c) => Redirect::to(&format!("/admin/customers/{}", c.serial_number)).into_response(),
        Err(e) => customer_view(&state, &serial, None, Some(e.to_string())).await,
    }
}

#[derive(Deserialize)]
struct DatesForm {
    csrf: String,
    expiration: String,
    grace_to: String,
    maintenance_to: String,
}

async fn set_dates(
    _: VendorAdmin,
    State(state): State<IssuerState>,
    Path(serial): Path<String>,
    Form(f): Form<DatesForm>,
) -> Response {
    if !csrf_ok(&state, &f.csrf) {
        return problem(
            StatusCode::FORBIDDEN,
            codes::CSRF_FAILED,
            "the form is stale: reload the page",
        );
    }
    let dates = [
        ("expiration", f.expiration.as_str()),
        ("grace_to", f.grace_to.as_str()),
        ("maintenance_to", f.maintenance_to.as_str()),
    ];
    match state.issuer.set_dates(&serial, &dates, "vendor admin").await {
        Ok(_) => Redirect::to(&format!("/admin/customers/{serial}")).into_response(),
        Err(e) => customer_view(&state, &serial, None, Some(e.to_string())).await,
    }
}

async fn download(_: VendorAdmin, State(state): State<IssuerState>, Path(serial): Path<String>) -> Response {
    match state.issuer.db.customer(&serial).await {
        Ok(c) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                "application/x-lisens-license".parse().expect("valid header"),
            );
            let disposition = format!("attachment; filename=\"{}.lic\"", c.serial_number);
            if let Ok(v) = disposition.parse() {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            (headers, c.document).into_response()
        }
        Err(e) => IssuerError::from(e).into_response(),
    }
}
