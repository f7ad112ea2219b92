//! The login page (`/login`) and logout (`POST /logout`).
//!
//! The passphrase check, failure counting, CAPTCHA and lockout are the session module's
//! ([`session::login`]); this page shows its answer next to the form, with the CAPTCHA image
//! and an answer field when the next attempt needs one.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};

use super::{UiAdmin, api_call, bare_page, csrf_ok};
use crate::AppState;
use crate::session;
use crate::session::Captcha;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
}

fn login_form(login: &str, error: Option<&str>, captcha: Option<&Captcha>) -> Markup {
    bare_page(
        "Log in",
        html! {
            form.login method="post" action="/login" {
                div.field {
                    label for="login" { "Login name" }
                    input #login type="text" name="login" value=(login) autocomplete="username" autofocus[login.is_empty()] required;
                }
                div.field {
                    label for="passphrase" { "Passphrase" }
                    input #passphrase type="password" name="passphrase" autocomplete="current-password" autofocus[!login.is_empty()] required
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "login-error")];
                }
                @if let Some(c) = captcha {
                    div.field.captcha {
                        label for="captcha_answer" { "Type the characters in the picture" }
                        div.captcha-image { (PreEscaped(&c.svg)) }
                        input type="hidden" name="captcha_id" value=(c.id);
                        input #captcha_answer type="text" name="captcha_answer" autocomplete="off" required;
                    }
                }
                @if let Some(e) = error { p.field-error #login-error role="alert" { (e) } }
                div.buttons { button.primary type="submit" { "Log in" } }
            }
        },
    )
}

async fn login_page(State(s): State<AppState>, admin: Option<UiAdmin>) -> Response {
    if admin.is_some() {
        return Redirect::to("/overview").into_response();
    }
    if super::setup::setup_pending_here(&s) {
        return Redirect::to("/setup").into_response();
    }
    login_form("", None, None).into_response()
}

async fn log_in(State(s): State<AppState>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let login = field("login").trim();
    let captcha = match (form.get("captcha_id"), form.get("captcha_answer")) {
        (Some(id), Some(answer)) => Some((id.as_str(), answer.as_str())),
        _ => None,
    };
    match session::login(&s, login, field("passphrase"), captcha).await {
        Ok(new) => {
            // The frame shows the passphrase-expiry banner on every page, so no flag here.
            let to = if new.must_change_passphrase {
                "/system/passphrase"
            } else {
                "/overview"
            };
            (
                [(header::SET_COOKIE, session::cookie_header(&new))],
                Redirect::to(to),
            )
                .into_response()
        }
        Err(refused) => {
            let captcha = refused.captcha.or_else(|| session::captcha_for(&s, login));
            (
                StatusCode::UNAUTHORIZED,
                login_form(login, Some(&refused.message), captcha.as_ref()),
            )
                .into_response()
        }
    }
}

async fn log_out(
    State(s): State<AppState>,
    admin: UiAdmin,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(
        &admin.session,
        form.get("csrf").map(String::as_str).unwrap_or(""),
    ) {
        return (StatusCode::FORBIDDEN, bare_page("Log out", html! { p.flash.error { "The form was stale; " a href="/overview" { "go back" } " and try again." } })).into_response();
    }
    // Through the API so the audit log records it; ending the session here as well is harmless.
    let _ = api_call(&s, &admin.session, Method::DELETE, "/api/v1/session", None).await;
    s.sessions.end(&admin.session.token);
    (
        [(header::SET_COOKIE, session::clear_cookie_header())],
        Redirect::to("/login"),
    )
        .into_response()
}
