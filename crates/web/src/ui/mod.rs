//! The admin UI: server-rendered HTML on the admin port, beside `/api/v1`.
//!
//! Every page reads and writes through the REST API in-process ([`api_call`]), so the UI can do
//! nothing the API would refuse: the same permission checks, validation, audit log and errors.
//! Pages are built with maud (escaping by construction); forms post plain HTML and carry the
//! session's CSRF token; there is no front-end build step and JavaScript is optional.
//!
//! Layout of this module: `mod.rs` holds the router, the page frame ([`page`]), the session
//! extractor ([`UiAdmin`]) and the API bridge; each section of the navigation has its own file.

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;
use signet_model::Administrator;
use tower::ServiceExt;

use crate::session::{CSRF_HEADER, SESSION_COOKIE, Session};

// The data pages (consumers, keys, mail, policy, services) and their shared helpers.
mod consumers;
mod dictionaries;
mod forms;
mod keys;
mod mail;
mod mail_proxies;
mod policy;
mod rule_choices;
mod rule_editor;
mod rule_form;
mod services;
use crate::{AppState, Problem};

// The frame's own pages: login, setup assistant, overview, system pages, logs.
mod admins;
pub mod graphs;
mod login;
mod logs;
mod overview;
pub mod setup;
mod setup_join_restore;
mod setup_mail;
mod system;
mod widgets;

/// What this node runs and where (from its configuration), for the overview and Network pages.
#[derive(Debug, Default, Clone)]
pub struct NodeFacts {
    /// The admin listener (UI and API).
    pub admin_address: String,
    /// The name in greetings and Received fields.
    pub hostname: String,
    /// gateway or internal.
    pub placement: String,
    pub listeners: Vec<Listener>,
}

/// One listening service of this node.
#[derive(Debug, Clone)]
pub struct Listener {
    pub service: String,
    pub address: String,
}

/// The UI's routes (merged into the admin router before the API fallback).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/ui/style.css", get(style))
        .merge(login::routes())
        .merge(setup::routes())
        .merge(overview::routes())
        .merge(logs::routes())
        .merge(admins::routes())
        .merge(system::routes())
        .merge(consumers::routes())
        .merge(keys::routes())
        .merge(mail::routes())
        .merge(mail_proxies::routes())
        .merge(dictionaries::routes())
        .merge(policy::routes())
        .merge(rule_editor::routes())
        .merge(services::routes())
}

async fn home(admin: Option<UiAdmin>) -> Redirect {
    match admin {
        Some(_) => Redirect::to("/overview"),
        None => Redirect::to("/login"),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("style.css"),
    )
        .into_response()
}

/// The administrator behind the request's session cookie. Pages that need one take this; a
/// request without a live session is sent to the login page.
pub struct UiAdmin {
    pub admin: Administrator,
    pub session: Session,
    /// Days until the administrator's passphrase expires, while in the warning period: every
    /// page then shows a banner.
    pub passphrase_expires_in_days: Option<u32>,
}

/// Days left before `admin`'s passphrase expires when inside the warning period of `settings`
/// (the same rule as the session API's `passphrase_expires_in_days`), else `None`.
pub fn passphrase_warning_days(
    admin: &Administrator,
    settings: &signet_model::AdministrationSettings,
    now: u64,
) -> Option<u32> {
    admin
        .passphrase
        .as_ref()
        .and_then(|p| settings.warning_days_left(p.set_at, now))
}

