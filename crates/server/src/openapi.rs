//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the types they take and return, served at
//! `/api/openapi.json`, and a readable page of it at `/api/docs` (rendered on
//! the server from the same document, so it needs no script or CDN).

use askama::Template;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lisens",
        description = "Self-hosted license management: licenses, user licenses, access checks, \
                       metered services, system events and SCIM 2.0 provisioning. Errors are \
                       RFC 7807 problem documents with a stable `code`.",
    ),
    paths(
        crate::healthz,
        crate::readyz,
        crate::metrics::scrape,
        crate::audit::list,
        crate::audit::export,
        crate::check::check,
        crate::check_now,
        crate::session::create,
        crate::session::delete,
        crate::session::change_password,
        crate::session::reset_password,
        crate::users_api::list,
        crate::users_api::create,
        crate::users_api::show,
        crate::users_api::deactivate,
        crate::users_api::licenses,
        crate::users_api::assign,
        crate::users_api::unassign,
        crate::users_api::bulk,
        crate::tokens_api::list,
        crate::tokens_api::create,
        crate::tokens_api::revoke,
        crate::events_api::flags,
        crate::events_api::list,
        crate::events_api::add,
        crate::events_api::end,
        crate::metering_api::ingest,
        crate::metering_api::usage,
        crate::metering_api::usage_csv,
        crate::license_api::status,
        crate::license_api::load,
        crate::license_api::pending,
        crate::license_api::register,
        crate::license_api::activate,
        crate::license_api::remove_excess,
        crate::license_api::history,
        crate::license_api::holders,
        crate::scim::service_provider_config,
        crate::scim::resource_types,
        crate::scim::resource_type,
        crate::scim::schemas,
        crate::scim::schema,
        crate::scim::list,
        crate::scim::create,
        crate::scim::get,
        crate::scim::replace,
        crate::scim::patch,
        crate::scim::delete,
    ),
    components(schemas(crate::error::Problem, crate::scim::ScimErrorDoc)),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`lisens token create --scope admin|check|metering|scim`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie from POST /api/v1/session; writes also need X-CSRF-Token",
            ))),
        );
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
        doc["info"]["version"] = Value::String(env!("CARGO_PKG_VERSION").to_owned());
        doc
    })
}

/// `GET /api/openapi.json`
pub async fn json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document().to_string(),
    )
        .into_response()
}

struct Operation {
    method: String,
    path: String,
    anchor: String,
    summary: String,
    description: String,
    tag: String,
    security: String,
    params: Vec<(String, String, String, String)>,
    body: Option<(String, String)>,
    responses: Vec<(String, String, String)>,
}

struct SchemaDoc {
    name: String,
    description: String,
    fields: Vec<(String, String, bool, String)>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    description: String,
    version: String,
    tags: Vec<(String, Vec<Operation>)>,
    schemas: Vec<SchemaDoc>,
}

/// A schema's type in a few words: `UserPage`, `array of Holding`, `string`.
fn type_name(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(all) = s
        .get("oneOf")
        .or_else(|| s.get("allOf"))
        .and_then(Value::as_array)
    {
        return all.iter().map(type_name).collect::<Vec<_>>().join(" or ");
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    if ty.starts_with("array") {
        if let Some(items) = s.get("items") {
            return format!("array of {}", type_name(items));
        }
    }
    match s.get("format").and_then(Value::as_str) {
        Some(f) => format!("{ty} ({f})"),
        None => ty,
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn page(doc: &Value) -> DocsPage {
    let mut tags: Vec<(String, Vec<Operation>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let security = op["security"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|r| r.as_object().and_then(|o| o.keys().next().cloned()))
                        .collect::<Vec<_>>()
                        .join(" or ")
                })
                .unwrap_or_else(|| "none".to_owned());
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        text(p, "name"),
                        text(p, "in"),
                        type_name(&p["schema"]),
                        text(p, "description"),
                    )
                })
                .collect();
            let body = op.get("requestBody").map(|b| {
                let (ct, media) = b["content"]
                    .as_object()
                    .and_then(|c| c.iter().next())
                    .map(|(ct, m)| (ct.clone(), m.clone()))
                    .unwrap_or_default();
                (ct, type_name(&media["schema"]))
            });
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| {
                    let schema = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|m| type_name(&m["schema"]))
                        .unwrap_or_default();
                    (status.clone(), text(r, "description"), schema)
                })
                .collect();
            let operation = Operation {
                method: method.to_uppercase(),
                anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                tag: tag.clone(),
                security,
                params,
                body,
                responses,
            };
            match tags.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(operation),
                None => tags.push((tag, vec![operation])),
            }
        }
    }
    let schemas = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            let required: Vec<&str> = s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            SchemaDoc {
                name: name.clone(),
                description: text(s, "description"),
                fields: s["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(f, p)| {
                        (
                            f.clone(),
                            type_name(p),
                            required.contains(&f.as_str()),
                            text(p, "description"),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    DocsPage {
        title: text(&doc["info"], "title"),
        description: text(&doc["info"], "description"),
        version: text(&doc["info"], "version"),
        tags,
        schemas,
    }
}

/// `GET /api/docs`: every operation, its parameters, body, responses and
/// the schemas, readable without JavaScript.
pub async fn docs() -> Response {
    match page(document()).render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("rendering the API page: {e}");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
