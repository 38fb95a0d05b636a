//! The license screens under Settings and maintenance -> Licenses: the tab
//! per owner and the Status tab (with its system events), a module's page of
//! holders, the "Activate new license" and "Remove excess licenses" dialogs,
//! the "check now" request to the issuer, and loading a license from a file.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lisens_core::codes;
use lisens_core::VerifiedLicense;
use lisens_store::{Actor, ModuleStatus, OwnerStatus, PendingLicense, StoreError};
use serde::Deserialize;

use super::{
    bad_csrf, carried, csrf_ok, frame, page_status, refused, render, store_error, urlencode, CsrfForm, Frame,
    UiAdmin, UiUser,
};
use crate::i18n::Tr;
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
    /// The system message of the latest automatic activation, whose
    /// description lists the changes.
    activated_event: Option<i64>,
    /// The day the demo ends (the installation's first day plus the demo
    /// period), while no license is loaded.
    demo_until: String,
    /// No license is loaded at all: the page offers the way in.
    unlicensed: bool,
    owner: Option<OwnerStatus>,
    warnings: Vec<String>,
    buy_url: String,
    pending: bool,
    activated: bool,
    groups: Vec<Group>,
    status_owners: Vec<OwnerStatus>,
    events: Vec<lisens_store::SystemEvent>,
    description: Option<String>,
    /// The chosen message is an activation: the licenses it changed.
    changes: Option<Vec<ChangeRow>>,
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
    // Each license in the words its product gives it in the reader's language.
    let pick = |f: &dyn Fn(&ModuleStatus) -> bool| {
        visible
            .iter()
            .filter(|m| f(m))
            .map(|m| o.in_language(m, t.code))
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

/// One changed license of an activation, as the description table shows it.
struct ChangeRow {
    license: String,
    before: String,
    now: String,
    change: String,
}

/// An activation's description is its diff (JSON): a table of the changed
/// licenses (name, before, now, change in words) in the reader's
/// language; None for any other description, which is shown as it is.
fn change_rows(t: &Tr, description: &str) -> Option<Vec<ChangeRow>> {
    let diff = serde_json::from_str::<lisens_core::activation::LicenseDiff>(description).ok()?;
    Some(
        diff.changes
            .iter()
            .map(|c| ChangeRow {
                license: if c.description.is_empty() {
                    c.name.to_string()
                } else {
                    c.description.clone()
                },
                before: t.num(&c.total),
                now: t.num(&c.new_total),
                change: if c.added < 0 {
                    t.fewer(&c.added)
                } else {
                    format!("+{}", t.num(&c.added))
                },
            })
            .collect(),
    )
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
    // Each message as the reader reads it: the system's in their language,
    // who did it by their full name ("the system" in their words).
    let names: HashMap<String, String> = state
        .store
        .list_associates()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.login_name, a.full_name))
        .collect();
    let system_events: Vec<lisens_store::SystemEvent> = state
        .store
        .events(&Default::default(), 0, 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            e.message = u.t.event_message(&e, status.product());
            e.activated_by = names
                .get(&e.activated_by)
                .cloned()
                .unwrap_or_else(|| u.t.who(&e.activated_by));
            // Times in the installation's time zone, in the reader's format.
            e.activated_at = u.t.when_stored(&e.activated_at, &state.zone);
            e.finished_at = e.finished_at.map(|f| u.t.when_stored(&f, &state.zone));
            e.eta = e.eta.map(|f| u.t.when_stored(&f, &state.zone));
            e
        })
        .collect();
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
    let chosen = q.event.and_then(|id| system_events.iter().find(|e| e.id == id));
    let changes = chosen.and_then(|e| change_rows(&u.t, &e.description));
    let description = chosen.map(|e| {
        let head = format!(
            "{} ({}, {})\n{}",
            u.t.event_name(&e.key),
            u.t.t(&format!("scope-{}", e.scope)),
            e.activated_by,
            e.message,
        );
        if changes.is_some() || e.description.is_empty() {
            head
        } else {
            format!("{head}\n{}", e.description)
        }
    });
    // "New license activated" opens the changes it made.
    let activated_event = system_events
        .iter()
        .find(|e| e.key == "license-activated")
        .map(|e| e.id);
    let (notice, error) = carried(&u.t, q.notice.as_deref(), q.error.as_deref());
    let f = frame(u, notice, error);
    render(&LicensesPage {
        f,
        tabs,
        status_tab,
        demo: status.demo.is_some(),
        activated_event,
        demo_until: status
            .demo
            .as_ref()
            .map(|d| u.t.date(d.until.chars().take(10).collect::<String>()))
            .unwrap_or_default(),
        unlicensed: status.owners.is_empty(),
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
        changes,
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
    let fail = |code: &str| refused("/licenses/status", code);
    let Ok(key) = lisens_core::events::EventKey::parse_admin(&f.key) else {
        return fail(codes::INVALID_INPUT);
    };
    let Ok(scope) = lisens_core::events::EventScope::parse(&f.scope) else {
        return fail(codes::INVALID_INPUT);
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
        Err(e) => fail(e.code()),
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
        .end_event_by_hand(id, lisens_core::events::EventStatus::Finished)
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
    let Some((owner, m)) = status.module(&name) else {
        return page_status(StatusCode::NOT_FOUND, &u, u.t.t("not-found"), name);
    };
    let m = owner.in_language(m, u.t.code);
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
        m,
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
    /// The license's name in the reader's language.
    label: String,
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
    let label = match state.store.license_status().await {
        Ok(status) => status
            .module(module)
            .map(|(o, m)| o.in_language(m, u.t.code).description)
            .filter(|d| !d.is_empty())
            .or_else(|| Some(c.description.clone()).filter(|d| !d.is_empty()))
            .unwrap_or_else(|| module.to_owned()),
        Err(e) => return store_error(u, e),
    };
    let f = frame(u, None, error);
    render(&ExcessPage {
        f,
        owner: pending.owner_name.clone(),
        module: module.to_owned(),
        label,
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
        return excess_page(&u, &state, &module, Some(u.t.t("remove-excess-none-ticked"))).await;
    }
    let actor = Actor {
        name: &u.session.user.login_name,
        automatic: false,
    };
    if let Err(e) = state.store.remove_excess(&module, &users, actor).await {
        let sentence =
            u.t.error_naming(e.code())
                .unwrap_or_else(|| u.t.t("error-general"));
        return excess_page(
            &u,
            &state,
            &module,
            Some(format!("{}: {sentence}", u.t.t("refused"))),
        )
        .await;
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
        Err(e) => refused("/licenses", e.code()),
    }
}

#[derive(Deserialize)]
pub struct RegisterForm {
    csrf: String,
    /// The issuer's address, as the vendor gave it.
    issuer: String,
    serial: String,
    /// The license owner (the company) the vendor registered.
    owner: String,
}

/// A new installation registers with its issuer by serial number and license
/// owner (what the vendor gave on purchase): the issuer answers with the
/// license, which is loaded. A refusal reads as a sentence on the page.
pub async fn register(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    Form(f): Form<RegisterForm>,
) -> Response {
    if !csrf_ok(&u, &f.csrf) {
        return bad_csrf(&u);
    }
    let issuer = f.issuer.trim();
    let web = reqwest::Url::parse(issuer).is_ok_and(|url| matches!(url.scheme(), "https" | "http"));
    if !web || f.serial.trim().is_empty() || f.owner.trim().is_empty() {
        return refused("/licenses", codes::INVALID_INPUT);
    }
    let keys = match state.store.receiving_keys().await {
        Ok(keys) => keys,
        Err(e) => return refused("/licenses", e.code()),
    };
    match crate::issuer_client::register(
        &state.store,
        issuer,
        f.serial.trim(),
        f.owner.trim(),
        &keys,
        &u.session.user.login_name,
    )
    .await
    {
        Ok(_) => {
            // The screens read the new license at once, not at the next poll.
            if let Err(e) = state.view.refresh().await {
                tracing::warn!("access view refresh after registration: {e}");
            }
            Redirect::to("/licenses?notice=registered").into_response()
        }
        Err(e) => refused("/licenses", &e.code()),
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
            Err(_) => return refused("/licenses", codes::FILE_UNREADABLE),
        }
    }
    if !csrf_ok(&u, &csrf) {
        return bad_csrf(&u);
    }
    let fail = |code: &str| refused("/licenses", code);
    let Some(bytes) = text else {
        return fail(codes::FILE_UNREADABLE);
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return fail(codes::FILE_NOT_UTF8);
    };
    let keys = match state.store.receiving_keys().await {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return fail(codes::LICENSE_KEY_REQUIRED),
        Err(e) => return fail(e.code()),
    };
    let license = match VerifiedLicense::verify(text, &keys) {
        Ok(l) => l,
        Err(e) => return fail(e.code()),
    };
    let Some(key) = keys.iter().find(|k| k.id() == license.key_id()).cloned() else {
        return fail(codes::LICENSE_SIGNATURE_INVALID);
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
        Err(e) => fail(e.code()),
    }
}

framed!(LicensesPage, ModulePage, ActivatePage, ExcessPage);