impl FromRequestParts<AppState> for UiAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/login").into_response();
        // The idle timeout is an administration setting; apply it before judging the session.
        crate::auth::apply_idle_timeout(state);
        let session = state
            .sessions
            .from_headers(&parts.headers)
            .ok_or_else(to_login)?;
        let admin = state
            .node
            .local()
            .administrator(&session.login)
            .ok()
            .flatten()
            .ok_or_else(to_login)?;
        // A temporary or expired passphrase must be changed before anything else.
        let path = parts.uri.path();
        if session.must_change_passphrase && path != "/system/passphrase" && path != "/logout" {
            return Err(Redirect::to("/system/passphrase").into_response());
        }
        let passphrase_expires_in_days = state
            .node
            .local()
            .administration_settings()
            .ok()
            .and_then(|settings| {
                passphrase_warning_days(&admin, &settings, signet_store::now_millis())
            });
        Ok(UiAdmin {
            admin,
            session,
            passphrase_expires_in_days,
        })
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for UiAdmin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <UiAdmin as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// Calls `/api/v1` in-process as the session's administrator. `body` is sent as JSON when given.
/// Returns the JSON answer, or the API's problem (status and message for the page to show).
pub async fn api_call(
    state: &AppState,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Problem> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", session.token),
        )
        .header(CSRF_HEADER, &session.csrf);
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let request = request
        .body(body)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = match crate::api::router(state.clone()).oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if status.is_success() {
        Ok(value)
    } else {
        let detail = value
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("the request failed")
            .to_string();
        let mut problem = Problem::new(status, detail);
        // The field a refusal names, so a form can show the message next to it.
        problem.extra = value
            .get("field")
            .map(|f| serde_json::json!({ "field": f }));
        Err(problem)
    }
}

/// Sends `request` (with the session's cookie and CSRF headers added) to `/api/v1` in-process.
async fn api_send(
    state: &AppState,
    session: &Session,
    request: axum::http::request::Builder,
    body: Body,
) -> Result<(StatusCode, axum::http::HeaderMap, axum::body::Bytes), Problem> {
    let request = request
        .header(
            header::COOKIE,
            format!("{SESSION_COOKIE}={}", session.token),
        )
        .header(CSRF_HEADER, &session.csrf)
        .body(body)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = match crate::api::router(state.clone()).oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((parts.status, parts.headers, bytes))
}

/// `GET path` on `/api/v1` in-process for a file (a backup): the answer's headers and bytes as
/// they are, or the API's problem.
pub async fn api_call_bytes(
    state: &AppState,
    session: &Session,
    path: &str,
) -> Result<(axum::http::HeaderMap, axum::body::Bytes), Problem> {
    let request = Request::builder().method(Method::GET).uri(path);
    let (status, headers, bytes) = api_send(state, session, request, Body::empty()).await?;
    if status.is_success() {
        return Ok((headers, bytes));
    }
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let detail = value
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("the request failed")
        .to_string();
    Err(Problem::new(status, detail))
}

/// The navigation: (section title, [(page title, path)]).
pub const NAVIGATION: &[(&str, &[(&str, &str)])] = &[
    ("Overview", &[("System overview", "/overview")]),
    (
        "Consumers",
        &[
            ("Internal users", "/consumers/internal"),
            ("External users", "/consumers/external"),
        ],
    ),
    (
        "Keys",
        &[
            ("Organization keys", "/keys/organization"),
            ("Managed keys", "/keys/managed"),
            ("Trusted keys", "/keys/trusted"),
            ("Key cache", "/keys/cache"),
            ("Keyservers", "/keys/keyservers"),
        ],
    ),
    (
        "Mail",
        &[
            ("Mail policy", "/mail/policy"),
            ("Dictionaries", "/mail/dictionaries"),
            ("Managed domains", "/mail/domains"),
            ("Proxies", "/mail/proxies"),
            ("Mail queue", "/mail/queue"),
            ("Mail routes", "/mail/routes"),
            ("Message templates", "/mail/templates"),
            ("Learn Mode", "/mail/learn-mode"),
        ],
    ),
    (
        "Services",
        &[
            ("Keyserver", "/services/keyserver"),
            ("Verified Directory", "/services/verified-directory"),
            ("CRL", "/services/crl"),
        ],
    ),
    (
        "System",
        &[
            ("Administrators", "/system/administrators"),
            ("Clustering", "/system/cluster"),
            ("Backups", "/system/backups"),
            ("Ignition Keys", "/system/ignition-keys"),
            ("Network", "/system/network"),
            ("Certificates", "/system/certificates"),
            ("Logs", "/system/logs"),
            ("Administration settings", "/system/administration"),
        ],
    ),
];

