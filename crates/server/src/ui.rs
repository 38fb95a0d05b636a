//! The administrator's web UI, server-rendered (askama), in four languages.
//! Every action is a plain form POST carrying the session's CSRF token, so
//! it all works without JavaScript. Pages follow the CRM's help pages:
//! Settings and maintenance -> Licenses (a tab per owner and a Status tab,
//! the "Activate new license" and "Remove excess licenses" dialogs), and
//! Users -> User licenses.

use std::collections::HashMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, Multipart, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use lisens_core::codes;
use lisens_core::VerifiedLicense;
use lisens_store::{Actor, Holding, ModuleStatus, OwnerStatus, PendingLicense, Session, StoreError};
use serde::Deserialize;

use crate::auth::{constant_time_eq, session_of};
use crate::i18n::{choose, Tr, LANGUAGES};
use crate::session::{clear_cookie, log_in, session_cookie};
use crate::AppState;

mod filters {
    /// "Ada Lovelace" -> "AL": the portrait stand-in in the Activated by column.
    #[askama::filter_fn]
    pub fn initials(s: &str, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(s.split(|c: char| !c.is_alphanumeric())
            .filter_map(|w| w.chars().next())
            .take(2)
            .collect::<String>()
            .to_uppercase())
    }
}

/// The logged-in user of a page; anonymous visitors go to the login page.
pub struct UiUser {
    session: Session,
    t: Tr,
    /// Active messages of the day, shown on every page.
    motd: Vec<String>,
}

fn accept_language(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

impl axum::extract::FromRequestParts<AppState> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = match session_of(parts, state).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(Redirect::to("/login").into_response()),
            // Logged out by No Login: say so on the login page.
            Err(e) if e.code == codes::NO_LOGIN_EVENT => {
                return Err(Redirect::to("/login?closed=1").into_response())
            }
            Err(e) => return Err(e.into_response()),
        };
        let setting = state.store.language(session.user.id).await.ok().flatten();
        let t = choose(setting.as_deref(), accept_language(parts));
        let motd = state
            .view
            .get()
            .access
            .messages_of_the_day()
            .into_iter()
            .map(str::to_owned)
            .collect();
        Ok(UiUser { session, t, motd })
    }
}

/// An administrator's page: others get 403.
pub struct UiAdmin(UiUser);

impl axum::extract::FromRequestParts<AppState> for UiAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let user = UiUser::from_request_parts(parts, state).await?;
        if !*user.session.user.is_admin {
            let t = user.t.clone();
            return Err(page_status(
                StatusCode::FORBIDDEN,
                &user,
                t.t("forbidden"),
                String::new(),
            ));
        }
        Ok(UiAdmin(user))
    }
}

/// What every page's frame needs.
/// What every page's frame (base.html) shows; pages reach it by Deref.
struct Frame<'a> {
    t: &'a Tr,
    csrf: &'a str,
    user_name: &'a str,
    admin: bool,
    languages: &'a [(&'static str, &'static str, &'static str)],
    motd: Vec<String>,
    notice: Option<String>,
    error: Option<String>,
}

fn frame<'a>(u: &'a UiUser, notice: Option<String>, error: Option<String>) -> Frame<'a> {
    Frame {
        t: &u.t,
        csrf: &u.session.csrf,
        user_name: &u.session.user.full_name,
        admin: *u.session.user.is_admin,
        languages: &LANGUAGES,
        motd: u.motd.clone(),
        notice,
        error,
    }
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("template: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    f: Frame<'a>,
    title: String,
    body: String,
}

fn page_status(status: StatusCode, u: &UiUser, title: String, body: String) -> Response {
    let f = frame(u, None, None);
    let page = MessagePage { f, title, body };
    (status, render(&page)).into_response()
}

fn store_error(u: &UiUser, e: StoreError) -> Response {
    let status = crate::error::ApiError::from(e);
    page_status(status.status, u, status.code, status.detail)
}

fn csrf_ok(u: &UiUser, sent: &str) -> bool {
    constant_time_eq(sent, &u.session.csrf)
}

fn bad_csrf(u: &UiUser) -> Response {
    page_status(
        StatusCode::FORBIDDEN,
        u,
        codes::CSRF_FAILED.into(),
        "The form is stale: reload the page.".into(),
    )
}

// ---- login -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'a Tr,
    csrf: &'a str,
    motd: Vec<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// The login form's CSRF token lives in this cookie before there is a
