//! The installation's HTTP server (axum). `main` lives in the CLI; this crate
//! builds the router from a [`Store`] so tests start the real app on port 0.
//! Handlers hold no business rule: they parse, call the store or the access
//! view, and map errors to `application/problem+json` with stable codes.

mod audit;
pub mod auth;
mod check;
pub mod client_addr;
pub mod error;
mod events_api;
pub mod health;
pub mod i18n;
pub mod issuer_client;
mod license_api;
pub mod limits;
mod metering_api;
pub mod metrics;
pub mod openapi;
mod per_route;
mod scim;
pub mod session;
mod tokens_api;
mod ui;
mod users_api;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lisens_core::codes;
use lisens_store::{AccessView, Store, StoreError};
use tokio::net::TcpListener;

/// How often raw metering events past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How often each process polls the data version for changes made elsewhere.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// The largest request body taken (1 MiB; a 1,000-event metering batch is ~100 KiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Checks the `public_url` setting: an absolute http(s) URL without a query
/// or fragment; given back without its trailing slash.
pub fn public_url(text: &str) -> Result<String, String> {
    let bad = || format!("{text:?}: an address like https://crm.example.com or https://example.com/lisens");
    let url = reqwest::Url::parse(text).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
        || url.host().is_none()
    {
        return Err(bad());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// What the server takes from the installation's configuration (the CLI
/// reads and checks `lisens.toml`, the environment and the flags once, and
/// passes this in; nothing here reads the environment).
#[derive(Clone)]
pub struct Settings {
    /// The time zone of metering months (`time_zone`).
    pub zone: lisens_core::metering::Zone,
    /// Mark session cookies Secure (`secure_cookies`, behind TLS).
    pub secure_cookies: bool,
    /// The installation's address as clients reach it (`public_url`),
    /// for the links it gives out (SCIM's `meta.location`); None: each
    /// request's Host.
    pub public_url: Option<String>,
    /// Requests and connections at once, and how long each may take.
    pub limits: limits::Limits,
    /// Whose `X-Forwarded-For` names the client (`trusted_proxies`).
    pub proxies: client_addr::TrustedProxies,
    /// How long raw metering events are kept (`metering_retention_days`).
    pub metering_retention_days: u32,
}

impl Default for Settings {
    /// The defaults of the settings (docs/operations.md).
    fn default() -> Self {
        Self {
            zone: lisens_core::metering::Zone::utc(),
            secure_cookies: false,
            public_url: None,
            limits: limits::Limits::default(),
            proxies: client_addr::TrustedProxies::default(),
            metering_retention_days: 400,
        }
    }
}

/// Shared by every request: one `Arc`, so handing the state to a handler or
/// a layer is one reference count, whatever it holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<Store>,
    pub view: Arc<AccessView>,
    pub limiter: Arc<auth::LoginLimiter>,
    /// The installation's time zone for metering months (`time_zone`:
    /// `UTC`, an IANA name like `Europe/Oslo`, or an offset like `+01:00`).
    pub zone: lisens_core::metering::Zone,
    /// Mark session cookies Secure (`secure_cookies`, behind TLS).
    pub secure_cookies: bool,
    /// The installation's address as clients reach it (`public_url`).
    pub public_url: Option<String>,
    /// Requests at once and the longest a request may take.
    pub limits: limits::Limits,
    /// Whose `X-Forwarded-For` names the client (`trusted_proxies`).
    pub proxies: Arc<client_addr::TrustedProxies>,
    /// The database's last probe, for `/healthz` and `/readyz`.
    pub health: Arc<health::Probe>,
}

impl AppState {
    /// The same installation served with other limits (a second listener).
    pub fn with_limits(&self, limits: limits::Limits) -> Self {
        let mut shared = (*self.0).clone();
        shared.limits = limits;
        Self(Arc::new(shared))
    }

    /// The same installation served behind other proxies (a second listener).
    pub fn with_proxies(&self, proxies: client_addr::TrustedProxies) -> Self {
        let mut shared = (*self.0).clone();
        shared.proxies = Arc::new(proxies);
        Self(Arc::new(shared))
    }

    /// Builds the access view and starts its refresher. A database this
    /// process may only read is served read-only: reads work, every write
    /// is refused with `DATABASE_READ_ONLY`, and the housekeeping writes
    /// (dead jobs, old metering events, thresholds) are left to a process
    /// that may write.
    pub async fn new(store: Arc<Store>, settings: Settings) -> Result<Self, StoreError> {
        let writable = store.writable().await?;
        if writable {
            store.remember_time().await?;
        }
        let view = AccessView::new(store.clone()).await?;
        let health = health::Probe::start(&store).await;
        view.spawn_refresher(REFRESH_EVERY);
        if !writable {
            tracing::warn!(
                "the database is read-only: serving reads; changes (logins included) are refused with DATABASE_READ_ONLY"
            );
        }
        // Jobs whose process died are marked failed now and every 10 s.
        if writable {
            store.fail_dead_jobs().await?;
        }
        let zone = settings.zone.clone();
        let retention_days = i64::from(settings.metering_retention_days);
        let reaper = Arc::downgrade(&store);
        let reaper_zone = zone.clone();
        let reaper_view = Arc::downgrade(&view);
        let housekeeping = async move {
            let zone = reaper_zone;
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            let mut last_purge = None;
            loop {
                tick.tick().await;
                let Some(store) = reaper.upgrade() else { return };
                // The trust model's memory of time, and the findings of the
                // latest re-verification as system messages.
                if let Err(e) = store.remember_time().await {
                    tracing::warn!("remembering the time failed: {e}");
                }
                if let Some(view) = reaper_view.upgrade() {
                    if let Err(e) = store.report_integrity(&view.get().integrity).await {
                        tracing::warn!("reporting license integrity failed: {e}");
                    }
                }
                if let Err(e) = store.fail_dead_jobs().await {
                    tracing::warn!("marking dead jobs failed: {e}");
                }
                // The purge scans metering_event (no index slows ingest for
                // it), so it runs at start and then hourly.
                if last_purge.is_none_or(|t: std::time::Instant| t.elapsed() >= PURGE_EVERY) {
                    last_purge = Some(std::time::Instant::now());
                    if let Err(e) = store.purge_metering_events(retention_days).await {
                        tracing::warn!("purging old metering events: {e}");
                    }
                }
                if let Err(e) = store.check_thresholds(&zone).await {
                    tracing::warn!("metering thresholds: {e}");
                }
            }
        };
        if writable {
            tokio::spawn(housekeeping);
        }
        Ok(Self(Arc::new(Shared {
            store,
            view,
            limiter: Arc::default(),
            secure_cookies: settings.secure_cookies,
            public_url: settings.public_url,
            zone,
            limits: settings.limits,
            proxies: Arc::new(settings.proxies),
            health,
        })))
    }
}

/// The one layer every change passes (one layer, so a read pays for none of
/// it): the change is recorded in the audit log (`audit::record`), and this
/// process's access view follows it: after a request during which the store
/// wrote (its write count moved), the view is rebuilt before the response
/// leaves, so the caller's next request (a check, a page) sees the change.
/// Changes made elsewhere (another process, the issuer poller, a hand edit)
/// reach the view through the refresher. A failed rebuild cannot undo the
/// committed change: it is logged, and the refresher retries within
/// `REFRESH_EVERY`.
async fn after_changes<F>(
    state: &AppState,
    req: axum::extract::Request,
    run: impl FnOnce(axum::extract::Request) -> F,
) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let before = state.store.writes();
    let response = audit::record(state, req, run).await;
    if state.store.writes() != before {
        if let Err(e) = state.view.refresh().await {
            tracing::error!("the access view did not follow a change made here: {e}; the refresher retries");
        }
    }
    response
}

