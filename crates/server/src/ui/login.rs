//! The login screens: the root redirect, the login form and its submission
//! (with the double-submit CSRF cookie used before there is a session),
//! logging out, and switching the user's language.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lisens_core::codes;
use serde::Deserialize;

use super::{bad_csrf, csrf_ok, refusal_page, render, store_error, CsrfForm, UiUser};
use crate::auth::{constant_time_eq, session_of};
use crate::i18n::{choose, Tr, LANGUAGES};
use crate::session::{clear_cookie, log_in, session_cookie};
use crate::AppState;

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

/// "You may not log in: the sentence for why", in the reader's language
/// (never the code; the general sentence where a code has none).
fn refusal(t: &Tr, code: &str) -> String {
    let sentence = t.error_naming(code).unwrap_or_else(|| t.t("error-general"));
    format!("{}: {sentence}", t.t("login-refused"))
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
        return refusal_page(StatusCode::BAD_REQUEST, &u, codes::INVALID_INPUT);
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