/// session, and in the form's hidden `csrf` field (double submit): another
/// site can make a browser post the form, but cannot read or set the
/// cookie, so it cannot log a victim in to the attacker's account.
const LOGIN_CSRF_COOKIE: &str = "lisens_login_csrf";

/// The login page with a CSRF token: the browser's own when it has a
/// well-formed one, else a new one, set in the cookie either way.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    t: &Tr,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let token = crate::auth::cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(crate::session::random_hex, str::to_owned);
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
    let page = render(&LoginPage {
        t,
        csrf: &token,
        motd: Vec::new(),
        notice: None,
        error,
    });
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

/// "CODE: the sentence for it", for codes shown on a page.
fn refusal(t: &Tr, code: &str) -> String {
    match t.error(code) {
        Some(sentence) => format!("{}: {code}. {sentence}", t.t("login-refused")),
        None => format!("{}: {code}", t.t("login-refused")),
    }
}

pub async fn root(State(state): State<AppState>, parts: Parts) -> Response {
    match session_of(&parts, &state).await {
        Ok(Some(s)) if *s.user.is_admin => Redirect::to("/licenses").into_response(),
        Ok(Some(_)) => Redirect::to("/me").into_response(),
        _ => Redirect::to("/login").into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    closed: Option<String>,
}

fn browser_language(headers: &HeaderMap) -> Tr {
    choose(
        None,
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    )
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let t = browser_language(&headers);
    let closed = q.ok().and_then(|Query(q)| q.closed).is_some();
    login_page(
        &state,
        &headers,
        &t,
        StatusCode::OK,
        closed.then(|| t.t("logins-closed")),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    /// The login form's CSRF token; a post without it is refused.
    #[serde(default)]
    csrf: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let t = browser_language(&headers);
    let expected = crate::auth::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !constant_time_eq(&f.csrf, expected) {
        let error = refusal(&t, codes::LOGIN_CSRF_FAILED);
        return login_page(&state, &headers, &t, StatusCode::FORBIDDEN, Some(error));
    }
    match log_in(&state, &f.login, &f.password, Some(addr.ip())).await {
        Ok((user, secret, _)) => {
            let to = if *user.is_admin { "/licenses" } else { "/me" };
            let mut resp = Redirect::to(to).into_response();
            let cookies = resp.headers_mut();
            cookies.append(header::SET_COOKIE, session_cookie(&state, &secret));
            cookies.append(
                header::SET_COOKIE,
                header::HeaderValue::from_static(
                    "lisens_login_csrf=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0",
                ),
            );
            resp
        }
        Err(e) if e.code == codes::LOGIN_FAILED => login_page(
            &state,
            &headers,
            &t,
            StatusCode::UNAUTHORIZED,
            Some(t.t("login-failed")),
        ),
        Err(e) => {
            let mut resp = login_page(&state, &headers, &t, e.status, Some(refusal(&t, &e.code)));
            if let Some(secs) = e.retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            resp
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    u: UiUser,
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    if let Some(secret) = crate::auth::cookie(&parts.headers, crate::auth::SESSION_COOKIE) {
        let _ = state.store.delete_session(secret).await;
    }
    ([(header::SET_COOKIE, clear_cookie())], Redirect::to("/login")).into_response()
}

#[derive(Deserialize)]
pub struct LanguageForm {
    csrf: String,
    language: String,
}

pub async fn set_language(
    u: UiUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LanguageForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    if !LANGUAGES.iter().any(|(c, _, _)| *c == f.language) {
        return page_status(
            StatusCode::BAD_REQUEST,
            &u,
            codes::INVALID_INPUT.into(),
            "unknown language".into(),
        );
    }
    if let Err(e) = state
        .store
        .set_language(&u.session.user.login_name, Some(&f.language))
        .await
    {
        return store_error(&u, e);
    }
    // Back to the page the form was on, when it is ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/licenses".into());
    Redirect::to(&back).into_response()
}

// ---- licenses ------------------------------------------------------------------

struct Group {
    title: String,
    modules: Vec<ModuleStatus>,
}

#[derive(Template)]
#[template(path = "licenses.html")]
struct LicensesPage<'a> {
    f: Frame<'a>,
    tabs: Vec<(String, bool)>,
    status_tab: bool,
    demo: bool,
    owner: Option<OwnerStatus>,
    warnings: Vec<String>,
    buy_url: String,
    pending: bool,
    activated: bool,
    groups: Vec<Group>,
    status_owners: Vec<OwnerStatus>,
    events: Vec<lisens_store::SystemEvent>,
    description: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LicensesQuery {
    owner: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    event: Option<i64>,
}

fn groups(t: &Tr, o: &OwnerStatus) -> Vec<Group> {
    let visible: Vec<&ModuleStatus> = o.modules.iter().filter(|m| !m.hidden).collect();
    let pick = |f: &dyn Fn(&ModuleStatus) -> bool| {
        visible
            .iter()
            .filter(|m| f(m))
            .map(|m| (*m).clone())
            .collect::<Vec<_>>()
    };
    [
        (t.t("group-system"), pick(&|m| m.module_type == "system")),
        (t.t("group-site"), pick(&|m| m.module_type == "site")),
        (t.t("group-plans"), pick(&|m| m.module_type == "user" && m.plan)),
        (t.t("group-user"), pick(&|m| m.module_type == "user" && !m.plan)),
    ]
    .into_iter()
    .filter(|(_, m)| !m.is_empty())
    .map(|(title, modules)| Group { title, modules })
    .collect()
}

fn warnings(t: &Tr, o: &OwnerStatus, clock_set_back: bool) -> Vec<String> {
    let today = lisens_store::clock::now().date();
    let mut out = Vec::new();
    if clock_set_back {
        out.push(t.t("clock-set-back"));
    }
    if !o.valid {
        out.push(t.t("license-invalid"));
    }
    let over: Vec<&str> = o
        .modules
        .iter()
        .filter(|m| m.excess > 0)
        .map(|m| m.name.as_str())
        .collect();
    if !over.is_empty() {
        out.push(format!(
            "{} ({})",
            t.t("license-over-count-warning"),
            over.join(", ")
        ));
    }
    let past = |d: &Option<String>| d.as_deref().is_some_and(|d| d < today.to_string().as_str());
    let reached = |d: &Option<String>| d.as_deref().is_some_and(|d| d <= today.to_string().as_str());
    if o.dates.is_past_grace(today) {
        out.push(t.t("license-read-only"));
    } else if past(&o.expiration) {
        out.push(t.t("license-in-grace"));
    } else if reached(&o.admin_warning_date) {
        out.push(t.t("license-expiring"));
    }
    out
}

async fn licenses_page(u: &UiUser, state: &AppState, q: LicensesQuery, status_tab: bool) -> Response {
    let status = match state.store.license_status().await {
        Ok(s) => s,
        Err(e) => return store_error(u, e),
    };
    let selected = if status_tab {
        None
    } else {
        q.owner
            .clone()
            .or_else(|| status.owners.first().map(|o| o.owner_name.clone()))
    };
    let tabs = status
        .owners
        .iter()
        .map(|o| (o.owner_name.clone(), Some(&o.owner_name) == selected.as_ref()))
        .collect();
    let owner = selected
        .as_ref()
        .and_then(|s| status.owners.iter().find(|o| &o.owner_name == s))
        .cloned();
    let pending_owners = state.store.pending_owners().await.unwrap_or_default();
    let events = state.store.license_events(50).await.unwrap_or_default();
    let system_events = state
        .store
        .events(&Default::default(), 0, 100)
        .await
        .unwrap_or_default();
    let (pending, activated, buy_url) = match &owner {
        Some(o) => (
            pending_owners.contains(&o.owner_name),
            events
                .iter()
                .find(|e| e.owner_name == o.owner_name)
                .is_some_and(|e| e.kind == "activated"),
            if o.license_url.is_empty() {
                String::new()
            } else {
                let sep = if o.license_url.contains('?') { '&' } else { '?' };
                format!("{}{sep}serial={}", o.license_url, o.serial)
            },
        ),
        None => (false, false, String::new()),
    };
    let description = q
        .event
        .and_then(|id| system_events.iter().find(|e| e.id == id))
        .map(|e| {
            format!(
                "{} ({}, {})\n{}\n{}",
                e.key, e.scope, e.activated_by, e.message, e.description
            )
        });
    let f = frame(u, q.notice.map(|k| u.t.t(&k)), q.error);
    render(&LicensesPage {
        f,
        tabs,
        status_tab,
        demo: status.demo.is_some(),
        warnings: owner
            .as_ref()
            .map(|o| warnings(&u.t, o, status.clock_set_back))
            .unwrap_or_default(),
        groups: owner.as_ref().map(|o| groups(&u.t, o)).unwrap_or_default(),
        owner,
        buy_url,
        pending,
        activated,
        status_owners: status.owners.clone(),
        events: system_events,
        description,
    })
}

#[derive(Deserialize)]
pub struct EventForm {
    csrf: String,
    key: String,
    scope: String,
    #[serde(default)]
    target: String,
    message: String,
    #[serde(default)]
    eta: String,
}

/// Adds a system event from the Status tab.
pub async fn add_event(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Form(f): Form<EventForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    let fail = |m: String| Redirect::to(&format!("/licenses/status?error={}", urlencode(&m))).into_response();
    let key = match lisens_core::events::EventKey::parse_admin(&f.key) {
        Ok(k) => k,
        Err(e) => return fail(e.to_string()),
    };
    let scope = match lisens_core::events::EventScope::parse(&f.scope) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let event = lisens_store::NewEvent {
        key,
        scope,
        target: Some(f.target.trim().to_owned()).filter(|t| !t.is_empty()),
        message: f.message.trim().to_owned(),
        description: String::new(),
        eta: Some(f.eta.trim().to_owned()).filter(|t| !t.is_empty()),
        activated_by: u.session.user.login_name.clone(),
    };
    match state.store.add_event(&event).await {
        Ok(_) => Redirect::to("/licenses/status#messages").into_response(),
        Err(e) => fail(format!("{}: {e}", e.code())),
    }
}

pub async fn end_event(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    if let Err(e) = state
        .store
        .end_event(id, lisens_core::events::EventStatus::Finished)
        .await
    {
        return store_error(&u, e);
    }
    Redirect::to("/licenses/status#messages").into_response()
}

pub async fn licenses(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<LicensesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    licenses_page(&u, &state, q.map(|Query(q)| q).unwrap_or_default(), false).await
}

pub async fn licenses_status(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<LicensesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    licenses_page(&u, &state, q.map(|Query(q)| q).unwrap_or_default(), true).await
}

#[derive(Template)]
#[template(path = "module.html")]
struct ModulePage<'a> {
    f: Frame<'a>,
    m: ModuleStatus,
    type_label: String,
    holders: Vec<lisens_store::Holder>,
    offset: i64,
    prev: i64,
    next: i64,
    more: bool,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    offset: i64,
}

const PAGE: i64 = 50;

pub async fn module(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let offset = q.map(|Query(q)| q.offset.max(0)).unwrap_or(0);
    let status = match state.store.license_status().await {
        Ok(s) => s,
        Err(e) => return store_error(&u, e),
    };
    let Some((_, m)) = status.module(&name) else {
        return page_status(StatusCode::NOT_FOUND, &u, u.t.t("not-found"), name);
    };
    let mut holders = match state.store.module_holders(&name, offset, PAGE + 1).await {
        Ok(h) => h,
        Err(e) => return store_error(&u, e),
    };
    let more = holders.len() as i64 > PAGE;
    holders.truncate(PAGE as usize);
    let type_label = u.t.t(&format!("type-{}", m.module_type));
    let f = frame(&u, None, None);
    render(&ModulePage {
        f,
        m: m.clone(),
        type_label,
        holders,
        offset,
        prev: (offset - PAGE).max(0),
        next: offset + PAGE,
        more,
    })
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage<'a> {
    f: Frame<'a>,
    pending: Option<PendingLicense>,
}

#[derive(Deserialize)]
pub struct OwnerQuery {
    owner: Option<String>,
}

async fn the_pending(state: &AppState, owner: Option<String>) -> Result<Option<PendingLicense>, StoreError> {
    let owner = match owner {
        Some(o) => o,
        None => match state.store.pending_owners().await?.into_iter().next() {
            Some(o) => o,
            None => return Ok(None),
        },
    };
    state.store.pending_license(&owner).await
}

pub async fn activate_dialog(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<OwnerQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let pending = match the_pending(&state, q.ok().and_then(|Query(q)| q.owner)).await {
        Ok(p) => p,
        Err(e) => return store_error(&u, e),
    };
    let f = frame(&u, None, None);
    render(&ActivatePage { f, pending })
}

#[derive(Deserialize)]
pub struct ActivateForm {
    csrf: String,
    owner: String,
}

pub async fn activate_submit(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Form(f): Form<ActivateForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    let actor = Actor {
        name: &u.session.user.login_name,
        automatic: false,
    };
    match state.store.activate_pending(&f.owner, actor).await {
        Ok(_) => Redirect::to(&format!(
            "/licenses?owner={}&notice=new-license-activated",
            urlencode(&f.owner)
        ))
        .into_response(),
        Err(e) => store_error(&u, e),
    }
}

#[derive(Template)]
#[template(path = "excess.html")]
struct ExcessPage<'a> {
    f: Frame<'a>,
    owner: String,
    module: String,
    in_use: i64,
    available: i64,
    to_remove: i64,
    holders: Vec<lisens_store::Holder>,
}

async fn excess_page(u: &UiUser, state: &AppState, module: &str, error: Option<String>) -> Response {
    let pending = match the_pending(state, None).await {
        Ok(Some(p)) => p,
        Ok(None) => return Redirect::to("/licenses/activate").into_response(),
        Err(e) => return store_error(u, e),
    };
    let Some(c) = pending.diff.changes.iter().find(|c| c.name.as_str() == module) else {
        return page_status(StatusCode::NOT_FOUND, u, u.t.t("not-found"), module.to_owned());
    };
    let holders = match state.store.module_holders(module, 0, 1000).await {
        Ok(h) => h,
        Err(e) => return store_error(u, e),
    };
    let f = frame(u, None, error);
    render(&ExcessPage {
        f,
        owner: pending.owner_name.clone(),
        module: module.to_owned(),
        in_use: c.in_use,
        available: c.new_total,
        to_remove: (c.in_use - c.new_total).max(0),
        holders,
    })
}

pub async fn excess_dialog(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Path(module): Path<String>,
) -> Response {
    excess_page(&u, &state, &module, None).await
}

pub async fn excess_submit(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Path(module): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&u, f.get("csrf").map(String::as_str).unwrap_or("")) {
        return bad_csrf(&u);
    }
    let users: Vec<String> = f
        .keys()
        .filter_map(|k| k.strip_prefix("user:"))
        .map(str::to_owned)
        .collect();
    if users.is_empty() {
        return excess_page(&u, &state, &module, Some(u.t.t("to-remove"))).await;
    }
    let actor = Actor {
        name: &u.session.user.login_name,
        automatic: false,
    };
    if let Err(e) = state.store.remove_excess(&module, &users, actor).await {
        return excess_page(&u, &state, &module, Some(format!("{}: {e}", e.code()))).await;
    }
    Redirect::to("/licenses/activate").into_response()
}

pub async fn check_now(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    match state.store.request_issuer_check().await {
        Ok(()) => Redirect::to("/licenses?notice=check-requested").into_response(),
        Err(e) => Redirect::to(&format!("/licenses?error={}", urlencode(&e.to_string()))).into_response(),
    }
}

/// "Load license from file": a multipart upload with the csrf field and the file.
pub async fn upload(UiAdmin(u): UiAdmin, State(state): State<AppState>, mut form: Multipart) -> Response {
    let (mut csrf, mut text) = (String::new(), None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else { break };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "license" => text = Some(bytes),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Redirect::to(&format!("/licenses?error={}", urlencode(&e.body_text())))
                    .into_response()
            }
        }
    }
    if !csrf_ok(&u, &csrf) {
        return bad_csrf(&u);
    }
    let fail = |m: String| Redirect::to(&format!("/licenses?error={}", urlencode(&m))).into_response();
    let Some(bytes) = text else {
        return fail("FILE_UNREADABLE: no file".into());
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return fail("FILE_NOT_UTF8: the file is not text".into());
    };
    let keys = match state.store.receiving_keys().await {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return fail("LICENSE_KEY_REQUIRED: start the server with --public-key".into()),
        Err(e) => return fail(e.to_string()),
    };
    let license = match VerifiedLicense::verify(text, &keys) {
        Ok(l) => l,
        Err(e) => return fail(format!("{}: {e}", e.code())),
    };
    let Some(key) = keys.iter().find(|k| k.id() == license.key_id()).cloned() else {
        return fail(codes::LICENSE_SIGNATURE_INVALID.into());
    };
    let actor = Actor {
        name: &u.session.user.login_name,
        automatic: false,
    };
    match state
        .store
        .receive_license(&license, &key, text, "file", actor)
        .await
    {
        Ok(lisens_store::Received::Pending { .. }) => Redirect::to(&format!(
            "/licenses/activate?owner={}",
            urlencode(license.owner().name.as_str())
        ))
        .into_response(),
        Ok(_) => Redirect::to(&format!(
            "/licenses?owner={}&notice=new-license-activated",
            urlencode(license.owner().name.as_str())
        ))
        .into_response(),
        Err(e) => fail(format!("{}: {e}", e.code())),
    }
}