/// The whole application: the routes, and around them once the request id,
/// the limits and (where the log shows it) the request's span.
pub fn app(state: AppState) -> impl HttpService {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(ui::root))
        .route("/login", get(ui::login_form).post(ui::login_submit))
        .route("/logout", axum::routing::post(ui::logout))
        .route("/language", axum::routing::post(ui::set_language))
        .route("/licenses", get(ui::licenses))
        .route("/licenses/status", get(ui::licenses_status))
        .route("/licenses/modules/{module}", get(ui::module))
        .route(
            "/licenses/activate",
            get(ui::activate_dialog).post(ui::activate_submit),
        )
        .route(
            "/licenses/remove-excess/{module}",
            get(ui::excess_dialog).post(ui::excess_submit),
        )
        .route("/licenses/check-now", axum::routing::post(ui::check_now))
        .route("/licenses/file", axum::routing::post(ui::upload))
        .route("/licenses/register", axum::routing::post(ui::register))
        .route("/users", get(ui::users))
        .route("/users/licenses", get(ui::user_licenses).post(ui::toggle))
        .route("/me", get(ui::me))
        .route("/api/v1/license/check", get(check::check))
        .route("/api/v1/license/check-now", axum::routing::post(check_now))
        .route(
            "/api/v1/session",
            axum::routing::post(session::create).delete(session::delete),
        )
        .route(
            "/api/v1/session/password",
            axum::routing::post(session::change_password),
        )
        .route(
            "/api/v1/users/{login}/password",
            axum::routing::post(session::reset_password),
        )
        .route("/api/v1/users", get(users_api::list).post(users_api::create))
        .route("/api/v1/users/{login}", get(users_api::show))
        .route("/api/v1/assignments", axum::routing::post(users_api::bulk))
        .route("/api/v1/tokens", get(tokens_api::list).post(tokens_api::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens_api::revoke))
        .route(
            "/api/v1/users/{login}/deactivate",
            axum::routing::post(users_api::deactivate),
        )
        .route(
            "/api/v1/users/{login}/licenses",
            get(users_api::licenses).post(users_api::assign),
        )
        .route(
            "/api/v1/users/{login}/licenses/{module}",
            axum::routing::delete(users_api::unassign),
        )
        .route("/api/v1/system-events/flags", get(events_api::flags))
        .route(
            "/api/v1/system-events",
            get(events_api::list).post(events_api::add),
        )
        .route(
            "/api/v1/system-events/{id}/end",
            axum::routing::post(events_api::end),
        )
        .route("/licenses/events", axum::routing::post(ui::add_event))
        .route("/licenses/events/{id}/end", axum::routing::post(ui::end_event))
        .route(
            "/api/v1/metering/events",
            axum::routing::post(metering_api::ingest),
        )
        .route("/api/v1/metering/usage", get(metering_api::usage))
        .route("/metering", get(ui::metering))
        .route("/metering/usage.csv", get(metering_api::usage_csv))
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(scim::service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(scim::resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(scim::resource_type))
        .route("/scim/v2/Schemas", get(scim::schemas))
        .route("/scim/v2/Schemas/{id}", get(scim::schema))
        .route("/scim/v2/Users", get(scim::list).post(scim::create))
        .route(
            "/scim/v2/Users/{id}",
            get(scim::get)
                .put(scim::replace)
                .patch(scim::patch)
                .delete(scim::delete),
        )
        .route("/api/v1/license/status", get(license_api::status))
        .route("/api/v1/license/file", axum::routing::post(license_api::load))
        .route("/api/v1/license/pending", get(license_api::pending))
        .route(
            "/api/v1/license/register",
            axum::routing::post(license_api::register),
        )
        .route(
            "/api/v1/license/activate",
            axum::routing::post(license_api::activate),
        )
        .route(
            "/api/v1/license/remove-excess",
            axum::routing::post(license_api::remove_excess),
        )
        .route("/api/v1/license/history", get(license_api::history))
        .route("/api/v1/modules/{module}/holders", get(license_api::holders))
        .route("/metrics", get(metrics::scrape))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit.csv", get(audit::export))
        .route("/api/openapi.json", get(openapi::json))
        .route("/api/docs", get(openapi::docs))
        .fallback(|uri: axum::http::Uri| async move {
            // SCIM clients read SCIM errors, the rest the API's problems.
            if uri.path().starts_with("/scim/") {
                return scim::unknown_path(uri.path());
            }
            error::ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint").into_response()
        })
        // The one layer that needs the matched route template (a layer on
        // the router wraps each route): the latency per route, and for a
        // change the audit log and the view's refresh.
        .layer(per_route::Layer(state.clone()))
        // Extractors refuse bigger bodies with 413 BODY_TOO_LARGE.
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT));
    // The rest wraps the finished router once, outermost first: the request
    // id (the caller's X-Request-Id or a new one, carried back on the
    // response), the limits, and the request's span for the log.
    // The request's span only where the log filter (fixed at start) shows
    // it: under the default filter the layer is not there at all.
    let traced = tracing::enabled!(target: "lisens_server", tracing::Level::DEBUG).then(|| {
        tower::ServiceBuilder::new()
            .map_response(|r: axum::http::Response<_>| r.map(axum::body::Body::new))
            .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
    });
    tower::ServiceBuilder::new()
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(state.limits.layer())
        .option_layer(traced)
        .service(routes.with_state(state))
}

