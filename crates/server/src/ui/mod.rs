//! The administrator's web UI, server-rendered (askama), in four languages.
//! Every action is a plain form POST carrying the session's CSRF token, so
//! it all works without JavaScript. Pages follow the CRM's help pages:
//! Settings and maintenance -> Licenses (a tab per owner and a Status tab,
//! the "Activate new license" and "Remove excess licenses" dialogs), and
//! Users -> User licenses.
//!
//! This module holds what several screens share: the `UiUser` and `UiAdmin`
//! extractors, the page frame and rendering, the CSRF check, the error and
//! message pages, the language chosen from the browser, and URL encoding for
//! redirects. The screens themselves live in `login`, `licenses`, `users` and
//! `metering`; their handlers are re-exported here for the router.

use askama::Template;
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use lisens_core::codes;
use lisens_store::{Session, StoreError};
use serde::Deserialize;

use crate::auth::{constant_time_eq, session_of};
use crate::i18n::{choose, Tr, LANGUAGES};
use crate::AppState;

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

mod licenses;
mod login;
mod metering;
mod users;

pub use licenses::{
    activate_dialog, activate_submit, add_event, check_now, end_event, excess_dialog, excess_submit,
    licenses, licenses_status, module, register, upload,
};
pub use login::{login_form, login_submit, logout, root, set_language};
pub use metering::metering;
pub use users::{me, toggle, user_licenses, users};

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
    /// The stable code of a refusal, shown small for support.
    code: Option<String>,
}

fn page_status(status: StatusCode, u: &UiUser, title: String, body: String) -> Response {
    let f = frame(u, None, None);
    let page = MessagePage {
        f,
        title,
        body,
        code: None,
    };
    (status, render(&page)).into_response()
}

/// A refusal as a page: "Refused" and the code's sentence in the reader's
/// language (the general one for a code without its own), the code small.
fn refusal_page(status: StatusCode, u: &UiUser, code: &str) -> Response {
    let body = u.t.error_naming(code).unwrap_or_else(|| u.t.t("error-general"));
    let f = frame(u, None, None);
    let page = MessagePage {
        f,
        title: u.t.t("refused"),
        body,
        code: Some(code.to_owned()),
    };
    (status, render(&page)).into_response()
}

fn store_error(u: &UiUser, e: StoreError) -> Response {
    let status = crate::error::ApiError::from(e);
    refusal_page(status.status, u, &status.code)
}

fn csrf_ok(u: &UiUser, sent: &str) -> bool {
    constant_time_eq(sent, &u.session.csrf)
}

fn bad_csrf(u: &UiUser) -> Response {
    refusal_page(StatusCode::FORBIDDEN, u, codes::CSRF_FAILED)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// The notices a redirect may name (`?notice=KEY`); any other value is
/// ignored.
const NOTICES: &[&str] = &["check-requested", "new-license-activated", "registered"];

/// Back to `path` with a refusal: the redirect carries only the error's
/// code, and the page shows its own sentence for it ([`carried`]).
fn refused(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}error={}", urlencode(code))).into_response()
}

/// What a page shows for the `notice` and `error` a redirect carried: a
/// known notice, and for a registered error code its sentence in the
/// reader's language ("Refused: ..."; the general sentence where the code
/// has none of its own). Nothing from the URL reaches the page as text: a
/// link with made-up words shows the general sentence, or no notice.
fn carried(t: &Tr, notice: Option<&str>, error: Option<&str>) -> (Option<String>, Option<String>) {
    let notice = notice.filter(|n| NOTICES.contains(n)).map(|n| t.t(n));
    let error = error.map(|code| {
        let sentence = codes::lookup(code)
            .and_then(|(known, _)| t.error(known))
            .unwrap_or_else(|| t.t("error-general"));
        format!("{}: {sentence}", t.t("refused"))
    });
    (notice, error)
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

framed!(MessagePage);