// ---- users ---------------------------------------------------------------------

struct Column {
    name: String,
    description: String,
    in_use: i64,
    total: i64,
}

struct Cell {
    module: String,
    held: bool,
}

struct UserRow {
    login: String,
    full_name: String,
    summary: String,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    f: Frame<'a>,
    matrix: bool,
    columns: Vec<Column>,
    rows: Vec<UserRow>,
    filter: String,
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    module: Option<String>,
    error: Option<String>,
}

async fn users_page(u: &UiUser, state: &AppState, q: UsersQuery, matrix: bool) -> Response {
    let (status, users) = match (
        state.store.license_status().await,
        state.store.list_associates().await,
    ) {
        (Ok(s), Ok(users)) => (s, users),
        (Err(e), _) | (_, Err(e)) => return store_error(u, e),
    };
    // Plans first, then the other visible user licenses.
    let mut mods: Vec<&ModuleStatus> = status
        .owners
        .iter()
        .flat_map(|o| &o.modules)
        .filter(|m| m.module_type == "user" && !m.hidden)
        .collect();
    mods.sort_by_key(|m| !m.plan);
    let columns: Vec<Column> = mods
        .iter()
        .map(|m| Column {
            name: m.name.clone(),
            description: m.description.clone(),
            in_use: m.in_use,
            total: m.total,
        })
        .collect();
    let filter = q.module.unwrap_or_default();
    let mut rows = Vec::new();
    for a in users.iter().filter(|a| *a.active) {
        let held: Vec<Holding> = state.store.holdings(&a.login_name).await.unwrap_or_default();
        if !filter.is_empty() && !held.iter().any(|h| h.module == filter) {
            continue;
        }
        rows.push(UserRow {
            login: a.login_name.clone(),
            full_name: a.full_name.clone(),
            summary: held
                .iter()
                .filter(|h| h.direct)
                .map(|h| h.module.clone())
                .collect::<Vec<_>>()
                .join(", "),
            cells: columns
                .iter()
                .map(|c| Cell {
                    module: c.name.clone(),
                    held: held.iter().any(|h| h.module == c.name),
                })
                .collect(),
        });
    }
    let f = frame(u, None, q.error);
    render(&UsersPage {
        f,
        matrix,
        columns,
        rows,
        filter,
    })
}

