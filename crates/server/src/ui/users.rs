//! The user screens: Users, Users -> User licenses (the matrix of users and
//! user licenses, with its assign/unassign toggle), and a user's own page of
//! the licenses they hold.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lisens_core::codes;
use lisens_store::{Holding, ModuleStatus};
use serde::Deserialize;

use super::{
    bad_csrf, carried, csrf_ok, frame, refusal_page, refused, render, store_error, Frame, UiAdmin, UiUser,
};
use crate::AppState;

struct Column {
    name: String,
    /// The license's name in the reader's language.
    label: String,
    /// A sentence about it, as a tooltip.
    about: String,
    in_use: i64,
    total: i64,
}

struct Cell {
    module: String,
    /// The license's name in the reader's language.
    label: String,
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
    /// With `error`: the user and license the refused change was about,
    /// looked up here (only a known login and license name give words).
    user: Option<String>,
    license: Option<String>,
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
    let mut mods: Vec<ModuleStatus> = status
        .owners
        .iter()
        .flat_map(|o| o.modules.iter().map(move |m| (o, m)))
        .filter(|(_, m)| m.module_type == "user" && !m.hidden)
        .map(|(o, m)| o.in_language(m, u.t.code))
        .collect();
    mods.sort_by_key(|m| !m.plan);
    let columns: Vec<Column> = mods
        .into_iter()
        .map(|m| Column {
            label: if m.description.is_empty() {
                m.name.clone()
            } else {
                m.description
            },
            name: m.name,
            about: m.tooltip,
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
                .map(|h| {
                    columns
                        .iter()
                        .find(|c| c.name == h.module)
                        .map_or_else(|| h.module.clone(), |c| c.label.clone())
                })
                .collect::<Vec<_>>()
                .join(", "),
            cells: columns
                .iter()
                .map(|c| Cell {
                    module: c.name.clone(),
                    label: c.label.clone(),
                    held: held.iter().any(|h| h.module == c.name),
                })
                .collect(),
        });
    }
    let (_, error) = carried(&u.t, None, q.error.as_deref());
    // "Refused (Frida Berg / Marketing Premium): ...": the names come from
    // the installation, never the URL's words.
    let who = q
        .user
        .as_deref()
        .and_then(|l| users.iter().find(|a| a.login_name == l))
        .map(|a| a.full_name.clone());
    let what = q
        .license
        .as_deref()
        .and_then(|m| columns.iter().find(|c| c.name == m))
        .map(|c| c.label.clone());
    let about: Vec<String> = who.into_iter().chain(what).collect();
    let error = match error {
        Some(e) if !about.is_empty() => {
            let refused = u.t.t("refused");
            Some(e.replacen(&refused, &format!("{refused} ({})", about.join(" / ")), 1))
        }
        e => e,
    };
    let f = frame(u, None, error);
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
        _ => return refusal_page(StatusCode::BAD_REQUEST, &u, codes::INVALID_INPUT),
    };
    match result {
        Ok(()) => Redirect::to("/users/licenses").into_response(),
        Err(e) => refused(
            &format!(
                "/users/licenses?user={}&license={}",
                super::urlencode(&f.login),
                super::urlencode(&f.module)
            ),
            e.code(),
        ),
    }
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage<'a> {
    f: Frame<'a>,
    holdings: Vec<Holding>,
}

pub async fn me(u: UiUser, State(state): State<AppState>) -> Response {
    let (holdings, status) = match (
        state.store.holdings(&u.session.user.login_name).await,
        state.store.license_status().await,
    ) {
        (Ok(h), Ok(s)) => (h, s),
        (Err(e), _) | (_, Err(e)) => return store_error(&u, e),
    };
    // Hidden licenses (those a plan grants, `user`, `web`) are not shown;
    // the others by their names in the reader's language.
    let holdings = holdings
        .into_iter()
        .filter_map(|mut h| {
            let (owner, m) = status.module(&h.module)?;
            if m.hidden {
                return None;
            }
            let m = owner.in_language(m, u.t.code);
            if !m.description.is_empty() {
                h.module = m.description;
            }
            Some(h)
        })
        .collect();
    let f = frame(&u, None, None);
    render(&MePage { f, holdings })
}

framed!(UsersPage, MePage);
