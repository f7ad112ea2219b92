//! System → Administrators: the list (add, change role, reset passphrase, unlock, delete), the
//! signed-in administrator's own passphrase page, and the administration settings (passphrase
//! rules, lockout, CAPTCHA, idle timeout). Every action is an `/api/v1/administrators...` or
//! `/api/v1/settings/administration` call; roles that lack the permission see the controls
//! disabled, as the guide describes.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};
use signet_model::{AdminRole, Permission};

use super::forms::{FlashQuery, csrf_refused, enc, failed, may, text, unavailable};
use super::widgets::{Action, field, token};
use super::widgets::{post_button, read};
use super::{Flash, UiAdmin, api_call, csrf_field, csrf_ok, page};
use crate::AppState;

const LIST: &str = "/system/administrators";
const MINE: &str = "/system/passphrase";
const SETTINGS: &str = "/system/administration";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(LIST, get(list).post(add))
        .route("/system/administrators/{login}/role", post(change_role))
        .route(
            "/system/administrators/{login}/passphrase",
            post(reset_passphrase),
        )
        .route("/system/administrators/{login}/unlock", post(unlock))
        .route("/system/administrators/{login}/delete", post(delete))
        .route(MINE, get(mine).post(change_mine))
        .route(SETTINGS, get(settings).post(save_settings))
}

/// What each permission lets an administrator do, in the guide's words.
pub fn permission_text(p: Permission) -> &'static str {
    match p {
        Permission::ViewSettings => "view every page and setting",
        Permission::ReadRecoveryTokens => "read Web Email Protection recovery tokens",
        Permission::ControlServices => "start and stop services",
        Permission::ConfigureSystem => "change settings and mail policy",
        Permission::ManageUsers => "manage users and their keys",
        Permission::AddUsers => "add and remove users",
        Permission::ConfigureClustering => "add and remove cluster members",
        Permission::ManageAdministrators => "manage administrators and administration settings",
        Permission::ExportPrivateKeys => "export private keys and Ignition Keys",
    }
}

fn role_select(name: &str, current: &str, disabled: bool) -> Markup {
    html! {
        select name=(name) disabled[disabled] {
            @for r in AdminRole::ALL { option value=(r.as_str()) selected[r.as_str() == current] { (r.as_str()) } }
        }
    }
}

fn items(v: Value, key: &str) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => other
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

fn locked(a: &Value) -> bool {
    a.get("locked").and_then(Value::as_bool).unwrap_or_else(|| {
        a.pointer("/failed_logins/locked_until")
            .and_then(Value::as_u64)
            .is_some_and(|t| t > signet_store::now_millis())
    })
}