pub async fn users(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    users_page(&u, &state, q.map(|Query(q)| q).unwrap_or_default(), false).await
}

pub async fn user_licenses(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    users_page(&u, &state, q.map(|Query(q)| q).unwrap_or_default(), true).await
}

#[derive(Deserialize)]
pub struct ToggleForm {
    csrf: String,
    login: String,
    module: String,
    action: String,
}

pub async fn toggle(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Form(f): Form<ToggleForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    let result = match f.action.as_str() {
        "assign" => state.store.assign(&f.login, &f.module).await,
        "unassign" => state.store.unassign(&f.login, &f.module).await,
        _ => {
            return page_status(
                StatusCode::BAD_REQUEST,
                &u,
                codes::INVALID_INPUT.into(),
                "action".into(),
            )
        }
    };
    match result {
        Ok(()) => Redirect::to("/users/licenses").into_response(),
        Err(e) => Redirect::to(&format!(
            "/users/licenses?error={}",
            urlencode(&format!(
                "{} ({} / {}): {}: {e}",
                u.t.t("refused"),
                f.login,
                f.module,
                e.code()
            ))
        ))
        .into_response(),
    }
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage<'a> {
    f: Frame<'a>,
    holdings: Vec<Holding>,
}

pub async fn me(u: UiUser, State(state): State<AppState>) -> Response {
    let holdings = match state.store.holdings(&u.session.user.login_name).await {
        Ok(h) => h,
        Err(e) => return store_error(&u, e),
    };
    let f = frame(&u, None, None);
    render(&MePage { f, holdings })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- metered services ------------------------------------------------------------

struct ServiceView {
    key: String,
    label: String,
    threshold: Option<u64>,
    usage_text: String,
    threshold_text: String,
    overage_text: String,
    projected_text: String,
    percent: u64,
    bar_percent: u64,
    over: bool,
    price: Option<String>,
    chart: String,
}

#[derive(Template)]
#[template(path = "metering.html")]
struct MeteringPage<'a> {
    f: Frame<'a>,
    month: String,
    billable: i64,
    services: Vec<ServiceView>,
}

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    month: Option<String>,
}