/// The span of one request: its method, path (without the query string)
/// and id, at `debug` level (`LISENS_LOG=info,lisens_server=debug`).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// What [`serve_router`] serves: a router, or a stack of layers around one.
pub trait HttpService:
    tower::Service<
        axum::extract::Request,
        Response = Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A request taken.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Requested {
    /// Always `requested`.
    pub status: String,
}

/// Whether the server can reach its database.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<String>,
    /// The database's last probe: `ok` or `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database: Option<String>,
}

/// "Check for a new license now": every server process's poller asks the
/// issuer at its next tick (within LISENS_ISSUER_POLL_SECS).
#[utoipa::path(
    post, path = "/api/v1/license/check-now", tag = "license", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "Every server process asks the issuer at its next tick", body = Requested),
        (status = 400, description = "No issuer is configured (register the installation first)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::error::AuthProblems
    )
)]
async fn check_now(_: auth::AdminCaller, State(state): State<AppState>) -> Result<Response, error::ApiError> {
    state.store.request_issuer_check().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Requested {
            status: "requested".into(),
        }),
    )
        .into_response())
}

/// Liveness: 200 while the process serves (the access check answers from
/// memory, also while the database is down); `database` is what its last
/// probe found. Never waits on the database.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process serves", body = Health))
)]
async fn healthz(State(state): State<AppState>) -> Response {
    Json(Health {
        status: "ok".into(),
        code: None,
        database: Some(if state.health.ready() { "ok" } else { "unavailable" }.into()),
    })
    .into_response()
}