/// One message shown at the top of a page after an action.
pub enum Flash {
    Done(String),
    Error(String),
}

/// The frame of every signed-in page: header, navigation with `current` highlighted, flash,
/// then `body`.
pub fn page(
    title: &str,
    current: &str,
    who: &UiAdmin,
    flash: Option<Flash>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Signet" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header.top {
                    a.brand href="/overview" { "Signet" }
                    span.who { (who.admin.login) " · " (who.admin.role.as_str()) }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(who.session.csrf);
                        button type="submit" { "Log out" }
                    }
                }
                div.frame {
                    nav.side {
                        @for (section, pages) in NAVIGATION {
                            h2 { (section) }
                            ul {
                                @for (name, path) in *pages {
                                    li { a href=(path) class=[(*path == current).then_some("current")] { (name) } }
                                }
                            }
                        }
                    }
                    main {
                        @if let Some(days) = who.passphrase_expires_in_days {
                            p.flash.error.passphrase-expiry role="alert" {
                                "Your passphrase expires in " (days) @if days == 1 { " day" } @else { " days" } " — "
                                a href="/system/passphrase" { "change it" }
                            }
                        }
                        h1 { (title) }
                        @match flash {
                            Some(Flash::Done(text)) => p.flash.done role="status" { (text) },
                            Some(Flash::Error(text)) => p.flash.error role="alert" { (text) },
                            None => {},
                        }
                        (body)
                    }
                }
            }
        }
    }
}

/// A page without the signed-in frame (login, setup assistant, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Signet" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body.bare {
                main.card {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// True when a posted form's `csrf` field matches the session's.
pub fn csrf_ok(session: &Session, posted: &str) -> bool {
    !posted.is_empty() && posted == session.csrf
}

/// Marks raw SVG drawn by our own code as HTML.
pub fn svg(markup: String) -> PreEscaped<String> {
    PreEscaped(markup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::{AdminRole, AdministrationSettings, PassphraseRecord};

    const DAY: u64 = 24 * 3600 * 1000;

    fn admin_with_passphrase_set_at(set_at: u64) -> Administrator {
        Administrator {
            login: "alice".into(),
            role: AdminRole::SuperUser,
            email: None,
            api_tokens: Vec::new(),
            created_at: 0,
            passphrase: Some(PassphraseRecord {
                hash: String::new(),
                set_at,
                temporary: false,
                history: Vec::new(),
            }),
            failed_logins: Default::default(),
        }
    }

    #[test]
    fn the_banner_counts_days_left_only_in_the_warning_period() {
        let settings = AdministrationSettings {
            aging: true,
            max_age_days: 90,
            warning_days: 15,
            ..AdministrationSettings::default()
        };
        let set_at = 1_000 * DAY;
        let admin = admin_with_passphrase_set_at(set_at);
        // 80 days in: 10 days left, inside the 15-day warning.
        assert_eq!(
            passphrase_warning_days(&admin, &settings, set_at + 80 * DAY),
            Some(10)
        );
        // Part of a day left counts as one day.
        assert_eq!(
            passphrase_warning_days(&admin, &settings, set_at + 90 * DAY - 1),
            Some(1)
        );
        // Before the warning period, after expiry, and with aging off: no banner.
        assert_eq!(
            passphrase_warning_days(&admin, &settings, set_at + 10 * DAY),
            None
        );
        assert_eq!(
            passphrase_warning_days(&admin, &settings, set_at + 91 * DAY),
            None
        );
        let off = AdministrationSettings {
            aging: false,
            ..settings.clone()
        };
        assert_eq!(
            passphrase_warning_days(&admin, &off, set_at + 80 * DAY),
            None
        );
        // An administrator with API tokens only has no passphrase to expire.
        let mut token_only = admin;
        token_only.passphrase = None;
        assert_eq!(
            passphrase_warning_days(&token_only, &settings, set_at + 80 * DAY),
            None
        );
    }
}