/// A 12-month bar chart as inline SVG: readable without JavaScript, each bar
/// with its own title, the threshold as a line.
fn chart(t: &Tr, label: &str, months: &[(String, u64)], threshold: Option<u64>) -> String {
    let (w, h, gap) = (36u64, 120u64, 6u64);
    let max = months
        .iter()
        .map(|(_, v)| *v)
        .chain(threshold)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = months.len() as u64 * (w + gap);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{} - {}\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" xmlns=\"http://www.w3.org/2000/svg\">",
        askama::filters::escape(label, askama::filters::Html).map(|e| e.to_string()).unwrap_or_default(),
        t.t("last-12-months"),
        h + 20,
        h + 20
    );
    for (i, (month, v)) in months.iter().enumerate() {
        let bar = v * h / max;
        let x = i as u64 * (w + gap);
        let over = threshold.is_some_and(|th| *v > th);
        svg.push_str(&format!(
            "<g><title>{month}: {}</title><rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{bar}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text></g>",
            t.num(&(*v as i64)),
            h - bar,
            if over { "#b3261e" } else { "#1f4e79" },
            x + w / 2,
            h + 14,
            &month[2..]
        ));
    }
    if let Some(th) = threshold {
        let y = h - th.min(max) * h / max;
        svg.push_str(&format!("<line x1=\"0\" x2=\"{width}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#8a5a00\" stroke-dasharray=\"4 3\"/>"));
    }
    svg.push_str("</svg>");
    svg
}