/// Readiness: 200 while the database answered its last probe (within the
/// last few seconds), 503 `DATABASE_UNAVAILABLE` with `Retry-After`
/// otherwise. Never waits on the database.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer (DATABASE_UNAVAILABLE)", body = Health)
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.health.ready() {
        return Json(Health {
            status: "ok".into(),
            code: None,
            database: Some("ok".into()),
        })
        .into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        Json(Health {
            status: "unavailable".into(),
            code: Some(codes::DATABASE_UNAVAILABLE.into()),
            database: Some("unavailable".into()),
        }),
    )
        .into_response()
}

/// Serves the installation's app until `shutdown` resolves (see
/// [`serve_router`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let proxies = state.proxies.clone();
    serve_router(listener, app(state), &limits, proxies, shutdown).await
}

/// The one hardened serve loop, for the installation and the issuer alike:
/// HTTP/1.1 until `shutdown` resolves; then stops accepting, lets in-flight
/// requests finish and closes idle connections. At most
/// `limits.max_connections` connections are open at once (at the limit no
/// more are accepted until one closes), and a connection whose client takes
/// longer than `limits.header_timeout` to send a request's headers, or
/// stays idle that long between requests, is closed. The request limits
/// (in flight, timeout) are a layer around the app ([`limits::Limits::layer`]).
pub async fn serve_router(
    listener: TcpListener,
    app: impl HttpService,
    limits: &limits::Limits,
    proxies: Arc<client_addr::TrustedProxies>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt;

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or the peer left first: wait a little.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, proxies) = (app.clone(), proxies.clone());
        let service =
            hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                // Behind a trusted proxy the client is the one it names.
                let client = proxies.client(peer, req.headers());
                req.extensions_mut().insert(axum::extract::ConnectInfo(client));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        let open = &metrics::global().connections;
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