async fn list(State(s): State<AppState>, who: UiAdmin, Query(q): Query<FlashQuery>) -> Response {
    let manage = may(&who, Permission::ManageAdministrators);
    let answer = read(&s, &who, "/api/v1/administrators").await;
    let body = html! {
        p { a href=(MINE) { "Change my passphrase" } " · " a href=(SETTINGS) { "Administration settings" } }
        @match answer {
            Err(p) => (unavailable("The administrators", &p)),
            Ok(v) => {
                table #administrators {
                    thead { tr { th { "Login" } th { "Role" } th { "Email" } th { "State" } th { "Actions" } } }
                    tbody {
                        @for a in items(v, "administrators") {
                            @let login = text(&a, "login").to_string();
                            @let me = login == who.admin.login;
                            tr data-login=(login) {
                                td { (login) @if me { " (you)" } }
                                td {
                                    form.inline method="post" action=(format!("/system/administrators/{}/role", enc(&login))) {
                                        (csrf_field(&who.session))
                                        (role_select("role", text(&a, "role"), !manage || me))
                                        " " button type="submit" disabled[!manage || me] { "Change role" }
                                    }
                                }
                                td { (text(&a, "email")) }
                                td { @if locked(&a) { span.badge.bad { "Locked out" } } @else { span.badge.ok { "Active" } } }
                                td.actions {
                                    form.inline method="post" action=(format!("/system/administrators/{}/passphrase", enc(&login))) {
                                        (csrf_field(&who.session))
                                        input type="password" name="new" placeholder="temporary passphrase" aria-label=(format!("Temporary passphrase for {login}")) disabled[!manage || me];
                                        " " button type="submit" disabled[!manage || me] { "Reset passphrase" }
                                    }
                                    " "
                                    (post_button(&who.session, &format!("/system/administrators/{}/unlock", enc(&login)), "Unlock", "", !manage || !locked(&a)))
                                    " "
                                    (post_button(&who.session, &format!("/system/administrators/{}/delete", enc(&login)), "Delete", "danger", !manage || me))
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an administrator" }
        form method="post" action=(LIST) {
            (csrf_field(&who.session))
            label for="new-login" { "Login name" }
            input #new-login type="text" name="login" disabled[!manage];
            label for="new-role" { "Role" }
            (role_select("role", "read-only", !manage))
            label for="new-email" { "Email (optional)" }
            input #new-email type="email" name="email" disabled[!manage];
            label for="new-passphrase" { "Temporary passphrase (changed at the first login)" }
            input #new-passphrase type="password" name="passphrase" disabled[!manage];
            div.buttons { button type="submit" disabled[!manage] { "Add administrator" } }
        }
        h2 { "Roles and their privileges" }
        table #roles {
            thead { tr { th { "Role" } th { "May" } } }
            tbody {
                @for r in AdminRole::ALL {
                    tr { td { (r.as_str()) } td { ul { @for p in Permission::ALL { @if r.allows(p) { li { (permission_text(p)) } } } } } }
                }
            }
        }
    };
    page("Administrators", LIST, &who, q.flash(), body).into_response()
}

/// Posts one action to the API after the CSRF check and redirects with its outcome.
async fn add(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let login = field(&f, "login");
    let email = Some(field(&f, "email")).filter(|e| !e.is_empty());
    let passphrase = f.get("passphrase").cloned().filter(|p| !p.is_empty());
    let body = json!({ "login": login, "role": field(&f, "role"), "email": email, "passphrase": passphrase, "temporary": true });
    Action::new(Method::POST, "/api/v1/administrators", LIST)
        .body(body)
        .run(
            &s,
            &who,
            token(&f),
            &format!("Administrator {login} added."),
        )
        .await
}

async fn change_role(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(login): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let role = field(&f, "role");
    let body = json!({ "role": role });
    Action::new(
        Method::PUT,
        format!("/api/v1/administrators/{}", enc(&login)),
        LIST,
    )
    .body(body)
    .run(&s, &who, token(&f), &format!("{login} is now {role}."))
    .await
}

async fn reset_passphrase(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(login): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "new": f.get("new").cloned().unwrap_or_default() });
    Action::new(
        Method::PUT,
        format!("/api/v1/administrators/{}/passphrase", enc(&login)),
        LIST,
    )
    .body(body)
    .run(
        &s,
        &who,
        token(&f),
        &format!("{login} has a temporary passphrase; it must be changed at the next login."),
    )
    .await
}

async fn unlock(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(login): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    Action::new(
        Method::POST,
        format!("/api/v1/administrators/{}/unlock", enc(&login)),
        LIST,
    )
    .run(&s, &who, token(&f), &format!("{login} is unlocked."))
    .await
}

async fn delete(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(login): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/administrators/{}", enc(&login)),
        LIST,
    )
    .run(&s, &who, token(&f), &format!("{login} is deleted."))
    .await
}

fn mine_body(who: &UiAdmin) -> Markup {
    html! {
        @if who.session.must_change_passphrase {
            p.flash.error role="alert" { "Your passphrase is temporary or has expired: choose a new one to continue." }
        }
        form method="post" action=(MINE) {
            (csrf_field(&who.session))
            label for="current" { "Current passphrase" }
            input #current type="password" name="current" autocomplete="current-password";
            label for="new" { "New passphrase" }
            input #new type="password" name="new" autocomplete="new-password";
            label for="new2" { "New passphrase again" }
            input #new2 type="password" name="new2" autocomplete="new-password";
            div.buttons { button type="submit" { "Change passphrase" } }
        }
    }
}

async fn mine(who: UiAdmin, Query(q): Query<FlashQuery>) -> Response {
    page("My passphrase", LIST, &who, q.flash(), mine_body(&who)).into_response()
}

async fn change_mine(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&who.session, token(&f)) {
        return csrf_refused();
    }
    let new = f.get("new").cloned().unwrap_or_default();
    if f.get("new2") != Some(&new) {
        return page(
            "My passphrase",
            LIST,
            &who,
            Some(Flash::Error("The two new passphrases differ.".into())),
            mine_body(&who),
        )
        .into_response();
    }
    let body = json!({ "current": f.get("current").cloned().unwrap_or_default(), "new": new });
    let path = format!(
        "/api/v1/administrators/{}/passphrase",
        enc(&who.admin.login)
    );
    match api_call(&s, &who.session, Method::PUT, &path, Some(&body)).await {
        Ok(_) => {
            // The session no longer needs a change (the API lifts it; mirror that here).
            Redirect::to("/overview").into_response()
        }
        Err(p) => page(
            "My passphrase",
            LIST,
            &who,
            Some(Flash::Error(p.detail)),
            mine_body(&who),
        )
        .into_response(),
    }
}

/// The administration settings form: (field, label, kind) where kind is "number" or "bool".
const SETTING_FIELDS: &[(&str, &str, &str)] = &[
    ("min_length", "Minimum passphrase length (8-128)", "number"),
    (
        "require_character_classes",
        "Require a digit, an upper-case and a lower-case letter and a special character",
        "bool",
    ),
    (
        "history",
        "Earlier passphrases that cannot be reused (0-30)",
        "number",
    ),
    ("aging", "Passphrase aging", "bool"),
    ("min_age_days", "Minimum age in days (0-60)", "number"),
    ("max_age_days", "Maximum age in days (0-60)", "number"),
    (
        "warning_days",
        "Warn this many days before expiry (0-60)",
        "number",
    ),
    (
        "lockout_threshold",
        "Lock an account after this many failed logins (0 = never)",
        "number",
    ),
    (
        "lockout_hours",
        "Lockout duration in hours (at least 1)",
        "number",
    ),
    (
        "captcha_threshold",
        "Ask for a CAPTCHA after this many failed logins (0 = always)",
        "number",
    ),
    (
        "idle_timeout_minutes",
        "End idle sessions after minutes (1-1440)",
        "number",
    ),
];

async fn settings(
    State(s): State<AppState>,
    who: UiAdmin,
    Query(q): Query<FlashQuery>,
) -> Response {
    let manage = may(&who, Permission::ManageAdministrators);
    let answer = read(&s, &who, "/api/v1/settings/administration").await;
    let body = html! {
        @match answer {
            Err(p) => (unavailable("The administration settings", &p)),
            Ok(v) => {
                form method="post" action=(SETTINGS) {
                    (csrf_field(&who.session))
                    @for (name, label, kind) in SETTING_FIELDS {
                        @if *kind == "bool" {
                            label { input type="checkbox" name=(name) value="on" checked[v[*name].as_bool().unwrap_or(false)] disabled[!manage]; " " (label) }
                        } @else {
                            label for=(name) { (label) }
                            input id=(name) type="number" name=(name) value=(v[*name].as_u64().map(|n| n.to_string()).unwrap_or_default()) disabled[!manage];
                        }
                    }
                    div.buttons { button type="submit" disabled[!manage] { "Save" } }
                }
            }
        }
    };
    page("Administration settings", LIST, &who, q.flash(), body).into_response()
}

async fn save_settings(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut body = serde_json::Map::new();
    for (name, label, kind) in SETTING_FIELDS {
        let value = if *kind == "bool" {
            json!(f.get(*name).is_some_and(|v| v == "on"))
        } else {
            match field(&f, name).parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => return failed(SETTINGS, &format!("{label}: give a whole number.")),
            }
        };
        body.insert((*name).to_string(), value);
    }
    Action::new(Method::PUT, "/api/v1/settings/administration", SETTINGS)
        .body(Value::Object(body))
        .run(&s, &who, token(&f), "Administration settings saved.")
        .await
}