pub async fn metering(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let month = q.ok().and_then(|Query(q)| q.month).filter(|m| !m.is_empty());
    let report = match crate::metering_api::report(&state, month).await {
        Ok(r) => r,
        Err(e) => return page_status(e.status, &u, e.code, e.detail),
    };
    let mut months = vec![report.month.clone()];
    while months.len() < 12 {
        match lisens_core::metering::previous_month(months.last().expect("not empty")) {
            Ok(m) => months.push(m),
            Err(_) => break,
        }
    }
    months.reverse();
    let history = match state.store.usage_history(&months).await {
        Ok(h) => h,
        Err(e) => return store_error(&u, e),
    };
    let services = report
        .services
        .iter()
        .map(|s| {
            let label = u.t.t(&format!("svc-{}", s.service));
            let series: Vec<(String, u64)> = history
                .iter()
                .map(|(m, v)| (m.clone(), v.get(&s.service).copied().unwrap_or(0)))
                .collect();
            let percent = s.percent.unwrap_or(0);
            ServiceView {
                key: s.service.clone(),
                chart: chart(&u.t, &label, &series, s.threshold),
                label,
                threshold: s.threshold,
                usage_text: u.t.num(&(s.usage as i64)),
                threshold_text: s.threshold.map(|t| u.t.num(&(t as i64))).unwrap_or_default(),
                overage_text: u.t.num(&(s.overage as i64)),
                projected_text: u.t.num(&(s.projected as i64)),
                percent,
                bar_percent: percent.min(100),
                over: s.overage > 0,
                price: s
                    .price
                    .as_ref()
                    .map(|p| format!("{p} {}", s.currency.clone().unwrap_or_default())),
            }
        })
        .collect();
    let f = frame(&u, None, None);
    render(&MeteringPage {
        f,
        month: report.month.clone(),
        billable: report.billable_users as i64,
        services,
    })
}

macro_rules! framed {
    ($($page:ident),*) => {$(
        impl<'a> std::ops::Deref for $page<'a> {
            type Target = Frame<'a>;
            fn deref(&self) -> &Frame<'a> {
                &self.f
            }
        }
    )*};
}
framed!(
    MessagePage,
    LicensesPage,
    ModulePage,
    ActivatePage,
    ExcessPage,
    UsersPage,
    MePage,
    MeteringPage
);
